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
