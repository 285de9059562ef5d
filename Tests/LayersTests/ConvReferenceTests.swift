import Testing
import Tensor
import Layers
import TestSupport

/// The GEMM convolutions against direct nested-loop convolutions (kept here, in the test
/// target, as the readable definition).
@Suite struct ConvReferenceTests {
    /// y[n, o, i, j] = b[o] + Σ_{c, kh, kw} w[o, c, kh, kw] · x[n, c, i·S − P + kh, j·S − P + kw]
    static func directConv(_ x: [Float], _ s: Shape, _ w: [Float], _ b: [Float]?, oc: Int, k: Int,
                           stride: Int, pad: Int) -> ([Float], Shape) {
        let oh = (s.h + 2 * pad - k) / stride + 1, ow = (s.w + 2 * pad - k) / stride + 1
        var y = [Float](repeating: 0, count: s.n * oc * oh * ow)
        for n in 0..<s.n { for o in 0..<oc { for i in 0..<oh { for j in 0..<ow {
            var acc = Double(b?[o] ?? 0)
            for c in 0..<s.c { for kh in 0..<k { for kw in 0..<k {
                let ih = i * stride - pad + kh, iw = j * stride - pad + kw
                guard ih >= 0, ih < s.h, iw >= 0, iw < s.w else { continue }
                acc += Double(w[((o * s.c + c) * k + kh) * k + kw]) * Double(x[((n * s.c + c) * s.h + ih) * s.w + iw])
            } } }
            y[((n * oc + o) * oh + i) * ow + j] = Float(acc)
        } } } }
        return (y, Shape(s.n, oc, oh, ow))
    }

    /// Scatter form: y[n, o, i·S − P + kh, j·S − P + kw] += w[c, o, kh, kw] · x[n, c, i, j]
    static func directConvTranspose(_ x: [Float], _ s: Shape, _ w: [Float], _ b: [Float]?, oc: Int,
                                    k: Int, stride: Int, pad: Int, outPad: Int) -> ([Float], Shape) {
        let oh = (s.h - 1) * stride - 2 * pad + k + outPad, ow = (s.w - 1) * stride - 2 * pad + k + outPad
        var y = [Double](repeating: 0, count: s.n * oc * oh * ow)
        for n in 0..<s.n { for c in 0..<s.c { for i in 0..<s.h { for j in 0..<s.w {
            let v = Double(x[((n * s.c + c) * s.h + i) * s.w + j])
            for o in 0..<oc { for kh in 0..<k { for kw in 0..<k {
                let yi = i * stride - pad + kh, yj = j * stride - pad + kw
                guard yi >= 0, yi < oh, yj >= 0, yj < ow else { continue }
                y[((n * oc + o) * oh + yi) * ow + yj] += v * Double(w[((c * oc + o) * k + kh) * k + kw])
            } } }
        } } } }
        if let b { for n in 0..<s.n { for o in 0..<oc { for p in 0..<(oh * ow) { y[(n * oc + o) * oh * ow + p] += Double(b[o]) } } } }
        return (y.map(Float.init), Shape(s.n, oc, oh, ow))
    }

    @Test(arguments: [(4, 2, 1), (3, 1, 1), (1, 1, 0), (7, 1, 0), (3, 2, 1), (4, 1, 1)])
    func conv2dForward(_ k: Int, _ stride: Int, _ pad: Int) {
        let s = Shape(2, 5, 11, 9)
        let arena = ParameterArena()
        let conv = Conv2d(5, 6, kernelSize: k, stride: stride, padding: pad, name: "", arena: arena)
        arena.finalize()
        _ = conv.weight.values.update(fromContentsOf: randomValues(conv.weight.count, seed: 1, scale: 0.2))
        _ = conv.bias!.values.update(fromContentsOf: randomValues(6, seed: 2))
        let x = randomTensor(s, seed: 3)
        let y = conv.forward(x.view(s))
        let (ref, rs) = Self.directConv(x.view(s).array, s, Array(conv.weight.values), Array(conv.bias!.values),
                                        oc: 6, k: k, stride: stride, pad: pad)
        #expect(y.shape == rs)
        expectClose(y, ref, "conv k\(k) s\(stride) p\(pad)")
    }

    @Test(arguments: [(4, 2, 1, 0), (3, 2, 1, 1), (4, 1, 1, 0), (3, 1, 0, 0)])
    func convTranspose2dForward(_ k: Int, _ stride: Int, _ pad: Int, _ outPad: Int) {
        let s = Shape(2, 5, 4, 7)
        let arena = ParameterArena()
        let conv = ConvTranspose2d(5, 3, kernelSize: k, stride: stride, padding: pad, outputPadding: outPad,
                                   name: "", arena: arena)
        arena.finalize()
        _ = conv.weight.values.update(fromContentsOf: randomValues(conv.weight.count, seed: 4, scale: 0.2))
        _ = conv.bias!.values.update(fromContentsOf: randomValues(3, seed: 5))
        let x = randomTensor(s, seed: 6)
        let y = conv.forward(x.view(s))
        let (ref, rs) = Self.directConvTranspose(x.view(s).array, s, Array(conv.weight.values),
                                                 Array(conv.bias!.values), oc: 3, k: k, stride: stride,
                                                 pad: pad, outPad: outPad)
        #expect(y.shape == rs)
        expectClose(y, ref, "convT k\(k) s\(stride) p\(pad) op\(outPad)")
    }

    /// ConvTranspose2d is the adjoint of Conv2d with the same weight: ⟨conv(x), z⟩ = ⟨x, convT(z)⟩.
    @Test func transposeIsAdjointOfConv() {
        let arena = ParameterArena()
        let conv = Conv2d(4, 6, kernelSize: 4, stride: 2, padding: 1, bias: false, name: "c", arena: arena)
        let convT = ConvTranspose2d(6, 4, kernelSize: 4, stride: 2, padding: 1, bias: false, name: "t", arena: arena)
        arena.finalize()
        // Conv weight (6, 4, 4, 4) read as ConvTranspose weight (C_in = 6, C_out = 4, 4, 4).
        let w = randomValues(conv.weight.count, seed: 7)
        _ = conv.weight.values.update(fromContentsOf: w)
        _ = convT.weight.values.update(fromContentsOf: w)
        let sx = Shape(1, 4, 8, 6)
        let x = randomTensor(sx, seed: 8)
        let y = conv.forward(x.view(sx))
        let z = randomTensor(y.shape, seed: 9)
        let xt = convT.forward(z.view(y.shape))
        #expect(xt.shape == sx)
        let lhs = zip(y.array, z.view(y.shape).array).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let rhs = zip(x.view(sx).array, xt.array).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(lhs - rhs) < 1e-4 * max(1, abs(lhs)))
    }

    /// The bias gradient sums each channel of dy over batch and pixels: on planes large enough
    /// that the channels go to several threads, equal to the float64 sum and the same bits on
    /// 1, 2 and 3 threads, added onto what the gradient held.
    @Test func biasGradientOnLargePlanes() {
        let arena = ParameterArena()
        let conv = Conv2d(3, 6, kernelSize: 1, stride: 1, padding: 0, bias: true, name: "c", arena: arena)
        arena.finalize()
        let xs = Shape(2, 3, 159, 161), ys = Shape(2, 6, 159, 161)
        let x = TensorBuffer(shape: xs, values: (0..<xs.count).map { Float($0 % 7) - 3 })
        let dyValues = (0..<ys.count).map { Float(($0 * 37) % 101) * 0.01 - 0.5 }
        let dy = TensorBuffer(shape: ys, values: dyValues)
        var expected = [Float](repeating: 0, count: 6)
        for o in 0..<6 {
            var sum = 0.0
            for n in 0..<2 { for p in 0..<(159 * 161) { sum += Double(dyValues[(n * 6 + o) * 159 * 161 + p]) } }
            expected[o] = Float(sum) + 0.25
        }
        var results: [[Float]] = []
        for threads in [1, 2, 3] {
            conv.bias!.grads.update(repeating: 0.25)
            withComputeThreads(threads) {
                _ = conv.forward(x.view(xs))
                _ = conv.backward(dy.view(ys), inputGradient: false, parameterGradients: true)
            }
            results.append(Array(conv.bias!.grads))
        }
        #expect(results[0] == results[1] && results[0] == results[2], "thread counts")
        expectClose(results[0], expected, atol: 1e-4, rtol: 1e-6, "bias gradient")
    }
}
