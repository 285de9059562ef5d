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

    /// Runs `body` for every channel, the channels split across the rank's threads when the
    /// tensor is large (each channel touches only its own planes and statistics).
    private func forEachChannel(_ s: Shape, _ body: (Int) -> Void) {
        parallelChunks(channels, minimumChunk: max(1, (1 << 15) / max(1, s.n * s.planeCount))) { range in
            for c in range { body(c) }
        }
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.c == channels, "BatchNorm2d expects \(channels) channels, got \(x.shape)")
        let s = x.shape, plane = s.planeCount
        let y = output.view(s)
        let rstd = stats.view(Shape(1, 1, 2, channels)).data
        let mean = rstd + channels
        let gamma = weight.value, beta = bias.value
        let rm = runningMean.value, rv = runningVar.value
        let C = channels
        if isTraining {
            // Two passes, as two allreduces when synchronised: the mean, then the squared
            // deviations from it (more accurate than Σx² − (Σx)²/M).
            forEachChannel(s) { c in
                var sum: Double = 0
                for n in 0..<s.n {
                    let p = x.data + (n * C + c) * plane
                    for i in 0..<plane { sum += Double(p[i]) }
                }
                moments[c] = sum
            }
            moments[C] = Double(s.n * plane)
            allreduce?(UnsafeMutableBufferPointer(rebasing: moments[0...C]))
            count = moments[C]
            for c in 0..<C { mean[c] = Float(moments[c] / count) }
            forEachChannel(s) { c in
                let mu = Double(mean[c])
                var sq: Double = 0
                for n in 0..<s.n {
                    let p = x.data + (n * C + c) * plane
                    for i in 0..<plane { let d = Double(p[i]) - mu; sq += d * d }
                }
                moments[c] = sq
            }
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
        forEachChannel(s) { c in
            let g = gamma[c], b = beta[c], mu = mean[c], r = rstd[c]
            for n in 0..<s.n {
                let off = (n * C + c) * plane
                let p = x.data + off, o = y.data + off
                for i in 0..<plane { o[i] = g * ((p[i] - mu) * r) + b }
            }
        }
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
        let s = x.shape, plane = s.planeCount, C = channels
        let dx = inPlaceBackward ? dy : inputGrad.view(s)
        let rstd = stats.view(Shape(1, 1, 2, channels)).data
        let mean = rstd + channels
        let gamma = weight.value, dgamma = weight.grad, dbeta = bias.grad
        forEachChannel(s) { c in
            var sumDy: Double = 0, sumDyXhat: Double = 0
            let mu = mean[c], r = rstd[c]
            for n in 0..<s.n {
                let off = (n * C + c) * plane
                let d = dy.data + off, p = x.data + off
                for i in 0..<plane {
                    sumDy += Double(d[i])
                    sumDyXhat += Double(d[i] * ((p[i] - mu) * r))
                }
            }
            if parameterGradients {
                dgamma[c] += Float(sumDyXhat)
                dbeta[c] += Float(sumDy)
            }
            moments[c] = sumDy
            moments[C + c] = sumDyXhat
        }
        if trainedForward { allreduce?(UnsafeMutableBufferPointer(rebasing: moments[0..<(2 * C)])) }
        let m = Float(trainedForward ? count : 1)
        forEachChannel(s) { c in
            let k = gamma[c] * rstd[c], mu = mean[c], r = rstd[c]
            let meanDy = Float(moments[c]) / m, meanDyXhat = Float(moments[C + c]) / m
            for n in 0..<s.n {
                let off = (n * C + c) * plane
                let d = dy.data + off, p = x.data + off, o = dx.data + off
                if trainedForward {
                    for i in 0..<plane { o[i] = k * (d[i] - meanDy - ((p[i] - mu) * r) * meanDyXhat) }
                } else {
                    for i in 0..<plane { o[i] = k * d[i] }
                }
            }
        }
        return dx
    }
}
