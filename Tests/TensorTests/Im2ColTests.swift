import Testing
import Tensor
import TestSupport

/// im2col/col2im against the definition, written as plain loops.
@Suite struct Im2ColTests {
    static let geometries: [ConvGeometry] = [
        ConvGeometry(channels: 3, height: 10, width: 7, kernel: 4, stride: 2, padding: 1),
        ConvGeometry(channels: 2, height: 5, width: 6, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(channels: 4, height: 9, width: 8, kernel: 4, stride: 1, padding: 1),
        ConvGeometry(channels: 1, height: 12, width: 13, kernel: 7, stride: 1, padding: 0),
        ConvGeometry(channels: 2, height: 9, width: 10, kernel: 3, stride: 2, padding: 1),
        ConvGeometry(channels: 3, height: 2, width: 2, kernel: 4, stride: 2, padding: 1),
        ConvGeometry(channels: 2, height: 7, width: 5, kernel: 3, stride: 3, padding: 2),
        // Large enough that the channels are split across threads.
        ConvGeometry(channels: 8, height: 64, width: 64, kernel: 4, stride: 2, padding: 1),
        // Transposed-conv geometry with output_padding: (8, 10) down to (4, 5).
        ConvGeometry(channels: 2, height: 8, width: 10, kernel: 3, stride: 2, padding: 1,
                     outHeight: 4, outWidth: 5),
    ]

    /// cols[(c·K + kh)·K + kw, oh·OW + ow] = x[c, oh·S − P + kh, ow·S − P + kw] or 0.
    static func naiveIm2col(_ x: [Float], _ g: ConvGeometry) -> [Float] {
        var cols = [Float](repeating: 0, count: g.colRows * g.colCols)
        for c in 0..<g.channels { for kh in 0..<g.kernel { for kw in 0..<g.kernel {
            let row = (c * g.kernel + kh) * g.kernel + kw
            for oh in 0..<g.outHeight { for ow in 0..<g.outWidth {
                let ih = oh * g.stride - g.padding + kh, iw = ow * g.stride - g.padding + kw
                if ih >= 0, ih < g.height, iw >= 0, iw < g.width {
                    cols[row * g.colCols + oh * g.outWidth + ow] = x[(c * g.height + ih) * g.width + iw]
                }
            } }
        } } }
        return cols
    }

    @Test(arguments: geometries)
    func im2colMatchesDefinition(_ g: ConvGeometry) {
        let x = randomValues(g.channels * g.height * g.width, seed: 1)
        var cols = [Float](repeating: .nan, count: g.colRows * g.colCols)
        x.withUnsafeBufferPointer { xp in
            cols.withUnsafeMutableBufferPointer { im2col(xp.baseAddress!, g, $0.baseAddress!) }
        }
        #expect(cols == Self.naiveIm2col(x, g))
    }

    /// col2im is the adjoint of im2col: ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩, and equals the naive scatter.
    @Test(arguments: geometries)
    func col2imIsAdjoint(_ g: ConvGeometry) {
        let c = randomValues(g.colRows * g.colCols, seed: 2)
        var x = [Float](repeating: .nan, count: g.channels * g.height * g.width)
        c.withUnsafeBufferPointer { cp in
            x.withUnsafeMutableBufferPointer { col2im(cp.baseAddress!, g, $0.baseAddress!) }
        }
        var naive = [Float](repeating: 0, count: x.count)
        for c0 in 0..<g.channels { for kh in 0..<g.kernel { for kw in 0..<g.kernel {
            let row = (c0 * g.kernel + kh) * g.kernel + kw
            for oh in 0..<g.outHeight { for ow in 0..<g.outWidth {
                let ih = oh * g.stride - g.padding + kh, iw = ow * g.stride - g.padding + kw
                if ih >= 0, ih < g.height, iw >= 0, iw < g.width {
                    naive[(c0 * g.height + ih) * g.width + iw] += c[row * g.colCols + oh * g.outWidth + ow]
                }
            } }
        } } }
        expectClose(x, naive, atol: 1e-5, rtol: 1e-5, "col2im")
        let xr = randomValues(x.count, seed: 3)
        let lhs = zip(Self.naiveIm2col(xr, g), c).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let rhs = zip(xr, x).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(lhs - rhs) < 1e-3 * max(1, abs(lhs)))
    }

    @Test func sgemmMatchesLoops() {
        let m = 7, n = 5, k = 9
        let a = randomValues(m * k, seed: 4), b = randomValues(n * k, seed: 5)
        var c = [Float](repeating: 1, count: m * n)
        // C = 2·A·Bᵀ + 1·C with B stored (N, K).
        sgemm(transB: true, m: m, n: n, k: k, alpha: 2, a: a, lda: k, b: b, ldb: k, beta: 1, c: &c, ldc: n)
        var naive = [Float](repeating: 1, count: m * n)
        for i in 0..<m { for j in 0..<n {
            var s: Float = 0
            for p in 0..<k { s += a[i * k + p] * b[j * k + p] }
            naive[i * n + j] += 2 * s
        } }
        expectClose(c, naive, atol: 1e-5, rtol: 1e-5, "sgemm")
    }
}

extension ConvGeometry: CustomTestStringConvertible {
    public var testDescription: String {
        "C\(channels) \(height)x\(width) K\(kernel) S\(stride) P\(padding) → \(outHeight)x\(outWidth)"
    }
}

/// `liveTaps`: the taps that read the image for some output, on U-Net's innermost shapes and
/// on shapes where every tap does.
@Suite struct LiveTapsTests {
    @Test func innermostLevelsReadTheCentreTaps() {
        // Conv 4×4 s2 p1, 2×2 → 1×1; transposed 1×1 → 2×2 (the conv from 2×2 down to 1×1).
        #expect(ConvGeometry(channels: 1, height: 2, width: 2, kernel: 4, stride: 2, padding: 1).liveTaps == 1..<3)
        #expect(ConvGeometry(channels: 1, height: 2, width: 2, kernel: 4, stride: 2, padding: 1,
                             outHeight: 1, outWidth: 1).liveTaps == 1..<3)
        #expect(ConvGeometry(channels: 1, height: 1, width: 1, kernel: 3, stride: 1, padding: 1).liveTaps == 1..<2)
        // 4×4 → 2×2 and larger: every tap reads the image somewhere.
        #expect(ConvGeometry(channels: 1, height: 4, width: 4, kernel: 4, stride: 2, padding: 1).liveTaps == nil)
        #expect(ConvGeometry(channels: 1, height: 9, width: 7, kernel: 3, stride: 1, padding: 1).liveTaps == nil)
        // Different live taps along the two axes: not trimmed.
        #expect(ConvGeometry(channels: 1, height: 2, width: 6, kernel: 4, stride: 2, padding: 1).liveTaps == nil)
    }

    /// The trimmed geometry unfolds to the live rows of the full one.
    @Test func trimmedColumnsAreTheLiveRows() {
        let g = ConvGeometry(channels: 3, height: 2, width: 2, kernel: 4, stride: 2, padding: 1)
        let taps = g.liveTaps!, t = g.trimmed(to: taps)
        let x = randomValues(3 * 4, seed: 5)
        var full = [Float](repeating: .nan, count: g.colRows * g.colCols)
        var cut = [Float](repeating: .nan, count: t.colRows * t.colCols)
        full.withUnsafeMutableBufferPointer { im2col(x, g, $0.baseAddress!) }
        cut.withUnsafeMutableBufferPointer { im2col(x, t, $0.baseAddress!) }
        for c in 0..<3 {
            for kh in 0..<4 {
                for kw in 0..<4 {
                    let v = full[(c * 4 + kh) * 4 + kw]
                    if taps.contains(kh), taps.contains(kw) {
                        #expect(cut[(c * 2 + kh - 1) * 2 + kw - 1] == v)
                    } else {
                        #expect(v == 0)
                    }
                }
            }
        }
    }
}
