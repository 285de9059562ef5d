import Testing
import Tensor
import Layers
import TestSupport

/// Central finite differences of L = Σ r·layer(x) against each layer's backward, for the
/// input and every parameter, on tiny awkward shapes (odd sizes, stride 2, batch > 1).
@Suite struct GradientCheckTests {
    /// Inputs bounded away from the kinks of piecewise-linear functions.
    static func awayFromZero(_ s: Shape, seed: UInt64) -> TensorBuffer {
        let v = randomValues(s.count, seed: seed).map { $0 >= 0 ? $0 + 0.1 : $0 - 0.1 }
        return TensorBuffer(shape: s, values: v)
    }

    static func randomize(_ arena: ParameterArena, seed: UInt64) {
        for (k, e) in arena.trainable.enumerated() {
            _ = e.values.update(fromContentsOf: randomValues(e.count, seed: seed + UInt64(k), scale: 0.3))
        }
    }

    /// Checks input and parameter gradients of a single-input layer.
    static func check(
        arena: ParameterArena?, input s: Shape, seed: UInt64 = 11, h: Float = 1e-2,
        forward: @escaping (Tensor) -> Tensor, backward: @escaping (Tensor) -> Tensor?
    ) {
        let xb = awayFromZero(s, seed: seed)
        let x = xb.view(s)
        if let arena { randomize(arena, seed: seed + 100); arena.zeroGrad() }
        let y0 = forward(x)
        let r = randomValues(y0.count, seed: seed + 1)
        let ry = TensorBuffer(shape: y0.shape, values: r)
        let dx = backward(ry.view(y0.shape))
        var targets: [GradientTarget] = []
        if let dx { targets.append(GradientTarget("x", xb.view(s).buffer, dx.array)) }
        for e in arena?.trainable ?? [] { targets.append(GradientTarget(e.name, e.values, Array(e.grads))) }
        gradientCheck(targets, h: h) { project(forward(x), r) }
        withExtendedLifetime((xb, ry)) {}
    }

    @Test(arguments: [(4, 2, 1, true), (3, 1, 1, false), (3, 2, 1, true), (1, 1, 0, true), (4, 2, 1, false)])
    func conv2d(_ k: Int, _ stride: Int, _ pad: Int, _ bias: Bool) {
        let arena = ParameterArena()
        let conv = Conv2d(3, 5, kernelSize: k, stride: stride, padding: pad, bias: bias, name: "c", arena: arena)
        arena.finalize()
        Self.check(arena: arena, input: Shape(2, 3, 7, 6), forward: conv.forward, backward: { conv.backward($0) })
    }

    /// Few output channels: the output-side unfolding (gather/scatter of taps).
    @Test(arguments: [(1, 1, true), (2, 1, false), (1, 2, true)])
    func conv2dUnfoldingOutput(_ outputs: Int, _ stride: Int, _ bias: Bool) {
        let arena = ParameterArena()
        let conv = Conv2d(32, outputs, kernelSize: 4, stride: stride, padding: 1, bias: bias, name: "c", arena: arena)
        arena.finalize()
        let input = Shape(2, 32, 5, 6)
        #expect(conv.unfoldsOutput(conv.geometry(for: input)))
        Self.check(arena: arena, input: input, forward: conv.forward, backward: { conv.backward($0) })
    }

    /// Winograd F(4×4, 4×4), F(4×4, 3×3) and, for stride 2, F(3×3, 2×2) over the input's
    /// phases, with tiles that overhang the output of odd size.
    @Test(arguments: [(4, 1, 1, true), (3, 1, 1, false), (3, 1, 0, true), (4, 2, 1, true), (4, 2, 1, false)])
    func conv2dWinograd(_ k: Int, _ stride: Int, _ pad: Int, _ bias: Bool) {
        let arena = ParameterArena()
        let conv = Conv2d(5, 4, kernelSize: k, stride: stride, padding: pad, bias: bias, name: "c", arena: arena)
        arena.finalize()
        conv.algorithm = .winograd
        let input = Shape(2, 5, 7, 6)
        #expect(conv.usesWinograd(for: input))
        Self.check(arena: arena, input: input, forward: conv.forward, backward: { conv.backward($0) })
    }

    /// Winograd F(3×3, 2×2) onto the output's phases.
    @Test(arguments: [true, false])
    func convTranspose2dWinograd(_ bias: Bool) {
        let arena = ParameterArena()
        let conv = ConvTranspose2d(4, 3, kernelSize: 4, stride: 2, padding: 1, bias: bias, name: "t", arena: arena)
        arena.finalize()
        conv.algorithm = .winograd
        let input = Shape(2, 4, 3, 5)
        #expect(conv.usesWinograd(for: input))
        Self.check(arena: arena, input: input, forward: conv.forward, backward: { conv.backward($0) })
    }

    @Test(arguments: [(4, 2, 1, 0, true), (3, 2, 1, 1, true), (4, 2, 1, 0, false), (3, 1, 1, 0, true)])
    func convTranspose2d(_ k: Int, _ stride: Int, _ pad: Int, _ outPad: Int, _ bias: Bool) {
        let arena = ParameterArena()
        let conv = ConvTranspose2d(4, 3, kernelSize: k, stride: stride, padding: pad, outputPadding: outPad,
                                   bias: bias, name: "t", arena: arena)
        arena.finalize()
        Self.check(arena: arena, input: Shape(2, 4, 3, 5), forward: conv.forward, backward: { conv.backward($0) })
    }

    @Test(arguments: [true, false])
    func batchNorm2d(_ training: Bool) {
        let arena = ParameterArena()
        let bn = BatchNorm2d(3, name: "bn", arena: arena)
        arena.finalize()
        bn.reset()
        _ = bn.runningMean.values.update(fromContentsOf: [0.1, -0.2, 0.3])
        _ = bn.runningVar.values.update(fromContentsOf: [0.5, 1.5, 2.0])
        bn.isTraining = training
        Self.check(arena: arena, input: Shape(2, 3, 3, 4), forward: bn.forward, backward: { bn.backward($0) })
    }

    @Test func instanceNorm2d() {
        let norm = InstanceNorm2d(3)
        Self.check(arena: nil, input: Shape(2, 3, 4, 5), forward: norm.forward, backward: norm.backward)
    }

    @Test func activations() {
        let s = Shape(2, 3, 4, 5)
        let leaky = LeakyReLU(negativeSlope: 0.2), relu = ReLU(), tanh = Tanh(), sigmoid = Sigmoid()
        Self.check(arena: nil, input: s, forward: leaky.forward, backward: leaky.backward)
        Self.check(arena: nil, input: s, forward: relu.forward, backward: relu.backward)
        Self.check(arena: nil, input: s, forward: tanh.forward, backward: tanh.backward)
        Self.check(arena: nil, input: s, forward: sigmoid.forward, backward: sigmoid.backward)
    }

    @Test func dropoutWithFixedMask() {
        let d = Dropout(p: 0.5, random: RandomStream(seed: 3, stream: 1))
        let s = Shape(2, 3, 4, 5)
        let maskValues = (0..<s.count).map { RandomStream(seed: 5, stream: 5).uniform(UInt64($0)) < 0.5 ? Float(0) : 2 }
        let mask = TensorBuffer(shape: s, values: maskValues)
        Self.check(arena: nil, input: s, forward: { d.forward($0, mask: mask.view(s)) }, backward: d.backward)
    }

    @Test(arguments: [1, 2, 3])
    func reflectionPad2d(_ p: Int) {
        let pad = ReflectionPad2d(p)
        Self.check(arena: nil, input: Shape(2, 2, 4, 5), forward: pad.forward, backward: pad.backward)
    }

    @Test func concat() {
        let cat = Concat()
        let sb = Shape(2, 2, 3, 4)
        let b = randomTensor(sb, seed: 21)
        var db: [Float] = []
        Self.check(arena: nil, input: Shape(2, 3, 3, 4), forward: { cat.forward($0, b.view(sb)) },
                   backward: { let (da, g) = cat.backward($0); db = g.array; return da })
        // The second input's gradient is the matching channel slice of r.
        let a = randomTensor(Shape(2, 3, 3, 4), seed: 22)   // kept alive: a view does not own its storage
        let y = cat.forward(a.view(Shape(2, 3, 3, 4)), b.view(sb))
        let r = randomValues(y.count, seed: 12)
        var expected: [Float] = []
        for n in 0..<2 { expected += r[(n * 5 * 12 + 3 * 12)..<(n * 5 * 12 + 5 * 12)] }
        #expect(db == expected)
        withExtendedLifetime((a, b)) {}
    }

    @Test(arguments: ["bce", "mse", "l1"])
    func losses(_ kind: String) {
        let s = Shape(2, 1, 3, 5)
        let loss: MeanLoss = kind == "bce" ? BCEWithLogitsLoss() : kind == "mse" ? MSELoss() : L1Loss()
        let xb = Self.awayFromZero(s, seed: 31)
        let target = TensorBuffer(shape: s, values: randomValues(s.count, seed: 32).map {
            kind == "bce" ? ($0 > 0 ? 1 : 0.3) : $0 + 3   // L1: targets far from inputs
        })
        for t in [LossTarget.tensor(target.view(s)), .value(kind == "l1" ? 5 : 1)] {
            _ = loss.forward(xb.view(s), target: t)
            let g = loss.backward(scale: 2.5).array
            gradientCheck([GradientTarget("input", xb.view(s).buffer, g)], h: 1e-2) {
                2.5 * Double(loss.forward(xb.view(s), target: t))
            }
        }
    }
}
