import Tensor

/// Conv2d's algorithm for stride-1 3×3 and 4×4 kernels with many channels (PatchGAN's
/// 256 → 512 4×4 layer, 37 % of a pix2pix step; ResNet blocks' 3×3 layers): Winograd
/// F(4×4, 3×3) or F(3×3, 4×4) (`WinogradTransform`, n = 6), 36 multiplications per output
/// tile instead of 144: 4× fewer FLOPs in the GEMMs, plus transforms that are GEMMs too.
///
/// With the batch's N·T tiles as columns (`WinogradTiling`) and one matrix per transform
/// position ξ (n² of them):
///
///     forward   U = kron(G) · Wᵀ           (n², OC·C)   W viewed as (OC·C, r²)
///               V = kron(Bᵀ) · tiles(x)    (n², C·NT)   kept for dW
///               M_ξ = U_ξ · V_ξ            (OC, NT)
///               y = place(kron(Aᵀ) · M)    (N, OC, OH, OW)
///     backward  dM = kron(Aᵀ)ᵀ · collect(dy)
///               dx = scatter(kron(Bᵀ)ᵀ · [U_ξᵀ · dM_ξ]ξ)
///               dW += [dM_ξ · V_ξᵀ]ξᵀ · kron(G)
///
/// The backward pass is the exact adjoint of the forward one, and the forward one equals
/// the convolution, so the gradients are the convolution's within float rounding.
final class WinogradConvolution {
    let transform: WinogradTransform
    let inputChannels: Int, outputChannels: Int, kernel: Int, padding: Int
    /// U of the current weights (n², OC·C), or dU after a weight gradient (`hasU` false).
    private let u = TensorBuffer()
    private var hasU = false
    /// V of the last forward's input (n², C·NT): dW needs it.
    private let v = TensorBuffer()
    /// M, dM or the input tiles' gradient: (n², max(OC, C)·NT).
    private let products = TensorBuffer()
    /// Tiles before and after their transforms; may be a workspace shared between layers.
    private let scratch: TensorBuffer
    private(set) var tiling: WinogradTiling?

    init(_ inputChannels: Int, _ outputChannels: Int, kernel: Int, padding: Int, workspace: TensorBuffer) {
        precondition(kernel == 3 || kernel == 4, "Winograd convolution takes 3×3 or 4×4 kernels")
        transform = WinogradTransform(outputTile: 7 - kernel, kernel: kernel)
        (self.inputChannels, self.outputChannels, self.kernel, self.padding) = (inputChannels, outputChannels, kernel, padding)
        scratch = workspace
    }

    private var positions: Int { transform.n * transform.n }
    private var kernels: Int { outputChannels * inputChannels }

    /// y (N, OC, OH, OW) = x (N, C, H, W) ⋆ W (OC, C, r, r), without bias.
    func forward(_ x: Tensor, weight: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let g = WinogradTiling(batch: x.shape.n, channels: inputChannels, height: x.shape.h, width: x.shape.w,
                               kernel: kernel, padding: padding, outputTile: transform.m)
        tiling = g
        transformWeights(weight)
        let nn = positions, nt = g.tiles, c = inputChannels, oc = outputChannels
        let tiles = scratch.view(Shape(1, nn, c, nt)).data
        gatherTiles(x.data, g, tiles)
        let v = self.v.view(Shape(1, nn, c, nt)).data
        sgemm(m: nn, n: c * nt, k: nn, a: transform.input.base, lda: nn, b: tiles, ldb: c * nt, c: v, ldc: c * nt)
        let m = products.view(Shape(1, nn, max(oc, c), nt)).data
        for xi in 0..<nn {
            sgemm(m: oc, n: nt, k: c, a: u.base + xi * kernels, lda: c, b: v + xi * c * nt, ldb: nt,
                  c: m + xi * oc * nt, ldc: nt)
        }
        let mm = transform.m * transform.m
        let out = scratch.view(Shape(1, mm, oc, nt)).data
        sgemm(m: mm, n: oc * nt, k: nn, a: transform.output.base, lda: nn, b: m, ldb: oc * nt, c: out, ldc: oc * nt)
        var og = g
        og.channels = oc
        placeTiles(out, og, y)
    }

    /// U = kron(G) · Wᵀ.
    private func transformWeights(_ weight: UnsafePointer<Float>) {
        let rr = kernel * kernel
        let u = self.u.view(Shape(1, 1, positions, kernels)).data
        sgemm(transB: true, m: positions, n: kernels, k: rr, a: transform.kernel.base, lda: rr,
              b: weight, ldb: rr, c: u, ldc: kernels)
        hasU = true
    }

    /// dM = kron(Aᵀ)ᵀ · collect(dy), into `products`.
    private func productGradient(_ dy: UnsafePointer<Float>, _ g: WinogradTiling) -> UnsafeMutablePointer<Float> {
        let nn = positions, mm = transform.m * transform.m, oc = outputChannels, nt = g.tiles
        var og = g
        og.channels = oc
        let dyTiles = scratch.view(Shape(1, mm, oc, nt)).data
        collectTiles(dy, og, dyTiles)
        let dm = products.view(Shape(1, nn, max(oc, inputChannels), nt)).data
        sgemm(transA: true, m: nn, n: oc * nt, k: mm, a: transform.output.base, lda: nn, b: dyTiles, ldb: oc * nt,
              c: dm, ldc: oc * nt)
        return dm
    }

    /// dx (N, C, H, W) for the last forward's input, overwritten.
    func inputGradient(_ dy: UnsafePointer<Float>, weight: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>) {
        guard let g = tiling else { preconditionFailure("Winograd backward before forward") }
        if !hasU { transformWeights(weight) }
        let nn = positions, nt = g.tiles, c = inputChannels, oc = outputChannels
        let dm = productGradient(dy, g)
        let dv = scratch.view(Shape(1, nn, c, nt)).data
        for xi in 0..<nn {
            sgemm(transA: true, m: c, n: nt, k: oc, a: u.base + xi * kernels, lda: c, b: dm + xi * oc * nt, ldb: nt,
                  c: dv + xi * c * nt, ldc: nt)
        }
        let dTiles = products.view(Shape(1, nn, max(oc, c), nt)).data
        sgemm(transA: true, m: nn, n: c * nt, k: nn, a: transform.input.base, lda: nn, b: dv, ldb: c * nt,
              c: dTiles, ldc: c * nt)
        scatterTiles(dTiles, g, dx)
    }

    /// dW (OC, C, r, r) += the last forward's weight gradient. Overwrites U with dU (the next
    /// input gradient recomputes U), which saves a buffer of n²·OC·C floats.
    func accumulateWeightGradient(_ dy: UnsafePointer<Float>, into grad: UnsafeMutablePointer<Float>) {
        guard let g = tiling else { preconditionFailure("Winograd backward before forward") }
        let nn = positions, nt = g.tiles, c = inputChannels, oc = outputChannels, rr = kernel * kernel
        let dm = productGradient(dy, g)
        let du = u.view(Shape(1, 1, nn, kernels)).data
        hasU = false
        for xi in 0..<nn {
            sgemm(transB: true, m: oc, n: c, k: nt, a: dm + xi * oc * nt, lda: nt, b: v.base + xi * c * nt, ldb: nt,
                  c: du + xi * kernels, ldc: c)
        }
        sgemm(transA: true, m: kernels, n: rr, k: nn, a: du, lda: kernels, b: transform.kernel.base, ldb: rr,
              beta: 1, c: grad, ldc: rr)
    }
}
