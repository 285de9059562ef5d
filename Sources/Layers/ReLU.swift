import Tensor

/// `torch.nn.ReLU()`: y = max(x, 0). Backward: dx = dy where x > 0, else 0.
public final class ReLU {
    private let output = TensorBuffer()
    private let inputGrad = TensorBuffer()
    private var input: Tensor?

    public init() {}

    public func forward(_ x: Tensor) -> Tensor {
        let y = output.view(x.shape)
        let p = x.data, o = y.data
        parallelChunks(x.count) { r in for i in r { o[i] = p[i] > 0 ? p[i] : 0 } }
        input = x
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("ReLU.backward before forward") }
        let dx = inputGrad.view(x.shape)
        let p = x.data, d = dy.data, o = dx.data
        parallelChunks(x.count) { r in for i in r { o[i] = p[i] > 0 ? d[i] : 0 } }
        return dx
    }
}
