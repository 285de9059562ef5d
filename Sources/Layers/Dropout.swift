import Tensor

/// Inverted dropout, `torch.nn.Dropout(p)`: in training each element is kept with
/// probability 1 − p and scaled by 1/(1 − p); in eval it is the identity.
///
/// The mask comes from a counter-based `RandomStream`: element i of the call whose
/// counter is c uses the uniform at index c + i and is dropped when it is below p. The
/// counter advances by the element count each training forward and is saved with
/// checkpoints, so a resumed run draws the same masks. x (any shape) → y, same shape.
public final class Dropout {
    public let p: Float
    /// The module's state_dict-style name (e.g. `model.model.1.model.3.model.3.model.7`).
    public let name: String
    public var isTraining = true
    /// A mask of 0 and 1/(1 − p) values that the next training forward uses instead of
    /// drawing one (replaying PyTorch's draw in parity tests); cleared when used.
    public var pendingMask: Tensor?
    public let random: RandomStream
    /// Index of the next uniform to draw.
    public var counter: UInt64 = 0

    private let output = TensorBuffer()
    private let inputGrad = TensorBuffer()
    private let mask = TensorBuffer()
    private var active = false

    public init(p: Float = 0.5, random: RandomStream, name: String = "") {
        precondition(p >= 0 && p < 1, "dropout probability must be in [0, 1)")
        self.p = p
        self.name = name
        self.random = random
    }

    public func forward(_ x: Tensor) -> Tensor {
        guard isTraining, p > 0 else { active = false; return x }
        if let given = pendingMask {
            pendingMask = nil
            return forward(x, mask: given)
        }
        let m = mask.view(x.shape)
        let scale = 1 / (1 - p)
        var i = 0
        let count = x.count
        while i < count {
            let words = random.block((counter &+ UInt64(i)) >> 2)
            // Index counter + i may start mid-block; consume the lanes from there.
            var lane = Int((counter &+ UInt64(i)) & 3)
            while lane < 4 && i < count {
                let u = Float(words[lane] >> 8) * 0x1p-24
                m.data[i] = u < p ? 0 : scale
                lane += 1; i += 1
            }
        }
        counter &+= UInt64(count)
        return apply(x, m)
    }

    /// Forward with a given mask of 0 and 1/(1 − p) values (replaying PyTorch's draw in tests).
    public func forward(_ x: Tensor, mask given: Tensor) -> Tensor {
        precondition(given.shape == x.shape, "dropout mask \(given.shape) for input \(x.shape)")
        let m = mask.view(x.shape)
        m.copy(from: given)
        return apply(x, m)
    }

    private func apply(_ x: Tensor, _ m: Tensor) -> Tensor {
        let y = output.view(x.shape)
        let a = x.data, b = m.data, o = y.data
        for i in 0..<x.count { o[i] = a[i] * b[i] }
        active = true
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard active else { return dy }
        let dx = inputGrad.view(dy.shape)
        let m = mask.view(dy.shape)
        let a = dy.data, b = m.data, o = dx.data
        for i in 0..<dy.count { o[i] = a[i] * b[i] }
        return dx
    }
}
