// Background decoding and augmentation, a bounded number of batches ahead of training.
import Foundation

/// The samples of one training step, in the order the caller wants them.
public struct BatchRequest: Sendable, Equatable {
    /// Epoch, for the augmentation draws.
    public var epoch: Int
    /// Dataset indices; `indices.count` must not exceed the prefetcher's `batchSize`.
    public var indices: [Int]

    public init(epoch: Int, indices: [Int]) {
        self.epoch = epoch
        self.indices = indices
    }
}

/// One step's inputs and targets as planar Float tensors in [-1, 1].
///
/// The buffers belong to the prefetcher's pool and are reused: a batch returned by
/// `Prefetcher.next()` stays valid until the following `next()` (or `close()`).
public final class Batch: @unchecked Sendable {
    // @unchecked: a Batch is handed between the worker that fills it and the consumer under
    // the prefetcher's lock, and only one of them touches it at a time.

    /// Position of this batch in the request list.
    public internal(set) var step = 0
    /// Number of samples filled (≤ capacity).
    public internal(set) var count = 0
    /// (N, inputChannels, height, width) — PT's `real_A`.
    public let a: UnsafeMutablePointer<Float>
    /// (N, outputChannels, height, width) — PT's `real_B`.
    public let b: UnsafeMutablePointer<Float>
    public let channelsA: Int
    public let channelsB: Int
    public let height: Int
    public let width: Int
    /// The A|B file of each sample.
    public internal(set) var paths: [ImagePath] = []
    /// Dataset index of each sample.
    public internal(set) var indices: [Int] = []
    let capacity: Int

    init(capacity: Int, channelsA: Int, channelsB: Int, height: Int, width: Int) {
        self.capacity = capacity
        self.channelsA = channelsA
        self.channelsB = channelsB
        self.height = height
        self.width = width
        a = .allocate(capacity: capacity * channelsA * height * width)
        b = .allocate(capacity: capacity * channelsB * height * width)
        a.initialize(repeating: 0, count: capacity * channelsA * height * width)
        b.initialize(repeating: 0, count: capacity * channelsB * height * width)
        paths.reserveCapacity(capacity)
        indices.reserveCapacity(capacity)
    }

    deinit {
        a.deallocate()
        b.deallocate()
    }
}

/// Decodes and augments batches on a small pool of threads, ahead of the training loop.
///
/// The caller gives the whole list of steps (which samples, in which order), so any sampler
/// (shuffled, distributed across ranks) plugs in. Workers claim steps in order, each with a
/// free buffer from a pool of `depth` batches, so at most `depth` batches are decoded ahead
/// and the float buffers are allocated once. `next()` returns the batches in request order;
/// an error in a worker (a corrupt file, a size mismatch) is thrown by `next()` for that
/// step, naming the file. Decoding itself allocates (file bytes, images) on the workers.
///
/// PT equivalent: `torch.utils.data.DataLoader(dataset, batch_size, num_workers)`.
public final class Prefetcher {
    let state: PrefetchState
    var current: Batch?

    /// Starts `threads` workers over `requests`.
    ///
    /// - Parameters:
    ///   - height, width: size of every sample after preprocessing (for crop modes,
    ///     `cropSize`); a sample of another size is an error naming its file.
    ///   - batchSize: largest `indices.count` of any request.
    ///   - depth: batches decoded ahead (pool size), at least 1.
    public init(dataset: AlignedDataset, requests: [BatchRequest], batchSize: Int,
                height: Int, width: Int, threads: Int = 2, depth: Int = 3) {
        precondition(batchSize > 0 && height > 0 && width > 0 && threads > 0 && depth > 0)
        for request in requests {
            precondition(request.indices.count <= batchSize, "request larger than batchSize")
            precondition(request.indices.allSatisfy { $0 >= 0 && $0 < dataset.count }, "index out of range")
        }
        let pool = (0..<depth).map { _ in
            Batch(capacity: batchSize, channelsA: dataset.options.inputChannels,
                  channelsB: dataset.options.outputChannels, height: height, width: width)
        }
        state = PrefetchState(dataset: dataset, requests: requests, pool: pool)
        for t in 0..<threads {
            let state = self.state
            let thread = Thread { state.work() }
            thread.name = "pix2pix-prefetch-\(t)"
            state.started()
            thread.start()
        }
    }

    /// Number of requested steps.
    public var stepCount: Int { state.requests.count }

    /// The next batch in request order, waiting only if the workers are behind; nil after
    /// the last step. The previous batch's buffers go back to the pool. Throws the error of
    /// a failed step (the prefetcher goes on with the next step at the following call).
    public func next() throws -> Batch? {
        if let done = current {
            state.recycle(done)
            current = nil
        }
        let batch = try state.take()
        current = batch
        return batch
    }

    /// Stops the workers and waits for them to finish their current sample; `next()` then
    /// returns nil.
    public func close() {
        if let done = current {
            state.recycle(done)
            current = nil
        }
        state.stop()
    }

    deinit { state.stop() }
}

/// The state the workers and the consumer share; every field is guarded by `condition`.
final class PrefetchState: @unchecked Sendable {
    // @unchecked: all mutable fields are read and written only while holding `condition`
    // (an NSCondition); `dataset` and `requests` are immutable.
    let dataset: AlignedDataset
    let requests: [BatchRequest]
    let condition = NSCondition()
    var free: [Batch]
    var ready: [Int: Result<Batch, ImageDataError>] = [:]
    var nextToClaim = 0
    var nextToDeliver = 0
    var stopped = false
    var running = 0

    init(dataset: AlignedDataset, requests: [BatchRequest], pool: [Batch]) {
        self.dataset = dataset
        self.requests = requests
        free = pool
    }

    func started() {
        condition.lock(); running += 1; condition.unlock()
    }

    func work() {
        while true {
            condition.lock()
            while !stopped && nextToClaim < requests.count && free.isEmpty { condition.wait() }
            if stopped || nextToClaim >= requests.count {
                running -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            let step = nextToClaim
            nextToClaim += 1
            let batch = free.removeLast()
            condition.unlock()

            let result = fill(batch, step: step)

            condition.lock()
            if case .failure = result { free.append(batch) }
            ready[step] = result
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Decodes the samples of `step` into `batch` (outside the lock).
    func fill(_ batch: Batch, step: Int) -> Result<Batch, ImageDataError> {
        let request = requests[step]
        batch.step = step
        batch.count = 0
        batch.paths.removeAll(keepingCapacity: true)
        batch.indices.removeAll(keepingCapacity: true)
        let planeA = batch.channelsA * batch.height * batch.width
        let planeB = batch.channelsB * batch.height * batch.width
        for (n, index) in request.indices.enumerated() {
            let sample: AlignedSample
            do {
                sample = try dataset.sample(at: index, epoch: request.epoch)
            } catch let error as ImageDataError {
                return .failure(error)
            } catch {
                return .failure(ImageDataError(path: dataset.files[index], problem: "\(error)"))
            }
            if sample.a.width != batch.width || sample.a.height != batch.height
                || sample.b.width != batch.width || sample.b.height != batch.height {
                return .failure(ImageDataError(path: sample.path, problem: "sample is \(sample.a.width)x\(sample.a.height) after preprocessing; the batch expects \(batch.width)x\(batch.height)"))
            }
            sample.a.writeNormalized(to: batch.a + n * planeA)
            sample.b.writeNormalized(to: batch.b + n * planeB)
            batch.paths.append(sample.path)
            batch.indices.append(index)
            batch.count = n + 1
        }
        return .success(batch)
    }

    func take() throws -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        if stopped || nextToDeliver >= requests.count { return nil }
        while ready[nextToDeliver] == nil {
            if stopped { return nil }
            condition.wait()
        }
        let result = ready.removeValue(forKey: nextToDeliver)!
        nextToDeliver += 1
        return try result.get()
    }

    func recycle(_ batch: Batch) {
        condition.lock()
        free.append(batch)
        condition.broadcast()
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }
}
