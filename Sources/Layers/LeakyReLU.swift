import Tensor

/// `torch.nn.LeakyReLU(negativeSlope, inplace)`: y = x for x > 0, slope·x otherwise.
/// Backward: dx = dy where x > 0, slope·dy otherwise (PyTorch's rule at 0).
///
/// `inPlace` (PT's `inplace=True`, as the U-Net and PatchGAN use it): forward overwrites x
/// with y and backward overwrites dy with dx, so the layer holds no buffers. The sign test
/// then reads y, which has x's sign because the slope must be ≥ 0 (PT refuses the in-place
/// backward for a negative slope, too).
public final class LeakyReLU {
    public let negativeSlope: Float
    public let inPlace: Bool
    private let output = TensorBuffer()
    private let inputGrad = TensorBuffer()
    /// x, or y when in place: either is > 0 exactly where x is.
    private var signs: Tensor?

    public init(negativeSlope: Float = 0.2, inPlace: Bool = false) {
        precondition(!inPlace || negativeSlope >= 0, "an in-place LeakyReLU needs a slope ≥ 0")
        self.negativeSlope = negativeSlope
        self.inPlace = inPlace
    }

    public func forward(_ x: Tensor) -> Tensor {
        let y = inPlace ? x : output.view(x.shape), a = negativeSlope
        let p = x.data, o = y.data
        parallelChunks(x.count, LeakyForward(x: p, y: o, slope: a))
        signs = inPlace ? y : x
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let s = signs else { preconditionFailure("LeakyReLU.backward before forward") }
        let dx = inPlace ? dy : inputGrad.view(s.shape), a = negativeSlope
        let p = s.data, d = dy.data, o = dx.data
        parallelChunks(s.count, LeakyBackward(signs: p, dy: d, dx: o, slope: a))
        return dx
    }
}

private struct LeakyForward: ChunkTask {
    let x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, slope: Float
    func run(_ r: Range<Int>) { lanewise(r, x, into: y) { x in x.replacing(with: x * slope, where: .!(x .> 0)) } }
}

private struct LeakyBackward: ChunkTask {
    let signs: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>
    let slope: Float
    func run(_ r: Range<Int>) { lanewise(r, signs, dy, into: dx) { s, d in d.replacing(with: d * slope, where: .!(s .> 0)) } }
}
