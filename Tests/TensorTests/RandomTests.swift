import Foundation
import Testing
import Tensor

@Suite struct RandomTests {
    /// Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
    @Test func philoxKnownAnswers() {
        #expect(RandomStream(seed: 0, stream: 0).block(0) == SIMD4(0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8))
        #expect(RandomStream(seed: .max, stream: .max).block(.max)
                == SIMD4(0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd))
        // counter (243f6a88, 85a308d3, 13198a2e, 03707344), key (a4093822, 299f31d0)
        #expect(RandomStream(seed: 0x299f_31d0_a409_3822, stream: 0x0370_7344_1319_8a2e)
                .block(0x85a3_08d3_243f_6a88) == SIMD4(0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1))
    }

    /// A draw depends only on (seed, stream, index), not on what was drawn before.
    @Test func drawsAreOrderIndependent() {
        let r = RandomStream(seed: 42, stream: 3)
        var forward = [Float](repeating: 0, count: 100)
        forward.withUnsafeMutableBufferPointer { r.fillUniform($0, start: 1000) }
        let backward = (0..<100).reversed().map { r.uniform(1000 + UInt64($0)) }.reversed()
        #expect(forward == Array(backward))
        #expect(RandomStream(seed: 42, stream: 4).uniform(1000) != forward[0])
        #expect(RandomStream(seed: 43, stream: 3).uniform(1000) != forward[0])
    }

    @Test func normalMoments() {
        var v = [Float](repeating: 0, count: 200_000)
        v.withUnsafeMutableBufferPointer {
            RandomStream(seed: 1, stream: 2).fillNormal($0, mean: 0.5, std: 2, start: 0)
        }
        let mean = v.reduce(0.0) { $0 + Double($1) } / Double(v.count)
        let variance = v.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(v.count)
        #expect(abs(mean - 0.5) < 0.02)
        #expect(abs(variance.squareRoot() - 2) < 0.02)
        #expect(v.allSatisfy { $0.isFinite })
    }

    /// fillNormal's block caching gives exactly the Box–Muller of words (2i, 2i+1), at any start.
    @Test(arguments: [0, 1, 6, 1001] as [UInt64])
    func normalsAreBoxMullerOfTheirWords(_ start: UInt64) {
        let r = RandomStream(seed: 5, stream: 8)
        var v = [Float](repeating: 0, count: 37)
        v.withUnsafeMutableBufferPointer { r.fillNormal($0, mean: 1, std: 3, start: start) }
        for i in 0..<v.count {
            let j = start + 2 * UInt64(i)
            let u1 = (Double(r.bits(j) >> 8) + 1) * 0x1p-24, u2 = Double(r.bits(j + 1) >> 8) * 0x1p-24
            let z = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
            #expect(v[i] == 1 + 3 * Float(z))
        }
    }

    @Test func uniformRange() {
        let r = RandomStream(seed: 9, stream: 9)
        let u = (0..<100_000).map { r.uniform(UInt64($0)) }
        #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
        let mean = u.reduce(0.0) { $0 + Double($1) } / Double(u.count)
        #expect(abs(mean - 0.5) < 0.01)
    }
}
