import Testing
import Tensor
import TestSupport

/// Winograd's transforms against the definition of a correlation, and the tile copies
/// against their adjoints and the definition of `TileMap`.
@Suite struct WinogradTests {
    /// The tile sizes the convolutions use: F(4, 4), F(4, 3), F(3, 2), and three more.
    @Test(arguments: [(4, 4), (3, 4), (4, 3), (3, 2), (2, 3), (4, 2)])
    func oneTileEqualsCorrelation(_ m: Int, _ r: Int) {
        let t = WinogradTransform(outputTile: m, kernel: r)
        let n = t.n
        let d = randomValues(n * n, seed: 1), g = randomValues(r * r, seed: 2)
        // U = G g Gᵀ (`filter`), V = input · vec(d) (kron of Bᵀ), Y = output · (U ⊙ V), each
        // a dense product of the stored matrices.
        let G = t.filter.base
        var u = [Float](repeating: 0, count: n * n)
        for a in 0..<n { for b in 0..<n { for i in 0..<r { for j in 0..<r {
            u[a * n + b] += G[a * r + i] * G[b * r + j] * g[i * r + j]
        } } } }
        var v = [Float](repeating: 0, count: n * n)
        for xi in 0..<n * n { for j in 0..<n * n { v[xi] += t.input.base[xi * n * n + j] * d[j] } }
        var y = [Float](repeating: 0, count: m * m)
        for i in 0..<m * m { for xi in 0..<n * n { y[i] += t.output.base[i * n * n + xi] * u[xi] * v[xi] } }
        var expected = [Float](repeating: 0, count: m * m)
        for i in 0..<m { for j in 0..<m { for a in 0..<r { for b in 0..<r {
            expected[i * m + j] += d[(i + a) * n + j + b] * g[a * r + b]
        } } } }
        expectClose(y, expected, atol: 1e-4, "F(\(m), \(r))")
    }

    /// (phases, sign, origin) of the three ways the convolutions map tiles.
    static let maps: [(Int, Int, Int)] = [(1, 1, 1), (1, 1, 0), (2, 1, 1), (2, -1, 0)]

    /// (batch, channels, height, width, output height, output width, m, r): a few tiles; rows of
    /// tiles longer than the copies' 8-tile vectors, with a partial last one, for each tile
    /// overlap (r − 1 of 1, 2 and 3, up to a whole tile).
    static let shapes: [(Int, Int, Int, Int, Int, Int, Int, Int)] = [
        (2, 3, 9, 7, 5, 4, 3, 2), (1, 2, 19, 37, 13, 28, 3, 2), (1, 2, 23, 41, 17, 35, 4, 4), (2, 1, 12, 35, 9, 30, 2, 3),
    ]

    /// Every tile entry is the pixel `TileMap` names (or 0 outside), and scatter is the
    /// adjoint of gather: ⟨gather(x), t⟩ = ⟨x, scatter(t)⟩; the same for place and collect.
    @Test(arguments: maps, shapes)
    func tileCopiesMatchDefinitionAndAdjoints(_ mapping: (Int, Int, Int), _ shape: (Int, Int, Int, Int, Int, Int, Int, Int)) {
        let (phases, sign, origin) = mapping
        let (batch, channels, h, w, outHeight, outWidth, m, r) = shape
        let map = TileMap(channels: channels, height: h, width: w, phases: phases, phaseSign: sign, origin: origin)
        let g = WinogradTiling(batch: batch, outHeight: outHeight, outWidth: outWidth, kernel: r, outputTile: m)
        let k = map.virtualChannels, count = batch * channels * h * w
        for side in [g.n, g.m] {
            let tileCount = side * side * k * g.tiles
            let x = TensorBuffer(shape: Shape(1, 1, 1, count), values: randomValues(count, seed: 3))
            let tiles = TensorBuffer(capacity: tileCount)
            if side == g.n { gatherTiles(x.base, map, g, tiles.base) } else { collectTiles(x.base, map, g, tiles.base) }
            // The definition.
            for s in 0..<batch { for kk in 0..<k { for th in 0..<g.tilesHigh { for tw in 0..<g.tilesWide {
                for a in 0..<side { for b in 0..<side {
                    let c = kk / (phases * phases), phase = kk % (phases * phases)
                    let ih = phases * (th * m + a) + sign * (phase / phases) - origin
                    let iw = phases * (tw * m + b) + sign * (phase % phases) - origin
                    let inside = ih >= 0 && ih < h && iw >= 0 && iw < w
                    let t = s * g.tilesPerSample + th * g.tilesWide + tw
                    let value = tiles.base[((a * side + b) * k + kk) * g.tiles + t]
                    #expect(value == (inside ? x.base[((s * channels + c) * h + ih) * w + iw] : 0))
                } }
            } } } }
            // Scatter sums every tile entry into its pixel; place writes it there and leaves the
            // pixels no tile covers alone.
            let t = TensorBuffer(shape: Shape(1, 1, 1, tileCount), values: randomValues(tileCount, seed: 4))
            let untouched: Float = 7
            var expected = [Double](repeating: side == g.n ? 0 : Double(untouched), count: count)
            for s in 0..<batch { for kk in 0..<k { for th in 0..<g.tilesHigh { for tw in 0..<g.tilesWide {
                for a in 0..<side { for b in 0..<side {
                    let c = kk / (phases * phases), phase = kk % (phases * phases)
                    let ih = phases * (th * m + a) + sign * (phase / phases) - origin
                    let iw = phases * (tw * m + b) + sign * (phase % phases) - origin
                    guard ih >= 0 && ih < h && iw >= 0 && iw < w else { continue }
                    let entry = Double(t.base[((a * side + b) * k + kk) * g.tiles + s * g.tilesPerSample + th * g.tilesWide + tw])
                    let pixel = ((s * channels + c) * h + ih) * w + iw
                    expected[pixel] = side == g.n ? expected[pixel] + entry : entry
                } }
            } } } }
            let back = TensorBuffer(capacity: count)
            if side == g.n {
                back.base.update(repeating: untouched, count: count)  // scatter overwrites
                scatterTiles(t.base, map, g, back.base)
            } else {
                back.base.update(repeating: untouched, count: count)
                placeTiles(t.base, map, g, back.base)
            }
            let worst = (0..<count).map { abs(Double(back.base[$0]) - expected[$0]) }.max()!
            #expect(worst < 1e-5, "side \(side): \(worst) from the definition")
            // Adjoint: ⟨gather(x), t⟩ = ⟨x, scatter(t)⟩ (place is the adjoint of collect where
            // tiles do not overlap, side m).
            if side == g.m { back.base.update(repeating: 0, count: count); placeTiles(t.base, map, g, back.base) }
            var left = 0.0, right = 0.0
            for i in 0..<tileCount { left += Double(tiles.base[i]) * Double(t.base[i]) }
            for i in 0..<count { right += Double(x.base[i]) * Double(back.base[i]) }
            #expect(abs(left - right) < 1e-4 * max(1, abs(left)), "side \(side): \(left) vs \(right)")
        }
    }
}
