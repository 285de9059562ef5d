import Foundation
import Testing
import Tensor
import ImageData
import TestSupport

/// Real `pix2pix train` processes under real `mpirun`: the same global batch on 1, 2 and 3
/// ranks trains to the same weights; an error on one rank ends the whole job with the rank
/// named. Data: small structured A|B pairs written as PNG files by the test.
@Suite(.serialized) struct DataParallelTests {
    /// 18 pairs of 32×32 halves: A holds coloured rectangles, B the same rectangles inverted and shifted.
    static func makeDataset(_ tag: String = "ddp") throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("pix2pix-\(tag)-\(getpid())").path
        try FileManager.default.createDirectory(atPath: "\(root)/train", withIntermediateDirectories: true)
        let r = RandomStream(seed: 11, stream: 3)
        for i in 0..<18 {
            var img = Image(width: 64, height: 32, channels: 3)
            for k in 0..<4 {
                let base = UInt64(i * 64 + k * 8)
                let x0 = Int(r.bits(base) % 24), y0 = Int(r.bits(base + 1) % 24)
                let w = 4 + Int(r.bits(base + 2) % 8), h = 4 + Int(r.bits(base + 3) % 8)
                let color = (0..<3).map { UInt8(truncatingIfNeeded: r.bits(base + 4 + UInt64($0))) }
                for y in y0..<min(32, y0 + h) { for x in x0..<min(32, x0 + w) { for c in 0..<3 {
                    img.pixels[(y * 64 + x) * 3 + c] = color[c]
                    let xb = min(31, x + 2)
                    img.pixels[(y * 64 + 32 + xb) * 3 + c] = 255 - color[c]
                } } }
            }
            try ImageEncoder.writePNG(img, to: "\(root)/train/\(i).png")
        }
        return root
    }

    static func arguments(dataroot: String, checkpoints: String, batch: Int) -> [String] {
        ["train", "--dataroot", dataroot, "--checkpoints_dir", checkpoints, "--name", "ddp",
         "--netG", "unet_32", "--ngf", "4", "--ndf", "4", "--norm", "none", "--preprocess", "none",
         "--batch_size", "\(batch)", "--val_freq", "0", "--print_freq", "1", "--display_freq", "1000",
         "--save_latest_freq", "1000", "--max-steps", "3", "--seed", "5"]
    }

    static func weights(_ dir: String) throws -> [Float] {
        let f = try SafeTensorsFile(path: "\(dir)/ddp/latest_net_G.safetensors")
        return try f.names.filter { !$0.hasSuffix("num_batches_tracked") }.flatMap { try f.floats($0) }
    }

    /// The initial weights (same seed; one step with lr 1e-12 moves them by ~1e-12), to show
    /// that training moved them.
    static func initialWeights(_ data: String) throws -> [Float] {
        let out = "\(data)/ckpt0"
        var args = arguments(dataroot: data, checkpoints: out, batch: 6)
        args[args.firstIndex(of: "--max-steps")! + 1] = "1"
        args += ["--lr", "0.000000000001"]
        _ = try MPIRunner.single(args, binary: "pix2pix", timeout: 60)
        return try weights(out)
    }

    @Test func sameGlobalBatchSameWeightsOnOneTwoThreeRanks() throws {
        let data = try Self.makeDataset()
        defer { try? FileManager.default.removeItem(atPath: data) }
        var results: [[Float]] = []
        for (ranks, batch) in [(1, 6), (2, 3), (3, 2)] {
            let out = "\(data)/ckpt\(ranks)"
            let r = ranks == 1
                ? try MPIRunner.single(Self.arguments(dataroot: data, checkpoints: out, batch: batch), binary: "pix2pix", timeout: 120)
                : try MPIRunner.mpi(ranks, Self.arguments(dataroot: data, checkpoints: out, batch: batch), binary: "pix2pix", timeout: 120)
            #expect(r.status == 0 && !r.timedOut, "\(ranks) ranks: \(r.output)")
            #expect(r.output.contains("[rank 0/\(ranks) "))
            // Only the coordinator reports.
            #expect(!r.output.contains("[rank 1/"), "\(r.output)")
            // Several ranks on this node share one optimiser state, each updating a slice.
            #expect(r.output.contains("the \(ranks) ranks of each node share one copy") == (ranks > 1), "\(r.output)")
            results.append(try Self.weights(out))
        }
        let moved = zip(results[0], try Self.initialWeights(data)).map { abs($0 - $1) }.max() ?? 0
        #expect(moved > 1e-4, "training moved the weights by only \(moved)")
        print("data parallel: weights moved by up to \(moved) in 3 steps")
        // The plain MPI_Allreduce path, buckets reduced during backward, agrees too.
        let plainOut = "\(data)/ckpt-plain"
        let plain = try MPIRunner.mpi(2, Self.arguments(dataroot: data, checkpoints: plainOut, batch: 3) + ["--reduce", "plain"],
                                      binary: "pix2pix", timeout: 120)
        #expect(plain.status == 0 && !plain.timedOut, "\(plain.output.suffix(1500))")
        #expect(!plain.output.contains("optimizer sharded"), "plain MPI_Allreduce keeps a private optimiser state")
        results.append(try Self.weights(plainOut))
        // Simulated nodes of 2 ranks and 1: the leaders exchange node sums, the 2-rank node
        // shares its optimiser state, the 1-rank node updates everything itself.
        let nodesOut = "\(data)/ckpt-nodes"
        let nodes = try MPIRunner.mpi(3, Self.arguments(dataroot: data, checkpoints: nodesOut, batch: 2), binary: "pix2pix",
                                      environment: ["PIX2PIX_MPI_RANKS_PER_NODE": "2"], timeout: 120)
        #expect(nodes.status == 0 && !nodes.timedOut, "\(nodes.output.suffix(1500))")
        #expect(nodes.output.contains("the 2 ranks of each node share one copy"), "\(nodes.output.suffix(1500))")
        results.append(try Self.weights(nodesOut))
        // Too little shared memory for the windows (a small /dev/shm, as in Docker): every
        // rank agrees to fall back to MPI_Allreduce with private optimiser states, and says so.
        let smallOut = "\(data)/ckpt-smallshm"
        let small = try MPIRunner.mpi(2, Self.arguments(dataroot: data, checkpoints: smallOut, batch: 3), binary: "pix2pix",
                                      environment: ["PIX2PIX_SHM_FREE_BYTES": "1"], timeout: 120)
        #expect(small.status == 0 && !small.timedOut, "\(small.output.suffix(1500))")
        #expect(small.output.contains("warning: G: shared memory") && small.output.contains("MPI_Allreduce instead"),
                "\(small.output.suffix(1500))")
        #expect(!small.output.contains("optimizer sharded"), "\(small.output.suffix(1500))")
        results.append(try Self.weights(smallOut))
        for k in 1..<results.count {
            #expect(results[k].count == results[0].count)
            let diff = zip(results[0], results[k]).map { abs($0 - $1) }.max() ?? .infinity
            // Three Adam steps of lr 2e-4: weights move by up to 6e-4; reduction order changes
            // only the last bits of the averaged gradients.
            let label = ["1 rank", "2 ranks", "3 ranks", "2 ranks, reduce plain", "3 ranks on nodes of 2 and 1", "2 ranks, too little shared memory"][k]
            #expect(diff < 2e-6, "\(label) differs from 1 rank by up to \(diff)")
            print("data parallel: \(label) vs 1 rank, max weight difference \(diff)")
        }
    }

    /// exact_reduce: the same global batch on 1, 2 and 3 ranks gives bit-identical trainable
    /// weights (fixed-point sums of per-sample gradients; one BLAS thread everywhere, since
    /// OpenBLAS' results depend on its thread count). BatchNorm on, per sample.
    @Test func exactReduceIsBitIdenticalOnOneTwoThreeRanks() throws {
        let data = try Self.makeDataset("exact")
        defer { try? FileManager.default.removeItem(atPath: data) }
        var results: [[String: [Float]]] = []
        for (ranks, batch) in [(1, 6), (2, 3), (3, 2)] {
            let out = "\(data)/ckpt\(ranks)"
            var args = Self.arguments(dataroot: data, checkpoints: out, batch: batch) + ["--exact_reduce"]
            args[args.firstIndex(of: "--norm")! + 1] = "batch"
            let env = ["OPENBLAS_NUM_THREADS": "1"]
            let r = ranks == 1
                ? try MPIRunner.single(args, binary: "pix2pix", environment: env, timeout: 120)
                : try MPIRunner.mpi(ranks, args, binary: "pix2pix", environment: env, timeout: 120)
            #expect(r.status == 0 && !r.timedOut, "\(ranks) ranks: \(r.output.suffix(1500))")
            let f = try SafeTensorsFile(path: "\(out)/ddp/latest_net_G.safetensors")
            var trainable: [String: [Float]] = [:]
            for name in f.names where !name.contains("running_") && !name.hasSuffix("num_batches_tracked") {
                trainable[name] = try f.floats(name)
            }
            results.append(trainable)
        }
        for k in 1..<results.count {
            let differing = results[0].keys.filter { results[0][$0] != results[k][$0] }.sorted()
            #expect(differing.isEmpty, "\(k + 1) ranks: \(differing.count) tensors differ, e.g. \(differing.prefix(3))")
        }
        #expect(results[0].count > 10)
    }

    /// norm syncbatch: BatchNorm statistics over the global batch, so 2 ranks × 2 train like
    /// 1 rank × 4 with plain BatchNorm (per-rank BatchNorm would not).
    @Test func syncBatchNormEqualsOneRankBatchNorm() throws {
        let data = try Self.makeDataset()
        defer { try? FileManager.default.removeItem(atPath: data) }
        func run(_ ranks: Int, _ norm: String) throws -> [Float] {
            let out = "\(data)/ckpt-\(norm)-\(ranks)"
            var args = Self.arguments(dataroot: data, checkpoints: out, batch: 4 / ranks)
            args[args.firstIndex(of: "--norm")! + 1] = norm
            let r = ranks == 1 ? try MPIRunner.single(args, binary: "pix2pix", timeout: 120)
                               : try MPIRunner.mpi(ranks, args, binary: "pix2pix", timeout: 120)
            #expect(r.status == 0 && !r.timedOut, "\(r.output)")
            return try Self.weights(out)
        }
        let one = try run(1, "batch"), sync = try run(2, "syncbatch"), local = try run(2, "batch")
        let syncDiff = zip(one, sync).map { abs($0 - $1) }.max() ?? .infinity
        let localDiff = zip(one, local).map { abs($0 - $1) }.max() ?? .infinity
        print("data parallel: syncbatch 2 ranks vs batch 1 rank \(syncDiff); per-rank batch norm \(localDiff)")
        #expect(syncDiff < 2e-6)
        #expect(localDiff > 1e-5)
    }

    /// Only the coordinator writes: each rank runs in its own working directory with the same
    /// relative checkpoints_dir (so the configs, and the handshake, agree); afterwards only
    /// rank 0's directory holds a run folder.
    @Test func onlyRankZeroWritesFiles() throws {
        let data = try DataParallelTests.makeDataset("rank0")
        defer { try? FileManager.default.removeItem(atPath: data) }
        for r in 0..<2 { try FileManager.default.createDirectory(atPath: "\(data)/wd\(r)", withIntermediateDirectories: true) }
        var args = Self.arguments(dataroot: data, checkpoints: "ck", batch: 1)
        args += ["--val_freq", "1", "--display_freq", "1"]
        let pix2pix = try MPIRunner.binary("pix2pix").path
        let launch = ["--oversubscribe", "--bind-to", "none", "-np", "1", "-wdir", "\(data)/wd0", pix2pix] + args
            + [":", "-np", "1", "-wdir", "\(data)/wd1", pix2pix] + args
        let r = try MPIRunner.run(try MPIRunner.mpirun(), launch, environment: MPIRunner.environment([:]), timeout: 120)
        #expect(r.status == 0, "\(r.output.suffix(1500))")
        let written = try FileManager.default.contentsOfDirectory(atPath: "\(data)/wd0/ck/ddp")
        #expect(written.contains("latest_net_G.safetensors") && written.contains("samples") && written.contains("report.html"))
        #expect(!FileManager.default.fileExists(atPath: "\(data)/wd1/ck"), "rank 1 wrote \((try? FileManager.default.contentsOfDirectory(atPath: "\(data)/wd1")) ?? [])")
    }

    @Test func aFailingRankEndsTheJobNamingIt() throws {
        let data = try Self.makeDataset()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let good = Self.arguments(dataroot: data, checkpoints: "\(data)/ck", batch: 1)
        let bad = Self.arguments(dataroot: "\(data)/missing", checkpoints: "\(data)/ck", batch: 1)
        let pix2pix = try MPIRunner.binary("pix2pix").path
        let args = ["--oversubscribe", "--bind-to", "none", "-np", "1", pix2pix] + good + [":", "-np", "1", pix2pix] + bad
        let r = try MPIRunner.run(try MPIRunner.mpirun(), args, environment: MPIRunner.environment([:]), timeout: 60)
        #expect(!r.timedOut)
        #expect(r.status != 0)
        #expect(r.output.contains("[rank 1/2") && r.output.contains("missing"), "\(r.output)")
        #expect(r.seconds < 30)
    }
}
