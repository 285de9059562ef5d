import Foundation
import Testing
import Tensor
import TestSupport

/// Stopping and resuming: bit-identical to an uninterrupted run at the same world size;
/// continuing from the same global sample position on another world size; damaged or
/// half-written checkpoint sets are skipped or refused by name.
@Suite(.serialized) struct ResumeTests {
    static func train(_ data: String, _ out: String, steps: Int, extra: [String] = [], ranks: Int = 1,
                      batch: Int = 4) throws -> MPIRunner.Result {
        var args = DataParallelTests.arguments(dataroot: data, checkpoints: out, batch: batch)
        args[args.firstIndex(of: "--max-steps")! + 1] = String(steps)
        args[args.firstIndex(of: "--norm")! + 1] = "batch"
        args += extra
        let r = ranks == 1 ? try MPIRunner.single(args, binary: "pix2pix", timeout: 120)
                           : try MPIRunner.mpi(ranks, args, binary: "pix2pix", timeout: 120)
        #expect(r.status == 0 && !r.timedOut, "\(r.output)")
        return r
    }

    /// Every tensor of G, D and the training state, bit for bit.
    static func state(_ out: String) throws -> [String: [Float]] {
        var all: [String: [Float]] = [:]
        for file in ["latest_net_G", "latest_net_D", "latest_state"] {
            let f = try SafeTensorsFile(path: "\(out)/ddp/\(file).safetensors")
            for name in f.names where f.tensors[name]!.dtype == .f32 { all["\(file)/\(name)"] = try f.floats(name) }
        }
        return all
    }

    @Test func resumedRunIsBitIdentical() throws {
        let data = try DataParallelTests.makeDataset("resume")
        defer { try? FileManager.default.removeItem(atPath: data) }
        // 18 pairs, batch 4: 4 steps an epoch, so step 3 stops mid-epoch and 6 ends in epoch 2.
        _ = try Self.train(data, "\(data)/straight", steps: 6)
        _ = try Self.train(data, "\(data)/stopped", steps: 3)
        let resumed = try Self.train(data, "\(data)/stopped", steps: 6, extra: ["--resume", "auto"])
        #expect(resumed.output.contains("resuming from latest checkpoint: step 3"))
        let a = try Self.state("\(data)/straight"), b = try Self.state("\(data)/stopped")
        #expect(a.keys.sorted() == b.keys.sorted())
        let differing = a.keys.filter { a[$0] != b[$0] }.sorted()
        #expect(differing.isEmpty, "tensors differ after resume: \(differing.prefix(5))")
    }

    /// Two ranks share one copy of the values and Adam moments and each updates its half:
    /// the checkpoint rank 0 writes holds both halves, and each rank restores its own.
    @Test func shardedOptimizerResumeIsBitIdentical() throws {
        let data = try DataParallelTests.makeDataset("resume-sharded")
        defer { try? FileManager.default.removeItem(atPath: data) }
        let straight = try Self.train(data, "\(data)/straight", steps: 6, ranks: 2, batch: 2)
        #expect(straight.output.contains("the 2 ranks of each node share one copy"), "\(straight.output.suffix(1500))")
        _ = try Self.train(data, "\(data)/stopped", steps: 3, ranks: 2, batch: 2)
        let resumed = try Self.train(data, "\(data)/stopped", steps: 6, extra: ["--resume", "auto"], ranks: 2, batch: 2)
        #expect(resumed.output.contains("resuming from latest checkpoint: step 3"))
        let a = try Self.state("\(data)/straight"), b = try Self.state("\(data)/stopped")
        #expect(a.keys.sorted() == b.keys.sorted())
        let differing = a.keys.filter { a[$0] != b[$0] }.sorted()
        #expect(differing.isEmpty, "tensors differ after resume: \(differing.prefix(5))")
        // Both halves of the moments moved (rank 1's half reached rank 0's checkpoint).
        let m = a["latest_state/G.exp_avg"] ?? []
        #expect(m.count > 100)
        for half in [m[..<(m.count / 2)], m[(m.count / 2)...]] {
            #expect(half.contains { $0 != 0 }, "a half of G.exp_avg is all zero")
        }
    }

    @Test func resumeOnAnotherWorldSizeAndDamagedSets() throws {
        let data = try DataParallelTests.makeDataset("resume2")
        defer { try? FileManager.default.removeItem(atPath: data) }
        let out = "\(data)/run"
        _ = try Self.train(data, out, steps: 2, batch: 2)
        // Two ranks × 1: same global batch; continues from sample 4 of epoch 1.
        let r = try Self.train(data, out, steps: 5, extra: ["--resume", "auto"], ranks: 2, batch: 1)
        #expect(r.output.contains("step 2, epoch 1, 4 samples of it done"), "\(r.output)")
        // A damaged latest set: resume falls back to the previous complete one.
        func damage(_ file: String) throws {
            var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            bytes[bytes.count - 3] = bytes[bytes.count - 3] &+ 1
            try bytes.write(to: URL(fileURLWithPath: file))
        }
        try damage("\(out)/ddp/latest_state.safetensors")
        var args = DataParallelTests.arguments(dataroot: data, checkpoints: out, batch: 2) + ["--resume", "auto"]
        args[args.firstIndex(of: "--max-steps")! + 1] = "6"
        args[args.firstIndex(of: "--norm")! + 1] = "batch"
        let fallback = try MPIRunner.single(args, binary: "pix2pix", timeout: 60)
        #expect(fallback.status == 0 && fallback.output.contains("resuming from previous checkpoint"), "\(fallback.output.suffix(1500))")
        // Every set damaged: refused, naming the file and the problem; never a silent restart.
        for label in ["latest", "previous"] { try damage("\(out)/ddp/\(label)_state.safetensors") }
        let bad = try MPIRunner.single(args, binary: "pix2pix", timeout: 60)
        #expect(bad.status != 0)
        #expect(bad.output.contains("_state.safetensors") && bad.output.contains("checksum"), "\(bad.output.suffix(1500))")
    }

    /// keep_checkpoints K keeps the K newest epoch sets (G, D and state), and latest.
    @Test func keepsTheNewestEpochCheckpoints() throws {
        let data = try DataParallelTests.makeDataset("keep")
        defer { try? FileManager.default.removeItem(atPath: data) }
        var args = DataParallelTests.arguments(dataroot: data, checkpoints: "\(data)/run", batch: 6)
        args[args.firstIndex(of: "--max-steps")! + 1] = "1000"
        args += ["--n_epochs", "4", "--n_epochs_decay", "0", "--save_epoch_freq", "1", "--keep_checkpoints", "2"]
        let r = try MPIRunner.single(args, binary: "pix2pix", timeout: 120)
        #expect(r.status == 0, "\(r.output.suffix(1000))")
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: "\(data)/run/ddp"))
        for epoch in [3, 4] { for f in ["net_G", "net_D", "state"] { #expect(files.contains("\(epoch)_\(f).safetensors")) } }
        for epoch in [1, 2] { #expect(!files.contains("\(epoch)_net_G.safetensors"), "epoch \(epoch) kept") }
        #expect(files.contains("latest_net_G.safetensors"))
    }
}
