import Tensor
import Pix2Pix
import Layers
import ImageData

extension Options {
    public var normKind: NormKind { NormKind(rawValue: norm)! }

    public var generatorSpec: NetworkSpec {
        NetworkSpec(architecture: netG, inputChannels: input_nc, outputChannels: output_nc, width: ngf,
                    norm: normKind, dropout: !no_dropout)
    }

    /// D judges (A, B) pairs: input_nc + output_nc channels.
    public var discriminatorSpec: NetworkSpec {
        NetworkSpec(architecture: netD, inputChannels: input_nc + output_nc, width: ndf, norm: normKind,
                    layers: netD == "basic" ? 3 : n_layers_D)
    }

    public var datasetOptions: DatasetOptions {
        var d = DatasetOptions()
        d.phase = phase
        d.loadSize = load_size
        d.cropSize = crop_size
        d.preprocess = Preprocess(rawValue: preprocess)!
        d.noFlip = no_flip
        d.direction = Direction(rawValue: direction)!
        d.inputChannels = input_nc
        d.outputChannels = output_nc
        d.maxDatasetSize = max_dataset_size
        d.seed = UInt64(seed)
        return d
    }

    public var initializer: Initializer { Initializer(rawValue: init_type)! }
    public var ganMode: GANMode { GANMode(rawValue: gan_mode)! }
    public var convolutionAlgorithm: Conv2d.Algorithm { Conv2d.Algorithm(rawValue: conv_algorithm)! }

    /// The experiment folder, `<checkpoints_dir>/<name>`.
    public var experimentDirectory: String { "\(checkpoints_dir)/\(name)" }

    /// Checks the constraints between keys that single values cannot show; the key is named.
    public func validate(training: Bool) throws {
        func fail(_ key: String, _ message: String) -> OptionsError { OptionsError(key, message) }
        guard [1, 3].contains(input_nc) else { throw fail("input_nc", "must be 1 or 3, got \(input_nc)") }
        guard [1, 3].contains(output_nc) else { throw fail("output_nc", "must be 1 or 3, got \(output_nc)") }
        if netD == "n_layers", n_layers_D > 5 { throw fail("n_layers_D", "must be between 0 and 5, got \(n_layers_D)") }
        if training, dataroot.isEmpty { throw fail("dataroot", "is required (a folder with \(phase)/ of A|B images)") }
        if name.isEmpty || name.contains("/") { throw fail("name", "must be a non-empty folder name, got '\(name)'") }
        let multiple = generatorSpec.sizeMultiple
        let crops = ["resize_and_crop", "crop", "scale_width_and_crop"].contains(preprocess)
        if crops, crop_size % multiple != 0 {
            throw fail("crop_size", "\(netG) needs sizes divisible by \(multiple), got \(crop_size)")
        }
        if preprocess == "resize_and_crop", load_size < crop_size {
            throw fail("load_size", "must be at least crop_size (\(crop_size)) for resize_and_crop, got \(load_size)")
        }
        if preprocess == "scale_width", load_size % multiple != 0 {
            throw fail("load_size", "\(netG) needs widths divisible by \(multiple), got \(load_size)")
        }
        if training, crops {
            let grid = discriminatorGrid(size: crop_size)
            if grid < 1 {
                throw fail("crop_size", "\(crop_size) is too small for netD \(netD) with n_layers_D \(n_layers_D) (no output patch left)")
            }
        }
        if n_epochs + n_epochs_decay < epoch_count {
            throw fail("n_epochs", "n_epochs + n_epochs_decay (\(n_epochs + n_epochs_decay)) is before epoch_count \(epoch_count): nothing to train")
        }
    }

    /// Side of the PatchGAN output grid for a square input of `size`.
    func discriminatorGrid(size: Int) -> Int {
        if netD == "pixel" { return size }
        let layers = netD == "basic" ? 3 : n_layers_D
        var s = (size + 2 - 4) / 2 + 1
        for _ in stride(from: 1, to: layers, by: 1) { s = (s + 2 - 4) / 2 + 1 }
        s = s - 1
        return s - 1
    }
}
