import Tensor

/// What a loss compares its input with: a tensor of the same shape, or one value for every
/// element (the GAN target, 1 for real and 0 for fake).
public enum LossTarget {
    case tensor(Tensor)
    case value(Float)

    @inlinable func at(_ i: Int) -> Float {
        switch self {
        case .tensor(let t): return t.data[i]
        case .value(let v): return v
        }
    }
}

/// Shared state of the mean-reduced losses: the cached input and target and the gradient
/// buffer. Each loss file supplies only its elementwise value and derivative.
public class MeanLoss {
    private let inputGrad = TensorBuffer()
    private var input: Tensor?
    private var target: LossTarget = .value(0)

    init() {}

    /// The mean loss over all elements (summed in Double).
    public func forward(_ x: Tensor, target: LossTarget) -> Float {
        if case .tensor(let t) = target {
            precondition(t.count == x.count, "loss target \(t.shape) for input \(x.shape)")
        }
        input = x
        self.target = target
        var sum: Double = 0
        for i in 0..<x.count { sum += Double(value(x.data[i], target.at(i))) }
        return Float(sum / Double(x.count))
    }

    /// The gradient of `scale`·loss with respect to the input.
    public func backward(scale: Float = 1) -> Tensor {
        guard let x = input else { preconditionFailure("loss backward before forward") }
        let dx = inputGrad.view(x.shape)
        let k = scale / Float(x.count)
        for i in 0..<x.count { dx.data[i] = k * derivative(x.data[i], target.at(i)) }
        return dx
    }

    func value(_ x: Float, _ t: Float) -> Float { fatalError("abstract") }
    func derivative(_ x: Float, _ t: Float) -> Float { fatalError("abstract") }
}
