// A procedural paired dataset for demos and tests: a label map of a facade or a city block
// in 8 flat colours, and its "photo", rendered from the labels and the scene's random
// parameters (materials, light, shadows, ambient occlusion, sensor noise).
//
// Files are PT's aligned format laid out exactly as CMP Facades: photo on the left (A),
// label map on the right (B), so label → photo is `direction: BtoA` for both datasets and
// one config works for either.
//
// Every draw comes from `RandomStream` (Philox) keyed by (seed, split, image index,
// purpose), so a seed gives byte-identical files on any thread count; procedural textures
// use an integer hash of pixel coordinates seeded from those draws.
import Foundation
import Tensor
import ImageData

/// Generates the demo dataset: scenes (`DemoScene`), their renderings and the A|B files.
///
/// Each file is `2S × S` with the rendered photo on the left (PT's A) and the label map on
/// the right (PT's B), as CMP Facades: label → photo is `direction: BtoA`.
public enum DemoDataset {
    /// The classes of the label map, in palette order.
    public enum Label: UInt8, CaseIterable, Sendable {
        case background, sky, wall, window, door, roof, vegetation, road
    }

    /// The flat label colour of each class (RGB), indexed by `Label.rawValue`.
    public static let palette: [SIMD3<UInt8>] = [
        SIMD3(0, 0, 0),         // background (pavement, ground)
        SIMD3(0, 170, 255),     // sky
        SIMD3(255, 85, 0),      // wall
        SIMD3(0, 0, 255),       // window
        SIMD3(170, 0, 255),     // door
        SIMD3(255, 0, 85),      // roof
        SIMD3(0, 200, 0),       // vegetation
        SIMD3(128, 128, 128),   // road
    ]

    /// The split folders, in the order their images are numbered.
    public static let splits = ["train", "val", "test"]

    /// The random stream of one image: (seed, split, index) → an independent stream, so
    /// changing the number of training images does not change val or test.
    static func imageStream(seed: UInt64, split: String, index: Int) -> RandomStream {
        RandomStream(seed: seed, stream: 0x5EED_DE30).derived("demo/\(split)/\(index)")
    }

    /// The scene (labels and parameters) of one image.
    public static func scene(seed: UInt64, split: String, index: Int, size: Int) -> DemoScene {
        DemoScene(stream: imageStream(seed: seed, split: split, index: index), size: size)
    }

    /// One A|B file's image, `2·size × size` RGB: photo left, labels right.
    public static func pair(seed: UInt64, split: String, index: Int, size: Int) -> Image {
        let scene = scene(seed: seed, split: split, index: index, size: size)
        return scene.pairImage()
    }

    /// The file name of image `index`: zero-padded so that name order is index order.
    public static func fileName(index: Int) -> String {
        let digits = String(index + 1)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits + ".png"
    }

    /// Writes `counts[split]` pairs of `size × size` into `<output>/<split>/NNNN.png` for
    /// each split with a non-zero count, in parallel over images. Returns the files written.
    ///
    /// Throws, naming the path, when a split folder already holds image files (old files
    /// would mix with new ones) or a file cannot be written.
    @discardableResult
    public static func write(to output: String, size: Int, seed: UInt64,
                             counts: [(split: String, count: Int)]) throws -> [String] {
        guard size >= 16 && size <= 4096 else {
            throw ImageDataError(path: output, problem: "demo image size must be between 16 and 4096, got \(size)")
        }
        var jobs: [(split: String, index: Int, path: String)] = []
        for (split, count) in counts where count > 0 {
            let dir = output + "/" + split
            try ensureEmptyImageFolder(dir)
            for i in 0..<count { jobs.append((split, i, dir + "/" + fileName(index: i))) }
        }
        let failures = FailureSlots(count: jobs.count)
        let work = jobs
        DispatchQueue.concurrentPerform(iterations: work.count) { j in
            let job = work[j]
            let image = pair(seed: seed, split: job.split, index: job.index, size: size)
            do { try ImageEncoder.writePNG(image, to: job.path) } catch { failures.set(j, error) }
        }
        if let error = failures.first { throw error }
        return jobs.map(\.path)
    }

    /// Creates `path` (and parents) and throws if it already holds image files.
    static func ensureEmptyImageFolder(_ path: String) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw ImageDataError(path: path, problem: "exists and is not a folder") }
            let existing = (try? fm.contentsOfDirectory(atPath: path)) ?? []
            if let first = existing.sorted().first(where: { ImageFolder.isImageFile(Array($0.utf8)) }) {
                throw ImageDataError(path: path, problem: "already holds images (\(first), …); remove them or choose another output folder")
            }
        }
        do { try fm.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw ImageDataError(path: path, problem: "cannot create folder: \(error.localizedDescription)")
        }
    }
}

/// One error slot per job of a concurrent loop; `first` is the lowest-index failure, so the
/// error reported does not depend on thread timing.
final class FailureSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [Int: any Error] = [:]
    init(count: Int) {}
    func set(_ index: Int, _ error: any Error) {
        lock.lock(); defer { lock.unlock() }
        errors[index] = error
    }
    var first: (any Error)? {
        lock.lock(); defer { lock.unlock() }
        return errors.keys.min().map { errors[$0]! }
    }
}

// MARK: - Random draws

/// Sequential draws from one counter-based stream: the n-th call reads index n.
struct Draws {
    let stream: RandomStream
    var counter: UInt64 = 0

    init(_ stream: RandomStream) { self.stream = stream }

    mutating func unit() -> Float {
        defer { counter += 1 }
        return stream.uniform(counter)
    }
    mutating func range(_ a: Float, _ b: Float) -> Float { a + (b - a) * unit() }
    /// Uniform integer in `a...b`.
    mutating func int(_ a: Int, _ b: Int) -> Int {
        b <= a ? a : a + min(b - a, Int(unit() * Float(b - a + 1)))
    }
    mutating func chance(_ p: Float) -> Bool { unit() < p }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0, items.count - 1)] }
    mutating func word() -> UInt32 {
        defer { counter += 1 }
        return stream.bits(counter)
    }
    /// A colour jittered by ± `amount` per channel and ± `amount` in brightness.
    mutating func jitter(_ c: SIMD3<Float>, _ amount: Float) -> SIMD3<Float> {
        let b = 1 + range(-amount, amount)
        return SIMD3(c.x * b + range(-amount, amount) * 0.3,
                     c.y * b + range(-amount, amount) * 0.3,
                     c.z * b + range(-amount, amount) * 0.3)
    }
}

// MARK: - Scenes

/// What an instance of the label map is: each drawn element (building wall, window, door,
/// roof, tree) has one, so the renderer knows its rectangle and its building's style.
struct DemoInstance {
    enum Kind { case wall, window, door, roof, tree, shopWindow }
    var kind: Kind
    /// Index into `DemoScene.styles` (trees: 0).
    var building: Int
    /// Bounding rectangle, `x0..<x1`, `y0..<y1`, in pixels.
    var x0: Int, y0: Int, x1: Int, y1: Int
    /// Trees: crown centre and radius (pixels); pixels outside the crown are the trunk.
    var cx: Float = 0, cy: Float = 0, radius: Float = 0
    /// Per-instance variation in [0, 1).
    var variation: Float = 0
}

/// How one building looks: materials and colours drawn per building.
struct BuildingStyle {
    enum Wall { case brick, plaster, stone }
    var wall: Wall
    var wallColor: SIMD3<Float>
    var mortarColor: SIMD3<Float>
    var frameColor: SIMD3<Float>
    var glassColor: SIMD3<Float>
    var doorColor: SIMD3<Float>
    var roofColor: SIMD3<Float>
    /// Brick or block row height and width, pixels.
    var brickHeight: Float
    var brickWidth: Float
    var tileHeight: Float
    var litFraction: Float
}

/// One generated scene: the label raster, the instance raster, and the parameters that
/// render the photo. Everything is a function of the stream it was built from.
public struct DemoScene: Sendable {
    /// Side length in pixels.
    public let size: Int
    /// `size × size` class indices (`DemoDataset.Label.rawValue`), row-major.
    public private(set) var labels: [UInt8]
    /// Whether the scene is a close facade (else a street of several buildings).
    public let isFacade: Bool
    var instanceMap: [UInt16]
    var instances: [DemoInstance] = [DemoInstance(kind: .wall, building: 0, x0: 0, y0: 0, x1: 0, y1: 0)]
    var styles: [BuildingStyle] = []
    let stream: RandomStream

    // Scene-wide rendering parameters.
    var skyTop = SIMD3<Float>(0.25, 0.45, 0.85)
    var skyHorizon = SIMD3<Float>(0.70, 0.80, 0.95)
    var cloudiness: Float = 0.3
    var tint = SIMD3<Float>(1, 1, 1)
    var exposure: Float = 1
    /// Direction light travels in the image plane (x right, y down), unit length.
    var lightX: Float = 0.5, lightY: Float = 0.86
    /// Tangent of the sun's elevation over the facade plane: shadow length per unit height.
    var sunSlope: Float = 0.8
    var shadowStrength: Float = 0.45
    var gradientStrength: Float = 0.2
    var noiseSigma: Float = 0.01
    var horizonY: Float = 0
    var textureSeed: UInt32 = 0

    init(stream: RandomStream, size: Int) {
        self.stream = stream
        self.size = size
        labels = [UInt8](repeating: DemoDataset.Label.sky.rawValue, count: size * size)
        instanceMap = [UInt16](repeating: 0, count: size * size)
        var d = Draws(stream.derived("layout"))
        isFacade = d.chance(0.5)
        drawScene(&d)
        var p = Draws(stream.derived("render"))
        drawRenderParameters(&p)
    }

    /// Draws a building style.
    static func style(_ d: inout Draws, size: Int) -> BuildingStyle {
        let s = Float(size) / 256
        let kind: BuildingStyle.Wall = d.pick([.brick, .plaster, .plaster, .stone])
        let wallColor: SIMD3<Float>
        switch kind {
        case .brick:
            wallColor = d.jitter(d.pick([SIMD3<Float>(0.58, 0.27, 0.18), SIMD3(0.66, 0.38, 0.25), SIMD3(0.48, 0.22, 0.17),
                                         SIMD3(0.72, 0.55, 0.40)]), 0.08)
        case .plaster:
            wallColor = d.jitter(d.pick([SIMD3<Float>(0.86, 0.78, 0.62), SIMD3(0.92, 0.88, 0.78), SIMD3(0.90, 0.80, 0.50),
                                         SIMD3(0.78, 0.78, 0.76), SIMD3(0.88, 0.66, 0.55), SIMD3(0.70, 0.80, 0.68),
                                         SIMD3(0.62, 0.70, 0.82)]), 0.07)
        case .stone:
            wallColor = d.jitter(d.pick([SIMD3<Float>(0.68, 0.64, 0.56), SIMD3(0.58, 0.58, 0.58), SIMD3(0.74, 0.70, 0.60)]), 0.06)
        }
        let brickHeight = max(2, 4 * s * d.range(0.8, 1.3)) * (kind == .stone ? 2.5 : 1)
        return BuildingStyle(
            wall: kind, wallColor: wallColor,
            mortarColor: d.jitter(SIMD3(0.75, 0.73, 0.68), 0.05),
            frameColor: d.jitter(d.pick([SIMD3<Float>(0.93, 0.93, 0.90), SIMD3(0.25, 0.25, 0.27), SIMD3(0.40, 0.27, 0.17),
                                         SIMD3(0.30, 0.40, 0.32)]), 0.04),
            glassColor: d.jitter(SIMD3(0.16, 0.22, 0.30), 0.08),
            doorColor: d.jitter(d.pick([SIMD3<Float>(0.42, 0.26, 0.14), SIMD3(0.15, 0.30, 0.20), SIMD3(0.45, 0.12, 0.12),
                                        SIMD3(0.20, 0.22, 0.35)]), 0.06),
            roofColor: d.jitter(d.pick([SIMD3<Float>(0.62, 0.30, 0.20), SIMD3(0.30, 0.32, 0.36), SIMD3(0.38, 0.28, 0.22)]), 0.06),
            brickHeight: brickHeight,
            brickWidth: brickHeight * d.range(2.0, 2.8),
            tileHeight: max(2, 5 * s * d.range(0.8, 1.3)),
            litFraction: d.range(0, 0.12))
    }

    // MARK: Drawing the label map

    mutating func addInstance(_ instance: DemoInstance) -> UInt16 {
        var i = instance
        i.x0 = max(0, i.x0); i.y0 = max(0, i.y0); i.x1 = min(size, i.x1); i.y1 = min(size, i.y1)
        instances.append(i)
        return UInt16(truncatingIfNeeded: instances.count - 1)
    }

    mutating func fill(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ label: DemoDataset.Label, _ id: UInt16) {
        let ax = max(0, x0), ay = max(0, y0), bx = min(size, x1), by = min(size, y1)
        guard ax < bx && ay < by else { return }
        for y in ay..<by {
            for x in ax..<bx {
                labels[y * size + x] = label.rawValue
                instanceMap[y * size + x] = id
            }
        }
    }

    /// A rectangle element (window, door, …) recorded as an instance and drawn.
    mutating func element(_ kind: DemoInstance.Kind, _ label: DemoDataset.Label, building: Int,
                          _ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ d: inout Draws) {
        guard x1 > x0 + 1 && y1 > y0 + 1 else { return }
        let id = addInstance(DemoInstance(kind: kind, building: building, x0: x0, y0: y0, x1: x1, y1: y1,
                                          variation: d.unit()))
        fill(x0, y0, x1, y1, label, id)
    }

    mutating func drawScene(_ d: inout Draws) {
        let S = Float(size)
        if isFacade {
            // A close frontal facade, as in CMP Facades: one building across the frame,
            // perhaps neighbours at the sides, a strip of sky, ground at the bottom.
            let groundTop = Int(S * (1 - d.range(0.0, 0.07)))
            let roadTop = d.chance(0.5) ? groundTop + Int(S * d.range(0, 0.04)) : size
            fill(0, groundTop, size, size, .background, 0)
            fill(0, roadTop, size, size, .road, 0)
            var left = 0, right = size
            if d.chance(0.4) {
                let w = Int(S * d.range(0.06, 0.2))
                building(&d, x0: -Int(S * 0.2), x1: w, top: Int(S * d.range(-0.1, 0.3)), ground: groundTop, facade: true)
                left = w
            }
            if d.chance(0.4) {
                let w = Int(S * d.range(0.06, 0.2))
                building(&d, x0: size - w, x1: size + Int(S * 0.2), top: Int(S * d.range(-0.1, 0.3)), ground: groundTop, facade: true)
                right = size - w
            }
            building(&d, x0: left, x1: right, top: Int(S * d.range(-0.15, 0.2)), ground: groundTop, facade: true)
            let bushes = d.chance(0.4) ? d.int(1, 4) : 0
            for _ in 0..<bushes {
                tree(&d, x: d.range(0, S), ground: Float(groundTop) + 2, radius: S * d.range(0.04, 0.08), trunk: 0)
            }
            horizonY = Float(groundTop)
        } else {
            // A street: several buildings of different heights, sky above, pavement and
            // road below, trees in front.
            let groundTop = Int(S * d.range(0.76, 0.88))
            let roadTop = groundTop + Int(S * d.range(0.03, 0.07))
            fill(0, groundTop, size, size, .background, 0)
            fill(0, roadTop, size, size, .road, 0)
            var x = -Int(S * d.range(0, 0.1))
            while x < size {
                let w = Int(S * d.range(0.22, 0.5))
                building(&d, x0: x, x1: x + w, top: Int(S * d.range(0.08, 0.5)), ground: groundTop, facade: false)
                x += w
                if d.chance(0.25) { x += Int(S * d.range(0.03, 0.1)) }
            }
            let trees = d.int(0, 3)
            for _ in 0..<trees {
                tree(&d, x: d.range(0, S), ground: Float(roadTop), radius: S * d.range(0.05, 0.1),
                     trunk: S * d.range(0.06, 0.14))
            }
            horizonY = Float(groundTop)
        }
    }

    /// One building: wall from `top` to `ground`, a roof, a grid of windows with its own
    /// spacing, a ground floor with doors and maybe shop windows.
    mutating func building(_ d: inout Draws, x0: Int, x1: Int, top: Int, ground: Int, facade: Bool) {
        let S = Float(size)
        let b = styles.count
        styles.append(Self.style(&d, size: size))
        let w = Float(x1 - x0)
        // Roof.
        var wallTop = top
        switch d.int(0, 2) {
        case 0:   // flat, with a cornice band
            let h = max(2, Int(S * d.range(0.015, 0.035)))
            let over = Int(S * 0.01)
            let id = addInstance(DemoInstance(kind: .roof, building: b, x0: x0 - over, y0: top, x1: x1 + over, y1: top + h))
            fill(x0 - over, top, x1 + over, top + h, .roof, id)
            wallTop = top + h
        case 1:   // pitched: a trapezoid above the wall top
            let h = Int(min(w * d.range(0.12, 0.3), S * d.range(0.06, 0.16)))
            let inset = d.range(0.1, 0.5) * w / 2
            let id = addInstance(DemoInstance(kind: .roof, building: b, x0: x0, y0: top - h, x1: x1, y1: top))
            for y in max(0, top - h)..<max(0, min(size, top)) {
                let t = Float(top - y) / Float(max(h, 1))      // 0 at the eaves, 1 at the ridge
                let a = Int(Float(x0) + inset * t), c = Int(Float(x1) - inset * t)
                fill(a, y, c, y + 1, .roof, id)
            }
        default:  // none: the wall meets the sky
            break
        }
        let wallID = addInstance(DemoInstance(kind: .wall, building: b, x0: x0, y0: wallTop, x1: x1, y1: ground))
        fill(x0, wallTop, x1, ground, .wall, wallID)

        // Floors and the window grid.
        let floorH = S * d.range(0.075, 0.13) * (facade ? 1.1 : 1)
        let groundFloor = floorH * d.range(1.1, 1.5)
        let colSpacing = S * d.range(0.07, 0.13) * (facade ? 1.2 : 1)
        let margin = colSpacing * d.range(0.2, 0.6)
        let winW = colSpacing * d.range(0.35, 0.6)
        let winH = floorH * d.range(0.45, 0.7)
        let columns = max(0, Int((w - 2 * margin) / colSpacing))
        let gridLeft = Float(x0) + (w - Float(columns) * colSpacing) / 2
        let topGap = floorH * d.range(0.15, 0.4)
        let blindChance: Float = d.chance(0.3) ? d.range(0.05, 0.2) : 0
        var rowTop = Float(wallTop) + topGap
        while rowTop + winH < Float(ground) - groundFloor {
            for c in 0..<columns {
                if d.chance(blindChance) { continue }
                let wx = gridLeft + (Float(c) + 0.5) * colSpacing - winW / 2
                element(.window, .window, building: b, Int(wx), Int(rowTop), Int(wx + winW), Int(rowTop + winH), &d)
            }
            rowTop += floorH
        }
        // Ground floor: doors at grid columns, shop windows or ordinary windows elsewhere.
        guard columns > 0 else { return }
        let doorW = max(winW * d.range(1.0, 1.4), S * 0.035)
        let doorH = min(groundFloor * d.range(0.7, 0.9), Float(ground - wallTop) * 0.8)
        let doors = columns >= 4 && d.chance(0.4) ? 2 : 1
        var doorColumns: Set<Int> = []
        for _ in 0..<doors { doorColumns.insert(d.int(0, columns - 1)) }
        let shop = d.chance(0.4)
        for c in 0..<columns {
            let cx = gridLeft + (Float(c) + 0.5) * colSpacing
            if doorColumns.contains(c) {
                element(.door, .door, building: b, Int(cx - doorW / 2), Int(Float(ground) - doorH),
                        Int(cx + doorW / 2), ground, &d)
            } else if shop {
                let sw = colSpacing * 0.85
                element(.shopWindow, .window, building: b, Int(cx - sw / 2), Int(Float(ground) - doorH),
                        Int(cx + sw / 2), Int(Float(ground) - S * 0.01), &d)
            } else if Float(ground) - groundFloor * 0.5 - winH / 2 > Float(wallTop) + 2 {
                let wy = Float(ground) - groundFloor * 0.55 - winH / 2
                element(.window, .window, building: b, Int(cx - winW / 2), Int(wy), Int(cx + winW / 2), Int(wy + winH), &d)
            }
        }
    }

    /// A tree: a crown of overlapping discs on a trunk standing on `ground`.
    mutating func tree(_ d: inout Draws, x: Float, ground: Float, radius r: Float, trunk: Float) {
        let cy = ground - trunk - r * 0.8
        var discs: [(Float, Float, Float)] = [(x, cy, r)]
        for _ in 0..<4 {
            discs.append((x + d.range(-0.6, 0.6) * r, cy + d.range(-0.5, 0.4) * r, r * d.range(0.5, 0.8)))
        }
        let trunkW = max(1, r * 0.18)
        let id = addInstance(DemoInstance(kind: .tree, building: 0, x0: Int(x - 2 * r), y0: Int(cy - 2 * r),
                                          x1: Int(x + 2 * r) + 1, y1: Int(ground) + 1, cx: x, cy: cy, radius: r,
                                          variation: d.unit()))
        let inst = instances[Int(id)]
        for py in inst.y0..<inst.y1 {
            for px in inst.x0..<inst.x1 {
                let fx = Float(px) + 0.5, fy = Float(py) + 0.5
                var inside = trunk > 0 && abs(fx - x) < trunkW / 2 && fy > cy && fy < ground
                for (dx, dy, dr) in discs where !inside {
                    inside = (fx - dx) * (fx - dx) + (fy - dy) * (fy - dy) < dr * dr
                }
                if inside {
                    labels[py * size + px] = DemoDataset.Label.vegetation.rawValue
                    instanceMap[py * size + px] = id
                }
            }
        }
    }

    mutating func drawRenderParameters(_ d: inout Draws) {
        let overcast = d.chance(0.25)
        skyTop = overcast ? d.jitter(SIMD3(0.62, 0.65, 0.70), 0.06) : d.jitter(SIMD3(0.22, 0.45, 0.85), 0.08)
        skyHorizon = overcast ? d.jitter(SIMD3(0.82, 0.84, 0.86), 0.04) : d.jitter(SIMD3(0.68, 0.80, 0.95), 0.05)
        cloudiness = overcast ? 0.1 : d.range(0, 0.6)
        let warm = d.range(-1, 1)
        tint = SIMD3(1 + 0.06 * warm, 1, 1 - 0.08 * warm)
        exposure = d.range(0.88, 1.1)
        let angle = d.range(-0.9, 0.9)   // radians from straight down
        lightX = sin(angle); lightY = cos(angle)
        sunSlope = d.range(0.5, 1.2)
        shadowStrength = overcast ? d.range(0.1, 0.2) : d.range(0.35, 0.6)
        gradientStrength = d.range(0.05, 0.3)
        noiseSigma = d.range(0.006, 0.02)
        textureSeed = d.word()
    }

    // MARK: Rendering

    /// Height of each class over the facade plane, in pixels at size 256 (scaled).
    static let heights: [Float] = [0, 0, 0, -3, -4, 1, 8, 0]

    /// The label map as an image: the palette colour of each label.
    public func labelImage() -> Image {
        var px = [UInt8](repeating: 0, count: size * size * 3)
        for i in 0..<(size * size) {
            let c = DemoDataset.palette[Int(labels[i])]
            px[3 * i] = c.x; px[3 * i + 1] = c.y; px[3 * i + 2] = c.z
        }
        return Image(width: size, height: size, channels: 3, pixels: px)
    }

    /// The A|B file image: the rendering left (A), the label map right (B), as CMP Facades.
    public func pairImage() -> Image {
        DatasetTools.sideBySide(render(), labelImage())
    }

    /// The photo: every pixel's material from its class and instance, lit by the scene's light
    /// (a gradient across the image, cast shadows of a height field, ambient occlusion),
    /// then sensor noise.
    public func render() -> Image {
        let n = size * size
        let scale = Float(size) / 256
        let sky = DemoDataset.Label.sky.rawValue
        // Height field; sky is far and takes no light effects.
        var height = [Float](repeating: 0, count: n)
        for i in 0..<n { height[i] = Self.heights[Int(labels[i])] * scale }
        // Ambient occlusion: how much lower a pixel is than its neighbourhood.
        let blurred = boxBlur(height, radius: max(1, Int(3 * scale)))
        // Cast shadows: march toward the light over the height field.
        var shadow = [Float](repeating: 0, count: n)
        let steps = Int((11 * scale / sunSlope).rounded(.up)) + 1
        let soft = max(0.5, 1.5 * scale)
        for y in 0..<size {
            for x in 0..<size {
                let i = y * size + x
                if labels[i] == sky { continue }
                let h = height[i]
                var s: Float = 0
                for t in 1...steps {
                    let qx = Int(Float(x) + 0.5 - lightX * Float(t))
                    let qy = Int(Float(y) + 0.5 - lightY * Float(t))
                    if qx < 0 || qy < 0 || qx >= size || qy >= size { break }
                    let j = qy * size + qx
                    if labels[j] == sky { continue }
                    let over = height[j] - h - Float(t) * sunSlope
                    if over > 0 { s = max(s, min(1, over / soft)) }
                }
                shadow[i] = s
            }
        }
        shadow = boxBlur(shadow, radius: max(1, Int(1.5 * scale)))

        var px = [UInt8](repeating: 0, count: n * 3)
        let noise = stream.derived("sensor")
        let S = Float(size)
        for y in 0..<size {
            for x in 0..<size {
                let i = y * size + x
                let label = DemoDataset.Label(rawValue: labels[i])!
                let inst = instances[Int(instanceMap[i])]
                var c = material(label, inst, x: x, y: y)
                if label != .sky {
                    let fx: Float = Float(x) / S - 0.5, fy: Float = Float(y) / S - 0.5
                    let u: Float = -(fx * lightX + fy * lightY)
                    let ao: Float = min(1, max(0, (blurred[i] - height[i]) / (2.5 * scale)))
                    let gain: Float = exposure * (1 + gradientStrength * u)
                    let dim: Float = (1 - shadowStrength * shadow[i]) * (1 - 0.35 * ao)
                    c *= gain * dim
                }
                c *= tint
                let r = noise.block(UInt64(i))
                for k in 0..<3 {
                    // Triangular noise (sum of two uniforms), variance σ².
                    let u1 = Float(r[k] >> 16) * 0x1p-16, u2 = Float(r[k] & 0xFFFF) * 0x1p-16
                    let v = c[k] + noiseSigma * 2.449 * (u1 + u2 - 1)
                    px[3 * i + k] = UInt8(max(0, min(255, (v * 255).rounded())))
                }
            }
        }
        return Image(width: size, height: size, channels: 3, pixels: px)
    }

    /// The unlit colour of one pixel.
    func material(_ label: DemoDataset.Label, _ inst: DemoInstance, x: Int, y: Int) -> SIMD3<Float> {
        let S = Float(size), scale = S / 256
        let fx = Float(x) + 0.5, fy = Float(y) + 0.5
        let seed = textureSeed
        switch label {
        case .sky:
            let t = min(1, max(0, fy / max(horizonY, 1)))
            var c = skyTop + (skyHorizon - skyTop) * t
            let cloud = fbm(fx / (40 * scale), fy / (18 * scale), seed &+ 1, octaves: 4)
            let amount = min(1, max(0, (cloud - (1 - cloudiness)) * 3))
            c += (SIMD3(0.95, 0.95, 0.97) - c) * amount
            return c
        case .background:
            // Paving slabs.
            let p = 16 * scale
            let gx = fx.truncatingRemainder(dividingBy: p), gy = fy.truncatingRemainder(dividingBy: p * 0.6)
            var c = SIMD3<Float>(0.62, 0.60, 0.56) * (0.9 + 0.2 * valueNoise(fx / (3 * scale), fy / (3 * scale), seed &+ 2))
            if gx < 1 || gy < 1 { c *= 0.7 }
            return c
        case .road:
            let v = 0.85 + 0.25 * fbm(fx / (20 * scale), fy / (8 * scale), seed &+ 3, octaves: 2)
                + 0.15 * (hash01(Int32(x), Int32(y), seed &+ 4) - 0.5)
            return SIMD3<Float>(0.26, 0.26, 0.28) * v
        case .wall:
            return wallColor(styles[inst.building], fx, fy, inst)
        case .roof:
            let st = styles[inst.building]
            let th = st.tileHeight
            let row = (fy / th).rounded(.down)
            let ty = fy / th - row
            let tw = th * 1.6
            let tx = (fx / tw + (Int(row) & 1 == 0 ? 0 : 0.5))
            let tile = tx.rounded(.down)
            var shade = 0.72 + 0.28 * (1 - ty)
            if tx - tile < 0.08 { shade *= 0.75 }
            let jitter = 0.9 + 0.2 * hash01(Int32(tile), Int32(row), seed &+ 5)
            return st.roofColor * shade * jitter
        case .window:
            return windowColor(styles[inst.building], inst, fx, fy)
        case .door:
            let st = styles[inst.building]
            let w = Float(inst.x1 - inst.x0), h = Float(inst.y1 - inst.y0)
            let u = (fx - Float(inst.x0)) / w, v = (fy - Float(inst.y0)) / h
            let frame = max(1, 1.5 * scale)
            if fx - Float(inst.x0) < frame || Float(inst.x1) - fx < frame || fy - Float(inst.y0) < frame {
                return st.frameColor * 0.8
            }
            var c = st.doorColor
            // Vertical planks and two recessed panels.
            let plank = max(2, 4 * scale)
            if fx.truncatingRemainder(dividingBy: plank) < 0.8 { c *= 0.8 }
            let inPanel = (u > 0.2 && u < 0.8) && ((v > 0.12 && v < 0.45) || (v > 0.55 && v < 0.9))
            if inPanel { c *= 0.85 } else { c *= 1.05 }
            c *= 0.92 + 0.16 * fbm(fx / (2 * scale), fy / (12 * scale), seed &+ 6, octaves: 2)
            let kx = (u - 0.8) * w, ky = (v - 0.55) * h
            if kx * kx + ky * ky < max(1, 1.5 * scale) * max(1, 1.5 * scale) { return SIMD3(0.85, 0.75, 0.4) }
            return c
        case .vegetation:
            let r = inst.radius
            let dx = (fx - inst.cx) / r, dy = (fy - inst.cy) / r
            if dy > 0.9 && abs(fx - inst.cx) < r * 0.12 && dx * dx + dy * dy > 1.2 {
                // Trunk: below the crown.
                return SIMD3<Float>(0.33, 0.24, 0.16) * (0.85 + 0.3 * valueNoise(fx / scale, fy / (6 * scale), seed &+ 7))
            }
            let leaves = fbm(fx / (3 * scale), fy / (3 * scale), seed &+ 8, octaves: 3)
            let base = SIMD3<Float>(0.16, 0.34, 0.10) * (0.9 + 0.2 * inst.variation)
            let light = SIMD3<Float>(0.45, 0.62, 0.22)
            var c = base + (light - base) * leaves
            // Rounded crown: lit toward the light, darker underneath.
            let lit = -(dx * lightX + dy * lightY)
            c *= 0.85 + 0.3 * max(-1, min(1, lit))
            return c
        }
    }

    func wallColor(_ st: BuildingStyle, _ fx: Float, _ fy: Float, _ inst: DemoInstance) -> SIMD3<Float> {
        let scale = Float(size) / 256
        let seed = textureSeed
        let stain = fbm(fx / (24 * scale), fy / (24 * scale), seed &+ 10, octaves: 3)
        switch st.wall {
        case .plaster:
            var c = st.wallColor * (0.9 + 0.16 * stain)
            c *= 0.96 + 0.08 * valueNoise(fx / (1.5 * scale), fy / (1.5 * scale), seed &+ 11)
            // Grime toward the ground.
            let g = max(0, (fy - Float(inst.y1) + 20 * scale) / (20 * scale))
            return c * (1 - 0.15 * g)
        case .brick, .stone:
            let bh = st.brickHeight, bw = st.brickWidth
            let row = (fy / bh).rounded(.down)
            let shifted = fx / bw + (Int(row) & 1 == 0 ? 0 : 0.5)
            let col = shifted.rounded(.down)
            let mortar: Float = st.wall == .brick ? 0.9 : 0.7
            if (fy - row * bh) < mortar || (shifted - col) * bw < mortar {
                return st.mortarColor * (0.9 + 0.1 * stain)
            }
            let k = hash01(Int32(col), Int32(row), seed &+ 12)
            return st.wallColor * (0.85 + 0.22 * k) * (0.92 + 0.12 * stain)
        }
    }

    func windowColor(_ st: BuildingStyle, _ inst: DemoInstance, _ fx: Float, _ fy: Float) -> SIMD3<Float> {
        let scale = Float(size) / 256
        let w = Float(inst.x1 - inst.x0), h = Float(inst.y1 - inst.y0)
        let lx = fx - Float(inst.x0), ly = fy - Float(inst.y0)
        let u = lx / w, v = ly / h
        let frame = max(1, 1.5 * scale)
        if lx < frame || w - lx < frame || ly < frame || h - ly < frame { return st.frameColor }
        if inst.kind == .window {
            // Mullion and transom.
            if w > 6 * frame && abs(lx - w / 2) < frame / 2 + 0.3 { return st.frameColor * 0.95 }
            if h > 6 * frame && abs(ly - h * 0.35) < frame / 2 + 0.3 { return st.frameColor * 0.95 }
        }
        if inst.variation < st.litFraction {
            // A lit room behind the glass.
            return SIMD3<Float>(0.92, 0.78, 0.45) * (0.8 + 0.2 * v)
        }
        // Sky reflected in the glass, brighter at the top, with a diagonal highlight.
        var c = st.glassColor + (skyHorizon * 0.55 - st.glassColor) * (0.7 * (1 - v))
        let streak = (u * 0.7 + v + inst.variation * 2 + lightX * 0.3).truncatingRemainder(dividingBy: 1.0)
        if streak > 0.35 && streak < 0.5 { c += SIMD3(repeating: 0.18) }
        if inst.kind == .shopWindow {
            c += SIMD3(0.10, 0.08, 0.04) * v   // goods behind the glass
        }
        return c
    }

    // MARK: Texture helpers

    func boxBlur(_ src: [Float], radius r: Int) -> [Float] {
        let n = size
        var tmp = [Float](repeating: 0, count: n * n), out = tmp
        let norm = 1 / Float(2 * r + 1)
        for y in 0..<n {
            for x in 0..<n {
                var s: Float = 0
                for k in -r...r { s += src[y * n + min(n - 1, max(0, x + k))] }
                tmp[y * n + x] = s * norm
            }
        }
        for y in 0..<n {
            for x in 0..<n {
                var s: Float = 0
                for k in -r...r { s += tmp[min(n - 1, max(0, y + k)) * n + x] }
                out[y * n + x] = s * norm
            }
        }
        return out
    }
}

/// A hash of lattice point (x, y) with `seed`, uniform in [0, 1).
@inline(__always)
func hash01(_ x: Int32, _ y: Int32, _ seed: UInt32) -> Float {
    var h = UInt32(bitPattern: x) &* 0x8DA6_B343 ^ UInt32(bitPattern: y) &* 0xD816_3841 ^ seed &* 0xCB1A_B31F
    h ^= h >> 15; h &*= 0x2C1B_3C6D; h ^= h >> 12; h &*= 0x297A_2D39; h ^= h >> 15
    return Float(h >> 8) * 0x1p-24
}

/// Value noise in [0, 1): smoothstep interpolation of lattice hashes.
@inline(__always)
func valueNoise(_ x: Float, _ y: Float, _ seed: UInt32) -> Float {
    let x0 = x.rounded(.down), y0 = y.rounded(.down)
    let tx = x - x0, ty = y - y0
    let sx = tx * tx * (3 - 2 * tx), sy = ty * ty * (3 - 2 * ty)
    let ix = Int32(truncatingIfNeeded: Int(x0)), iy = Int32(truncatingIfNeeded: Int(y0))
    let a = hash01(ix, iy, seed), b = hash01(ix &+ 1, iy, seed)
    let c = hash01(ix, iy &+ 1, seed), d = hash01(ix &+ 1, iy &+ 1, seed)
    let top = a + (b - a) * sx, bottom = c + (d - c) * sx
    return top + (bottom - top) * sy
}

/// Fractal value noise, `octaves` octaves of halving amplitude, normalised to [0, 1).
@inline(__always)
func fbm(_ x: Float, _ y: Float, _ seed: UInt32, octaves: Int) -> Float {
    var sum: Float = 0, amplitude: Float = 1, total: Float = 0, f: Float = 1
    for o in 0..<octaves {
        sum += amplitude * valueNoise(x * f, y * f, seed &+ UInt32(o) &* 0x9E37_79B9)
        total += amplitude
        amplitude *= 0.5
        f *= 2.03
    }
    return sum / total
}
