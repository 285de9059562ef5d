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

    private let output = TensorBuffer()
    private let inputGrad = TensorBuffer()
    private let normalized = TensorBuffer()
    private let stats = TensorBuffer(capacity: 0)   // rstd per channel
    private var xhat: Tensor?
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

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.c == channels, "BatchNorm2d expects \(channels) channels, got \(x.shape)")
        let s = x.shape, plane = s.planeCount, m = s.n * plane
        let y = output.view(s)
        let xh = normalized.view(s)
        let rstd = stats.view(Shape(1, 1, 1, channels)).data
        let gamma = weight.value, beta = bias.value
        let rm = runningMean.value, rv = runningVar.value
        for c in 0..<channels {
            var mean: Float, r: Float
            if isTraining {
                var sum: Double = 0
                for n in 0..<s.n {
                    let p = x.data + (n * channels + c) * plane
                    for i in 0..<plane { sum += Double(p[i]) }
                }
                let mu = sum / Double(m)
                var sq: Double = 0
                for n in 0..<s.n {
                    let p = x.data + (n * channels + c) * plane
                    for i in 0..<plane { let d = Double(p[i]) - mu; sq += d * d }
                }
                let variance = sq / Double(m)
                mean = Float(mu)
                r = Float(1 / (variance + Double(eps)).squareRoot())
                let unbiased = m > 1 ? sq / Double(m - 1) : variance
                rm[c] = (1 - momentum) * rm[c] + momentum * mean
                rv[c] = (1 - momentum) * rv[c] + momentum * Float(unbiased)
            } else {
                mean = rm[c]
                r = 1 / (rv[c] + eps).squareRoot()
            }
            rstd[c] = r
            let g = gamma[c], b = beta[c]
            for n in 0..<s.n {
                let off = (n * channels + c) * plane
                let p = x.data + off, q = xh.data + off, o = y.data + off
                for i in 0..<plane {
                    let v = (p[i] - mean) * r
                    q[i] = v
                    o[i] = g * v + b
                }
            }
        }
        if isTraining { numBatchesTracked += 1 }
        trainedForward = isTraining
        xhat = xh
        return y
    }

    /// Accumulates dγ and dβ (unless `parameterGradients` is false) and returns dx.
    ///
    /// Training: dx = γ·rstd/M · (M·dy − Σdy − x̂·Σ(dy·x̂)); eval: dx = γ·rstd·dy.
    public func backward(_ dy: Tensor, parameterGradients: Bool = true) -> Tensor {
        guard let xh = xhat else { preconditionFailure("BatchNorm2d.backward before forward") }
        let s = xh.shape, plane = s.planeCount, m = Float(s.n * plane)
        let dx = inputGrad.view(s)
        let rstd = stats.view(Shape(1, 1, 1, channels)).data
        let gamma = weight.value, dgamma = weight.grad, dbeta = bias.grad
        for c in 0..<channels {
            var sumDy: Double = 0, sumDyXhat: Double = 0
            for n in 0..<s.n {
                let off = (n * channels + c) * plane
                let d = dy.data + off, q = xh.data + off
                for i in 0..<plane {
                    sumDy += Double(d[i])
                    sumDyXhat += Double(d[i] * q[i])
                }
            }
            if parameterGradients {
                dgamma[c] += Float(sumDyXhat)
                dbeta[c] += Float(sumDy)
            }
            let k = gamma[c] * rstd[c]
            let meanDy = Float(sumDy) / m, meanDyXhat = Float(sumDyXhat) / m
            for n in 0..<s.n {
                let off = (n * channels + c) * plane
                let d = dy.data + off, q = xh.data + off, o = dx.data + off
                if trainedForward {
                    for i in 0..<plane { o[i] = k * (d[i] - meanDy - q[i] * meanDyXhat) }
                } else {
                    for i in 0..<plane { o[i] = k * d[i] }
                }
            }
        }
        return dx
    }
}
