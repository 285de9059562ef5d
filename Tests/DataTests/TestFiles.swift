// Paths and small file helpers shared by the DataTests suites.
import Foundation
import ImageData

enum TestFiles {
    /// Tests/DataTests/Fixtures/pillow (made by Fixtures/make_image_fixtures.py).
    static let fixtures = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/pillow")

    /// `../shared/data/facades` next to the package root; absent in a plain clone.
    static let facades = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/data/facades")

    static let facadesAvailable: Bool = {
        let ok = FileManager.default.fileExists(atPath: facades.appendingPathComponent("train/1.jpg").path)
        if !ok { print("note: \(facades.path) not found; real-image tests are skipped") }
        return ok
    }()

    static func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Foundation.Data(contentsOf: fixtures.appendingPathComponent(name)))
    }

    static func manifest() throws -> [String: Any] {
        let data = try Foundation.Data(contentsOf: fixtures.appendingPathComponent("manifest.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// A fresh temporary directory, removed by the caller with `remove`.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("pix2pix-datatests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func remove(_ url: URL) { try? FileManager.default.removeItem(at: url) }

    static func write(_ bytes: [UInt8], to url: URL) throws {
        try Foundation.Data(bytes).write(to: url)
    }

    /// FNV-1a 64 (the fixture script records facades decodes with it).
    static func fnv1a(_ bytes: [UInt8]) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// CRC-32 (PNG, zlib), bitwise.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return ~c
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    /// A PNG chunk with a correct CRC.
    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
    }

    /// An RGB image whose bytes encode position: R = x, G = y, B = seed + x + y (mod 256).
    static func patterned(width: Int, height: Int, seed: Int = 0) -> Image {
        var px = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                px[i] = UInt8(x & 255); px[i + 1] = UInt8(y & 255); px[i + 2] = UInt8((seed + x + y) & 255)
            }
        }
        return Image(width: width, height: height, channels: 3, pixels: px)
    }

    /// An A|B image: A is `patterned`, B is A with every byte + 1 (mod 256).
    static func pair(halfWidth: Int, height: Int) -> Image {
        let a = patterned(width: halfWidth, height: height)
        var px = [UInt8](repeating: 0, count: 2 * halfWidth * height * 3)
        for y in 0..<height {
            for x in 0..<halfWidth {
                for c in 0..<3 {
                    let v = a[x, y, c]
                    px[(y * 2 * halfWidth + x) * 3 + c] = v
                    px[(y * 2 * halfWidth + halfWidth + x) * 3 + c] = v &+ 1
                }
            }
        }
        return Image(width: 2 * halfWidth, height: height, channels: 3, pixels: px)
    }
}
