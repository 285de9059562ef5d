/// The kernels' vector: 16 lanes, one AVX-512 register (this module is compiled for
/// Skylake-AVX512 in the tuned build).
typealias V = SIMD16<Float>

@inline(__always) func load(_ p: UnsafePointer<Float>) -> V {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
}
@inline(__always) func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
}

