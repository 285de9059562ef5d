import Testing
import Tensor

@Suite struct ArenaTests {
    @Test func entriesAreViewsIntoOneAllocation() {
        let arena = ParameterArena()
        let w = arena.parameter("model.0.weight", shape: [4, 3, 2, 2])
        let rm = arena.buffer("model.1.running_mean", shape: [4])
        let b = arena.parameter("model.0.bias", shape: [4])
        arena.finalize()
        #expect(arena.parameterCount == 52)
        #expect(w.offset == 0 && b.offset == 48 && rm.offset == 0)
        #expect(b.value == arena.values.baseAddress! + 48)
        #expect(b.grad == arena.grads.baseAddress! + 48)
        #expect(rm.value == arena.bufferValues.baseAddress!)
        b.grads.update(repeating: 3)
        arena.zeroGrad()
        #expect(arena.grads.allSatisfy { $0 == 0 })
        #expect(arena.entry(named: "model.0.bias") === b)
        #expect(arena.trainable.map(\.name) == ["model.0.weight", "model.0.bias"])
    }

    @Test func tensorBufferGrowsOnlyWhenNeeded() {
        let t = TensorBuffer()
        let a = t.view(Shape(2, 3, 4, 5))
        let base = t.base
        let b = t.view(Shape(1, 3, 4, 5))
        #expect(t.base == base && a.data == b.data)
        _ = t.view(Shape(3, 3, 4, 5))
        #expect(t.capacity == 180)
    }
}
