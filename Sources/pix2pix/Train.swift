import ArgumentParser
import Foundation
import Tensor
import Training
import Distributed

/// `pix2pix train --config FILE [--key value …]`: PT's train.py for the pix2pix model.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a pix2pix model (options: PT's names, from --config and/or the command line).",
        discussion: "Any option can be given as in PyTorch's train.py: --lr 0.0001, --no_flip, --netG unet_128. Options: \(Options.names.joined(separator: ", ")).")

    @Option(help: "YAML file of options (PT option names).") var config: String?
    @Option(help: "Stop after this many steps (smoke tests, benchmarks).") var maxSteps: Int?
    @Argument(parsing: .allUnrecognized, help: "PT-style overrides, e.g. --lr 0.0001 --no_flip.")
    var overrides: [String] = []

    /// Under mpirun or srun every rank runs this; a plain process is a world of one. An
    /// error on any rank prints `[rank r/R host] error: …` and ends the whole job (MPI_Abort).
    func run() throws {
        let communicator = try Communicator.start()
        let outcome = communicator.runOrAbort { () throws -> TrainingOutcome in
            let options = try loadOptions(config: config, overrides: overrides)
            let budget = try ThreadBudget.compute(communicator: communicator)
            ComputeThreads.set(budget.threads)
            let log = Log(rank: communicator.rank, worldSize: communicator.size, host: communicator.hostname)
            log.info("\(communicator.size) rank(s); \(budget); OpenBLAS \(blasCoreName) kernels")
            if let warning = budget.warning { log.info("warning: \(warning)") }
            let trainer = try Trainer(options: options, communicator: communicator)
            trainer.stopRequest.install()
            let outcome = try trainer.run(stopAfterSteps: maxSteps)
            trainer.shutdown()
            return outcome
        }
        communicator.finalize()
        if case .preempted = outcome { throw ExitCode(TrainingOutcome.preemptedExitCode) }
    }
}

/// Defaults, then the config file, then command-line overrides.
func loadOptions(config: String?, overrides: [String], base: Options = Options()) throws -> Options {
    var o = base
    if let config { try o.apply(file: config) }
    try o.apply(arguments: overrides)
    return o
}
