import Tensor
import Layers

/// Seconds spent in each phase of the training steps so far (benchmarks, reports).
public struct PhaseTimes: Equatable, Sendable, Codable {
    public var generatorForward = 0.0
    /// D forward and backward: both halves of the D step and D's part of the G step.
    public var discriminator = 0.0
    public var generatorBackward = 0.0
    public var optimizer = 0.0
    /// Gradient averaging across ranks (`gradientsReady`).
    public var gradientSync = 0.0
    public var steps = 0
    public init() {}
}

/// A NaN or Inf in a network's averaged gradients (identical on every rank after
/// averaging, so every rank detects it together).
public struct NonFiniteGradient: Error, CustomStringConvertible {
    public let network: String
    public var description: String { "non-finite (NaN or Inf) gradient in \(network)" }
}

/// One timed phase of a step, for chrome://tracing timelines (`pix2pix bench --trace`).
public struct TraceSpan: Sendable {
    public let phase: String
    public let start: Double
    public let end: Double
}

/// PT's `--gan_mode`.
public enum GANMode: String, Sendable, CaseIterable, Codable {
    /// BCE with logits (the paper's loss).
    case vanilla
    /// Least squares (MSE against 1 / 0).
    case lsgan
    /// Wasserstein critic loss, as PT's pix2pix uses it (no gradient penalty).
    case wgangp

    func makeLoss() -> MeanLoss {
        switch self {
        case .vanilla: return BCEWithLogitsLoss()
        case .lsgan: return MSELoss()
        case .wgangp: return WassersteinLoss()
        }
    }
}

/// The four losses PT's pix2pix reports (`loss_G_L1` already multiplied by λ).
public struct Losses: Equatable, Sendable, Codable {
    public var D_fake: Float
    public var D_real: Float
    public var G_GAN: Float
    public var G_L1: Float
    public init(D_fake: Float = 0, D_real: Float = 0, G_GAN: Float = 0, G_L1: Float = 0) {
        self.D_fake = D_fake; self.D_real = D_real; self.G_GAN = G_GAN; self.G_L1 = G_L1
    }
}

/// PT's `Pix2PixModel.optimize_parameters`, one training step:
///
/// 1. fake_B = G(A)
/// 2. D step: L_D = ½·(GAN(D(A, fake_B) detached, fake) + GAN(D(A, B), real)); Adam on D.
/// 3. G step through the updated D: L_G = GAN(D(A, fake_B), real) + λ·L1(fake_B, B); Adam on G.
///
/// D's layers cache one forward at a time, so the fake and real halves of the D step each run
/// forward then backward; the gradients add up to PT's joint backward. In the G step D is
/// frozen: its input gradient is computed, its parameter gradients are not.
public final class Pix2PixModel {
    public let G: Network
    public let D: Network
    public let optimizerG: Adam
    public let optimizerD: Adam
    public let ganMode: GANMode
    public var lambdaL1: Float

    /// Called with a network's arena after its backward and before its optimiser step: the
    /// data-parallel trainer averages gradients across ranks here.
    public var gradientsReady: ((ParameterArena) throws -> Void)?
    /// Called with a network's arena before the backward after which its gradients are final
    /// (D: the real half of the D step; G: its only backward); `onGradientsFinal` of that
    /// network then reports the buckets as they complete, and `gradientsReady` ends it.
    public var gradientsWillFinish: ((ParameterArena) throws -> Void)?

    /// Sharded optimiser steps (set by the data-parallel trainer): for an arena whose values
    /// and Adam moments every rank of a node shares, the part this rank updates.
    public var optimizerShard: ((ParameterArena) -> OptimizerShard?)?

    /// What a non-finite gradient does: throw `NonFiniteGradient` (false) or skip that
    /// network's optimiser step and count it (true).
    public var skipNonFinite = false
    /// Optimiser steps skipped for non-finite gradients.
    public private(set) var skippedUpdates = 0

    /// Whether G's Adam step may run inside G's backward, layer by layer (`StreamedUpdate`):
    /// set by a trainer whose process trains alone. It applies only while there is nothing
    /// to wait for between backward and update: no optimiser shard, and a non-finite gradient
    /// stops the run (`skipNonFinite` false); the step is otherwise the classic one.
    public var streamsGeneratorUpdate = false
    private lazy var streamedG = StreamedUpdate(arena: G.arena, optimizer: optimizerG)
    private var streamingG: Bool {
        streamsGeneratorUpdate && !skipNonFinite && optimizerShard?(G.arena) == nil
    }

    /// Time per phase, accumulated over steps (reset by assigning `PhaseTimes()`).
    public var times = PhaseTimes()
    /// When non-nil, every phase of every step is appended (reserve capacity up front to
    /// keep the step free of allocations).
    public var trace: [TraceSpan]?

    /// G(A) of the last step (valid until the next forward of G): samples and reports.
    public internal(set) var fakeB: Tensor?

    let gan: MeanLoss
    let l1 = L1Loss()
    let fakePair = Concat()
    let realPair = Concat()
    let fakeGrad = TensorBuffer()
    /// exact_reduce: every sample's fake_B, and one fixed-point accumulator per network.
    let exactFakes = TensorBuffer()
    private var exactAccumulators: [ObjectIdentifier: FixedPointGradients] = [:]

    func exactSums(for net: Network) -> FixedPointGradients {
        if let a = exactAccumulators[ObjectIdentifier(net)] { return a }
        let a = FixedPointGradients(count: net.arena.parameterCount)
        exactAccumulators[ObjectIdentifier(net)] = a
        return a
    }
    private let partialSums = TensorBuffer(capacity: 16)

    public init(G: Network, D: Network, ganMode: GANMode = .vanilla, lambdaL1: Float = 100,
                learningRate: Float = 2e-4, beta1: Float = 0.5, beta2: Float = 0.999) {
        self.G = G
        self.D = D
        self.ganMode = ganMode
        self.lambdaL1 = lambdaL1
        gan = ganMode.makeLoss()
        optimizerG = Adam(arena: G.arena, learningRate: learningRate, beta1: beta1, beta2: beta2)
        optimizerD = Adam(arena: D.arena, learningRate: learningRate, beta1: beta1, beta2: beta2)
    }

    /// The G step's loss terms and dL/d fake_B: GAN(D(A, fake_B), real) through the frozen D
    /// (input gradient only) plus λ·L1(fake_B, B). `fakeAB` is cat(A, fake_B) from `fakePair`.
    func generatorLossGradient(fakeAB: Tensor, fake: Tensor, realB: Tensor) -> (gan: Float, l1: Float, gradient: Tensor) {
        let ganLoss = gan.forward(D.forward(fakeAB), target: .value(1))
        let dFakeAB = D.backward(gan.backward(), inputGradient: true, parameterGradients: false)!
        let dFromD = fakePair.backward(dFakeAB).1
        let l1Loss = lambdaL1 * l1.forward(fake, target: .tensor(realB))
        let dFromL1 = l1.backward(scale: lambdaL1)
        let dFake = fakeGrad.view(fake.shape)
        for i in 0..<dFake.count { dFake.data[i] = dFromD.data[i] + dFromL1.data[i] }
        return (ganLoss, l1Loss, dFake)
    }

    /// Whether `net`'s gradients in `range` are all finite (their sum is: NaN and Inf
    /// propagate).
    func finite(_ net: Network, _ range: Range<Int>) -> Bool {
        let g = net.arena.grads.baseAddress! + range.lowerBound
        let slots = 16, sums = partialSums.base
        parallelChunks(slots, minimumChunk: 1, SlotSums(values: g, count: range.count, slots: slots, sums: sums))
        var total: Float = 0
        for k in 0..<slots { total += sums[k] }
        return total.isFinite
    }

    /// Adam on `net` from its (averaged) gradients, unless one of them is not finite: then
    /// throws `NonFiniteGradient` or skips the update and counts it (`skipNonFinite`). With
    /// a shard, this rank checks and updates its part only, the ranks agree on the verdict,
    /// and the call returns once every rank's part is updated.
    ///
    /// Skipping checks every gradient before the update, which must then leave the network
    /// as it was. Throwing lets the update check the gradients as it reads them (one pass
    /// over 218 MB instead of two for unet_256): the parameters it leaves behind are never
    /// saved, as the run ends there and its last checkpoint is the last good one.
    func optimize(_ net: Network, _ optimizer: Adam, _ name: String) throws {
        let shard = optimizerShard?(net.arena)
        let range = shard?.range ?? 0..<net.arena.parameterCount
        // The update clears the gradients it reads when that leaves all of them zero: alone
        // with them (no shard), or when the exchange already cleared the other ranges.
        let clearing = shard?.clearedOutsideRange ?? true
        var ok: Bool
        if skipNonFinite {
            ok = finite(net, range)
            if let shard { ok = try shard.allFinite(ok) }
            if ok { optimizer.update(range, clearingGradients: clearing) } else { skippedUpdates += 1 }
        } else {
            ok = optimizer.update(range, clearingGradients: clearing)
            if let shard { ok = try shard.allFinite(ok) }
        }
        try shard?.updated()
        guard ok || skipNonFinite else { throw NonFiniteGradient(network: name) }
        if ok && clearing { net.arena.gradientsAreZero = true }
    }

    /// G's backward with its Adam step inside (`StreamedUpdate`); the time Adam took counts as
    /// the optimiser's. Throws `NonFiniteGradient` after the backward if a gradient was not
    /// finite (the parameters are then left half updated, and never saved).
    private func streamedGeneratorStep(_ dFake: Tensor, lap: (WritableKeyPath<PhaseTimes, Double>, StaticString) -> Void) throws {
        let listener = G.onGradientsFinal
        G.onGradientsFinal = streamedG.finished
        streamedG.begin()
        G.backward(dFake)
        let finite = streamedG.finish()
        G.onGradientsFinal = listener
        lap(\.generatorBackward, "G backward with Adam")
        times.generatorBackward -= streamedG.updateSeconds
        times.optimizer += streamedG.updateSeconds
        guard finite else { throw NonFiniteGradient(network: "G") }
    }

    /// fake_B = G(A) without training (PT's `test()` runs this under no_grad).
    public func translate(_ realA: Tensor) -> Tensor { G.forward(realA) }

    /// One optimisation step on a batch; A is (N, input_nc, H, W), B is (N, output_nc, H, W).
    /// Throws only what `gradientsReady` throws (a failed gradient exchange).
    @discardableResult
    public func step(realA: Tensor, realB: Tensor) throws -> Losses {
        var losses = Losses()
        var t = monotonicSeconds()
        func lap(_ phase: WritableKeyPath<PhaseTimes, Double>, _ name: StaticString) {
            let now = monotonicSeconds()
            times[keyPath: phase] += now - t
            if trace != nil { trace!.append(TraceSpan(phase: "\(name)", start: t, end: now)) }
            t = now
        }
        let fakeB = G.forward(realA)
        self.fakeB = fakeB
        lap(\.generatorForward, "G forward")

        // D step.
        D.arena.zeroGrad()
        let fakeAB = fakePair.forward(realA, fakeB)
        losses.D_fake = gan.forward(D.forward(fakeAB), target: .value(0))
        D.backward(gan.backward(scale: 0.5))
        let realAB = realPair.forward(realA, realB)
        // D's weights are still those of the forward on the fake pair.
        D.weightsAsInLastForward = true
        losses.D_real = gan.forward(D.forward(realAB), target: .value(1))
        D.weightsAsInLastForward = false
        try gradientsWillFinish?(D.arena)
        D.backward(gan.backward(scale: 0.5))
        lap(\.discriminator, "D forward+backward")
        try gradientsReady?(D.arena)
        lap(\.gradientSync, "gradient sync (wait + reduce)")
        try optimize(D, optimizerD, "D")
        lap(\.optimizer, "Adam")

        // G step through the updated, frozen D.
        let streaming = streamingG
        if !streaming { G.arena.zeroGrad() }
        let (ganLoss, l1Loss, dFake) = generatorLossGradient(fakeAB: fakeAB, fake: fakeB, realB: realB)
        losses.G_GAN = ganLoss
        losses.G_L1 = l1Loss
        lap(\.discriminator, "D forward+backward")
        if streaming {
            try streamedGeneratorStep(dFake, lap: lap)
            times.steps += 1
            return losses
        }
        try gradientsWillFinish?(G.arena)
        G.backward(dFake)
        lap(\.generatorBackward, "G backward")
        try gradientsReady?(G.arena)
        lap(\.gradientSync, "gradient sync (wait + reduce)")
        try optimize(G, optimizerG, "G")
        lap(\.optimizer, "Adam")
        times.steps += 1
        return losses
    }
}

/// One rank's part of an optimiser step shared by the ranks of a node (ZeRO stage 1 over
/// shared memory): the network's values and Adam moments are one copy in memory all of them
/// map, every rank updates its own range of it from the averaged gradients, and nobody reads
/// the values again before every rank has finished. `GradientSync` provides it.
public protocol OptimizerShard: AnyObject {
    /// The part of the arena this rank updates.
    var range: Range<Int> { get }
    /// Whether every rank found its part finite (every rank gets the same answer).
    func allFinite(_ mine: Bool) throws -> Bool
    /// Returns when every rank has finished its part.
    func updated() throws
    /// Whether the exchange left every gradient outside `range` at zero on every rank, so
    /// that an update clearing its own range leaves all of them zero (`GradientSync`).
    var clearedOutsideRange: Bool { get }
}

/// Sums of `values` in `slots` contiguous slots, one per index of the range.
private struct SlotSums: ChunkTask {
    let values: UnsafeMutablePointer<Float>, count: Int, slots: Int
    let sums: UnsafeMutablePointer<Float>

    func run(_ slotRange: Range<Int>) {
        let per = (count + slots - 1) / slots
        for slot in slotRange {
            let lo = min(count, slot * per), hi = min(count, lo + per)
            var acc = SIMD16<Float>()
            var i = lo
            while i + 16 <= hi {
                acc += UnsafeRawPointer(values + i).loadUnaligned(as: SIMD16<Float>.self)
                i += 16
            }
            var s = acc.sum()
            while i < hi { s += values[i]; i += 1 }
            sums[slot] = s
        }
    }
}
