import Testing
import Tensor

@Suite struct ParallelTests {
    /// Every index is visited exactly once, on one thread or several.
    @Test(arguments: [0, 1, 1000, 1 << 17, (1 << 18) + 7])
    func chunksCoverTheRangeOnce(_ count: Int) {
        let hits = UnsafeMutableBufferPointer<Int32>.allocate(capacity: max(count, 1))
        defer { hits.deallocate() }
        hits.initialize(repeating: 0)
        parallelChunks(count) { range in
            for i in range { hits[i] += 1 }
        }
        #expect(hits.prefix(count).allSatisfy { $0 == 1 })
    }
}
