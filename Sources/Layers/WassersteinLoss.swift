import Tensor

/// The critic loss of PT's `GANLoss('wgangp')`: −mean(x) for real (target 1), +mean(x) for
/// fake (target 0). pix2pix uses it without the gradient penalty, as PT's pix2pix model does.
public final class WassersteinLoss: MeanLoss {
    public override init() {}
    override func value(_ x: Float, _ t: Float) -> Float { t == 1 ? -x : x }
    override func derivative(_ x: Float, _ t: Float) -> Float { t == 1 ? -1 : 1 }
}
