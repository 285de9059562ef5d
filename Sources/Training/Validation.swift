import Foundation
import Tensor
import Pix2Pix
import ImageData

/// Validation metrics of a generator on a held-out split.
public struct ValidationMetrics: Equatable, Sendable {
    /// Mean |G(A) − B| with images in [−1, 1] (the scale of PT's L1 loss, before λ).
    public var l1: Double
    /// Mean PSNR in dB with images in [0, 1].
    public var psnr: Double
    /// Mean SSIM (11×11 Gaussian window, σ 1.5) with images in [0, 1].
    public var ssim: Double
    public var count: Int
}

/// Runs G over `<dataroot>/<phase>` deterministically: each image resized to crop_size (no
/// random crop, no flip), in paper mode (batch statistics and dropout, as PT's test.py)
/// unless `eval`. Paper-mode forwards would move BatchNorm running statistics and dropout
/// counters, so those are saved before and restored after: validating never changes training.
public final class Validator {
    public let dataset: AlignedDataset
    let input = TensorBuffer()

    public init(options: Options, phase: String) throws {
        var d = options.datasetOptions
        d.phase = phase
        d.noFlip = true
        if d.preprocess == .resizeAndCrop || d.preprocess == .crop {
            d.preprocess = .resizeAndCrop
            d.loadSize = options.crop_size
        }
        dataset = try AlignedDataset(dataroot: ImagePath(options.dataroot), options: d)
    }

    public func evaluate(_ G: Network, eval: Bool = false, limit: Int = .max) throws -> ValidationMetrics {
        let saved = Array(G.arena.bufferValues)
        let tracked = G.batchNorms.map(\.numBatchesTracked)

        let wasTraining = G.isTraining
        // Only rank 0 validates: SyncBatchNorm must not wait for the other ranks here.
        let hooks = G.batchNorms.map(\.allreduce)
        for bn in G.batchNorms { bn.allreduce = nil }
        G.setTraining(!eval)
        defer {
            for (bn, h) in zip(G.batchNorms, hooks) { bn.allreduce = h }
            _ = G.arena.bufferValues.update(fromContentsOf: saved)
            for (bn, t) in zip(G.batchNorms, tracked) { bn.numBatchesTracked = t }
            G.setTraining(wasTraining)
        }
        var l1 = 0.0, psnr = 0.0, ssim = 0.0
        let n = min(limit, dataset.count)
        for i in 0..<n {
            let sample = try dataset.sample(at: i, epoch: 0)
            let s = Shape(1, sample.a.channels, sample.a.height, sample.a.width)
            let x = input.view(s)
            sample.a.writeNormalized(to: x.data)
            let y = G.forward(x)
            // Target in [−1, 1].
            var target = [Float](repeating: 0, count: y.count)
            target.withUnsafeMutableBufferPointer { sample.b.writeNormalized(to: $0.baseAddress!) }
            var abs = 0.0, sq = 0.0
            for j in 0..<y.count {
                let d = Double(y.data[j]) - Double(target[j])
                abs += Swift.abs(d)
                sq += d * d / 4      // difference in [0, 1] units
            }
            l1 += abs / Double(y.count)
            let mse = max(sq / Double(y.count), 1e-12)
            psnr += 10 * log10(1 / mse)
            // SSIM on [0, 1] images.
            var fake = [Float](repeating: 0, count: y.count)
            for j in 0..<y.count {
                fake[j] = (y.data[j] + 1) / 2
                target[j] = (target[j] + 1) / 2
            }
            ssim += SSIM.compute(fake, target, channels: y.shape.c, height: y.shape.h, width: y.shape.w)
        }
        let k = Double(max(n, 1))
        return ValidationMetrics(l1: l1 / k, psnr: psnr / k, ssim: ssim / k, count: n)
    }
}
