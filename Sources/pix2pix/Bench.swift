import ArgumentParser
import Foundation
import Tensor
import Pix2Pix
import Training
import Distributed

/// `pix2pix bench`: training steps on synthetic data for any architecture and size (the
/// training options), with time per phase, s/step, images/s, GFLOP/s against the sgemm
/// peak measured in the same run, and peak RSS. Under mpirun it reports the world's
/// images/s; `--baseline` (one rank's images/s) turns that into a scaling efficiency.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark full training steps on synthetic data (same options as train).")

    @Option(help: "Timed steps.") var steps = 10
    @Option(help: "Untimed warm-up steps.") var warmup = 2
    @Flag(help: "Print one JSON object.") var json = false
    @Option(help: "Images/s of one rank (for the scaling efficiency under mpirun).") var baseline: Double?
    @Flag(help: "Time G's forward pass alone in eval mode (what `pix2pix translate` does).") var translate = false
    @Option(help: "Write a chrome://tracing timeline of every rank's phases to this file.") var trace: String?
    @Option(help: "YAML file of options.") var config: String?
    @Argument(parsing: .allUnrecognized, help: "PT-style options, e.g. --netG unet_128 --crop_size 128.")
    var overrides: [String] = []

    func run() throws {
        let communicator = try Communicator.start()
        communicator.runOrAbort {
            var options = try loadOptions(config: config, overrides: overrides)
            options.dataroot = "(synthetic)"
            try options.validate(training: true)
            let budget = try ThreadBudget.compute(communicator: communicator)
            ComputeThreads.set(budget.threads)
            let peak = measureSgemmPeak(repeats: 8)
            let replica = try Replica(options: options, communicator: communicator, dataFingerprint: [])
            let model = replica.model
            let s = options.crop_size, n = options.batch_size
            let a = TensorBuffer(shape: Shape(n, options.input_nc, s, s), values: synthetic(n * options.input_nc * s * s, 1))
            let b = TensorBuffer(shape: Shape(n, options.output_nc, s, s), values: synthetic(n * options.output_nc * s * s, 2))
            let realA = a.view(Shape(n, options.input_nc, s, s)), realB = b.view(Shape(n, options.output_nc, s, s))
            if translate {
                model.G.setTraining(false)
                model.G.weightsFrozen = true
                for _ in 0..<warmup { _ = model.G.forward(realA) }
                let t = monotonicSeconds()
                for _ in 0..<steps { _ = model.G.forward(realA) }
                let per = (monotonicSeconds() - t) / Double(steps)
                if communicator.rank == 0 {
                    print(json ? "{\"netG\": \"\(options.netG)\", \"size\": \(s), \"s_per_image\": \(fmt(per / Double(n))), \"peak_rss_mb\": \(peakRSSMegabytes())}"
                               : String(format: "translate: %@ at %d×%d: %.4f s per image, peak RSS %d MB", options.netG, s, s, per / Double(n), peakRSSMegabytes()))
                }
                replica.shutdown()
                return
            }
            for _ in 0..<warmup { try model.step(realA: realA, realB: realB) }
            model.times = PhaseTimes()
            if trace != nil {
                model.trace = []
                model.trace!.reserveCapacity(8 * steps)
            }
            try replica.collective("barrier") { try communicator.barrier() }
            let t0 = monotonicSeconds()
            for i in 0..<steps {
                replica.step = i
                try model.step(realA: realA, realB: realB)
            }
            try replica.collective("barrier") { try communicator.barrier() }
            let elapsed = monotonicSeconds() - t0
            // Per-step GEMM work: G forward + weight and input gradients (no image gradient);
            // D: three forwards, two full backwards (D step, no image gradient) and one input
            // gradient (G step).
            let g = model.G.lastForwardFlops, d = model.D.lastForwardFlops
            let flops = 3 * g.total - g.first + 3 * d.total + 2 * (2 * d.total - d.first) + d.total
            let perStep = elapsed / Double(steps)
            let times = model.times
            let phases: [(String, Double)] = [
                ("generator_forward_s", times.generatorForward), ("discriminator_s", times.discriminator),
                ("generator_backward_s", times.generatorBackward), ("optimizer_s", times.optimizer),
                ("gradient_sync_s", times.gradientSync), ("data_s", 0),
            ].map { ($0.0, $0.1 / Double(max(times.steps, 1))) }
            let images = Double(n * communicator.size) / perStep
            let gflops = flops / perStep / 1e9
            let rss = try replica.mean([Double(peakRSSMegabytes())], "rss")[0]
            if let trace {
                // Every rank's spans (µs from the timed start), gathered on rank 0.
                let mine = (model.trace ?? []).map {
                    String(format: "{\"name\":\"%@\",\"ph\":\"X\",\"pid\":%d,\"tid\":0,\"ts\":%.1f,\"dur\":%.1f}",
                           $0.phase, communicator.rank, ($0.start - t0) * 1e6, ($0.end - $0.start) * 1e6)
                }.joined(separator: ",")
                let all = try communicator.allgather(mine)
                if communicator.rank == 0 {
                    let names = (0..<communicator.size).map {
                        "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":\($0),\"args\":{\"name\":\"rank \($0)\"}}"
                    }
                    let json = "{\"traceEvents\":[" + (names + all.filter { !$0.isEmpty }).joined(separator: ",") + "]}\n"
                    try json.write(toFile: trace, atomically: true, encoding: .utf8)
                }
            }
            replica.shutdown()
            guard communicator.rank == 0 else { return }
            var fields: [(String, String)] = [
                ("netG", "\"\(options.netG)\""), ("netD", "\"\(options.netD)\""), ("size", "\(s)"),
                ("batch_per_rank", "\(n)"), ("world_size", "\(communicator.size)"),
                ("threads_per_rank", "\(budget.threads)"), ("steps", "\(steps)"),
                ("s_per_step", fmt(perStep)), ("images_per_s", fmt(images)),
                ("gflop_per_step", fmt(flops / 1e9 * Double(communicator.size))),
                ("gflop_per_s", fmt(gflops * Double(communicator.size))),
                ("sgemm_peak_gflop_per_s", fmt(peak)), ("peak_rss_mb", fmt(rss)), ("blas_core", "\"\(blasCoreName)\""),
                ("optimizer_shard_ranks", "\(replica.optimizerShardRanks)"),
            ]
            fields += phases.map { ($0.0, fmt($0.1)) }
            if let baseline {
                fields.append(("scaling_efficiency", fmt(images / (baseline * Double(communicator.size)))))
            }
            if json {
                print("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
            } else {
                print("bench: \(options.netG) + \(options.netD) at \(s)×\(s), batch \(n) per rank, \(communicator.size) rank(s) × \(budget.threads) thread(s), \(steps) steps, OpenBLAS \(blasCoreName) kernels")
                print(String(format: "  %.3f s/step, %.2f images/s, %.1f GFLOP/s per rank (%.0f%% of the %.1f GFLOP/s sgemm peak per rank), peak RSS %.0f MB per rank",
                             perStep, images, gflops, 100 * gflops / peak, peak, rss))
                if let line = replica.optimizerShardingDescription { print("  \(line)") }
                print("  per step: " + phases.map { String(format: "%@ %.3f", String($0.0.dropLast(2)), $0.1) }.joined(separator: ", "))
                if let baseline { print(String(format: "  scaling efficiency %.1f%% of %d × %.2f images/s", 100 * images / (baseline * Double(communicator.size)), communicator.size, baseline)) }
            }
        }
        communicator.finalize()
    }

    func fmt(_ v: Double) -> String { String(format: "%.6g", v) }

    /// Deterministic values in [−1, 1].
    func synthetic(_ count: Int, _ stream: UInt64) -> [Float] {
        let r = RandomStream(seed: 99, stream: stream)
        return (0..<count).map { r.uniform(UInt64($0)) * 2 - 1 }
    }
}
