import Tensor

/// The global sample order: one permutation of the dataset per epoch from (seed, epoch),
/// cut into global batches of batch_size × world size; each rank takes its slice.
///
/// Global step k of an epoch covers positions [k·B·R, (k+1)·B·R) of the permutation; rank r
/// takes [k·B·R + r·B, k·B·R + (r+1)·B). No sample appears twice in an epoch, and which
/// samples a step trains on does not depend on the world size, only on B·R. A last
/// incomplete global batch is dropped so that every rank does the same number of steps.
public struct Sampler: Sendable {
    public let count: Int
    public let batchSize: Int
    public let worldSize: Int
    public let seed: UInt64
    /// PT's `serial_batches`: the files in order, no shuffle.
    public let serial: Bool

    public init(count: Int, batchSize: Int, worldSize: Int = 1, seed: UInt64, serial: Bool = false) {
        self.count = count
        self.batchSize = batchSize
        self.worldSize = worldSize
        self.seed = seed
        self.serial = serial
    }

    public var globalBatch: Int { batchSize * worldSize }
    /// Steps per epoch.
    public var stepsPerEpoch: Int { count / globalBatch }

    /// The epoch's permutation (Fisher–Yates driven by a counter-based stream).
    public func permutation(epoch: Int) -> [Int] {
        var p = Array(0..<count)
        if serial { return p }
        let r = RandomStream(seed: seed, stream: 0x5045_524D).derived("epoch \(epoch)")
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = Int(UInt64(r.bits(UInt64(i))) % UInt64(i + 1))
            p.swapAt(i, j)
        }
        return p
    }

    /// The dataset indices rank `rank` trains on at `step` of an epoch with this permutation.
    public func indices(_ permutation: [Int], step: Int, rank: Int) -> [Int] {
        let start = step * globalBatch + rank * batchSize
        return Array(permutation[start..<(start + batchSize)])
    }
}
