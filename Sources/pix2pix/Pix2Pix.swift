import ArgumentParser
import Tensor

@main
struct Pix2PixCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pix2pix",
        abstract: "Data-parallel Pix2Pix training on CPUs (OpenBLAS + OpenMPI), equal to the PyTorch reference.",
        subcommands: [Train.self, Test.self, Translate.self, Bench.self, BenchLayers.self, DatasetCommand.self, Info.self])

    static func main() {
        preferMeasuredBLASKernels()   // may restart the process once, before anything else runs
        main(Array(CommandLine.arguments.dropFirst()))
    }
}
