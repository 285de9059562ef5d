// PNG writing for samples and test results, atomic: a reader never sees half a file.
import CImageShim
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes images as 8-bit PNG (PT saves results with `PIL.Image.fromarray(im).save(path)`).
public enum ImageEncoder {
    /// Writes `image` (gray or RGB) to `path` as PNG: first to a temporary file in the same
    /// directory, then `rename(2)` over `path`, so the replacement is atomic.
    public static func writePNG(_ image: Image, to path: ImagePath) throws {
        var tempBytes = path.bytes
        let suffix = ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        tempBytes.append(contentsOf: Array(suffix.utf8))
        let temp = ImagePath(bytes: tempBytes)
        var message = [CChar](repeating: 0, count: Int(PIX_MESSAGE_CAPACITY))
        let status = temp.withCString { cPath in
            image.pixels.withUnsafeBufferPointer { px in
                pix_png_encode_file(cPath, px.baseAddress, Int32(image.width), Int32(image.height),
                                    Int32(image.channels), &message)
            }
        }
        if status != 0 {
            let code = errno
            _ = temp.withCString { unlink($0) }
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ImageDataError(path: path, problem: "cannot write PNG: \(text) (\(ImagePath.errnoText(code)))")
        }
        let renamed = temp.withCString { from in path.withCString { to in rename(from, to) } }
        if renamed != 0 {
            let code = errno
            _ = temp.withCString { unlink($0) }
            throw ImageDataError(path: path, problem: "cannot rename temporary PNG into place: \(ImagePath.errnoText(code))")
        }
    }

    /// Writes `image` to the UTF-8 path `path` as PNG, atomically.
    public static func writePNG(_ image: Image, to path: String) throws {
        try writePNG(image, to: ImagePath(path))
    }
}
