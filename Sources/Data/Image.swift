// An 8-bit image (PIL mode "L" or "RGB") and its conversion to and from the planar
// [-1, 1] floats the networks use.

/// An 8-bit gray (`channels == 1`, PIL "L") or RGB (`channels == 3`, PIL "RGB") image.
///
/// `pixels` is row-major and interleaved: `pixels[(y * width + x) * channels + c]`,
/// i.e. shape (H, W, C) like `numpy.asarray(pil_image)`.
public struct Image: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// 1 (gray) or 3 (RGB).
    public let channels: Int
    /// (H, W, C) interleaved bytes, `width * height * channels` of them.
    public var pixels: [UInt8]

    /// Wraps `pixels` (H, W, C). Sizes must agree: that is a programmer error otherwise.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(channels == 1 || channels == 3, "Image has 1 or 3 channels")
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * channels,
                     "Image pixel count does not match \(width)x\(height)x\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// A black image.
    public init(width: Int, height: Int, channels: Int) {
        self.init(width: width, height: height, channels: channels,
                  pixels: [UInt8](repeating: 0, count: width * height * channels))
    }

    /// The byte at (x, y, c).
    @inlinable
    public subscript(x: Int, y: Int, c: Int) -> UInt8 {
        pixels[(y * width + x) * channels + c]
    }

    // MARK: - Float tensors

    /// `(Float(v) / 255 - 0.5) / 0.5` for every byte v, computed in Float exactly as
    /// torchvision's `ToTensor()` (`div(255)` in float32) then `Normalize(0.5, 0.5)`.
    static let normalized: [Float] = (0..<256).map { v in (Float(v) / 255 - 0.5) / 0.5 }

    /// Writes the image as a planar (C, H, W) Float tensor in [-1, 1] into `destination`
    /// (`channels * height * width` floats), allocating nothing.
    ///
    /// PT: `transforms.Normalize((0.5,)*c, (0.5,)*c)(transforms.ToTensor()(img))`.
    public func writeNormalized(to destination: UnsafeMutablePointer<Float>) {
        let plane = width * height
        let c = channels
        Self.normalized.withUnsafeBufferPointer { table in
            pixels.withUnsafeBufferPointer { src in
                for ch in 0..<c {
                    let out = destination + ch * plane
                    var i = ch
                    for p in 0..<plane {
                        out[p] = table[Int(src[i])]
                        i += c
                    }
                }
            }
        }
    }

    /// An 8-bit image from a planar (C, H, W) Float tensor in [-1, 1], as PT's
    /// `util.tensor2im`: `(x + 1) / 2 * 255` in float32, then `astype(uint8)`, which
    /// truncates toward zero. PT does not clamp (tanh outputs stay in range); we clamp to
    /// [0, 255] first so out-of-range values saturate instead of wrapping, and NaN gives 0.
    /// A 1-channel tensor is tiled to RGB as `tensor2im` does.
    ///
    /// - Parameters:
    ///   - source: `channels * height * width` floats, (C, H, W).
    ///   - channels: 1 or 3.
    public init(denormalizing source: UnsafePointer<Float>, channels: Int, height: Int, width: Int) {
        precondition(channels == 1 || channels == 3, "tensor2im takes 1 or 3 channels")
        let plane = width * height
        var bytes = [UInt8](repeating: 0, count: plane * 3)
        bytes.withUnsafeMutableBufferPointer { out in
            for c in 0..<3 {
                let src = source + (channels == 1 ? 0 : c) * plane
                var o = c
                for p in 0..<plane {
                    let v = (src[p] + 1) / 2 * 255
                    // `!(v > 0)` also catches NaN.
                    out[o] = !(v > 0) ? 0 : (v >= 255 ? 255 : UInt8(v))
                    o += 3
                }
            }
        }
        self.init(width: width, height: height, channels: 3, pixels: bytes)
    }

    // MARK: - Geometry and mode

    /// The region `x..<x+width`, `y..<y+height`; it must lie inside the image.
    /// PIL: `img.crop((x, y, x + width, y + height))`.
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) -> Image {
        precondition(x >= 0 && y >= 0 && w >= 0 && h >= 0 && x + w <= width && y + h <= height,
                     "crop outside the image")
        if x == 0 && y == 0 && w == width && h == height { return self }
        var out = [UInt8](repeating: 0, count: w * h * channels)
        let rowBytes = w * channels
        out.withUnsafeMutableBufferPointer { dst in
            pixels.withUnsafeBufferPointer { src in
                for row in 0..<h {
                    let from = src.baseAddress! + ((y + row) * width + x) * channels
                    (dst.baseAddress! + row * rowBytes).update(from: from, count: rowBytes)
                }
            }
        }
        return Image(width: w, height: h, channels: channels, pixels: out)
    }

    /// Mirrored left to right. PIL: `img.transpose(Image.FLIP_LEFT_RIGHT)`.
    public func flippedHorizontally() -> Image {
        var out = pixels
        let c = channels
        out.withUnsafeMutableBufferPointer { dst in
            pixels.withUnsafeBufferPointer { src in
                for y in 0..<height {
                    let row = y * width * c
                    for x in 0..<width {
                        let s = row + x * c
                        let d = row + (width - 1 - x) * c
                        for k in 0..<c { dst[d + k] = src[s + k] }
                    }
                }
            }
        }
        return Image(width: width, height: height, channels: c, pixels: out)
    }

    /// PIL's `convert('L')`: `L = (R·19595 + G·38470 + B·7471 + 0x8000) >> 16`, PIL's
    /// fixed-point form of ITU-R 601-2 `R·299/1000 + G·587/1000 + B·114/1000`, rounded.
    /// A gray image is returned as is.
    public func grayscale() -> Image {
        if channels == 1 { return self }
        let n = width * height
        var out = [UInt8](repeating: 0, count: n)
        out.withUnsafeMutableBufferPointer { dst in
            pixels.withUnsafeBufferPointer { src in
                for i in 0..<n {
                    let r = UInt32(src[3 * i]), g = UInt32(src[3 * i + 1]), b = UInt32(src[3 * i + 2])
                    dst[i] = UInt8((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)
                }
            }
        }
        return Image(width: width, height: height, channels: 1, pixels: out)
    }

    /// PIL's `convert('RGB')` of an "L" image: the gray value in all three channels.
    /// An RGB image is returned as is.
    public func rgb() -> Image {
        if channels == 3 { return self }
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            let v = pixels[i]
            out[3 * i] = v
            out[3 * i + 1] = v
            out[3 * i + 2] = v
        }
        return Image(width: width, height: height, channels: 3, pixels: out)
    }
}
