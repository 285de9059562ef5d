import Tensor
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// `torch.nn.Sigmoid()`: y = 1/(1 + e^(−x)). Backward from the output: dx = dy·y·(1 − y).
public final class Sigmoid {
    private let output = TensorBuffer()
    private let inputGrad = TensorBuffer()
    private var y: Tensor?

    public init() {}

    public func forward(_ x: Tensor) -> Tensor {
        let y = output.view(x.shape)
        let p = x.data, o = y.data
        parallelChunks(x.count, SigmoidForward(x: p, y: o))
        self.y = y
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let y else { preconditionFailure("Sigmoid.backward before forward") }
        let dx = inputGrad.view(y.shape)
        let q = y.data, d = dy.data, o = dx.data
        parallelChunks(y.count, SigmoidBackward(y: q, dy: d, dx: o))
        return dx
    }
}

/// The logistic function, stable for large |x|.
@inlinable func sigmoid(_ x: Float) -> Float {
    if x >= 0 { return 1 / (1 + expf(-x)) }
    let e = expf(x)
    return e / (1 + e)
}

private struct SigmoidForward: ChunkTask {
    let x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>
    func run(_ r: Range<Int>) { for i in r { y[i] = sigmoid(x[i]) } }
}

private struct SigmoidBackward: ChunkTask {
    let y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>
    func run(_ r: Range<Int>) { for i in r { dx[i] = dy[i] * y[i] * (1 - y[i]) } }
}
