import Tensor

/// Instance normalisation as pix2pix uses it, `torch.nn.InstanceNorm2d(channels,
/// affine=False, track_running_stats=False)`: no parameters, no buffers, and the same
/// behaviour in training and eval.
///
/// x (N, C, H, W) → y, same shape: each (n, c) plane is normalised by its own mean and
/// biased variance, y = (x − μ)/√(σ² + ε).
/// Backward per plane: dx = rstd/M · (M·dy − Σdy − y·Σ(dy·y)), M = H·W, with y recomputed
/// from the saved input (x must stay unchanged until then; the next layer may overwrite y,
/// as an in-place ReLU does). `inPlaceBackward` writes dx over dy.
public final class InstanceNorm2d {
    public let channels: Int
    public let eps: Float
    public var inPlaceBackward = false

    private let output = TensorBuffer()
    private let inputGrad = TensorBuffer()
    private let stats = TensorBuffer()     // rstd, then the mean, per (n, c)
    private var input: Tensor?

    public init(_ channels: Int, eps: Float = 1e-5) {
        self.channels = channels
        self.eps = eps
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.c == channels, "InstanceNorm2d expects \(channels) channels, got \(x.shape)")
        let s = x.shape, plane = s.planeCount
        let y = output.view(s)
        let rstd = stats.view(Shape(1, 2, s.n, s.c)).data, means = rstd + s.n * s.c
        parallelChunks(s.n * s.c, minimumChunk: max(1, (1 << 15) / max(1, plane)),
                       PlanePass(x: x.data, plane: plane, rstd: rstd, means: means, out: y.data, eps: eps))
        input = x
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("InstanceNorm2d.backward before forward") }
        let s = x.shape, plane = s.planeCount
        let dx = inPlaceBackward ? dy : inputGrad.view(s)
        let rstd = stats.view(Shape(1, 2, s.n, s.c)).data, means = rstd + s.n * s.c
        parallelChunks(s.n * s.c, minimumChunk: max(1, (1 << 15) / max(1, plane)),
                       PlanePass(x: x.data, plane: plane, rstd: rstd, means: means, out: dx.data, dy: dy.data))
        return dx
    }
}

/// InstanceNorm2d over a range of (n, c) planes: without `dy`, normalises x into `out` and
/// records each plane's rstd and mean; with it, writes dx into `out`.
private struct PlanePass: ChunkTask {
    let x: UnsafeMutablePointer<Float>, plane: Int
    let rstd: UnsafeMutablePointer<Float>, means: UnsafeMutablePointer<Float>
    let out: UnsafeMutablePointer<Float>
    var eps: Float = 0
    var dy: UnsafeMutablePointer<Float>?

    func run(_ planes: Range<Int>) {
        for k in planes {
            let p = x + k * plane, o = out + k * plane
            if let dy { backward(p, dy + k * plane, o, rstd[k], means[k]) } else { forward(k, p, o) }
        }
    }

    private func forward(_ k: Int, _ p: UnsafeMutablePointer<Float>, _ o: UnsafeMutablePointer<Float>) {
        var sum: Double = 0
        for i in 0..<plane { sum += Double(p[i]) }
        let mu = sum / Double(plane)
        var sq: Double = 0
        for i in 0..<plane { let d = Double(p[i]) - mu; sq += d * d }
        let r = Float(1 / (sq / Double(plane) + Double(eps)).squareRoot())
        let mean = Float(mu)
        rstd[k] = r
        means[k] = mean
        for i in 0..<plane { o[i] = (p[i] - mean) * r }
    }

    private func backward(_ p: UnsafeMutablePointer<Float>, _ d: UnsafeMutablePointer<Float>,
                          _ o: UnsafeMutablePointer<Float>, _ r: Float, _ mean: Float) {
        let m = Float(plane)
        var sumDy: Double = 0, sumDyY: Double = 0
        for i in 0..<plane {
            sumDy += Double(d[i])
            sumDyY += Double(d[i] * ((p[i] - mean) * r))
        }
        let meanDy = Float(sumDy) / m, meanDyY = Float(sumDyY) / m
        for i in 0..<plane { o[i] = r * (d[i] - meanDy - ((p[i] - mean) * r) * meanDyY) }
    }
}
