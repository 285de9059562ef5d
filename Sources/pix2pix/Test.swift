import ArgumentParser
import Foundation
import Tensor
import Pix2Pix
import Training
import ImageData

/// `pix2pix test`: PT's test.py. Translates num_test pairs of `<dataroot>/<phase>` (phase
/// test) with `<epoch>_net_G` and writes real_A / fake_B / real_B images and an index.html
/// under `<results_dir>/<name>/<phase>_<epoch>/`. Paper mode by default (batch statistics
/// and dropout on, as PT without --eval); `--eval` uses running statistics and no dropout.
struct Test: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Translate the test split with a trained generator and write an HTML page (PT's test.py).")

    @Option(help: "YAML file of options; by default the options stored in the checkpoint.") var config: String?
    @Argument(parsing: .allUnrecognized, help: "PT-style options, e.g. --name facades --dataroot DIR --eval.")
    var overrides: [String] = []

    func run() throws {
        // The checkpoint's own options first, so that architecture and preprocessing match.
        var probe = try loadOptions(config: config, overrides: overrides)
        let generatorPath = Checkpoint.path(probe, label: probe.epoch, net: "G")
        var options = try Checkpoint.options(path: generatorPath) ?? probe
        options.phase = "test"
        options.no_flip = true
        options.serial_batches = true
        options.batch_size = 1
        options.eval = false
        options = try loadOptions(config: config, overrides: overrides, base: options)
        probe = options
        try options.validate(training: false)

        let G = try Checkpoint.loadNetwork(path: generatorPath)
        G.convolutionAlgorithm = options.convolutionAlgorithm
        G.setTraining(!options.eval)
        G.weightsFrozen = true
        let dataset = try AlignedDataset(dataroot: ImagePath(options.dataroot), options: options.datasetOptions)
        let web = "\(options.results_dir)/\(options.name)/\(options.phase)_\(options.epoch)"
        try FileManager.default.createDirectory(atPath: "\(web)/images", withIntermediateDirectories: true)
        var rows: [String] = []
        let input = TensorBuffer()
        let count = min(options.num_test, dataset.count)
        for i in 0..<count {
            let sample = try dataset.sample(at: i, epoch: 0)
            let s = Shape(1, sample.a.channels, sample.a.height, sample.a.width)
            guard s.h % G.spec.sizeMultiple == 0, s.w % G.spec.sizeMultiple == 0 else {
                throw ValidationError("\(sample.path): becomes \(s.w)×\(s.h), which \(G.spec.architecture) cannot take (multiples of \(G.spec.sizeMultiple))")
            }
            let x = input.view(s)
            sample.a.writeNormalized(to: x.data)
            let y = G.forward(x)
            let fake = Image(denormalizing: y.data, channels: y.shape.c, height: y.shape.h, width: y.shape.w)
            let stem = stemName(sample.path)
            for (label, image) in [("real_A", sample.a), ("fake_B", fake), ("real_B", sample.b)] {
                try ImageEncoder.writePNG(image.channels == 3 ? image : image.rgb(), to: "\(web)/images/\(stem)_\(label).png")
            }
            rows.append(stem)
        }
        // Paired data, so the translation can be scored: each image resized to crop_size
        // (no random crop), as validation during training does.
        let m = try Validator(options: options, phase: options.phase).evaluate(G, eval: options.eval, limit: count)
        let summary = String(format: "L1 %.4f, PSNR %.2f dB, SSIM %.4f over %d images", m.l1, m.psnr, m.ssim, m.count)
        try testPage(title: "Experiment = \(options.name), Phase = \(options.phase), Epoch = \(options.epoch)",
                     summary: summary, rows: rows)
            .write(toFile: "\(web)/index.html", atomically: true, encoding: .utf8)
        print("pix2pix test: \(count) images (\(options.eval ? "eval" : "paper") mode) → \(web)/index.html")
        print("pix2pix test: \(summary)")
    }
}

func stemName(_ path: ImagePath) -> String {
    let name = String(decoding: path.lastComponent, as: UTF8.self)
    if let dot = name.lastIndex(of: ".") { return String(name[..<dot]) }
    return name
}

/// PT's HTML page from test.py: one row per image, columns real_A, fake_B, real_B.
func testPage(title: String, summary: String, rows: [String]) -> String {
    var html = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>\(title)</title>\n"
    html += "<style>body{font-family:sans-serif} td{padding:4px;text-align:center} img{width:256px}</style></head><body>\n"
    html += "<h1>\(title)</h1>\n<p>\(summary)</p>\n<table>\n<tr><th></th><th>real_A</th><th>fake_B</th><th>real_B</th></tr>\n"
    for stem in rows {
        html += "<tr><td>\(stem)</td>"
        for label in ["real_A", "fake_B", "real_B"] {
            html += "<td><a href=\"images/\(stem)_\(label).png\"><img src=\"images/\(stem)_\(label).png\"></a></td>"
        }
        html += "</tr>\n"
    }
    return html + "</table></body></html>\n"
}
