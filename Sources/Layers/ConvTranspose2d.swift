import Tensor

/// Transposed 2-D convolution, `torch.nn.ConvTranspose2d(inputChannels, outputChannels,
/// kernelSize, stride, padding, output_padding, bias=bias)`: the adjoint of `Conv2d`.
///
/// Parameters `<name>.weight` (C, OC, K, K) — PyTorch's layout, input channels first —
/// and `<name>.bias` (OC). x (N, C, H, W) → y (N, OC, OH, OW) with
/// OH = (H − 1)·S − 2P + K + output_padding.
///
/// Per sample: cols = Wᵀ (OC·K·K, C) · x[n] (C, H·W); y[n] = col2im(cols) + b, where the
/// col2im geometry is that of a convolution from (OH, OW) down to (H, W).
/// Backward: dcols = im2col(dy[n]); dx[n] = W · dcols; dW += x[n] · dcolsᵀ; db += Σ dy[n].
/// All of it in blocks of input rows (`maxColumnFloats`), as Conv2d.
///
/// 4×4 stride-2 padding-1 layers (U-Net's) run Winograd's F(3×3, 2×2) on the output's four
/// phases instead where it pays (`WinogradConvolution`, `algorithm`, as Conv2d).
public final class ConvTranspose2d {
    public let inputChannels: Int
    public let outputChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let outputPadding: Int
    public let weight: ParameterArena.Entry
    public let bias: ParameterArena.Entry?

    private let output = TensorBuffer()
    private let inputGrad = TensorBuffer()
    /// im2col/col2im columns, needed only within one call: layers of a network may share one
    /// workspace (`workspace:`), which saves one buffer per layer (up to 16 MB each at 256²).
    private let cols: TensorBuffer
    private var input: Tensor?
    /// The most floats one block of columns may hold, and the fewest columns it should
    /// span (see Conv2d).
    public var maxColumnFloats = 1 << 20
    public var minColumnsPerBlock = 2048
    public var algorithm = Conv2d.Algorithm.automatic
    /// The Winograd path, for the layers whose kernel and stride allow it.
    private let winograd: WinogradConvolution?
    /// Keep derived weights across calls (`Convolution.weightsFrozen`): Winograd's U, or Wᵀ
    /// (OC·K·K, C) for the unfolded forward, whose Wᵀ · x then needs no transposed packing
    /// (OpenBLAS's `sgemm_otcopy` was 10 % of a translate at 256²). For an input whose
    /// outputs see only some taps (`ConvGeometry.liveTaps`: U-Net's innermost 1×1 → 2×2 layer
    /// at 256², 4 of 16), Wᵀ holds those taps only, and the product reads only their weights.
    public var weightsFrozen = false {
        didSet {
            winograd?.weightsFrozen = weightsFrozen
            transposedWeight = nil
        }
    }
    private var transposedWeight: (taps: Range<Int>, values: TensorBuffer)?
    /// See `Convolution.weightsAsInLastForward`.
    public var weightsAsInLastForward = false {
        didSet { winograd?.weightsAsInLastForward = weightsAsInLastForward }
    }

    public init(
        _ inputChannels: Int, _ outputChannels: Int, kernelSize: Int, stride: Int = 1,
        padding: Int = 0, outputPadding: Int = 0, bias: Bool = true, name: String,
        arena: ParameterArena, workspace: TensorBuffer? = nil, winogradWorkspace: WinogradWorkspace? = nil
    ) {
        cols = workspace ?? TensorBuffer()
        winograd = kernelSize == 4 && stride == 2 && padding == 1 && outputPadding == 0
            ? WinogradConvolution(.transposedConvolution, inputChannels: inputChannels, outputChannels: outputChannels,
                                  workspace: cols, shared: winogradWorkspace ?? WinogradWorkspace())
            : nil
        precondition(outputPadding < max(stride, 1), "output_padding must be smaller than stride")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        weight = arena.parameter(
            join(name, "weight"), shape: [inputChannels, outputChannels, kernelSize, kernelSize])
        self.bias = bias ? arena.parameter(join(name, "bias"), shape: [outputChannels]) : nil
    }

    public func outputShape(for s: Shape) -> Shape {
        Shape(s.n, outputChannels,
              (s.h - 1) * stride - 2 * padding + kernelSize + outputPadding,
              (s.w - 1) * stride - 2 * padding + kernelSize + outputPadding)
    }

    /// The convolution geometry whose input is our output and whose output is our input.
    public func geometry(for s: Shape) -> ConvGeometry {
        let o = outputShape(for: s)
        return ConvGeometry(channels: outputChannels, height: o.h, width: o.w, kernel: kernelSize,
                            stride: stride, padding: padding, outHeight: s.h, outWidth: s.w)
    }

    public func flops(for s: Shape) -> Double {
        2 * Double(s.n * inputChannels * outputChannels * kernelSize * kernelSize * s.h * s.w)
    }

    /// FLOPs of the last forward pass (0 before any); backward costs the same per gradient.
    public var lastForwardFlops: Double { input.map { flops(for: $0.shape) } ?? 0 }

    /// Whether the layer runs Winograd on an input of shape `x` (see `algorithm`).
    public func usesWinograd(for x: Shape) -> Bool {
        guard let winograd else { return false }
        switch algorithm {
        case .unfold: return false
        case .winograd: return true
        case .automatic: return winograd.pays(for: x, output: outputShape(for: x))
        }
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.c == inputChannels, "ConvTranspose2d expects \(inputChannels) channels, got \(x.shape)")
        let y = output.view(outputShape(for: x.shape))
        input = x
        if let winograd, usesWinograd(for: x.shape) {
            winograd.forward(x, weight: weight.value, into: y, chunkFloats: maxColumnFloats)
            if let bias { addBias(bias.value, to: y) }
            return y
        }
        var g = geometry(for: x.shape)
        var wT: UnsafePointer<Float>?
        if weightsFrozen {
            let taps = g.liveTaps ?? 0..<kernelSize
            wT = frozenTransposedWeight(taps)
            g = g.trimmed(to: taps)
        }
        for n in 0..<x.shape.n {
            foldedProduct(wT ?? UnsafePointer(weight.value), aTransposed: wT != nil, x.sample(n), k: inputChannels, g,
                          into: y.sample(n), columns: cols, maxFloats: maxColumnFloats, minColumns: minColumnsPerBlock)
        }
        if let bias { addBias(bias.value, to: y) }
        return y
    }

    /// Wᵀ (OC·k·k, C) for the kernels cut to `taps` (all K of them, or the live ones), made
    /// on the first call for them after the weights were frozen.
    private func frozenTransposedWeight(_ taps: Range<Int>) -> UnsafePointer<Float> {
        if let kept = transposedWeight, kept.taps == taps { return UnsafePointer(kept.values.base) }
        let rows = outputChannels * taps.count * taps.count
        let wT = TensorBuffer(capacity: inputChannels * rows)
        if taps.count == kernelSize {
            transpose(UnsafePointer(weight.value), rows: inputChannels, cols: rows, into: wT.base)
        } else {
            let cut = TensorBuffer(capacity: inputChannels * rows)
            copyTaps(weight.value, kernels: inputChannels * outputChannels, kernel: kernelSize, taps: taps, into: cut.base)
            transpose(UnsafePointer(cut.base), rows: inputChannels, cols: rows, into: wT.base)
        }
        transposedWeight = (taps, wT)
        return UnsafePointer(wT.base)
    }

    /// Accumulates dW and db unless `parameterGradients` is false; returns dx unless
    /// `inputGradient` is false. The columns of dy are unfolded once and serve both.
    @discardableResult
    public func backward(_ dy: Tensor, inputGradient: Bool = true, parameterGradients: Bool = true) -> Tensor? {
        guard let x = input else { preconditionFailure("ConvTranspose2d.backward before forward") }
        let dx = inputGradient ? inputGrad.view(x.shape) : nil
        if parameterGradients, let bias { addBiasGradient(dy, into: bias.grad) }
        if let winograd, usesWinograd(for: x.shape) {
            winograd.backward(dy, input: x, inputGradient: dx,
                              weightGradient: parameterGradients ? weight.grad : nil, chunkFloats: maxColumnFloats)
            return dx
        }
        let g = geometry(for: x.shape)
        for n in 0..<x.shape.n {
            g.forEachRowBlock(maxFloats: maxColumnFloats, minColumns: minColumnsPerBlock) { rows, span in
                let dc = unfold(dy, n, g, rows)
                if parameterGradients { weightGradient(dc, x, n, g, rows) }
                if let dx { self.inputGradient(columns: dc, into: dx, n, g, rows) }
            }
        }
        return dx
    }

    /// dW += x[n] · im2col(dy[n])ᵀ and db += Σ dy[n] over the batch (benchmarks time this alone).
    public func accumulateParameterGradients(_ dy: Tensor) {
        backward(dy, inputGradient: false, parameterGradients: true)
    }

    /// dx[n] = W · im2col(dy[n]) (benchmarks time this alone).
    public func inputGradient(_ dy: Tensor) -> Tensor {
        backward(dy, inputGradient: true, parameterGradients: false)!
    }

    /// im2col of dy[n] for input rows `rows`: (OC·K·K, rows·W).
    private func unfold(_ dy: Tensor, _ n: Int, _ g: ConvGeometry, _ rows: Range<Int>) -> UnsafeMutablePointer<Float> {
        let dc = cols.view(Shape(1, 1, g.colRows, rows.count * g.outWidth)).data
        im2col(dy.sample(n), g, dc, rows: rows)
        return dc
    }

    private func weightGradient(_ dc: UnsafeMutablePointer<Float>, _ x: Tensor, _ n: Int, _ g: ConvGeometry,
                                _ rows: Range<Int>) {
        sgemm(transB: true, m: inputChannels, n: g.colRows, k: rows.count * g.outWidth,
              a: x.sample(n) + rows.lowerBound * g.outWidth, lda: g.colCols,
              b: dc, ldb: rows.count * g.outWidth, beta: 1, c: weight.grad, ldc: g.colRows)
    }

    private func inputGradient(columns dc: UnsafeMutablePointer<Float>, into dx: Tensor, _ n: Int,
                               _ g: ConvGeometry, _ rows: Range<Int>) {
        let span = rows.count * g.outWidth
        sgemm(m: inputChannels, n: span, k: g.colRows, a: weight.value, lda: g.colRows,
              b: dc, ldb: span, c: dx.sample(n) + rows.lowerBound * g.outWidth, ldc: g.colCols)
    }
}
