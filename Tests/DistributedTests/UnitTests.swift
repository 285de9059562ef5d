import Distributed
import Testing
import TestSupport

/// In-process checks that need no launcher.
@Suite("Distributed, single process")
struct UnitTests {
    @Test("thread budget arithmetic and precedence")
    func budgetArithmetic() {
        let split = ThreadBudget.compute(processCores: 16, sharers: 4, nodeCores: 16, localSize: 4, environment: [:])
        #expect(split.threads == 4 && split.source == .affinity && split.warning == nil)
        let bound = ThreadBudget.compute(processCores: 4, sharers: 1, nodeCores: 16, localSize: 4, environment: [:])
        #expect(bound.threads == 4)
        let few = ThreadBudget.compute(processCores: 2, sharers: 3, nodeCores: 2, localSize: 3, environment: [:])
        #expect(few.threads == 1 && few.warning != nil)
        let slurm = ThreadBudget.compute(processCores: 16, sharers: 4, nodeCores: 16, localSize: 4,
                                         environment: ["SLURM_CPUS_PER_TASK": "2"])
        #expect(slurm.threads == 2 && slurm.source == .slurmCPUsPerTask)
        let both = ThreadBudget.compute(processCores: 16, sharers: 4, nodeCores: 16, localSize: 4,
                                        environment: ["SLURM_CPUS_PER_TASK": "2", "OPENBLAS_NUM_THREADS": "8"])
        #expect(both.threads == 8 && both.source == .openblasNumThreads && both.warning != nil)
    }

    @Test("mismatch table lists each rank and only the differing fields")
    func mismatchTable() throws {
        var a = Fingerprint(version: "1", configHash: "x", parameterCounts: [10, 20], datasetSize: 400,
                            datasetHash: "h", worldSize: 3)
        var b = a
        b.set("datasetHash", "other")
        a.set("extra", "only-a")
        let table = try #require(Handshake.mismatchTable([a, a, b], hosts: ["n1", "n1", "n2"]))
        let lines = table.split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines[0].contains("datasetHash") && lines[0].contains("extra"))
        #expect(!lines[0].contains("configHash"))
        #expect(lines[3].hasPrefix("2") && lines[3].contains("n2") && lines[3].contains("other")
                && lines[3].contains("<missing>"))
        #expect(Handshake.mismatchTable([a, a], hosts: ["n1", "n1"]) == nil)
    }

    @Test("single-process collectives are the identity")
    func singleCollectives() throws {
        let c = Communicator.single()
        #expect(c.rank == 0 && c.size == 1 && c.localSize == 1 && !c.isMPI)
        #expect(c.label.hasPrefix("[rank 0/1 "))
        var xs: [Float] = [1, 2, 3]
        try xs.withUnsafeMutableBufferPointer { try c.allreduceSum($0); try c.broadcast($0) }
        #expect(xs == [1, 2, 3])
        #expect(try c.allreduce([1.5, 2], op: .sum) == [1.5, 2])
        #expect(try c.allgather("a") == ["a"])
        #expect(try c.agree(true, rule: .all) && !(try c.agree(false, rule: .any)))
        try Handshake.verify(Fingerprint(fields: [.init("a", "b")]), on: c)
        try c.barrier()
    }

    @Test("synchronize rejects a buffer of the wrong size")
    func sizeMismatch() throws {
        let sync = try GradientSync(communicator: Communicator.single(), count: 8)
        var g = [Float](repeating: 0, count: 7)
        #expect(throws: DistributedError.self) {
            try g.withUnsafeMutableBufferPointer { try sync.synchronize($0) }
        }
    }

    @Test("Slurm task detection")
    func slurmTasks() {
        #expect(Communicator.slurmTasks([:]) == nil)
        #expect(Communicator.slurmTasks(["SLURM_NTASKS": "4"]) == nil, "batch script, not a step")
        #expect(Communicator.slurmTasks(["SLURM_PROCID": "0", "SLURM_NTASKS": "4"]) == 4)
        #expect(Communicator.slurmTasks(["SLURM_PROCID": "0", "SLURM_STEP_NUM_TASKS": "2",
                                         "SLURM_NTASKS": "8"]) == 2)
    }
}
