import Testing
import Tensor

/// The explicit-SIMD helpers the elementwise layers and Adam use, against scalar loops:
/// every count from 0 to 40 (whole vectors and every tail), in place and out of place.
@Suite struct LanewiseMathTests {
    @Test func squareRootEqualsScalarBitForBit() {
        var x = SIMD16<Float>()
        let specials: [Float] = [0, -0.0, .leastNonzeroMagnitude, .leastNormalMagnitude, 1, 2, 1e-30, 3e38, .infinity]
        for (i, s) in specials.enumerated() { x[i] = s }
        for i in specials.count..<16 { x[i] = Float(i) * 0.37 + 1e-3 }
        let y = x.lanewiseSquareRoot()
        for i in 0..<16 { #expect(y[i].bitPattern == x[i].squareRoot().bitPattern, "lane \(i): \(x[i])") }
        #expect(SIMD16<Float>(repeating: -1).lanewiseSquareRoot()[0].isNaN)
    }

    @Test(arguments: 0...40)
    func lanewiseMatchesScalar(_ count: Int) {
        let a = (0..<count).map { Float($0) * 0.5 - 7 }, b = (0..<count).map { Float($0 % 5) - 2 }
        var out = [Float](repeating: .nan, count: count + 1)  // one guard element past the end
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { po in
                    guard count > 0 else { return }
                    lanewise(0..<count, pa.baseAddress!, pb.baseAddress!, into: po.baseAddress!) { x, y in
                        x.replacing(with: x * y, where: .!(y .> 0))
                    }
                }
            }
        }
        for i in 0..<count { #expect(out[i] == (b[i] > 0 ? a[i] : a[i] * b[i]), "element \(i)") }
        #expect(out[count].isNaN, "wrote past the end")
        // In place: out is its own input.
        var inPlace = a
        inPlace.withUnsafeMutableBufferPointer { p in
            guard count > 0 else { return }
            lanewise(0..<count, p.baseAddress!, into: p.baseAddress!) { x in x.replacing(with: 0, where: .!(x .> 0)) }
        }
        #expect(inPlace == a.map { $0 > 0 ? $0 : 0 })
    }

    @Test(arguments: 0...20)
    func eightLanesVisitsEachElementOnce(_ count: Int) {
        let values = (0..<count).map { Float($0 + 1) }
        var sum = SIMD8<Double>(), visits = 0
        values.withUnsafeBufferPointer { p in
            let base = p.baseAddress ?? UnsafePointer(bitPattern: 16)!
            eightLanes(count) { i in
                sum += SIMD8<Double>(load8(base, i)); visits += 8
            } tail: { i, mask in
                sum += SIMD8<Double>(load8(base, i, mask))
                for k in 0..<8 where mask[k] { visits += 1 }
            }
        }
        #expect(visits == count)
        #expect(sum.sum() == Double(count * (count + 1) / 2))
    }

    /// The shuffles `WinogradWeights` is built on: an 8×8 transpose, and the split of two
    /// 4×4 kernels' rows into column pairs and back.
    @Test func shuffles() {
        var m = (0..<8).map { i in SIMD8<Float>((0..<8).map { j in Float(10 * i + j) }) }
        m.withUnsafeMutableBufferPointer { transpose8x8($0.baseAddress!) }
        for i in 0..<8 { for j in 0..<8 { #expect(m[i][j] == Float(10 * j + i)) } }
        let a = SIMD8<Float>((0..<8).map(Float.init)), b = a + 100
        let even = evenPairs(a, b), odd = oddPairs(a, b)
        #expect(even == SIMD8(0, 1, 4, 5, 100, 101, 104, 105))
        #expect(odd == SIMD8(2, 3, 6, 7, 102, 103, 106, 107))
        let (a2, b2) = unsplitPairs(even, odd)
        #expect(a2 == a && b2 == b)
    }

    /// The tile copies' strided reads and their inverse, interleaved writes, for strides 1–4.
    @Test(arguments: 1...4)
    func stridedReadsAndInterleavedWrites(_ stride: Int) {
        let floats = (0..<40).map { Float($0) }  // 8·stride floats from each of the first 4
        let lanes = (0..<4).map { j in floats.withUnsafeBufferPointer { strided8($0.baseAddress! + j, stride) } }
        for j in 0..<stride { #expect(lanes[j] == SIMD8((0..<8).map { Float(stride * $0 + j) })) }
        var out = [Float](repeating: -1, count: 33)
        out.withUnsafeMutableBufferPointer { storeInterleaved(lanes[0], lanes[1], lanes[2], lanes[3], stride, to: $0.baseAddress!) }
        #expect(Array(out[..<(8 * stride)]) == Array(floats[..<(8 * stride)]))
        #expect(out[(8 * stride)...].allSatisfy { $0 == -1 }, "nothing written past 8·stride floats")
    }
}
