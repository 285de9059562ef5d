import Tensor

/// What Conv2d and ConvTranspose2d share: the interface benchmarks and tests drive.
public protocol Convolution: AnyObject {
    var weight: ParameterArena.Entry { get }
    var bias: ParameterArena.Entry? { get }
    func forward(_ x: Tensor) -> Tensor
    /// dx for the last forward's input.
    func inputGradient(_ dy: Tensor) -> Tensor
    /// dW (and db) += the last forward's contribution.
    func accumulateParameterGradients(_ dy: Tensor)
    /// Multiply-adds × 2 of a forward pass on an input of shape `s`.
    func flops(for s: Shape) -> Double
    /// Column blocks: the most floats one may hold (also a chunk of Winograd's products),
    /// the fewest columns it should span.
    var maxColumnFloats: Int { get set }
    var minColumnsPerBlock: Int { get set }
    var algorithm: Conv2d.Algorithm { get set }
    /// Whether the layer runs Winograd on an input of shape `x` (`algorithm`).
    func usesWinograd(for x: Shape) -> Bool
    /// Set while the weights stay as they are (translate, test): the layer then derives
    /// what its forward pass needs from them once (Winograd's U, a transposed convolution's
    /// Wᵀ) and keeps it, instead of once per call. Clearing it drops what was kept; whoever
    /// changes the weights while it is set gets the old ones' results.
    var weightsFrozen: Bool { get set }
    /// Set while the weights are those of the layer's last forward (the D step's second
    /// forward, on the real pair, before D's update): Winograd layers then use that forward's
    /// U again instead of transforming the same weights (the caller vouches for them).
    var weightsAsInLastForward: Bool { get set }
}

extension Conv2d: Convolution {}
extension ConvTranspose2d: Convolution {}

/// out (C, H, W) = col2im(aᵀ · b) for one sample, in blocks of g's output rows
/// (`ConvGeometry.forEachRowBlock`): a is (k, C·K·K), b is (k, OH·OW) and `columns` holds one
/// block. Conv2d's input gradient (a = W, b = dy) and ConvTranspose2d's forward (a = W, b = x).
/// `aTransposed`: a is given as aᵀ (C·K·K, k) instead, which spares OpenBLAS its transposed
/// packing of a on every call (`ConvTranspose2d.weightsFrozen`).
func foldedProduct(_ a: UnsafePointer<Float>, aTransposed: Bool = false, _ b: UnsafePointer<Float>, k: Int,
                   _ g: ConvGeometry, into out: UnsafeMutablePointer<Float>, columns: TensorBuffer,
                   maxFloats: Int, minColumns: Int) {
    out.update(repeating: 0, count: g.channels * g.height * g.width)
    g.forEachRowBlock(maxFloats: maxFloats, minColumns: minColumns) { rows, span in
        let c = columns.view(Shape(1, 1, g.colRows, span)).data
        sgemm(transA: !aTransposed, m: g.colRows, n: span, k: k, a: a, lda: aTransposed ? k : g.colRows,
              b: b + rows.lowerBound * g.outWidth, ldb: g.colCols, c: c, ldc: span)
        col2im(c, g, out, rows: rows)
    }
}

/// y[n, c, ·] += bias[c] for every sample.
func addBias(_ bias: UnsafePointer<Float>, to y: Tensor) {
    for n in 0..<y.shape.n {
        for c in 0..<y.shape.c {
            let row = y.sample(n) + c * y.shape.planeCount, v = bias[c]
            for i in 0..<y.shape.planeCount { row[i] += v }
        }
    }
}

/// db[c] += Σ dy[n, c, ·] over the batch, sample by sample.
func addBiasGradient(_ dy: Tensor, into grad: UnsafeMutablePointer<Float>) {
    for n in 0..<dy.shape.n { addRowSums(dy.sample(n), rows: dy.shape.c, cols: dy.shape.planeCount, into: grad) }
}
