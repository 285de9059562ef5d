import Tensor

/// `torch.optim.Adam(params, lr, betas=(β1, β2), eps=1e-8, weight_decay=0)` over one
/// arena, one loop. Per element at step t (PyTorch's single-tensor CPU path):
///   m ← lerp(m, g, 1 − β1);  v ← β2·v + (1 − β2)·g²
///   p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + eps)
/// The bias corrections are computed in Double, as PyTorch does with Python floats.
public final class Adam {
    public let arena: ParameterArena
    /// Learning rate; schedules change it between steps.
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let eps: Float
    /// Steps taken (PyTorch's `state['step']`).
    public var step = 0
    /// First and second moments, laid out as `arena.values`.
    public let exp_avg: UnsafeMutableBufferPointer<Float>
    public let exp_avg_sq: UnsafeMutableBufferPointer<Float>

    public init(arena: ParameterArena, learningRate: Float = 2e-4, beta1: Float = 0.5,
                beta2: Float = 0.999, eps: Float = 1e-8) {
        precondition(arena.isFinalized, "Adam needs a finalized arena")
        self.arena = arena
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        exp_avg = .allocate(capacity: arena.parameterCount)
        exp_avg.initialize(repeating: 0)
        exp_avg_sq = .allocate(capacity: arena.parameterCount)
        exp_avg_sq.initialize(repeating: 0)
    }

    deinit {
        exp_avg.deallocate()
        exp_avg_sq.deallocate()
    }

    /// One update of every parameter from `arena.grads`.
    public func update() {
        step += 1
        let t = Double(step)
        let bc1 = 1 - pow(Double(beta1), t)
        let bc2 = 1 - pow(Double(beta2), t)
        let stepSize = Float(Double(learningRate) / bc1)
        let bc2Sqrt = Float(bc2.squareRoot())
        // torch.lerp's two-sided formula, so m matches bit for bit: weight w below 0.5 uses
        // m + w·(g − m), otherwise g − (g − m)·(1 − w). Hoisted so the loops vectorise.
        let w = 1 - beta1
        parallelChunks(arena.parameterCount, AdamUpdate(
            p: arena.values.baseAddress!, g: arena.grads.baseAddress!,
            m: exp_avg.baseAddress!, v: exp_avg_sq.baseAddress!,
            w: w, lowWeight: abs(w) < 0.5, b2: beta2, stepSize: stepSize, bc2Sqrt: bc2Sqrt, eps: eps))
    }
}

/// The update over one range of the arena.
private struct AdamUpdate: ChunkTask {
    let p: UnsafeMutablePointer<Float>, g: UnsafeMutablePointer<Float>
    let m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>
    let w: Float, lowWeight: Bool, b2: Float, stepSize: Float, bc2Sqrt: Float, eps: Float

    func run(_ range: Range<Int>) {
        let w1 = 1 - w, c2 = 1 - b2, e = eps
        // 16 lanes at a time (explicit SIMD: the four arrays could alias as far as the
        // compiler knows, so it would not vectorise the scalar loop), then the tail.
        typealias V = SIMD16<Float>
        let lanes = V.scalarCount
        var i = range.lowerBound
        let vw = V(repeating: w), vw1 = V(repeating: w1), vb2 = V(repeating: b2), vc2 = V(repeating: c2)
        let vStep = V(repeating: stepSize), vBc2 = V(repeating: bc2Sqrt), ve = V(repeating: e)
        while i + lanes <= range.upperBound {
            let gi = UnsafeRawPointer(g + i).loadUnaligned(as: V.self)
            var mi = UnsafeRawPointer(m + i).loadUnaligned(as: V.self)
            var vi = UnsafeRawPointer(v + i).loadUnaligned(as: V.self)
            var pi = UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
            mi = lowWeight ? mi + vw * (gi - mi) : gi - (gi - mi) * vw1
            vi = vi * vb2 + vc2 * gi * gi
            pi -= vStep * (mi / (vi.lanewiseSquareRoot() / vBc2 + ve))
            UnsafeMutableRawPointer(m + i).storeBytes(of: mi, as: V.self)
            UnsafeMutableRawPointer(v + i).storeBytes(of: vi, as: V.self)
            UnsafeMutableRawPointer(p + i).storeBytes(of: pi, as: V.self)
            i += lanes
        }
        while i < range.upperBound {
            let gi = g[i]
            m[i] = lowWeight ? m[i] + w * (gi - m[i]) : gi - (gi - m[i]) * w1
            v[i] = v[i] * b2 + c2 * gi * gi
            p[i] -= stepSize * (m[i] / (v[i].squareRoot() / bc2Sqrt + e))
            i += 1
        }
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
