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
    // One row phase of one real channel of one sample per index: it alone touches those
    // image rows (all S column phases of them), so indices may run on different threads.
    parallelChunks(g.batch * map.channels * map.phases, minimumChunk: 2,
                   TileCopy(g: g, map: map, image: image, tiles: tiles, side: side, mode: mode))
}

/// Moves side×side tiles between the real image and the tile matrix: `.gather` copies
/// image → tiles with zeros outside the image, `.add` adds tiles into the image and `.store`
/// writes them over it (tiles that do not overlap).
///
/// Entry (a, b) of tile (th, tw) is vr_th[tw·m + b], where vr_th is the virtual row
/// vr[V] = image[S·V + shift_q] of image row S·(th·m + a) + shift_p. For each a, the TH
/// virtual rows of a column phase are laid end to end, TW·m entries each, in scratch: then
/// position (a, b) of all TH·TW tiles is every m-th entry from b on, one long run (read with
/// `strided8` and written with `storeInterleaved`, eight tiles at a time). Entries b ≥ m are
/// entry b − m of the next tile, except in a row's last tile, whose overhang of side − m
/// entries is kept apart. The adjoints interleave the S column phases of a row again and
/// add or store it in one pass.
private struct TileCopy: ChunkTask {
    enum Mode { case gather, add, store }
    let g: WinogradTiling, map: TileMap
    let image: UnsafeMutablePointer<Float>, tiles: UnsafeMutablePointer<Float>
    let side: Int
    let mode: Mode

    /// Floats of one phase's virtual rows, with 8·m of slack for `strided8`.
    private var rowsLength: Int { g.tilesHigh * g.tilesWide * g.m + 8 * g.m }
    private var extra: Int { side - g.m }

    func run(_ units: Range<Int>) {
        precondition(side <= 2 * g.m && g.m <= 4, "tiles overlapping by more than a tile, or wider than 4")
        let S = map.phases, count = g.tilesHigh * g.tilesWide, span = g.tilesWide * g.m
        let phaseLength = rowsLength + g.tilesHigh * extra
        // S phases of virtual rows and overhangs, m columns of summed tiles, one image row.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: S * phaseLength + g.m * count + S * span + 16) { scratch in
            let base = scratch.baseAddress!
            for q in 0..<S { (base + q * phaseLength + rowsLength - 8 * g.m).update(repeating: 0, count: 8 * g.m) }
            let columns = base + S * phaseLength, line = columns + g.m * count
            for unit in units {
                for a in 0..<side {
                    for q in 0..<S {
                        let vr = base + q * phaseLength
                        if mode == .gather {
                            gather(unit, a, q, rows: vr, overhang: vr + rowsLength)
                        } else {
                            collect(unit, a, q, rows: vr, overhang: vr + rowsLength, columns: columns)
                        }
                    }
                    if mode != .gather { write(unit, a, rows: base, phaseLength: phaseLength, line: line) }
                }
            }
        }
    }

    /// Unit (sample, channel, row phase) → the channel's image, the row phase p.
    private func plane(_ unit: Int) -> (UnsafeMutablePointer<Float>, Int, Int) {
        let S = map.phases, C = map.channels
        let s = unit / (C * S), c = unit / S % C
        return (image + (s * C + c) * map.height * map.width, s, c)
    }

    /// Image row S·(th·m + a) + shift_p of the unit's plane, or nil outside the image.
    private func row(_ unit: Int, _ a: Int, _ th: Int) -> UnsafeMutablePointer<Float>? {
        let ih = map.phases * (th * g.m + a) + map.phaseSign * (unit % map.phases) - map.origin
        return ih >= 0 && ih < map.height ? plane(unit).0 + ih * map.width : nil
    }

    /// Column phase q's shift and tile position (a, 0) of the unit's virtual channel.
    private func phase(_ unit: Int, _ a: Int, _ q: Int) -> (shift: Int, tiles: UnsafeMutablePointer<Float>) {
        let S = map.phases, (_, s, c) = plane(unit)
        let k = (c * S + unit % S) * S + q
        return (map.phaseSign * q - map.origin,
                tiles + k * g.tiles + s * g.tilesPerSample + a * side * map.virtualChannels * g.tiles)
    }

    /// The virtual columns of phase `shift` inside the image: 0 ≤ S·V + shift < W.
    private func inside(_ shift: Int) -> Range<Int> {
        let S = map.phases
        let lo = shift >= 0 ? 0 : (S - 1 - shift) / S
        return lo..<max(lo, (map.width - shift + S - 1) / S)
    }

    /// Tiles (a, ·) of phase q from the image.
    private func gather(_ unit: Int, _ a: Int, _ q: Int, rows vr: UnsafeMutablePointer<Float>, overhang ov: UnsafeMutablePointer<Float>) {
        let m = g.m, TW = g.tilesWide, TH = g.tilesHigh, extra = extra, count = TH * TW, span = TW * m
        let position = map.virtualChannels * g.tiles
        let (shift, t) = phase(unit, a, q), columns = inside(shift)
        for th in 0..<TH {
            let r = vr + th * span, o = ov + th * extra
            guard let src = row(unit, a, th).map({ $0 + shift }) else {
                r.update(repeating: 0, count: span)
                o.update(repeating: 0, count: extra)
                continue
            }
            readRow(src, map.phases, columns.clamped(to: 0..<span), readable: map.width - shift, into: r, count: span)
            for e in 0..<extra { o[e] = columns.contains(span + e) ? src[map.phases * (span + e)] : 0 }
        }
        for b in 0..<min(side, m) { readColumn(vr + b, m, count, into: t + b * position) }
        for b in m..<side {
            let out = t + b * position, from = t + (b - m) * position
            out.update(from: from + 1, count: count - 1)
            for th in 0..<TH { out[th * TW + TW - 1] = ov[th * extra + b - m] }
        }
    }

    /// Tiles (a, ·) of phase q summed (or placed) into its virtual rows and overhangs.
    private func collect(_ unit: Int, _ a: Int, _ q: Int, rows vr: UnsafeMutablePointer<Float>,
                         overhang ov: UnsafeMutablePointer<Float>, columns: UnsafeMutablePointer<Float>) {
        let m = g.m, TW = g.tilesWide, TH = g.tilesHigh, extra = extra, count = TH * TW
        let position = map.virtualChannels * g.tiles
        let t = phase(unit, a, q).tiles
        // Entry b < m of a tile and entry b + m of the tile before it land on one pixel.
        var c0 = UnsafePointer(t), c1 = UnsafePointer(t + min(1, m - 1) * position)
        var c2 = UnsafePointer(t + min(2, m - 1) * position), c3 = UnsafePointer(t + min(3, m - 1) * position)
        for b in 0..<extra {
            let next = t + (b + m) * position, sum = columns + b * count
            let col = b == 0 ? c0 : b == 1 ? c1 : b == 2 ? c2 : c3
            sum[0] = col[0]
            add(col + 1, next, into: sum + 1, count: count - 1)
            for th in 1..<TH { sum[th * TW] = col[th * TW] }
            for th in 0..<TH { ov[th * extra + b] = next[th * TW + TW - 1] }
            switch b {
            case 0: c0 = UnsafePointer(sum)
            case 1: c1 = UnsafePointer(sum)
            case 2: c2 = UnsafePointer(sum)
            default: c3 = UnsafePointer(sum)
            }
        }
        var j = 0
        while j + 8 <= count {
            storeInterleaved(load8(c0, j), load8(c1, j), load8(c2, j), load8(c3, j), m, to: vr + j * m)
            j += 8
        }
        while j < count {
            vr[j * m] = c0[j]
            if m > 1 { vr[j * m + 1] = c1[j] }
            if m > 2 { vr[j * m + 2] = c2[j] }
            if m > 3 { vr[j * m + 3] = c3[j] }
            j += 1
        }
    }

    /// The S phases' virtual rows of tiles (a, ·), interleaved, added to or stored in the image.
    private func write(_ unit: Int, _ a: Int, rows: UnsafeMutablePointer<Float>, phaseLength: Int, line: UnsafeMutablePointer<Float>) {
        let S = map.phases, W = map.width, TW = g.tilesWide, span = TW * g.m, extra = extra
        // Phase q's pixels are S·V + shift_q, shift_q = σ·q − P: with two phases the one with
        // the smaller shift holds the even entries of the interleaved row.
        let first = map.phaseSign > 0 ? 0 : S - 1, base = map.phaseSign * first - map.origin
        precondition(S <= 2, "more than two column phases")
        for th in 0..<g.tilesHigh {
            guard let dst = row(unit, a, th) else { continue }
            let source: UnsafePointer<Float>
            if S == 1 {
                source = UnsafePointer(rows + th * span)
            } else {
                let r0 = rows + first * phaseLength + th * span, r1 = rows + (1 - first) * phaseLength + th * span
                var v = 0
                while v + 8 <= span {
                    storeInterleaved(load8(r0, v), load8(r1, v), .zero, .zero, 2, to: line + 2 * v)
                    v += 8
                }
                while v < span { line[2 * v] = r0[v]; line[2 * v + 1] = r1[v]; v += 1 }
                source = UnsafePointer(line)
            }
            let x = max(0, -base)..<max(max(0, -base), min(S * span, W - base))
            if mode == .add {
                add(dst + base + x.lowerBound, source + x.lowerBound, into: dst + base + x.lowerBound, count: x.count)
                for q in 0..<S {
                    let ov = rows + q * phaseLength + rowsLength + th * extra, shift = map.phaseSign * q - map.origin
                    let columns = inside(shift)
                    for e in 0..<extra where columns.contains(span + e) { dst[S * (span + e) + shift] += ov[e] }
                }
            } else {
                (dst + base + x.lowerBound).update(from: source + x.lowerBound, count: x.count)
            }
        }
    }
}

/// out[i] = a[i] + b[i] for i < count, 8 lanes at a time and the rest one by one (these rows
/// are short: `lanewise`'s 16 lanes and vector tail cost more here).
@inline(__always)
private func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        UnsafeMutableRawPointer(out + i).storeBytes(of: load8(a, i) + load8(b, i), as: SIMD8<Float>.self)
        i += 8
    }
    while i < count { out[i] = a[i] + b[i]; i += 1 }
}

/// vr[V] = row[S·V] for V in `inside`, zero elsewhere in vr[0 ..< count]; row[0 ..< readable]
/// may be read.
@inline(__always)
private func readRow(_ row: UnsafePointer<Float>, _ S: Int, _ inside: Range<Int>, readable: Int,
                     into vr: UnsafeMutablePointer<Float>, count: Int) {
    let lo = min(inside.lowerBound, count), hi = max(lo, inside.upperBound)
    vr.update(repeating: 0, count: lo)
    if S == 1 {
        (vr + lo).update(from: row + lo, count: hi - lo)
    } else {
        var v = lo
        // Vectors only while all 8·S floats they load lie in the row.
        while v + 8 <= hi, S * (v + 8) <= readable, S <= 4 {
            UnsafeMutableRawPointer(vr + v).storeBytes(of: strided8(row + S * v, S), as: SIMD8<Float>.self)
            v += 8
        }
        while v < hi { vr[v] = row[S * v]; v += 1 }
    }
    (vr + hi).update(repeating: 0, count: count - hi)
}

/// column[i] = vr[m·i] for i < count (m ≤ 4), eight at a time (vr reaches 8·m floats past the
/// last).
@inline(__always)
private func readColumn(_ vr: UnsafePointer<Float>, _ m: Int, _ count: Int, into column: UnsafeMutablePointer<Float>) {
    var i = 0
    while i + 8 <= count {
        UnsafeMutableRawPointer(column + i).storeBytes(of: strided8(vr + m * i, m), as: SIMD8<Float>.self)
        i += 8
    }
    if i < count {
        let last = strided8(vr + m * i, m)
        for l in 0..<(count - i) { column[i + l] = last[l] }
    }
}
