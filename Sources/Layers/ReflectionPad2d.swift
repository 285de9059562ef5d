import Tensor

/// `torch.nn.ReflectionPad2d(padding)`: mirrors the border without repeating the edge.
/// x (N, C, H, W) → y (N, C, H + 2P, W + 2P); needs P < H and P < W.
/// y[i, j] = x[r(i − P), r(j − P)] with r(k) = −k for k < 0, 2(L − 1) − k for k ≥ L.
/// Backward sums every output gradient into the input element it was copied from.
public final class ReflectionPad2d {
    public let padding: Int
    private let output = TensorBuffer()
    private let inputGrad = TensorBuffer()
    private var inputShape: Shape?

    public init(_ padding: Int) { self.padding = padding }

    public func outputShape(for s: Shape) -> Shape {
        Shape(s.n, s.c, s.h + 2 * padding, s.w + 2 * padding)
    }

    public func forward(_ x: Tensor) -> Tensor {
        let s = x.shape, P = padding
        precondition(P < s.h && P < s.w, "ReflectionPad2d(\(P)) needs an input larger than \(P), got \(s)")
        let y = output.view(outputShape(for: s))
        let OH = y.shape.h, OW = y.shape.w
        for k in 0..<(s.n * s.c) {
            let src = x.data + k * s.planeCount, dst = y.data + k * OH * OW
            for i in 0..<OH {
                let row = src + reflect(i - P, s.h) * s.w, out = dst + i * OW
                for j in 0..<OW { out[j] = row[reflect(j - P, s.w)] }
            }
        }
        inputShape = s
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let s = inputShape else { preconditionFailure("ReflectionPad2d.backward before forward") }
        let P = padding, OH = dy.shape.h, OW = dy.shape.w
        let dx = inputGrad.zeros(s)
        for k in 0..<(s.n * s.c) {
            let src = dy.data + k * OH * OW, dst = dx.data + k * s.planeCount
            for i in 0..<OH {
                let row = dst + reflect(i - P, s.h) * s.w, d = src + i * OW
                for j in 0..<OW { row[reflect(j - P, s.w)] += d[j] }
            }
        }
        return dx
    }
}

@inlinable func reflect(_ k: Int, _ length: Int) -> Int {
    k < 0 ? -k : (k >= length ? 2 * (length - 1) - k : k)
}
