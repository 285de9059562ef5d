// PT's AlignedDataset (data/aligned_dataset.py) with base_dataset.py's get_params and
// get_transform, for A|B images side by side in one file.

/// Crop position and flip of one sample, PT's `get_params` result.
public struct TransformParameters: Sendable, Equatable {
    /// Top-left corner of the crop in the resized image (unused when not cropping).
    public var cropX: Int
    public var cropY: Int
    /// Horizontal flip (false when `noFlip`).
    public var flip: Bool
}

/// One training pair after preprocessing.
public struct AlignedSample: Sendable {
    /// The network input (PT's `real_A`): the left half for AtoB, the right half for BtoA,
    /// with `inputChannels` channels.
    public var a: Image
    /// The target (PT's `real_B`), with `outputChannels` channels.
    public var b: Image
    /// The A|B file.
    public var path: ImagePath
    public var parameters: TransformParameters
}

/// The pairs under `<dataroot>/<phase>`, each file holding A (left) and B (right) halves.
///
/// PT splits `AB` at `w2 = int(w / 2)`, runs the same `get_params` draw for both halves and
/// leaves the swap to `model.set_input`; here `direction` is applied in the dataset, so
/// `sample.a` is always the network input (channels `input_nc`) and `sample.b` the target
/// (`output_nc`), which equals PT's `real_A`/`real_B` (PT makes the left half gray by
/// `output_nc` when BtoA, the same thing). Immutable, so any thread may call `sample`.
public final class AlignedDataset: Sendable {
    /// `<dataroot>/<phase>`.
    public let directory: ImagePath
    /// Sorted image files (PT's `AB_paths`).
    public let files: [ImagePath]
    public let options: DatasetOptions

    /// Lists the files of `<dataroot>/<phase>`. Throws naming the directory when it is
    /// missing or holds no images, or naming the bad option.
    public init(dataroot: ImagePath, options: DatasetOptions = DatasetOptions()) throws {
        try options.validate()
        self.options = options
        directory = dataroot.appending(options.phase)
        files = try ImageFolder.imageFiles(in: directory, maxCount: options.maxDatasetSize)
    }

    /// `init(dataroot:options:)` for a UTF-8 path.
    public convenience init(dataroot: String, options: DatasetOptions = DatasetOptions()) throws {
        try self.init(dataroot: ImagePath(dataroot), options: options)
    }

    /// Number of pairs.
    public var count: Int { files.count }

    /// PT's `get_params(opt, A.size)` with our counter-based draws: the crop range is
    /// computed from the size after resizing (`load_size`, or `load_size * h // w` for
    /// scale_width_and_crop, clamped to the actually scaled height).
    public func parameters(index: Int, epoch: Int, halfWidth w: Int, height h: Int) -> TransformParameters {
        var newW = w, newH = h
        switch options.preprocess {
        case .resizeAndCrop:
            newW = options.loadSize; newH = options.loadSize
        case .scaleWidthAndCrop:
            newW = options.loadSize
            newH = min(options.loadSize * h / w, scaledWidthSize(width: w, height: h).height)
        default: break
        }
        let random = SampleRandom(seed: options.seed, epoch: epoch, index: index)
        let x = random.integer(through: max(0, newW - options.cropSize), stream: 0)
        let y = random.integer(through: max(0, newH - options.cropSize), stream: 1)
        let flip = random.unit(stream: 2) > 0.5
        return TransformParameters(cropX: x, cropY: y, flip: options.noFlip ? false : flip)
    }

    /// PT's `__scale_width` target size: width `load_size`, height
    /// `int(max(load_size * h / w, crop_size))` (unchanged when already that wide and tall enough).
    func scaledWidthSize(width w: Int, height h: Int) -> (width: Int, height: Int) {
        let target = options.loadSize
        if w == target && h >= options.cropSize { return (w, h) }
        let scaled = max(Double(target) * Double(h) / Double(w), Double(options.cropSize))
        return (target, Int(scaled))
    }

    /// Decodes file `index`, splits it, and applies PT's `get_transform` to both halves
    /// with one parameter draw for `(seed, epoch, index)`.
    public func sample(at index: Int, epoch: Int) throws -> AlignedSample {
        precondition(index >= 0 && index < files.count, "sample index out of range")
        let path = files[index]
        let ab = try ImageDecoder.decode(path: path, maxPixels: options.maxPixels)
        if ab.width % 2 != 0 {
            throw ImageDataError(path: path, problem: "A|B image width \(ab.width) is odd; expected two halves of equal width")
        }
        let half = ab.width / 2
        let left = ab.cropped(x: 0, y: 0, width: half, height: ab.height)
        let right = ab.cropped(x: half, y: 0, width: half, height: ab.height)
        let (input, target) = options.direction == .aToB ? (left, right) : (right, left)
        let parameters = self.parameters(index: index, epoch: epoch, halfWidth: half, height: ab.height)
        let a = try transform(input, channels: options.inputChannels, parameters: parameters, path: path)
        let b = try transform(target, channels: options.outputChannels, parameters: parameters, path: path)
        return AlignedSample(a: a, b: b, path: path, parameters: parameters)
    }

    /// The (width, height) that `sample(at:)` returns for a half of `halfWidth × height`.
    public func outputSize(halfWidth w: Int, height h: Int) -> (width: Int, height: Int) {
        var size = (width: w, height: h)
        if options.preprocess.resizes { size = (options.loadSize, options.loadSize) }
        if options.preprocess.scalesWidth { size = scaledWidthSize(width: w, height: h) }
        if options.preprocess.crops && (size.width > options.cropSize || size.height > options.cropSize) {
            size = (options.cropSize, options.cropSize)
        }
        if options.preprocess == .none { size = Self.multipleOf4(width: w, height: h) }
        return size
    }

    /// PT's `__make_power_2(img, base=4)`: `int(round(s / 4) * 4)`, Python's round
    /// (half to even).
    static func multipleOf4(width: Int, height: Int) -> (width: Int, height: Int) {
        func r(_ s: Int) -> Int { Int((Double(s) / 4).rounded(.toNearestOrEven)) * 4 }
        return (r(width), r(height))
    }

    /// PT's `get_transform(opt, params, grayscale)` up to (not including) `ToTensor`.
    func transform(_ image: Image, channels: Int, parameters: TransformParameters,
                   path: ImagePath) throws -> Image {
        let crop = options.cropSize
        var img = channels == 1 ? image.grayscale() : image
        if options.preprocess.resizes {
            img = img.resizedBicubic(width: options.loadSize, height: options.loadSize)
        } else if options.preprocess.scalesWidth {
            let size = scaledWidthSize(width: img.width, height: img.height)
            img = img.resizedBicubic(width: size.width, height: size.height)
        }
        if options.preprocess.crops {
            if img.width < crop || img.height < crop {
                // PT would zero-pad (PIL crop outside the image) or skip the crop; refuse.
                throw ImageDataError(path: path, problem: "image half is \(img.width)x\(img.height), smaller than crop_size \(crop) with preprocess \(options.preprocess.rawValue)")
            }
            let x = min(parameters.cropX, img.width - crop)
            let y = min(parameters.cropY, img.height - crop)
            img = img.cropped(x: x, y: y, width: crop, height: crop)
        }
        if options.preprocess == .none {
            let size = Self.multipleOf4(width: img.width, height: img.height)
            if size.width <= 0 || size.height <= 0 {
                throw ImageDataError(path: path, problem: "image half \(img.width)x\(img.height) rounds to an empty size")
            }
            img = img.resizedBicubic(width: size.width, height: size.height)
        }
        if parameters.flip { img = img.flippedHorizontally() }
        return img
    }
}
