/// Geometry of a 2-D convolution window over one sample.
///
/// Input plane (H, W), square kernel K, stride S, zero padding P, output plane (OH, OW).
/// For a transposed convolution the roles swap: its output is this "input" and its input
/// is this "output"; `outH`/`outW` are given explicitly so output_padding fits.
public struct ConvGeometry: Equatable, Sendable {
    public let channels: Int
    public let height: Int, width: Int
    public let kernel: Int, stride: Int, padding: Int
    public let outHeight: Int, outWidth: Int

    public init(channels: Int, height: Int, width: Int, kernel: Int, stride: Int, padding: Int,
                outHeight: Int? = nil, outWidth: Int? = nil) {
        self.channels = channels
        self.height = height; self.width = width
        self.kernel = kernel; self.stride = stride; self.padding = padding
        self.outHeight = outHeight ?? (height + 2 * padding - kernel) / stride + 1
        self.outWidth = outWidth ?? (width + 2 * padding - kernel) / stride + 1
    }

    /// Rows of the column matrix: C·K·K.
    @inlinable public var colRows: Int { channels * kernel * kernel }
    /// Columns of the column matrix: OH·OW.
    @inlinable public var colCols: Int { outHeight * outWidth }
    /// True when the column matrix is the input itself (1×1, stride 1, no padding).
    @inlinable public var isIdentity: Bool { kernel == 1 && stride == 1 && padding == 0 }

    /// Runs `body(rows, rows·OW)` for the output rows in blocks whose column matrix,
    /// (C·K·K, rows·OW), holds at most `maxFloats` but spans at least `minColumns` columns
    /// (one block when the columns are the input itself): layers unfold and multiply block by
    /// block, so the columns stay small enough to be read back from cache.
    @inlinable public func forEachRowBlock(maxFloats: Int, minColumns: Int, _ body: (Range<Int>, Int) -> Void) {
        let fit = maxFloats / max(1, colRows * outWidth), wide = (minColumns + outWidth - 1) / outWidth
        let per = isIdentity ? outHeight : max(1, min(outHeight, max(fit, wide)))
        for first in Swift.stride(from: 0, to: outHeight, by: per) {
            let rows = first..<min(outHeight, first + per)
            body(rows, rows.count * outWidth)
        }
    }

    /// The kernel taps that read inside the image for some output pixel, when they are fewer
    /// than K and the same along both axes; the taps outside them only ever read padding.
    /// U-Net's innermost layers at batch 1: a 2×2 input under a 4×4 stride-2 padding-1
    /// kernel is read by taps 1 and 2 only (and a 1×1 input, transposed, likewise).
    public var liveTaps: Range<Int>? {
        func live(_ extent: Int, _ outExtent: Int) -> Range<Int> {
            var lo = kernel, hi = 0
            for k in 0..<kernel {
                let reads = (0..<outExtent).contains { o in
                    let i = o * stride - padding + k
                    return i >= 0 && i < extent
                }
                if reads { lo = min(lo, k); hi = max(hi, k + 1) }
            }
            return lo < hi ? lo..<hi : 0..<0
        }
        let rows = live(height, outHeight)
        guard rows == live(width, outWidth), !rows.isEmpty, rows.count < kernel, rows.lowerBound <= padding else {
            return nil
        }
        return rows
    }

    /// This geometry with the kernel cut to `taps` and the padding moved with it: the same
    /// output, without the terms that read padding only (`liveTaps`).
    public func trimmed(to taps: Range<Int>) -> ConvGeometry {
        ConvGeometry(channels: channels, height: height, width: width, kernel: taps.count, stride: stride,
                     padding: padding - taps.lowerBound, outHeight: outHeight, outWidth: outWidth)
    }
}

/// The taps `taps` × `taps` of every K×K kernel in `w` (count kernels, row-major), as
/// kernels of taps.count² into `into`.
public func copyTaps(_ w: UnsafePointer<Float>, kernels count: Int, kernel: Int, taps: Range<Int>,
                     into out: UnsafeMutablePointer<Float>) {
    let k = taps.count
    for i in 0..<count {
        for (a, kh) in taps.enumerated() {
            (out + (i * k + a) * k).update(from: w + (i * kernel + kh) * kernel + taps.lowerBound, count: k)
        }
    }
}

/// Unfolds one sample into columns: `cols[(c·K + kh)·K + kw, oh·OW + ow]
/// = x[c, oh·S − P + kh, ow·S − P + kw]`, zero outside the image (PyTorch's `unfold`).
///
/// x is (C, H, W); cols is (C·K·K, R·OW) for the R = `rows.count` output rows `rows`
/// (all of them by default: (C·K·K, OH·OW)).
public func im2col(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ cols: UnsafeMutablePointer<Float>,
                   rows: Range<Int>? = nil) {
    let rows = rows ?? 0..<g.outHeight
    // Channels are independent (disjoint rows of cols): split them across the rank's threads.
    parallelChunks(g.channels, minimumChunk: max(1, (1 << 15) / max(1, g.kernel * g.kernel * rows.count * g.outWidth)),
                   Im2Col(x: x, g: g, cols: cols, rows: rows))
}

private struct Im2Col: ChunkTask {
    let x: UnsafePointer<Float>, g: ConvGeometry, cols: UnsafeMutablePointer<Float>, rows: Range<Int>

    func run(_ channels: Range<Int>) {
        let H = g.height, W = g.width, K = g.kernel, S = g.stride, P = g.padding
        let OW = g.outWidth, span = rows.count * OW
        for c in channels {
            let plane = x + c * H * W
            var row = cols + c * K * K * span
            for kh in 0..<K {
                for kw in 0..<K {
                    // Valid output columns for this kw: 0 <= ow*S - P + kw < W.
                    let (owLo, owHi) = validRange(offset: kw - P, stride: S, extent: W, count: OW)
                    for oh in rows {
                        let dst = row + (oh - rows.lowerBound) * OW
                        let ih = oh * S - P + kh
                        if ih < 0 || ih >= H {
                            dst.update(repeating: 0, count: OW)
                            continue
                        }
                        let src = plane + ih * W + (kw - P)
                        if owLo > 0 { dst.update(repeating: 0, count: owLo) }
                        if S == 1 {
                            (dst + owLo).update(from: src + owLo, count: owHi - owLo)
                        } else {
                            var ow = owLo
                            while ow < owHi { dst[ow] = src[ow * S]; ow += 1 }
                        }
                        if owHi < OW { (dst + owHi).update(repeating: 0, count: OW - owHi) }
                    }
                    row += span
                }
            }
        }
    }
}

/// Folds columns back, summing overlaps: the adjoint of `im2col` (PyTorch's `fold`).
///
/// cols is (C·K·K, OH·OW) and x (C, H, W) is overwritten; with `rows`, cols holds just those
/// output rows, (C·K·K, R·OW), and their sums are added to x (blocks of rows fold into a
/// zeroed x one after another).
public func col2im(_ cols: UnsafePointer<Float>, _ g: ConvGeometry, _ x: UnsafeMutablePointer<Float>,
                   rows: Range<Int>? = nil) {
    if rows == nil { x.update(repeating: 0, count: g.channels * g.height * g.width) }
    let rows = rows ?? 0..<g.outHeight
    // Each channel folds into its own plane of x: split the channels across threads.
    parallelChunks(g.channels, minimumChunk: max(1, (1 << 15) / max(1, g.kernel * g.kernel * rows.count * g.outWidth)),
                   Col2Im(cols: cols, g: g, x: x, rows: rows))
}

private struct Col2Im: ChunkTask {
    let cols: UnsafePointer<Float>, g: ConvGeometry, x: UnsafeMutablePointer<Float>, rows: Range<Int>

    func run(_ channels: Range<Int>) {
        let H = g.height, W = g.width, K = g.kernel, S = g.stride, P = g.padding
        let OW = g.outWidth, span = rows.count * OW
        for c in channels {
            let plane = x + c * H * W
            var row = cols + c * K * K * span
            for kh in 0..<K {
                for kw in 0..<K {
                    let (owLo, owHi) = validRange(offset: kw - P, stride: S, extent: W, count: OW)
                    for oh in rows {
                        let ih = oh * S - P + kh
                        if ih < 0 || ih >= H { continue }
                        let src = row + (oh - rows.lowerBound) * OW
                        let dst = plane + ih * W + (kw - P)
                        var ow = owLo
                        if S == 1 {
                            while ow < owHi { dst[ow] += src[ow]; ow += 1 }
                        } else {
                            while ow < owHi { dst[ow * S] += src[ow]; ow += 1 }
                        }
                    }
                    row += span
                }
            }
        }
    }
}

/// The range [lo, hi) of output positions o in 0..<count with 0 <= o·stride + offset < extent.
@inlinable public func validRange(offset: Int, stride: Int, extent: Int, count: Int) -> (Int, Int) {
    // o*stride >= -offset  →  o >= ceil(-offset / stride)
    var lo = 0
    if offset < 0 { lo = (-offset + stride - 1) / stride }
    // o*stride + offset <= extent - 1  →  o <= floor((extent - 1 - offset) / stride)
    let lastNumerator = extent - 1 - offset
    var hi = lastNumerator < 0 ? 0 : lastNumerator / stride + 1
    lo = min(lo, count); hi = min(max(hi, lo), count)
    return (lo, hi)
}
