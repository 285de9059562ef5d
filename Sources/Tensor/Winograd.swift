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
/// against 5·10⁻⁷ for im2col and GEMM (measured on 256 channels).
///
/// For GEMMs over whole tensors the 2-D transforms are Kronecker products, stored row-major:
/// `kernel` (n², r²) with U = kernel · vec(g), `input` (n², n²) with V = input · vec(d) and
/// `output` (m², n²) with vec(Y) = output · vec(M).
public struct WinogradTransform {
    public let m: Int, r: Int, n: Int
    public let kernel: TensorBuffer
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
        kernel = kron(g, rows: n, cols: r)
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

/// How a batch of (C, H, W) planes is cut into Winograd tiles: output tile (th, tw) of
/// sample s is column t = s·T + th·TW + tw (T = TH·TW tiles a sample) and reads the n×n
/// input tile whose corner is (th·m − P, tw·m − P), zero outside the image.
public struct WinogradTiling: Equatable, Sendable {
    public let batch: Int, height: Int, width: Int
    /// Channels of the planes being tiled (the input's, or the output's for `placeTiles`).
    public var channels: Int
    public let padding: Int, m: Int, n: Int
    public let outHeight: Int, outWidth: Int
    public let tilesHigh: Int, tilesWide: Int

    public init(batch: Int, channels: Int, height: Int, width: Int, kernel r: Int, padding: Int, outputTile m: Int) {
        (self.batch, self.channels, self.height, self.width) = (batch, channels, height, width)
        (self.padding, self.m, self.n) = (padding, m, m + r - 1)
        outHeight = height + 2 * padding - r + 1
        outWidth = width + 2 * padding - r + 1
        tilesHigh = (outHeight + m - 1) / m
        tilesWide = (outWidth + m - 1) / m
    }

    /// Tiles of one sample, T.
    @inlinable public var tilesPerSample: Int { tilesHigh * tilesWide }
    /// Tiles of the batch, the columns of every per-position matrix: N·T.
    @inlinable public var tiles: Int { batch * tilesPerSample }
}

/// tiles[(a, b), c, t] = x[s, c, th·m − P + a, tw·m − P + b] for tile t = (s, th, tw), zero
/// outside the image: x is (N, C, H, W), tiles is (n², C, N·T).
public func gatherTiles(_ x: UnsafePointer<Float>, _ g: WinogradTiling, _ tiles: UnsafeMutablePointer<Float>) {
    parallelChunks(g.batch * g.channels, minimumChunk: 4, TileCopy(g: g, image: UnsafeMutablePointer(mutating: x),
                                                                    tiles: tiles, side: g.n, origin: g.padding,
                                                                    extent: (g.height, g.width), mode: .gather))
}

/// The adjoint of `gatherTiles`: dx (N, C, H, W) = Σ of every tile's (a, b) entries at the
/// pixels they were read from (tiles overlap by r − 1); dx is overwritten.
public func scatterTiles(_ tiles: UnsafePointer<Float>, _ g: WinogradTiling, _ dx: UnsafeMutablePointer<Float>) {
    dx.update(repeating: 0, count: g.batch * g.channels * g.height * g.width)
    parallelChunks(g.batch * g.channels, minimumChunk: 4, TileCopy(g: g, image: dx, tiles: UnsafeMutablePointer(mutating: tiles),
                                                                    side: g.n, origin: g.padding,
                                                                    extent: (g.height, g.width), mode: .add))
}

/// y[s, c, th·m + i, tw·m + j] = tiles[(i, j), c, t] for the pixels inside the output (the
/// last row and column of tiles may overhang it): tiles is (m², C, N·T), y is (N, C, OH, OW)
/// and `channels` of g is y's.
public func placeTiles(_ tiles: UnsafePointer<Float>, _ g: WinogradTiling, _ y: UnsafeMutablePointer<Float>) {
    parallelChunks(g.batch * g.channels, minimumChunk: 4, TileCopy(g: g, image: y, tiles: UnsafeMutablePointer(mutating: tiles),
                                                                    side: g.m, origin: 0,
                                                                    extent: (g.outHeight, g.outWidth), mode: .store))
}

/// The adjoint of `placeTiles`: tiles[(i, j), c, t] = dy[s, c, th·m + i, tw·m + j], zero
/// where the tile overhangs the output.
public func collectTiles(_ dy: UnsafePointer<Float>, _ g: WinogradTiling, _ tiles: UnsafeMutablePointer<Float>) {
    parallelChunks(g.batch * g.channels, minimumChunk: 4, TileCopy(g: g, image: UnsafeMutablePointer(mutating: dy),
                                                                    tiles: tiles, side: g.m, origin: 0,
                                                                    extent: (g.outHeight, g.outWidth), mode: .gather))
}

/// Moves side×side tiles (corner (th·m − origin, tw·m − origin), stepping m) between an image
/// of `extent` and the tile matrix, one (sample, channel) plane per index: `.gather` copies
/// image → tiles with zeros outside the image, `.add` adds tiles into the image and `.store`
/// writes them over it (tiles that do not overlap).
private struct TileCopy: ChunkTask {
    enum Mode { case gather, add, store }
    let g: WinogradTiling
    let image: UnsafeMutablePointer<Float>, tiles: UnsafeMutablePointer<Float>
    let side: Int, origin: Int, extent: (Int, Int)
    let mode: Mode

    func run(_ planes: Range<Int>) {
        let (H, W) = extent, m = g.m, TW = g.tilesWide, C = g.channels
        let row = C * g.tiles  // stride between tile positions (a, b)
        for plane in planes {
            let s = plane / C, c = plane % C
            let img = image + plane * H * W
            let column = tiles + c * g.tiles + s * g.tilesPerSample
            for a in 0..<side {
                for th in 0..<g.tilesHigh {
                    let ih = th * m - origin + a
                    let inside = ih >= 0 && ih < H
                    for b in 0..<side {
                        let t = column + (a * side + b) * row + th * TW
                        // tw with 0 ≤ tw·m − origin + b < W.
                        let (lo, hi) = validRange(offset: b - origin, stride: m, extent: W, count: TW)
                        let src = img + ih * W + b - origin
                        var tw = lo
                        switch mode {
                        case .gather:
                            guard inside else { t.update(repeating: 0, count: TW); continue }
                            if lo > 0 { t.update(repeating: 0, count: lo) }
                            while tw < hi { t[tw] = src[tw * m]; tw += 1 }
                            if hi < TW { (t + hi).update(repeating: 0, count: TW - hi) }
                        case .add where inside:
                            while tw < hi { src[tw * m] += t[tw]; tw += 1 }
                        case .store where inside:
                            while tw < hi { src[tw * m] = t[tw]; tw += 1 }
                        default: break
                        }
                    }
                }
            }
        }
    }
}
