// AlignedDataset (listing, split, preprocess, reproducible draws) and the Prefetcher.
import Foundation
import Testing
@testable import ImageData

/// A temp dataroot with `train/` holding A|B PNGs made by `TestFiles.pair`.
final class TempDataroot {
    let url: URL
    var root: ImagePath { ImagePath(url.path) }

    init(count: Int, halfWidth: Int = 40, height: Int = 36) throws {
        url = try TestFiles.temporaryDirectory()
        let train = url.appendingPathComponent("train")
        try FileManager.default.createDirectory(at: train.appendingPathComponent("sub"), withIntermediateDirectories: true)
        for i in 0..<count {
            let dir = i % 3 == 2 ? train.appendingPathComponent("sub") : train
            try ImageEncoder.writePNG(TestFiles.pair(halfWidth: halfWidth, height: height),
                                      to: dir.appendingPathComponent(String(format: "%03d.PNG", i)).path)
        }
        try TestFiles.write(Array("not listed".utf8), to: train.appendingPathComponent("readme.txt"))
    }

    func path(_ name: String) -> String { url.appendingPathComponent("train/" + name).path }

    deinit { TestFiles.remove(url) }
}

func cropOptions(_ preprocess: Preprocess = .crop, crop: Int = 24, load: Int = 24) -> DatasetOptions {
    var options = DatasetOptions()
    options.preprocess = preprocess
    options.cropSize = crop
    options.loadSize = load
    options.seed = 42
    return options
}

@Suite("Aligned dataset")
struct DatasetTests {
    @Test("lists images recursively, any extension case, sorted; max_dataset_size")
    func listing() throws {
        let root = try TempDataroot(count: 5)
        let dataset = try AlignedDataset(dataroot: root.root, options: cropOptions())
        #expect(dataset.files.map(\.description) == ["000.PNG", "001.PNG", "003.PNG", "004.PNG", "sub/002.PNG"].map(root.path))
        var options = cropOptions()
        options.maxDatasetSize = 2
        #expect(try AlignedDataset(dataroot: root.root, options: options).count == 2)
    }

    @Test("same (seed, epoch, index) gives the same crop and flip; epochs differ; A and B share them")
    func reproducibleDraws() throws {
        let root = try TempDataroot(count: 2)
        let dataset = try AlignedDataset(dataroot: root.root, options: cropOptions())
        let first = try dataset.sample(at: 1, epoch: 3)
        let again = try dataset.sample(at: 1, epoch: 3)
        #expect(first.a == again.a && first.b == again.b && first.parameters == again.parameters)
        let draws = (0..<16).map { dataset.parameters(index: 1, epoch: $0, halfWidth: 40, height: 36) }
        #expect(Set(draws.map(\.cropX)).count > 4 && Set(draws.map(\.cropY)).count > 4)
        #expect(Set(draws.map(\.flip)).count == 2)
        #expect(draws.allSatisfy { (0...16).contains($0.cropX) && (0...12).contains($0.cropY) })
        for epoch in 0..<8 {
            let s = try dataset.sample(at: 0, epoch: epoch)
            #expect(s.a.width == 24 && s.a.height == 24)
            // B = A + 1 everywhere only if both got the same crop and flip.
            #expect(zip(s.a.pixels, s.b.pixels).allSatisfy { $1 == $0 &+ 1 })
            // Position encoded in the pixels: R = x, G = y of the source.
            let p = s.parameters
            let x0 = Int(s.a[p.flip ? 23 : 0, 0, 0]), y0 = Int(s.a[0, 0, 1])
            #expect(x0 == p.cropX && y0 == p.cropY)
        }
    }

    @Test("BtoA swaps the halves; no_flip never flips; gray channels use PIL's L")
    func directionAndChannels() throws {
        let root = try TempDataroot(count: 1)
        var options = cropOptions()
        let forward = try AlignedDataset(dataroot: root.root, options: options).sample(at: 0, epoch: 5)
        options.direction = .bToA
        let backward = try AlignedDataset(dataroot: root.root, options: options).sample(at: 0, epoch: 5)
        #expect(backward.a == forward.b && backward.b == forward.a)
        options.outputChannels = 1
        let gray = try AlignedDataset(dataroot: root.root, options: options).sample(at: 0, epoch: 5)
        #expect(gray.a.channels == 3 && gray.b.channels == 1 && gray.b == forward.a.grayscale())
        options.noFlip = true
        let dataset = try AlignedDataset(dataroot: root.root, options: options)
        #expect((0..<32).allSatisfy { !dataset.parameters(index: 0, epoch: $0, halfWidth: 40, height: 36).flip })
    }

    @Test("output sizes of every preprocess mode follow PT")
    func preprocessSizes() throws {
        let root = try TempDataroot(count: 1, halfWidth: 42, height: 30)
        let cases: [(Preprocess, Int, Int, Int, Int)] = [
            (.resizeAndCrop, 32, 24, 24, 24),
            (.crop, 24, 24, 24, 24),
            (.scaleWidth, 20, 16, 20, 16),     // h = int(max(20*30/42, 16)) = 16
            (.scaleWidth, 56, 24, 56, 40),     // h = int(56*30/42) = 40
            (.scaleWidthAndCrop, 56, 24, 24, 24),
            (.none, 24, 24, 40, 32),           // round(42/4)*4 = 40, round(30/4)*4 = 32 (7.5 → 8)
        ]
        for (mode, load, crop, w, h) in cases {
            let dataset = try AlignedDataset(dataroot: root.root, options: cropOptions(mode, crop: crop, load: load))
            let s = try dataset.sample(at: 0, epoch: 1)
            #expect(s.a.width == w && s.a.height == h, "\(mode) load \(load) crop \(crop): \(s.a.width)x\(s.a.height)")
            let size = dataset.outputSize(halfWidth: 42, height: 30)
            #expect(size.width == w && size.height == h, "\(mode) outputSize")
        }
    }

    @Test("odd width, image smaller than crop, missing and empty dataroot, bad options: errors name the path")
    func datasetErrors() throws {
        let root = try TempDataroot(count: 1, halfWidth: 12, height: 12)
        try ImageEncoder.writePNG(TestFiles.patterned(width: 31, height: 16), to: root.path("odd.png"))
        let dataset = try AlignedDataset(dataroot: root.root, options: cropOptions(.crop, crop: 16, load: 16))
        for (index, path) in dataset.files.enumerated() {
            do {
                _ = try dataset.sample(at: index, epoch: 0)
                Issue.record("no error for \(path)")
            } catch let error as ImageDataError {
                #expect(error.path == path.description)
                #expect(error.description.contains(path.description))
                #expect(error.problem.contains(path.description.hasSuffix("odd.png") ? "odd" : "smaller than crop_size"))
            }
        }
        #expect(throws: ImageDataError(path: "/no/such/root/train", problem: "dataset directory: no such file or directory")) {
            try AlignedDataset(dataroot: "/no/such/root")
        }
        let empty = try TestFiles.temporaryDirectory()
        defer { TestFiles.remove(empty) }
        try FileManager.default.createDirectory(at: empty.appendingPathComponent("train"), withIntermediateDirectories: true)
        do {
            _ = try AlignedDataset(dataroot: empty.path)
            Issue.record("empty dataroot accepted")
        } catch let error as ImageDataError {
            #expect(error.path == empty.appendingPathComponent("train").path && error.problem.hasPrefix("no image files"))
        }
        #expect(throws: ImageDataError.self) { try AlignedDataset(dataroot: root.root, options: cropOptions(.crop, crop: 30, load: 20)) }
    }

    @Test("prefetcher delivers the requested order, reuses buffers, surfaces a bad file")
    func prefetcher() throws {
        let root = try TempDataroot(count: 6)
        try TestFiles.write(Array((try TestFiles.fixture("rgb.png")).prefix(100)), to: URL(fileURLWithPath: root.path("005_bad.png")))
        let dataset = try AlignedDataset(dataroot: root.root, options: cropOptions())
        let bad = dataset.files.firstIndex { $0.description.hasSuffix("005_bad.png") }!
        let requests = [
            BatchRequest(epoch: 0, indices: [3, 1]), BatchRequest(epoch: 0, indices: [0, 4]),
            BatchRequest(epoch: 1, indices: [bad, 2]), BatchRequest(epoch: 1, indices: [5]),
            BatchRequest(epoch: 2, indices: [6, 0]), BatchRequest(epoch: 2, indices: [1, 2]),
        ]
        let prefetcher = Prefetcher(dataset: dataset, requests: requests, batchSize: 2, height: 24, width: 24, threads: 2, depth: 2)
        defer { prefetcher.close() }
        var buffers = Set<UnsafeMutablePointer<Float>>()
        for (step, request) in requests.enumerated() {
            if request.indices.contains(bad) {
                #expect {
                    _ = try prefetcher.next()
                } throws: { error in
                    String(describing: error).contains(dataset.files[bad].description)
                }
                continue
            }
            let batch = try #require(try prefetcher.next())
            buffers.insert(batch.a)
            #expect(batch.step == step && batch.indices == request.indices && batch.count == request.indices.count)
            #expect(batch.paths == request.indices.map { dataset.files[$0] })
            for (n, index) in request.indices.enumerated() {
                let sample = try dataset.sample(at: index, epoch: request.epoch)
                var a = [Float](repeating: 0, count: 3 * 24 * 24), b = a
                a.withUnsafeMutableBufferPointer { sample.a.writeNormalized(to: $0.baseAddress!) }
                b.withUnsafeMutableBufferPointer { sample.b.writeNormalized(to: $0.baseAddress!) }
                #expect(Array(UnsafeBufferPointer(start: batch.a + n * a.count, count: a.count)) == a)
                #expect(Array(UnsafeBufferPointer(start: batch.b + n * b.count, count: b.count)) == b)
            }
        }
        #expect(try prefetcher.next() == nil)
        #expect(buffers.count <= 2, "float buffers come from a pool of depth 2")
    }

    @Test("prefetcher can be closed early and dropped without hanging")
    func prefetcherEarlyClose() throws {
        let root = try TempDataroot(count: 4)
        let dataset = try AlignedDataset(dataroot: root.root, options: cropOptions())
        let requests = (0..<50).map { BatchRequest(epoch: $0, indices: [$0 % 4]) }
        let prefetcher = Prefetcher(dataset: dataset, requests: requests, batchSize: 1, height: 24, width: 24)
        _ = try prefetcher.next()
        prefetcher.close()
        #expect(try prefetcher.next() == nil)
        _ = Prefetcher(dataset: dataset, requests: requests, batchSize: 1, height: 24, width: 24)
    }

    @Test("facades train pairs load with PT's defaults (286 → 256, BtoA)", .enabled(if: TestFiles.facadesAvailable))
    func facades() throws {
        var options = DatasetOptions()
        options.direction = .bToA
        let dataset = try AlignedDataset(dataroot: ImagePath(TestFiles.facades.path), options: options)
        #expect(dataset.count == 350)
        let s = try dataset.sample(at: 0, epoch: 0)
        #expect(s.a.width == 256 && s.a.height == 256 && s.b.width == 256)
    }
}
