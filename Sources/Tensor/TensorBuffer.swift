/// Owned, 64-byte aligned `Float` storage that hands out `Tensor` views.
///
/// A layer holds one buffer per activation or workspace it needs. `view(_:)` grows the
/// allocation only when a larger shape arrives, so after the first step at a given shape
/// no call allocates. Growing discards the old contents and invalidates earlier views.
public final class TensorBuffer {
    public private(set) var capacity: Int
    public private(set) var base: UnsafeMutablePointer<Float>

    public init(capacity: Int = 0) {
        self.capacity = capacity
        self.base = TensorBuffer.allocate(capacity)
    }

    /// A buffer holding a copy of `values` viewed as `shape` (tests, fixtures).
    public convenience init(shape: Shape, values: [Float]) {
        precondition(values.count == shape.count, "\(values.count) values for shape \(shape)")
        self.init(capacity: shape.count)
        values.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { base.deallocate() }

    /// A view of `shape`; grows the storage if it is too small (contents then undefined).
    @inlinable public func view(_ shape: Shape) -> Tensor {
        if shape.count > capacity { grow(to: shape.count) }
        return Tensor(shape: shape, data: base)
    }

    /// A view of `shape` filled with zeros.
    @inlinable public func zeros(_ shape: Shape) -> Tensor {
        let t = view(shape)
        t.fill(0)
        return t
    }

    @usableFromInline func grow(to count: Int) {
        base.deallocate()
        base = TensorBuffer.allocate(count)
        capacity = count
    }

    @usableFromInline static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        return raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }
}
