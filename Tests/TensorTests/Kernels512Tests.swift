import Testing
import Tensor
import TestSupport
import Kernels512

/// The AVX-512 kernels, run only where `sgemm` would use them (the tuned build on a CPU with
/// AVX-512); elsewhere these tests are skipped, and so are the kernels.
@Suite(.serialized, .enabled(if: kernels512Available, "needs AVX-512 and the tuned build"))
struct Kernels512Tests {
    /// Both kernels against a Double reference for 16 to 80 columns (the 64-column stripes and
    /// the 16-column ones after them), strides wider than the rows, both modes. The sizes cover
    /// the rows in sixes, eights and twelves and the ones after them, and K across the
    /// transposed kernel's 32-row panels and the other's 256-entry passes.
    @Test(arguments: [false, true], [(m: 1, k: 1), (m: 5, k: 31), (m: 13, k: 33), (m: 25, k: 257),
                                     (m: 64, k: 512), (m: 31, k: 600)])
    func matchesReference(_ transposed: Bool, _ size: (m: Int, k: Int)) {
        let (m, k) = size
        for n in [16, 32, 48, 64, 80] {
            let lda = (transposed ? m : k) + 3, ldb = n + 2
            let a = randomValues((transposed ? k : m) * lda, seed: 1), b = randomValues(k * ldb, seed: 2)
            let aAt: (Int, Int) -> Float = transposed ? { a[$1 * lda + $0] } : { a[$0 * lda + $1] }
            SkinnyGEMMTests.expectMatchesReference(m: m, n: n, k: k, b: b, ldb: ldb, aAt: aAt) { accumulate, c, ldc in
                Self.product(transposed, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, accumulate: accumulate,
                             c: c, ldc: ldc)
            }
        }
    }

    /// `sgemm` hands A·B and Aᵀ·B of 16–64 columns with K ≥ 128 to these kernels (the same
    /// bits as calling them) and splits the rows of C over the threads without changing a bit,
    /// whether a thread's share ends on a whole block of rows or not.
    @Test(arguments: [false, true])
    func sgemmRoutesAndSplitsRows(_ transposed: Bool) {
        let m = 701, k = 300
        let a = randomValues(m * k, seed: 4)
        for n in [16, 32, 48, 64] {
            let b = randomValues(k * n, seed: UInt64(30 + n))
            for accumulate in [false, true] {
                let start = randomValues(m * n, seed: 5)
                var direct = start
                direct.withUnsafeMutableBufferPointer {
                    Self.product(transposed, m: m, n: n, k: k, a: a, lda: transposed ? m : k, b: b, ldb: n,
                                 accumulate: accumulate, c: $0.baseAddress!, ldc: n)
                }
                SkinnyGEMMTests.expectSgemmGives(direct, from: start, transA: transposed, m: m, n: n, k: k, a: a, b: b,
                                                 accumulate: accumulate)
            }
        }
    }

    /// `transposedProduct512` (A stored (K, M)) or `product512` (A stored (M, K)).
    static func product(_ transposed: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                        b: UnsafePointer<Float>, ldb: Int, accumulate: Bool, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if transposed {
            transposedProduct512(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, accumulate: accumulate, c: c, ldc: ldc)
        } else {
            product512(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, accumulate: accumulate, c: c, ldc: ldc)
        }
    }
}
