import CMPI
import Tensor
#if canImport(Glibc)
import Glibc
#endif

/// Averages a gradient buffer (a `ParameterArena`'s `grads`) over all ranks.
///
/// Modes:
/// - `.plain`: `MPI_Allreduce` (sum, in place) bucket by bucket, then a scale by 1/size.
/// - `.hierarchical` (default): inside a node the ranks reduce through an MPI-3
///   shared-memory window (`MPI_Win_allocate_shared` on the node communicator), one slot of
///   `count` floats per local rank. Each local rank copies its gradients into its slot
///   (all but its own slice, which it reads in place), then sums a 1/localSize slice of
///   the buffer across all slots (so the reduction runs on every core at memory bandwidth)
///   and writes the average into every other slot and its own gradients; finally each
///   rank copies the other slices out of its slot. With
///   several nodes the slices are summed into the node leader's slot instead, the leaders
///   (local rank 0) allreduce it between nodes, and every local rank copies the result back.
///
/// Zero-copy: `sharedGradients` is this rank's slot. If the trainer keeps its gradients
/// there (passes that buffer to `synchronize`), the copy in and out is skipped and the
/// reduction reads each gradient once and writes each average once (2·count·4 bytes per
/// rank). `ParameterArena` would need a way to place `grads` in caller-provided storage.
///
///
/// Buckets: `begin()`, then `ready(from:)` each time backward has finished the gradients
/// from an offset to the end of the arena (backward runs from the end of the arena to its
/// start), then `finish()`. Completed buckets are processed eagerly inside `ready` (plain:
/// reduced; hierarchical: copied into the window), on the calling thread: the work is
/// interleaved with backward, not overlapped with it by a second thread. `synchronize`
/// is `begin` + `finish`.
///
/// Sharded optimiser step (`shareOptimizerState`, hierarchical mode, several ranks on a
/// node; ZeRO stage 1 through shared memory): a second window holds the node's one copy of
/// the trainable values and both Adam moments (`sharedState`), which every local rank maps.
/// Each rank then averages only its slice (`shardRange`) into its own gradients — nobody
/// else reads that average — and runs Adam on that slice alone (`allFinite`, `updated`):
/// half the optimiser work and no averaged gradients written to the other slots with two
/// ranks, and the moments of the other slices never touch this rank's memory.
///
/// Every buffer (window, scratch, fixed-point accumulator) is allocated in `init`; a call
/// allocates nothing.
public final class GradientSync {
    /// How the sum over ranks is computed.
    public enum Mode: String, Sendable {
        case plain, hierarchical
    }

    public let communicator: Communicator
    /// Number of floats synchronised.
    public let count: Int
    public let mode: Mode
    /// Floats per bucket.
    public let bucketElements: Int

    private var window: MPI_Win? = nil
    /// The node's values and Adam moments (sharded optimiser step), 3·count floats.
    private var stateWindow: MPI_Win? = nil
    /// One flag per local rank (16 floats apart) for `allFinite`, in `stateWindow`.
    private var finiteFlags: UnsafeMutablePointer<Float>? = nil
    /// The node's one copy of the trainable values and Adam moments when the optimiser step
    /// is sharded (`shareOptimizerState` and several ranks on this node), else nil.
    public private(set) var sharedState: (values: UnsafeMutableBufferPointer<Float>,
                                          expAvg: UnsafeMutableBufferPointer<Float>,
                                          expAvgSq: UnsafeMutableBufferPointer<Float>)? = nil
    /// Every local rank's slot, as mapped in this process.
    private var slots: [UnsafeMutablePointer<Float>] = []
    /// Sources and destinations of the reduction kernel: the slots, with this rank's own
    /// entry replaced by its private gradients (mutated in place, never reallocated).
    private var sources: [UnsafeMutablePointer<Float>] = []
    private var outputs: [UnsafeMutablePointer<Float>] = []
    /// The part of the buffer this local rank reduces.
    private var ownSlice = 0..<0
    /// Block buffer of the reduction kernel (stays in L1).
    private let scratch: UnsafeMutablePointer<Float>
    private static let block = 4096

    private var active = false
    /// Elements `[processedFrom, count)` have been handled by `ready`.
    private var processedFrom = 0
    private var target: UnsafeMutableBufferPointer<Float>? = nil
    private var lockedAll = false

    /// This rank's slot in the shared window (hierarchical mode with MPI), for zero-copy use.
    public var sharedGradients: UnsafeMutableBufferPointer<Float>? {
        guard !slots.isEmpty else { return nil }
        return UnsafeMutableBufferPointer(start: slots[communicator.localRank], count: count)
    }

    /// The part of the buffer this rank averages and, in a sharded step, updates.
    public var shardRange: Range<Int> { ownSlice }

    /// Whether the last exchange left every gradient outside `shardRange` at zero, on every
    /// rank of the node: with the gradients in the window (zero-copy), one node and a shared
    /// optimiser, each rank clears the other slots' copies of its slice as its reduction
    /// reads them, and nobody reads them again. An optimiser that clears its own slice as it
    /// reads it then leaves all of them zero once `updated` returns.
    public private(set) var clearedOutsideShard = false

    /// Why the synchroniser uses less shared memory than asked for (nil when it does not):
    /// the node's shared-memory filesystem is too small for the windows. Rank 0 logs it.
    public private(set) var fallback: String? = nil

    /// Prepares synchronisation of `count` floats; allocates the shared windows once.
    ///
    /// The windows live in files on the node's shared-memory filesystem (Open MPI's
    /// `osc_sm_backing_directory`, /dev/shm), which containers often keep small (Docker: 64
    /// MB). Before allocating, every rank compares what its node would need with the space
    /// free there, and all ranks agree on the largest setup that fits everywhere: both
    /// windows, the gradient window only (no shared optimiser state), or none (`.plain`).
    /// Collective over the world.
    public init(communicator: Communicator, count: Int, mode requested: Mode = .hierarchical,
                bucketBytes: Int = 16 << 20, shareOptimizerState: Bool = false) throws {
        self.communicator = communicator
        self.count = count
        self.bucketElements = max(Self.block, (bucketBytes / 4) / Self.block * Self.block)
        self.scratch = .allocate(capacity: Self.block)
        var mode = requested, share = shareOptimizerState && communicator.localSize > 1
        if requested == .hierarchical, communicator.node != nil, communicator.size > 1 {
            let mb = 1 << 20
            let slots = communicator.localSize * Self.pageRounded(count * 4)
            let state = share ? Self.pageRounded(Self.stateFloats(count, ranks: communicator.localSize) * 4) : 0
            let free = Self.sharedMemoryFree()
            // 2: everything fits; 1: the gradient window only; 0: nothing.
            var fits: Int32 = free.map { $0 >= slots + state ? 2 : $0 >= slots ? 1 : 0 } ?? 2
            try communicator.allreduceRaw(&fits, count: 1, type: cmpi_int32_t(), op: cmpi_min(),
                                          comm: communicator.world)
            let here = free.map { "\($0 / mb) MB free here" } ?? "free space unknown here"
            let advice = "give the job more shared memory (in Docker: --shm-size)"
            if fits == 0 {
                mode = .plain
                share = false
                fallback = "shared memory (\(Self.sharedMemoryDirectory)) too small on a node for the \(slots / mb) MB gradient window (\(here)): averaging with MPI_Allreduce instead, each rank with its own optimiser state; \(advice)"
            } else if fits == 1 && share {
                share = false
                fallback = "shared memory (\(Self.sharedMemoryDirectory)) too small on a node for the \(state / mb) MB shared optimiser state (\(here)): each rank keeps its own; \(advice)"
            }
        }
        self.mode = mode
        if mode == .hierarchical, let node = communicator.node, communicator.size > 1 {
            try allocateWindow(node)
            if share { try allocateStateWindow(node) }
        }
    }

    private static func pageRounded(_ bytes: Int) -> Int { (bytes + 4095) / 4096 * 4096 }

    /// Floats in the state window: values, both moments, one cache line per local rank.
    private static func stateFloats(_ count: Int, ranks: Int) -> Int { 3 * count + 16 * ranks }

    /// Where Open MPI's shared-memory windows keep their backing files.
    static var sharedMemoryDirectory: String {
        getenv("OMPI_MCA_osc_sm_backing_directory").map { String(cString: $0) } ?? "/dev/shm"
    }

    /// Bytes free for the windows' backing files, nil when unknown. `PIX2PIX_SHM_FREE_BYTES`
    /// overrides it (a testing knob, so the fallbacks can be exercised on any machine).
    static func sharedMemoryFree() -> Int? {
        if let v = getenv("PIX2PIX_SHM_FREE_BYTES").flatMap({ Int(String(cString: $0)) }) { return v }
        var st = statvfs()
        guard statvfs(sharedMemoryDirectory, &st) == 0 else { return nil }
        return Int(st.f_bavail) * Int(st.f_frsize)
    }

    /// Prepares synchronisation of `arena.grads`.
    public convenience init(communicator: Communicator, arena: ParameterArena,
                            mode: Mode = .hierarchical, bucketBytes: Int = 16 << 20,
                            shareOptimizerState: Bool = false) throws {
        try self.init(communicator: communicator, count: arena.grads.count, mode: mode,
                      bucketBytes: bucketBytes, shareOptimizerState: shareOptimizerState)
    }

    /// Never collective: a synchroniser dropped while an error unwinds on one rank must not
    /// wait for the others (they may be blocked elsewhere; the error path ends the job with
    /// MPI_Abort). A window not released explicitly is reclaimed when the process exits.
    deinit {
        scratch.deallocate()
    }

    /// Frees the shared window. Must be called on every rank before `Communicator.finalize`
    /// (it is collective); the synchroniser is unusable afterwards.
    public func release() {
        guard let w = window else { return }
        guard !communicator.isFinalized else { window = nil; slots = []; return }
        if lockedAll {
            MPI_Win_unlock_all(w)
            if let s = stateWindow { MPI_Win_unlock_all(s) }
        }
        lockedAll = false
        var handle: MPI_Win? = w
        MPI_Win_free(&handle)
        if stateWindow != nil { MPI_Win_free(&stateWindow) }
        window = nil
        stateWindow = nil
        sharedState = nil
        finiteFlags = nil
        slots = []
    }

    private func allocateWindow(_ node: MPI_Comm) throws {
        let bytes = Self.pageRounded(count * 4)
        var base: UnsafeMutableRawPointer? = nil
        var win: MPI_Win? = nil
        try Communicator.check(
            MPI_Win_allocate_shared(bytes, 4, cmpi_info_null(), node, &base, &win),
            "MPI_Win_allocate_shared")
        window = win
        for k in 0..<communicator.localSize {
            var size: MPI_Aint = 0, unit: Int32 = 0
            var ptr: UnsafeMutableRawPointer? = nil
            try Communicator.check(MPI_Win_shared_query(win, Int32(k), &size, &unit, &ptr),
                                   "MPI_Win_shared_query")
            slots.append(ptr!.bindMemory(to: Float.self, capacity: max(count, 1)))
        }
        outputs = slots
        sources = slots
        ownSlice = slice(communicator.localRank)
        try Communicator.check(MPI_Win_lock_all(cmpi_mode_nocheck(), win), "MPI_Win_lock_all")
        lockedAll = true
        // Touch our slot once so first-use page faults are not part of a training step.
        slots[communicator.localRank].initialize(repeating: 0, count: count)
        try nodeBarrier()
    }

    /// Local rank 0 allocates the node's values and moments; the others map them.
    private func allocateStateWindow(_ node: MPI_Comm) throws {
        let total = Self.stateFloats(count, ranks: communicator.localSize)
        let floats = communicator.localRank == 0 ? total : 0
        var base: UnsafeMutableRawPointer? = nil
        var win: MPI_Win? = nil
        try Communicator.check(
            MPI_Win_allocate_shared(Self.pageRounded(floats * 4), 4, cmpi_info_null(), node, &base, &win),
            "MPI_Win_allocate_shared")
        stateWindow = win
        var size: MPI_Aint = 0, unit: Int32 = 0
        var ptr: UnsafeMutableRawPointer? = nil
        try Communicator.check(MPI_Win_shared_query(win, 0, &size, &unit, &ptr), "MPI_Win_shared_query")
        let p = ptr!.bindMemory(to: Float.self, capacity: total)
        finiteFlags = p + 3 * count
        sharedState = (UnsafeMutableBufferPointer(start: p, count: count),
                       UnsafeMutableBufferPointer(start: p + count, count: count),
                       UnsafeMutableBufferPointer(start: p + 2 * count, count: count))
        // Each rank writes its slice now, so the node's shared-memory filesystem holds the
        // whole state before the next window is sized, not later in the middle of a step.
        for k in 0..<3 { (p + k * count + ownSlice.lowerBound).initialize(repeating: 0, count: ownSlice.count) }
        finiteFlags![16 * communicator.localRank] = 1
        try Communicator.check(MPI_Win_lock_all(cmpi_mode_nocheck(), win), "MPI_Win_lock_all")
        try nodeBarrier()
    }

    // MARK: - Sharded optimiser step

    /// Whether every local rank found its slice finite (the same answer on every rank: the
    /// nodes hold identical averages). Through flags in the shared window and a barrier
    /// (an `MPI_Allreduce` of one int allocates inside Open MPI on every call); nobody
    /// writes a flag again before `updated`.
    public func allFinite(_ mine: Bool) throws -> Bool {
        guard let flags = finiteFlags else { return mine }
        flags[16 * communicator.localRank] = mine ? 1 : 0
        try nodeBarrier()
        for k in 0..<communicator.localSize where flags[16 * k] != 1 { return false }
        return true
    }

    /// Returns when every local rank has updated its slice of the shared values.
    public func updated() throws {
        guard sharedState != nil else { return }
        try nodeBarrier()
    }

    // MARK: - Whole buffer

    /// Replaces `gradients` by its average over all ranks.
    public func synchronize(_ gradients: UnsafeMutableBufferPointer<Float>) throws {
        try begin(gradients)
        try finish()
    }

    /// Replaces `arena.grads` by its average over all ranks.
    public func synchronize(_ arena: ParameterArena) throws {
        try synchronize(arena.grads)
    }

    // MARK: - Buckets

    /// Starts a synchronisation of `gradients` (called before or during backward).
    public func begin(_ gradients: UnsafeMutableBufferPointer<Float>) throws {
        guard gradients.count == count else {
            throw DistributedError.sizeMismatch(expected: count, actual: gradients.count)
        }
        guard !active else { throw DistributedError.misuse("GradientSync.begin called twice") }
        active = true
        target = gradients
        processedFrom = count
    }

    /// Declares `gradients[offset...]` final; whole buckets inside it are processed now.
    public func ready(from offset: Int) throws {
        guard active, let g = target else { throw DistributedError.misuse("GradientSync.ready without begin") }
        guard communicator.size > 1 else { return }
        // Buckets are aligned to the end of the buffer, the order backward produces them.
        while processedFrom > 0 {
            let lo = max(0, processedFrom - bucketElements)
            guard lo >= offset else { break }
            try processBucket(g, lo, processedFrom)
            processedFrom = lo
        }
    }

    /// Completes the synchronisation: afterwards the buffer holds the average on every rank.
    public func finish() throws {
        guard active, let g = target else { throw DistributedError.misuse("GradientSync.finish without begin") }
        active = false
        target = nil
        guard communicator.size > 1 else { return }
        if processedFrom > 0 { try processBucket(g, 0, processedFrom) }
        processedFrom = 0
        switch mode {
        case .plain:
            let inv = 1 / Float(communicator.size)
            let p = g.baseAddress!
            for i in 0..<count { p[i] *= inv }
        case .hierarchical:
            try reduceShared(g)
        }
    }

    private func processBucket(_ g: UnsafeMutableBufferPointer<Float>, _ lo: Int, _ hi: Int) throws {
        switch mode {
        case .plain:
            try communicator.allreduceRaw(g.baseAddress! + lo, count: hi - lo, type: cmpi_float(),
                                          op: cmpi_sum(), comm: communicator.world)
        case .hierarchical:
            // Copy in all but my own slice: I read that one from `g` when reducing.
            let slot = slots[communicator.localRank], p = g.baseAddress!
            guard slot != p else { return }
            let mine = ownSlice
            if lo < mine.lowerBound {
                let end = min(hi, mine.lowerBound)
                (slot + lo).update(from: p + lo, count: end - lo)
            }
            if hi > mine.upperBound {
                let start = max(lo, mine.upperBound)
                (slot + start).update(from: p + start, count: hi - start)
            }
        }
    }

    // MARK: - Shared-memory reduction

    private func nodeBarrier() throws {
        MPI_Win_sync(window)
        if let s = stateWindow { MPI_Win_sync(s) }
        try Communicator.check(MPI_Barrier(communicator.node), "MPI_Barrier")
        MPI_Win_sync(window)
        if let s = stateWindow { MPI_Win_sync(s) }
    }

    /// This local rank's slice of `[0, count)`, in whole cache lines.
    private func slice(_ local: Int) -> Range<Int> {
        let lines = (count + 15) / 16, L = communicator.localSize
        let lo = min(count, lines * local / L * 16), hi = min(count, lines * (local + 1) / L * 16)
        return lo..<hi
    }

    private func reduceShared(_ g: UnsafeMutableBufferPointer<Float>) throws {
        let c = communicator, p = g.baseAddress!
        let me = slots[c.localRank]
        try nodeBarrier()  // every slot holds its rank's gradients (except each own slice)
        let mine = ownSlice
        for k in 0..<slots.count { sources[k] = slots[k]; outputs[k] = slots[k] }
        sources[c.localRank] = p
        outputs[c.localRank] = p
        let sharded = sharedState != nil
        clearedOutsideShard = false
        if c.nodeCount == 1 && sharded {
            // Only this rank's optimiser reads this slice's average: into my gradients only.
            // No barrier after it: nobody writes a slot again before `updated`.
            outputs[0] = p
            clearedOutsideShard = me == p
            reduceSlice(mine, scale: 1 / Float(c.size), outputs: 1, clearingSources: clearedOutsideShard)
            return
        }
        if c.nodeCount == 1 {
            // Average my slice into every other slot and into my gradients.
            reduceSlice(mine, scale: 1 / Float(c.size), outputs: slots.count)
            try nodeBarrier()
            if me != p {  // copy out the slices the other ranks averaged
                if mine.lowerBound > 0 { p.update(from: me, count: mine.lowerBound) }
                if mine.upperBound < count {
                    (p + mine.upperBound).update(from: me + mine.upperBound, count: count - mine.upperBound)
                }
            }
            return
        }
        // Several nodes: node sum into the leader's slot, leaders allreduce, copy back.
        outputs[0] = slots[0]
        reduceSlice(mine, scale: 1, outputs: 1)
        try nodeBarrier()
        if c.localRank == 0, let leaders = c.leaders {
            try c.allreduceRaw(slots[0], count: count, type: cmpi_float(), op: cmpi_sum(), comm: leaders)
            let inv = 1 / Float(c.size), q = slots[0]
            for i in 0..<count { q[i] *= inv }
        }
        try nodeBarrier()
        if p != slots[0] {
            if sharded {  // my optimiser reads my slice only
                (p + mine.lowerBound).update(from: slots[0] + mine.lowerBound, count: mine.count)
            } else {
                p.update(from: slots[0], count: count)
            }
        }
        try nodeBarrier()  // nobody overwrites the leader's slot while others still copy
    }

    /// For i in `range`: out[i] = scale · Σ_k source_k[i] (k in local-rank order, the same
    /// order for every element, so every rank gets identical bits), for the first
    /// `outputs` entries of `self.outputs`.
    private func reduceSlice(_ range: Range<Int>, scale: Float, outputs outputCount: Int, clearingSources: Bool = false) {
        let L = slots.count, me = communicator.localRank
        var lo = range.lowerBound
        while lo < range.upperBound {
            let n = min(Self.block, range.upperBound - lo)
            let t = scratch
            if L == 2 {
                let a = sources[0] + lo, b = sources[1] + lo
                for i in 0..<n { t[i] = (a[i] + b[i]) * scale }
            } else {
                t.update(from: sources[0] + lo, count: n)
                for k in 1..<L {
                    let s = sources[k] + lo
                    for i in 0..<n { t[i] += s[i] }
                }
                if scale != 1 { for i in 0..<n { t[i] *= scale } }
            }
            for k in 0..<outputCount { (outputs[k] + lo).update(from: t, count: n) }
            if clearingSources { for k in 0..<L where k != me { (sources[k] + lo).update(repeating: 0, count: n) } }
            lo += n
        }
    }
}
