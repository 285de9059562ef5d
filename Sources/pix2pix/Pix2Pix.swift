import ArgumentParser

@main
struct Pix2Pix: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pix2pix",
        abstract: "Data-parallel Pix2Pix training on CPUs (OpenBLAS + OpenMPI).",
        subcommands: [BenchLayers.self])
}
