import Tensor

/// 2-D convolution, `torch.nn.Conv2d(inputChannels, outputChannels, kernelSize, stride,
/// padding, bias=bias)`.
///
/// Parameters `<name>.weight` (OC, C, K, K) and `<name>.bias` (OC).
/// x (N, C, H, W) → y (N, OC, OH, OW) with OH = (H + 2P − K) / S + 1.
///
/// Per sample: cols = im2col(x[n]) (C·K·K, OH·OW); y[n] = W (OC, C·K·K) · cols + b, in
/// blocks of output rows (`maxColumnFloats`).
/// Backward recomputes cols instead of caching them (memory over a cheap copy):
/// dW += dy[n] · colsᵀ, db += Σ dy[n], dx[n] = col2im(Wᵀ · dy[n]).
///
/// Few output channels (PatchGAN's 512 → 1 logits): the columns would be C·K² rows of
/// OH·OW (30 MB at 256²) for a GEMM with one row, so the unfolding moves to the output
/// side, where it has only K² rows per output channel (W_o is channel o's (C, K²) slice):
/// y[o] = gather(W_oᵀ · x) (Z[k, ·] shifted by tap k and summed); with S_o = scatter(dy[o])
/// (dy[o] placed at the input pixel each tap reads), dx = Σ_o W_o · S_o and
/// dW_o += x · S_oᵀ. The same sums in another order: equal within float rounding.
///
/// Stride-1 3×3 and 4×4 layers and 4×4 stride-2 padding-1 layers (U-Net's and PatchGAN's)
/// run Winograd's minimal filtering instead where it pays (`WinogradConvolution`,
/// `algorithm`): 2.25 to 4 times fewer multiplications, within fp32 rounding of unfolding.
public final class Conv2d {
    /// How a convolution is computed: `.automatic` picks Winograd where it applies and pays
    /// (`WinogradConvolution.pays`); `.unfold` always unfolds; `.winograd` uses Winograd
    /// wherever it applies (tests compare each with PyTorch).
    public enum Algorithm: String, Sendable, CaseIterable { case automatic, unfold, winograd }

    public let inputChannels: Int
    public let outputChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let weight: ParameterArena.Entry
    public let bias: ParameterArena.Entry?

    private let output = TensorBuffer()
    private let inputGrad = TensorBuffer()
    /// im2col/col2im columns, needed only within one call: layers of a network may share one
    /// workspace (`workspace:`), which saves one buffer per layer (up to 16 MB each at 256²).
    private let cols: TensorBuffer
    private var input: Tensor?
    /// The most floats one block of columns may hold (4 MB): im2col and the GEMMs go block by
    /// block of output rows, so the columns are read back from cache, not memory, and the
    /// shared workspace stays small (at 512², 67 MB → 8 MB; 11 % faster steps). Winograd goes
    /// through the batch in chunks of samples whose products hold at most as many (at least
    /// one sample a chunk).
    public var maxColumnFloats = 1 << 20
    /// The fewest columns a block should span: narrower GEMMs, split over the threads, lose
    /// speed (measured on D's 4096-row 256→512 layer).
    public var minColumnsPerBlock = 2048
    public var algorithm = Algorithm.automatic
    /// The Winograd path, for the layers whose kernel and stride allow it.
    private let winograd: WinogradConvolution?
    /// Keep derived weights across calls (`Convolution.weightsFrozen`): Winograd's U, or for
    /// an input whose border taps read only padding (`ConvGeometry.liveTaps`) the kernels cut
    /// to the live taps, so the unfolded product reads only those weights (U-Net's innermost
    /// layer at 256²: 4 of its 16 MB).
    public var weightsFrozen = false {
        didSet {
            winograd?.weightsFrozen = weightsFrozen
            trimmedWeight = nil
        }
    }
    private var trimmedWeight: (taps: Range<Int>, values: TensorBuffer)?
    /// See `Convolution.weightsAsInLastForward`.
    public var weightsAsInLastForward = false {
        didSet { winograd?.weightsAsInLastForward = weightsAsInLastForward }
    }

    /// `workspace` and `winogradWorkspace`: scratch buffers that the layers of a network may share.
    public init(
        _ inputChannels: Int, _ outputChannels: Int, kernelSize: Int, stride: Int = 1,
        padding: Int = 0, bias: Bool = true, name: String, arena: ParameterArena,
        workspace: TensorBuffer? = nil, winogradWorkspace: WinogradWorkspace? = nil
    ) {
        cols = workspace ?? TensorBuffer()
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        let layout: WinogradLayout? = stride == 1 && (kernelSize == 3 || kernelSize == 4)
            ? .convolution(kernel: kernelSize, padding: padding)
            : (kernelSize == 4 && stride == 2 && padding == 1 ? .stridedConvolution : nil)
        let columns = cols
        winograd = layout.map {
            WinogradConvolution($0, inputChannels: inputChannels, outputChannels: outputChannels, workspace: columns,
                                shared: winogradWorkspace ?? WinogradWorkspace())
        }
        weight = arena.parameter(
            join(name, "weight"), shape: [outputChannels, inputChannels, kernelSize, kernelSize])
        self.bias = bias ? arena.parameter(join(name, "bias"), shape: [outputChannels]) : nil
    }

    public func geometry(for s: Shape) -> ConvGeometry {
        ConvGeometry(channels: s.c, height: s.h, width: s.w, kernel: kernelSize, stride: stride,
                     padding: padding)
    }

    public func outputShape(for s: Shape) -> Shape {
        let g = geometry(for: s)
        return Shape(s.n, outputChannels, g.outHeight, g.outWidth)
    }

    /// Multiply-adds ×2 of one forward pass (the GEMMs), for GFLOP/s reports.
    public func flops(for s: Shape) -> Double {
        let g = geometry(for: s)
        return 2 * Double(s.n * outputChannels * g.colRows * g.colCols)
    }

    /// FLOPs of the last forward pass (0 before any); backward costs the same per gradient.
    public var lastForwardFlops: Double { input.map { flops(for: $0.shape) } ?? 0 }

    /// Whether the unfolding goes to the output side: when its buffer (OC·K² rows of H·W)
    /// is at most a quarter of the input-side columns (C·K² rows of OH·OW).
    public func unfoldsOutput(_ g: ConvGeometry) -> Bool {
        !g.isIdentity && 4 * outputChannels * g.height * g.width <= g.channels * g.colCols
    }

    /// Whether the layer runs Winograd on an input of shape `x` (see `algorithm`).
    public func usesWinograd(for x: Shape) -> Bool {
        guard let winograd, !unfoldsOutput(geometry(for: x)) else { return false }
        switch algorithm {
        case .unfold: return false
        case .winograd: return true
        case .automatic: return winograd.pays(for: x, output: outputShape(for: x))
        }
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.c == inputChannels, "Conv2d expects \(inputChannels) channels, got \(x.shape)")
        var g = geometry(for: x.shape)
        let y = output.view(outputShape(for: x.shape))
        var w = weight.value
        input = x
        if let winograd, usesWinograd(for: x.shape) {
            winograd.forward(x, weight: w, into: y, chunkFloats: maxColumnFloats)
            if let bias { addBias(bias.value, to: y) }
            return y
        }
        let outputSide = unfoldsOutput(g)
        if weightsFrozen, !outputSide, let taps = g.liveTaps {
            w = frozenTrimmedWeight(taps)
            g = g.trimmed(to: taps)
        }
        let plane = g.colCols, taps = kernelSize * kernelSize, pixels = g.height * g.width
        for n in 0..<x.shape.n {
            if outputSide {
                let z = cols.view(Shape(1, 1, taps, pixels)).data
                for o in 0..<outputChannels {
                    sgemm(transA: true, m: taps, n: pixels, k: inputChannels, a: w + o * g.colRows, lda: taps,
                          b: x.sample(n), ldb: pixels, c: z, ldc: pixels)
                    gatherTaps(z, g, y.sample(n) + o * plane)
                }
            } else {
                g.forEachRowBlock(maxFloats: maxColumnFloats, minColumns: minColumnsPerBlock) { rows, span in
                    let c = columns(x.sample(n), g, rows)
                    sgemm(m: outputChannels, n: span, k: g.colRows, a: w, lda: g.colRows,
                          b: c, ldb: span, c: y.sample(n) + rows.lowerBound * g.outWidth, ldc: plane)
                }
            }
        }
        if let bias { addBias(bias.value, to: y) }
        return y
    }

    /// The kernels cut to `taps` (OC, C, k, k), made on the first call for them while frozen.
    private func frozenTrimmedWeight(_ taps: Range<Int>) -> UnsafeMutablePointer<Float> {
        if let kept = trimmedWeight, kept.taps == taps { return kept.values.base }
        let values = TensorBuffer(capacity: outputChannels * inputChannels * taps.count * taps.count)
        copyTaps(weight.value, kernels: outputChannels * inputChannels, kernel: kernelSize, taps: taps, into: values.base)
        trimmedWeight = (taps, values)
        return values.base
    }

    /// Accumulates dW and db unless `parameterGradients` is false (a frozen network, as D
    /// in the generator step); returns dx unless `inputGradient` is false (first layer).
    @discardableResult
    public func backward(_ dy: Tensor, inputGradient: Bool = true, parameterGradients: Bool = true) -> Tensor? {
        if let winograd, let x = input, usesWinograd(for: x.shape) {
            // One pass: both gradients start from the same transformed dy.
            let dx = inputGradient ? inputGrad.view(x.shape) : nil
            if parameterGradients, let bias { addBiasGradient(dy, into: bias.grad) }
            winograd.backward(dy, input: x, inputGradient: dx,
                              weightGradient: parameterGradients ? weight.grad : nil, chunkFloats: maxColumnFloats)
            return dx
        }
        if parameterGradients { accumulateParameterGradients(dy) }
        return inputGradient ? self.inputGradient(dy) : nil
    }

    /// dW += dy[n] · im2col(x[n])ᵀ (or dW_o += x[n] · scatter(dy[n, o])ᵀ) and db += Σ dy[n]
    /// over the batch.
    public func accumulateParameterGradients(_ dy: Tensor) {
        guard let x = input else { preconditionFailure("Conv2d.backward before forward") }
        let g = geometry(for: x.shape)
        let plane = g.colCols
        let taps = kernelSize * kernelSize, pixels = g.height * g.width
        if usesWinograd(for: x.shape) {
            backward(dy, inputGradient: false)
            return
        }
        if let bias { addBiasGradient(dy, into: bias.grad) }
        for n in 0..<x.shape.n {
            let d = dy.sample(n)
            if unfoldsOutput(g) {
                let s = cols.view(Shape(1, 1, taps, pixels)).data
                for o in 0..<outputChannels {
                    scatterTaps(d + o * plane, g, s)
                    sgemm(transB: true, m: inputChannels, n: taps, k: pixels, a: x.sample(n), lda: pixels,
                          b: s, ldb: pixels, beta: 1, c: weight.grad + o * g.colRows, ldc: taps)
                }
            } else {
                g.forEachRowBlock(maxFloats: maxColumnFloats, minColumns: minColumnsPerBlock) { rows, span in
                    sgemm(transB: true, m: outputChannels, n: g.colRows, k: span,
                          a: d + rows.lowerBound * g.outWidth, lda: plane, b: columns(x.sample(n), g, rows),
                          ldb: span, beta: 1, c: weight.grad, ldc: g.colRows)
                }
            }
        }
    }

    /// dx[n] = col2im(Wᵀ · dy[n]) (or Σ_o W_o · scatter(dy[n, o]), see the type's notes).
    public func inputGradient(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("Conv2d.backward before forward") }
        let g = geometry(for: x.shape)
        let plane = g.colCols
        let dx = inputGrad.view(x.shape)
        let taps = kernelSize * kernelSize, pixels = g.height * g.width
        if usesWinograd(for: x.shape) { return backward(dy, parameterGradients: false)! }
        for n in 0..<x.shape.n {
            if unfoldsOutput(g) {
                let s = cols.view(Shape(1, 1, taps, pixels)).data
                for o in 0..<outputChannels {
                    scatterTaps(dy.sample(n) + o * plane, g, s)
                    sgemm(m: inputChannels, n: pixels, k: taps, a: weight.value + o * g.colRows, lda: taps,
                          b: s, ldb: pixels, beta: o == 0 ? 0 : 1, c: dx.sample(n), ldc: pixels)
                }
                continue
            }
            if g.isIdentity {
                sgemm(transA: true, m: g.colRows, n: plane, k: outputChannels, a: weight.value,
                      lda: g.colRows, b: dy.sample(n), ldb: plane, c: dx.sample(n), ldc: plane)
                continue
            }
            foldedProduct(weight.value, dy.sample(n), k: outputChannels, g, into: dx.sample(n), columns: cols,
                          maxFloats: maxColumnFloats, minColumns: minColumnsPerBlock)
        }
        return dx
    }

    /// The column matrix of output rows `rows` of one sample (the sample itself for 1×1
    /// stride-1 convolutions, whose one block is every row).
    private func columns(_ x: UnsafeMutablePointer<Float>, _ g: ConvGeometry, _ rows: Range<Int>) -> UnsafeMutablePointer<Float> {
        if g.isIdentity { return x }
        let c = cols.view(Shape(1, 1, g.colRows, rows.count * g.outWidth)).data
        im2col(x, g, c, rows: rows)
        return c
    }
}

/// Calls `body(k, input, output, ows)` for every tap k = kh·K + kw and output row oh whose
/// input row lies inside the image: output pixel `output + ow` (ow in `ows`) reads input
/// pixel `input + ow·S` through tap k.
private func forEachTapRow(_ g: ConvGeometry, _ body: (Int, Int, Int, Range<Int>) -> Void) {
    let H = g.height, W = g.width, K = g.kernel, S = g.stride, P = g.padding
    for kh in 0..<K {
        for kw in 0..<K {
            let (owLo, owHi) = validRange(offset: kw - P, stride: S, extent: W, count: g.outWidth)
            for oh in 0..<g.outHeight {
                let ih = oh * S - P + kh
                if ih < 0 || ih >= H { continue }
                body(kh * K + kw, ih * W + (kw - P), oh * g.outWidth, owLo..<owHi)
            }
        }
    }
}

/// y[oh, ow] = Σ_k z[k, ih·W + iw] over the taps k = (kh, kw) whose input pixel
/// (ih, iw) = (oh·S − P + kh, ow·S − P + kw) lies inside the image: z is (K², H·W), y is
/// (OH, OW) and is overwritten.
private func gatherTaps(_ z: UnsafePointer<Float>, _ g: ConvGeometry, _ y: UnsafeMutablePointer<Float>) {
    let pixels = g.height * g.width, S = g.stride
    y.update(repeating: 0, count: g.colCols)
    forEachTapRow(g) { k, input, output, ows in
        let src = z + k * pixels + input, dst = y + output
        for ow in ows { dst[ow] += src[ow * S] }
    }
}

/// The adjoint of `gatherTaps`: s[k, ih·W + iw] = dy[oh, ow] for the output pixel that tap k
/// reads input pixel (ih, iw) for, 0 where there is none. dy is (OH, OW), s is (K², H·W).
private func scatterTaps(_ dy: UnsafePointer<Float>, _ g: ConvGeometry, _ s: UnsafeMutablePointer<Float>) {
    let pixels = g.height * g.width, S = g.stride
    s.update(repeating: 0, count: g.kernel * g.kernel * pixels)
    forEachTapRow(g) { k, input, output, ows in
        let dst = s + k * pixels + input, src = dy + output
        for ow in ows { dst[ow * S] = src[ow] }
    }
}

/// `prefix.suffix`, or `suffix` alone for an unnamed layer.
func join(_ prefix: String, _ suffix: String) -> String {
    prefix.isEmpty ? suffix : "\(prefix).\(suffix)"
}

/// out[r] += Σ_j m[r, j] for a (rows, cols) matrix, summed in Double: rows split over the
/// compute threads, each row in four interleaved partial sums (one chain of dependent Double
/// adds took 0.53 ms for D conv1's 64 × 16 384 bias gradient on one thread, these 0.22 ms).
func addRowSums(_ m: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>) {
    parallelChunks(rows, minimumChunk: max(1, 65_536 / max(cols, 1)), RowSums(m: m, cols: cols, out: out))
}

private struct RowSums: ChunkTask {
    let m: UnsafePointer<Float>, cols: Int, out: UnsafeMutablePointer<Float>

    func run(_ rows: Range<Int>) {
        for r in rows {
            let row = m + r * cols
            var s0: Double = 0, s1: Double = 0, s2: Double = 0, s3: Double = 0
            var j = 0
            while j + 4 <= cols {
                s0 += Double(row[j]); s1 += Double(row[j + 1]); s2 += Double(row[j + 2]); s3 += Double(row[j + 3])
                j += 4
            }
            while j < cols { s0 += Double(row[j]); j += 1 }
            out[r] += Float((s0 + s1) + (s2 + s3))
        }
    }
}
