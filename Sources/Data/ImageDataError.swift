// The one error type of ImageData: which file (or directory) and what was wrong with it.

/// An input problem found while reading images or building a dataset. Never a trap: a
/// corrupt, truncated, oversized or unreadable file throws this, with its path.
///
/// `description` is one line, `"<path>: <problem>"`, ready for the CLI to print.
public struct ImageDataError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file or directory at fault, as bytes turned into text for display.
    public let path: String
    /// One line saying what is wrong, e.g. `"truncated JPEG (premature end of data)"`.
    public let problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public init(path: ImagePath, problem: String) {
        self.init(path: path.description, problem: problem)
    }

    public var description: String { "\(path): \(problem)" }
}
