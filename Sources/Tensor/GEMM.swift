import CBLAS

/// Row-major single-precision GEMM: C = alpha · op(A) · op(B) + beta · C, through OpenBLAS.
///
/// `a` is (M, K) or, when `transA`, stored as (K, M); `b` is (K, N) or stored as (N, K);
/// `c` is (M, N). Leading dimensions are the stored row lengths.
@inlinable public func sgemm(
    transA: Bool = false, transB: Bool = false,
    m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// OpenBLAS's thread pool size for this process.
public enum BLASThreads {
    public static var count: Int { Int(openblas_get_num_threads()) }
    public static func set(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
}

/// The machine's sgemm rate with the current OpenBLAS threads, in GFLOP/s: the best of
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
