import CBLAS
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The rank's compute threads: the calling thread plus `threads − 1` persistent workers,
/// which run the parts of one parallel loop or GEMM at a time (`run`).
///
/// Why not `DispatchQueue.concurrentPerform` or OpenBLAS's own threads: both allocate on
/// every call (measured: hundreds of heap allocations per training step), and OpenBLAS's
/// idle threads spin with `sched_yield` against ours. A dispatch here allocates nothing:
/// the job is a `PoolTask` value on the caller's stack (a struct of pointers and constants —
/// not a closure, which Swift can hand to another thread only inside a heap-allocated
/// context), published through an atomic generation counter. Idle workers spin briefly (a
/// step's loops follow each other within microseconds), then sleep on a condition variable.
/// OpenBLAS itself runs single-threaded inside each part.
///
/// One pool per process, as OpenBLAS has one: the thread budget sizes it once at start-up
/// (`ComputeThreads.set`). A `run` that finds the pool busy — a nested call, or another
/// thread's — runs its parts inline, so callers never wait on each other.
public final class ComputePool: @unchecked Sendable {
    public static let shared = ComputePool()

    /// Threads taking part in a `run`, the caller included.
    public private(set) var threads = 1

    private let generation = Atomic<Int>(0)
    private let unfinished = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private var stopping = false
    private var parts = 0
    private var task: UnsafeRawPointer?
    private var taskType: (any PoolTask.Type)?
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var workers: [pthread_t] = []

    private init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        // OPENBLAS_NUM_THREADS (read by OpenBLAS at load) or the core count sets the default;
        // from here on OpenBLAS runs single-threaded inside our parts.
        resize(Int(openblas_get_num_threads()))
    }

    /// Runs parts 0 … `parts` − 1 of `task` at once, part p on thread p (`parts` ≤ `threads`;
    /// extra parts run on the caller afterwards). Returns when every part has finished.
    public func run<T: PoolTask>(parts: Int, _ task: T) {
        guard parts > 1, threads > 1,
              busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        else {
            for p in 0..<parts { task.run(part: p, of: parts) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        withUnsafePointer(to: task) { pointer in
            self.task = UnsafeRawPointer(pointer)
            taskType = T.self
            self.parts = parts
            unfinished.store(threads - 1, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(wake)
                pthread_mutex_unlock(mutex)
            }
            task.run(part: 0, of: parts)
            for p in threads..<max(threads, parts) { task.run(part: p, of: parts) }
            while unfinished.load(ordering: .acquiring) > 0 { spinPause() }
            self.task = nil
        }
    }

    /// Sets the thread count (≥ 1): stops the current workers and starts `n − 1` new ones.
    /// Waits for a running job (or another resize) to finish first.
    public func resize(_ n: Int) {
        openblas_set_num_threads(1)
        while !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged { sched_yield() }
        defer { busy.store(false, ordering: .releasing) }
        let n = max(1, n)
        if n == threads && workers.count == n - 1 { return }
        if !workers.isEmpty {
            pthread_mutex_lock(mutex)
            stopping = true
            generation.add(1, ordering: .sequentiallyConsistent)
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)
            for w in workers { pthread_join(w, nil) }
            workers.removeAll()
            stopping = false
        }
        threads = n
        for index in 1..<n {
            // The generation it starts from is read here, not by the new thread, which may
            // first run after the next job has been published.
            let start = Unmanaged.passRetained(WorkerStart(
                pool: self, index: index, generation: generation.load(ordering: .acquiring))).toOpaque()
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { raw in
                let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
                start.pool.workerLoop(index: start.index, after: start.generation)
                return nil
            }, start)
            if rc != 0 {   // no more threads: run with what started
                Unmanaged<WorkerStart>.fromOpaque(start).release()
                threads = index
                break
            }
            workers.append(thread)
        }
    }

    private final class WorkerStart {
        let pool: ComputePool
        let index: Int, generation: Int
        init(pool: ComputePool, index: Int, generation: Int) {
            (self.pool, self.index, self.generation) = (pool, index, generation)
        }
    }

    private func workerLoop(index: Int, after start: Int) {
        var seen = start
        while true {
            seen = waitForJob(after: seen)
            if stopping { return }
            if index < parts, let task, let taskType { taskType.runPart(task, index, parts) }
            unfinished.subtract(1, ordering: .releasing)
        }
    }

    /// Spins about 100 µs for the next generation, then sleeps until it comes.
    private func waitForJob(after seen: Int) -> Int {
        for _ in 0..<20_000 {
            let g = generation.load(ordering: .acquiring)
            if g != seen { return g }
            spinPause()
        }
        pthread_mutex_lock(mutex)
        sleepers.add(1, ordering: .sequentiallyConsistent)
        var g = generation.load(ordering: .sequentiallyConsistent)
        while g == seen {
            pthread_cond_wait(wake, mutex)
            g = generation.load(ordering: .sequentiallyConsistent)
        }
        sleepers.subtract(1, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(mutex)
        return g
    }

    @inline(__always) private func spinPause() { cpu_relax() }
}

/// Work the compute pool splits into parts: a struct of the pointers and constants one
/// loop needs, its body in `run(part:of:)`. Parts must write disjoint memory.
public protocol PoolTask {
    func run(part: Int, of parts: Int)
}

extension PoolTask {
    /// Runs a part of the task of this type at `task` (how workers call a stored task).
    static func runPart(_ task: UnsafeRawPointer, _ part: Int, _ parts: Int) {
        task.assumingMemoryBound(to: Self.self).pointee.run(part: part, of: parts)
    }
}

/// The rank's compute thread count: `ComputePool.shared`'s size, which parallel loops and
/// GEMMs split their work over.
public enum ComputeThreads {
    public static var count: Int { ComputePool.shared.threads }
    public static func set(_ n: Int) { ComputePool.shared.resize(n) }
}
