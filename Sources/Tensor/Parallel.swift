/// A loop body over an index range for `parallelChunks`: a struct holding the pointers and
/// constants the loop reads and writes (see `PoolTask` for why not a closure). `run` must
/// only write to its own range.
public protocol ChunkTask {
    func run(_ range: Range<Int>)
}

/// Runs `task` over `0..<count` split into contiguous chunks, on as many threads as this
/// rank's budget (`ComputeThreads.count`, set from the MPI thread budget) — inline when that
/// is one or the work is small, so ranks never oversubscribe their cores.
@inlinable public func parallelChunks<T: ChunkTask>(_ count: Int, minimumChunk: Int = 1 << 16, _ task: T) {
    let workers = min(ComputeThreads.count, max(1, count / minimumChunk))
    if workers <= 1 {
        task.run(0..<count)
        return
    }
    ComputePool.shared.run(parts: workers, Chunks(task: task, count: count, chunk: (count + workers - 1) / workers))
}

/// Part p of a chunked loop: chunk p of `count`.
@usableFromInline struct Chunks<T: ChunkTask>: PoolTask {
    @usableFromInline let task: T
    @usableFromInline let count: Int, chunk: Int
    @inlinable init(task: T, count: Int, chunk: Int) { (self.task, self.count, self.chunk) = (task, count, chunk) }
    @inlinable func run(part: Int, of parts: Int) {
        let lo = part * chunk
        if lo < count { task.run(lo..<min(count, lo + chunk)) }
    }
}

/// Copies `count` floats from `source` to `destination` (which must not overlap) over the
/// compute threads: one core alone reads and writes at about half the memory's speed
/// (U-Net's skip concatenations copy 14 MB a forward at 256²).
public func parallelCopy(from source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<Float>, count: Int) {
    parallelChunks(count, CopyChunks(source: source, destination: destination))
}

private struct CopyChunks: ChunkTask {
    let source: UnsafePointer<Float>, destination: UnsafeMutablePointer<Float>
    func run(_ range: Range<Int>) {
        (destination + range.lowerBound).update(from: source + range.lowerBound, count: range.count)
    }
}

/// out (cols, rows) = xᵀ for x (rows, cols), both row-major, in 32×32 tiles split over the
/// compute pool by bands of x's rows.
public func transpose(_ x: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>) {
    parallelChunks((rows + 31) / 32, minimumChunk: 1, TransposeBands(x: x, rows: rows, cols: cols, out: out))
}

private struct TransposeBands: ChunkTask {
    let x: UnsafePointer<Float>, rows: Int, cols: Int
    let out: UnsafeMutablePointer<Float>

    func run(_ bands: Range<Int>) {
        for band in bands {
            let r0 = band * 32, r1 = min(rows, r0 + 32)
            for c0 in stride(from: 0, to: cols, by: 32) {
                let c1 = min(cols, c0 + 32)
                for r in r0..<r1 {
                    for c in c0..<c1 { out[c * rows + r] = x[r * cols + c] }
                }
            }
        }
    }
}
