import Foundation
import Testing
import TestSupport

/// Several hosts on one machine: two network namespaces joined by a veth pair
/// (`Launch/netns-hosts.sh`), OpenMPI started across them over TCP with
/// `Launch/rsh-netns.sh` as `plm_rsh_agent` in place of ssh. Each namespace also gets its own
/// hostname (a UTS namespace), so the job looks like two machines: one daemon per host,
/// `MPI_Comm_split_type(SHARED)` gives one rank per node, and the gradients cross the veth
/// link through the node leaders' allreduce (btl tcp; no shared-memory transport between the
/// hosts).
///
/// Needs root in a container that may create namespaces (CI does); elsewhere the tests print
/// why they did nothing and pass.
@Suite(.serialized) struct MultiHostTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let hostsScript = repository.appendingPathComponent("Launch/netns-hosts.sh")
    static let agent = repository.appendingPathComponent("Launch/rsh-netns.sh")
    /// Own namespace names per test process, so a run by hand (`p2p-*`) is left alone.
    static let prefix = "mh\(getpid() % 100_000)"
    static let timeout: Double = 90
    /// Scripts run through bash, so a checkout that lost the executable bit still works.
    static let bash = URL(fileURLWithPath: "/bin/bash")

    /// Brings the two hosts up, runs `body` with a hostfile naming them, tears them down.
    /// Returns false (after printing why) where namespaces cannot be created.
    static func withHosts(_ body: (_ hostfile: String) throws -> Void) throws -> Bool {
        let env = MPIRunner.environment([:])
        let up = try MPIRunner.run(bash, [hostsScript.path, "up", prefix], environment: env, timeout: 30)
        defer { _ = try? MPIRunner.run(bash, [hostsScript.path, "down", prefix], environment: env, timeout: 30) }
        guard up.status == 0 else {
            print("MultiHostTests: SKIPPED, cannot make the two hosts: \(up.output)")
            return false
        }
        let hostfile = FileManager.default.temporaryDirectory
            .appendingPathComponent("multihost-\(getpid()).hosts").path
        try "10.77.0.1 slots=1\n10.77.0.2 slots=1\n".write(toFile: hostfile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: hostfile) }
        try body(hostfile)
        return true
    }

    /// The agent as OpenMPI runs it (words split on spaces): through bash where the
    /// checkout lost the executable bit.
    static var agentCommand: String {
        FileManager.default.isExecutableFile(atPath: agent.path) ? agent.path : "/bin/bash \(agent.path)"
    }

    /// `mpirun` started on host a, one rank per host, daemons on b started by the agent.
    static func launch(_ hostfile: String, _ binary: URL, _ arguments: [String]) throws -> MPIRunner.Result {
        let args = [hostsScript.path, "exec", "\(prefix)-a", try MPIRunner.mpirun().path,
                    "--hostfile", hostfile, "-np", "2", "--map-by", "node", "--bind-to", "none",
                    "--mca", "plm_rsh_agent", agentCommand, "--mca", "plm_rsh_no_tree_spawn", "1",
                    "--mca", "btl", "tcp,self",
                    "--mca", "btl_tcp_if_include", "10.77.0.0/24",
                    "--mca", "oob_tcp_if_include", "10.77.0.0/24",
                    binary.path] + arguments
        return try MPIRunner.run(bash, args, environment: MPIRunner.environment(["NETNS_PREFIX": prefix]),
                                 timeout: timeout)
    }

    @Test func twoRanksOnTwoHostsAreTwoNodes() throws {
        let check: URL
        do { check = try MPIRunner.binary("mpi-check") } catch {
            print("MultiHostTests: SKIPPED mpi-check part: \(error)")
            return
        }
        _ = try Self.withHosts { hostfile in
            let info = try Self.launch(hostfile, check, ["info"])
            #expect(info.status == 0 && !info.timedOut, "\(info.output)")
            #expect(info.output.contains("[rank 0/2 \(Self.prefix)-a] mpi=true local=0/1 node=0/2"), "\(info.output)")
            #expect(info.output.contains("[rank 1/2 \(Self.prefix)-b] mpi=true local=0/1 node=1/2"), "\(info.output)")
            // The hierarchical path between nodes (leaders' allreduce over TCP) and the
            // shared-memory window of a 1-rank node.
            let sync = try Self.launch(hostfile, check, ["allreduce", "20011"])
            #expect(sync.status == 0 && !sync.timedOut, "\(sync.output)")
            #expect(sync.output.contains("OK allreduce n=20011 size=2 nodes=2"), "\(sync.output)")
            print(String(format: "multi-host: info %.2f s, allreduce %.2f s", info.seconds, sync.seconds))
        }
    }

    @Test func trainingOnTwoHostsEqualsOneProcess() throws {
        let data = try DataParallelTests.makeDataset("multihost")
        defer { try? FileManager.default.removeItem(atPath: data) }
        _ = try Self.withHosts { hostfile in
            let two = "\(data)/ckpt-hosts", one = "\(data)/ckpt-single"
            let r = try Self.launch(hostfile, try MPIRunner.binary("pix2pix"),
                                    DataParallelTests.arguments(dataroot: data, checkpoints: two, batch: 3))
            #expect(r.status == 0 && !r.timedOut, "\(r.output)")
            #expect(r.output.contains("[rank 0/2 \(Self.prefix)-a]"), "\(r.output)")
            #expect(FileManager.default.fileExists(atPath: "\(two)/ddp/latest_net_G.safetensors"), "\(r.output)")
            #expect(FileManager.default.fileExists(atPath: "\(two)/ddp/latest_net_D.safetensors"), "\(r.output)")
            let s = try MPIRunner.single(DataParallelTests.arguments(dataroot: data, checkpoints: one, batch: 6),
                                         binary: "pix2pix", timeout: Self.timeout)
            #expect(s.status == 0 && !s.timedOut, "\(s.output)")
            let a = try DataParallelTests.weights(two), b = try DataParallelTests.weights(one)
            #expect(a.count == b.count && !a.isEmpty)
            let diff = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
            #expect(diff < 2e-6, "2 hosts differ from 1 process by up to \(diff)")
            print(String(format: "multi-host: 2 hosts × 3 vs 1 process × 6, max weight difference %g "
                         + "(2 hosts %.2f s, 1 process %.2f s)", diff, r.seconds, s.seconds))
        }
    }
}
