import CMPI
import Foundation

/// The job's ranks: MPI when the process was started by a launcher, otherwise one process.
///
/// `Communicator.start()` decides which: under `mpirun`/`srun` (detected from the launcher's
/// environment) it initialises MPI, otherwise it returns a single-process communicator that
/// never touches MPI, so a plain `./pix2pix` runs without `mpirun`. All collectives have the
/// same meaning in both modes (a sum over one rank is the identity).
///
/// Threading: MPI is initialised with `MPI_THREAD_MULTIPLE` when the library offers it (the
/// watchdog thread reads the progress table with RMA while the main thread sits in a
/// collective); otherwise with whatever it provides, and the watchdog then only names the
/// stuck collective. Collectives must be called from one thread at a time, in the same
/// order on every rank.
///
/// Testing knob: `PIX2PIX_MPI_RANKS_PER_NODE=k` splits each node into groups of `k` ranks
/// that act as separate "nodes", so the inter-node path of the hierarchical gradient sync
/// can be exercised on one machine.
public final class Communicator: @unchecked Sendable {
    /// This rank, 0..<size.
    public let rank: Int
    /// Number of ranks in the job.
    public let size: Int
    /// Rank among the ranks sharing this node's memory.
    public let localRank: Int
    /// Number of ranks on this node.
    public let localSize: Int
    /// Index of this node among the job's nodes (0..<nodeCount).
    public let nodeIndex: Int
    /// Number of nodes (groups of ranks that share memory).
    public let nodeCount: Int
    /// Short host name of this process.
    public let hostname: String
    /// True when MPI was initialised (even for a 1-rank MPI world).
    public let isMPI: Bool
    /// The MPI thread level provided (`MPI_THREAD_*`), or nil without MPI.
    public let threadLevel: Int32?

    /// `[rank r/R host]`, the prefix of every message a rank prints about itself.
    public var label: String { "[rank \(rank)/\(size) \(hostname)]" }

    /// True when MPI allows calls from several threads at once.
    public var isThreadMultiple: Bool { threadLevel == cmpi_thread_multiple() }

    // MPI handles; nil in single-process mode.
    let world: MPI_Comm?
    /// The ranks on this node (shared memory).
    let node: MPI_Comm?
    /// Local rank 0 of every node; nil on the other ranks.
    let leaders: MPI_Comm?
    /// True after `finalize()`; MPI may not be called any more.
    public private(set) var isFinalized = false

    private init(rank: Int, size: Int, localRank: Int, localSize: Int, nodeIndex: Int,
                 nodeCount: Int, hostname: String, threadLevel: Int32?,
                 world: MPI_Comm?, node: MPI_Comm?, leaders: MPI_Comm?) {
        self.rank = rank; self.size = size
        self.localRank = localRank; self.localSize = localSize
        self.nodeIndex = nodeIndex; self.nodeCount = nodeCount
        self.hostname = hostname
        self.isMPI = world != nil
        self.threadLevel = threadLevel
        self.world = world; self.node = node; self.leaders = leaders
    }

    /// A communicator for one process that never calls MPI.
    public static func single() -> Communicator {
        Communicator(rank: 0, size: 1, localRank: 0, localSize: 1, nodeIndex: 0, nodeCount: 1,
                     hostname: Self.shortHostname(), threadLevel: nil,
                     world: nil, node: nil, leaders: nil)
    }

    /// Environment variables that MPI launchers (OpenMPI, PMIx, Hydra/MPICH, MVAPICH, Slurm)
    /// set in the processes they start.
    public static let launcherVariables = [
        "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS",
        "MV2_COMM_WORLD_SIZE", "HYDI_CONTROL_FD",
    ]

    /// The number of tasks Slurm started for this job step, or nil outside `srun`.
    public static func slurmTasks(_ env: [String: String]) -> Int? {
        guard env["SLURM_PROCID"] != nil else { return nil }
        for key in ["SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", "SLURM_NPROCS"] {
            if let v = env[key], let n = Int(v) { return n }
        }
        return nil
    }

    /// Starts the job's communicator: MPI under a launcher, else a single process.
    ///
    /// Throws `DistributedError.slurmSingleton` when Slurm started several tasks but MPI
    /// came up with one rank each (the classic `srun` without `--mpi=pmix` mistake), which
    /// would otherwise train N independent copies of the model.
    public static func start(environment env: [String: String] = ProcessInfo.processInfo.environment)
        throws -> Communicator
    {
        let slurm = slurmTasks(env)
        let launched = launcherVariables.contains { env[$0] != nil } || (slurm ?? 1) > 1
        guard launched else { return single() }

        var provided: Int32 = 0
        try check(MPI_Init_thread(nil, nil, cmpi_thread_multiple(), &provided), "MPI_Init_thread")
        let world = cmpi_comm_world()
        // Errors come back as return codes (thrown), not as an abort inside the library.
        MPI_Comm_set_errhandler(world, cmpi_errors_return())
        var r: Int32 = 0, s: Int32 = 0
        try check(MPI_Comm_rank(world, &r), "MPI_Comm_rank")
        try check(MPI_Comm_size(world, &s), "MPI_Comm_size")
        if s == 1, let tasks = slurm, tasks > 1 {
            MPI_Finalize()
            throw DistributedError.slurmSingleton(tasks: tasks)
        }

        var node: MPI_Comm? = nil
        try check(MPI_Comm_split_type(world, cmpi_comm_type_shared(), r, cmpi_info_null(), &node),
                  "MPI_Comm_split_type")
        if let v = env["PIX2PIX_MPI_RANKS_PER_NODE"], let k = Int(v), k > 0 {
            var lr: Int32 = 0
            MPI_Comm_rank(node, &lr)
            var sub: MPI_Comm? = nil
            try check(MPI_Comm_split(node, lr / Int32(k), lr, &sub), "MPI_Comm_split")
            MPI_Comm_free(&node)
            node = sub
        }
        var lr: Int32 = 0, ls: Int32 = 0
        try check(MPI_Comm_rank(node, &lr), "MPI_Comm_rank")
        try check(MPI_Comm_size(node, &ls), "MPI_Comm_size")

        var leaders: MPI_Comm? = nil
        try check(MPI_Comm_split(world, lr == 0 ? 0 : cmpi_undefined(), r, &leaders), "MPI_Comm_split")
        // Every rank learns its node's index (the leader's rank among leaders) and the count.
        var nodeInfo: [Int32] = [0, 0]
        if lr == 0, let l = leaders {
            MPI_Comm_rank(l, &nodeInfo[0])
            MPI_Comm_size(l, &nodeInfo[1])
        }
        try check(MPI_Bcast(&nodeInfo, 2, cmpi_int(), 0, node), "MPI_Bcast")
        let leadersOrNil: MPI_Comm? = lr == 0 ? leaders : nil

        return Communicator(
            rank: Int(r), size: Int(s), localRank: Int(lr), localSize: Int(ls),
            nodeIndex: Int(nodeInfo[0]), nodeCount: Int(nodeInfo[1]),
            hostname: shortHostname(), threadLevel: provided,
            world: world, node: node, leaders: leadersOrNil)
    }

    /// Ends MPI (no-op for a single process). Call once, after every other MPI user
    /// (watchdog, gradient sync) has been stopped.
    public func finalize() {
        guard isMPI, !isFinalized else { return }
        isFinalized = true
        MPI_Finalize()
    }

    // MARK: - Failure

    /// Prints `message` with the rank label to stderr and ends the whole job with `code`
    /// (`MPI_Abort` on `MPI_COMM_WORLD`; `exit` for a single process).
    public func abort(message: String, code: Int32 = 1) -> Never {
        writeStandardError("\(label) \(message)\n")
        if isMPI { MPI_Abort(cmpi_comm_world(), code) }
        exit(code)
    }

    /// Runs `body`; if it throws, prints `[rank r/R host] error: <message>` and aborts the
    /// whole job with code 1, so no other rank is left waiting in a collective.
    public func runOrAbort<T>(_ body: () throws -> T) -> T {
        do {
            return try body()
        } catch {
            abort(message: "error: \(error)", code: 1)
        }
    }

    // MARK: - Helpers

    static func check(_ code: Int32, _ call: String) throws {
        guard code != 0 else { return }  // MPI_SUCCESS
        var text = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        let message = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) },
                             as: UTF8.self)
        throw DistributedError.mpi(call: call, code: code, message: message)
    }

    static func shortHostname() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.split(separator: ".").first.map(String.init) ?? name
    }
}

/// Writes `text` to stderr unbuffered (safe from any thread, usable right before an abort).
func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
        if n <= 0 { break }
        offset += n
    }
}
