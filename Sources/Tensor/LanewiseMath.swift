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

// self + a·b: fused in the tuned build (FMA), a multiply and an add in the portable one,
// where `addingProduct` would call libm's `fmaf` lane by lane. The kernels that must give
// the same bits in their vector lanes and their scalar tails use these on both.
extension Float {
    @inlinable @inline(__always)
    public func multiplyAdding(_ a: Float, _ b: Float) -> Float { p2p_muladd1(a, b, self) }
}
extension SIMD4 where Scalar == Float {
    @inlinable @inline(__always)
    public func multiplyAdding(_ a: Self, _ b: Self) -> Self { p2p_muladd4(a, b, self) }
}
extension SIMD8 where Scalar == Float {
    @inlinable @inline(__always)
    public func multiplyAdding(_ a: Self, _ b: Self) -> Self { p2p_muladd8(a, b, self) }
}
extension SIMD16 where Scalar == Float {
    @inlinable @inline(__always)
    public func multiplyAdding(_ a: Self, _ b: Self) -> Self { p2p_muladd16(a, b, self) }
}

/// The 8×8 matrix whose row i is v[i] replaced by its transpose (v[j] lane i = old v[i]
/// lane j), in 24 shuffles: the AVX sequence of unpacks, pair shuffles and 128-bit halves.
@inlinable @inline(__always)
public func transpose8x8(_ v: UnsafeMutablePointer<SIMD8<Float>>) {
    let (a0, a1, a2, a3) = quarters(v[0], v[1], v[2], v[3]), (b0, b1, b2, b3) = quarters(v[4], v[5], v[6], v[7])
    v[0] = SIMD8(lowHalf: a0.lowHalf, highHalf: b0.lowHalf)
    v[1] = SIMD8(lowHalf: a1.lowHalf, highHalf: b1.lowHalf)
    v[2] = SIMD8(lowHalf: a2.lowHalf, highHalf: b2.lowHalf)
    v[3] = SIMD8(lowHalf: a3.lowHalf, highHalf: b3.lowHalf)
    v[4] = SIMD8(lowHalf: a0.highHalf, highHalf: b0.highHalf)
    v[5] = SIMD8(lowHalf: a1.highHalf, highHalf: b1.highHalf)
    v[6] = SIMD8(lowHalf: a2.highHalf, highHalf: b2.highHalf)
    v[7] = SIMD8(lowHalf: a3.highHalf, highHalf: b3.highHalf)
}

/// The 4×8 transpose of rows r0–r3 in 128-bit quarters: result k holds, in lanes 0–3,
/// lanes k of r0–r3 and, in lanes 4–7, lanes k + 4 (unpacks and pair shuffles).
@usableFromInline @inline(__always)
func quarters(_ r0: SIMD8<Float>, _ r1: SIMD8<Float>, _ r2: SIMD8<Float>, _ r3: SIMD8<Float>)
    -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    let t0 = p2p_unpacklo8(r0, r1), t1 = p2p_unpackhi8(r0, r1)
    let t2 = p2p_unpacklo8(r2, r3), t3 = p2p_unpackhi8(r2, r3)
    return (p2p_lowpairs8(t0, t2), p2p_highpairs8(t0, t2), p2p_lowpairs8(t1, t3), p2p_highpairs8(t1, t3))
}

/// a0 a1 a4 a5 b0 b1 b4 b5: for two rows of two 4×4 kernels (a = taps 0–7 of one, b of the
/// other), columns 0–1 of each row; `oddPairs` gives columns 2–3. This is how Winograd's
/// stride-2 layers split a kernel into its 2×2 pieces (`WinogradWeights`).
@inlinable @inline(__always)
public func evenPairs(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { p2p_evenpairs8(a, b) }
/// a2 a3 a6 a7 b2 b3 b6 b7 (see `evenPairs`).
@inlinable @inline(__always)
public func oddPairs(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { p2p_oddpairs8(a, b) }
/// The inverse of `evenPairs` and `oddPairs`: (a, b) from (evenPairs(a, b), oddPairs(a, b)).
@inlinable @inline(__always)
public func unsplitPairs(_ even: SIMD8<Float>, _ odd: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
    (p2p_pairslo8(even, odd), p2p_pairshi8(even, odd))
}

/// p[0], p[stride], …, p[7·stride] for a stride of 1 to 4: `stride` unaligned 8-float loads
/// (p[0 ..< 8·stride] must be readable) and fixed shuffles, not a gather.
@inlinable @inline(__always)
public func strided8(_ p: UnsafePointer<Float>, _ stride: Int) -> SIMD8<Float> {
    switch stride {
    case 1: return load8(p, 0)
    case 2: return p2p_stride2_8(load8(p, 0), load8(p, 8))
    case 3: return p2p_stride3_8(load8(p, 0), load8(p, 8), load8(p, 16))
    default:
        precondition(stride == 4, "strided8 takes strides 1 to 4")
        return p2p_stride4_8(load8(p, 0), load8(p, 8), load8(p, 16), load8(p, 24))
    }
}

/// out[stride·i + j] = v_j[i] for i < 8 and j < stride, stride 1 to 4 (the inverse of
/// `strided8`): fixed shuffles and `stride` unaligned 8-float stores. Vectors past `stride`
/// are ignored.
@inlinable @inline(__always)
public func storeInterleaved(_ v0: SIMD8<Float>, _ v1: SIMD8<Float>, _ v2: SIMD8<Float>, _ v3: SIMD8<Float>,
                             _ stride: Int, to out: UnsafeMutablePointer<Float>) {
    switch stride {
    case 1: UnsafeMutableRawPointer(out).storeBytes(of: v0, as: SIMD8<Float>.self)
    case 2: p2p_interleave2_8(v0, v1, out)
    case 3: p2p_interleave3_8(v0, v1, v2, out)
    default:
        precondition(stride == 4, "storeInterleaved takes strides 1 to 4")
        let (u0, u1, u2, u3) = quarters(v0, v1, v2, v3), o = UnsafeMutableRawPointer(out)
        o.storeBytes(of: SIMD8(lowHalf: u0.lowHalf, highHalf: u1.lowHalf), as: SIMD8<Float>.self)
        (o + 32).storeBytes(of: SIMD8(lowHalf: u2.lowHalf, highHalf: u3.lowHalf), as: SIMD8<Float>.self)
        (o + 64).storeBytes(of: SIMD8(lowHalf: u0.highHalf, highHalf: u1.highHalf), as: SIMD8<Float>.self)
        (o + 96).storeBytes(of: SIMD8(lowHalf: u2.highHalf, highHalf: u3.highHalf), as: SIMD8<Float>.self)
    }
}
