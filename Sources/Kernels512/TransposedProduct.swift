import CBLAS

/// Rows of A (K) one panel covers: the panel's rows are read left to right side by side, and
/// C's tiles are loaded and stored once a panel.
private let panel = 32

/// C (M, N) = Aᵀ · B, or C += Aᵀ · B when `accumulate`, for A stored (K, M) row-major, B (K, N),
/// C (M, N); N a multiple of 16, single-threaded (`sgemm` splits the columns of A over the
/// compute pool). PyTorch: `torch.mm(a.t(), b)`.
///
/// These are Wᵀ·x at U-Net's inner levels: the transposed convolutions' forward and the
/// convolutions' input gradient on 4×4 and 8×8 pixels (N 16 and 64 at batch 1), where W
/// (K, M) is 16–32 MB. OpenBLAS packs all of W before its kernel reads it again; here W is
/// read once, as it lies. The lanes run along N, C's rows: each step of K multiplies one row
/// of B (up to four 16-lane vectors, in L1) by six entries of that row of A (twelve for a
/// 16-column stripe), broadcast, into 24 (12) accumulators that start from C. A panel of 32
/// rows of A is swept left to right — 32 streams, each line prefetched ahead — while its 32
/// rows of B stay in L1. Every element of C is one chain of fused multiply-adds over its K
/// terms in order, from zero or from C, whichever rows a thread gets.
public func transposedProduct512(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                 b: UnsafePointer<Float>, ldb: Int, accumulate: Bool,
                                 c: UnsafeMutablePointer<Float>, ldc: Int) {
    precondition(n % 16 == 0, "transposedProduct512 takes whole 16-lane rows")
    var p0 = 0
    while p0 < k {
        let rows = min(panel, k - p0), fresh = p0 == 0 && !accumulate
        let ap = a + p0 * lda, bp = b + p0 * ldb
        var j = 0
        while j + 64 <= n {
            wideStripe(m: m, rows: rows, a: ap, lda: lda, b: bp + j, ldb: ldb, fresh: fresh, c: c + j, ldc: ldc)
            j += 64
        }
        while j < n {
            narrowStripe(m: m, rows: rows, a: ap, lda: lda, b: bp + j, ldb: ldb, fresh: fresh, c: c + j, ldc: ldc)
            j += 16
        }
        p0 += rows
    }
}

/// How far ahead in each row of A the sweeps prefetch, in floats (two lines).
private let ahead = 32

/// 64 columns of C over one panel: six columns of A at a time, 6 × 4 accumulators.
@inline(__always)
private func wideStripe(m: Int, rows: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                        fresh: Bool, c: UnsafeMutablePointer<Float>, ldc: Int) {
    var i = 0
    while i + 6 <= m {
        var block = Block6x64(c + i * ldc, ldc, fresh: fresh)
        var ar = a + i, br = b
        for _ in 0..<rows {
            p2p_prefetch(ar + ahead)
            block.add((ar[0], ar[1], ar[2], ar[3], ar[4], ar[5]), Row64(br))
            ar += lda
            br += ldb
        }
        block.store(c + i * ldc, ldc)
        i += 6
    }
    // The last columns of A, one at a time, the same chain per element.
    while i < m {
        for v in 0..<4 {
            vectorChain(a + i, aStride: lda, b + 16 * v, ldb: ldb, depth: rows, fresh: fresh, c + i * ldc + 16 * v)
        }
        i += 1
    }
}

/// 16 columns of C over one panel: twelve columns of A at a time, 12 accumulators.
@inline(__always)
private func narrowStripe(m: Int, rows: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                          fresh: Bool, c: UnsafeMutablePointer<Float>, ldc: Int) {
    var i = 0
    while i + 12 <= m {
        let ci = c + i * ldc
        var s0 = V(), s1 = V(), s2 = V(), s3 = V(), s4 = V(), s5 = V()
        var s6 = V(), s7 = V(), s8 = V(), s9 = V(), s10 = V(), s11 = V()
        if !fresh {
            (s0, s1, s2, s3) = (load(ci), load(ci + ldc), load(ci + 2 * ldc), load(ci + 3 * ldc))
            (s4, s5, s6, s7) = (load(ci + 4 * ldc), load(ci + 5 * ldc), load(ci + 6 * ldc), load(ci + 7 * ldc))
            (s8, s9, s10, s11) = (load(ci + 8 * ldc), load(ci + 9 * ldc), load(ci + 10 * ldc), load(ci + 11 * ldc))
        }
        var ar = a + i, br = b
        for _ in 0..<rows {
            p2p_prefetch(ar + ahead)
            let y = load(br)
            s0 = s0.addingProduct(V(repeating: ar[0]), y); s1 = s1.addingProduct(V(repeating: ar[1]), y)
            s2 = s2.addingProduct(V(repeating: ar[2]), y); s3 = s3.addingProduct(V(repeating: ar[3]), y)
            s4 = s4.addingProduct(V(repeating: ar[4]), y); s5 = s5.addingProduct(V(repeating: ar[5]), y)
            s6 = s6.addingProduct(V(repeating: ar[6]), y); s7 = s7.addingProduct(V(repeating: ar[7]), y)
            s8 = s8.addingProduct(V(repeating: ar[8]), y); s9 = s9.addingProduct(V(repeating: ar[9]), y)
            s10 = s10.addingProduct(V(repeating: ar[10]), y); s11 = s11.addingProduct(V(repeating: ar[11]), y)
            ar += lda
            br += ldb
        }
        store(s0, ci); store(s1, ci + ldc); store(s2, ci + 2 * ldc); store(s3, ci + 3 * ldc)
        store(s4, ci + 4 * ldc); store(s5, ci + 5 * ldc); store(s6, ci + 6 * ldc); store(s7, ci + 7 * ldc)
        store(s8, ci + 8 * ldc); store(s9, ci + 9 * ldc); store(s10, ci + 10 * ldc); store(s11, ci + 11 * ldc)
        i += 12
    }
    while i < m {
        vectorChain(a + i, aStride: lda, b, ldb: ldb, depth: rows, fresh: fresh, c + i * ldc)
        i += 1
    }
}
