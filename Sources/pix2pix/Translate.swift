import ArgumentParser
import Foundation
import Tensor
import Pix2Pix
import Training
import ImageData

/// `pix2pix translate --generator FILE --input IMAGE_OR_DIR --output DIR [--eval]`: applies a
/// generator to images of any size. Each image is padded (edge pixels repeated) up to what
/// the network takes and the result cropped back, so no size is refused. On our checkpoints
/// the architecture comes from the file; on a PyTorch-written generator give the flags PT's
/// test.py takes.
struct Translate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply a generator to images of any size.")

    @Option(help: "Generator checkpoint (ours, or a PyTorch state_dict in safetensors).") var generator: String
    @Option(help: "An image or a folder of images.") var input: String
    @Option(help: "Output folder.") var output: String
    @Flag(help: "Running statistics and no dropout (PT's --eval); default is paper mode.") var eval = false
    @Option(name: .customLong("netG"), help: "For PyTorch files: architecture.") var netG: String?
    @Option(help: "For PyTorch files.") var ngf = 64
    @Option(help: "For PyTorch files: batch, instance or none.") var norm = "batch"
    @Flag(name: .customLong("no_dropout"), help: "For PyTorch files.") var noDropout = false
    @Option(name: .customLong("input_nc"), help: "For PyTorch files.") var inputNC = 3
    @Option(name: .customLong("output_nc"), help: "For PyTorch files.") var outputNC = 3

    func run() throws {
        var spec: NetworkSpec?
        if let netG {
            guard let n = NormKind(rawValue: norm) else { throw ValidationError("--norm must be batch, instance or none") }
            spec = NetworkSpec(architecture: netG, inputChannels: inputNC, outputChannels: outputNC, width: ngf,
                               norm: n, dropout: !noDropout)
        }
        let G = try Checkpoint.loadNetwork(path: generator, spec: spec)
        G.setTraining(!eval)
        G.weightsFrozen = true
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: input, isDirectory: &isDir) else {
            throw ValidationError("\(input): no such file or folder")
        }
        let files = isDir.boolValue ? try ImageFolder.imageFiles(in: ImagePath(input)) : [ImagePath(input)]
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let buffer = TensorBuffer()
        let m = G.spec.sizeMultiple
        for file in files {
            var image = try ImageDecoder.decode(path: file)
            image = G.spec.inputChannels == 1 ? image.grayscale() : image.rgb()
            let h = (image.height + m - 1) / m * m, w = (image.width + m - 1) / m * m
            let x = buffer.view(Shape(1, image.channels, h, w))
            padded(image, height: h, width: w).writeNormalized(to: x.data)
            let y = G.forward(x)
            let full = Image(denormalizing: y.data, channels: y.shape.c, height: h, width: w)
            let result = full.cropped(x: 0, y: 0, width: image.width, height: image.height)
            let out = "\(output)/\(stemName(file)).png"
            try ImageEncoder.writePNG(result, to: out)
            print("\(file) → \(out)")
        }
    }
}

/// The image extended to (height, width) by repeating its last row and column.
func padded(_ image: Image, height: Int, width: Int) -> Image {
    if image.height == height && image.width == width { return image }
    var out = Image(width: width, height: height, channels: image.channels)
    let c = image.channels
    for y in 0..<height {
        let sy = min(y, image.height - 1)
        for x in 0..<width {
            let sx = min(x, image.width - 1)
            for k in 0..<c { out.pixels[(y * width + x) * c + k] = image.pixels[(sy * image.width + sx) * c + k] }
        }
    }
    return out
}
