/// Products with at most this many columns go to `skinnyProduct` instead of OpenBLAS.
public let skinnyColumnLimit = 4

/// C (M, N) = A (M, K) · B (K, N), or C += A · B when `accumulate`; row-major, N ≤
/// `skinnyColumnLimit`, single-threaded (`sgemm` splits the rows over the pool).
///
/// These are the convolutions whose output has a handful of pixels: U-Net's innermost
/// layers at batch 1, 1×1 to 2×2, where A is the weights (16–32 MB a layer) and the cost is
/// reading them. OpenBLAS packs all of A on every call (`sgemm_oncopy`) before its kernel
/// reads it again. Here each row of A is read once, straight from where it lies, as dot
/// products 8 lanes wide against Bᵀ, which is transposed onto the stack `chunk` entries of K
/// at a time. Every element sums its K terms in the same order whichever rows a thread gets.
///
/// Measured here, one thread, caches flushed (OpenBLAS SkylakeX kernels): 512×8192 · 8192×1
/// 1.87 → 1.29 ms, 8192×1024 · 1024×4 4.97 → 3.18 ms; at 16 columns OpenBLAS wins (2.38
/// against 3.87 ms for 512×8192 · 8192×16), hence the limit of 4.
public func skinnyProduct(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                          b: UnsafePointer<Float>, ldb: Int, accumulate: Bool,
                          c: UnsafeMutablePointer<Float>, ldc: Int) {
    precondition(n <= skinnyColumnLimit)
    let chunk = 512
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
                        let d = dot2x1(a0, a1, bt + j * len, len)
                        s = (SIMD4(d.0, 0, 0, 0), SIMD4(d.1, 0, 0, 0))
                    } else {
                        let last = n - 1
                        s = dot2x4(a0, a1, bt + j * len, bt + min(j + 1, last) * len,
                                   bt + min(j + 2, last) * len, bt + min(j + 3, last) * len, len)
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

@inline(__always) private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

/// (a0 · b0, …, a0 · b3) and the same for a1, over `len` entries.
@inline(__always) private func dot2x4(
    _ a0: UnsafePointer<Float>, _ a1: UnsafePointer<Float>, _ b0: UnsafePointer<Float>,
    _ b1: UnsafePointer<Float>, _ b2: UnsafePointer<Float>, _ b3: UnsafePointer<Float>, _ len: Int
) -> (SIMD4<Float>, SIMD4<Float>) {
    var s00 = SIMD8<Float>(), s01 = SIMD8<Float>(), s02 = SIMD8<Float>(), s03 = SIMD8<Float>()
    var s10 = SIMD8<Float>(), s11 = SIMD8<Float>(), s12 = SIMD8<Float>(), s13 = SIMD8<Float>()
    let vectorEnd = len & ~7
    var p = 0
    while p < vectorEnd {
        let x0 = load8(a0 + p), x1 = load8(a1 + p)
        let y0 = load8(b0 + p), y1 = load8(b1 + p), y2 = load8(b2 + p), y3 = load8(b3 + p)
        s00 = s00.addingProduct(x0, y0); s01 = s01.addingProduct(x0, y1)
        s02 = s02.addingProduct(x0, y2); s03 = s03.addingProduct(x0, y3)
        s10 = s10.addingProduct(x1, y0); s11 = s11.addingProduct(x1, y1)
        s12 = s12.addingProduct(x1, y2); s13 = s13.addingProduct(x1, y3)
        p += 8
    }
    var r0 = SIMD4(s00.sum(), s01.sum(), s02.sum(), s03.sum())
    var r1 = SIMD4(s10.sum(), s11.sum(), s12.sum(), s13.sum())
    while p < len {
        let y = SIMD4(b0[p], b1[p], b2[p], b3[p])
        r0 = r0.addingProduct(a0[p], y)
        r1 = r1.addingProduct(a1[p], y)
        p += 1
    }
    return (r0, r1)
}

/// (a0 · b0, a1 · b0) over `len` entries, 16 lanes (two independent 8-lane sums) per row.
@inline(__always) private func dot2x1(
    _ a0: UnsafePointer<Float>, _ a1: UnsafePointer<Float>, _ b0: UnsafePointer<Float>, _ len: Int
) -> (Float, Float) {
    var s0 = SIMD16<Float>(), s1 = SIMD16<Float>()
    let vectorEnd = len & ~15
    var p = 0
    while p < vectorEnd {
        let y = UnsafeRawPointer(b0 + p).loadUnaligned(as: SIMD16<Float>.self)
        s0 = s0.addingProduct(UnsafeRawPointer(a0 + p).loadUnaligned(as: SIMD16<Float>.self), y)
        s1 = s1.addingProduct(UnsafeRawPointer(a1 + p).loadUnaligned(as: SIMD16<Float>.self), y)
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
