// Corrupt, hostile and unreadable inputs, built at runtime: each must throw an error that
// names the file, never crash.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import ImageData

@Suite("Hostile inputs")
struct HostileInputTests {
    /// Decodes `bytes` written to `name` in a temp dir and returns the error's description.
    func decodeError(_ bytes: [UInt8], name: String) throws -> String? {
        let dir = try TestFiles.temporaryDirectory()
        defer { TestFiles.remove(dir) }
        let url = dir.appendingPathComponent(name)
        try TestFiles.write(bytes, to: url)
        do {
            _ = try ImageDecoder.decode(path: url.path)
            return nil
        } catch let error as ImageDataError {
            #expect(error.description.contains(url.path), "message lacks the path: \(error)")
            return error.description
        } 
    }

    @Test func zeroByteFile() throws {
        let message = try decodeError([], name: "empty.jpg")
        #expect(message?.contains("empty file") == true)
    }

    @Test func textNamedJPEG() throws {
        let message = try decodeError(Array("hello, not an image\n".utf8), name: "notes.jpg")
        #expect(message?.contains("not a JPEG or PNG") == true)
    }

    @Test func truncatedJPEG() throws {
        let jpeg = try TestFiles.fixture("progressive.jpg")
        for cut in [jpeg.count / 2, jpeg.count - 2, 20, 3] {
            let message = try decodeError(Array(jpeg.prefix(cut)), name: "cut\(cut).jpg")
            #expect(message != nil, "JPEG cut at \(cut) of \(jpeg.count) decoded")
        }
        let baseline = try TestFiles.fixture("baseline.jpg")
        let message = try decodeError(Array(baseline.prefix(baseline.count * 2 / 3)), name: "baseline_cut.jpg")
        #expect(message?.contains("truncated") == true, "\(message ?? "no error")")
    }

    @Test func truncatedPNG() throws {
        let png = try TestFiles.fixture("rgb.png")
        for cut in [png.count * 2 / 3, png.count - 12, 40, 8] {
            let message = try decodeError(Array(png.prefix(cut)), name: "cut\(cut).png")
            #expect(message != nil, "PNG cut at \(cut) of \(png.count) decoded")
        }
    }

    @Test("a flipped CRC byte in IHDR, IDAT or an ancillary chunk is refused")
    func badCRC() throws {
        let png = try TestFiles.fixture("gray_trns.png")
        // Offsets of each chunk's last CRC byte, found by walking the chunks.
        var offset = 8
        var crcEnds: [(String, Int)] = []
        while offset + 8 <= png.count {
            let length = png[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
            let type = String(decoding: png[(offset + 4)..<(offset + 8)], as: UTF8.self)
            offset += 12 + length
            crcEnds.append((type, offset - 1))
        }
        #expect(crcEnds.map(\.0) == ["IHDR", "tRNS", "IDAT", "IEND"])
        for (type, at) in crcEnds where type != "IEND" {
            var bad = png
            bad[at] ^= 0x01
            let message = try decodeError(bad, name: "badcrc_\(type).png")
            #expect(message != nil, "bad \(type) CRC accepted")
        }
    }

    @Test("a PNG header declaring 100000x100000 is refused before allocating")
    func hugeDimensions() throws {
        let ihdr = TestFiles.bigEndian(100_000) + TestFiles.bigEndian(100_000) + [8, 2, 0, 0, 0]
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + TestFiles.chunk("IHDR", ihdr) + TestFiles.chunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])
            + TestFiles.chunk("IEND", [])
        let message = try decodeError(png, name: "bomb.png")
        #expect(message?.contains("decompression-bomb") == true, "\(message ?? "no error")")
    }

    @Test func missingFile() throws {
        do {
            _ = try ImageDecoder.decode(path: "/nonexistent-dir/missing.png")
            Issue.record("no error")
        } catch let error as ImageDataError {
            #expect(error.description == "/nonexistent-dir/missing.png: no such file or directory")
        }
    }

    static let notRoot: Bool = {
        if geteuid() == 0 { print("note: running as root, where chmod 000 files stay readable; unreadable-file test skipped") }
        return geteuid() != 0
    }()

    @Test(.enabled(if: notRoot, "root can read chmod 000 files"))
    func unreadableFile() throws {
        let dir = try TestFiles.temporaryDirectory()
        defer { TestFiles.remove(dir) }
        let url = dir.appendingPathComponent("locked.png")
        try TestFiles.write(try TestFiles.fixture("rgb.png"), to: url)
        chmod(url.path, 0)
        #expect(throws: ImageDataError(path: url.path, problem: "permission denied")) {
            try ImageDecoder.decode(path: url.path)
        }
    }

    @Test("a file name that is not UTF-8 is listed and decoded")
    func nonUTF8Name() throws {
        let dir = try TestFiles.temporaryDirectory()
        defer { TestFiles.remove(dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("train"), withIntermediateDirectories: true)
        let path = ImagePath(dir.path).appending("train").appending([0x66, 0xFF, 0xFE, 0x2E, 0x70, 0x6E, 0x67])  // "f\xFF\xFE.png"
        try ImageEncoder.writePNG(TestFiles.pair(halfWidth: 8, height: 8), to: path)
        let image = try ImageDecoder.decode(path: path)
        #expect(image.width == 16)
        var options = DatasetOptions()
        options.preprocess = .crop
        options.cropSize = 8
        options.loadSize = 8
        let dataset = try AlignedDataset(dataroot: ImagePath(dir.path), options: options)
        #expect(dataset.files == [path])
        _ = try dataset.sample(at: 0, epoch: 0)
    }
}
