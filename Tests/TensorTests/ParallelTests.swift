import Dispatch
import Testing
import Tensor
import TestSupport

/// Counts the visits of every index it is run over.
private struct Visit: ChunkTask {
    let hits: UnsafeMutablePointer<Int32>
    func run(_ range: Range<Int>) { for i in range { hits[i] += 1 } }
}

@Suite(.serialized) struct ParallelTests {
    /// Every index is visited exactly once, on one thread or several.
    @Test(arguments: [0, 1, 1000, 1 << 17, (1 << 18) + 7])
    func chunksCoverTheRangeOnce(_ count: Int) {
        for threads in [1, 2, 4] {
            let hits = UnsafeMutableBufferPointer<Int32>.allocate(capacity: max(count, 1))
            defer { hits.deallocate() }
            hits.initialize(repeating: 0)
            withComputeThreads(threads) { parallelChunks(count, minimumChunk: 1 << 10, Visit(hits: hits.baseAddress!)) }
            #expect(hits.prefix(count).allSatisfy { $0 == 1 }, "\(threads) threads")
        }
    }

    /// `transpose` on shapes that leave partial 32×32 tiles, on one thread and two.
    @Test(arguments: [(1, 1), (3, 70), (65, 33), (100, 7)])
    func transposeMovesEveryElement(_ rows: Int, _ cols: Int) {
        let x = randomValues(rows * cols, seed: 9)
        for threads in [1, 2] {
            var out = [Float](repeating: .nan, count: rows * cols)
            withComputeThreads(threads) {
                out.withUnsafeMutableBufferPointer { transpose(x, rows: rows, cols: cols, into: $0.baseAddress!) }
            }
            for r in 0..<rows { for c in 0..<cols { #expect(out[c * rows + r] == x[r * cols + c]) } }
        }
    }

    /// Loops started from several threads at once (the pool is busy for all but one, which
    /// then run inline) and thousands of back-to-back dispatches all complete correctly.
    @Test func concurrentAndRepeatedDispatches() {
        withComputeThreads(2) {
            let count = 1 << 16, callers = 4, rounds = 500
            let hits = UnsafeMutableBufferPointer<Int32>.allocate(capacity: count * callers)
            defer { hits.deallocate() }
            hits.initialize(repeating: 0)
            nonisolated(unsafe) let base = hits.baseAddress!   // each caller writes its own slice
            DispatchQueue.concurrentPerform(iterations: callers) { c in
                for _ in 0..<rounds { parallelChunks(count, minimumChunk: 1 << 10, Visit(hits: base + c * count)) }
            }
            #expect(hits.allSatisfy { $0 == Int32(rounds) })
        }
    }

    /// GEMMs split over threads (by columns or by rows, and a wide product with a small A in
    /// pieces of columns) equal the one-thread product bit for bit, for every transpose
    /// combination, and the float64 definition within rounding.
    @Test(arguments: [(m: 64, n: 1000, k: 300), (m: 700, n: 40, k: 200), (m: 129, n: 131, k: 257)])
    func splitGEMMIsThreadCountInvariant(_ size: (m: Int, n: Int, k: Int)) {
        let (m, n, k) = size
        let random = RandomStream(seed: 7, stream: 0)
        let a = (0..<(m * k)).map { random.uniform(UInt64($0)) - 0.5 }
        let b = (0..<(k * n)).map { random.uniform(UInt64(1 << 40 + $0)) - 0.5 }
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            func product() -> [Float] {
                var c = [Float](repeating: 1, count: m * n)
                a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in c.withUnsafeMutableBufferPointer { c in
                    sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.5, a: a.baseAddress!, lda: ta ? m : k,
                          b: b.baseAddress!, ldb: tb ? k : n, beta: 0.25, c: c.baseAddress!, ldc: n)
                } } }
                return c
            }
            let one = withComputeThreads(1, product), two = withComputeThreads(2, product), three = withComputeThreads(3, product)
            #expect(one == two && one == three, "transA \(ta) transB \(tb)")
            var worst = 0.0
            for i in 0..<m {
                for j in 0..<n {
                    var sum = 0.0
                    for p in 0..<k {
                        sum += Double(a[ta ? p * m + i : i * k + p]) * Double(b[tb ? j * k + p : p * n + j])
                    }
                    worst = max(worst, abs(Double(one[i * n + j]) - (0.5 * sum + 0.25)))
                }
            }
            #expect(worst < 1e-4, "transA \(ta) transB \(tb): worst difference \(worst)")
        }
    }

    /// `parallelCopy` copies every float once, whatever the thread count and however the
    /// count splits into chunks, and nothing outside the range.
    @Test(arguments: [0, 5, 65_536, (1 << 18) + 7])
    func parallelCopyCopiesEveryFloat(_ count: Int) {
        for threads in [1, 2, 3] {
            var source = (0..<count).map { Float($0) * 0.5 - 7 }
            var destination = [Float](repeating: .nan, count: count + 2)
            withComputeThreads(threads) {
                source.withUnsafeMutableBufferPointer { s in
                    destination.withUnsafeMutableBufferPointer { d in
                        parallelCopy(from: s.baseAddress!, to: d.baseAddress! + 1, count: count)
                    }
                }
            }
            #expect(Array(destination[1..<count + 1]) == source, "\(count) floats on \(threads) threads")
            #expect(destination[0].isNaN && destination[count + 1].isNaN, "outside the range untouched")
        }
    }
}
