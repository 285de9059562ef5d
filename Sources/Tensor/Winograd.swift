/// Winograd's minimal filtering F(m×m, r×r) (Lavin & Gray, "Fast Algorithms for Convolutional
/// Neural Networks", 2016): an m×m tile of a stride-1 r×r correlation from an n×n input tile,
/// n = m + r − 1, with n² multiplications instead of m²·r²:
///
///     Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A      g (r, r) kernel, d (n, n) input tile, Y (m, m)
///
/// The matrices come from Toom-Cook interpolation at the points 0, 1, −1, 2, −½, … and ∞:
/// A = V(m) and G = V(r) evaluate polynomials of m and r coefficients at the n points,
/// Bᵀ = (V(n)⁻¹)ᵀ interpolates (the transposition principle turns the convolution
/// s = g ∗ h = V(n)⁻¹[(V(r) g) ⊙ (V(m) h)] into the correlation above). Each row of Bᵀ is
/// scaled to a largest entry of 1 and the matching row of G divided by the same factor.
/// F(3×3, 4×4) and F(4×4, 3×3) (n = 6) lose about 3·10⁻⁶ of the output's range in fp32
/// against 5·10⁻⁷ for im2col and GEMM (measured on 256 channels); F(4×4, 4×4) (n = 7, points
/// 0, ±1, ±2, −½) about 4·10⁻⁶ (the PyTorch fixtures), for 49 multiplications per 16 outputs
/// instead of 36 per 9.
///
/// For GEMMs over whole tensors the 2-D data transforms are Kronecker products, stored
/// row-major: `input` (n², n²) with V = input · vec(d) and `output` (m², n²) with
/// vec(Y) = output · vec(M). The weights' U = G g Gᵀ is computed separably from `filter`
/// (`WinogradWeights`).
public struct WinogradTransform {
    public let m: Int, r: Int, n: Int
    /// G (n, r), row-major.
    public let filter: TensorBuffer
    public let input: TensorBuffer
    public let output: TensorBuffer

    /// The finite interpolation points, in the order they are taken.
    static let points: [Double] = [0, 1, -1, 2, -0.5, -2, 0.5, 3, -1.0 / 3]

    public init(outputTile m: Int, kernel r: Int) {
        let n = m + r - 1
        precondition(m >= 1 && r >= 1 && n - 1 <= Self.points.count, "no Winograd points for F(\(m), \(r))")
        (self.m, self.r, self.n) = (m, r, n)
        let points = Array(Self.points.prefix(n - 1))
        // V(cols): rows p^0 … p^(cols−1) for each finite point, then ∞ (the leading coefficient).
        func vandermonde(_ cols: Int) -> [[Double]] {
            points.map { p in (0..<cols).map { j in pow(p, j) } }
                + [(0..<cols).map { $0 == cols - 1 ? 1 : 0 }]
        }
        let a = vandermonde(m)
        var g = vandermonde(r)
        var bt = transpose(inverse(vandermonde(n)))
        for i in 0..<n {
            let scale = bt[i].map(abs).max()!
            bt[i] = bt[i].map { $0 / scale }
            g[i] = g[i].map { $0 * scale }
        }
        // kron(X, X)[(a, b), (i, j)] = X[a][i] · X[b][j].
        func kron(_ x: [[Double]], rows: Int, cols: Int) -> TensorBuffer {
            var values = [Float]()
            for a in 0..<rows { for b in 0..<rows { for i in 0..<cols { for j in 0..<cols {
                values.append(Float(x[a][i] * x[b][j]))
            } } } }
            return TensorBuffer(shape: Shape(1, 1, rows * rows, cols * cols), values: values)
        }
        filter = TensorBuffer(shape: Shape(1, 1, n, r), values: g.flatMap { $0.map { Float($0) } })
        input = kron(bt, rows: n, cols: n)
        output = kron(transpose(a), rows: m, cols: n)
    }
}

private func pow(_ p: Double, _ j: Int) -> Double { (0..<j).reduce(1) { acc, _ in acc * p } }

private func transpose(_ x: [[Double]]) -> [[Double]] {
    (0..<x[0].count).map { j in x.map { $0[j] } }
}

/// Gauss-Jordan inverse with partial pivoting (the n ≤ 10 interpolation matrices).
private func inverse(_ x: [[Double]]) -> [[Double]] {
    let n = x.count
    var a = x.enumerated().map { i, row in row + (0..<n).map { $0 == i ? 1.0 : 0 } }
    for col in 0..<n {
        let pivot = (col..<n).max { abs(a[$0][col]) < abs(a[$1][col]) }!
        a.swapAt(col, pivot)
        let d = a[col][col]
        a[col] = a[col].map { $0 / d }
        for row in 0..<n where row != col {
            let f = a[row][col]
            if f != 0 { a[row] = zip(a[row], a[col]).map { $0 - f * $1 } }
        }
    }
    return a.map { Array($0[n...]) }
}

/// Where the pixels of a Winograd correlation's input or output live in a real tensor of
/// (N, C, H, W). The correlation may run on a virtual image: pixel (U, V) of virtual channel
/// k = c·S² + p·S + q is real pixel (S·U + σ·p − P, S·V + σ·q − P) of channel c, zero (or
/// dropped) outside the real image. S = 1 is the plain case (k = c, pixel (U − P, V − P));
/// S = 2 splits a stride-2 layer into its four phases (`WinogradConvolution`).
public struct TileMap: Equatable, Sendable {
    public let channels: Int, height: Int, width: Int
    /// S, the real pixels between two virtual ones.
    public let phases: Int
    /// σ, +1 or −1: the direction a phase moves its pixels.
    public let phaseSign: Int
    /// P, the real offset of virtual pixel 0.
    public let origin: Int

    public init(channels: Int, height: Int, width: Int, phases: Int = 1, phaseSign: Int = 1, origin: Int) {
        (self.channels, self.height, self.width) = (channels, height, width)
        (self.phases, self.phaseSign, self.origin) = (phases, phaseSign, origin)
    }

    /// Virtual channels, S²·C.
    @inlinable public var virtualChannels: Int { phases * phases * channels }
}

/// How a batch is cut into Winograd tiles: output tile (th, tw) of sample s is column
/// t = s·T + th·TW + tw (T = TH·TW tiles a sample); it reads the n×n virtual input tile and
/// writes the m×m virtual output tile whose corners are at (th·m, tw·m).
public struct WinogradTiling: Equatable, Sendable {
    public let batch: Int, m: Int, n: Int
    public let tilesHigh: Int, tilesWide: Int

    /// Tiles covering a virtual output of outHeight × outWidth.
    public init(batch: Int, outHeight: Int, outWidth: Int, kernel r: Int, outputTile m: Int) {
        (self.batch, self.m, self.n) = (batch, m, m + r - 1)
        tilesHigh = (outHeight + m - 1) / m
        tilesWide = (outWidth + m - 1) / m
    }

    /// Tiles of one sample, T.
    @inlinable public var tilesPerSample: Int { tilesHigh * tilesWide }
    /// Tiles of the batch, the columns of every per-position matrix: N·T.
    @inlinable public var tiles: Int { batch * tilesPerSample }
}

/// tiles[(a, b), k, t] = virtual input pixel (th·m + a, tw·m + b) of channel k of sample s
/// for tile t = (s, th, tw), zero outside the image: x is (N, C, H, W) as `map` says,
/// tiles is (n², k, N·T).
public func gatherTiles(_ x: UnsafePointer<Float>, _ map: TileMap, _ g: WinogradTiling, _ tiles: UnsafeMutablePointer<Float>) {
    copyTiles(UnsafeMutablePointer(mutating: x), map, g, side: g.n, tiles, .gather)
}

/// The adjoint of `gatherTiles`: dx (N, C, H, W) = the sum of every tile's entries at the
/// pixels they were read from (tiles overlap by r − 1); dx is overwritten.
public func scatterTiles(_ tiles: UnsafePointer<Float>, _ map: TileMap, _ g: WinogradTiling, _ dx: UnsafeMutablePointer<Float>) {
    dx.update(repeating: 0, count: g.batch * map.channels * map.height * map.width)
    copyTiles(dx, map, g, side: g.n, UnsafeMutablePointer(mutating: tiles), .add)
}

/// y = tiles[(i, j), k, t] at virtual output pixel (th·m + i, tw·m + j) of channel k, for the
/// pixels inside y (the last row and column of tiles may overhang it): tiles is
/// (m², k, N·T), y is (N, C, H, W) as `map` says.
public func placeTiles(_ tiles: UnsafePointer<Float>, _ map: TileMap, _ g: WinogradTiling, _ y: UnsafeMutablePointer<Float>) {
    copyTiles(y, map, g, side: g.m, UnsafeMutablePointer(mutating: tiles), .store)
}

/// The adjoint of `placeTiles`: tiles[(i, j), k, t] = dy at the pixel the entry was placed at,
/// zero where the tile overhangs the output.
public func collectTiles(_ dy: UnsafePointer<Float>, _ map: TileMap, _ g: WinogradTiling, _ tiles: UnsafeMutablePointer<Float>) {
    copyTiles(UnsafeMutablePointer(mutating: dy), map, g, side: g.m, tiles, .gather)
}

private func copyTiles(_ image: UnsafeMutablePointer<Float>, _ map: TileMap, _ g: WinogradTiling, side: Int,
                       _ tiles: UnsafeMutablePointer<Float>, _ mode: TileCopy.Mode) {
    // One virtual channel of one sample per index; the phases of a real channel touch
    // disjoint pixels, so they may run on different threads.
    parallelChunks(g.batch * map.virtualChannels, minimumChunk: 4,
                   TileCopy(g: g, map: map, image: image, tiles: tiles, side: side, mode: mode))
}

/// Moves side×side tiles between the real image and the tile matrix: `.gather` copies
/// image → tiles with zeros outside the image, `.add` adds tiles into the image and `.store`
/// writes them over it (tiles that do not overlap).
private struct TileCopy: ChunkTask {
    enum Mode { case gather, add, store }
    let g: WinogradTiling, map: TileMap
    let image: UnsafeMutablePointer<Float>, tiles: UnsafeMutablePointer<Float>
    let side: Int
    let mode: Mode

    func run(_ planes: Range<Int>) {
        let H = map.height, W = map.width, S = map.phases, C = map.channels, K = map.virtualChannels
        let m = g.m, TW = g.tilesWide
        let row = K * g.tiles  // stride between tile positions (a, b)
        // The tiles tw with 0 ≤ S·(tw·m + b) + colShift < W, per b: the same for every row
        // of tiles, so worked out once per plane (a division each).
        withUnsafeTemporaryAllocation(of: (Int, Int).self, capacity: side) { valid in
        for plane in planes {
            let s = plane / K, k = plane % K
            let c = k / (S * S), phase = k % (S * S)
            let rowShift = map.phaseSign * (phase / S) - map.origin, colShift = map.phaseSign * (phase % S) - map.origin
            let img = image + (s * C + c) * H * W
            let column = tiles + k * g.tiles + s * g.tilesPerSample
            for b in 0..<side { valid[b] = validRange(offset: S * b + colShift, stride: S * m, extent: W, count: TW) }
            for a in 0..<side {
                for th in 0..<g.tilesHigh {
                    let ih = S * (th * m + a) + rowShift
                    let inside = ih >= 0 && ih < H
                    for b in 0..<side {
                        let t = column + (a * side + b) * row + th * TW
                        let (lo, hi) = valid[b]
                        let src = img + ih * W + S * b + colShift, step = S * m
                        var tw = lo
                        switch mode {
                        case .gather:
                            guard inside else { t.update(repeating: 0, count: TW); continue }
                            if lo > 0 { t.update(repeating: 0, count: lo) }
                            while tw < hi { t[tw] = src[tw * step]; tw += 1 }
                            if hi < TW { (t + hi).update(repeating: 0, count: TW - hi) }
                        case .add where inside:
                            while tw < hi { src[tw * step] += t[tw]; tw += 1 }
                        case .store where inside:
                            while tw < hi { src[tw * step] = t[tw]; tw += 1 }
                        default: break
                        }
                    }
                }
            }
        }
        }
    }
}
