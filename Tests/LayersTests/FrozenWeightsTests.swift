import Testing
import Tensor
import Layers
import TestSupport

/// `weightsFrozen` (translate, test): the kept U and Wᵀ give the forward pass of unfrozen
/// weights, on every call and input size, and clearing the flag brings changed weights back.
@Suite struct FrozenWeightsTests {
    /// The kinds of forward pass whose derived weights are kept: Winograd on a stride-1 and
    /// a stride-2 Conv2d and on a ConvTranspose2d, and unfolded layers, whose kernels are cut
    /// to the live taps on the tiny inputs (`ConvGeometry.liveTaps`).
    static let layers: [(String, Conv2d.Algorithm)] = [
        ("conv3x3", .winograd), ("conv4x4s2", .winograd), ("convT", .winograd), ("convT", .unfold),
        ("conv3x3", .unfold), ("conv4x4s2", .unfold),
    ]

    static func make(_ kind: String, _ algorithm: Conv2d.Algorithm) -> (any Convolution, ParameterArena) {
        let arena = ParameterArena()
        var layer: any Convolution
        switch kind {
        case "conv3x3": layer = Conv2d(8, 32, kernelSize: 3, padding: 1, name: "c", arena: arena)
        case "conv4x4s2": layer = Conv2d(8, 32, kernelSize: 4, stride: 2, padding: 1, name: "c", arena: arena)
        default: layer = ConvTranspose2d(8, 32, kernelSize: 4, stride: 2, padding: 1, name: "c", arena: arena)
        }
        arena.finalize()
        let count = arena.parameterCount
        arena.values.baseAddress!.update(from: randomValues(count, seed: 11, scale: 0.1), count: count)
        layer.algorithm = algorithm
        return (layer, arena)
    }

    @Test(arguments: layers)
    func frozenForwardEqualsUnfrozen(_ kind: String, _ algorithm: Conv2d.Algorithm) {
        let (layer, arena) = Self.make(kind, algorithm)
        // The tiny input is read by some taps only: the centre one of 3×3 on 1×1, taps 1–2
        // of 4×4 stride 2 on 2×2 (→ 1×1) and, transposed, on 1×1 (→ 2×2).
        let tiny = kind == "conv4x4s2" ? Shape(1, 8, 2, 2) : Shape(1, 8, 1, 1)
        let shapes = [Shape(1, 8, 12, 12), Shape(2, 8, 9, 7), tiny, Shape(1, 8, 12, 12), tiny]
        let inputs = shapes.enumerated().map { randomTensor($1, seed: UInt64(20 + $0)) }
        let expected = zip(shapes, inputs).map { layer.forward($1.view($0)).array }
        layer.weightsFrozen = true
        for (k, (s, x)) in zip(shapes, inputs).enumerated() {
            // Twice each: the first call derives the weights, the second reuses them.
            for _ in 0..<2 { expectClose(layer.forward(x.view(s)).array, expected[k], atol: 1e-6, rtol: 1e-5, "\(kind) \(s)") }
        }
        // Unfrozen, new weights are used again.
        layer.weightsFrozen = false
        let count = arena.parameterCount
        arena.values.baseAddress!.update(from: randomValues(count, seed: 12, scale: 0.1), count: count)
        let changed = layer.forward(inputs[0].view(shapes[0])).array
        #expect(changed != expected[0])
        layer.weightsFrozen = true
        expectClose(layer.forward(inputs[0].view(shapes[0])).array, changed, atol: 1e-6, rtol: 1e-5, "\(kind) refrozen")
    }
}
