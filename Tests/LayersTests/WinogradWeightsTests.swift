import Testing
import Tensor
@testable import Layers
import TestSupport

/// `WinogradWeights` against the definition of U = G w Gᵀ on the virtual kernels of every
/// layout (`WinogradLayout`), and its adjoint against Gᵀ dU G added back onto the real taps:
/// whole blocks and the lanes after them, tiles cut by the pool's parts, and the same bits
/// on 1 and 3 threads.
@Suite(.serialized) struct WinogradWeightsTests {
    /// (layout, transform, real taps per kernel) by name.
    static func setup(_ kind: String) -> (WinogradLayout, WinogradTransform, Int) {
        switch kind {
        case "conv4": (.convolution(kernel: 4, padding: 1), WinogradTransform(outputTile: 4, kernel: 4), 16)
        case "conv3": (.convolution(kernel: 3, padding: 1), WinogradTransform(outputTile: 4, kernel: 3), 9)
        case "strided": (.stridedConvolution, WinogradTransform(outputTile: 3, kernel: 2), 16)
        default: (.transposedConvolution, WinogradTransform(outputTile: 3, kernel: 2), 16)
        }
    }

    /// Where tap (i, j) of virtual kernel κ lies in the real weights, from `WinogradLayout`'s
    /// definitions: W (O, C, r, r) for Conv2d, W (C, O, 4, 4) for ConvTranspose2d.
    static func realTap(_ kind: String, _ kappa: Int, _ i: Int, _ j: Int, C: Int, O: Int, r: Int) -> Int {
        switch kind {
        case "conv4", "conv3":
            return (kappa * r + i) * r + j  // κ = o·C + c
        case "strided":
            let real = kappa / 4, p = kappa % 4 / 2, q = kappa % 2  // κ = (o·C + c)·4 + 2p + q
            return real * 16 + (2 * i + p) * 4 + 2 * j + q
        default:
            let c = kappa % C, o = kappa / C / 4, p = kappa / C % 4 / 2, q = kappa / C % 2  // κ = (o·4 + 2p′ + q′)·C + c
            return (c * O + o) * 16 + (3 - p - 2 * i) * 4 + 3 - q - 2 * j
        }
    }

    @Test(arguments: ["conv4", "conv3", "strided", "transposed"], [(5, 3), (33, 40)])
    func matchesDefinition(_ kind: String, _ channels: (Int, Int)) {
        let (C, O) = channels
        let (layout, transform, taps) = Self.setup(kind)
        let n = transform.n, r = transform.r, nn = n * n
        let kernels = C * O * (taps == r * r ? 1 : 4), stride = kernels + 5
        let G = (0..<n * r).map { Double(transform.filter.base[$0]) }
        let weights = randomValues(C * O * taps, seed: 1)
        let scratch = TensorBuffer()

        // Forward: U = G w Gᵀ for every κ, the columns past K′·C′ untouched.
        var expected = [Float](repeating: 7, count: nn * stride)
        for kappa in 0..<kernels {
            for a in 0..<n { for b in 0..<n {
                var s = 0.0
                for i in 0..<r { for j in 0..<r {
                    s += G[a * r + i] * G[b * r + j] * Double(weights[Self.realTap(kind, kappa, i, j, C: C, O: O, r: r)])
                } }
                expected[(a * n + b) * stride + kappa] = Float(s)
            } }
        }
        /// The transform on copies of `real` and `u` on `threads` threads: U (forward) or the
        /// gradient (adjoint).
        func run(_ threads: Int, real: [Float], u: [Float], forward: Bool) -> [Float] {
            var real = real, u = u
            real.withUnsafeMutableBufferPointer { w in
                u.withUnsafeMutableBufferPointer { d in
                    withComputeThreads(threads) {
                        WinogradWeights(layout, inputChannels: C, outputChannels: O, transform: transform,
                                        real: w.baseAddress!, u: d.baseAddress!, stride: stride, forward: forward)(scratch: scratch)
                    }
                }
            }
            return forward ? u : real
        }
        let unset = [Float](repeating: 7, count: nn * stride)
        func forward(_ threads: Int) -> [Float] { run(threads, real: weights, u: unset, forward: true) }
        let u = forward(1)
        expectClose(u, expected, atol: 1e-5, "U, \(kind) \(C)→\(O)")
        #expect(u == forward(3), "U on 3 threads, \(kind) \(C)→\(O)")

        // Adjoint: grad += Gᵀ dU G on the real taps; dU's columns past K′·C′ are not read, and
        // nothing past the gradient is written: a guard of −0 as long as the rows the last,
        // partial block's lanes would reach (adding even a zero would turn it into +0).
        let du = randomValues(nn * stride, seed: 2), guardCount = 8 * 16 * O
        let start = randomValues(weights.count, seed: 3) + [Float](repeating: -0.0, count: guardCount)
        var sums = start.map(Double.init)
        for kappa in 0..<kernels {
            for i in 0..<r { for j in 0..<r {
                var s = 0.0
                for a in 0..<n { for b in 0..<n { s += G[a * r + i] * G[b * r + j] * Double(du[(a * n + b) * stride + kappa]) } }
                sums[Self.realTap(kind, kappa, i, j, C: C, O: O, r: r)] += s
            } }
        }
        func adjoint(_ threads: Int) -> [Float] { run(threads, real: start, u: du, forward: false) }
        let grad = adjoint(1)
        expectClose(Array(grad.prefix(weights.count)), sums.prefix(weights.count).map { Float($0) }, atol: 1e-5,
                    "dW, \(kind) \(C)→\(O)")
        #expect(grad.suffix(guardCount).allSatisfy { $0.bitPattern == (-0.0 as Float).bitPattern },
                "written past the gradient, \(kind) \(C)→\(O)")
        #expect(grad == adjoint(3), "dW on 3 threads, \(kind) \(C)→\(O)")
    }
}
