import CBLAS

extension SIMD16 where Scalar == Float {
    /// √x in every lane, one `vsqrtps` (IEEE, correctly rounded: equal to the scalar
    /// `squareRoot()` lane by lane). The standard library's `squareRoot()` on SIMD vectors
    /// calls libm's `sqrtf` per lane on Linux, which does not vectorise.
    @inlinable @inline(__always)
    public func lanewiseSquareRoot() -> Self { p2p_sqrt16(self) }
}

/// out[i] = f(x[i]) for i in `range`, 16 lanes at a time (the tail through a zero-padded
/// vector). In place when `out == x`: every lane is read before it is written. Explicit
/// vectors because the compiler will not vectorise the scalar loop when the pointers may
/// alias, and in-place layers make them alias.
@inlinable @inline(__always)
public func lanewise(_ range: Range<Int>, _ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                     _ f: (SIMD16<Float>) -> SIMD16<Float>) {
    lanewise(range, x, x, into: out) { a, _ in f(a) }
}

/// out[i] = f(a[i], b[i]) for i in `range`; as the unary form.
@inlinable @inline(__always)
public func lanewise(_ range: Range<Int>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                     into out: UnsafeMutablePointer<Float>,
                     _ f: (SIMD16<Float>, SIMD16<Float>) -> SIMD16<Float>) {
    typealias V = SIMD16<Float>
    var i = range.lowerBound
    while i + V.scalarCount <= range.upperBound {
        let y = f(UnsafeRawPointer(a + i).loadUnaligned(as: V.self), UnsafeRawPointer(b + i).loadUnaligned(as: V.self))
        UnsafeMutableRawPointer(out + i).storeBytes(of: y, as: V.self)
        i += V.scalarCount
    }
    let tail = range.upperBound - i
    guard tail > 0 else { return }
    var va = V(), vb = V()
    for k in 0..<tail { va[k] = a[i + k]; vb[k] = b[i + k] }
    let y = f(va, vb)
    for k in 0..<tail { out[i + k] = y[k] }
}

/// Calls `body(i)` for i = 0, 8, 16, … while eight lanes fit in `count`, then `tail(i, mask)`
/// once for the remaining lanes (mask true for i + lane < count) if there are any.
@inlinable @inline(__always)
public func eightLanes(_ count: Int, _ body: (Int) -> Void, tail: (Int, SIMDMask<SIMD8<Int32>>) -> Void) {
    var i = 0
    while i + 8 <= count { body(i); i += 8 }
    if i < count { tail(i, SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) .< SIMD8<Int32>(repeating: Int32(count - i))) }
}

/// Eight floats from p + i.
@inlinable @inline(__always)
public func load8(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
    UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
}

/// The lanes of p + i where `mask` is true, zero elsewhere; reads no element outside the mask.
@inlinable @inline(__always)
public func load8(_ p: UnsafePointer<Float>, _ i: Int, _ mask: SIMDMask<SIMD8<Int32>>) -> SIMD8<Float> {
    var v = SIMD8<Float>()
    for k in 0..<8 where mask[k] { v[k] = p[i + k] }
    return v
}
