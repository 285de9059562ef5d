// PIL-compatible bicubic resampling of 8-bit images (Pillow's Resample.c algorithm,
// reimplemented from its documented behaviour and verified against Pillow 13 in DataTests).

/// One axis of a separable resample: for output pixel `i`, input samples
/// `first[i] ..< first[i] + count[i]` weighted by `weights[i * taps ..< i * taps + count[i]]`,
/// the weights in fixed point with `Resample.precisionBits` fractional bits.
struct ResampleAxis {
    let first: [Int]
    let count: [Int]
    let taps: Int
    let weights: [Int32]

    /// PIL's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bicubic filter
    /// (a = −0.5, support 2) over the box `0 ..< inSize`. When shrinking, the kernel is
    /// stretched by `inSize / outSize` (antialiasing, PIL's `filterscale`).
    init(inSize: Int, outSize: Int) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1.0)
        let support = Resample.bicubicSupport * filterScale
        let taps = Int(support.rounded(.up)) * 2 + 1
        var first = [Int](repeating: 0, count: outSize)
        var count = [Int](repeating: 0, count: outSize)
        var weights = [Int32](repeating: 0, count: outSize * taps)
        var k = [Double](repeating: 0, count: taps)
        let inverse = 1.0 / filterScale
        let one = Double(1 << Resample.precisionBits)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            // C's (int) cast truncates toward zero; Int(_:) does the same.
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var sum = 0.0
            for x in 0..<xmax {
                let w = Resample.bicubic((Double(x + xmin) - center + 0.5) * inverse)
                k[x] = w
                sum += w
            }
            for x in 0..<xmax {
                let w = sum != 0 ? k[x] / sum : k[x]
                weights[xx * taps + x] = Int32(w < 0 ? (-0.5 + w * one) : (0.5 + w * one))
            }
            first[xx] = xmin
            count[xx] = xmax
        }
        self.first = first
        self.count = count
        self.taps = taps
        self.weights = weights
    }
}

/// Bicubic resampling as PIL's `Image.resize(size, Image.BICUBIC)`.
enum Resample {
    /// PIL's `PRECISION_BITS` for 8-bit images: 32 − 8 − 2.
    static let precisionBits = 22
    static let bicubicSupport = 2.0

    /// Keys' cubic convolution kernel with a = −0.5, as PIL's `bicubic_filter`.
    @inline(__always)
    static func bicubic(_ t: Double) -> Double {
        let a = -0.5
        let x = abs(t)
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }

    /// `(sum + ½) >> precisionBits`, clipped to 0…255 (PIL's `clip8`).
    @inline(__always)
    static func clip8(_ sum: Int) -> UInt8 {
        let v = (sum + (1 << (precisionBits - 1))) >> precisionBits
        return v < 0 ? 0 : (v > 255 ? 255 : UInt8(v))
    }
}

extension Image {
    /// The image resampled to `width × height` with PIL's BICUBIC filter:
    /// `img.resize((width, height), Image.BICUBIC)`, which PT's `transforms.Resize`,
    /// `__scale_width` and `__make_power_2` call.
    ///
    /// Like PIL it is separable: a horizontal pass (skipped when the width is unchanged) to
    /// an 8-bit intermediate, rounded and clipped, then a vertical pass (skipped when the
    /// height is unchanged), all in PIL's 22-bit fixed point, so results are bit-identical.
    public func resizedBicubic(width outWidth: Int, height outHeight: Int) -> Image {
        precondition(outWidth > 0 && outHeight > 0, "resize to an empty size")
        if outWidth == width && outHeight == height { return self }
        var current = self
        if outWidth != width {
            current = current.resampledHorizontally(ResampleAxis(inSize: width, outSize: outWidth),
                                                    outWidth: outWidth)
        }
        if outHeight != height {
            current = current.resampledVertically(ResampleAxis(inSize: height, outSize: outHeight),
                                                  outHeight: outHeight)
        }
        return current
    }

    func resampledHorizontally(_ axis: ResampleAxis, outWidth: Int) -> Image {
        let c = channels
        var out = [UInt8](repeating: 0, count: outWidth * height * c)
        out.withUnsafeMutableBufferPointer { dst in
            pixels.withUnsafeBufferPointer { src in
                axis.weights.withUnsafeBufferPointer { kk in
                    for y in 0..<height {
                        let inRow = y * width * c
                        let outRow = y * outWidth * c
                        for xx in 0..<outWidth {
                            let x0 = axis.first[xx], n = axis.count[xx]
                            let k = xx * axis.taps
                            for ch in 0..<c {
                                var sum = 0
                                var i = inRow + x0 * c + ch
                                for t in 0..<n {
                                    sum += Int(src[i]) * Int(kk[k + t])
                                    i += c
                                }
                                dst[outRow + xx * c + ch] = Resample.clip8(sum)
                            }
                        }
                    }
                }
            }
        }
        return Image(width: outWidth, height: height, channels: c, pixels: out)
    }

    func resampledVertically(_ axis: ResampleAxis, outHeight: Int) -> Image {
        let c = channels
        let rowBytes = width * c
        var out = [UInt8](repeating: 0, count: rowBytes * outHeight)
        out.withUnsafeMutableBufferPointer { dst in
            pixels.withUnsafeBufferPointer { src in
                axis.weights.withUnsafeBufferPointer { kk in
                    for yy in 0..<outHeight {
                        let y0 = axis.first[yy], n = axis.count[yy]
                        let k = yy * axis.taps
                        let outRow = yy * rowBytes
                        for i in 0..<rowBytes {
                            var sum = 0
                            var j = y0 * rowBytes + i
                            for t in 0..<n {
                                sum += Int(src[j]) * Int(kk[k + t])
                                j += rowBytes
                            }
                            dst[outRow + i] = Resample.clip8(sum)
                        }
                    }
                }
            }
        }
        return Image(width: width, height: outHeight, channels: c, pixels: out)
    }
}
