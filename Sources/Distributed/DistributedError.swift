/// Errors from the `Distributed` module.
///
/// Every case renders as one line (or, for a handshake mismatch, one table) that a CLI can
/// print as is; `Communicator.runOrAbort` prefixes it with the rank label.
public enum DistributedError: Error, CustomStringConvertible, Sendable {
    /// An MPI call returned an error code.
    case mpi(call: String, code: Int32, message: String)
    /// Slurm started several tasks, but each one came up as a 1-rank MPI world.
    case slurmSingleton(tasks: Int)
    /// The ranks' run fingerprints differ; `table` names each rank and the differing fields.
    case handshakeMismatch(table: String)
    /// A fingerprint from another rank could not be decoded.
    case handshakeUndecodable(rank: Int)
    /// A gradient buffer does not match the size the synchroniser was built for.
    case sizeMismatch(expected: Int, actual: Int)
    /// An operation was used in the wrong order (e.g. `finish()` without `begin()`).
    case misuse(String)

    public var description: String {
        switch self {
        case let .mpi(call, code, message):
            return "\(call) failed with MPI error \(code): \(message)"
        case let .slurmSingleton(tasks):
            return "Slurm started \(tasks) tasks but MPI sees 1 rank: launch with "
                + "`srun --mpi=pmix` (or mpirun inside the allocation)"
        case let .handshakeMismatch(table):
            return "ranks disagree on the run fingerprint:\n" + table
        case let .handshakeUndecodable(rank):
            return "the fingerprint from rank \(rank) could not be decoded (different program version?)"
        case let .sizeMismatch(expected, actual):
            return "gradient buffer has \(actual) elements, synchroniser was built for \(expected)"
        case let .misuse(what):
            return what
        }
    }
}
