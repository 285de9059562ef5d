import Testing
import Tensor
import TestSupport
import Kernels512

@Suite(.serialized) struct SkinnyGEMMTests {
    enum Kernel: CaseIterable { case dots, transposed, rows }

    /// The skinny kernels against a Double reference, every column count they take, strides
    /// wider than the rows, both modes. The sizes cover, for `skinnyProduct`, K across its
    /// 8192-entry chunks and not a multiple of the vector width and an odd number of rows;
    /// for `skinnyTransposedProduct` (C = Aᵀ·B, A stored (K, M)), whole 24-column tiles and the
    /// columns after them and K across its 32-row panels; for `skinnyRowsProduct`, rows in
    /// fours and the ones after them.
    @Test(arguments: Kernel.allCases, [(m: 1, k: 1), (m: 7, k: 13), (m: 23, k: 33), (m: 24, k: 32),
                                       (m: 64, k: 512), (m: 77, k: 130), (m: 33, k: 1037), (m: 5, k: 8203)])
    func matchesReference(_ kernel: Kernel, _ size: (m: Int, k: Int)) {
        let (m, k) = size
        // K past 8192 matters only to `skinnyProduct`'s chunks (and is slow in a debug build).
        guard k <= 8192 || kernel == .dots else { return }
        let transposed = kernel == .transposed
        let widths = switch kernel {
        case .dots: Array(1...skinnyColumnLimit)
        case .transposed: Array(1...skinnyTransposedColumnLimit)
        case .rows: [8, 16]
        }
        for n in widths {
            let lda = (transposed ? m : k) + 3, ldb = n + 2
            let a = randomValues((transposed ? k : m) * lda, seed: 1), b = randomValues(k * ldb, seed: 2)
            let aAt: (Int, Int) -> Float = transposed ? { a[$1 * lda + $0] } : { a[$0 * lda + $1] }
            Self.expectMatchesReference(m: m, n: n, k: k, b: b, ldb: ldb, aAt: aAt) { accumulate, c, ldc in
                switch kernel {
                case .transposed:
                    skinnyTransposedProduct(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, accumulate: accumulate,
                                            c: c, ldc: ldc)
                case .dots:
                    skinnyProduct(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, accumulate: accumulate, c: c, ldc: ldc)
                case .rows:
                    skinnyRowsProduct(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, accumulate: accumulate, c: c, ldc: ldc)
                }
            }
        }
    }

    /// `sgemm` hands products of up to `skinnyColumnLimit` columns to `skinnyProduct` and
    /// weight-sized ones of 8 or 16 to `skinnyRowsProduct` (16 to `product512` on AVX-512; the
    /// same bits) and splits their rows over the threads without changing a bit.
    @Test func sgemmRoutesSkinnyProductsAndSplitsRows() {
        let m = 700, k = 2000
        let a = randomValues(m * k, seed: 4)
        for n in Array(1...skinnyColumnLimit) + [8, 16] {
            let b = randomValues(k * n, seed: UInt64(10 + n))
            var direct = [Float](repeating: 0, count: m * n)
            direct.withUnsafeMutableBufferPointer {
                if n == 16 && kernels512Available {
                    product512(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, accumulate: false, c: $0.baseAddress!, ldc: n)
                } else if isSkinnyRowsWidth(n) {
                    skinnyRowsProduct(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, accumulate: false, c: $0.baseAddress!, ldc: n)
                } else {
                    skinnyProduct(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, accumulate: false, c: $0.baseAddress!, ldc: n)
                }
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

    /// `sgemm` hands weight-sized Aᵀ·B of up to `skinnyTransposedColumnLimit` columns to
    /// `skinnyTransposedProduct` (16 to `transposedProduct512` on AVX-512; the same bits) and
    /// splits the columns of A over the threads without changing a bit, whether a thread's
    /// share ends on a whole tile or not.
    @Test func sgemmRoutesTransposedSkinnyProducts() {
        let m = 700, k = 300
        let a = randomValues(k * m, seed: 8)
        for n in [1, 3, 4, 5, 13, 16] {
            let b = randomValues(k * n, seed: UInt64(20 + n))
            for accumulate in [false, true] {
                let start = randomValues(m * n, seed: 9)
                var direct = start
                direct.withUnsafeMutableBufferPointer {
                    if n == 16 && kernels512Available {
                        transposedProduct512(m: m, n: n, k: k, a: a, lda: m, b: b, ldb: n, accumulate: accumulate,
                                             c: $0.baseAddress!, ldc: n)
                    } else {
                        skinnyTransposedProduct(m: m, n: n, k: k, a: a, lda: m, b: b, ldb: n, accumulate: accumulate,
                                                c: $0.baseAddress!, ldc: n)
                    }
                }
                Self.expectSgemmGives(direct, from: start, transA: true, m: m, n: n, k: k, a: a, b: b,
                                      accumulate: accumulate)
            }
        }
    }

    /// A product too wide for the skinny kernels, split by columns so that one thread's share
    /// is only 4 columns, still runs every part with the whole product's kernel: the same
    /// bits on 1, 2 and 3 threads for every transpose combination.
    @Test func narrowPartsOfAWideProductUseItsKernel() {
        let (m, n, k) = (90, 100, 300)
        let a = randomValues(m * k, seed: 10), b = randomValues(k * n, seed: 11)
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            func product() -> [Float] {
                var c = [Float](repeating: 0, count: m * n)
                c.withUnsafeMutableBufferPointer {
                    sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a, lda: ta ? m : k, b: b, ldb: tb ? k : n,
                          c: $0.baseAddress!, ldc: n)
                }
                return c
            }
            let one = withComputeThreads(1, product)
            #expect(one.elementsEqual(withComputeThreads(2, product)) && one.elementsEqual(withComputeThreads(3, product)),
                    "transA \(ta) transB \(tb)")
        }
    }

    /// `sgemm` (A as stored, (M, K) or, with `transA`, (K, M); B (K, N)) on 1, 2 and 3 threads
    /// from C = `start` gives exactly `direct`.
    static func expectSgemmGives(_ direct: [Float], from start: [Float], transA: Bool, m: Int, n: Int, k: Int,
                                 a: [Float], b: [Float], accumulate: Bool) {
        for threads in [1, 2, 3] {
            var c = start
            withComputeThreads(threads) {
                c.withUnsafeMutableBufferPointer {
                    sgemm(transA: transA, m: m, n: n, k: k, a: a, lda: transA ? m : k, b: b, ldb: n,
                          beta: accumulate ? 1 : 0, c: $0.baseAddress!, ldc: n)
                }
            }
            #expect(c.elementsEqual(direct), "transA \(transA) n \(n) accumulate \(accumulate), \(threads) threads")
        }
    }

    /// Runs `product` into C (m, n, row stride n + 1) from NaN (overwrite) and from random
    /// values (accumulate), and checks every element against a Double reference
    /// Σ_p A(i, p)·B(p, j), A's entries given by `aAt(i, p)`; the column past n stays unwritten.
    static func expectMatchesReference(
        m: Int, n: Int, k: Int, b: [Float], ldb: Int, aAt: (Int, Int) -> Float,
        _ product: (_ accumulate: Bool, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) -> Void
    ) {
        let ldc = n + 1
        let c0 = randomValues(m * ldc, seed: 3)
        for accumulate in [false, true] {
            var c = accumulate ? c0 : [Float](repeating: .nan, count: m * ldc)
            c.withUnsafeMutableBufferPointer { product(accumulate, $0.baseAddress!, ldc) }
            for i in 0..<m {
                for j in 0..<n {
                    var e = accumulate ? Double(c0[i * ldc + j]) : 0
                    for p in 0..<k { e += Double(aAt(i, p)) * Double(b[p * ldb + j]) }
                    let got = Double(c[i * ldc + j])
                    #expect(abs(got - e) <= 1e-5 * (1 + Double(k).squareRoot() * 4),
                            "m \(m) n \(n) k \(k) accumulate \(accumulate) at (\(i), \(j)): \(got) vs \(e)")
                }
                if !accumulate { #expect(c[i * ldc + n].isNaN) }
            }
        }
    }
}
