import Tensor
import Layers

/// Gradients summed in fixed point (exact_reduce): every value is rounded to a multiple of
/// 2⁻³² and summed as Int64, so the sum is the same whatever the order of the additions —
/// across samples, threads and ranks.
public final class FixedPointGradients {
    public static let scale = 0x1p32
    /// |g| must stay below this (2²⁴) so that 128 samples cannot overflow Int64.
    public static let limit: Float = 0x1p24
    public static let maximumSamples = 128
    public let sums: UnsafeMutableBufferPointer<Int64>

    public init(count: Int) {
        sums = .allocate(capacity: count)
        sums.initialize(repeating: 0)
    }

    deinit { sums.deallocate() }

    public func zero() { sums.update(repeating: 0) }

    /// sums += round(g · 2³²); throws for |g| ≥ 2²⁴ or NaN.
    public func add(_ g: UnsafeMutableBufferPointer<Float>, network: String) throws {
        let p = g.baseAddress!, s = sums.baseAddress!
        for i in 0..<g.count {
            let v = p[i]
            guard abs(v) < Self.limit else { throw NonFiniteGradient(network: "\(network) (|g| ≥ 2^24 or NaN: too large for exact_reduce)") }
            s[i] &+= Int64((Double(v) * Self.scale).rounded())
        }
    }

    /// g = sums / 2³² / divisor, rounded once to Float.
    public func average(into g: UnsafeMutableBufferPointer<Float>, divisor: Int) {
        let p = g.baseAddress!, s = sums.baseAddress!, k = 1 / (Self.scale * Double(divisor))
        for i in 0..<g.count { p[i] = Float(Double(s[i]) * k) }
    }
}

extension Pix2PixModel {
    /// One training step with `exact_reduce`: the rank's samples one at a time (as if each
    /// were on its own rank with batch 1, BatchNorm statistics per sample), each sample's
    /// gradients added in fixed point, the sums added across ranks by `reduce` (an integer
    /// allreduce), then divided by the global batch. The trainable weights after a step are
    /// therefore bit-identical for any split of the same global batch over ranks.
    ///
    /// G runs forward twice per sample (once to make fake_B for the D step, once again
    /// before its backward, since layers keep one forward's caches); its running statistics
    /// are restored so they move once per sample. `firstSample` is the global index of the
    /// rank's first sample (dropout masks); `globalBatch` the number of samples of the step
    /// over all ranks.
    public func exactStep(realA: Tensor, realB: Tensor, firstSample: UInt64, globalBatch: Int,
                          reduce: (UnsafeMutableBufferPointer<Int64>) throws -> Void) throws -> Losses {
        precondition(globalBatch <= FixedPointGradients.maximumSamples, "exact_reduce takes at most 128 samples a step")
        let n = realA.shape.n, a = realA.shape, b = realB.shape
        let sampleA = { (s: Int) in Tensor(shape: Shape(1, a.c, a.h, a.w), data: realA.sample(s)) }
        let sampleB = { (s: Int) in Tensor(shape: Shape(1, b.c, b.h, b.w), data: realB.sample(s)) }
        var losses = Losses()

        // fake_B of every sample.
        let fakes = exactFakes.view(Shape(n, G.spec.outputChannels, a.h, a.w))
        for s in 0..<n {
            G.setFirstSample(firstSample &+ UInt64(s))
            let y = G.forward(sampleA(s))
            fakes.sample(s).update(from: y.data, count: y.count)
        }
        let runningStats = Array(G.arena.bufferValues), tracked = G.batchNorms.map(\.numBatchesTracked)
        let fake = { (s: Int) in Tensor(shape: Shape(1, fakes.shape.c, a.h, a.w), data: fakes.sample(s)) }

        // D step.
        let sumsD = exactSums(for: D)
        sumsD.zero()
        for s in 0..<n {
            D.arena.zeroGrad()
            losses.D_fake += gan.forward(D.forward(fakePair.forward(sampleA(s), fake(s))), target: .value(0))
            D.backward(gan.backward(scale: 0.5))
            losses.D_real += gan.forward(D.forward(realPair.forward(sampleA(s), sampleB(s))), target: .value(1))
            D.backward(gan.backward(scale: 0.5))
            try sumsD.add(D.arena.grads, network: "D")
        }
        try reduce(sumsD.sums)
        sumsD.average(into: D.arena.grads, divisor: globalBatch)
        try optimize(D, optimizerD, "D")

        // G step through the updated D.
        let sumsG = exactSums(for: G)
        sumsG.zero()
        for s in 0..<n {
            G.arena.zeroGrad()
            G.setFirstSample(firstSample &+ UInt64(s))
            let y = G.forward(sampleA(s))
            let (ganLoss, l1Loss, dFake) = generatorLossGradient(fakeAB: fakePair.forward(sampleA(s), y), fake: y,
                                                                 realB: sampleB(s))
            losses.G_GAN += ganLoss
            losses.G_L1 += l1Loss
            G.backward(dFake)
            try sumsG.add(G.arena.grads, network: "G")
        }
        _ = G.arena.bufferValues.update(fromContentsOf: runningStats)
        for (bn, t) in zip(G.batchNorms, tracked) { bn.numBatchesTracked = t }
        try reduce(sumsG.sums)
        sumsG.average(into: G.arena.grads, divisor: globalBatch)
        try optimize(G, optimizerG, "G")

        self.fakeB = fakes
        let k = 1 / Float(n)
        return Losses(D_fake: losses.D_fake * k, D_real: losses.D_real * k, G_GAN: losses.G_GAN * k, G_L1: losses.G_L1 * k)
    }
}
