// JPEG and PNG decoding with the pixels PIL's `Image.open(path).convert('RGB')` gives.
import CImageShim

/// A container format, recognised by its first bytes (never by the file extension).
public enum ImageFormat: String, Sendable {
    case jpeg = "JPEG"
    case png = "PNG"

    /// The format that `bytes` starts with, or nil.
    /// JPEG: `FF D8 FF`; PNG: `89 'P' 'N' 'G' 0D 0A 1A 0A`.
    public static func sniff<C: Collection>(_ bytes: C) -> ImageFormat? where C.Element == UInt8 {
        let head = Array(bytes.prefix(8))
        if head.count >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF { return .jpeg }
        if head == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
        return nil
    }
}

/// Decodes JPEG and PNG files to 8-bit RGB exactly as PIL's
/// `Image.open(path).convert('RGB')` (verified against Pillow 13 by the DataTests fixtures):
///
/// - gray → the value in R, G and B; 1/2/4-bit gray scaled to 0…255;
/// - gray+alpha, RGBA, palette with tRNS → alpha dropped, not composited (PIL's convert);
/// - palette → expanded through the palette;
/// - 16-bit RGB/RGBA/gray+alpha PNG → the high byte of each sample (PIL's "RGB;16B" etc.);
/// - 16-bit gray PNG → PIL opens it as mode "I;16" and `convert('RGB')` clips:
///   `min(v, 255)`, so 0x1234 becomes 255 (not 0x12). We do the same on purpose;
/// - CMYK/YCCK JPEG → stored inverted (Adobe convention, PIL's "CMYK;I"), then PIL's
///   `cmyk2rgb`: `R = 255 − K − C·(255 − K)/255` with PIL's rounded `MULDIV255`;
/// - progressive JPEG and interlaced PNG are supported; EXIF orientation and gamma/ICC are
///   ignored, as PIL's `open` + `convert` ignore them.
///
/// Refused with an `ImageDataError` naming the file (PIL would raise on all of these too):
/// empty file, unknown signature, truncated data, bad chunk CRC, zero size, and more than
/// `maxPixels` pixels — checked from the header, before any pixel buffer is allocated.
public enum ImageDecoder {
    /// PIL's decompression-bomb error threshold, `2 * Image.MAX_IMAGE_PIXELS`.
    public static let defaultMaxPixels = 178_956_970

    /// Reads and decodes the file at `path` to RGB.
    public static func decode(path: ImagePath, maxPixels: Int = defaultMaxPixels) throws -> Image {
        try decode(bytes: path.readAll(), path: path, maxPixels: maxPixels)
    }

    /// Reads and decodes the file at `path` to RGB.
    public static func decode(path: String, maxPixels: Int = defaultMaxPixels) throws -> Image {
        try decode(path: ImagePath(path), maxPixels: maxPixels)
    }

    /// Decodes an in-memory file to RGB; `path` is used in error messages only.
    public static func decode(bytes: [UInt8], path: ImagePath,
                              maxPixels: Int = defaultMaxPixels) throws -> Image {
        func fail(_ problem: String) -> ImageDataError { ImageDataError(path: path, problem: problem) }
        if bytes.isEmpty { throw fail("empty file (0 bytes)") }
        guard let format = ImageFormat.sniff(bytes) else {
            throw fail("not a JPEG or PNG file (\(describeSignature(bytes)))")
        }
        var info = pix_image_info()
        let status = bytes.withUnsafeBufferPointer { buf in
            format == .jpeg ? pix_jpeg_info(buf.baseAddress, buf.count, &info)
                            : pix_png_info(buf.baseAddress, buf.count, &info)
        }
        if status != 0 { throw fail("invalid \(format.rawValue): \(message(&info))") }
        let width = Int(info.width), height = Int(info.height)
        if width <= 0 || height <= 0 { throw fail("\(format.rawValue) declares an empty \(width)x\(height) image") }
        if width * height > maxPixels {
            throw fail("\(format.rawValue) declares \(width)x\(height) = \(width * height) pixels, "
                + "more than the limit of \(maxPixels) (decompression-bomb guard, as PIL)")
        }
        let channels = Int(info.channels), sampleBytes = Int(info.bytes_per_sample)
        var raw = [UInt8](repeating: 0, count: width * height * channels * sampleBytes)
        let decoded = bytes.withUnsafeBufferPointer { src in
            raw.withUnsafeMutableBufferPointer { dst in
                format == .jpeg
                    ? pix_jpeg_decode(src.baseAddress, src.count, dst.baseAddress, dst.count, &info)
                    : pix_png_decode(src.baseAddress, src.count, dst.baseAddress, dst.count, &info)
            }
        }
        if decoded != 0 { throw fail("invalid \(format.rawValue): \(message(&info))") }
        return toRGB(raw, width: width, height: height, channels: channels,
                     sixteenBit: sampleBytes == 2, cmyk: format == .jpeg && channels == 4)
    }

    /// PIL's `convert('RGB')` from the decoder's raw samples (see the type's doc comment).
    static func toRGB(_ raw: [UInt8], width: Int, height: Int, channels: Int,
                      sixteenBit: Bool, cmyk: Bool) -> Image {
        let n = width * height
        if channels == 3 && !sixteenBit { return Image(width: width, height: height, channels: 3, pixels: raw) }
        var out = [UInt8](repeating: 0, count: n * 3)
        out.withUnsafeMutableBufferPointer { dst in
            raw.withUnsafeBufferPointer { src in
                if sixteenBit {
                    // 16-bit gray (mode "I;16"): big-endian value clipped to 255.
                    for i in 0..<n {
                        let v = Int(src[2 * i]) << 8 | Int(src[2 * i + 1])
                        let g = UInt8(min(v, 255))
                        dst[3 * i] = g; dst[3 * i + 1] = g; dst[3 * i + 2] = g
                    }
                } else if cmyk {
                    for i in 0..<n {
                        // Stored inverted: PIL's C = 255 − stored, and 255 − K = stored K.
                        let notK = Int(src[4 * i + 3])
                        for c in 0..<3 {
                            let value = 255 - Int(src[4 * i + c])
                            let t = value * notK + 128
                            let product = ((t >> 8) + t) >> 8   // PIL's MULDIV255
                            dst[3 * i + c] = UInt8(clamping: notK - product)
                        }
                    }
                } else {
                    // 1: gray; 2: gray+alpha; 4: RGBA. Alpha is dropped.
                    for i in 0..<n {
                        let s = i * channels
                        if channels < 3 {
                            let g = src[s]
                            dst[3 * i] = g; dst[3 * i + 1] = g; dst[3 * i + 2] = g
                        } else {
                            dst[3 * i] = src[s]; dst[3 * i + 1] = src[s + 1]; dst[3 * i + 2] = src[s + 2]
                        }
                    }
                }
            }
        }
        return Image(width: width, height: height, channels: 3, pixels: out)
    }

    static func message(_ info: inout pix_image_info) -> String {
        withUnsafeBytes(of: &info.message) { raw in
            let bytes = raw.prefix { $0 != 0 }
            let text = String(decoding: bytes, as: UTF8.self)
            return text.isEmpty ? "unknown decoder error" : text
        }
    }

    static func describeSignature(_ bytes: [UInt8]) -> String {
        let head = Array(bytes.prefix(4))
        if head.starts(with: [0x42, 0x4D]) { return "BMP, which is not supported" }
        if head == [0x49, 0x49, 0x2A, 0x00] || head == [0x4D, 0x4D, 0x00, 0x2A] {
            return "TIFF, which is not supported"
        }
        if head.count >= 2 && head[0] == UInt8(ascii: "P") && (UInt8(ascii: "1")...UInt8(ascii: "7")).contains(head[1]) {
            return "PNM, which is not supported"
        }
        let hex = head.map { String($0, radix: 16, uppercase: true) }.map { $0.count == 1 ? "0" + $0 : $0 }
        return "starts with bytes " + hex.joined(separator: " ")
    }
}
