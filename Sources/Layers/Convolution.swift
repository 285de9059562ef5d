import Tensor

/// What Conv2d and ConvTranspose2d share: the interface benchmarks and tests drive.
public protocol Convolution: AnyObject {
    var weight: ParameterArena.Entry { get }
    var bias: ParameterArena.Entry? { get }
    func forward(_ x: Tensor) -> Tensor
    /// dx for the last forward's input.
    func inputGradient(_ dy: Tensor) -> Tensor
    /// dW (and db) += the last forward's contribution.
    func accumulateParameterGradients(_ dy: Tensor)
    /// Multiply-adds × 2 of a forward pass on an input of shape `s`.
    func flops(for s: Shape) -> Double
    /// Column blocks: the most floats one may hold, the fewest columns it should span.
    var maxColumnFloats: Int { get set }
    var minColumnsPerBlock: Int { get set }
}

extension Conv2d: Convolution {}
extension ConvTranspose2d: Convolution {}
