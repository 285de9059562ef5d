// Counter-based randomness for data augmentation: a pure function of (seed, epoch, index).

/// The random draws of one sample, reproducible on any rank, thread or restart.
///
/// PT draws crop position and flip from Python's global `random` in `get_params`, so they
/// depend on worker scheduling. Here every draw is `SplitMix64` mixing of the tuple
/// `(seed, epoch, index, stream)`: each field is xor-ed into the state and passed through
/// SplitMix64's output function (Steele, Lea & Flood 2014: add 0x9E3779B97F4A7C15, then
/// the two xor-shift-multiply rounds). Streams: 0 crop x, 1 crop y, 2 flip.
public struct SampleRandom: Sendable, Equatable {
    public let seed: UInt64
    public let epoch: Int
    public let index: Int

    public init(seed: UInt64, epoch: Int, index: Int) {
        self.seed = seed
        self.epoch = epoch
        self.index = index
    }

    /// SplitMix64's step and output function.
    @inline(__always)
    static func mix(_ state: UInt64) -> UInt64 {
        var z = state &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 64 random bits for draw number `stream`.
    public func bits(stream: UInt64) -> UInt64 {
        var h = Self.mix(seed)
        h = Self.mix(h ^ UInt64(bitPattern: Int64(epoch)))
        h = Self.mix(h ^ UInt64(bitPattern: Int64(index)))
        return Self.mix(h ^ stream)
    }

    /// A uniform integer in `0...upper` (Python's `random.randint(0, upper)`), by the
    /// high half of a 64×64-bit product; the bias is below 2^-40 for any image size.
    public func integer(through upper: Int, stream: UInt64) -> Int {
        precondition(upper >= 0)
        let range = UInt64(upper) + 1
        return Int(range.multipliedFullWidth(by: bits(stream: stream)).high)
    }

    /// A uniform Double in [0, 1) from the top 53 bits (Python's `random.random()`).
    public func unit(stream: UInt64) -> Double {
        Double(bits(stream: stream) >> 11) * 0x1p-53
    }
}
