import Dispatch

/// Runs `body(range)` over `0..<count` split into contiguous chunks, on as many threads as
/// this rank's budget (`BLASThreads.count`, set from the MPI thread budget) — inline when
/// that is one or the work is small, so ranks never oversubscribe their cores.
/// `body` must only write to its own range.
@inlinable public func parallelChunks(_ count: Int, minimumChunk: Int = 1 << 16,
                                      _ body: (Range<Int>) -> Void) {
    let workers = min(BLASThreads.count, max(1, count / minimumChunk))
    if workers <= 1 {
        body(0..<count)
        return
    }
    let chunk = (count + workers - 1) / workers
    withoutActuallyEscaping(body) { escapable in
        // Safe: every worker gets a disjoint range, and concurrentPerform returns only
        // after all of them have finished, so nothing outlives this call.
        nonisolated(unsafe) let work = escapable
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = w * chunk
            work(lo..<min(count, lo + chunk))
        }
    }
}
