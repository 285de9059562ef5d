import Tensor

/// Instance normalisation as pix2pix uses it, `torch.nn.InstanceNorm2d(channels,
/// affine=False, track_running_stats=False)`: no parameters, no buffers, and the same
/// behaviour in training and eval.
///
/// x (N, C, H, W) → y, same shape: each (n, c) plane is normalised by its own mean and
/// biased variance, y = (x − μ)/√(σ² + ε).
/// Backward per plane: dx = rstd/M · (M·dy − Σdy − y·Σ(dy·y)), M = H·W.
public final class InstanceNorm2d {
    public let channels: Int
    public let eps: Float

    private let output = TensorBuffer()
    private let inputGrad = TensorBuffer()
    private let stats = TensorBuffer()     // rstd per (n, c)
    private var y: Tensor?

    public init(_ channels: Int, eps: Float = 1e-5) {
        self.channels = channels
        self.eps = eps
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.c == channels, "InstanceNorm2d expects \(channels) channels, got \(x.shape)")
        let s = x.shape, plane = s.planeCount
        let y = output.view(s)
        let rstd = stats.view(Shape(1, 1, s.n, s.c)).data
        parallelChunks(s.n * s.c, minimumChunk: max(1, (1 << 15) / max(1, plane))) { planes in
        for k in planes {
            let p = x.data + k * plane, o = y.data + k * plane
            var sum: Double = 0
            for i in 0..<plane { sum += Double(p[i]) }
            let mu = sum / Double(plane)
            var sq: Double = 0
            for i in 0..<plane { let d = Double(p[i]) - mu; sq += d * d }
            let r = Float(1 / (sq / Double(plane) + Double(eps)).squareRoot())
            let mean = Float(mu)
            rstd[k] = r
            for i in 0..<plane { o[i] = (p[i] - mean) * r }
        }
        }
        self.y = y
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let y else { preconditionFailure("InstanceNorm2d.backward before forward") }
        let s = y.shape, plane = s.planeCount, m = Float(plane)
        let dx = inputGrad.view(s)
        let rstd = stats.view(Shape(1, 1, s.n, s.c)).data
        parallelChunks(s.n * s.c, minimumChunk: max(1, (1 << 15) / max(1, plane))) { planes in
        for k in planes {
            let d = dy.data + k * plane, q = y.data + k * plane, o = dx.data + k * plane
            var sumDy: Double = 0, sumDyY: Double = 0
            for i in 0..<plane {
                sumDy += Double(d[i])
                sumDyY += Double(d[i] * q[i])
            }
            let meanDy = Float(sumDy) / m, meanDyY = Float(sumDyY) / m, r = rstd[k]
            for i in 0..<plane { o[i] = r * (d[i] - meanDy - q[i] * meanDyY) }
        }
        }
        return dx
    }
}
