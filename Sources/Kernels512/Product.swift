import CBLAS

/// Entries of K one pass covers: B's 256 rows (64 KB at 64 columns) stay in L2 while the
/// rows of A go by, and C's tiles are loaded and stored once a pass.
private let depthPanel = 256

/// C (M, N) = A · B, or C += A · B when `accumulate`, row-major, N a multiple of 16,
/// single-threaded (`sgemm` splits the rows over the compute pool). PyTorch: `torch.mm(a, b)`.
///
/// These are W·x at U-Net's inner levels: the convolutions' forward and the transposed
/// convolutions' input gradient on 4×4 and 8×8 pixels (N 16 and 64 at batch 1), the frozen
/// transposed convolutions of `translate`, and Winograd's products at up to 64 tiles. W is
/// 16–32 MB a layer; OpenBLAS packs it all before its kernel reads it again, and the 8- and
/// 16-column AVX2 kernel (`skinnyRowsProduct`) is bound by its broadcasts. Here the lanes run
/// along N, C's rows: each step of K multiplies one row of B (up to four 16-lane vectors) by
/// the entries of six rows of A (eight for a 16-column stripe), broadcast, into 24 (8)
/// accumulators that start from C; the rows of A are read as they lie, 256 entries a pass,
/// and the next rows' entries are prefetched a line each 16 steps. Every element of C is one
/// chain of fused multiply-adds over its K terms in order, from zero or from C, whichever
/// rows a thread gets.
public func product512(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                       b: UnsafePointer<Float>, ldb: Int, accumulate: Bool,
                       c: UnsafeMutablePointer<Float>, ldc: Int) {
    precondition(n % 16 == 0, "product512 takes whole 16-lane rows")
    var p0 = 0
    while p0 < k {
        let rows = min(depthPanel, k - p0), fresh = p0 == 0 && !accumulate
        let ap = a + p0, bp = b + p0 * ldb
        var j = 0
        while j + 64 <= n {
            wideRows(m: m, depth: rows, a: ap, lda: lda, b: bp + j, ldb: ldb, fresh: fresh, c: c + j, ldc: ldc)
            j += 64
        }
        while j < n {
            narrowRows(m: m, depth: rows, a: ap, lda: lda, b: bp + j, ldb: ldb, fresh: fresh, c: c + j, ldc: ldc)
            j += 16
        }
        p0 += rows
    }
}

/// 64 columns of C over one pass: six rows of A at a time, 6 × 4 accumulators; the rows
/// after the last six one at a time, the same chain per element.
@inline(__always)
private func wideRows(m: Int, depth: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      fresh: Bool, c: UnsafeMutablePointer<Float>, ldc: Int) {
    var i = 0
    while i + 6 <= m {
        var block = Block6x64(c + i * ldc, ldc, fresh: fresh)
        let a0 = a + i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda, a4 = a3 + lda, a5 = a4 + lda
        let next = 6 * lda
        var br = b
        for p in 0..<depth {
            if p & 15 == 0 {
                p2p_prefetch(a0 + next + p); p2p_prefetch(a1 + next + p); p2p_prefetch(a2 + next + p)
                p2p_prefetch(a3 + next + p); p2p_prefetch(a4 + next + p); p2p_prefetch(a5 + next + p)
            }
            block.add((a0[p], a1[p], a2[p], a3[p], a4[p], a5[p]), Row64(br))
            br += ldb
        }
        block.store(c + i * ldc, ldc)
        i += 6
    }
    while i < m {
        for v in 0..<4 {
            vectorChain(a + i * lda, aStride: 1, b + 16 * v, ldb: ldb, depth: depth, fresh: fresh, c + i * ldc + 16 * v)
        }
        i += 1
    }
}

/// 16 columns of C over one pass: eight rows of A at a time, 8 accumulators.
@inline(__always)
private func narrowRows(m: Int, depth: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                        fresh: Bool, c: UnsafeMutablePointer<Float>, ldc: Int) {
    var i = 0
    while i + 8 <= m {
        let ci = c + i * ldc
        var s0 = V(), s1 = V(), s2 = V(), s3 = V(), s4 = V(), s5 = V(), s6 = V(), s7 = V()
        if !fresh {
            (s0, s1, s2, s3) = (load(ci), load(ci + ldc), load(ci + 2 * ldc), load(ci + 3 * ldc))
            (s4, s5, s6, s7) = (load(ci + 4 * ldc), load(ci + 5 * ldc), load(ci + 6 * ldc), load(ci + 7 * ldc))
        }
        let a0 = a + i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda
        let a4 = a3 + lda, a5 = a4 + lda, a6 = a5 + lda, a7 = a6 + lda
        let next = 8 * lda
        var br = b
        for p in 0..<depth {
            if p & 15 == 0 {
                p2p_prefetch(a0 + next + p); p2p_prefetch(a1 + next + p); p2p_prefetch(a2 + next + p); p2p_prefetch(a3 + next + p)
                p2p_prefetch(a4 + next + p); p2p_prefetch(a5 + next + p); p2p_prefetch(a6 + next + p); p2p_prefetch(a7 + next + p)
            }
            let y = load(br)
            s0 = s0.addingProduct(V(repeating: a0[p]), y); s1 = s1.addingProduct(V(repeating: a1[p]), y)
            s2 = s2.addingProduct(V(repeating: a2[p]), y); s3 = s3.addingProduct(V(repeating: a3[p]), y)
            s4 = s4.addingProduct(V(repeating: a4[p]), y); s5 = s5.addingProduct(V(repeating: a5[p]), y)
            s6 = s6.addingProduct(V(repeating: a6[p]), y); s7 = s7.addingProduct(V(repeating: a7[p]), y)
            br += ldb
        }
        store(s0, ci); store(s1, ci + ldc); store(s2, ci + 2 * ldc); store(s3, ci + 3 * ldc)
        store(s4, ci + 4 * ldc); store(s5, ci + 5 * ldc); store(s6, ci + 6 * ldc); store(s7, ci + 7 * ldc)
        i += 8
    }
    while i < m {
        vectorChain(a + i * lda, aStride: 1, b, ldb: ldb, depth: depth, fresh: fresh, c + i * ldc)
        i += 1
    }
}
