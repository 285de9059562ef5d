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
        parallelChunks(x.count) { r in for i in r { o[i] = sigmoid(p[i]) } }
        self.y = y
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let y else { preconditionFailure("Sigmoid.backward before forward") }
        let dx = inputGrad.view(y.shape)
        let q = y.data, d = dy.data, o = dx.data
        parallelChunks(y.count) { r in for i in r { o[i] = d[i] * q[i] * (1 - q[i]) } }
        return dx
    }
}

/// The logistic function, stable for large |x|.
@inlinable func sigmoid(_ x: Float) -> Float {
    if x >= 0 { return 1 / (1 + expf(-x)) }
    let e = expf(x)
    return e / (1 + e)
}
