import Foundation
import Testing
import Tensor
import TestSupport
import Training

/// Failures handled the way an operator needs: preemption checkpoints and exits with the
/// documented code, a killed rank ends the job promptly, NaN stops or skips, a bad image
/// ends the run naming the file or is skipped on every rank.
@Suite(.serialized) struct FaultTests {
    static func environment() -> [String: String] { MPIRunner.environment([:]) }

    /// Starts a process in the background, writing its output to a file.
    static func start(_ executable: URL, _ arguments: [String]) throws -> (Process, URL) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("fault-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let p = Process()
        p.executableURL = executable
        p.arguments = arguments
        p.environment = environment()
        let h = try FileHandle(forWritingTo: log)
        p.standardOutput = h
        p.standardError = h
        try p.run()
        return (p, log)
    }

    static func wait(_ p: Process, limit: Double) -> Bool {
        let t0 = Date()
        while p.isRunning && Date().timeIntervalSince(t0) < limit { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit(); return false }
        p.waitUntilExit()
        return true
    }

    /// Waits until `path` exists.
    static func waitForFile(_ path: String, limit: Double) -> Bool {
        let t0 = Date()
        while !FileManager.default.fileExists(atPath: path) && Date().timeIntervalSince(t0) < limit {
            Thread.sleep(forTimeInterval: 0.05)
        }
        return FileManager.default.fileExists(atPath: path)
    }

    static func longRun(_ data: String, _ out: String, batch: Int = 2) -> [String] {
        var args = DataParallelTests.arguments(dataroot: data, checkpoints: out, batch: batch)
        args[args.firstIndex(of: "--max-steps")! + 1] = "100000"
        return args + ["--save_latest_freq", "2", "--n_epochs", "1000"]
    }

    /// A long 2-rank training under mpirun, once it has written a checkpoint: the mpirun
    /// process, its log, and the two rank processes.
    static func startTwoRanks(_ data: String, _ out: String) throws -> (Process, URL, [Int32]) {
        let pix2pix = try MPIRunner.binary("pix2pix")
        let args = ["-np", "2", "--oversubscribe", "--bind-to", "none", pix2pix.path] + longRun(data, out, batch: 1)
        let (p, log) = try start(try MPIRunner.mpirun(), args)
        #expect(waitForFile("\(out)/ddp/latest_state.safetensors", limit: 60))
        let ranks = children(of: p.processIdentifier, named: "pix2pix")
        #expect(ranks.count == 2)
        return (p, log, ranks)
    }

    @Test func sigtermCheckpointsAndExitsForRequeueOnAnyRank() throws {
        let data = try DataParallelTests.makeDataset("preempt")
        defer { try? FileManager.default.removeItem(atPath: data) }
        let out = "\(data)/run"
        let (p, log, ranks) = try Self.startTwoRanks(data, out)
        // SIGTERM to one rank only.
        if let victim = ranks.last { kill(victim, SIGTERM) }
        #expect(Self.wait(p, limit: 30), "did not stop within 30 s")
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(p.terminationStatus == 99, "exit \(p.terminationStatus): \(text.suffix(2000))")
        #expect(text.contains("stop requested"))
        // The checkpoint it wrote resumes.
        var resume = DataParallelTests.arguments(dataroot: data, checkpoints: out, batch: 2) + ["--resume", "auto"]
        resume[resume.firstIndex(of: "--max-steps")! + 1] = "1000000"
        resume += ["--n_epochs", "1", "--n_epochs_decay", "0"]
        let r = try MPIRunner.single(resume, binary: "pix2pix", timeout: 120)
        #expect(r.output.contains("resuming from latest checkpoint"), "\(r.output.suffix(2000))")
    }

    @Test func killMinus9OfARankEndsTheJobWithin10Seconds() throws {
        let data = try DataParallelTests.makeDataset("kill9")
        defer { try? FileManager.default.removeItem(atPath: data) }
        let (p, _, ranks) = try Self.startTwoRanks(data, "\(data)/run")
        let t0 = Date()
        if let victim = ranks.last { kill(victim, SIGKILL) }
        #expect(Self.wait(p, limit: 10), "the job outlived a killed rank by 10 s")
        #expect(Date().timeIntervalSince(t0) < 10)
        #expect(p.terminationStatus != 0)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(Self.children(of: p.processIdentifier, named: "pix2pix").isEmpty)
    }

    /// kill -9 at random moments of a run that checkpoints every step: the newest complete
    /// set always loads (checksums intact, G, D and state of one step) and training resumes.
    @Test func killDuringCheckpointWritesNeverLosesTheLastCompleteSet() throws {
        let data = try DataParallelTests.makeDataset("killwrite")
        defer { try? FileManager.default.removeItem(atPath: data) }
        let out = "\(data)/run"
        var args = Self.longRun(data, out, batch: 2)
        args[args.firstIndex(of: "--ngf")! + 1] = "32"      // ~14 MB generator files
        args[args.firstIndex(of: "--save_latest_freq")! + 1] = "1"
        var options = Options()
        options.checkpoints_dir = out
        options.name = "ddp"
        let pix2pix = try MPIRunner.binary("pix2pix")
        var lastStep = -1
        for round in 0..<4 {
            let (p, _) = try Self.start(pix2pix, args + (round == 0 ? [] : ["--resume", "auto"]))
            #expect(Self.waitForFile("\(out)/ddp/latest_state.safetensors", limit: 60))
            Thread.sleep(forTimeInterval: 0.3 + 0.37 * Double(round))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let found = try TrainingState.find(options, label: "auto")
            #expect(found != nil)
            guard let found else { break }
            for net in ["G", "D"] {
                _ = try Checkpoint.loadNetwork(path: Checkpoint.path(options, label: found.label, net: net))
            }
            #expect(found.step >= lastStep, "round \(round): resumed set went back from \(lastStep) to \(found.step)")
            lastStep = found.step
        }
        #expect(lastStep > 0)
    }

    @Test func nonFiniteGradientsStopNamingTheStepOrAreSkipped() throws {
        let data = try DataParallelTests.makeDataset("nan")
        defer { try? FileManager.default.removeItem(atPath: data) }
        var args = DataParallelTests.arguments(dataroot: data, checkpoints: "\(data)/run", batch: 2)
        args[args.firstIndex(of: "--max-steps")! + 1] = "6"
        args += ["--lr", "1e30", "--beta1", "0"]
        let stopped = try MPIRunner.single(args, binary: "pix2pix", timeout: 60)
        #expect(stopped.status != 0)
        #expect(stopped.output.contains("non-finite") && stopped.output.contains("at step"), "\(stopped.output.suffix(1500))")
        let skipped = try MPIRunner.single(args + ["--on_nonfinite", "skip"], binary: "pix2pix", timeout: 60)
        #expect(skipped.status == 0, "\(skipped.output.suffix(1500))")
        // Two ranks with a shared optimiser state: each checks its own slice and they agree,
        // so both stop (or both skip) at the same step instead of waiting for each other.
        args[args.firstIndex(of: "--batch_size")! + 1] = "1"
        let stopped2 = try MPIRunner.mpi(2, args, binary: "pix2pix", timeout: 60)
        #expect(stopped2.status != 0 && !stopped2.timedOut)
        #expect(stopped2.output.contains("non-finite"), "\(stopped2.output.suffix(1500))")
        let skipped2 = try MPIRunner.mpi(2, args + ["--on_nonfinite", "skip"], binary: "pix2pix", timeout: 60)
        #expect(skipped2.status == 0 && !skipped2.timedOut, "\(skipped2.output.suffix(1500))")
    }

    @Test func aBadImageEndsTheRunNamingItOrIsSkippedOnEveryRank() throws {
        let data = try DataParallelTests.makeDataset("badimage")
        defer { try? FileManager.default.removeItem(atPath: data) }
        let bad = "\(data)/train/7.png"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: bad))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: bad))
        var args = DataParallelTests.arguments(dataroot: data, checkpoints: "\(data)/run", batch: 1)
        args[args.firstIndex(of: "--max-steps")! + 1] = "9"
        let failed = try MPIRunner.mpi(2, args, binary: "pix2pix", timeout: 60)
        #expect(failed.status != 0)
        #expect(failed.output.contains("7.png"), "\(failed.output.suffix(1500))")
        let skipped = try MPIRunner.mpi(2, args + ["--skip_bad_images"], binary: "pix2pix", timeout: 60)
        #expect(skipped.status == 0, "\(skipped.output.suffix(1500))")
        #expect(skipped.output.contains("skipping step"), "\(skipped.output.suffix(1500))")
    }

    /// Descendant processes of `pid` whose command name is `name` (ranks under mpirun).
    static func children(of pid: Int32, named name: String) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var parent: [Int32: Int32] = [:], comm: [Int32: String] = [:]
        for e in entries {
            guard let p = Int32(e), let stat = try? String(contentsOfFile: "/proc/\(e)/stat", encoding: .utf8) else { continue }
            // pid (comm) state ppid ...
            guard let close = stat.lastIndex(of: ")"), let open = stat.firstIndex(of: "(") else { continue }
            comm[p] = String(stat[stat.index(after: open)..<close])
            let rest = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            if rest.count > 1, let pp = Int32(rest[1]) { parent[p] = pp }
        }
        func descends(_ p: Int32) -> Bool {
            var cur = p
            for _ in 0..<10 {
                guard let pp = parent[cur] else { return false }
                if pp == pid { return true }
                cur = pp
            }
            return false
        }
        return comm.filter { $0.value == name && descends($0.key) }.map(\.key).sorted()
    }
}
