import CBLAS
import Kernels512

/// Row-major single-precision GEMM: C = alpha · op(A) · op(B) + beta · C, through OpenBLAS.
///
/// `a` is (M, K) or, when `transA`, stored as (K, M); `b` is (K, N) or stored as (N, K);
/// `c` is (M, N). Leading dimensions are the stored row lengths.
///
/// On AVX-512 (`kernels512Available`), A·B and Aᵀ·B of 16, 32, 48 or 64 columns with K ≥ 128
/// go to `product512` and `transposedProduct512`. Otherwise products of at most
/// `skinnyColumnLimit` columns (A and B as stored) go to `skinnyProduct`, weight-sized A·B of
/// 8 or 16 to `skinnyRowsProduct`, weight-sized Aᵀ·B of at most `skinnyTransposedColumnLimit`
/// to `skinnyTransposedProduct`.
/// Large products are split over the compute pool by the longer of C's two sides (columns
/// of C in blocks of 16, or rows), each part single-threaded OpenBLAS calls (a wide product
/// with a small A in cache-sized pieces, on one thread too); every element of C sums the same
/// K terms in the same order however many threads there are.
public func sgemm(
    transA: Bool = false, transB: Bool = false,
    m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    let pool = ComputePool.shared
    let parts = min(pool.threads, max(m, n) / 32)
    let task = GEMMParts(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                         a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    guard parts > 1, m * n * k >= 1 << 21 else {
        task.run(part: 0, of: 1)
        return
    }
    pool.run(parts: parts, task)
}

/// A wide product's A is small at most this big (`GEMMParts`).
private let smallOperandFloats = 1 << 16
/// The floats of C in one OpenBLAS call of a wide product with a small A (`GEMMParts`).
private let columnBlockFloats = 1 << 14

/// One GEMM split by columns of C (blocks of 16) when N ≥ M, else by rows. A part of a wide
/// product whose A is small (at most `smallOperandFloats`: Winograd's transforms, with K and
/// M of 16–49, and the outermost layers' unfolded products) goes to OpenBLAS in pieces of
/// about `columnBlockFloats` of C, so that its zeroing of C (β = 0), its packing of B and its
/// kernel all find that piece in cache; repacking the small A for each piece costs little.
/// Translate at 256², pairs of forwards alternating: medians −3.2 %, −3.3 %; training steps
/// −0.6 %, −3.2 %, −2.6 % (pieces of 16, 32 or 64 KB measured alike; 256 KB and more gained
/// nothing).
private struct GEMMParts: PoolTask {
    let transA: Bool, transB: Bool
    let m: Int, n: Int, k: Int
    let alpha: Float, a: UnsafePointer<Float>, lda: Int
    let b: UnsafePointer<Float>, ldb: Int
    let beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int

    func run(part: Int, of parts: Int) {
        if n >= m {
            let chunk = ((n + parts - 1) / parts + 15) & ~15
            let lo = part * chunk, hi = min(n, lo + chunk)
            guard lo < hi else { return }
            let block = m * k <= smallOperandFloats ? max(256, (columnBlockFloats / m) & ~15) : hi - lo
            var j = lo
            while j < hi {
                let e = min(hi, j + block)
                sgemmPart(transA, transB, m, e - j, k, alpha, a, lda,
                          transB ? b + j * ldb : b + j, ldb, beta, c + j, ldc, columns: n)
                j = e
            }
        } else {
            let chunk = (m + parts - 1) / parts
            let lo = part * chunk, hi = min(m, lo + chunk)
            guard lo < hi else { return }
            sgemmPart(transA, transB, hi - lo, n, k, alpha, transA ? a + lo : a + lo * lda, lda,
                      b, ldb, beta, c + lo * ldc, ldc, columns: n)
        }
    }
}

/// `count` independent GEMMs of one shape, product i on a + i·strideA, b + i·strideB and
/// c + i·strideC (Winograd's one product per transform position): whole products go to the
/// threads, each a single-threaded OpenBLAS call, instead of splitting each small product.
public func sgemmBatch(
    count: Int, transA: Bool = false, transB: Bool = false,
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int, strideA: Int,
    b: UnsafePointer<Float>, ldb: Int, strideB: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int
) {
    let batch = GEMMBatch(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, strideA: strideA,
                          b: b, ldb: ldb, strideB: strideB, beta: beta, c: c, ldc: ldc, strideC: strideC, count: count)
    let parts = min(ComputePool.shared.threads, count)
    if parts <= 1 { batch.run(part: 0, of: 1) } else { ComputePool.shared.run(parts: parts, batch) }
}

/// Products part, part + parts, … of a `sgemmBatch`.
private struct GEMMBatch: PoolTask {
    let transA: Bool, transB: Bool
    let m: Int, n: Int, k: Int
    let a: UnsafePointer<Float>, lda: Int, strideA: Int
    let b: UnsafePointer<Float>, ldb: Int, strideB: Int
    let beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int
    let count: Int

    func run(part: Int, of parts: Int) {
        for i in Swift.stride(from: part, to: count, by: parts) {
            sgemmPart(transA, transB, m, n, k, 1, a + i * strideA, lda, b + i * strideB, ldb, beta, c + i * strideC, ldc,
                      columns: n)
        }
    }
}

/// One single-threaded part of a product whose C has `columns` columns in all: the kernel is
/// chosen by the whole product, so a part computes its elements as the whole would.
private func sgemmPart(
    _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
    _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
    _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, columns: Int
) {
    // Whole 16-lane rows of C, up to 64 of them, on AVX-512 (Winograd's transforms, K ≤ 49,
    // stay with OpenBLAS).
    if kernels512Available, !transB, columns % 16 == 0, n % 16 == 0, columns <= 64, k >= 128,
       alpha == 1, beta == 0 || beta == 1 {
        if transA {
            transposedProduct512(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, accumulate: beta == 1, c: c, ldc: ldc)
        } else {
            product512(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, accumulate: beta == 1, c: c, ldc: ldc)
        }
        return
    }
    if !transA, !transB, columns <= skinnyColumnLimit, alpha == 1, beta == 0 || beta == 1 {
        skinnyProduct(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, accumulate: beta == 1, c: c, ldc: ldc)
        return
    }
    // Weight-sized A·B of 8 or 16 columns (K ≥ 128; Winograd's transforms stay with OpenBLAS).
    if !transA, !transB, isSkinnyRowsWidth(columns), n == columns, k >= 128, alpha == 1, beta == 0 || beta == 1 {
        skinnyRowsProduct(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, accumulate: beta == 1, c: c, ldc: ldc)
        return
    }
    // Weight-sized Aᵀ·B (K ≥ 128; Winograd's transforms, K ≤ 49, stay with OpenBLAS).
    if transA, !transB, columns <= skinnyTransposedColumnLimit, k >= 128, alpha == 1, beta == 0 || beta == 1 {
        skinnyTransposedProduct(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, accumulate: beta == 1, c: c, ldc: ldc)
        return
    }
    cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// The machine's sgemm rate with the current compute threads, in GFLOP/s: the best of
/// `repeats` size³ products after one warm-up. Benchmarks print it next to their own rates.
public func measureSgemmPeak(size n: Int = 2048, repeats: Int = 4) -> Double {
    let a = TensorBuffer(shape: Shape(1, 1, n, n), values: [Float](repeating: 0.5, count: n * n))
    let c = TensorBuffer(capacity: n * n)
    var best = Double.infinity
    for _ in 0...repeats {
        let t = monotonicSeconds()
        sgemm(m: n, n: n, k: n, a: a.base, lda: n, b: a.base, ldb: n, c: c.base, ldc: n)
        best = min(best, monotonicSeconds() - t)
    }
    return 2 * Double(n * n * n) / best / 1e9
}

/// Whether `sgemm` uses the AVX-512 kernels (`Kernels512`): the tuned build compiles them for
/// AVX-512, and this CPU has it.
public let kernels512Available: Bool = {
    #if PIX2PIX_KERNELS512
    return cpuVectorLevel == 3
    #else
    return false
    #endif
}()
