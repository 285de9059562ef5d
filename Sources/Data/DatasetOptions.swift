// The options of PT's aligned dataset (base_options.py / train_options.py names in comments).

/// PT's `--preprocess`.
public enum Preprocess: String, Sendable, CaseIterable {
    /// Resize to `loadSize × loadSize`, then random crop `cropSize`.
    case resizeAndCrop = "resize_and_crop"
    /// Random crop `cropSize` without resizing.
    case crop
    /// Width to `loadSize`, height by aspect ratio but at least `cropSize`.
    case scaleWidth = "scale_width"
    /// `scaleWidth`, then random crop `cropSize`.
    case scaleWidthAndCrop = "scale_width_and_crop"
    /// No resize or crop; sizes rounded to a multiple of 4 with bicubic (`__make_power_2`).
    case none

    var resizes: Bool { self == .resizeAndCrop }
    var scalesWidth: Bool { self == .scaleWidth || self == .scaleWidthAndCrop }
    var crops: Bool { self == .resizeAndCrop || self == .crop || self == .scaleWidthAndCrop }
}

/// PT's `--direction`: which half of the A|B image is the network's input.
public enum Direction: String, Sendable, CaseIterable {
    /// Left half → right half.
    case aToB = "AtoB"
    /// Right half → left half (facades: labels → photo).
    case bToA = "BtoA"
}

/// Options of `AlignedDataset`, PT's defaults for pix2pix training.
public struct DatasetOptions: Sendable, Equatable {
    /// `--phase`: the subdirectory of dataroot (train, val, test).
    public var phase: String = "train"
    /// `--load_size`.
    public var loadSize: Int = 286
    /// `--crop_size`.
    public var cropSize: Int = 256
    /// `--preprocess`.
    public var preprocess: Preprocess = .resizeAndCrop
    /// `--no_flip`.
    public var noFlip: Bool = false
    /// `--direction`.
    public var direction: Direction = .aToB
    /// `--input_nc`: 1 (gray, PIL "L") or 3.
    public var inputChannels: Int = 3
    /// `--output_nc`: 1 or 3.
    public var outputChannels: Int = 3
    /// `--max_dataset_size`.
    public var maxDatasetSize: Int = .max
    /// Seed of the crop/flip draws (see `SampleRandom`).
    public var seed: UInt64 = 0
    /// Decoder pixel limit per file.
    public var maxPixels: Int = ImageDecoder.defaultMaxPixels

    public init() {}

    /// Checks what PT asserts or assumes. Throws naming the option.
    public func validate() throws {
        func fail(_ problem: String) -> ImageDataError { ImageDataError(path: "options", problem: problem) }
        if loadSize <= 0 || cropSize <= 0 { throw fail("load_size and crop_size must be positive") }
        if loadSize < cropSize { throw fail("load_size (\(loadSize)) must be at least crop_size (\(cropSize))") }
        if ![1, 3].contains(inputChannels) { throw fail("input_nc must be 1 or 3, not \(inputChannels)") }
        if ![1, 3].contains(outputChannels) { throw fail("output_nc must be 1 or 3, not \(outputChannels)") }
        if maxDatasetSize <= 0 { throw fail("max_dataset_size must be positive") }
    }
}
