import CMPI
import Foundation

/// How many compute threads (GEMMs and parallel loops) each rank should use.
///
/// Default: the CPUs this process may run on (`sched_getaffinity`) divided by the number of
/// local ranks that share them, at least 1. The sharers are found by exchanging affinity
/// masks on the node: ranks that `mpirun`/`srun` bound to disjoint cores keep all of their
/// own cores, unbound ranks split the node (cores / localSize). `OPENBLAS_NUM_THREADS`
/// and then `SLURM_CPUS_PER_TASK` override the computed value. The caller applies it
/// (`ComputeThreads.set(budget.threads)`).
public struct ThreadBudget: Sendable, CustomStringConvertible {
    /// Where `threads` came from.
    public enum Source: String, Sendable {
        case openblasNumThreads = "OPENBLAS_NUM_THREADS"
        case slurmCPUsPerTask = "SLURM_CPUS_PER_TASK"
        case affinity = "CPU affinity / ranks sharing it"
    }

    /// Compute threads for this rank.
    public let threads: Int
    public let source: Source
    /// CPUs in this process's affinity mask.
    public let processCores: Int
    /// CPUs usable by all ranks of this node together (union of their masks).
    public let nodeCores: Int
    /// Local ranks whose affinity overlaps this rank's (itself included).
    public let sharers: Int
    /// Ranks on this node.
    public let localSize: Int
    /// Set when the node runs more threads than it has cores.
    public let warning: String?

    public var description: String {
        var s = "\(threads) compute thread(s) per rank (\(source.rawValue); \(processCores) CPU(s) "
            + "in affinity, \(sharers) rank(s) sharing them, \(localSize) rank(s) on \(nodeCores) node CPU(s))"
        if let warning { s += "\nwarning: " + warning }
        return s
    }

    /// The budget from known counts (pure; the communicator variant gathers them).
    public static func compute(processCores: Int, sharers: Int, nodeCores: Int, localSize: Int,
                               environment env: [String: String]) -> ThreadBudget {
        var threads = max(1, processCores / max(1, sharers))
        var source = Source.affinity
        if let v = env["OPENBLAS_NUM_THREADS"], let n = Int(v), n > 0 {
            threads = n; source = .openblasNumThreads
        } else if let v = env["SLURM_CPUS_PER_TASK"], let n = Int(v), n > 0 {
            threads = n; source = .slurmCPUsPerTask
        }
        var warning: String? = nil
        if localSize * threads > nodeCores {
            warning = "\(localSize) rank(s) × \(threads) thread(s) = \(localSize * threads) threads "
                + "on \(nodeCores) CPU(s): oversubscribed, expect slow GEMMs"
        }
        return ThreadBudget(threads: threads, source: source, processCores: processCores,
                            nodeCores: nodeCores, sharers: max(1, sharers), localSize: localSize,
                            warning: warning)
    }

    /// The budget for this rank; collective over the node's ranks.
    public static func compute(communicator c: Communicator,
                               environment env: [String: String] = ProcessInfo.processInfo.environment)
        throws -> ThreadBudget
    {
        let mine = affinityMask()
        var sharers = 1
        var union = mine
        if let node = c.node, c.localSize > 1 {
            var all = [UInt64](repeating: 0, count: mine.count * c.localSize)
            var own = mine
            try Communicator.check(
                MPI_Allgather(&own, Int32(own.count), cmpi_uint64_t(), &all, Int32(own.count),
                              cmpi_uint64_t(), node), "MPI_Allgather")
            sharers = 0
            for r in 0..<c.localSize {
                let other = all[(r * mine.count)..<((r + 1) * mine.count)]
                var overlaps = false
                for (i, word) in other.enumerated() {
                    union[i] |= word
                    if word & mine[i] != 0 { overlaps = true }
                }
                if overlaps { sharers += 1 }
            }
        }
        let count = { (m: [UInt64]) in m.reduce(0) { $0 + $1.nonzeroBitCount } }
        return compute(processCores: max(1, count(mine)), sharers: sharers,
                       nodeCores: max(1, count(union)), localSize: c.localSize, environment: env)
    }

    /// This process's CPU affinity as a bit mask (1024 CPUs), read from the kernel's
    /// `Cpus_allowed` line in /proc/self/status (the `sched_getaffinity` mask; the C call
    /// and its macros are not importable without `_GNU_SOURCE`); all online CPUs elsewhere.
    static func affinityMask() -> [UInt64] {
        var words = [UInt64](repeating: 0, count: 16)
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) {
            // Comma-separated 32-bit hex groups, most significant first.
            let groups = line.dropFirst("Cpus_allowed:".count)
                .trimmingCharacters(in: .whitespaces).split(separator: ",").reversed()
            for (i, g) in groups.enumerated() where i < 32 {
                guard let v = UInt64(g, radix: 16) else { continue }
                words[i / 2] |= v << UInt64(32 * (i % 2))
            }
            if words.contains(where: { $0 != 0 }) { return words }
        }
        let n = max(1, ProcessInfo.processInfo.activeProcessorCount)
        for cpu in 0..<min(n, 1024) { words[cpu / 64] |= 1 << UInt64(cpu % 64) }
        return words
    }
}
