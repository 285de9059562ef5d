/// The shape of an NCHW activation: batch, channels, height, width.
///
/// Vectors and scalars use trailing ones, e.g. a loss input of 30 elements is (1, 30, 1, 1)
/// or any shape with the same count; only `count` matters to elementwise code.
public struct Shape: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var n: Int
    public var c: Int
    public var h: Int
    public var w: Int

    public init(_ n: Int, _ c: Int, _ h: Int, _ w: Int) {
        self.n = n; self.c = c; self.h = h; self.w = w
    }

    /// Number of elements.
    @inlinable public var count: Int { n * c * h * w }
    /// Elements per sample (C·H·W).
    @inlinable public var sampleCount: Int { c * h * w }
    /// Elements per channel plane (H·W).
    @inlinable public var planeCount: Int { h * w }

    public var description: String { "(\(n), \(c), \(h), \(w))" }
}

/// A non-owning view of contiguous NCHW `Float` storage.
///
/// The memory belongs to a `TensorBuffer` (activations, workspaces) or a `ParameterArena`
/// (weights, gradients); a view stays valid until its owner grows or is freed. Layers keep
/// their output buffers alive from one step to the next, so in steady state no view is
/// ever invalidated and no step allocates.
public struct Tensor {
    public let shape: Shape
    public let data: UnsafeMutablePointer<Float>

    @inlinable public init(shape: Shape, data: UnsafeMutablePointer<Float>) {
        self.shape = shape
        self.data = data
    }

    @inlinable public var count: Int { shape.count }
    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: data, count: shape.count)
    }
    /// Pointer to sample `i` (C·H·W contiguous floats).
    @inlinable public func sample(_ i: Int) -> UnsafeMutablePointer<Float> {
        data + i * shape.sampleCount
    }
    /// The same storage under another shape with the same element count.
    /// Samples `range` of the batch, a view.
    @inlinable public func samples(_ range: Range<Int>) -> Tensor {
        Tensor(shape: Shape(range.count, shape.c, shape.h, shape.w), data: data + range.lowerBound * shape.sampleCount)
    }

    @inlinable public func reshaped(_ s: Shape) -> Tensor {
        precondition(s.count == shape.count, "reshape \(shape) to \(s) changes the element count")
        return Tensor(shape: s, data: data)
    }
    @inlinable public func fill(_ value: Float) {
        buffer.update(repeating: value)
    }
    @inlinable public func copy(from other: Tensor) {
        precondition(other.count == count, "copy of \(other.shape) into \(shape)")
        data.update(from: other.data, count: count)
    }
    /// Copies the elements out into an array (tests, reports; allocates).
    public var array: [Float] { Array(buffer) }
}
