import Tensor

/// `torch.nn.LeakyReLU(negativeSlope)`: y = x for x > 0, slope·x otherwise.
/// Backward: dx = dy where x > 0, slope·dy otherwise (PyTorch's rule at 0).
public final class LeakyReLU {
    public let negativeSlope: Float
    private let output = TensorBuffer()
    private let inputGrad = TensorBuffer()
    private var input: Tensor?

    public init(negativeSlope: Float = 0.2) { self.negativeSlope = negativeSlope }

    public func forward(_ x: Tensor) -> Tensor {
        let y = output.view(x.shape), a = negativeSlope
        let p = x.data, o = y.data
        parallelChunks(x.count) { r in for i in r { let v = p[i]; o[i] = v > 0 ? v : v * a } }
        input = x
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("LeakyReLU.backward before forward") }
        let dx = inputGrad.view(x.shape), a = negativeSlope
        let p = x.data, d = dy.data, o = dx.data
        parallelChunks(x.count) { r in for i in r { o[i] = p[i] > 0 ? d[i] : d[i] * a } }
        return dx
    }
}
