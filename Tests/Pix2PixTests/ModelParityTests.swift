import Testing
import Tensor
import Layers
import Pix2Pix
import TestSupport

/// Full networks and one complete training step against PyTorch (Fixtures/pt_reference.py,
/// a replica of PT's networks.py and Pix2PixModel.optimize_parameters; fixtures written by
/// Fixtures/make_model_fixtures.py). Every output, gradient, updated weight and BatchNorm
/// statistic is compared element by element.
@Suite struct ModelParityTests {
    static let dir = fixtureDirectory()

    static func generatorSpec(_ f: Fixture) throws -> NetworkSpec {
        NetworkSpec(architecture: f.file.metadata["netG"]!, inputChannels: try f.int("input_nc"),
                    outputChannels: try f.int("output_nc"), width: try f.int("ngf"),
                    norm: NormKind(rawValue: f.file.metadata["norm"]!)!, dropout: !(try f.bool("no_dropout")))
    }

    static func discriminatorSpec(_ f: Fixture, inputChannels: Int) throws -> NetworkSpec {
        let norm = f.file.metadata["norm_D"] ?? f.file.metadata["norm"]!
        return NetworkSpec(architecture: f.file.metadata["netD"]!, inputChannels: inputChannels,
                           width: try f.int("ndf"), norm: NormKind(rawValue: norm)!,
                           layers: Int(f.file.metadata["n_layers_D"] ?? "3") ?? 3)
    }

    /// Hands each dropout layer the mask PyTorch drew for it (`mask.<call>.<module name>`).
    static func replayMasks(_ net: Network, _ f: Fixture) throws {
        for key in f.file.names where key.hasPrefix("mask.") {
            let name = key.split(separator: ".", maxSplits: 2)[2]
            guard let d = net.dropouts.first(where: { $0.name == name }) else {
                Issue.record("no dropout layer named \(name)")
                continue
            }
            d.pendingMask = try f.tensor(key)
        }
    }

    /// Compares every tensor named `prefix + key` of the network's state_dict.
    static func expectState(_ net: Network, _ f: Fixture, prefix: String, trainableOnly: Bool = false,
                            buffersOnly: Bool = false, atol: Double = 1e-5, rtol: Double = 1e-4) throws {
        for e in net.arena.entries where (!trainableOnly || e.isTrainable) && (!buffersOnly || !e.isTrainable)
            && f.has(prefix + e.name) {
            expectClose(Array(e.values), try f.floats(prefix + e.name), atol: atol, rtol: rtol, "\(f.name) \(prefix)\(e.name)")
        }
        for bn in net.batchNorms where f.has(prefix + bn.numBatchesTrackedName) {
            #expect([bn.numBatchesTracked] == (try f.file.int64s(prefix + bn.numBatchesTrackedName)),
                    "\(f.name) \(prefix)\(bn.numBatchesTrackedName)")
        }
    }

    /// Whole-network tolerance: 2e-5 of the tensor's largest element (at least 2e-5) plus
    /// 1e-4 relative. Deep stacks of normalisation layers sum over many terms, so small
    /// elements of a large-valued tensor carry absolute rounding error on the tensor's scale.
    /// Measured against a float64 run of the same PT replica, PT's float32 result and ours
    /// are both within about 1e-6 of each tensor's largest element; the tolerance is 20× that.
    static func expectNetworkClose(_ actual: [Float], _ expected: [Float], _ what: String) {
        let scale = expected.reduce(0) { max($0, abs(Double($1))) }
        expectClose(actual, expected, atol: 2e-5 * max(1, scale), rtol: 1e-4, what)
    }

    /// Parameter gradients. A conv bias in front of InstanceNorm has a true gradient of zero
    /// (the mean subtraction cancels it); PT's and ours are both rounding noise there, so
    /// such a bias is only checked to be negligible next to its weight's gradient.
    static func expectGradients(_ net: Network, _ f: Fixture, prefix: String, actual: [String: [Float]]? = nil) throws {
        for e in net.arena.trainable {
            let expected = try f.floats(prefix + e.name)
            let ours = actual?[e.name] ?? Array(e.grads)
            let weightKey = prefix + e.name.dropLast(4) + "weight"
            if e.name.hasSuffix(".bias"), f.has(weightKey) {
                let weightScale = try f.floats(weightKey).reduce(0) { max($0, abs($1)) }
                let biasScale = expected.reduce(0) { max($0, abs($1)) }
                if biasScale < 1e-4 * weightScale {
                    let oursScale = ours.reduce(0) { max($0, abs($1)) }
                    #expect(oursScale < 1e-4 * weightScale, "\(f.name) \(prefix)\(e.name): should be ~0, max \(oursScale)")
                    continue
                }
            }
            expectNetworkClose(ours, expected, "\(f.name) \(prefix)\(e.name)")
        }
    }

    @Test(arguments: ["fwd_unet64_batch_dropout_train", "fwd_unet64_batch_dropout_eval", "fwd_unet32_instance",
                      "fwd_unet32_none", "fwd_resnet6_batch", "fwd_resnet9_instance_dropout",
                      "fwd_d_basic_batch", "fwd_d_n1_instance", "fwd_d_n5_none", "fwd_d_n0_batch", "fwd_d_pixel_batch"],
          [Conv2d.Algorithm.automatic, .winograd])
    func forwardAndBackward(_ name: String, algorithm: Conv2d.Algorithm) throws {
        let f = try Fixture(name, directory: Self.dir)
        let isG = f.file.metadata["net"] == "G"
        let spec = isG ? try Self.generatorSpec(f) : try Self.discriminatorSpec(f, inputChannels: try f.int("input_nc"))
        let net = try Network(spec, random: RandomStream(seed: 1, stream: 0))
        let prefix = isG ? "G." : "D."
        try net.loadStateDict(from: f.file, prefix: prefix, allowExtra: true)
        net.convolutionAlgorithm = algorithm
        net.setTraining(f.file.metadata["mode"] == "train")
        try Self.replayMasks(net, f)
        let y = net.forward(try f.tensor("x"))
        #expect(y.shape == (try f.shape("y")))
        Self.expectNetworkClose(y.array, try f.floats("y"), "\(name) y")
        let dx = net.backward(try f.tensor("dy"), inputGradient: true)!
        Self.expectNetworkClose(dx.array, try f.floats("dx"), "\(name) dx")
        try Self.expectGradients(net, f, prefix: "grad.\(prefix)")
        try Self.expectState(net, f, prefix: "after.\(prefix)")
    }

    @Test(arguments: ["step_unet64_basic_vanilla", "step_unet32_basic_lsgan_instance", "step_unet64_pixel_wgangp",
                      "step_unet64_basic_vanilla_eval"], [Conv2d.Algorithm.automatic, .winograd])
    func trainingStep(_ name: String, algorithm: Conv2d.Algorithm) throws {
        let f = try Fixture(name, directory: Self.dir)
        let gSpec = try Self.generatorSpec(f)
        let G = try Network(gSpec, random: RandomStream(seed: 1, stream: 0))
        let D = try Network(try Self.discriminatorSpec(f, inputChannels: gSpec.inputChannels + gSpec.outputChannels),
                            random: RandomStream(seed: 1, stream: 1))
        try G.loadStateDict(from: f.file, prefix: "G.", allowExtra: true)
        try D.loadStateDict(from: f.file, prefix: "D.", allowExtra: true)
        (G.convolutionAlgorithm, D.convolutionAlgorithm) = (algorithm, algorithm)
        let training = f.file.metadata["mode"] == "train"
        G.setTraining(training)
        D.setTraining(training)
        try Self.replayMasks(G, f)
        let model = Pix2PixModel(G: G, D: D, ganMode: GANMode(rawValue: f.file.metadata["gan_mode"]!)!,
                                 lambdaL1: try f.float("lambda_L1"), learningRate: try f.float("lr"),
                                 beta1: try f.float("beta1"), beta2: try f.float("beta2"))
        // Capture the gradients just before each optimiser step.
        var gradD: [String: [Float]] = [:], gradG: [String: [Float]] = [:]
        model.gradientsReady = { arena in
            let grads = Dictionary(uniqueKeysWithValues: arena.trainable.map { ($0.name, Array($0.grads)) })
            if arena === D.arena { gradD = grads } else { gradG = grads }
        }
        let losses = try model.step(realA: try f.tensor("real_A"), realB: try f.tensor("real_B"))
        expectClose([losses.D_fake, losses.D_real, losses.G_GAN, losses.G_L1],
                    [try f.floats("loss_D_fake")[0], try f.floats("loss_D_real")[0], try f.floats("loss_G_GAN")[0], try f.floats("loss_G_L1")[0]],
                    "\(name) losses D_fake, D_real, G_GAN, G_L1")
        Self.expectNetworkClose(model.fakeB!.array, try f.floats("fake_B"), "\(name) fake_B")
        try Self.expectGradients(D, f, prefix: "grad.D.", actual: gradD)
        try Self.expectGradients(G, f, prefix: "grad.G.", actual: gradG)
        // Adam's first step moves each weight by about lr·sign(g). Where the true gradient is
        // zero (a conv bias in front of InstanceNorm, whose mean subtraction cancels it) both
        // frameworks hold rounding noise of either sign, so those weights may differ by 2·lr;
        // everywhere else the updated weights must agree to 2e-6.
        let lr = Double(try f.float("lr"))
        for (net, prefix) in [(G, "G."), (D, "D.")] {
            for e in net.arena.trainable {
                let expected = try f.floats("after." + prefix + e.name)
                let g = try f.floats("grad." + prefix + e.name)
                let actual = Array(e.values)
                for i in 0..<expected.count {
                    let noise = abs(g[i]) < 1e-6
                    let diff = abs(Double(actual[i]) - Double(expected[i]))
                    if diff > (noise ? 2.02 * lr : 2e-6 + 1e-4 * abs(Double(expected[i]))) {
                        Issue.record("\(name) after.\(prefix)\(e.name)[\(i)]: \(actual[i]) vs \(expected[i]) (grad \(g[i]))")
                        break
                    }
                }
            }
            try Self.expectState(net, f, prefix: "after." + prefix, trainableOnly: false, buffersOnly: true)
            // The update cleared the gradients as it read them (nothing wrote them after it,
            // not even the G step's pass through D), so the next step's zeroGrad has nothing to do.
            #expect(net.arena.gradientsAreZero, "\(name) \(prefix) gradients known zero")
            #expect(net.arena.grads.allSatisfy { $0 == 0 }, "\(name) \(prefix) gradients zero after the step")
        }
    }

    /// G's Adam step inside G's backward (`streamsGeneratorUpdate`, what a trainer alone
    /// runs) is the classic step bit for bit: losses, weights, statistics and both networks'
    /// Adam moments after three steps; it never touches G's full gradient buffer (its pages
    /// stay unmapped), and it leaves no window open. The U-Nets of the PyTorch fixtures, and
    /// a ResNet generator with batch 2.
    @Test(arguments: ["step_unet64_basic_vanilla", "step_unet32_basic_lsgan_instance", "step_unet64_pixel_wgangp",
                      "resnet_6blocks"])
    func streamedGeneratorStepIsTheClassicStep(_ name: String) throws {
        let f = name.hasPrefix("step_") ? try Fixture(name, directory: Self.dir) : nil
        // The ResNet's inputs, A then B.
        let images = TensorBuffer(capacity: 2 * 2 * 3 * 32 * 32)
        RandomStream(seed: 4, stream: 0).fillNormal(UnsafeMutableBufferPointer(start: images.base, count: images.capacity),
                                                    mean: 0, std: 0.5, start: 0)
        func run(streamed: Bool, lambdaL1: Float? = nil) throws -> (Pix2PixModel, [Losses]) {
            let G: Network, D: Network, realA: Tensor, realB: Tensor, model: Pix2PixModel
            if let f {
                let gSpec = try Self.generatorSpec(f)
                G = try Network(gSpec, random: RandomStream(seed: 1, stream: 0))
                D = try Network(try Self.discriminatorSpec(f, inputChannels: gSpec.inputChannels + gSpec.outputChannels),
                                random: RandomStream(seed: 1, stream: 1))
                try G.loadStateDict(from: f.file, prefix: "G.", allowExtra: true)
                try D.loadStateDict(from: f.file, prefix: "D.", allowExtra: true)
                (realA, realB) = (try f.tensor("real_A"), try f.tensor("real_B"))
                model = Pix2PixModel(G: G, D: D, ganMode: GANMode(rawValue: f.file.metadata["gan_mode"]!)!,
                                     lambdaL1: try lambdaL1 ?? f.float("lambda_L1"), learningRate: try f.float("lr"),
                                     beta1: try f.float("beta1"), beta2: try f.float("beta2"))
            } else {
                G = try Network(NetworkSpec(architecture: name, inputChannels: 3, outputChannels: 3, width: 8),
                                random: RandomStream(seed: 2, stream: 0))
                D = try Network(NetworkSpec(architecture: "basic", inputChannels: 6, width: 8), random: RandomStream(seed: 2, stream: 1))
                G.initialize(.normal, gain: 0.02, random: RandomStream(seed: 3, stream: 0))
                D.initialize(.normal, gain: 0.02, random: RandomStream(seed: 3, stream: 1))
                let shape = Shape(2, 3, 32, 32)
                (realA, realB) = (Tensor(shape: shape, data: images.base), Tensor(shape: shape, data: images.base + shape.count))
                model = Pix2PixModel(G: G, D: D, lambdaL1: lambdaL1 ?? 100)
            }
            model.streamsGeneratorUpdate = streamed
            var losses: [Losses] = []
            for step in 0..<3 {
                G.setFirstSample(UInt64(step))
                losses.append(try model.step(realA: realA, realB: realB))
            }
            return (model, losses)
        }
        let (classic, classicLosses) = try run(streamed: false)
        let (streamed, streamedLosses) = try run(streamed: true)
        #expect(streamedLosses == classicLosses)
        for (a, b, net) in [(classic.G, streamed.G, "G"), (classic.D, streamed.D, "D")] {
            #expect(Array(b.arena.values) == Array(a.arena.values), "\(name) \(net) weights")
            #expect(Array(b.arena.bufferValues) == Array(a.arena.bufferValues), "\(name) \(net) statistics")
        }
        for (a, b, net) in [(classic.optimizerG, streamed.optimizerG, "G"), (classic.optimizerD, streamed.optimizerD, "D")] {
            #expect(Array(b.exp_avg) == Array(a.exp_avg) && Array(b.exp_avg_sq) == Array(a.exp_avg_sq), "\(name) \(net) moments")
            #expect(b.step == a.step)
        }
        #expect(streamed.G.arena.gradientWindow == nil)
        #expect(streamed.G.arena.grads.allSatisfy { $0 == 0 }, "\(name): G's gradient buffer untouched")

        // λ = ∞ makes every gradient of G infinite or NaN and none of D's: both steps stop on G.
        for mode in [false, true] {
            #expect(throws: NonFiniteGradient.self) { _ = try run(streamed: mode, lambdaL1: .infinity) }
            do { _ = try run(streamed: mode, lambdaL1: .infinity) } catch let e as NonFiniteGradient {
                #expect(e.network == "G", "streamed \(mode)")
            }
        }
    }
}
