import Tensor
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// `torch.nn.Tanh()`: y = tanh(x). Backward from the output: dx = dy·(1 − y²).
/// `inPlaceBackward`: backward overwrites dy with dx (for callers that never read dy again).
public final class Tanh {
    public let inPlaceBackward: Bool
    private let output = TensorBuffer()
    private let inputGrad = TensorBuffer()
    private var y: Tensor?

    public init(inPlaceBackward: Bool = false) { self.inPlaceBackward = inPlaceBackward }

    public func forward(_ x: Tensor) -> Tensor {
        let y = output.view(x.shape)
        let p = x.data, o = y.data
        parallelChunks(x.count, TanhForward(x: p, y: o))
        self.y = y
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let y else { preconditionFailure("Tanh.backward before forward") }
        let dx = inPlaceBackward ? dy : inputGrad.view(y.shape)
        let q = y.data, d = dy.data, o = dx.data
        parallelChunks(y.count, TanhBackward(y: q, dy: d, dx: o))
        return dx
    }
}

private struct TanhForward: ChunkTask {
    let x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>
    func run(_ r: Range<Int>) { for i in r { y[i] = tanhf(x[i]) } }
}

private struct TanhBackward: ChunkTask {
    let y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>
    func run(_ r: Range<Int>) { for i in r { dx[i] = dy[i] * (1 - y[i] * y[i]) } }
}
