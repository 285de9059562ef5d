import Tensor

/// The convolutions Winograd's minimal filtering (`WinogradTransform`) computes, each as a
/// stride-1 correlation with a small kernel on a virtual image (`TileMap`):
public enum WinogradLayout: Equatable, Sendable {
    /// Conv2d, stride 1, r×r (3 or 4), padding P: F(4×4, 3×3) or F(4×4, 4×4) on the image.
    case convolution(kernel: Int, padding: Int)
    /// Conv2d 4×4, stride 2, padding 1: y[i] = Σ_a W[a]·x[2i − 1 + a] splits by the parity p
    /// of a = 2α + p into a 2×2 correlation over 4·C virtual channels, (c, p, q) at
    /// (U, V) ↦ x[c, 2U + p − 1, 2V + q − 1], with W'[o, (c, p, q), α, β] = W[o, c, 2α + p, 2β + q].
    /// F(3×3, 2×2).
    case stridedConvolution
    /// ConvTranspose2d 4×4, stride 2, padding 1: output row Y = 2t − p′ of parity p′ is a
    /// 2×2 correlation of x (padded by 1) at t, taps α ↦ a = 3 − p′ − 2α: one correlation with
    /// 4·OC virtual output channels (o, p′, q′), W'[(o, p′, q′), c, α, β] = W[c, o, 3 − p′ − 2α,
    /// 3 − q′ − 2β]. F(3×3, 2×2).
    case transposedConvolution
}

/// Conv2d's and ConvTranspose2d's Winograd path (`WinogradLayout`): 36 or 16
/// multiplications per output tile instead of 144 or 36, in GEMMs; the transforms are GEMMs
/// too. With the batch's N·T tiles as columns (`WinogradTiling`), K′ and C′ the virtual
/// output and input channels, and one matrix per transform position ξ (n² of them):
///
///     forward   U = [G w Gᵀ]κ              (n², K′·C′)  w the r×r kernels of W′
///               V = kron(Bᵀ) · tiles(x)    (n², C′·NT)
///               M_ξ = U_ξ · V_ξ            (K′, NT)
///               y = place(kron(Aᵀ) · M)
///     backward  dM = kron(Aᵀ)ᵀ · collect(dy)
///               dx = scatter(kron(Bᵀ)ᵀ · [U_ξᵀ · dM_ξ]ξ)
///               dW′ = [Gᵀ dU_κ G]κ,  dU_ξ = dM_ξ · V_ξᵀ   (V recomputed from x)
///
/// The backward pass is the exact adjoint of the forward one, and the forward one equals
/// the convolution, so the gradients are the convolution's within float rounding (up to
/// 4·10⁻⁶ of each tensor's largest magnitude, F(4×4, 4×4)'s output; 5·10⁻⁷ for unfolding).
///
/// The buffers are shared by a network's layers (`WinogradWorkspace`, and the unfolding
/// workspace), except U and V, which a layer keeps from its forward for its backward: U
/// always (68 MB for unet_256 and PatchGAN, against 4.6 ms a step to transform the weights
/// again), V when training on a batch of one chunk (`keptV`, 39 MB at 256², against 8.6 ms a
/// step to transform the same input again).
final class WinogradConvolution {
    let layout: WinogradLayout
    let transform: WinogradTransform
    /// The real layer's channels.
    let inputChannels: Int, outputChannels: Int
    /// C′ and K′.
    let virtualInputs: Int, virtualOutputs: Int
    /// U (n², K′·C′) of the last forward: backward reads it, as a layer's weights do not
    /// change between its forward and its backward.
    private let u = TensorBuffer()
    /// dU, shared by the network's layers.
    private let du: TensorBuffer
    private let shared: WinogradWorkspace
    /// The input tiles, M, dM and dV.
    private let scratch: TensorBuffer
    /// V, the output tiles, dy's tiles and the input tiles' gradient.
    private let products: TensorBuffer
    /// V of the last forward, while `hasKeptV`: a forward whose weights are not frozen (so a
    /// backward may follow) and whose batch is one chunk keeps it here. The weight gradient
    /// then reads it instead of transforming the same input again (backward is for the last
    /// forward's input, which nothing changes in between).
    private let keptV = TensorBuffer()
    private var hasKeptV = false

    init(_ layout: WinogradLayout, inputChannels: Int, outputChannels: Int, workspace: TensorBuffer,
         shared: WinogradWorkspace) {
        self.layout = layout
        (self.inputChannels, self.outputChannels) = (inputChannels, outputChannels)
        switch layout {
        case .convolution(let r, _):
            precondition(r == 3 || r == 4, "Winograd convolution takes 3×3 or 4×4 kernels")
            transform = WinogradTransform(outputTile: 4, kernel: r)
            (virtualInputs, virtualOutputs) = (inputChannels, outputChannels)
        case .stridedConvolution:
            transform = WinogradTransform(outputTile: 3, kernel: 2)
            (virtualInputs, virtualOutputs) = (4 * inputChannels, outputChannels)
        case .transposedConvolution:
            transform = WinogradTransform(outputTile: 3, kernel: 2)
            (virtualInputs, virtualOutputs) = (inputChannels, 4 * outputChannels)
        }
        scratch = workspace
        self.shared = shared
        (du, products) = (shared.weightGradient, shared.products)
    }

    /// Set while the weights do not change (`Convolution.weightsFrozen`): forwards then
    /// transform them once and keep using that U.
    var weightsFrozen = false {
        didSet { uIsFrozen = false }
    }
    /// Whether `u` was transformed while the weights were frozen (and still are).
    private var uIsFrozen = false
    /// Set while the weights are those of the last forward (`Convolution.weightsAsInLastForward`).
    var weightsAsInLastForward = false
    /// Whether `u` holds a transform (of the weights of the last forward).
    private var hasU = false

    /// U for a forward with `weight`: transformed, unless it already was while frozen or
    /// for the last forward with the same weights.
    private func forwardU(_ weight: UnsafePointer<Float>) -> UnsafePointer<Float> {
        if !(weightsFrozen && uIsFrozen) && !(weightsAsInLastForward && hasU) {
            hasU = true
            transformWeights(weight, into: u.view(Shape(1, 1, positions, uStride)).data)
            uIsFrozen = weightsFrozen
        }
        return UnsafePointer(u.base)
    }

    /// The virtual images of input and output and their tiling for an input of shape `x`.
    struct Plan {
        let input: TileMap, output: TileMap, tiling: WinogradTiling
    }

    func plan(for x: Shape, output y: Shape) -> Plan {
        let m = transform.m
        switch layout {
        case .convolution(let r, let p):
            return Plan(input: TileMap(channels: x.c, height: x.h, width: x.w, origin: p),
                        output: TileMap(channels: y.c, height: y.h, width: y.w, origin: 0),
                        tiling: WinogradTiling(batch: x.n, outHeight: x.h + 2 * p - r + 1, outWidth: x.w + 2 * p - r + 1,
                                               kernel: r, outputTile: m))
        case .stridedConvolution:
            return Plan(input: TileMap(channels: x.c, height: x.h, width: x.w, phases: 2, origin: 1),
                        output: TileMap(channels: y.c, height: y.h, width: y.w, origin: 0),
                        tiling: WinogradTiling(batch: x.n, outHeight: y.h, outWidth: y.w, kernel: 2, outputTile: m))
        case .transposedConvolution:
            return Plan(input: TileMap(channels: x.c, height: x.h, width: x.w, origin: 1),
                        output: TileMap(channels: y.c, height: y.h, width: y.w, phases: 2, phaseSign: -1, origin: 0),
                        tiling: WinogradTiling(batch: x.n, outHeight: x.h + 1, outWidth: x.w + 1, kernel: 2, outputTile: m))
        }
    }

    /// Whether Winograd beats unfolding on this shape (measured with `pix2pix bench-layers`):
    /// enough channels that the tile transforms are small next to the GEMMs, and enough
    /// tiles that the weight transform is.
    func pays(for x: Shape, output y: Shape) -> Bool {
        min(virtualInputs, virtualOutputs) >= 32 && plan(for: x, output: y).tiling.tiles >= 64
    }

    private var positions: Int { transform.n * transform.n }
    private var kernels: Int { virtualOutputs * virtualInputs }
    /// U's row stride: K′·C′ plus one cache line, so that the n² rows, which
    /// `WinogradWeights` writes (and reads, as dU) side by side, do not all fall in the same
    /// cache set (K′·C′ is a multiple of 4 KiB in every U-Net and PatchGAN layer).
    private var uStride: Int { kernels + 16 }

    /// Calls `body` with consecutive sample ranges of x's batch whose products (M, dM, V)
    /// hold at most `maxFloats` (at least one sample a chunk), so the buffers do not grow with
    /// the batch (the whole of batch 8 at 256² would add 470 MB of peak RSS).
    private func forEachChunk(_ x: Shape, _ y: Shape, maxFloats: Int, _ body: (Range<Int>, Plan) -> Void) {
        let one = plan(for: Shape(1, x.c, x.h, x.w), output: Shape(1, y.c, y.h, y.w))
        let perSample = positions * max(virtualInputs, virtualOutputs) * one.tiling.tilesPerSample
        let per = max(1, min(x.n, maxFloats / perSample))
        for first in stride(from: 0, to: x.n, by: per) {
            let n = min(per, x.n - first)
            body(first..<first + n, plan(for: Shape(n, x.c, x.h, x.w), output: Shape(n, y.c, y.h, y.w)))
        }
    }

    /// y = the convolution of x with `weight` (the real layer's layout), without bias, in
    /// chunks of at most `chunkFloats` of products.
    func forward(_ x: Tensor, weight: UnsafePointer<Float>, into y: Tensor, chunkFloats: Int) {
        let u = forwardU(weight)
        hasKeptV = false
        forEachChunk(x.shape, y.shape, maxFloats: chunkFloats) { samples, plan in
            let nn = positions, nt = plan.tiling.tiles, c = virtualInputs, k = virtualOutputs
            let keep = !weightsFrozen && samples.count == x.shape.n
            let v = transformInput(x.samples(samples), plan, tiles: scratch.view(Shape(1, 1, nn, c * nt)).data,
                                   into: (keep ? keptV : products).view(Shape(1, 1, nn, c * nt)).data)
            hasKeptV = keep
            let m = scratch.view(Shape(1, nn, k, nt)).data
            sgemmBatch(count: nn, m: k, n: nt, k: c, a: u, lda: c, strideA: uStride, b: v, ldb: nt, strideB: c * nt,
                       c: m, ldc: nt, strideC: k * nt)
            let mm = transform.m * transform.m
            let out = products.view(Shape(1, mm, k, nt)).data
            sgemm(m: mm, n: k * nt, k: nn, a: transform.output.base, lda: nn, b: m, ldb: k * nt, c: out, ldc: k * nt)
            placeTiles(out, plan.output, plan.tiling, y.samples(samples).data)
        }
    }

    /// V = kron(Bᵀ) · tiles(x), into `v` (n², C′·NT); the tiles go to `tiles` (as large).
    private func transformInput(_ x: Tensor, _ plan: Plan, tiles: UnsafeMutablePointer<Float>,
                                into v: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        let nn = positions, columns = virtualInputs * plan.tiling.tiles
        gatherTiles(x.data, plan.input, plan.tiling, tiles)
        sgemm(m: nn, n: columns, k: nn, a: transform.input.base, lda: nn, b: tiles, ldb: columns, c: v, ldc: columns)
        return v
    }

    /// U = G w Gᵀ for every virtual kernel w, into `u` (n² rows of K′·C′, `uStride` apart).
    private func transformWeights(_ weight: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>) {
        weightTransform(real: UnsafeMutablePointer(mutating: weight), u: u, forward: true)
    }

    /// `WinogradWeights` on this layer: U from the weights, or dU's adjoint onto their gradient.
    private func weightTransform(real: UnsafeMutablePointer<Float>, u: UnsafeMutablePointer<Float>, forward: Bool) {
        WinogradWeights(layout, inputChannels: inputChannels, outputChannels: outputChannels, transform: transform,
                        real: real, u: u, stride: uStride, forward: forward)(scratch: shared.weightTiles)
    }

    /// Backward for the last forward's input x and output gradient dy: dx (overwritten)
    /// and dW (accumulated into `grad`), either or both, from that forward's U (and V), chunk
    /// by chunk.
    func backward(_ dy: Tensor, input x: Tensor,
                  inputGradient dx: Tensor?, weightGradient grad: UnsafeMutablePointer<Float>?, chunkFloats: Int) {
        let nn = positions, c = virtualInputs, k = virtualOutputs
        // The dM of a batch that fits one chunk is computed once for both gradients: the dx
        // pass leaves it at the start of `scratch`.
        var dmOfWholeBatch = false
        if let dx {
            precondition(u.capacity >= positions * uStride, "Winograd backward before its forward")
            let u = UnsafePointer(self.u.base)
            forEachChunk(x.shape, dy.shape, maxFloats: chunkFloats) { samples, plan in
                let nt = plan.tiling.tiles
                let (dm, rest) = productGradient(dy.samples(samples), plan)
                dmOfWholeBatch = samples.count == x.shape.n
                sgemmBatch(count: nn, transA: true, m: c, n: nt, k: k, a: u, lda: c, strideA: uStride,
                           b: dm, ldb: nt, strideB: k * nt, c: rest, ldc: nt, strideC: c * nt)
                let dTiles = products.view(Shape(1, 1, nn, c * nt)).data
                sgemm(transA: true, m: nn, n: c * nt, k: nn, a: transform.input.base, lda: nn, b: rest, ldb: c * nt,
                      c: dTiles, ldc: c * nt)
                scatterTiles(dTiles, plan.input, plan.tiling, dx.samples(samples).data)
            }
        }
        guard let grad else { return }
        let du = self.du.view(Shape(1, 1, nn, uStride)).data
        var first = true
        forEachChunk(x.shape, dy.shape, maxFloats: chunkFloats) { samples, plan in
            let nt = plan.tiling.tiles
            let (dm, rest) = dmOfWholeBatch
                ? { let d = scratch.base; return (d, d + nn * k * nt) }()
                : productGradient(dy.samples(samples), plan)
            // The forward's V, or V again for a batch of several chunks, into `products`.
            let v = hasKeptV ? keptV.base
                : transformInput(x.samples(samples), plan, tiles: rest, into: products.view(Shape(1, 1, nn, c * nt)).data)
            sgemmBatch(count: nn, transB: true, m: k, n: c, k: nt, a: dm, lda: nt, strideA: k * nt,
                       b: v, ldb: nt, strideB: c * nt, beta: first ? 0 : 1, c: du, ldc: c, strideC: uStride)
            first = false
        }
        weightTransform(real: grad, u: du, forward: false)
    }

    /// dM = kron(Aᵀ)ᵀ · collect(dy) for one chunk, at the start of `scratch`, and the room
    /// after it (n²·C′·NT floats).
    private func productGradient(_ dy: Tensor, _ plan: Plan) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        let nn = positions, mm = transform.m * transform.m, nt = plan.tiling.tiles, k = virtualOutputs
        let dmCount = nn * k * nt
        let dyTiles = products.view(Shape(1, 1, mm, k * nt)).data
        collectTiles(dy.data, plan.output, plan.tiling, dyTiles)
        let dm = scratch.view(Shape(1, 1, 1, dmCount + nn * virtualInputs * nt)).data
        sgemm(transA: true, m: nn, n: k * nt, k: mm, a: transform.output.base, lda: nn, b: dyTiles, ldb: k * nt,
              c: dm, ldc: k * nt)
        return (dm, dm + dmCount)
    }
}

/// Buffers the Winograd layers of a network share (they run one at a time): dU, and the
/// transformed tiles and products.
public final class WinogradWorkspace {
    let weightGradient = TensorBuffer()
    let products = TensorBuffer()
    /// `WinogradWeights`' per-thread tiles.
    let weightTiles = TensorBuffer()
    public init() {}
}
