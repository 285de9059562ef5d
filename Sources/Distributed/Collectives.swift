import CMPI

/// A reduction for `Communicator.allreduce`.
public enum ReduceOperation: Sendable {
    case sum, max, min

    var mpi: MPI_Op {
        switch self {
        case .sum: return cmpi_sum()
        case .max: return cmpi_max()
        case .min: return cmpi_min()
        }
    }
}

/// How `Communicator.agree` combines the ranks' votes.
public enum AgreementRule: Sendable {
    /// True when at least one rank says true (e.g. "some rank hit a NaN: skip the step").
    case any
    /// True only when every rank says true (e.g. "every rank has another batch").
    case all
}

/// Collectives. Every rank must call the same ones in the same order; a single-process
/// communicator computes the 1-rank result without calling MPI. None of the buffer
/// variants allocates.
extension Communicator {
    /// MPI counts are `Int32`; larger buffers go in pieces of this many elements.
    static let maximumChunk = 1 << 30

    /// Sums `buffer` elementwise over all ranks, in place (MPI_Allreduce, MPI_IN_PLACE).
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try allreduce(buffer, op: .sum)
    }

    /// Reduces `buffer` elementwise over all ranks, in place.
    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Float>, op: ReduceOperation) throws {
        try allreduceRaw(buffer.baseAddress, count: buffer.count, type: cmpi_float(), op: op.mpi, comm: world)
    }

    /// Reduces a few `Double`s (loss scalars, timings) over all ranks, in place.
    public func allreduce(_ values: UnsafeMutableBufferPointer<Double>, op: ReduceOperation) throws {
        try allreduceRaw(values.baseAddress, count: values.count, type: cmpi_double(), op: op.mpi, comm: world)
    }

    /// Reduces `values` over all ranks and returns the result (allocates; for setup code).
    public func allreduce(_ values: [Double], op: ReduceOperation) throws -> [Double] {
        var copy = values
        try copy.withUnsafeMutableBufferPointer { try allreduce($0, op: op) }
        return copy
    }

    /// Reduces `Int64`s over all ranks, in place (the fixed-point sums of exact_reduce).
    public func allreduce(_ values: UnsafeMutableBufferPointer<Int64>, op: ReduceOperation) throws {
        try allreduceRaw(values.baseAddress, count: values.count, type: cmpi_int64_t(), op: op.mpi, comm: world)
    }

    /// Copies `buffer` from `root` to every rank.
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int = 0) throws {
        try broadcastRaw(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count,
                         type: cmpi_float(), root: root)
    }

    /// Copies raw bytes from `root` to every rank; every rank passes a buffer of the same size.
    public func broadcast(bytes: UnsafeMutableRawBufferPointer, root: Int = 0) throws {
        try broadcastRaw(bytes.baseAddress, count: bytes.count, type: cmpi_byte(), root: root)
    }

    /// Copies a byte string of any length from `root` to every rank (allocates).
    public func broadcast(_ bytes: [UInt8], root: Int = 0) throws -> [UInt8] {
        guard let world else { return bytes }
        var length = Int64(bytes.count)
        try Self.check(MPI_Bcast(&length, 1, cmpi_int64_t(), Int32(root), world), "MPI_Bcast")
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(length))
        try out.withUnsafeMutableBytes { try broadcast(bytes: $0, root: root) }
        return out
    }

    /// Gathers a short byte string from every rank; element `r` is rank `r`'s (allocates).
    public func allgather(_ bytes: [UInt8]) throws -> [[UInt8]] {
        guard let world else { return [bytes] }
        var myLength = Int32(bytes.count)
        var lengths = [Int32](repeating: 0, count: size)
        try Self.check(MPI_Allgather(&myLength, 1, cmpi_int(), &lengths, 1, cmpi_int(), world),
                       "MPI_Allgather")
        var offsets = [Int32](repeating: 0, count: size)
        for r in 1..<max(size, 1) where r < size { offsets[r] = offsets[r - 1] + lengths[r - 1] }
        let total = Int(lengths.reduce(0, +))
        var all = [UInt8](repeating: 0, count: max(total, 1))
        var mine = bytes.isEmpty ? [0] : bytes
        try Self.check(MPI_Allgatherv(&mine, myLength, cmpi_byte(), &all, &lengths, &offsets,
                                      cmpi_byte(), world), "MPI_Allgatherv")
        return (0..<size).map { r in
            Array(all[Int(offsets[r])..<Int(offsets[r] + lengths[r])])
        }
    }

    /// Gathers a short string from every rank; element `r` is rank `r`'s (allocates).
    public func allgather(_ string: String) throws -> [String] {
        try allgather(Array(string.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Combines a data-dependent decision so that every rank takes the same branch.
    public func agree(_ local: Bool, rule: AgreementRule) throws -> Bool {
        guard let world else { return local }
        var vote: Int32 = local ? 1 : 0
        try Self.check(MPI_Allreduce(cmpi_in_place(), &vote, 1, cmpi_int(),
                                     rule == .any ? cmpi_lor() : cmpi_land(), world), "MPI_Allreduce")
        return vote != 0
    }

    /// Waits until every rank has arrived.
    public func barrier() throws {
        guard let world else { return }
        try Self.check(MPI_Barrier(world), "MPI_Barrier")
    }

    // MARK: - Raw

    func allreduceRaw<T>(_ base: UnsafeMutablePointer<T>?, count: Int, type: MPI_Datatype?,
                         op: MPI_Op?, comm: MPI_Comm?) throws {
        guard let comm, let base, count > 0 else { return }
        var done = 0
        while done < count {
            let n = min(count - done, Self.maximumChunk)
            try Self.check(MPI_Allreduce(cmpi_in_place(), base + done, Int32(n), type, op, comm),
                           "MPI_Allreduce")
            done += n
        }
    }

    func broadcastRaw(_ base: UnsafeMutableRawPointer?, count: Int, type: MPI_Datatype?, root: Int) throws {
        guard let world, let base, count > 0 else { return }
        var extent: Int = 0, lower: Int = 0
        MPI_Type_get_extent(type, &lower, &extent)
        var done = 0
        while done < count {
            let n = min(count - done, Self.maximumChunk)
            try Self.check(MPI_Bcast(base + done * extent, Int32(n), type, Int32(root), world), "MPI_Bcast")
            done += n
        }
    }
}
