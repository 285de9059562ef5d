/// Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11, "Parallel random
/// numbers: as easy as 1, 2, 3").
///
/// A draw is a pure function of (seed, stream, index): no hidden state advances, so the
/// same triple gives the same number whatever was drawn before, on any rank, in any
/// thread, after any resume. Streams separate independent consumers (one per dropout
/// layer, one per initialised tensor, one per data-augmentation purpose); the caller owns
/// the index (for example global step × elements per step + element).
public struct RandomStream: Sendable, Equatable {
    public let seed: UInt64
    public let stream: UInt64

    public init(seed: UInt64, stream: UInt64) {
        self.seed = seed
        self.stream = stream
    }

    /// A stream derived from this one and a label (e.g. a parameter name), stable across runs.
    public func derived(_ label: String) -> RandomStream {
        // FNV-1a over the label, mixed with the parent stream.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in label.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return RandomStream(seed: seed, stream: h ^ (stream &* 0x9e37_79b9_7f4a_7c15))
    }

    /// The four 32-bit words of Philox block `block` (indices 4·block ..< 4·block + 4).
    @inlinable public func block(_ block: UInt64) -> SIMD4<UInt32> {
        var c0 = UInt32(truncatingIfNeeded: block), c1 = UInt32(truncatingIfNeeded: block >> 32)
        var c2 = UInt32(truncatingIfNeeded: stream), c3 = UInt32(truncatingIfNeeded: stream >> 32)
        var k0 = UInt32(truncatingIfNeeded: seed), k1 = UInt32(truncatingIfNeeded: seed >> 32)
        for _ in 0..<10 {
            let p0 = UInt64(0xD251_1F53) * UInt64(c0)
            let p1 = UInt64(0xCD9E_8D57) * UInt64(c2)
            let n0 = UInt32(truncatingIfNeeded: p1 >> 32) ^ c1 ^ k0
            let n2 = UInt32(truncatingIfNeeded: p0 >> 32) ^ c3 ^ k1
            c1 = UInt32(truncatingIfNeeded: p1)
            c3 = UInt32(truncatingIfNeeded: p0)
            c0 = n0
            c2 = n2
            k0 = k0 &+ 0x9E37_79B9
            k1 = k1 &+ 0xBB67_AE85
        }
        return SIMD4(c0, c1, c2, c3)
    }

    /// The 32-bit word at `index`.
    @inlinable public func bits(_ index: UInt64) -> UInt32 {
        block(index >> 2)[Int(index & 3)]
    }

    /// Uniform in [0, 1) with 24 random bits.
    @inlinable public func uniform(_ index: UInt64) -> Float {
        Float(bits(index) >> 8) * 0x1p-24
    }

    /// Fills `out` with uniforms in [0, 1) drawn at indices `start ..< start + out.count`.
    public func fillUniform(_ out: UnsafeMutableBufferPointer<Float>, start: UInt64) {
        for i in 0..<out.count { out[i] = uniform(start &+ UInt64(i)) }
    }

    /// Fills `out` with N(mean, std²) draws, Box–Muller on index pairs starting at `start`
    /// (element i uses words 2i and 2i+1 after `start`).
    public func fillNormal(
        _ out: UnsafeMutableBufferPointer<Float>, mean: Float, std: Float, start: UInt64
    ) {
        // Words 2i and 2i+1 lie in one Philox block when `start` is even: compute each
        // block once for two elements (same values as calling `bits` per word).
        var cached: (index: UInt64, words: SIMD4<UInt32>) = (.max, .zero)
        func word(_ j: UInt64) -> UInt32 {
            let b = j >> 2
            if cached.index != b { cached = (b, block(b)) }
            return cached.words[Int(j & 3)]
        }
        for i in 0..<out.count {
            let j = start &+ 2 &* UInt64(i)
            // u1 in (0, 1] so that log is finite.
            let u1 = (Double(word(j) >> 8) + 1) * 0x1p-24
            let u2 = Double(word(j &+ 1) >> 8) * 0x1p-24
            let z = (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
            out[i] = mean + std * Float(z)
        }
    }
}

#if canImport(Glibc)
import Glibc
@usableFromInline func _log(_ x: Double) -> Double { Glibc.log(x) }
@usableFromInline func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Darwin
@usableFromInline func _log(_ x: Double) -> Double { Darwin.log(x) }
@usableFromInline func _cos(_ x: Double) -> Double { Darwin.cos(x) }
#endif
