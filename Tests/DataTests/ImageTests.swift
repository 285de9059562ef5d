// Float conversion both ways, and PNG writing.
import Foundation
import Testing
@testable import ImageData

@Suite("Image")
struct ImageTests {
    @Test("writeNormalized is planar (v/255 - 0.5)/0.5 as ToTensor + Normalize")
    func normalize() {
        let image = TestFiles.patterned(width: 5, height: 3)
        var out = [Float](repeating: .nan, count: 3 * 15)
        out.withUnsafeMutableBufferPointer { image.writeNormalized(to: $0.baseAddress!) }
        for c in 0..<3 {
            for y in 0..<3 {
                for x in 0..<5 {
                    let v = Float(image[x, y, c])
                    #expect(out[c * 15 + y * 5 + x] == (v / 255 - 0.5) / 0.5)
                }
            }
        }
        #expect(Image.normalized[0] == -1 && Image.normalized[255] == 1)
    }

    @Test("denormalizing is tensor2im: (x+1)/2*255 truncated, clamped, gray tiled")
    func denormalize() {
        let values: [Float] = [-1, 1, 0, 0.999, -0.999, 2, -3, .nan]
        let image = values.withUnsafeBufferPointer {
            Image(denormalizing: $0.baseAddress!, channels: 1, height: 1, width: 8)
        }
        #expect(image.channels == 3)
        let expected: [UInt8] = [0, 255, 127, 254, 0, 255, 0, 0]
        #expect((0..<8).map { image[$0, 0, 0] } == expected)
        #expect((0..<8).map { image[$0, 0, 2] } == expected)
        // Every byte survives a round trip.
        let all = Image(width: 256, height: 1, channels: 3, pixels: (0..<768).map { UInt8($0 / 3) })
        var floats = [Float](repeating: 0, count: 768)
        floats.withUnsafeMutableBufferPointer { all.writeNormalized(to: $0.baseAddress!) }
        let back = floats.withUnsafeBufferPointer { Image(denormalizing: $0.baseAddress!, channels: 3, height: 1, width: 256) }
        let worst = zip(back.pixels, all.pixels).map { abs(Int($0) - Int($1)) }.max()!
        #expect(worst <= 1, "tensor2im truncation loses at most one level")
    }

    @Test("PNG written atomically reads back identical, gray and RGB")
    func pngRoundTrip() throws {
        let dir = try TestFiles.temporaryDirectory()
        defer { TestFiles.remove(dir) }
        let rgb = TestFiles.patterned(width: 33, height: 7)
        let path = dir.appendingPathComponent("out.png").path
        try ImageEncoder.writePNG(rgb, to: path)
        try ImageEncoder.writePNG(rgb, to: path)  // replaces
        #expect(try ImageDecoder.decode(path: path) == rgb)
        try ImageEncoder.writePNG(rgb.grayscale(), to: path)
        #expect(try ImageDecoder.decode(path: path) == rgb.grayscale().rgb())
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.png"])
        #expect(throws: ImageDataError.self) {
            try ImageEncoder.writePNG(rgb, to: dir.appendingPathComponent("no/such/dir.png").path)
        }
    }

    @Test func flipAndCrop() {
        let image = TestFiles.patterned(width: 6, height: 4)
        let flipped = image.flippedHorizontally()
        #expect(flipped[0, 2, 0] == 5 && flipped[5, 2, 0] == 0 && flipped[0, 2, 1] == 2)
        let crop = image.cropped(x: 2, y: 1, width: 3, height: 2)
        #expect(crop.width == 3 && crop[0, 0, 0] == 2 && crop[0, 0, 1] == 1 && crop[2, 1, 0] == 4)
    }
}
