import Foundation
import Testing
import Tensor
import Pix2Pix
import Training
import TestSupport

@Suite struct CheckpointTests {
    static let dir = fixtureDirectory()

    static func tempDir() -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("pix2pix-ckpt-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    static func smallG() throws -> Network {
        let g = try Network(NetworkSpec(architecture: "unet_32", inputChannels: 3, outputChannels: 3, width: 4),
                            random: RandomStream(seed: 3, stream: 0))
        g.initialize(.normal, gain: 0.02, random: RandomStream(seed: 3, stream: 1))
        return g
    }

    @Test func writeThenLoadGivesTheSameNetwork() throws {
        let g = try Self.smallG()
        g.batchNorms[0].numBatchesTracked = 41
        g.batchNorms[1].runningMean.values[0] = 0.25
        let path = "\(Self.tempDir())/latest_net_G.safetensors"
        try Checkpoint.write(g, to: path, options: Options(), epoch: 3, step: 99)
        let back = try Checkpoint.loadNetwork(path: path)
        #expect(back.spec == g.spec)
        #expect(Array(back.arena.values) == Array(g.arena.values))
        #expect(Array(back.arena.bufferValues) == Array(g.arena.bufferValues))
        #expect(back.batchNorms.map(\.numBatchesTracked) == g.batchNorms.map(\.numBatchesTracked))
        #expect(back.stateDictKeys == g.stateDictKeys)
        #expect(try Checkpoint.options(path: path) == Options())
    }

    @Test func damagedOrForeignCheckpointsAreRefusedByName() throws {
        let g = try Self.smallG()
        let dir = Self.tempDir()
        let path = "\(dir)/g.safetensors"
        try Checkpoint.write(g, to: path, options: Options(), epoch: 1, step: 1)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: "\(dir)/truncated.safetensors"))
        for bad in ["\(dir)/truncated.safetensors", "\(dir)/missing.safetensors"] {
            #expect(throws: FileError.self) { try Checkpoint.loadNetwork(path: bad) }
        }
        // Another architecture: a unet_64 cannot take unet_32 weights.
        let other = NetworkSpec(architecture: "unet_64", inputChannels: 3, outputChannels: 3, width: 4)
        do {
            _ = try Checkpoint.loadNetwork(path: path, spec: other)
            Issue.record("loaded a unet_32 file as unet_64")
        } catch let e as FileError {
            #expect(e.path == path)
        }
        let wider = NetworkSpec(architecture: "unet_32", inputChannels: 3, outputChannels: 3, width: 8)
        #expect(throws: FileError.self) { try Checkpoint.loadNetwork(path: path, spec: wider) }
    }

    /// A generator written by PyTorch (`save_file(netG.state_dict())`, no metadata) loads with
    /// PT's test.py flags and translates to PyTorch's output, in eval and paper modes.
    @Test func pytorchWrittenGeneratorTranslatesLikePyTorch() throws {
        let spec = NetworkSpec(architecture: "unet_32", inputChannels: 3, outputChannels: 3, width: 4, norm: .batch, dropout: true)
        #expect(throws: FileError.self) { try Checkpoint.loadNetwork(path: "\(Self.dir)/pt_unet32_G.safetensors") }
        let g = try Checkpoint.loadNetwork(path: "\(Self.dir)/pt_unet32_G.safetensors", spec: spec)
        let io = try Fixture("pt_unet32_io", directory: Self.dir)
        #expect(g.batchNorms.allSatisfy { $0.numBatchesTracked == 12 })
        g.setTraining(false)
        expectClose(g.forward(try io.tensor("x")), try io.floats("y_eval"), "eval output")
        g.setTraining(true)
        // unet_32 has no dropout levels (they start at depth 4 of 5), so paper mode is batch statistics only.
        #expect(g.dropouts.isEmpty)
        expectClose(g.forward(try io.tensor("x")), try io.floats("y_train"), "paper-mode output")
    }
}
