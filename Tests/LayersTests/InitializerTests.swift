import Testing
import Tensor
import Layers

/// The initialisers draw the distributions PyTorch's `init_weights` specifies.
@Suite struct InitializerTests {
    static func stats(_ v: UnsafeMutableBufferPointer<Float>) -> (Double, Double) {
        let mean = v.reduce(0.0) { $0 + Double($1) } / Double(v.count)
        let variance = v.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(v.count)
        return (mean, variance.squareRoot())
    }

    @Test func standardDeviations() {
        let arena = ParameterArena()
        let conv = arena.parameter("conv.weight", shape: [128, 64, 4, 4])       // fan_in 1024, fan_out 2048
        let convT = arena.parameter("convT.weight", shape: [64, 128, 4, 4])     // fan_in 2048, fan_out 1024
        arena.finalize()
        let r = RandomStream(seed: 1, stream: 0)
        let cases: [(Initializer, ParameterArena.Entry, Double)] = [
            (.normal, conv, 0.02),
            (.xavier, conv, 0.02 * (2.0 / 3072).squareRoot()),
            (.kaiming, conv, (2.0 / 1024).squareRoot()),
            (.kaiming, convT, (2.0 / 2048).squareRoot()),
        ]
        for (kind, e, std) in cases {
            kind.initialize(e, gain: 0.02, random: r)
            let (m, s) = Self.stats(e.values)
            #expect(abs(m) < 0.02 * std, "\(kind) mean \(m)")
            #expect(abs(s / std - 1) < 0.02, "\(kind) std \(s) vs \(std)")
        }
    }

    @Test(arguments: [[6, 3, 2, 2], [20, 2, 1, 1], [4, 4, 1, 1]])
    func orthogonalRowsOrColumns(_ shape: [Int]) {
        let arena = ParameterArena()
        let w = arena.parameter("w", shape: shape)
        arena.finalize()
        Initializer.orthogonal.initialize(w, gain: 2, random: RandomStream(seed: 4, stream: 0))
        let rows = shape[0], cols = w.count / rows
        // W·Wᵀ = gain²·I when rows ≤ cols, Wᵀ·W = gain²·I otherwise.
        let (outer, inner) = rows <= cols ? (rows, cols) : (cols, rows)
        for a in 0..<outer { for b in 0..<outer {
            var dot = 0.0
            for i in 0..<inner {
                let x = rows <= cols ? w.value[a * cols + i] : w.value[i * cols + a]
                let y = rows <= cols ? w.value[b * cols + i] : w.value[i * cols + b]
                dot += Double(x) * Double(y)
            }
            #expect(abs(dot - (a == b ? 4 : 0)) < 1e-4, "(\(a), \(b)) = \(dot)")
        } }
    }

    @Test func batchNormWeightsAroundOne() {
        let arena = ParameterArena()
        let bn = BatchNorm2d(4096, name: "bn", arena: arena)
        arena.finalize()
        bn.bias.values.update(repeating: 5)
        initBatchNorm(bn, gain: 0.02, random: RandomStream(seed: 2, stream: 0))
        let (m, s) = Self.stats(bn.weight.values)
        #expect(abs(m - 1) < 0.002 && abs(s - 0.02) < 0.002)
        #expect(bn.bias.values.allSatisfy { $0 == 0 })
    }

    /// The same name and seed give the same tensor, whatever else was initialised first.
    @Test func independentOfOrder() {
        func make(_ order: [String]) -> [String: [Float]] {
            let arena = ParameterArena()
            let es = order.map { arena.parameter($0, shape: [3, 2, 2, 2]) }
            arena.finalize()
            for e in es { Initializer.normal.initialize(e, gain: 1, random: RandomStream(seed: 9, stream: 0)) }
            return Dictionary(uniqueKeysWithValues: es.map { ($0.name, Array($0.values)) })
        }
        #expect(make(["a", "b"]) == make(["b", "a"]))
        #expect(make(["a"])["a"] != make(["b"])["b"])
    }

    @Test func dropoutMasksAreKeyedBySample() {
        let s = Shape(1, 1, 100, 100)
        let x = TensorBuffer(shape: s, values: [Float](repeating: 1, count: s.count))
        let d = Dropout(p: 0.5, random: RandomStream(seed: 1, stream: 2))
        let first = d.forward(x.view(s)).array
        let kept = first.filter { $0 != 0 }
        #expect(kept.allSatisfy { $0 == 2 })
        #expect(abs(Double(kept.count) / Double(s.count) - 0.5) < 0.02)
        // The same sample gets the same mask; another sample another one.
        #expect(d.forward(x.view(s)).array == first)
        d.firstSample = 1
        let second = d.forward(x.view(s)).array
        #expect(first != second)
        // Batch item 1 starting at sample 0 is sample 1.
        let s2 = Shape(2, 1, 100, 100)
        let x2 = TensorBuffer(shape: s2, values: [Float](repeating: 1, count: s2.count))
        d.firstSample = 0
        let pair = d.forward(x2.view(s2)).array
        #expect(Array(pair[0..<s.count]) == first && Array(pair[s.count...]) == second)
        d.isTraining = false
        #expect(d.forward(x.view(s)).data == x.base)
    }
}
