import ArgumentParser
import Training

/// `pix2pix train --config FILE [--key value …]`: PT's train.py for the pix2pix model.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a pix2pix model (options: PT's names, from --config and/or the command line).",
        discussion: "Any option can be given as in PyTorch's train.py: --lr 0.0001, --no_flip, --netG unet_128. Options: \(Options.names.joined(separator: ", ")).")

    @Option(help: "YAML file of options (PT option names).") var config: String?
    @Option(help: "Stop after this many steps (smoke tests, benchmarks).") var maxSteps: Int?
    @Argument(parsing: .allUnrecognized, help: "PT-style overrides, e.g. --lr 0.0001 --no_flip.")
    var overrides: [String] = []

    func run() throws {
        let options = try loadOptions(config: config, overrides: overrides)
        let trainer = try Trainer(options: options)
        try trainer.run(stopAfterSteps: maxSteps)
    }
}

/// Defaults, then the config file, then command-line overrides.
func loadOptions(config: String?, overrides: [String], base: Options = Options()) throws -> Options {
    var o = base
    if let config { try o.apply(file: config) }
    try o.apply(arguments: overrides)
    return o
}
