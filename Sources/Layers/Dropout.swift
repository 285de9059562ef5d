import Tensor

/// Inverted dropout, `torch.nn.Dropout(p)`: in training each element is kept with
/// probability 1 − p and scaled by 1/(1 − p); in eval it is the identity.
///
/// The mask comes from a counter-based `RandomStream` keyed per sample: element j of batch
/// item n uses the uniform at index ((firstSample + n) << 32) + j and is dropped when it is
/// below p. The trainer sets `firstSample` to the global position of the batch's first
/// sample in the run, so every sample gets its own mask whatever the world size, the batch
/// split or a resume. x (N, C, H, W) → y, same shape.
public final class Dropout {
    public let p: Float
    /// The module's state_dict-style name (e.g. `model.model.1.model.3.model.3.model.7`).
    public let name: String
    public var isTraining = true
    /// A mask of 0 and 1/(1 − p) values that the next training forward uses instead of
    /// drawing one (replaying PyTorch's draw in parity tests); cleared when used.
    public var pendingMask: Tensor?
    public let random: RandomStream
    /// Global index of the first sample of the next batch.
    public var firstSample: UInt64 = 0

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
        let per = x.shape.sampleCount
        for n in 0..<x.shape.n {
            let base = (firstSample &+ UInt64(n)) << 32
            let out = m.data + n * per
            var j = 0
            while j < per {
                let words = random.block((base &+ UInt64(j)) >> 2)
                for lane in 0..<min(4, per - j) {
                    out[j + lane] = Float(words[lane] >> 8) * 0x1p-24 < p ? 0 : scale
                }
                j += 4
            }
        }
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
