import Tensor

/// Channel concatenation, `torch.cat([a, b], dim=1)`: the U-Net skip connection.
/// a (N, Ca, H, W), b (N, Cb, H, W) → y (N, Ca + Cb, H, W).
/// Backward splits dy by channel range into (da, db): views of dy for one sample (they
/// alias it), copies otherwise.
public final class Concat {
    private let output = TensorBuffer()
    private let gradA = TensorBuffer()
    private let gradB = TensorBuffer()
    private var shapes: (Shape, Shape)?

    public init() {}

    public func forward(_ a: Tensor, _ b: Tensor) -> Tensor {
        let sa = a.shape, sb = b.shape
        precondition(sa.n == sb.n && sa.h == sb.h && sa.w == sb.w, "concat of \(sa) and \(sb)")
        let y = output.view(Shape(sa.n, sa.c + sb.c, sa.h, sa.w))
        for n in 0..<sa.n {
            parallelCopy(from: a.sample(n), to: y.sample(n), count: sa.sampleCount)
            parallelCopy(from: b.sample(n), to: y.sample(n) + sa.sampleCount, count: sb.sampleCount)
        }
        shapes = (sa, sb)
        return y
    }

    public func backward(_ dy: Tensor) -> (Tensor, Tensor) {
        guard let (sa, sb) = shapes else { preconditionFailure("Concat.backward before forward") }
        if sa.n == 1 {   // one sample: both parts are contiguous in dy, so view them
            return (Tensor(shape: sa, data: dy.data), Tensor(shape: sb, data: dy.data + sa.count))
        }
        let da = gradA.view(sa), db = gradB.view(sb)
        for n in 0..<sa.n {
            parallelCopy(from: dy.sample(n), to: da.sample(n), count: sa.sampleCount)
            parallelCopy(from: dy.sample(n) + sa.sampleCount, to: db.sample(n), count: sb.sampleCount)
        }
        return (da, db)
    }
}
