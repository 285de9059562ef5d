import Testing
import Tensor
import Layers
import TestSupport

/// Every layer against PyTorch fixtures (Fixtures/make_layer_fixtures.py): outputs, input
/// gradients, parameter gradients and running statistics, element by element.
@Suite struct PyTorchParityTests {
    static let dir = fixtureDirectory()

    /// `rowByRow`: the column blocks shrunk to one row each (at full size these shapes fit in
    /// one block), so the blocked unfold/fold and GEMMs are compared with PyTorch too.
    /// The `_wide` stride-1 cases run Winograd (many channels, many tiles).
    @Test(arguments: ["conv_k4s2p1_bias", "conv_k4s1p1_nobias", "conv_k3s1p1_bias", "conv_k1s1p0_bias",
                      "conv_k7s1p0_bias", "conv_k3s2p1_nobias", "conv_k4s2p1_tiny",
                      "conv_k4s1p1_out1", "conv_k4s2p1_out2",
                      "conv_k4s1p1_wide", "conv_k3s1p1_wide", "conv_k3s1p0_wide", "conv_k4s2p1_wide",
                      "convt_k4s2p1_bias", "convt_k4s2p1_nobias", "convt_k3s2p1op1_bias", "convt_k4s2p1_1x1",
                      "convt_k4s2p1_wide"], [false, true])
    func convolution(_ name: String, rowByRow: Bool) throws {
        try Self.compare(name) { conv in
            if rowByRow { (conv.maxColumnFloats, conv.minColumnsPerBlock) = (1, 1) }
        }
    }

    /// Each algorithm on the shapes the automatic choice gives to the other one: Winograd on
    /// few channels or few tiles (tiles overhanging the output, odd sizes, a 1×1 input),
    /// for stride-1, stride-2 and transposed layers; unfolding on many.
    static let algorithmCases: [(String, Conv2d.Algorithm)] = [
        ("conv_k4s1p1_nobias", .winograd), ("conv_k3s1p1_bias", .winograd),
        ("conv_k4s2p1_bias", .winograd), ("conv_k4s2p1_tiny", .winograd), ("conv_k4s2p1_wide", .winograd),
        ("convt_k4s2p1_bias", .winograd), ("convt_k4s2p1_nobias", .winograd),
        ("convt_k4s2p1_1x1", .winograd), ("convt_k4s2p1_wide", .winograd),
        ("conv_k4s1p1_wide", .unfold), ("conv_k3s1p1_wide", .unfold), ("conv_k3s1p0_wide", .unfold),
    ]

    /// `rowByRow` also takes one row block, or one sample of Winograd products, at a time.
    @Test(arguments: algorithmCases.flatMap { c in [(c.0, c.1, false), (c.0, c.1, true)] })
    func convolutionAlgorithm(_ name: String, algorithm: Conv2d.Algorithm, rowByRow: Bool) throws {
        try Self.compare(name, expectWinograd: algorithm == .winograd) { conv in
            conv.algorithm = algorithm
            if rowByRow { (conv.maxColumnFloats, conv.minColumnsPerBlock) = (1, 1) }
        }
    }

    /// A convolution built from fixture `name`, set up by `configure`, against PyTorch's y, dx,
    /// dW and db. Winograd's transforms round differently from a direct sum: its results are
    /// held to 10⁻⁵ of each tensor's largest magnitude (measured: at most 4·10⁻⁶, F(4×4, 4×4)'s output).
    static func compare(_ name: String, expectWinograd: Bool? = nil, configure: (Convolution) -> Void) throws {
        let f = try Fixture(name, directory: Self.dir)
        let arena = ParameterArena()
        let (c, o, k) = (try f.int("in_channels"), try f.int("out_channels"), try f.int("kernel_size"))
        let (s, p, b) = (try f.int("stride"), try f.int("padding"), try f.bool("bias"))
        let conv: Convolution = f.file.metadata["layer"] == "ConvTranspose2d"
            ? ConvTranspose2d(c, o, kernelSize: k, stride: s, padding: p, outputPadding: try f.int("output_padding"),
                              bias: b, name: "", arena: arena)
            : Conv2d(c, o, kernelSize: k, stride: s, padding: p, bias: b, name: "", arena: arena)
        arena.finalize()
        configure(conv)
        try f.load("weight", into: conv.weight)
        if let bias = conv.bias { try f.load("bias", into: bias) }
        let x = try f.tensor("x")
        let winograd = conv.usesWinograd(for: x.shape)
        if let expectWinograd { #expect(winograd == expectWinograd, "\(name): Winograd \(winograd)") }
        func check(_ actual: [Float], _ key: String) throws {
            let expected = try f.floats(key)
            let atol = winograd ? 1e-5 * Double(expected.map(abs).max() ?? 0) : 1e-5
            expectClose(actual, expected, atol: atol, "\(name) \(key)")
        }
        let y = conv.forward(x)
        #expect(y.shape == (try f.shape("y")))
        try check(y.array, "y")
        let dy = try f.tensor("dy")
        try check(conv.inputGradient(dy).array, "dx")
        conv.accumulateParameterGradients(dy)
        try check(Array(conv.weight.grads), "dweight")
        if let bias = conv.bias { try check(Array(bias.grads), "dbias") }
    }

    /// A BatchNorm2d with the fixture's parameters, running statistics and mode.
    static func batchNorm(_ f: Fixture, _ arena: ParameterArena) throws -> BatchNorm2d {
        let bn = BatchNorm2d(try f.int("in_channels"), eps: try f.float("eps"),
                             momentum: try f.float("momentum"), name: "", arena: arena)
        arena.finalize()
        for (key, e) in [("weight", bn.weight), ("bias", bn.bias), ("running_mean", bn.runningMean),
                         ("running_var", bn.runningVar)] { try f.load(key, into: e) }
        bn.isTraining = try f.bool("training")
        return bn
    }

    @Test(arguments: ["bn_train", "bn_train_small", "bn_eval"])
    func batchNorm2d(_ name: String) throws {
        let f = try Fixture(name, directory: Self.dir)
        let arena = ParameterArena()
        let bn = try Self.batchNorm(f, arena)
        let y = bn.forward(try f.tensor("x"))
        expectClose(y, try f.floats("y"), "\(name) y")
        let dx = bn.backward(try f.tensor("dy"))
        expectClose(dx, try f.floats("dx"), "\(name) dx")
        expectClose(Array(bn.weight.grads), try f.floats("dweight"), "\(name) dweight")
        expectClose(Array(bn.bias.grads), try f.floats("dbias"), "\(name) dbias")
        expectClose(Array(bn.runningMean.values), try f.floats("running_mean_after"), "\(name) running_mean")
        expectClose(Array(bn.runningVar.values), try f.floats("running_var_after"), "\(name) running_var")
        #expect([bn.numBatchesTracked] == (try f.file.int64s("num_batches_tracked_after")))
    }

    @Test(arguments: ["in_train", "in_single"])
    func instanceNorm2d(_ name: String) throws {
        let f = try Fixture(name, directory: Self.dir)
        let norm = InstanceNorm2d(try f.int("in_channels"), eps: try f.float("eps"))
        let y = norm.forward(try f.tensor("x"))
        expectClose(y, try f.floats("y"), "\(name) y")
        let dx = norm.backward(try f.tensor("dy"))
        expectClose(dx, try f.floats("dx"), "\(name) dx")
    }

    @Test(arguments: ["leakyrelu", "relu", "tanh", "sigmoid", "reflpad3", "reflpad1", "dropout"])
    func elementwise(_ name: String) throws {
        let f = try Fixture(name, directory: Self.dir)
        let x = try f.tensor("x"), dy = try f.tensor("dy")
        // Compares while the layer (owner of y and dx) is alive.
        func check<L: AnyObject>(_ l: L, _ forward: (L) -> Tensor, _ backward: (L) -> Tensor) throws {
            try withExtendedLifetime(l) {
                let y = forward(l), dx = backward(l)
                #expect(y.shape == (try f.shape("y")))
                expectClose(y, try f.floats("y"), "\(name) y")
                expectClose(dx, try f.floats("dx"), "\(name) dx")
            }
        }
        switch name {
        case "leakyrelu":
            try check(LeakyReLU(negativeSlope: try f.float("negative_slope")), { $0.forward(x) }, { $0.backward(dy) })
        case "relu": try check(ReLU(), { $0.forward(x) }, { $0.backward(dy) })
        case "tanh": try check(Tanh(), { $0.forward(x) }, { $0.backward(dy) })
        case "sigmoid": try check(Sigmoid(), { $0.forward(x) }, { $0.backward(dy) })
        case "dropout":
            let mask = try f.tensor("mask")
            try check(Dropout(p: try f.float("p"), random: RandomStream(seed: 0, stream: 0)),
                      { $0.forward(x, mask: mask) }, { $0.backward(dy) })
        default: try check(ReflectionPad2d(try f.int("pad")), { $0.forward(x) }, { $0.backward(dy) })
        }
    }

    /// PT's `inplace=True` activations and our in-place backward passes: the same numbers as
    /// PyTorch, written over the caller's x (forward) and dy (backward) instead of new storage.
    @Test(arguments: ["leakyrelu", "relu", "tanh", "bn_train", "bn_eval", "in_train"])
    func inPlace(_ name: String) throws {
        let f = try Fixture(name, directory: Self.dir)
        let x = try f.tensor("x"), dy = try f.tensor("dy")
        let arena = ParameterArena()
        var forward: (Tensor) -> Tensor, backward: (Tensor) -> Tensor
        var forwardInPlace = true
        switch name {
        case "leakyrelu":
            let l = LeakyReLU(negativeSlope: try f.float("negative_slope"), inPlace: true)
            (forward, backward) = (l.forward, l.backward)
        case "relu":
            let l = ReLU(inPlace: true)
            (forward, backward) = (l.forward, l.backward)
        case "tanh":
            let l = Tanh(inPlaceBackward: true)
            (forward, backward, forwardInPlace) = (l.forward, l.backward, false)
        case "in_train":
            let l = InstanceNorm2d(try f.int("in_channels"), eps: try f.float("eps"))
            l.inPlaceBackward = true
            (forward, backward, forwardInPlace) = (l.forward, l.backward, false)
        default:
            let bn = try Self.batchNorm(f, arena)
            bn.inPlaceBackward = true
            (forward, backward, forwardInPlace) = ({ bn.forward($0) }, { bn.backward($0) }, false)
        }
        let y = forward(x)
        #expect((y.data == x.data) == forwardInPlace, "\(name): forward in place")
        expectClose(y, try f.floats("y"), "\(name) y")
        let dx = backward(dy)
        #expect(dx.data == dy.data, "\(name): backward in place")
        expectClose(dx, try f.floats("dx"), "\(name) dx")
    }

    @Test func concat() throws {
        let f = try Fixture("concat", directory: Self.dir)
        let cat = Concat()
        let y = cat.forward(try f.tensor("a"), try f.tensor("b"))
        expectClose(y, try f.floats("y"), "concat y")
        let (da, db) = cat.backward(try f.tensor("dy"))
        expectClose(da, try f.floats("da"), "concat da")
        expectClose(db, try f.floats("db"), "concat db")
    }

    @Test(arguments: ["bce_logits_ones", "bce_logits_zeros", "bce_logits_soft", "mse", "mse_ones", "l1"])
    func loss(_ name: String) throws {
        let f = try Fixture(name, directory: Self.dir)
        let loss: MeanLoss = name.hasPrefix("bce") ? BCEWithLogitsLoss() : name.hasPrefix("mse") ? MSELoss() : L1Loss()
        let x = try f.tensor("input"), t = try f.tensor("target")
        let value = loss.forward(x, target: .tensor(t))
        expectClose([value], try f.floats("loss"), "\(name) loss")
        expectClose(loss.backward(), try f.floats("dinput"), "\(name) dinput")
        // A constant target (the GAN labels) gives the same as the equivalent tensor.
        let targets = try f.floats("target")
        if let first = targets.first, targets.allSatisfy({ $0 == first }) {
            let v2 = loss.forward(x, target: .value(first))
            #expect(v2 == value)
        }
    }

    /// Adam against PyTorch; clearing the gradients as it reads them changes no bit of the
    /// update and leaves them zero.
    @Test(arguments: ["adam", "adam_pix2pix"], [false, true])
    func adam(_ name: String, clearing: Bool) throws {
        let f = try Fixture(name, directory: Self.dir)
        let p0 = try f.floats("param0")
        let arena = ParameterArena()
        let p = arena.parameter("p", shape: [p0.count])
        arena.finalize()
        _ = p.values.update(fromContentsOf: p0)
        let adam = Adam(arena: arena, learningRate: try f.float("lr"), beta1: try f.float("beta1"),
                        beta2: try f.float("beta2"), eps: try f.float("eps"))
        for step in 1...(try f.int("steps")) {
            _ = p.grads.update(fromContentsOf: try f.floats("grad\(step)"))
            arena.gradientsAreZero = false
            adam.update(clearingGradients: clearing)
            expectClose(Array(p.values), try f.floats("param\(step)"), atol: 1e-6, rtol: 1e-5, "\(name) param\(step)")
            #expect(arena.gradientsAreZero == clearing)
            #expect(p.grads.allSatisfy { $0 == 0 } == clearing, "gradients cleared: \(clearing)")
        }
        expectClose(Array(adam.exp_avg), try f.floats("exp_avg3"), atol: 1e-6, rtol: 1e-5, "\(name) exp_avg")
        expectClose(Array(adam.exp_avg_sq), try f.floats("exp_avg_sq3"), atol: 1e-7, rtol: 1e-5, "\(name) exp_avg_sq")
    }

    /// The update reports a NaN or an infinity among the gradients it read, wherever it lies
    /// (in a vector, in a slot's tail, in any thread's slots), and only there: large finite
    /// gradients, and non-finite ones outside the range it updates, pass.
    @Test func adamReportsNonFiniteGradients() {
        let count = 1_000_003  // 64 slots of 15 626: every slot has a tail past its vectors
        let arena = ParameterArena()
        let p = arena.parameter("p", shape: [count])
        arena.finalize()
        let adam = Adam(arena: arena)
        func update(_ bad: [(Int, Float)], range: Range<Int>? = nil) -> Bool {
            for i in 0..<count { p.grads[i] = Float(i % 13) - 6 }
            p.grads[17] = 3e38
            for (i, v) in bad { p.grads[i] = v }
            return adam.update(range)
        }
        #expect(update([]))
        for (i, v) in [(0, Float.nan), (31, .infinity), (15_625, -.infinity), (15_626 * 40 + 7, .nan),
                       (count - 1, .infinity), (count - 2, .nan)] {
            #expect(!update([(i, v)]), "gradient \(i) = \(v)")
        }
        #expect(update([(count - 1, .nan)], range: 0..<count - 1))
        #expect(!update([(5, .nan)], range: 3..<10))
    }
}
