import Testing
import Tensor
import Layers
import Pix2Pix

/// Parameter counts, state_dict names and output shapes as PT's networks have them.
@Suite struct ArchitectureTests {
    static let random = RandomStream(seed: 0, stream: 0)

    @Test func unet256MatchesPyTorch() throws {
        let g = try Network(NetworkSpec(architecture: "unet_256", inputChannels: 3, outputChannels: 3), random: Self.random)
        #expect(g.parameterCount == 54_413_955)
        let keys = g.stateDictKeys
        #expect(keys.count == 82)
        #expect(keys.first == "model.model.0.weight")
        #expect(keys.contains("model.model.1.model.2.running_mean"))
        #expect(keys.contains("model.model.1.model.3.model.3.model.3.model.3.model.3.model.3.model.3.weight"))
        #expect(keys.last == "model.model.3.bias")
        #expect(g.dropouts.count == 3)
    }

    @Test func basicPatchGANMatchesPyTorch() throws {
        let d = try Network(NetworkSpec(architecture: "basic", inputChannels: 6), random: Self.random)
        #expect(d.parameterCount == 2_768_705)
        #expect(d.stateDictKeys.count == 22)
        #expect(d.stateDictKeys.prefix(3) == ["model.0.weight", "model.0.bias", "model.2.weight"])
    }

    @Test(arguments: [("unet_32", 32), ("unet_64", 64), ("unet_128", 128), ("resnet_6blocks", 20), ("resnet_9blocks", 16)])
    func generatorKeepsImageSize(_ arch: String, _ size: Int) throws {
        let g = try Network(NetworkSpec(architecture: arch, inputChannels: 3, outputChannels: 2, width: 4),
                            random: Self.random)
        g.initialize(.normal, gain: 0.02, random: Self.random)
        let s = Shape(1, 3, size, arch.hasPrefix("unet") ? 2 * size : size + 4)
        let x = TensorBuffer(shape: s, values: [Float](repeating: 0.3, count: s.count))
        let y = g.forward(x.view(s))
        #expect(y.shape == Shape(1, 2, s.h, s.w))
        #expect(y.array.allSatisfy { $0.isFinite && abs($0) <= 1 })
    }

    /// `zeroGrad` skips its memset only while the gradients are known to be zero: a backward
    /// pass that writes them ends that, one that computes only the input gradient does not.
    @Test func backwardEndsKnownZeroGradients() throws {
        let d = try Network(NetworkSpec(architecture: "basic", inputChannels: 2, width: 4), random: Self.random)
        let s = Shape(1, 2, 32, 32)
        let x = TensorBuffer(shape: s, values: (0..<s.count).map { Float($0 % 7) * 0.1 })
        let y = d.forward(x.view(s))
        let dy = TensorBuffer(shape: y.shape, values: [Float](repeating: 1, count: y.count))
        d.arena.zeroGrad()
        #expect(d.arena.gradientsAreZero)
        _ = d.backward(dy.view(y.shape), inputGradient: true, parameterGradients: false)
        #expect(d.arena.gradientsAreZero && d.arena.grads.allSatisfy { $0 == 0 })
        _ = d.forward(x.view(s))
        _ = d.backward(dy.view(y.shape))
        #expect(!d.arena.gradientsAreZero && d.arena.grads.contains { $0 != 0 })
        d.arena.zeroGrad()
        #expect(d.arena.grads.allSatisfy { $0 == 0 })
    }

    /// Receptive fields 16/70/286 PatchGAN output sizes and the pixel discriminator.
    @Test(arguments: [("n_layers", 1, 64, 30), ("basic", 3, 256, 30), ("n_layers", 5, 286, 6), ("pixel", 0, 9, 9)])
    func discriminatorPatchGrid(_ arch: String, _ layers: Int, _ size: Int, _ grid: Int) throws {
        let d = try Network(NetworkSpec(architecture: arch, inputChannels: 6, width: 4, layers: layers), random: Self.random)
        d.initialize(.normal, gain: 0.02, random: Self.random)
        let s = Shape(1, 6, size, size)
        let x = TensorBuffer(shape: s, values: [Float](repeating: 0.1, count: s.count))
        #expect(d.forward(x.view(s)).shape == Shape(1, 1, grid, grid))
    }

    @Test func unknownArchitectureIsAnError() {
        #expect(throws: ConfigError.self) {
            try Network(NetworkSpec(architecture: "unet_100", inputChannels: 3), random: Self.random)
        }
        #expect(throws: ConfigError.self) {
            try Network(NetworkSpec(architecture: "n_layers", inputChannels: 6, layers: 6), random: Self.random)
        }
    }
}
