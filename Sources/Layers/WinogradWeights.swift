import Tensor

/// Winograd's weight transform straight from a layer's real weights, and its adjoint straight
/// back onto their gradient (`WinogradConvolution`; PyTorch has no equivalent, its
/// convolutions do not use Winograd on CPUs):
///
///     forward   U[ξ, κ] = (G w_κ Gᵀ)[a, b]          ξ = a·n + b, U (n², K′·C′)
///     adjoint   grad[taps of w_κ] += Gᵀ dU[·, κ] G
///
/// for every virtual kernel κ, w_κ its r×r taps in the real weights (`WinogradLayout`) and G
/// the (n, r) filter matrix. Both run separably (G·w, then ·Gᵀ: 308 multiply-adds per
/// F(4×4, 4×4) kernel where kron(G) · vec(w) takes 784), eight virtual kernels at a time, one
/// per SIMD lane, so every store of U and load of dU is one 8-lane vector:
///  - stride-1 Conv2d (O, C, r, r): 8 consecutive kernels κ = o·C + c, whose rows of W are
///    transposed in registers;
///  - stride-2 Conv2d: 2 real kernels and their 2×2 pieces (p, q), κ = (o·C + c)·4 + 2p + q,
///    split from the two rows in registers;
///  - ConvTranspose2d (C, O, 4, 4): 8 input channels c of one piece (o, p′, q′),
///    κ = (o·4 + 2p′ + q′)·C + c, rows 16·O floats apart transposed in registers.
/// Each lane's arithmetic is the same whatever the block or the thread, so U and the gradient
/// do not depend on the thread count.
struct WinogradWeights: PoolTask {
    typealias V = SIMD8<Float>
    enum Kind { case convolution, strided, transposed }

    let kind: Kind
    /// The real layer's channels and the virtual kernel's side r.
    let inputChannels: Int, outputChannels: Int, r: Int
    /// G (n, r), row-major.
    let filter: UnsafePointer<Float>
    /// The real weights (forward) or their gradient (adjoint, accumulated).
    let real: UnsafeMutablePointer<Float>
    /// U (forward, overwritten) or dU (adjoint): n² rows of K′·C′, `stride` floats apart.
    let u: UnsafeMutablePointer<Float>, stride: Int
    let forward: Bool
    /// `scratchFloats` for each part (`callAsFunction`).
    private var scratch: UnsafeMutablePointer<Float>?

    init(_ layout: WinogradLayout, inputChannels: Int, outputChannels: Int, transform: WinogradTransform,
         real: UnsafeMutablePointer<Float>, u: UnsafeMutablePointer<Float>, stride: Int, forward: Bool) {
        switch layout {
        case .convolution: kind = .convolution
        case .stridedConvolution: kind = .strided
        case .transposedConvolution: kind = .transposed
        }
        (self.inputChannels, self.outputChannels, r) = (inputChannels, outputChannels, transform.r)
        filter = UnsafePointer(transform.filter.base)
        (self.real, self.u, self.stride, self.forward) = (real, u, stride, forward)
    }

    /// ConvTranspose2d's blocks per output channel: its input channels, 8 at a time.
    private var perOutput: Int { (inputChannels + 7) / 8 }

    /// Blocks of 8 lanes: 8 kernels, 2 real kernels, or 8 channels of one output channel.
    private var blockCount: Int {
        switch kind {
        case .convolution: (inputChannels * outputChannels + 7) / 8
        case .strided: (inputChannels * outputChannels + 1) / 2
        case .transposed: outputChannels * perOutput
        }
    }

    /// Blocks a tile holds: their U columns are computed into the tile and then copied out row
    /// by row (copied in for dU), so that memory sees runs of 1 KiB in each of the n² rows
    /// instead of 32 bytes in each of 49 rows at once, which no prefetcher follows.
    static let tileBlocks = 32
    /// A part's scratch: G's entries in every lane, the real taps, one piece's taps, G·w or
    /// dU·G, and the largest tile (F(3×3, 2×2) on ConvTranspose2d: 16 rows × 4 pieces).
    static let scratchFloats = 8 * (28 + 16 + 16 + 28 + 64 * tileBlocks)

    /// Runs over every block, split over the compute pool; `buffer` provides the parts' scratch.
    func callAsFunction(scratch buffer: TensorBuffer) {
        let parts = min(ComputeThreads.count, max(1, blockCount / 64))
        var task = self
        task.scratch = buffer.view(Shape(1, 1, parts, Self.scratchFloats)).data
        if parts == 1 { task.run(part: 0, of: 1) } else { ComputePool.shared.run(parts: parts, task) }
    }

    func run(part: Int, of parts: Int) {
        let count = blockCount, per = (count + parts - 1) / parts
        let blocks = part * per ..< min(count, part * per + per)
        guard !blocks.isEmpty, let scratch else { return }
        let s = UnsafeMutableRawPointer(scratch + part * Self.scratchFloats).assumingMemoryBound(to: V.self)
        // Sizes known at compile time let the compiler unroll the transforms (n follows from
        // r for the three transforms `WinogradConvolution` makes).
        switch r {
        case 4: run(blocks, s, F4x4.self)
        case 3: run(blocks, s, F4x3.self)
        default: run(blocks, s, F3x2.self)
        }
    }

    private func run<Size: FilterSize>(_ blocks: Range<Int>, _ scratch: UnsafeMutablePointer<V>, _: Size.Type) {
        let n = Size.n, r = Size.r, C = inputChannels, O = outputChannels, rr = r * r, nn = n * n, T = Self.tileBlocks
        let groups = kind == .transposed ? 4 : 1, perOutput = self.perOutput
        let g = scratch, taps = g + n * r, w = taps + 16, t = w + 16, tile = t + n * r
        for i in 0..<n * r { g[i] = V(repeating: filter[i]) }
        var first = blocks.lowerBound
        while first < blocks.upperBound {
            // Up to T blocks whose columns follow on from each other in every row of U.
            var end = min(blocks.upperBound, first + T)
            if kind == .transposed { end = min(end, (first / perOutput + 1) * perOutput) }
            let (start, columns) = tileColumns(first, end)
            func row(_ xi: Int, _ group: Int) -> UnsafeMutablePointer<Float> {
                UnsafeMutableRawPointer(tile + (xi * groups + group) * T).assumingMemoryBound(to: Float.self)
            }
            if !forward {
                for xi in 0..<nn { for group in 0..<groups {
                    row(xi, group).update(from: u + xi * stride + start[group], count: columns)
                    row(xi, group).advanced(by: columns).update(repeating: 0, count: 8 * (end - first) - columns)
                } }
            }
            for block in first..<end {
                let out = tile + (block - first)
                let vstride = groups * T  // between rows ξ of the tile, in vectors
                switch kind {
                case .convolution:
                    let rows = real + block * 8 * rr, lanes = min(8, C * O - block * 8)
                    if forward {
                        loadKernels(rows, rowStride: rr, taps: rr, lanes: lanes, into: taps)
                        transform(taps, g, t, out, vstride, n: n, r: r)
                    } else {
                        adjoint(out, vstride, g, t, into: taps, n: n, r: r)
                        addKernels(taps, rowStride: rr, taps: rr, lanes: lanes, onto: rows)
                    }
                case .strided:
                    let k0 = real + block * 2 * 16, k1 = k0 + 16, pair = block * 2 + 1 < C * O
                    if forward {
                        for alpha in 0..<2 {
                            let a = load8(k0, 8 * alpha), b = pair ? load8(k1, 8 * alpha) : V()
                            w[2 * alpha] = evenPairs(a, b)
                            w[2 * alpha + 1] = oddPairs(a, b)
                        }
                        transform(w, g, t, out, vstride, n: n, r: r)
                    } else {
                        adjoint(out, vstride, g, t, into: w, n: n, r: r)
                        for alpha in 0..<2 {
                            let (a, b) = unsplitPairs(w[2 * alpha], w[2 * alpha + 1])
                            add(a, onto: k0 + 8 * alpha)
                            if pair { add(b, onto: k1 + 8 * alpha) }
                        }
                    }
                case .transposed:
                    let o = block / perOutput, c0 = (block % perOutput) * 8, lanes = min(8, C - c0)
                    let rows = real + (c0 * O + o) * 16
                    if forward { loadKernels(rows, rowStride: 16 * O, taps: 16, lanes: lanes, into: taps) }
                    for p in 0..<2 { for q in 0..<2 {
                        let piece = out + (2 * p + q) * T
                        if forward {
                            for alpha in 0..<2 { for beta in 0..<2 { w[2 * alpha + beta] = taps[(3 - p - 2 * alpha) * 4 + 3 - q - 2 * beta] } }
                            transform(w, g, t, piece, vstride, n: n, r: r)
                        } else {
                            adjoint(piece, vstride, g, t, into: w, n: n, r: r)
                            for alpha in 0..<2 { for beta in 0..<2 { taps[(3 - p - 2 * alpha) * 4 + 3 - q - 2 * beta] = w[2 * alpha + beta] } }
                        }
                    } }
                    if !forward { addKernels(taps, rowStride: 16 * O, taps: 16, lanes: lanes, onto: rows) }
                }
            }
            if forward {
                for xi in 0..<nn { for group in 0..<groups {
                    (u + xi * stride + start[group]).update(from: row(xi, group), count: columns)
                } }
            }
            first = end
        }
    }

    /// Where blocks first..<end put their columns in each row of U (one start per piece
    /// (p′, q′) for ConvTranspose2d, else one), and how many there are (fewer than 8 a block
    /// where the last block has fewer lanes).
    private func tileColumns(_ first: Int, _ end: Int) -> (SIMD4<Int>, Int) {
        let C = inputChannels, O = outputChannels
        switch kind {
        case .convolution, .strided:
            let all = kind == .convolution ? C * O : 4 * C * O
            return (SIMD4(repeating: 8 * first), min(8 * end, all) - 8 * first)
        case .transposed:
            let o = first / perOutput, c0 = (first % perOutput) * 8
            let c1 = min(C, c0 + 8 * (end - first))
            return (SIMD4(0, 1, 2, 3) &* C &+ (4 * o * C + c0), c1 - c0)
        }
    }

    /// out[ξ·vstride] = (G w Gᵀ)[ξ] for the r² tap vectors w; g holds G in every lane, t G·w.
    @inline(__always)
    private func transform(_ w: UnsafePointer<V>, _ g: UnsafePointer<V>, _ t: UnsafeMutablePointer<V>,
                           _ out: UnsafeMutablePointer<V>, _ vstride: Int, n: Int, r: Int) {
        for a in 0..<n {
            for j in 0..<r {
                var s = w[j] * g[a * r]
                for i in 1..<r { s = s.multiplyAdding(w[i * r + j], g[a * r + i]) }
                t[a * r + j] = s
            }
        }
        for a in 0..<n {
            for b in 0..<n {
                var s = t[a * r] * g[b * r]
                for j in 1..<r { s = s.multiplyAdding(t[a * r + j], g[b * r + j]) }
                out[(a * n + b) * vstride] = s
            }
        }
    }

    /// dw = Gᵀ d G for d[ξ] = du[ξ·vstride], the r² tap vectors; t holds d·G.
    @inline(__always)
    private func adjoint(_ du: UnsafePointer<V>, _ vstride: Int, _ g: UnsafePointer<V>, _ t: UnsafeMutablePointer<V>,
                         into dw: UnsafeMutablePointer<V>, n: Int, r: Int) {
        for a in 0..<n {
            for j in 0..<r {
                var s = du[(a * n) * vstride] * g[j]
                for b in 1..<n { s = s.multiplyAdding(du[(a * n + b) * vstride], g[b * r + j]) }
                t[a * r + j] = s
            }
        }
        for i in 0..<r {
            for j in 0..<r {
                var s = t[j] * g[i]
                for a in 1..<n { s = s.multiplyAdding(t[a * r + j], g[a * r + i]) }
                dw[i * r + j] = s
            }
        }
    }

    /// taps[j] lane l = rows[l·rowStride + j] for `lanes` rows of `taps` floats (zero in the
    /// other lanes): two 8×8 transposes in registers for 4×4 kernels, else lane by lane.
    @inline(__always)
    private func loadKernels(_ rows: UnsafePointer<Float>, rowStride: Int, taps count: Int, lanes: Int,
                             into taps: UnsafeMutablePointer<V>) {
        if count == 16 {
            for l in 0..<8 {
                taps[l] = l < lanes ? load8(rows, l * rowStride) : V()
                taps[8 + l] = l < lanes ? load8(rows, l * rowStride + 8) : V()
            }
            transpose8x8(taps)
            transpose8x8(taps + 8)
        } else {
            for j in 0..<count {
                var v = V()
                for l in 0..<lanes { v[l] = rows[l * rowStride + j] }
                taps[j] = v
            }
        }
    }

    /// rows[l·rowStride + j] += taps[j] lane l, the inverse of `loadKernels` (taps is overwritten).
    @inline(__always)
    private func addKernels(_ taps: UnsafeMutablePointer<V>, rowStride: Int, taps count: Int, lanes: Int,
                            onto rows: UnsafeMutablePointer<Float>) {
        if count == 16 {
            transpose8x8(taps)
            transpose8x8(taps + 8)
            for l in 0..<lanes {
                add(taps[l], onto: rows + l * rowStride)
                add(taps[8 + l], onto: rows + l * rowStride + 8)
            }
        } else {
            for j in 0..<count { for l in 0..<lanes { rows[l * rowStride + j] += taps[j][l] } }
        }
    }

    @inline(__always) private func add(_ v: V, onto p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: load8(p, 0) + v, as: V.self)
    }
}

/// n and r of a Winograd transform, as types so that `WinogradWeights` is compiled once for
/// each with constant loop bounds.
protocol FilterSize { static var n: Int { get }; static var r: Int { get } }
/// F(4×4, 4×4): PatchGAN's stride-1 layer.
enum F4x4: FilterSize { static var n: Int { 7 }; static var r: Int { 4 } }
/// F(4×4, 3×3): ResNet's 3×3 layers.
enum F4x3: FilterSize { static var n: Int { 6 }; static var r: Int { 3 } }
/// F(3×3, 2×2): the stride-2 and transposed 4×4 layers' pieces.
enum F3x2: FilterSize { static var n: Int { 4 }; static var r: Int { 2 } }
