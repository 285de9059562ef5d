import Foundation

/// Line-oriented output of one rank: every line carries `[rank r/R host]`; only the
/// coordinator (rank 0) prints progress, every rank prints errors.
public struct Log: Sendable {
    public let rank: Int
    public let worldSize: Int
    public let host: String

    public init(rank: Int = 0, worldSize: Int = 1, host: String = ProcessInfo.processInfo.hostName) {
        self.rank = rank
        self.worldSize = worldSize
        self.host = host
    }

    public var label: String { "[rank \(rank)/\(worldSize) \(host)]" }
    public var isCoordinator: Bool { rank == 0 }

    /// Prints on rank 0 only.
    public func info(_ message: String) {
        guard isCoordinator else { return }
        FileHandle.standardOutput.write(Data("\(label) \(message)\n".utf8))
    }

    /// Prints on rank 0 only, to standard error (so `--json` output stays clean).
    public func warning(_ message: String) {
        guard isCoordinator else { return }
        FileHandle.standardError.write(Data("\(label) warning: \(message)\n".utf8))
    }

    /// Prints on every rank, to standard error.
    public func error(_ message: String) {
        FileHandle.standardError.write(Data("\(label) error: \(message)\n".utf8))
    }
}
