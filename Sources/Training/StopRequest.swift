import Foundation
import Synchronization

/// A request to stop at the next step boundary, set by SIGTERM or SIGUSR1 (Slurm's
/// preemption and time-limit warnings). The handlers run on a dispatch queue, not in signal
/// context; the trainer polls `isSet` once a step and all ranks agree before acting.
public final class StopRequest: @unchecked Sendable {
    // @unchecked: `flag` is atomic; `sources` is only touched by install(), once, on the
    // main thread before training starts.
    private let flag = Atomic<Bool>(false)
    private var sources: [DispatchSourceSignal] = []

    public init() {}

    public var isSet: Bool { flag.load(ordering: .acquiring) }
    public func set() { flag.store(true, ordering: .releasing) }

    /// Routes `signals` here instead of their default action (terminating the process).
    public func install(signals: [Int32] = [SIGTERM, SIGUSR1]) {
        for s in signals {
            signal(s, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
            source.setEventHandler { [weak self] in self?.set() }
            source.resume()
            sources.append(source)
        }
    }
}

/// How a training run ended.
public enum TrainingOutcome: Equatable, Sendable {
    /// All epochs (or the requested steps) done.
    case finished
    /// Stopped on SIGTERM/SIGUSR1 after writing a checkpoint; the process exits with
    /// `preemptedExitCode` so a batch script can requeue the job (`--resume auto` continues).
    case preempted(step: Int)

    public static let preemptedExitCode: Int32 = 99
}
