import CBLAS

/// Products with at most this many columns go to `skinnyProduct` instead of OpenBLAS.
public let skinnyColumnLimit = 4

/// C (M, N) = A (M, K) · B (K, N), or C += A · B when `accumulate`; row-major, N ≤
/// `skinnyColumnLimit`, single-threaded (`sgemm` splits the rows over the pool).
///
/// These are the convolutions whose output has a handful of pixels: U-Net's innermost
/// layers at batch 1, 1×1 to 2×2, where A is the weights (16–32 MB a layer) and the cost is
/// reading them. OpenBLAS packs all of A on every call (`sgemm_oncopy`) before its kernel
/// reads it again. Here each row of A is read once, straight from where it lies, as dot
/// products 8 lanes wide against Bᵀ, which is transposed onto the stack (128 KB at most):
/// all of K up to 8192, so that every row of A is one stream from start to end. Every element
/// sums its K terms in the same order whichever rows a thread gets. The next two rows are
/// prefetched a line at a time as these are read: every row (4 KiB at K 1024) is a new page,
/// where the hardware prefetcher starts over.
///
/// Measured here, one thread, caches flushed (OpenBLAS SkylakeX kernels): 512×8192 · 8192×1
/// 1.87 → 1.29 ms, 8192×1024 · 1024×4 4.97 → 3.18 ms; at 16 columns OpenBLAS wins (2.38
/// against 3.87 ms for 512×8192 · 8192×16), hence the limit of 4 (`skinnyRowsProduct` takes
/// 8 and 16). Whole rows instead of 512-entry pieces (2 threads, flushed): 8192×1024 · 4
/// 2.1–2.2 → 1.7 ms, 1024×8192 · 4 1.8–1.9 → 1.6 ms, 512×8192 · 1 0.76–0.82 → 0.69–0.73 ms.
public func skinnyProduct(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                          b: UnsafePointer<Float>, ldb: Int, accumulate: Bool,
                          c: UnsafeMutablePointer<Float>, ldc: Int) {
    precondition(n <= skinnyColumnLimit)
    let chunk = min(k, 8192)
    withUnsafeTemporaryAllocation(of: Float.self, capacity: skinnyColumnLimit * chunk) { scratch in
        let bt = scratch.baseAddress!
        var p0 = 0
        while p0 < k {
            let len = min(chunk, k - p0)
            for p in 0..<len {
                let row = b + (p0 + p) * ldb
                for j in 0..<n { bt[j * len + p] = row[j] }
            }
            let add = accumulate || p0 > 0
            var i = 0
            while i < m {
                let a0 = a + i * lda + p0
                let a1 = i + 1 < m ? a0 + lda : a0
                var j = 0
                while j < n {
                    let s: (SIMD4<Float>, SIMD4<Float>)
                    if n - j == 1 {
                        let d = dot2x1(a0, a1, bt + j * len, len, ahead: 2 * lda)
                        s = (SIMD4(d.0, 0, 0, 0), SIMD4(d.1, 0, 0, 0))
                    } else {
                        let last = n - 1
                        s = dot2x4(a0, a1, bt + j * len, bt + min(j + 1, last) * len,
                                   bt + min(j + 2, last) * len, bt + min(j + 3, last) * len, len,
                                   ahead: j == 0 ? 2 * lda : 0)
                    }
                    for q in 0..<min(4, n - j) {
                        let c0 = c + i * ldc + j + q
                        c0.pointee = add ? c0.pointee + s.0[q] : s.0[q]
                        if i + 1 < m { c0[ldc] = add ? c0[ldc] + s.1[q] : s.1[q] }
                    }
                    j += 4
                }
                i += 2
            }
            p0 += len
        }
    }
}

/// (a0 · b0, …, a0 · b3) and the same for a1, over `len` entries.
@inline(__always) private func dot2x4(
    _ a0: UnsafePointer<Float>, _ a1: UnsafePointer<Float>, _ b0: UnsafePointer<Float>,
    _ b1: UnsafePointer<Float>, _ b2: UnsafePointer<Float>, _ b3: UnsafePointer<Float>, _ len: Int, ahead: Int
) -> (SIMD4<Float>, SIMD4<Float>) {
    var s00 = SIMD8<Float>(), s01 = SIMD8<Float>(), s02 = SIMD8<Float>(), s03 = SIMD8<Float>()
    var s10 = SIMD8<Float>(), s11 = SIMD8<Float>(), s12 = SIMD8<Float>(), s13 = SIMD8<Float>()
    let vectorEnd = len & ~7
    var p = 0
    while p < vectorEnd {
        if ahead != 0 && p & 15 == 0 { prefetch(a0 + ahead + p); prefetch(a1 + ahead + p) }
        let x0 = load8(a0, p), x1 = load8(a1, p)
        let y0 = load8(b0, p), y1 = load8(b1, p), y2 = load8(b2, p), y3 = load8(b3, p)
        s00 = s00.multiplyAdding(x0, y0); s01 = s01.multiplyAdding(x0, y1)
        s02 = s02.multiplyAdding(x0, y2); s03 = s03.multiplyAdding(x0, y3)
        s10 = s10.multiplyAdding(x1, y0); s11 = s11.multiplyAdding(x1, y1)
        s12 = s12.multiplyAdding(x1, y2); s13 = s13.multiplyAdding(x1, y3)
        p += 8
    }
    var r0 = SIMD4(s00.sum(), s01.sum(), s02.sum(), s03.sum())
    var r1 = SIMD4(s10.sum(), s11.sum(), s12.sum(), s13.sum())
    while p < len {
        let y = SIMD4(b0[p], b1[p], b2[p], b3[p])
        r0 = r0.multiplyAdding(SIMD4(repeating: a0[p]), y)
        r1 = r1.multiplyAdding(SIMD4(repeating: a1[p]), y)
        p += 1
    }
    return (r0, r1)
}

/// (a0 · b0, a1 · b0) over `len` entries, 16 lanes (two independent 8-lane sums) per row.
@inline(__always) private func dot2x1(
    _ a0: UnsafePointer<Float>, _ a1: UnsafePointer<Float>, _ b0: UnsafePointer<Float>, _ len: Int, ahead: Int
) -> (Float, Float) {
    var s0 = SIMD16<Float>(), s1 = SIMD16<Float>()
    let vectorEnd = len & ~15
    var p = 0
    while p < vectorEnd {
        prefetch(a0 + ahead + p); prefetch(a1 + ahead + p)
        let y = UnsafeRawPointer(b0 + p).loadUnaligned(as: SIMD16<Float>.self)
        s0 = s0.multiplyAdding(UnsafeRawPointer(a0 + p).loadUnaligned(as: SIMD16<Float>.self), y)
        s1 = s1.multiplyAdding(UnsafeRawPointer(a1 + p).loadUnaligned(as: SIMD16<Float>.self), y)
        p += 16
    }
    var r0 = s0.sum(), r1 = s1.sum()
    while p < len {
        r0 += a0[p] * b0[p]
        r1 += a1[p] * b0[p]
        p += 1
    }
    return (r0, r1)
}

/// Whether `skinnyRowsProduct` takes products of `n` columns: 8 or 16, whole vectors (the
/// innermost U-Net layers' 4×4 pixels at batch 1, 2×2 at batch 2 and 4).
@inlinable public func isSkinnyRowsWidth(_ n: Int) -> Bool { n == 8 || n == 16 }

/// C (M, N) = A (M, K) · B (K, N), or C += A · B when `accumulate`; row-major, N 8 or 16,
/// single-threaded (`sgemm` splits the rows over the pool).
///
/// The innermost U-Net layers at 4×4 pixels: A is the weights (16–32 MB, read once) and B a
/// few columns of activations that stay in L2. OpenBLAS packs all of A first (`sgemm_oncopy`)
/// and then multiplies at 16 columns, reading the weights at 9–10 GB/s here. Here C's rows
/// are 8 or 16 lanes and four rows of A are read as they lie, left to right (four streams):
/// each step of K multiplies one or two 8-lane vectors of a row of B by the four rows' entries,
/// into eight accumulators at most. Every element of C sums its K terms in order with one
/// multiply-add (`multiplyAdding`) each, from zero, whichever rows a thread gets; the rows
/// past the last four, one at a time, the same way.
/// The next four rows are prefetched a line at a time as these are read (see `skinnyProduct`).
public func skinnyRowsProduct(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                              b: UnsafePointer<Float>, ldb: Int, accumulate: Bool,
                              c: UnsafeMutablePointer<Float>, ldc: Int) {
    precondition(isSkinnyRowsWidth(n))
    typealias V = SIMD8<Float>
    @inline(__always) func finish(_ row: UnsafeMutablePointer<Float>, _ lo: V, _ hi: V) {
        let r = UnsafeMutableRawPointer(row)
        r.storeBytes(of: accumulate ? load8(row, 0) + lo : lo, as: V.self)
        if n == 16 { (r + 32).storeBytes(of: accumulate ? load8(row, 8) + hi : hi, as: V.self) }
    }
    var i = 0
    while i + 4 <= m {
        let a0 = a + i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda
        var s0 = V(), s1 = V(), s2 = V(), s3 = V(), t0 = V(), t1 = V(), t2 = V(), t3 = V()
        let ahead = 4 * lda
        if n == 16 {
            for p in 0..<k {
                if p & 15 == 0 {
                    prefetch(a0 + ahead + p); prefetch(a1 + ahead + p); prefetch(a2 + ahead + p); prefetch(a3 + ahead + p)
                }
                let bp = b + p * ldb, lo = load8(bp, 0), hi = load8(bp, 8)
                let x0 = V(repeating: a0[p]), x1 = V(repeating: a1[p]), x2 = V(repeating: a2[p]), x3 = V(repeating: a3[p])
                s0 = s0.multiplyAdding(x0, lo); t0 = t0.multiplyAdding(x0, hi)
                s1 = s1.multiplyAdding(x1, lo); t1 = t1.multiplyAdding(x1, hi)
                s2 = s2.multiplyAdding(x2, lo); t2 = t2.multiplyAdding(x2, hi)
                s3 = s3.multiplyAdding(x3, lo); t3 = t3.multiplyAdding(x3, hi)
            }
        } else {
            for p in 0..<k {
                if p & 15 == 0 {
                    prefetch(a0 + ahead + p); prefetch(a1 + ahead + p); prefetch(a2 + ahead + p); prefetch(a3 + ahead + p)
                }
                let lo = load8(b + p * ldb, 0)
                s0 = s0.multiplyAdding(V(repeating: a0[p]), lo); s1 = s1.multiplyAdding(V(repeating: a1[p]), lo)
                s2 = s2.multiplyAdding(V(repeating: a2[p]), lo); s3 = s3.multiplyAdding(V(repeating: a3[p]), lo)
            }
        }
        finish(c + i * ldc, s0, t0); finish(c + (i + 1) * ldc, s1, t1)
        finish(c + (i + 2) * ldc, s2, t2); finish(c + (i + 3) * ldc, s3, t3)
        i += 4
    }
    while i < m {
        let a0 = a + i * lda
        var s0 = V(), t0 = V()
        for p in 0..<k {
            let bp = b + p * ldb, x0 = V(repeating: a0[p])
            s0 = s0.multiplyAdding(x0, load8(bp, 0))
            if n == 16 { t0 = t0.multiplyAdding(x0, load8(bp, 8)) }
        }
        finish(c + i * ldc, s0, t0)
        i += 1
    }
}

/// Products Aᵀ·B with at most this many columns go to `skinnyTransposedProduct`.
public let skinnyTransposedColumnLimit = 16

/// C (M, N) = Aᵀ · B, or C += Aᵀ · B when `accumulate`, for A stored (K, M) row-major, B (K, N),
/// C (M, N); N ≤ `skinnyTransposedColumnLimit`, single-threaded (`sgemm` splits the columns
/// of A over the pool).
///
/// These are Wᵀ·x at U-Net's innermost levels in training — the transposed convolutions'
/// forward and the convolutions' input gradient on 1 to 16 pixels — where W (K, M) is 16–32
/// MB and the cost is reading it: OpenBLAS read it at 5.5–8 GB/s here, against 19 GB/s for a
/// plain read of the same matrix (2 threads, caches flushed). Here A is read as it lies, 32
/// rows at a time and left to right (32 streams a prefetcher follows; a narrow band of columns
/// read down all K rows, a 32 KB stride every row, ran at about 5 GB/s), 24 columns by 24
/// (three 8-lane vectors per row, the lanes along M) against up to four columns of B at once
/// (twelve accumulators); each tile's sums are added to C after every panel of rows. Every
/// element of C sums its K terms in the same order — panel by panel, each panel's rows one
/// multiply-add (`multiplyAdding`) at a time from zero — whichever columns a thread gets.
/// Each tile prefetches the one four tiles on in all of the panel's rows.
///
/// Measured here, `sgemm` on 2 threads, caches flushed, best of 10, against OpenBLAS split the
/// same way: K 512 × M 8192 with N 1 1.57–2.63 → 0.83–0.88 ms, N 4 1.68–2.95 → 0.93–1.24 ms;
/// K 1024 with N 4 5.50–5.68 → 2.35–2.51 ms, N 16 6.28–6.32 → 5.33–5.56 ms (at 16 columns the
/// kernel is bound by its adds into C, not by reading A).
public func skinnyTransposedProduct(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                    b: UnsafePointer<Float>, ldb: Int, accumulate: Bool,
                                    c: UnsafeMutablePointer<Float>, ldc: Int) {
    precondition(n <= skinnyTransposedColumnLimit)
    if !accumulate {
        for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) }
    }
    let panel = 32, tile = 24
    let fullTiles = m / tile * tile
    var p0 = 0
    while p0 < k {
        let rows = min(panel, k - p0)
        var m0 = 0
        while m0 < fullTiles {
            // The tile four on, in every row of the panel (each row is its own 4 KiB page).
            for p in 0..<rows {
                let row = a + (p0 + p) * lda + m0 + 4 * tile
                prefetch(row); prefetch(row + 16)
            }
            var j = 0
            while j < n {
                let (ta, tb, tc) = (a + p0 * lda + m0, b + p0 * ldb + j, c + m0 * ldc + j)
                switch n - j {
                case 1: transposedTile(ta, lda, tb, ldb, rows: rows, columns: 1, tc, ldc)
                case 2: transposedTile(ta, lda, tb, ldb, rows: rows, columns: 2, tc, ldc)
                case 3: transposedTile(ta, lda, tb, ldb, rows: rows, columns: 3, tc, ldc)
                default: transposedTile(ta, lda, tb, ldb, rows: rows, columns: 4, tc, ldc)
                }
                j += 4
            }
            m0 += tile
        }
        // The last columns (fewer than a tile), one at a time, with the same multiply-adds
        // as the vector lanes.
        for col in fullTiles..<m {
            for j in 0..<n {
                var s: Float = 0
                for p in 0..<rows { s = s.multiplyAdding(a[(p0 + p) * lda + col], b[(p0 + p) * ldb + j]) }
                c[col * ldc + j] += s
            }
        }
        p0 += rows
    }
}

/// C[i, q] += Σ_p A[p, i] · B[p, q] for 24 columns i of A and `columns` (≤ 4) of B over
/// `rows` rows: 12 accumulators of 8 lanes.
@inline(__always) private func transposedTile(
    _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, rows: Int, columns: Int,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int
) {
    typealias V = SIMD8<Float>
    var s00 = V(), s01 = V(), s02 = V(), s10 = V(), s11 = V(), s12 = V()
    var s20 = V(), s21 = V(), s22 = V(), s30 = V(), s31 = V(), s32 = V()
    for p in 0..<rows {
        let row = a + p * lda, bp = b + p * ldb
        let x0 = load8(row, 0), x1 = load8(row, 8), x2 = load8(row, 16)
        let y0 = V(repeating: bp[0])
        s00 = s00.multiplyAdding(x0, y0); s01 = s01.multiplyAdding(x1, y0); s02 = s02.multiplyAdding(x2, y0)
        if columns > 1 {
            let y1 = V(repeating: bp[1])
            s10 = s10.multiplyAdding(x0, y1); s11 = s11.multiplyAdding(x1, y1); s12 = s12.multiplyAdding(x2, y1)
        }
        if columns > 2 {
            let y2 = V(repeating: bp[2])
            s20 = s20.multiplyAdding(x0, y2); s21 = s21.multiplyAdding(x1, y2); s22 = s22.multiplyAdding(x2, y2)
        }
        if columns > 3 {
            let y3 = V(repeating: bp[3])
            s30 = s30.multiplyAdding(x0, y3); s31 = s31.multiplyAdding(x1, y3); s32 = s32.multiplyAdding(x2, y3)
        }
    }
    for i in 0..<8 {
        addRow(c + i * ldc, SIMD4(s00[i], s10[i], s20[i], s30[i]), columns)
        addRow(c + (i + 8) * ldc, SIMD4(s01[i], s11[i], s21[i], s31[i]), columns)
        addRow(c + (i + 16) * ldc, SIMD4(s02[i], s12[i], s22[i], s32[i]), columns)
    }
}

/// c[0 ..< columns] += the first `columns` lanes of v (one 4-lane add when all four).
@inline(__always) private func addRow(_ c: UnsafeMutablePointer<Float>, _ v: SIMD4<Float>, _ columns: Int) {
    if columns == 4 {
        let r = UnsafeMutableRawPointer(c)
        r.storeBytes(of: r.loadUnaligned(as: SIMD4<Float>.self) + v, as: SIMD4<Float>.self)
    } else {
        for q in 0..<columns { c[q] += v[q] }
    }
}

/// Asks for the cache line at `p` ahead of its use (`p2p_prefetch`).
@inline(__always) func prefetch(_ p: UnsafePointer<Float>) { p2p_prefetch(p) }
