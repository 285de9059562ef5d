import Tensor

/// `torch.nn.MSELoss()` (mean): ℓ = (x − t)², the LSGAN loss. dℓ/dx = 2(x − t).
public final class MSELoss: MeanLoss {
    public override init() {}
    override func value(_ x: Float, _ t: Float) -> Float { (x - t) * (x - t) }
    override func derivative(_ x: Float, _ t: Float) -> Float { 2 * (x - t) }
}
