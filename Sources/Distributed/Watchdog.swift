import CMPI
import Foundation
import Tensor

/// Ends the job when a rank waits too long inside a collective, naming the late ranks.
///
/// The trainer brackets each collective with `enter(_:step:)` / `leave()`. A background
/// thread checks every `timeout / 10` seconds; when this rank has been inside one
/// collective longer than `timeout`, it prints the collective, the step and the ranks that
/// have not arrived yet, then calls `MPI_Abort` so the whole job ends instead of hanging
/// until the allocation expires.
///
/// Naming the late ranks: rank 0 exposes an MPI-3 RMA window with one entry per rank
/// (sequence number of the collective, step, hash of its name). `enter` writes this rank's
/// entry with `MPI_Accumulate(MPI_REPLACE)` + `MPI_Win_flush` inside a passive-target
/// `MPI_Win_lock_all` epoch held for the watchdog's lifetime; the stuck rank's watchdog
/// thread reads all entries with `MPI_Get_accumulate(MPI_NO_OP)` (atomic per element) and
/// names every rank whose sequence number is behind its own. Every rank must therefore
/// call `enter` for the same collectives in the same order. The read needs
/// `MPI_THREAD_MULTIPLE`; without it, or if the read itself does not complete within
/// 2 s (an RMA implementation that needs the target — a late rank 0 — to make progress),
/// the message names only the stuck collective and step.
public final class Watchdog: @unchecked Sendable {
    public let communicator: Communicator
    /// Seconds a rank may stay inside one collective.
    public let timeout: Double

    private let lock = NSLock()
    // Guarded by `lock`.
    private var inside = false
    private var name = ""
    private var step = 0
    private var sequence: Int64 = 0
    private var enteredAt = 0.0
    private var stopping = false
    private var names: [Int64: String] = [:]

    private var window: MPI_Win? = nil
    /// This rank's outgoing entry (sequence, step, name hash).
    private let outgoing = UnsafeMutablePointer<Int64>.allocate(capacity: 3)
    /// Every rank's entry, as read by the watchdog thread.
    private let table: UnsafeMutablePointer<Int64>
    private let stopped = DispatchSemaphore(value: 0)
    private var running = false

    /// Starts the watchdog thread. Collective (creates the progress window).
    public init(communicator: Communicator, timeout: Double) throws {
        self.communicator = communicator
        self.timeout = timeout
        table = .allocate(capacity: 3 * communicator.size)
        table.initialize(repeating: 0, count: 3 * communicator.size)
        outgoing.initialize(repeating: 0, count: 3)
        if let world = communicator.world, communicator.isThreadMultiple {
            var base: UnsafeMutableRawPointer? = nil
            var win: MPI_Win? = nil
            let bytes = communicator.rank == 0 ? 24 * communicator.size : 0
            // Across nodes without RDMA (OpenMPI 4.1 over TCP only: osc rdma needs openib/ucx,
            // osc pt2pt refuses MPI_THREAD_MULTIPLE) no one-sided component exists; the
            // watchdog then names only the stuck collective and step.
            let created = MPI_Win_allocate(bytes, 8, cmpi_info_null(), world, &base, &win) == 0
            if try communicator.agree(created, rule: .all) {
                if communicator.rank == 0 { base!.initializeMemory(as: Int64.self, repeating: 0, count: 3 * communicator.size) }
                try Communicator.check(MPI_Win_lock_all(0, win), "MPI_Win_lock_all")
                window = win
            }  // a window made on some ranks only is left (MPI_Win_free is collective)
            try communicator.barrier()
        }
        running = true
        let thread = Thread { [self] in self.watch() }
        thread.name = "watchdog"
        thread.start()
    }

    deinit {
        outgoing.deallocate()
        table.deallocate()
    }

    /// Marks the start of collective `collective` in training step `step`.
    public func enter(_ collective: String, step: Int) {
        let h = Self.hash(collective)
        lock.lock()
        inside = true
        name = collective
        self.step = step
        sequence += 1
        enteredAt = monotonicSeconds()
        if names[h] == nil { names[h] = collective }
        outgoing[0] = sequence; outgoing[1] = Int64(step); outgoing[2] = h
        lock.unlock()
        if let window {
            MPI_Accumulate(outgoing, 3, cmpi_int64_t(), 0, MPI_Aint(3 * communicator.rank), 3,
                           cmpi_int64_t(), cmpi_replace(), window)
            MPI_Win_flush(0, window)
        }
    }

    /// Marks the end of the current collective.
    public func leave() {
        lock.lock()
        inside = false
        lock.unlock()
    }

    /// Runs `body` between `enter` and `leave`.
    public func scope<T>(_ collective: String, step: Int, _ body: () throws -> T) rethrows -> T {
        enter(collective, step: step)
        defer { leave() }
        return try body()
    }

    /// Stops the thread and frees the window. Collective; call before `Communicator.finalize`.
    public func stop() {
        lock.lock()
        let wasRunning = running
        stopping = true
        running = false
        lock.unlock()
        guard wasRunning else { return }
        stopped.wait()
        if let w = window, !communicator.isFinalized {
            MPI_Win_unlock_all(w)
            var handle: MPI_Win? = w
            MPI_Win_free(&handle)
            window = nil
        }
    }

    // MARK: - Thread

    private func watch() {
        let interval = max(0.01, min(1, timeout / 10))
        while true {
            Thread.sleep(forTimeInterval: interval)
            lock.lock()
            let done = stopping
            let late = inside && monotonicSeconds() - enteredAt > timeout
            let (n, s, q, waited) = (name, step, sequence, monotonicSeconds() - enteredAt)
            lock.unlock()
            if done { stopped.signal(); return }
            if late { fire(collective: n, step: s, sequence: q, waited: waited) }
        }
    }

    private func fire(collective: String, step: Int, sequence: Int64, waited: Double) -> Never {
        var message = "watchdog: stuck for " + String(format: "%.1f", waited)
            + " s in collective '\(collective)' at step \(step) (collective #\(sequence))"
        if window != nil {
            let done = DispatchSemaphore(value: 0)
            let reader = Thread { [self] in self.readTable(); done.signal() }
            reader.start()
            if done.wait(timeout: .now() + 2) == .success {
                message += "; " + lateRanks(sequence: sequence)
            } else {
                message += "; could not read the other ranks' progress (RMA read timed out)"
            }
        } else if communicator.size > 1 {
            message += "; late ranks unknown (MPI lacks MPI_THREAD_MULTIPLE)"
        }
        communicator.abort(message: message, code: 3)
    }

    private func readTable() {
        guard let window else { return }
        let n = Int32(3 * communicator.size)
        MPI_Get_accumulate(nil, 0, cmpi_int64_t(), table, n, cmpi_int64_t(), 0, 0, n,
                           cmpi_int64_t(), cmpi_no_op(), window)
        MPI_Win_flush(0, window)
    }

    private func lateRanks(sequence: Int64) -> String {
        lock.lock()
        let known = names
        lock.unlock()
        var late: [String] = []
        for r in 0..<communicator.size where table[3 * r] < sequence {
            let q = table[3 * r], s = table[3 * r + 1]
            let where_ = q == 0 ? "no collective entered yet"
                : "last in '\(known[table[3 * r + 2]] ?? "?")' at step \(s), collective #\(q)"
            late.append("rank \(r) (\(where_))")
        }
        if late.isEmpty { return "every rank has arrived (the collective itself is stuck)" }
        return "ranks not arrived: " + late.joined(separator: ", ")
    }

    // MARK: - Helpers

    /// FNV-1a of the name, as a stable collective id across ranks.
    static func hash(_ s: String) -> Int64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int64(bitPattern: h)
    }
}
