// Our decoder, bicubic resize and gray conversion against Pillow's results (fixtures).
import Foundation
import Testing
@testable import ImageData

@Suite("Pillow parity")
struct PillowParityTests {
    @Test("every fixture decodes to PIL's convert('RGB'), byte for byte")
    func decodeMatchesPillow() throws {
        let entries = try TestFiles.manifest()["decode"] as! [[String: Any]]
        #expect(entries.count >= 20)
        for entry in entries {
            let name = entry["file"] as! String
            let image = try ImageDecoder.decode(bytes: try TestFiles.fixture(name), path: ImagePath(name))
            let expected = try TestFiles.fixture(name + ".rgb")
            #expect(image.width == entry["width"] as! Int, "\(name)")
            #expect(image.height == entry["height"] as! Int, "\(name)")
            #expect(image.channels == 3)
            let worst = zip(image.pixels, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
            #expect(image.pixels == expected, "\(name) (PIL mode \(entry["pil_mode"]!)): max diff \(worst)")
        }
    }

    @Test("bicubic resize equals PIL's resize(BICUBIC), up and down, RGB and gray")
    func resizeMatchesPillow() throws {
        let entries = try TestFiles.manifest()["resize"] as! [[String: Any]]
        #expect(entries.count == 12)
        for entry in entries {
            let source = entry["source"] as! String
            var image = try ImageDecoder.decode(bytes: try TestFiles.fixture(source), path: ImagePath(source))
            if source.contains("gray") { image = image.grayscale() }
            let w = entry["width"] as! Int, h = entry["height"] as! Int
            let out = image.resizedBicubic(width: w, height: h)
            let expected = try TestFiles.fixture(entry["expected"] as! String)
            let worst = zip(out.pixels, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
            #expect(out.pixels == expected, "\(source) → \(w)x\(h): max diff \(worst)")
        }
    }

    @Test("grayscale equals PIL's convert('L')")
    func grayMatchesPillow() throws {
        let image = try ImageDecoder.decode(bytes: try TestFiles.fixture("resize_src.png"), path: ImagePath("resize_src.png"))
        #expect(image.grayscale().pixels == (try TestFiles.fixture("resize_src.L.raw")))
    }

    @Test("real facades images: decode, resize to 286 and to 100x77, gray equal Pillow",
          .enabled(if: TestFiles.facadesAvailable))
    func facadesMatchPillow() throws {
        let entries = try TestFiles.manifest()["facades"] as! [[String: Any]]
        #expect(!entries.isEmpty, "fixtures were made without facades; rerun the script")
        for entry in entries {
            let rel = entry["file"] as! String
            let ab = try ImageDecoder.decode(path: TestFiles.facades.appendingPathComponent(rel).path)
            #expect(TestFiles.fnv1a(ab.pixels) == entry["rgb_fnv1a"] as! String, "\(rel) decode")
            let a = ab.cropped(x: 0, y: 0, width: ab.width / 2, height: ab.height)
            #expect(TestFiles.fnv1a(a.resizedBicubic(width: 286, height: 286).pixels) == entry["A_286_fnv1a"] as! String, "\(rel) 286")
            #expect(TestFiles.fnv1a(a.resizedBicubic(width: 100, height: 77).pixels) == entry["A_100x77_fnv1a"] as! String, "\(rel) 100x77")
            #expect(TestFiles.fnv1a(a.grayscale().pixels) == entry["A_L_fnv1a"] as! String, "\(rel) L")
        }
    }

    @Test("all facades test images decode as 512x256 RGB", .enabled(if: TestFiles.facadesAvailable))
    func facadesDecode() throws {
        let files = try ImageFolder.imageFiles(in: ImagePath(TestFiles.facades.appendingPathComponent("test").path))
        #expect(files.count == 106)
        for path in files.prefix(20) {
            let image = try ImageDecoder.decode(path: path)
            #expect(image.width == 512 && image.height == 256 && image.channels == 3, "\(path)")
        }
    }
}
