import ArgumentParser
import Tensor
import Layers
import Foundation

/// `pix2pix bench-layers`: GFLOP/s of every convolution in unet_256 and the 70×70
/// PatchGAN at 256×256 (forward, input gradient, weight gradient), next to the sgemm peak
/// measured in the same run; the GFLOP are those of unfolding, whatever the algorithm.
/// Build with `-c release`.
struct BenchLayers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-layers",
        abstract: "Convolution GFLOP/s for unet_256 + PatchGAN shapes vs the measured sgemm peak.")

    @Option(help: "Compute threads (default: all cores).") var threads: Int?
    @Option(help: "Image size.") var size = 256
    @Option(help: "Batch size.") var batch = 1
    @Option(help: "Timed repetitions per measurement (the best is reported).") var repeats = 5
    @Option(help: "Convolution algorithm: automatic, unfold or winograd (where it applies).")
    var algorithm = Conv2d.Algorithm.automatic
    @Flag(help: "Time unfolding and Winograd side by side on every layer Winograd applies to.")
    var compare = false
    @Option(help: "Only the layers whose name contains this (e.g. \"D conv4\").") var layer: String?

    struct Row {
        let name: String
        let input: Shape
        let output: Shape
        let gflop: Double
        var ms: [Double] = []   // forward, input gradient, weight gradient
    }

    func run() throws {
        let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        ComputeThreads.set(threads ?? cores)
        print("bench-layers: \(size)×\(size), batch \(batch), threads \(ComputeThreads.count), best of \(repeats)")
        let peak = measureSgemmPeak(repeats: repeats)
        print(String(format: "sgemm peak (2048³, same run): %.1f GFLOP/s\n", peak))

        var rows: [Row] = []
        let arena = ParameterArena()
        var convs: [(String, Shape, Convolution)] = []
        // U-Net encoder: k4 s2 p1, channels 3→64→128→256→512→512…, 8 downsamplings.
        let ngf = 64
        var encoder = [(3, ngf)]
        encoder += [(ngf, ngf * 2), (ngf * 2, ngf * 4), (ngf * 4, ngf * 8)]
        encoder += Array(repeating: (ngf * 8, ngf * 8), count: 4)
        var h = size
        for (i, (c, o)) in encoder.enumerated() where h >= 2 {
            convs.append(("G down\(i + 1) \(c)→\(o)", Shape(batch, c, h, h),
                          Conv2d(c, o, kernelSize: 4, stride: 2, padding: 1, name: "gd\(i)", arena: arena)))
            h /= 2
        }
        // U-Net decoder: transposed k4 s2 p1; inputs are the concatenated skips.
        let decoder = [(ngf * 8, ngf * 8), (ngf * 16, ngf * 8), (ngf * 16, ngf * 8), (ngf * 16, ngf * 8),
                       (ngf * 16, ngf * 4), (ngf * 8, ngf * 2), (ngf * 4, ngf), (ngf * 2, 3)]
        for (i, (c, o)) in decoder.enumerated() where h <= size / 2 {
            convs.append(("G up\(8 - i) \(c)→\(o)", Shape(batch, c, h, h),
                          ConvTranspose2d(c, o, kernelSize: 4, stride: 2, padding: 1, name: "gu\(i)", arena: arena)))
            h *= 2
        }
        // 70×70 PatchGAN on (A, B): three k4 s2 p1, then two k4 s1 p1.
        let ndf = 64
        let d: [(Int, Int, Int)] = [(6, ndf, 2), (ndf, ndf * 2, 2), (ndf * 2, ndf * 4, 2), (ndf * 4, ndf * 8, 1), (ndf * 8, 1, 1)]
        h = size
        for (i, (c, o, s)) in d.enumerated() {
            convs.append(("D conv\(i + 1) \(c)→\(o)", Shape(batch, c, h, h),
                          Conv2d(c, o, kernelSize: 4, stride: s, padding: 1, name: "d\(i)", arena: arena)))
            h = (h + 2 - 4) / s + 1
        }
        if let layer { convs = convs.filter { $0.0.contains(layer) } }
        arena.finalize()
        Initializer.normal.initialize(arena.trainable[0], gain: 0.02, random: RandomStream(seed: 0, stream: 0))

        if compare {
            compareAlgorithms(convs)
            return
        }
        for (name, s, layer) in convs {
            layer.algorithm = algorithm
            let name = layer.usesWinograd(for: s) ? name + " (Winograd)" : name
            let x = TensorBuffer(shape: s, values: [Float](repeating: 0.5, count: s.count))
            let y = layer.forward(x.view(s))
            let dy = TensorBuffer(shape: y.shape, values: [Float](repeating: 0.1, count: y.count))
            var row = Row(name: name, input: s, output: y.shape, gflop: layer.flops(for: s) / 1e9)
            row.ms = [time { _ = layer.forward(x.view(s)) },
                      time { _ = layer.inputGradient(dy.view(y.shape)) },
                      time { layer.accumulateParameterGradients(dy.view(y.shape)) }]
            rows.append(row)
        }
        report(rows, peak: peak)
    }

    func report(_ rows: [Row], peak: Double) {
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        print("| layer | input → output | GFLOP | fwd ms | fwd GFLOP/s | fwd % | dgrad GFLOP/s | dgrad % | wgrad GFLOP/s | wgrad % |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        var totalFlop = 0.0, totalMs = 0.0
        for r in rows {
            let rates = r.ms.map { r.gflop / ($0 / 1e3) }
            totalFlop += 3 * r.gflop
            totalMs += r.ms.reduce(0, +)
            print("| \(r.name) | \(r.input.c)×\(r.input.h)×\(r.input.w) → \(r.output.c)×\(r.output.h)×\(r.output.w) | "
                  + String(format: "%.3f | %.2f | %.1f | %.0f | %.1f | %.0f | %.1f | %.0f |",
                           r.gflop, r.ms[0], rates[0], 100 * rates[0] / peak, rates[1], 100 * rates[1] / peak,
                           rates[2], 100 * rates[2] / peak))
        }
        let overall = totalFlop / (totalMs / 1e3)
        print(String(format: "\nall convolutions, fwd + dgrad + wgrad: %.1f GFLOP in %.1f ms = %.1f GFLOP/s (%.0f%% of sgemm peak %.1f)",
                     totalFlop, totalMs, overall, 100 * overall / peak, peak))
        print("peak RSS: \(peakRSSMegabytes()) MB")
    }

    /// fwd + dgrad + wgrad milliseconds of each algorithm, alternating rounds (the machine's
    /// speed drifts), best of each, and which one `.automatic` picks.
    func compareAlgorithms(_ convs: [(String, Shape, Convolution)]) {
        print("| layer | unfold ms | Winograd ms | speed-up | automatic |")
        print("|---|---:|---:|---:|---|")
        for (name, s, layer) in convs {
            layer.algorithm = .winograd
            guard layer.usesWinograd(for: s) else { continue }
            let x = TensorBuffer(shape: s, values: [Float](repeating: 0.5, count: s.count))
            let y = layer.forward(x.view(s))
            let dy = TensorBuffer(shape: y.shape, values: [Float](repeating: 0.1, count: y.count))
            var best: [Conv2d.Algorithm: Double] = [.unfold: .infinity, .winograd: .infinity]
            for _ in 0..<3 {
                for a in [Conv2d.Algorithm.unfold, .winograd] {
                    layer.algorithm = a
                    let ms = time { _ = layer.forward(x.view(s)); _ = layer.inputGradient(dy.view(y.shape))
                                    layer.accumulateParameterGradients(dy.view(y.shape)) }
                    best[a] = min(best[a]!, ms)
                }
            }
            layer.algorithm = .automatic
            print("| \(name) | " + String(format: "%.2f | %.2f | %.2f× | ", best[.unfold]!, best[.winograd]!,
                                             best[.unfold]! / best[.winograd]!)
                  + (layer.usesWinograd(for: s) ? "Winograd |" : "unfold |"))
        }
    }

    /// Best wall time in milliseconds over `repeats` runs after one warm-up.
    func time(_ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<max(1, repeats) {
            let t0 = monotonicSeconds()
            body()
            best = min(best, monotonicSeconds() - t0)
        }
        return best * 1e3
    }
}

extension Conv2d.Algorithm: ExpressibleByArgument {}
