import ArgumentParser

struct BenchLayers: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-layers")
    func run() throws {}
}
