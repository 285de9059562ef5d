import CBLAS

extension SIMD16 where Scalar == Float {
    /// √x in every lane, one `vsqrtps` (IEEE, correctly rounded: equal to the scalar
    /// `squareRoot()` lane by lane). The standard library's `squareRoot()` on SIMD vectors
    /// calls libm's `sqrtf` per lane on Linux, which does not vectorise.
    @inlinable @inline(__always)
    public func lanewiseSquareRoot() -> Self { p2p_sqrt16(self) }
}
