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
        let c0 = c + i * ldc, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc, c4 = c3 + ldc, c5 = c4 + ldc
        var s00 = V(), s01 = V(), s02 = V(), s03 = V(), s10 = V(), s11 = V(), s12 = V(), s13 = V()
        var s20 = V(), s21 = V(), s22 = V(), s23 = V(), s30 = V(), s31 = V(), s32 = V(), s33 = V()
        var s40 = V(), s41 = V(), s42 = V(), s43 = V(), s50 = V(), s51 = V(), s52 = V(), s53 = V()
        if !fresh {
            (s00, s01, s02, s03) = (load(c0), load(c0 + 16), load(c0 + 32), load(c0 + 48))
            (s10, s11, s12, s13) = (load(c1), load(c1 + 16), load(c1 + 32), load(c1 + 48))
            (s20, s21, s22, s23) = (load(c2), load(c2 + 16), load(c2 + 32), load(c2 + 48))
            (s30, s31, s32, s33) = (load(c3), load(c3 + 16), load(c3 + 32), load(c3 + 48))
            (s40, s41, s42, s43) = (load(c4), load(c4 + 16), load(c4 + 32), load(c4 + 48))
            (s50, s51, s52, s53) = (load(c5), load(c5 + 16), load(c5 + 32), load(c5 + 48))
        }
        let a0 = a + i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda, a4 = a3 + lda, a5 = a4 + lda
        let next = 6 * lda
        var br = b
        for p in 0..<depth {
            if p & 15 == 0 {
                p2p_prefetch(a0 + next + p); p2p_prefetch(a1 + next + p); p2p_prefetch(a2 + next + p)
                p2p_prefetch(a3 + next + p); p2p_prefetch(a4 + next + p); p2p_prefetch(a5 + next + p)
            }
            let y0 = load(br), y1 = load(br + 16), y2 = load(br + 32), y3 = load(br + 48)
            var x = V(repeating: a0[p])
            s00 = s00.addingProduct(x, y0); s01 = s01.addingProduct(x, y1); s02 = s02.addingProduct(x, y2); s03 = s03.addingProduct(x, y3)
            x = V(repeating: a1[p])
            s10 = s10.addingProduct(x, y0); s11 = s11.addingProduct(x, y1); s12 = s12.addingProduct(x, y2); s13 = s13.addingProduct(x, y3)
            x = V(repeating: a2[p])
            s20 = s20.addingProduct(x, y0); s21 = s21.addingProduct(x, y1); s22 = s22.addingProduct(x, y2); s23 = s23.addingProduct(x, y3)
            x = V(repeating: a3[p])
            s30 = s30.addingProduct(x, y0); s31 = s31.addingProduct(x, y1); s32 = s32.addingProduct(x, y2); s33 = s33.addingProduct(x, y3)
            x = V(repeating: a4[p])
            s40 = s40.addingProduct(x, y0); s41 = s41.addingProduct(x, y1); s42 = s42.addingProduct(x, y2); s43 = s43.addingProduct(x, y3)
            x = V(repeating: a5[p])
            s50 = s50.addingProduct(x, y0); s51 = s51.addingProduct(x, y1); s52 = s52.addingProduct(x, y2); s53 = s53.addingProduct(x, y3)
            br += ldb
        }
        store(s00, c0); store(s01, c0 + 16); store(s02, c0 + 32); store(s03, c0 + 48)
        store(s10, c1); store(s11, c1 + 16); store(s12, c1 + 32); store(s13, c1 + 48)
        store(s20, c2); store(s21, c2 + 16); store(s22, c2 + 32); store(s23, c2 + 48)
        store(s30, c3); store(s31, c3 + 16); store(s32, c3 + 32); store(s33, c3 + 48)
        store(s40, c4); store(s41, c4 + 16); store(s42, c4 + 32); store(s43, c4 + 48)
        store(s50, c5); store(s51, c5 + 16); store(s52, c5 + 32); store(s53, c5 + 48)
        i += 6
    }
    while i < m {
        let ci = c + i * ldc, ai = a + i * lda
        for v in 0..<4 {
            var s = fresh ? V() : load(ci + 16 * v)
            var br = b + 16 * v
            for p in 0..<depth {
                s = s.addingProduct(V(repeating: ai[p]), load(br))
                br += ldb
            }
            store(s, ci + 16 * v)
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
        let ci = c + i * ldc, ai = a + i * lda
        var s = fresh ? V() : load(ci)
        var br = b
        for p in 0..<depth {
            s = s.addingProduct(V(repeating: ai[p]), load(br))
            br += ldb
        }
        store(s, ci)
        i += 1
    }
}
