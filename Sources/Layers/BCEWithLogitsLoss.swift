import Tensor
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// `torch.nn.BCEWithLogitsLoss()` (mean): ℓ = max(x, 0) − x·t + log(1 + e^(−|x|)), the
/// vanilla GAN loss on logits. dℓ/dx = σ(x) − t.
public final class BCEWithLogitsLoss: MeanLoss {
    public override init() {}
    override func value(_ x: Float, _ t: Float) -> Float {
        max(x, 0) - x * t + log1pf(expf(-abs(x)))
    }
    override func derivative(_ x: Float, _ t: Float) -> Float { sigmoid(x) - t }
}
