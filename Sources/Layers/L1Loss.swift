import Tensor

/// `torch.nn.L1Loss()` (mean): ℓ = |x − t|. dℓ/dx = sign(x − t), 0 where x = t (PyTorch).
public final class L1Loss: MeanLoss {
    public override init() {}
    override func value(_ x: Float, _ t: Float) -> Float { abs(x - t) }
    override func derivative(_ x: Float, _ t: Float) -> Float {
        x > t ? 1 : (x < t ? -1 : 0)
    }
}
