import ArgumentParser
import Foundation
import Tensor
import Training

/// `pix2pix dataset demo|combine|split`: make and prepare aligned A|B datasets.
struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Make or prepare aligned A|B datasets (PT's datasets/ folder).",
        subcommands: [DatasetDemo.self, DatasetCombine.self, DatasetSplit.self])
}

/// `pix2pix dataset demo --output DIR [--count N] [--size S] [--seed K] [--val N] [--test N]`.
struct DatasetDemo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Generate a procedural paired dataset: facade and street label maps and their renderings.",
        discussion: """
            Each file is 2S×S: the rendered photo on the left (A) and the 8-colour label map on the \
            right (B), laid out like CMP Facades, so label → photo is --direction BtoA. The same \
            seed gives byte-identical files. See Configs/demo.yaml.
            """)

    @Option(help: "Output folder; gets train/, val/ and test/.") var output: String
    @Option(help: "Training pairs.") var count = 400
    @Option(help: "Side of each half in pixels (files are 2·size × size).") var size = 256
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Validation pairs.") var val = 50
    @Option(help: "Test pairs.") var test = 50

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1, got \(count)") }
        guard val >= 0, test >= 0 else { throw ValidationError("--val and --test must be at least 0") }
        guard (16...4096).contains(size) else { throw ValidationError("--size must be between 16 and 4096, got \(size)") }
    }

    func run() throws {
        let start = monotonicSeconds()
        let files = try DemoDataset.write(to: output, size: size, seed: seed,
                                          counts: [("train", count), ("val", val), ("test", test)])
        let seconds = monotonicSeconds() - start
        print("wrote \(files.count) pairs of \(size)x\(size) (train \(count), val \(val), test \(test)) to \(output) in \(String(format: "%.2f", seconds)) s")
    }
}

/// `pix2pix dataset combine --a DIR_A --b DIR_B --output DIR`: PT's combine_A_and_B.py.
struct DatasetCombine: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "combine",
        abstract: "Pair same-named images of A/<split> and B/<split> into A|B files (PT's combine_A_and_B.py).",
        discussion: "For every split folder of --a (train, val, test, …), writes OUTPUT/<split>/<name>.png with A left and B right. Nothing is resized: A and B must be the same size.")

    @Option(help: "Folder of A images, with split subfolders.") var a: String
    @Option(help: "Folder of B images, with the same split subfolders and file names.") var b: String
    @Option(help: "Output folder.") var output: String

    func run() throws {
        let result = try DatasetTools.combine(a: a, b: b, output: output)
        for warning in result.warnings {
            FileHandle.standardError.write(Data((warning + "\n").utf8))
        }
        print("wrote \(result.written.count) A|B pairs to \(output)")
    }
}

/// `pix2pix dataset split --input DIR --output DIR [--val 0.1] [--test 0.1] [--seed K]`.
struct DatasetSplit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "split",
        abstract: "Split a folder of A|B images into train/, val/ and test/ (copies, deterministic in --seed).")

    @Option(help: "Folder of A|B images (searched recursively).") var input: String
    @Option(help: "Output folder; gets train/, val/ and test/.") var output: String
    @Option(help: "Fraction of files for val/.") var val = 0.1
    @Option(help: "Fraction of files for test/.") var test = 0.1
    @Option(help: "Random seed of the split.") var seed: UInt64 = 0

    func validate() throws {
        guard (0...1).contains(val), (0...1).contains(test), val + test <= 1 else {
            throw ValidationError("--val and --test must be in [0, 1] and sum to at most 1, got \(val) and \(test)")
        }
    }

    func run() throws {
        let result = try DatasetTools.split(input: input, output: output, valFraction: val, testFraction: test, seed: seed)
        print("split into train \(result.train.count), val \(result.val.count), test \(result.test.count) under \(output)")
    }
}
