import Testing
import Tensor
import Layers
import TestSupport

/// Layers that split their work across threads give bit-identical results on one thread:
/// each thread owns whole channels, so no sum changes order.
@Suite(.serialized) struct ThreadingTests {
    static func mismatches(_ a: [Float], _ b: [Float]) -> Int {
        a.count == b.count ? zip(a, b).filter { $0 != $1 }.count : max(a.count, b.count)
    }

    @Test func batchNormIsThreadCountInvariant() {
        let s = Shape(2, 8, 64, 32)      // 4096 elements a channel: split across 2 threads
        let x = randomTensor(s, seed: 1), dy = randomTensor(s, seed: 2)
        func layer() -> [Float] {
            let arena = ParameterArena()
            let bn = BatchNorm2d(8, name: "bn", arena: arena)
            arena.finalize()
            bn.reset()
            let y = bn.forward(x.view(s)).array
            return y + bn.backward(dy.view(s)).array + Array(arena.grads) + Array(arena.bufferValues)
        }
        #expect(Self.mismatches(withComputeThreads(1, layer), withComputeThreads(2, layer)) == 0)
    }

    @Test func im2colAndCol2imAreThreadCountInvariant() {
        let g = ConvGeometry(channels: 8, height: 64, width: 64, kernel: 4, stride: 2, padding: 1)
        let x = randomTensor(Shape(1, 8, 64, 64), seed: 3)
        func unfoldFold() -> [Float] {
            let cols = TensorBuffer(capacity: g.colRows * g.colCols), back = TensorBuffer(capacity: 8 * 64 * 64)
            im2col(x.base, g, cols.base)
            col2im(cols.base, g, back.base)
            return Array(UnsafeBufferPointer(start: cols.base, count: g.colRows * g.colCols))
                + Array(UnsafeBufferPointer(start: back.base, count: 8 * 64 * 64))
        }
        #expect(Self.mismatches(withComputeThreads(1, unfoldFold), withComputeThreads(2, unfoldFold)) == 0)
    }
}
