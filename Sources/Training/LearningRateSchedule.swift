import Foundation

/// PT's `get_scheduler(optimizer, opt)`: the learning rate for each epoch.
///
/// PT steps its scheduler at the start of every epoch, so epoch e (counting from
/// epoch_count) trains with the rule evaluated at k = e − epoch_count + 1 scheduler steps:
/// - linear: lr·(1 − max(0, k + epoch_count − n_epochs) / (n_epochs_decay + 1))
/// - step: lr·0.1^⌊k / lr_decay_iters⌋
/// - cosine: lr·(1 + cos(π·k / n_epochs)) / 2 (eta_min 0)
/// - plateau: ReduceLROnPlateau(mode min, factor 0.2, threshold 0.01 relative, patience 5)
///   on the metric passed to `endEpoch(metric:)` (PT's pix2pix passes 0; we pass the
///   validation L1 when there is one).
public struct LearningRateSchedule: Equatable, Sendable, Codable {
    public let policy: String
    public let base: Double
    public let nEpochs: Int
    public let nEpochsDecay: Int
    public let epochCount: Int
    public let decayIters: Int
    // ReduceLROnPlateau state.
    public private(set) var plateauScale: Double = 1
    public private(set) var best: Double = .infinity
    public private(set) var badEpochs = 0

    public init(options: Options) {
        policy = options.lr_policy
        base = Double(options.lr)
        nEpochs = options.n_epochs
        nEpochsDecay = options.n_epochs_decay
        epochCount = options.epoch_count
        decayIters = options.lr_decay_iters
    }

    /// The learning rate used throughout `epoch`.
    public func rate(epoch: Int) -> Float {
        let k = Double(epoch - epochCount + 1)
        switch policy {
        case "linear":
            return Float(base * (1 - max(0, k + Double(epochCount) - Double(nEpochs)) / Double(nEpochsDecay + 1)))
        case "step":
            return Float(base * pow(0.1, (k / Double(decayIters)).rounded(.down)))
        case "cosine":
            return Float(base * (1 + cos(Double.pi * k / Double(max(nEpochs, 1)))) / 2)
        default:
            return Float(base * plateauScale)
        }
    }

    /// Takes the plateau rule's state from a saved schedule; the rest comes from the
    /// (possibly extended) options of the resumed run.
    public mutating func restorePlateau(from saved: LearningRateSchedule) {
        plateauScale = saved.plateauScale
        best = saved.best
        badEpochs = saved.badEpochs
    }

    /// Feeds the epoch's metric to the plateau rule.
    public mutating func endEpoch(metric: Double) {
        guard policy == "plateau" else { return }
        if metric < best * (1 - 0.01) {
            best = metric
            badEpochs = 0
        } else {
            badEpochs += 1
        }
        if badEpochs > 5 {
            plateauScale *= 0.2
            badEpochs = 0
        }
    }
}
