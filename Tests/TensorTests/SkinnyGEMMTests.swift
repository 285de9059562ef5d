import Testing
import Tensor
import TestSupport

@Suite(.serialized) struct SkinnyGEMMTests {
    /// Against a Double reference, with strides wider than the rows, K across the 512-entry
    /// chunks and not a multiple of the vector width, an odd number of rows, both modes.
    @Test(arguments: [(m: 1, k: 1), (m: 7, k: 13), (m: 64, k: 512), (m: 33, k: 1037)])
    func matchesReference(_ size: (m: Int, k: Int)) {
        let (m, k) = size
        for n in 1...skinnyColumnLimit {
            let lda = k + 3, ldb = n + 2, ldc = n + 1
            let a = randomValues(m * lda, seed: 1), b = randomValues(k * ldb, seed: 2)
            let c0 = randomValues(m * ldc, seed: 3)
            for accumulate in [false, true] {
                var c = accumulate ? c0 : [Float](repeating: .nan, count: m * ldc)
                c.withUnsafeMutableBufferPointer { c in
                    skinnyProduct(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, accumulate: accumulate,
                                  c: c.baseAddress!, ldc: ldc)
                }
                for i in 0..<m {
                    for j in 0..<n {
                        var e = accumulate ? Double(c0[i * ldc + j]) : 0
                        for p in 0..<k { e += Double(a[i * lda + p]) * Double(b[p * ldb + j]) }
                        let got = Double(c[i * ldc + j])
                        #expect(abs(got - e) <= 1e-5 * (1 + Double(k).squareRoot() * 4),
                                "m \(m) n \(n) k \(k) accumulate \(accumulate) at (\(i), \(j)): \(got) vs \(e)")
                    }
                    // Columns past n are not written.
                    if ldc > n, !accumulate { #expect(c[i * ldc + n].isNaN) }
                }
            }
        }
    }

    /// `sgemm` hands products of up to `skinnyColumnLimit` columns to `skinnyProduct` (the
    /// same bits) and splits their rows over the threads without changing a bit.
    @Test func sgemmRoutesSkinnyProductsAndSplitsRows() {
        let m = 700, k = 2000
        let a = randomValues(m * k, seed: 4)
        for n in 1...skinnyColumnLimit {
            let b = randomValues(k * n, seed: UInt64(10 + n))
            var direct = [Float](repeating: 0, count: m * n)
            direct.withUnsafeMutableBufferPointer {
                skinnyProduct(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, accumulate: false, c: $0.baseAddress!, ldc: n)
            }
            for threads in [1, 2, 3] {
                var c = [Float](repeating: .nan, count: m * n)
                withComputeThreads(threads) {
                    c.withUnsafeMutableBufferPointer {
                        sgemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: $0.baseAddress!, ldc: n)
                    }
                }
                #expect(c == direct, "n \(n), \(threads) threads")
            }
        }
    }
}
