import Foundation
import Testing
import TestSupport

/// End-to-end checks of `Distributed` under a real `mpirun` (and without one).
///
/// Each run is killed after `MPIRunner.timeout` seconds, so a hang fails the test instead
/// of blocking CI. Serialized: the CI machines have few cores.
@Suite("Distributed under mpirun", .serialized)
struct LaunchTests {
    @Test("a plain process (no launcher) gets a working 1-rank communicator")
    func singleProcess() throws {
        let info = try MPIRunner.single(["info"])
        #expect(info.status == 0, "\(info.output)")
        #expect(info.output.contains("[rank 0/1 ") && info.output.contains("mpi=false"), "\(info.output)")
        let r = try MPIRunner.single(["allreduce", "1000"])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("OK allreduce n=1000 size=1"), "\(r.output)")
    }

    @Test("plain, hierarchical, zero-copy and bucketed averaging are exact",
          arguments: [1, 2, 3])
    func allreduce(ranks: Int) throws {
        let r = try MPIRunner.mpi(ranks, ["allreduce", "100003"])
        #expect(!r.timedOut && r.status == 0, "\(r.output)")
        #expect(r.output.contains("OK allreduce n=100003 size=\(ranks) nodes=1"), "\(r.output)")
    }

    @Test("the inter-node path (node leaders) on simulated nodes of 2 ranks", arguments: [3, 4])
    func multiNode(ranks: Int) throws {
        let r = try MPIRunner.mpi(ranks, ["allreduce", "20011"],
                                  environment: ["PIX2PIX_MPI_RANKS_PER_NODE": "2"])
        #expect(!r.timedOut && r.status == 0, "\(r.output)")
        #expect(r.output.contains("OK allreduce n=20011 size=\(ranks) nodes=2"), "\(r.output)")
    }

    @Test("an error on one rank ends the whole job promptly, naming the rank")
    func throwOnOneRank() throws {
        let r = try MPIRunner.mpi(3, ["throw", "1"])
        #expect(!r.timedOut && r.status != 0, "\(r.output)")
        #expect(r.output.contains("[rank 1/3 ") && r.output.contains("error: deliberate failure on rank 1"),
                "\(r.output)")
        #expect(r.seconds < 20)
    }

    @Test("the watchdog aborts a stalled job and names the late rank")
    func watchdogNamesLateRank() throws {
        let r = try MPIRunner.mpi(3, ["stall", "1", "30"])
        #expect(!r.timedOut && r.status != 0, "\(r.output)")
        #expect(r.output.contains("watchdog: stuck for"), "\(r.output)")
        #expect(r.output.contains("'allreduce G' at step 1"), "\(r.output)")
        #expect(r.output.contains("ranks not arrived: rank 1 "), "\(r.output)")
        #expect(r.seconds < 20, "took \(r.seconds) s; the late rank sleeps 30 s")
    }

    @Test("different fingerprints stop the job with a table of the differing fields")
    func handshakeMismatch() throws {
        let r = try MPIRunner.mpi(2, ["handshake-mismatch"])
        #expect(!r.timedOut && r.status != 0, "\(r.output)")
        #expect(r.output.contains("ranks disagree on the run fingerprint"), "\(r.output)")
        #expect(r.output.contains("rank  host") && r.output.contains("datasetSize"), "\(r.output)")
        #expect(r.output.contains("349") && r.output.contains("400"), "\(r.output)")
        #expect(!r.output.contains("configHash"), "only differing fields belong in the table")
    }

    @Test("a Slurm step whose tasks each see a 1-rank world is refused")
    func slurmSingleton() throws {
        let r = try MPIRunner.single(["info"], environment: ["SLURM_PROCID": "0", "SLURM_NTASKS": "4"])
        #expect(!r.timedOut && r.status != 0, "\(r.output)")
        #expect(r.output.contains("Slurm started 4 tasks but MPI sees 1 rank"), "\(r.output)")
    }

    @Test("thread budget: affinity split by default, OPENBLAS_NUM_THREADS wins and warns")
    func budget() throws {
        let r = try MPIRunner.mpi(2, ["budget"])
        #expect(r.status == 0 && r.output.contains("compute thread(s) per rank"), "\(r.output)")
        let forced = try MPIRunner.mpi(2, ["budget"], environment: ["OPENBLAS_NUM_THREADS": "64"])
        #expect(forced.status == 0, "\(forced.output)")
        #expect(forced.output.contains("64 compute thread(s) per rank (OPENBLAS_NUM_THREADS"), "\(forced.output)")
        #expect(forced.output.contains("oversubscribed"), "\(forced.output)")
    }
}
