// A one-line progress display for interactive runs.
import Foundation
import Tensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Redraws one line on a terminal with `\r`: epoch, step / steps of the epoch, images/s,
/// ETA and the latest losses. When standard output is not a terminal (a log file, mpirun
/// collecting output, CI) it prints nothing: the trainer's periodic plain lines are the log.
///
/// Redraws at most every `interval` seconds. Before printing anything else on standard
/// output, call `finish()` (ends the line) or `clear()` (erases it). Use from one thread.
public final class ProgressLine {
    /// Whether this line draws at all (standard output is a terminal).
    public let isEnabled: Bool
    /// The least time between redraws, in seconds.
    public let interval: Double
    private var lastDraw = -Double.infinity
    private var drawnWidth = 0
    /// Time and global step of the first update, for the ETA.
    private var start: (time: Double, step: Int)?

    /// - Parameter enabled: nil: draw when standard output is a terminal (`isatty(1)`).
    public init(interval: Double = 0.2, enabled: Bool? = nil) {
        self.interval = interval
        isEnabled = enabled ?? (isatty(STDOUT_FILENO) != 0)
    }

    /// Redraws the line (if enabled, and `interval` has passed since the last redraw or the
    /// epoch is complete). The ETA is the remaining global steps at the mean pace since the
    /// first `update`.
    ///
    /// - Parameters:
    ///   - step: steps done in this epoch, of `stepsInEpoch`.
    ///   - globalStep: steps done in the whole run, of `totalSteps`.
    ///   - imagesPerSecond: global throughput (all ranks).
    ///   - losses: (name, value) in display order, e.g. `[("G_GAN", 0.9), ("G_L1", 31.4)]`.
    public func update(epoch: Int, step: Int, stepsInEpoch: Int, globalStep: Int, totalSteps: Int,
                       imagesPerSecond: Double, losses: [(String, Float)]) {
        guard isEnabled else { return }
        let now = monotonicSeconds()
        if start == nil { start = (now, globalStep) }
        guard now - lastDraw >= interval || step == stepsInEpoch else { return }
        lastDraw = now
        var eta: Double?
        if let start, globalStep > start.step {
            eta = (now - start.time) / Double(globalStep - start.step) * Double(max(0, totalSteps - globalStep))
        }
        draw(Self.text(epoch: epoch, step: step, stepsInEpoch: stepsInEpoch, imagesPerSecond: imagesPerSecond,
                       etaSeconds: eta, losses: losses))
    }

    /// Ends the line with a newline, leaving the last state visible.
    public func finish() {
        guard isEnabled, drawnWidth > 0 else { return }
        emit("\n")
        drawnWidth = 0
    }

    /// Erases the line, so that a plain log line can be printed in its place.
    public func clear() {
        guard isEnabled, drawnWidth > 0 else { return }
        emit("\r" + String(repeating: " ", count: drawnWidth) + "\r")
        drawnWidth = 0
    }

    /// The line's text, e.g.
    /// `epoch 3 [ 120/350]  34.2 img/s  ETA 1:02:03  G_GAN 0.912 G_L1 31.400`.
    public static func text(epoch: Int, step: Int, stepsInEpoch: Int, imagesPerSecond: Double,
                            etaSeconds: Double?, losses: [(String, Float)]) -> String {
        let width = String(stepsInEpoch).count
        func pad(_ n: Int) -> String {
            let s = String(n)
            return String(repeating: " ", count: max(0, width - s.count)) + s
        }
        var line = "epoch \(epoch) [\(pad(step))/\(stepsInEpoch)]  \(String(format: "%.1f", imagesPerSecond)) img/s"
        if let etaSeconds { line += "  ETA \(duration(etaSeconds))" }
        if !losses.isEmpty {
            line += "  " + losses.map { "\($0.0) \(String(format: "%.3f", $0.1))" }.joined(separator: " ")
        }
        return line
    }

    /// `h:mm:ss`, or `m:ss` under an hour.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let t = Int(seconds.rounded())
        let h = t / 3600, m = t / 60 % 60, s = t % 60
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, s) : String(format: "%d:%02d", m, s)
    }

    private func draw(_ text: String) {
        // Pad over a longer previous line; no terminal control sequences beyond \r.
        let n = text.count
        emit("\r" + text + String(repeating: " ", count: max(0, drawnWidth - n)))
        drawnWidth = n
    }

    private func emit(_ s: String) {
        FileHandle.standardOutput.write(Data(s.utf8))
    }
}
