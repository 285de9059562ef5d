import Tensor

/// Batch normalisation, `torch.nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1,
/// affine=True, track_running_stats=True)`.
///
/// Parameters `<name>.weight` γ (C) and `<name>.bias` β (C); buffers `<name>.running_mean`,
/// `<name>.running_var` (C) and `numBatchesTracked` (`<name>.num_batches_tracked`, int64).
/// x (N, C, H, W) → y, same shape.
///
/// Training: per channel over M = N·H·W elements, μ and the biased variance σ² normalise,
/// x̂ = (x − μ)/√(σ² + ε), y = γ·x̂ + β; running_mean ← (1 − m)·running_mean + m·μ and
/// running_var ← (1 − m)·running_var + m·σ²·M/(M − 1) (unbiased), num_batches_tracked += 1.
/// Eval: the running statistics normalise and nothing is updated.
/// With `allreduce` set it is PT's `SyncBatchNorm` (which PyTorch offers only on GPUs): the
/// statistics and the backward sums cover the global batch of all ranks.
///
/// Memory: backward recomputes x̂ from the saved input (the caller must leave x unchanged
/// until then, as the networks do: x is a convolution's output) instead of keeping an x̂
/// buffer; with `inPlaceBackward` it also writes dx over dy.
public final class BatchNorm2d {
    public let channels: Int
    public let eps: Float
    public let momentum: Float
    /// PyTorch's `module.training`.
    public var isTraining = true
    public let weight: ParameterArena.Entry
    public let bias: ParameterArena.Entry
    public let runningMean: ParameterArena.Entry
    public let runningVar: ParameterArena.Entry
    public var numBatchesTracked: Int64 = 0
    public let numBatchesTrackedName: String
    /// Backward overwrites dy with dx (for callers that never read dy again).
    public var inPlaceBackward = false

    private let output = TensorBuffer()
    private let inputGrad = TensorBuffer()
    private let stats = TensorBuffer(capacity: 0)   // rstd and mean per channel
    private var input: Tensor?
    private var trainedForward = true

    public init(_ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1, name: String,
                arena: ParameterArena) {
        self.channels = channels
        self.eps = eps
        self.momentum = momentum
        weight = arena.parameter(join(name, "weight"), shape: [channels])
        bias = arena.parameter(join(name, "bias"), shape: [channels])
        runningMean = arena.buffer(join(name, "running_mean"), shape: [channels])
        runningVar = arena.buffer(join(name, "running_var"), shape: [channels])
        numBatchesTrackedName = join(name, "num_batches_tracked")
        moments = .allocate(capacity: 2 * channels + 1)
        moments.initialize(repeating: 0)
    }

    /// Sets γ = 1, β = 0, running statistics to (0, 1) and the batch count to 0 (PyTorch's
    /// `reset_parameters`).
    public func reset() {
        weight.values.update(repeating: 1)
        bias.values.update(repeating: 0)
        runningMean.values.update(repeating: 0)
        runningVar.values.update(repeating: 1)
        numBatchesTracked = 0
    }

    /// Sums a buffer over all ranks in place. Set, the layer is PT's SyncBatchNorm: batch
    /// statistics (forward) and the two gradient sums of backward cover the global batch.
    /// Nil (the default): statistics of this rank's batch only, as BatchNorm2d under DDP.
    public var allreduce: ((UnsafeMutableBufferPointer<Double>) -> Void)?

    /// Per-channel sums in Double: [C sums or squared deviations or Σdy | C Σdy·x̂ | count].
    private let moments: UnsafeMutableBufferPointer<Double>
    /// Elements per channel over the (global, when synchronised) batch of the last forward.
    private var count: Double = 0

    deinit { moments.deallocate() }

    /// Runs `pass` over every channel, the channels split across the rank's threads when the
    /// tensor is large (each channel touches only its own planes and statistics).
    private func forEachChannel(_ s: Shape, _ pass: ChannelPass) {
        parallelChunks(channels, minimumChunk: max(1, (1 << 15) / max(1, s.n * s.planeCount)), pass)
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.c == channels, "BatchNorm2d expects \(channels) channels, got \(x.shape)")
        let s = x.shape
        let y = output.view(s)
        let rstd = stats.view(Shape(1, 1, 2, channels)).data
        let mean = rstd + channels
        let rm = runningMean.value, rv = runningVar.value
        let C = channels
        var pass = ChannelPass(kind: .sum, x: x.data, shape: s, mean: mean, rstd: rstd, moments: moments.baseAddress!)
        if isTraining {
            // Two passes, as two allreduces when synchronised: the mean, then the squared
            // deviations from it (more accurate than Σx² − (Σx)²/M).
            forEachChannel(s, pass)
            moments[C] = Double(s.n * s.planeCount)
            allreduce?(UnsafeMutableBufferPointer(rebasing: moments[0...C]))
            count = moments[C]
            for c in 0..<C { mean[c] = Float(moments[c] / count) }
            pass.kind = .squaredDeviations
            forEachChannel(s, pass)
            allreduce?(UnsafeMutableBufferPointer(rebasing: moments[0..<C]))
            for c in 0..<C {
                let variance = moments[c] / count
                rstd[c] = Float(1 / (variance + Double(eps)).squareRoot())
                let unbiased = count > 1 ? moments[c] / (count - 1) : variance
                rm[c] = (1 - momentum) * rm[c] + momentum * mean[c]
                rv[c] = (1 - momentum) * rv[c] + momentum * Float(unbiased)
            }
            numBatchesTracked += 1
        } else {
            for c in 0..<C {
                mean[c] = rm[c]
                rstd[c] = 1 / (rv[c] + eps).squareRoot()
            }
        }
        pass.kind = .normalize
        (pass.gamma, pass.beta, pass.out) = (weight.value, bias.value, y.data)
        forEachChannel(s, pass)
        trainedForward = isTraining
        input = x
        return y
    }

    /// Accumulates dγ and dβ (unless `parameterGradients` is false) and returns dx.
    ///
    /// Training: dx = γ·rstd/M · (M·dy − Σdy − x̂·Σ(dy·x̂)), the sums over the (global)
    /// batch; eval: dx = γ·rstd·dy. dγ = Σ dy·x̂ and dβ = Σ dy over this rank's batch (the
    /// gradient averaging across ranks combines them, as DDP does with SyncBatchNorm).
    public func backward(_ dy: Tensor, parameterGradients: Bool = true) -> Tensor {
        guard let x = input else { preconditionFailure("BatchNorm2d.backward before forward") }
        let s = x.shape, C = channels
        let dx = inPlaceBackward ? dy : inputGrad.view(s)
        let rstd = stats.view(Shape(1, 1, 2, channels)).data
        var pass = ChannelPass(kind: .gradientSums, x: x.data, shape: s, mean: rstd + channels, rstd: rstd,
                               moments: moments.baseAddress!)
        pass.dy = dy.data
        if parameterGradients { (pass.dgamma, pass.dbeta) = (weight.grad, bias.grad) }
        forEachChannel(s, pass)
        if trainedForward { allreduce?(UnsafeMutableBufferPointer(rebasing: moments[0..<(2 * C)])) }
        pass.kind = trainedForward ? .inputGradient : .inputGradientEval
        (pass.gamma, pass.out) = (weight.value, dx.data)
        pass.count = Float(trainedForward ? count : 1)
        forEachChannel(s, pass)
        return dx
    }
}

/// One per-channel pass of BatchNorm2d over a range of channels, x (N, C, H·W):
/// - sum: moments[c] = Σx; squaredDeviations: moments[c] = Σ(x − μ)²;
/// - normalize: out = γ·x̂ + β, x̂ = (x − μ)·rstd;
/// - gradientSums: moments[c] = Σdy, moments[C + c] = Σdy·x̂, added to dβ and dγ when given;
/// - inputGradient: out = γ·rstd·(dy − Σdy/M − x̂·Σdy·x̂/M); inputGradientEval: out = γ·rstd·dy.
private struct ChannelPass: ChunkTask {
    enum Kind { case sum, squaredDeviations, normalize, gradientSums, inputGradient, inputGradientEval }
    var kind: Kind
    let x: UnsafeMutablePointer<Float>
    let shape: Shape
    let mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>
    let moments: UnsafeMutablePointer<Double>
    var gamma: UnsafeMutablePointer<Float>?, beta: UnsafeMutablePointer<Float>?
    var dy: UnsafeMutablePointer<Float>?, out: UnsafeMutablePointer<Float>?
    var dgamma: UnsafeMutablePointer<Float>?, dbeta: UnsafeMutablePointer<Float>?
    var count: Float = 1

    init(kind: Kind, x: UnsafeMutablePointer<Float>, shape: Shape, mean: UnsafeMutablePointer<Float>,
         rstd: UnsafeMutablePointer<Float>, moments: UnsafeMutablePointer<Double>) {
        (self.kind, self.x, self.shape, self.mean, self.rstd, self.moments) = (kind, x, shape, mean, rstd, moments)
    }

    func run(_ channels: Range<Int>) {
        for c in channels { run(channel: c) }
    }

    /// Sums run over 8 lanes of Double (the same additions as one Double accumulator, in
    /// eight interleaved orders: within 1 ulp of Float after the final rounding).
    private typealias D = SIMD8<Double>

    private func run(channel c: Int) {
        let C = shape.c, plane = shape.planeCount
        let mu = mean[c], r = rstd[c]
        switch kind {
        case .sum:
            var sum = D()
            for n in 0..<shape.n {
                let p = x + (n * C + c) * plane
                eightLanes(plane) { i in sum += D(load8(p, i)) } tail: { i, mask in sum += D(load8(p, i, mask)) }
            }
            moments[c] = sum.sum()
        case .squaredDeviations:
            let mu = Double(mu), mus = D(repeating: mu)
            var sq = D(), tailSq: Double = 0
            for n in 0..<shape.n {
                let p = x + (n * C + c) * plane
                eightLanes(plane) { i in
                    let d = D(load8(p, i)) - mus
                    sq += d * d
                } tail: { i, mask in
                    for k in 0..<8 where mask[k] { let d = Double(p[i + k]) - mu; tailSq += d * d }
                }
            }
            moments[c] = sq.sum() + tailSq
        case .normalize:
            let g = gamma![c], b = beta![c], y = out!
            for n in 0..<shape.n {
                let off = (n * C + c) * plane
                let p = x + off, o = y + off
                lanewise(0..<plane, p, into: o) { x in g * ((x - mu) * r) + b }
            }
        case .gradientSums:
            var sums = D(), products = D()
            for n in 0..<shape.n {
                let off = (n * C + c) * plane
                let d = dy! + off, p = x + off
                // Masked-off lanes load as zero, so their products are zero too.
                eightLanes(plane) { i in
                    let dyi = load8(d, i)
                    sums += D(dyi)
                    products += D(dyi * ((load8(p, i) - mu) * r))
                } tail: { i, mask in
                    let dyi = load8(d, i, mask)
                    sums += D(dyi)
                    products += D(dyi * ((load8(p, i, mask) - mu) * r))
                }
            }
            let sumDy = sums.sum(), sumDyXhat = products.sum()
            if let dgamma, let dbeta {
                dgamma[c] += Float(sumDyXhat)
                dbeta[c] += Float(sumDy)
            }
            moments[c] = sumDy
            moments[C + c] = sumDyXhat
        case .inputGradient, .inputGradientEval:
            let k = gamma![c] * r
            let meanDy = Float(moments[c]) / count, meanDyXhat = Float(moments[C + c]) / count
            for n in 0..<shape.n {
                let off = (n * C + c) * plane
                let d = dy! + off, p = x + off, o = out! + off
                if kind == .inputGradient {
                    lanewise(0..<plane, d, p, into: o) { d, x in k * (d - meanDy - ((x - mu) * r) * meanDyXhat) }
                } else {
                    lanewise(0..<plane, d, into: o) { d in k * d }
                }
            }
        }
    }
}
