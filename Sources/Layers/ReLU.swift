import Tensor

/// `torch.nn.ReLU(inplace)`: y = max(x, 0). Backward: dx = dy where x > 0, else 0.
///
/// `inPlace` (PT's `inplace=True`, as the U-Net and ResNet generators use it): forward
/// overwrites x with y and backward overwrites dy with dx; y > 0 exactly where x > 0, so
/// the sign test reads y.
public final class ReLU {
    public let inPlace: Bool
    private let output = TensorBuffer()
    private let inputGrad = TensorBuffer()
    /// x, or y when in place.
    private var signs: Tensor?

    public init(inPlace: Bool = false) { self.inPlace = inPlace }

    public func forward(_ x: Tensor) -> Tensor {
        let y = inPlace ? x : output.view(x.shape)
        let p = x.data, o = y.data
        parallelChunks(x.count, ReLUForward(x: p, y: o))
        signs = inPlace ? y : x
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let s = signs else { preconditionFailure("ReLU.backward before forward") }
        let dx = inPlace ? dy : inputGrad.view(s.shape)
        let p = s.data, d = dy.data, o = dx.data
        parallelChunks(s.count, ReLUBackward(signs: p, dy: d, dx: o))
        return dx
    }
}

private struct ReLUForward: ChunkTask {
    let x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>
    func run(_ r: Range<Int>) { lanewise(r, x, into: y) { x in x.replacing(with: 0, where: .!(x .> 0)) } }
}

private struct ReLUBackward: ChunkTask {
    let signs: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>
    func run(_ r: Range<Int>) { lanewise(r, signs, dy, into: dx) { s, d in d.replacing(with: 0, where: .!(s .> 0)) } }
}
