/// One network's parameters, gradients and buffers, each in one contiguous allocation.
///
/// Layers register their tensors by PyTorch `state_dict` name while the network is being
/// built (`parameter(_:shape:)`, `buffer(_:shape:)`); `finalize()` then allocates the
/// arenas and every `Parameter` becomes a view into them. Zeroing gradients is one
/// `memset` a thread, the optimiser is one loop, gradient averaging is one reduction over `grads`,
/// and a checkpoint is a walk over `entries`.
///
/// Parameters are laid out in registration order. Networks register them in forward
/// order, so backward produces gradients from the end of the arena towards its start —
/// the order in which gradient buckets become ready.
public final class ParameterArena {
    /// A named tensor inside the arena. `value` and `grad` are valid after `finalize()`.
    public final class Entry {
        public let name: String
        /// PyTorch shape, e.g. [64, 3, 4, 4] for a conv weight.
        public let shape: [Int]
        public let count: Int
        /// True for trainable parameters; false for buffers (BatchNorm running statistics).
        public let isTrainable: Bool
        public fileprivate(set) var offset: Int = 0
        fileprivate unowned let arena: ParameterArena

        fileprivate init(name: String, shape: [Int], isTrainable: Bool, arena: ParameterArena) {
            self.name = name
            self.shape = shape
            self.count = shape.reduce(1, *)
            self.isTrainable = isTrainable
            self.arena = arena
        }

        /// The values (parameter or buffer).
        @inlinable public var value: UnsafeMutablePointer<Float> { base(false) + offset }
        /// The gradient; only for trainable parameters. While the arena streams its gradients
        /// (`streamGradients`), only an entry inside the window has one.
        @inlinable public var grad: UnsafeMutablePointer<Float> {
            precondition(isTrainable, "\(name) is a buffer and has no gradient")
            return base(true) + offset
        }
        public var values: UnsafeMutableBufferPointer<Float> { .init(start: value, count: count) }
        public var grads: UnsafeMutableBufferPointer<Float> { .init(start: grad, count: count) }

        @usableFromInline func base(_ gradient: Bool) -> UnsafeMutablePointer<Float> {
            precondition(arena.isFinalized, "arena used before finalize()")
            if gradient {
                if let w = arena.gradientWindow {
                    precondition(offset >= w.end - w.buffer.count && offset + count <= w.end,
                                 "\(name)'s gradient is outside the streamed window")
                }
                return arena.gradientOrigin
            }
            return isTrainable ? arena.values.baseAddress! : arena.bufferValues.baseAddress!
        }
    }

    public private(set) var entries: [Entry] = []
    public private(set) var isFinalized = false
    private var ownsGradients = true
    private var ownsValues = true
    /// All trainable values, contiguous.
    public private(set) var values = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    /// All gradients, same layout as `values`.
    public private(set) var grads = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    /// Non-trainable buffers (running statistics), contiguous.
    public private(set) var bufferValues = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)

    public init() {}

    deinit {
        if ownsValues { ZeroPages.deallocate(values) }
        if ownsGradients { ZeroPages.deallocate(grads) }
        ZeroPages.deallocate(bufferValues)
    }

    /// Registers a trainable parameter.
    public func parameter(_ name: String, shape: [Int]) -> Entry {
        register(name, shape: shape, trainable: true)
    }

    /// Registers a non-trainable buffer (e.g. `running_mean`).
    public func buffer(_ name: String, shape: [Int]) -> Entry {
        register(name, shape: shape, trainable: false)
    }

    private func register(_ name: String, shape: [Int], trainable: Bool) -> Entry {
        precondition(!isFinalized, "registering \(name) after finalize()")
        precondition(!entries.contains { $0.name == name }, "duplicate tensor name \(name)")
        let e = Entry(name: name, shape: shape, isTrainable: trainable, arena: self)
        entries.append(e)
        return e
    }

    /// Allocates the arenas (zero-filled) and fixes every entry's offset.
    public func finalize() {
        precondition(!isFinalized, "finalize() called twice")
        var p = 0, b = 0
        for e in entries {
            if e.isTrainable { e.offset = p; p += e.count } else { e.offset = b; b += e.count }
        }
        values = ZeroPages.allocate(p)
        grads = ZeroPages.allocate(p)
        bufferValues = ZeroPages.allocate(b)
        isFinalized = true
    }

    /// Moves the gradients into storage the caller owns and keeps alive as long as the arena
    /// (an MPI shared-memory window, so gradient averaging needs no copy). Entries see the
    /// new storage at once; the current values are copied over.
    public func useGradientStorage(_ storage: UnsafeMutableBufferPointer<Float>) {
        precondition(isFinalized && storage.count == grads.count, "gradient storage of the wrong size")
        guard storage.baseAddress != grads.baseAddress else { return }
        _ = storage.update(fromContentsOf: grads)
        if ownsGradients { ZeroPages.deallocate(grads) }
        grads = storage
        ownsGradients = false
    }

    /// Moves the trainable values into storage the caller owns and keeps alive as long as the
    /// arena: an MPI shared-memory window that every rank of a node maps and each updates a
    /// part of. This rank copies the current values of `copying` over (the ranks of a node
    /// copy one slice each, so each writes only the pages of its own; they must all finish
    /// before anyone reads).
    public func useValueStorage(_ storage: UnsafeMutableBufferPointer<Float>, copying range: Range<Int>) {
        precondition(isFinalized && storage.count == values.count, "value storage of the wrong size")
        guard storage.baseAddress != values.baseAddress else { return }
        (storage.baseAddress! + range.lowerBound).update(from: values.baseAddress! + range.lowerBound, count: range.count)
        if ownsValues { ZeroPages.deallocate(values) }
        values = storage
        ownsValues = false
    }

    /// Number of trainable scalars.
    public var parameterCount: Int { values.count }
    public var trainable: [Entry] { entries.filter(\.isTrainable) }
    public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// While set, the gradients at offsets [end − buffer.count, end) live in `buffer` instead
    /// of `grads`, and no others may be used (`streamGradients`).
    public private(set) var gradientWindow: (buffer: UnsafeMutableBufferPointer<Float>, end: Int)?

    /// Where gradient offsets count from: the start of `grads`, or while streaming, the
    /// address that puts offset `end` at the end of the window (outside of it, it points at
    /// nothing: only offsets inside the window may be added to it).
    public var gradientOrigin: UnsafeMutablePointer<Float> {
        guard let w = gradientWindow else { return grads.baseAddress! }
        return w.buffer.baseAddress! - (w.end - w.buffer.count)
    }

    /// Streams the gradients through `buffer`, a window that ends at offset `end` (moved by
    /// calling again, ended with `nil`): a backward that applies each layer's update as soon
    /// as its gradients are final (`Pix2PixModel`) needs only the largest layer's worth of
    /// gradient memory, reused while it is in cache, and never touches `grads`.
    public func streamGradients(through buffer: UnsafeMutableBufferPointer<Float>?, end: Int = 0) {
        precondition(buffer.map { end >= 0 && end <= parameterCount && $0.count > 0 } ?? true, "window past the arena")
        gradientWindow = buffer.map { ($0, end) }
    }

    /// Whether every gradient is known to be zero: set by whoever leaves them so (Adam's
    /// update clears them as it reads them), cleared by a backward pass that writes them.
    public var gradientsAreZero = false

    /// Sets every gradient to zero: one memset per compute thread, each over a contiguous
    /// part (unet_256's 218 MB: 21.6 ms a step on one thread here, 11.8 ms on two), or
    /// nothing when they are known to be zero already.
    public func zeroGrad() {
        guard !gradientsAreZero, let base = grads.baseAddress else { return }
        parallelChunks(grads.count, Zero(base: base))
        gradientsAreZero = true
    }
}

/// Zeroes one chunk of a buffer.
private struct Zero: ChunkTask {
    let base: UnsafeMutablePointer<Float>
    func run(_ range: Range<Int>) { (base + range.lowerBound).update(repeating: 0, count: range.count) }
}
