import Foundation
import Testing
import ImageData
import Training

/// The procedural demo dataset (`pix2pix dataset demo`) and the combine / split tools.
@Suite struct DemoDatasetTests {
    static func temporaryFolder(_ tag: String) throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("pix2pix-demo-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static let counts: [(split: String, count: Int)] = [("train", 3), ("val", 1), ("test", 1)]

    static func bytes(_ files: [String]) throws -> [[UInt8]] {
        try files.map { try ImagePath($0).readAll() }
    }

    @Test func sameSeedGivesIdenticalFilesAndAnotherSeedDifferentOnes() throws {
        let a = try Self.temporaryFolder("a"), b = try Self.temporaryFolder("b"), c = try Self.temporaryFolder("c")
        defer { for d in [a, b, c] { try? FileManager.default.removeItem(atPath: d) } }
        let filesA = try DemoDataset.write(to: a, size: 48, seed: 7, counts: Self.counts)
        let filesB = try DemoDataset.write(to: b, size: 48, seed: 7, counts: Self.counts)
        let filesC = try DemoDataset.write(to: c, size: 48, seed: 8, counts: Self.counts)
        #expect(filesA.map { String($0.dropFirst(a.count)) } == ["/train/0001.png", "/train/0002.png", "/train/0003.png",
                                                                 "/val/0001.png", "/test/0001.png"])
        let bytesA = try Self.bytes(filesA), bytesB = try Self.bytes(filesB), bytesC = try Self.bytes(filesC)
        #expect(bytesA == bytesB)
        for (x, y) in zip(bytesA, bytesC) { #expect(x != y) }
        // Files are 2S × S RGB; val and test are not copies of train images.
        let image = try ImageDecoder.decode(path: filesA[0])
        #expect(image.width == 96 && image.height == 48 && image.channels == 3)
        #expect(Set(bytesA).count == bytesA.count)
    }

    @Test func valAndTestDoNotDependOnTheTrainingCount() {
        let few = DemoDataset.pair(seed: 3, split: "val", index: 0, size: 32)
        #expect(few == DemoDataset.pair(seed: 3, split: "val", index: 0, size: 32))
        #expect(few != DemoDataset.pair(seed: 3, split: "train", index: 0, size: 32))
    }

    /// Pixels of the label map (right half) and photo (left half) of a pair image.
    static func halves(_ image: Image) -> (labels: [SIMD3<UInt8>], photo: [SIMD3<Float>]) {
        let s = image.height
        var labels: [SIMD3<UInt8>] = [], photo: [SIMD3<Float>] = []
        for y in 0..<s {
            for x in 0..<s {
                photo.append(SIMD3(Float(image[x, y, 0]), Float(image[x, y, 1]), Float(image[x, y, 2])))
                labels.append(SIMD3(image[x + s, y, 0], image[x + s, y, 1], image[x + s, y, 2]))
            }
        }
        return (labels, photo)
    }

    @Test func labelMapsUseOnlyThePaletteAndShowStructure() {
        var seen = Set<Int>()
        var kinds = Set<Bool>()
        for i in 0..<8 {
            let scene = DemoDataset.scene(seed: 1, split: "train", index: i, size: 64)
            kinds.insert(scene.isFacade)
            let (labels, _) = Self.halves(scene.pairImage())
            for p in labels {
                let k = DemoDataset.palette.firstIndex(of: p)
                #expect(k != nil, "colour \(p) is not in the palette")
                if let k { seen.insert(k) }
            }
        }
        #expect(kinds == [true, false], "both facades and streets occur")
        // Sky, wall, window, door, vegetation and the ground all occur in 8 scenes.
        for label: DemoDataset.Label in [.sky, .wall, .window, .door, .vegetation, .background, .roof, .road] {
            #expect(seen.contains(Int(label.rawValue)), "\(label) never drawn")
        }
    }

    @Test func photoDependsOnTheLabels() {
        // Per-class mean colours over a few scenes, and the share of the photo's variance
        // that the class explains (η², between-class / total sum of squares).
        let classes = DemoDataset.palette.count
        var sum = [SIMD3<Float>](repeating: .zero, count: classes), count = [Float](repeating: 0, count: classes)
        var pixels: [(Int, SIMD3<Float>)] = []
        for i in 0..<6 {
            let (labels, photo) = Self.halves(DemoDataset.pair(seed: 11, split: "train", index: i, size: 64))
            for (l, p) in zip(labels, photo) {
                let k = DemoDataset.palette.firstIndex(of: l)!
                sum[k] += p; count[k] += 1
                pixels.append((k, p))
            }
        }
        let mean = (0..<classes).map { count[$0] > 0 ? sum[$0] / count[$0] : .zero }
        let total = pixels.reduce(SIMD3<Float>.zero) { $0 + $1.1 } / Float(pixels.count)
        var within: Float = 0, all: Float = 0
        for (k, p) in pixels {
            let d = p - mean[k], t = p - total
            within += (d * d).sum(); all += (t * t).sum()
        }
        let explained = 1 - within / all
        #expect(explained > 0.5, "labels explain only \(explained) of the photo's variance")
        func m(_ l: DemoDataset.Label) -> SIMD3<Float> { mean[Int(l.rawValue)] }
        #expect(m(.sky).z > m(.sky).x + 30, "sky is blue: \(m(.sky))")
        #expect(m(.vegetation).y > m(.vegetation).x && m(.vegetation).y > m(.vegetation).z, "trees are green: \(m(.vegetation))")
        #expect(m(.window).sum() < m(.wall).sum(), "glass is darker than walls: \(m(.window)) vs \(m(.wall))")
        #expect(m(.road).sum() < m(.sky).sum(), "asphalt is darker than sky")
        // Not a flat fill: texture inside a class.
        #expect(within / Float(pixels.count) > 30)
    }

    @Test func writeRefusesAFolderThatAlreadyHoldsImages() throws {
        let dir = try Self.temporaryFolder("again")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try DemoDataset.write(to: dir, size: 32, seed: 0, counts: [("train", 1)])
        #expect(throws: ImageDataError.self) {
            try DemoDataset.write(to: dir, size: 32, seed: 0, counts: [("train", 1)])
        }
    }

    // MARK: combine

    static func solid(_ w: Int, _ h: Int, _ v: UInt8) -> Image {
        Image(width: w, height: h, channels: 3, pixels: [UInt8](repeating: v, count: w * h * 3))
    }

    @Test func combinePairsSameNamedFilesSideBySide() throws {
        let root = try Self.temporaryFolder("combine")
        defer { try? FileManager.default.removeItem(atPath: root) }
        for split in ["train", "val"] {
            for side in ["A", "B"] {
                try FileManager.default.createDirectory(atPath: "\(root)/\(side)/\(split)", withIntermediateDirectories: true)
            }
        }
        try ImageEncoder.writePNG(Self.solid(6, 4, 10), to: "\(root)/A/train/x.png")
        try ImageEncoder.writePNG(Self.solid(6, 4, 200), to: "\(root)/B/train/x.png")
        try ImageEncoder.writePNG(Self.solid(6, 4, 20), to: "\(root)/A/train/onlyA.png")
        try ImageEncoder.writePNG(Self.solid(5, 3, 30), to: "\(root)/A/val/y.png")
        try ImageEncoder.writePNG(Self.solid(5, 3, 40), to: "\(root)/B/val/y.png")
        try ImageEncoder.writePNG(Self.solid(5, 3, 40), to: "\(root)/B/val/onlyB.png")
        let result = try DatasetTools.combine(a: "\(root)/A", b: "\(root)/B", output: "\(root)/AB")
        #expect(result.written == ["\(root)/AB/train/x.png", "\(root)/AB/val/y.png"])
        #expect(result.warnings.count == 2)
        #expect(result.warnings.contains { $0.contains("onlyA.png") } && result.warnings.contains { $0.contains("onlyB.png") })
        let ab = try ImageDecoder.decode(path: "\(root)/AB/train/x.png")
        #expect(ab.width == 12 && ab.height == 4)
        #expect(ab[0, 0, 0] == 10 && ab[5, 3, 2] == 10 && ab[6, 0, 0] == 200 && ab[11, 3, 1] == 200)
    }

    @Test func combineRefusesASizeMismatchNamingTheFile() throws {
        let root = try Self.temporaryFolder("mismatch")
        defer { try? FileManager.default.removeItem(atPath: root) }
        for side in ["A", "B"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(side)/train", withIntermediateDirectories: true)
        }
        try ImageEncoder.writePNG(Self.solid(6, 4, 10), to: "\(root)/A/train/x.png")
        try ImageEncoder.writePNG(Self.solid(6, 5, 10), to: "\(root)/B/train/x.png")
        do {
            _ = try DatasetTools.combine(a: "\(root)/A", b: "\(root)/B", output: "\(root)/AB")
            Issue.record("a size mismatch was accepted")
        } catch let error as ImageDataError {
            #expect(error.path == "\(root)/B/train/x.png")
            #expect(error.problem.contains("6x5") && error.problem.contains("6x4"))
        }
        #expect(throws: ImageDataError.self) {
            try DatasetTools.combine(a: "\(root)/missing", b: "\(root)/B", output: "\(root)/AB")
        }
    }

    // MARK: split

    @Test func splitIsDeterministicDisjointAndComplete() throws {
        let root = try Self.temporaryFolder("split")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: "\(root)/all", withIntermediateDirectories: true)
        let names = (0..<20).map { "img\($0).png" }
        for (i, name) in names.enumerated() {
            try ImageEncoder.writePNG(Self.solid(4, 2, UInt8(i)), to: "\(root)/all/\(name)")
        }
        let first = try DatasetTools.split(input: "\(root)/all", output: "\(root)/s1", valFraction: 0.2, testFraction: 0.1, seed: 5)
        let again = try DatasetTools.split(input: "\(root)/all", output: "\(root)/s2", valFraction: 0.2, testFraction: 0.1, seed: 5)
        let other = try DatasetTools.split(input: "\(root)/all", output: "\(root)/s3", valFraction: 0.2, testFraction: 0.1, seed: 6)
        #expect(first == again)
        #expect(first != other)
        #expect(first.train.count == 14 && first.val.count == 4 && first.test.count == 2)
        let all = first.train + first.val + first.test
        #expect(Set(all).count == 20 && Set(all) == Set(names))
        // Copies are byte-identical and sit in their split folders.
        for name in first.val {
            #expect(try ImagePath("\(root)/s1/val/\(name)").readAll() == ImagePath("\(root)/all/\(name)").readAll())
        }
        let listed = try FileManager.default.contentsOfDirectory(atPath: "\(root)/s1/train").sorted()
        #expect(listed == first.train.sorted())
        #expect(throws: ImageDataError.self) {
            try DatasetTools.split(input: "\(root)/all", output: "\(root)/s4", valFraction: 0.7, testFraction: 0.5, seed: 0)
        }
    }

    // MARK: config

    @Test func demoConfigLoadsAndValidates() throws {
        let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Configs").standardized.path
        var o = Options()
        try o.apply(file: "\(configs)/demo.yaml")
        #expect(o.name == "demo" && o.direction == "BtoA" && o.netG == "unet_128" && o.crop_size == 128)
        try o.validate(training: true)
    }
}
