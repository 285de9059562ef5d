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
    public private(set) var exp_avg: UnsafeMutableBufferPointer<Float>
    public private(set) var exp_avg_sq: UnsafeMutableBufferPointer<Float>
    private var ownsMoments = true

    public init(arena: ParameterArena, learningRate: Float = 2e-4, beta1: Float = 0.5,
                beta2: Float = 0.999, eps: Float = 1e-8) {
        precondition(arena.isFinalized, "Adam needs a finalized arena")
        self.arena = arena
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        exp_avg = ZeroPages.allocate(arena.parameterCount)
        exp_avg_sq = ZeroPages.allocate(arena.parameterCount)
    }

    deinit {
        guard ownsMoments else { return }
        ZeroPages.deallocate(exp_avg)
        ZeroPages.deallocate(exp_avg_sq)
    }

    /// Moves both moments into storage the caller owns and keeps alive as long as the
    /// optimiser (the shared-memory window of a sharded step); this rank copies the current
    /// moments of `copying` over (its own slice: see `ParameterArena.useValueStorage`).
    public func useMomentStorage(expAvg: UnsafeMutableBufferPointer<Float>,
                                 expAvgSq: UnsafeMutableBufferPointer<Float>, copying range: Range<Int>) {
        precondition(expAvg.count == exp_avg.count && expAvgSq.count == exp_avg_sq.count,
                     "moment storage of the wrong size")
        let o = range.lowerBound
        (expAvg.baseAddress! + o).update(from: exp_avg.baseAddress! + o, count: range.count)
        (expAvgSq.baseAddress! + o).update(from: exp_avg_sq.baseAddress! + o, count: range.count)
        if ownsMoments { ZeroPages.deallocate(exp_avg); ZeroPages.deallocate(exp_avg_sq) }
        (exp_avg, exp_avg_sq) = (expAvg, expAvgSq)
        ownsMoments = false
    }

    /// One update of the parameters in `range` (all of them by default) from their gradients.
    /// A sharded step gives every rank of a node its own range of one shared arena; the step
    /// count advances once per call either way. With `clearingGradients` the gradients read
    /// are set to zero in the same pass (the next step's `zeroGrad` then has nothing to do:
    /// one write where the lines are in cache instead of a 218 MB memset for unet_256).
    ///
    /// Returns whether every gradient it read was finite, found in the same pass (g − g is 0
    /// for a finite g and NaN otherwise). The update has happened either way: a caller that
    /// must keep the parameters when a gradient is not finite checks before it calls.
    @discardableResult
    public func update(_ range: Range<Int>? = nil, clearingGradients: Bool = false) -> Bool {
        step += 1
        let range = range ?? 0..<arena.parameterCount
        let finite = updatePart(range, clearingGradients: clearingGradients)
        if clearingGradients && range == 0..<arena.parameterCount { arena.gradientsAreZero = true }
        return finite
    }

    /// Starts a step whose update comes in parts (`updatePart`).
    public func beginStep() { step += 1 }

    /// The current step's update of `range` alone, from the arena's gradients where they are
    /// now (`ParameterArena.gradientOrigin`: a streamed window holds them while G's backward
    /// updates each layer as it finishes). Returns whether its gradients were finite.
    public func updatePart(_ range: Range<Int>, clearingGradients: Bool) -> Bool {
        let t = Double(step)
        let bc1 = 1 - pow(Double(beta1), t)
        let bc2 = 1 - pow(Double(beta2), t)
        let stepSize = Float(Double(learningRate) / bc1)
        let bc2Sqrt = Float(bc2.squareRoot())
        // torch.lerp's two-sided formula, so m matches bit for bit: weight w below 0.5 uses
        // m + w·(g − m), otherwise g − (g − m)·(1 − w). Hoisted so the loops vectorise.
        let w = 1 - beta1
        precondition(range.lowerBound >= 0 && range.upperBound <= arena.parameterCount, "Adam range outside the arena")
        if let window = arena.gradientWindow {
            precondition(range.lowerBound >= window.end - window.buffer.count && range.upperBound <= window.end,
                         "Adam range outside the streamed gradient window")
        }
        let o = range.lowerBound, slots = AdamUpdate.slots
        // At least 64 Ki parameters a thread, as for any chunked loop.
        let perSlot = max(1, (range.count + slots - 1) / slots)
        parallelChunks(slots, minimumChunk: (65536 + perSlot - 1) / perSlot, AdamUpdate(
            p: arena.values.baseAddress! + o, g: arena.gradientOrigin + o,
            m: exp_avg.baseAddress! + o, v: exp_avg_sq.baseAddress! + o, count: range.count,
            w: w, lowWeight: abs(w) < 0.5, b2: beta2, stepSize: stepSize, bc2Sqrt: bc2Sqrt, eps: eps,
            clear: clearingGradients, checks: checks.base))
        var check: Float = 0
        for slot in 0..<slots { check += checks.base[slot] }
        return !check.isNaN
    }

    /// `AdamUpdate`'s finiteness checks, one per slot.
    private let checks = TensorBuffer(capacity: AdamUpdate.slots)
}

/// The update over one range of the arena, in `slots` contiguous slots (a thread takes a run
/// of them): slot k also writes Σ (g − g) over its gradients to `checks[k]`.
private struct AdamUpdate: ChunkTask {
    static let slots = 64
    let p: UnsafeMutablePointer<Float>, g: UnsafeMutablePointer<Float>
    let m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>
    let count: Int
    let w: Float, lowWeight: Bool, b2: Float, stepSize: Float, bc2Sqrt: Float, eps: Float
    let clear: Bool
    let checks: UnsafeMutablePointer<Float>

    func run(_ slots: Range<Int>) {
        let per = (count + Self.slots - 1) / Self.slots
        for slot in slots {
            let lo = min(count, slot * per)
            checks[slot] = run(lo..<min(count, lo + per))
        }
    }

    /// The update of `range`; returns Σ (g − g) over it.
    private func run(_ range: Range<Int>) -> Float {
        let w1 = 1 - w, c2 = 1 - b2, e = eps
        // 16 lanes at a time (explicit SIMD: the four arrays could alias as far as the
        // compiler knows, so it would not vectorise the scalar loop), then the tail.
        typealias V = SIMD16<Float>
        let lanes = V.scalarCount
        var i = range.lowerBound
        let vw = V(repeating: w), vw1 = V(repeating: w1), vb2 = V(repeating: b2), vc2 = V(repeating: c2)
        let vStep = V(repeating: stepSize), vBc2 = V(repeating: bc2Sqrt), ve = V(repeating: e)
        var check = V()
        while i + lanes <= range.upperBound {
            let gi = UnsafeRawPointer(g + i).loadUnaligned(as: V.self)
            check += gi - gi
            if clear { UnsafeMutableRawPointer(g + i).storeBytes(of: V(), as: V.self) }
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
        var tail: Float = 0
        while i < range.upperBound {
            let gi = g[i]
            tail += gi - gi
            if clear { g[i] = 0 }
            m[i] = lowWeight ? m[i] + w * (gi - m[i]) : gi - (gi - m[i]) * w1
            v[i] = v[i] * b2 + c2 * gi * gi
            p[i] -= stepSize * (m[i] / (v[i].squareRoot() / bc2Sqrt + e))
            i += 1
        }
        return check.sum() + tail
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
