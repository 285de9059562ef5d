/// The kernels' vector: 16 lanes, one AVX-512 register (this module is compiled for
/// Skylake-AVX512 in the tuned build).
typealias V = SIMD16<Float>

@inline(__always) func load(_ p: UnsafePointer<Float>) -> V {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
}
@inline(__always) func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
}

/// c[0 ..< 16] = (fresh ? 0 : c) + Σ_p a[p · aStride] · b[p · ldb ..< p · ldb + 16] over
/// `depth` steps, one chain of fused multiply-adds in order: the kernels' rows of C after
/// their last whole block.
@inline(__always) func vectorChain(_ a: UnsafePointer<Float>, aStride: Int, _ b: UnsafePointer<Float>, ldb: Int,
                                   depth: Int, fresh: Bool, _ c: UnsafeMutablePointer<Float>) {
    var s = fresh ? V() : load(c)
    var ar = a, br = b
    for _ in 0..<depth {
        s = s.addingProduct(V(repeating: ar[0]), load(br))
        ar += aStride
        br += ldb
    }
    store(s, c)
}

/// 64 columns of one row of C (or of B): four vectors.
struct Row64 {
    var v0 = V(), v1 = V(), v2 = V(), v3 = V()

    init() {}
    @inline(__always) init(_ p: UnsafePointer<Float>) {
        (v0, v1, v2, v3) = (load(p), load(p + 16), load(p + 32), load(p + 48))
    }
    @inline(__always) func store(_ p: UnsafeMutablePointer<Float>) {
        Kernels512.store(v0, p); Kernels512.store(v1, p + 16); Kernels512.store(v2, p + 32); Kernels512.store(v3, p + 48)
    }
    /// self += x · y, lane by lane, one fused multiply-add each.
    @inline(__always) mutating func add(_ x: Float, _ y: Row64) {
        let s = V(repeating: x)
        v0 = v0.addingProduct(s, y.v0); v1 = v1.addingProduct(s, y.v1)
        v2 = v2.addingProduct(s, y.v2); v3 = v3.addingProduct(s, y.v3)
    }
}

/// Six rows of C, 64 columns each: the 24 accumulators of both kernels' wide block, which
/// stay in registers (32 with AVX-512: the block, a row of B and a broadcast).
struct Block6x64 {
    var r0 = Row64(), r1 = Row64(), r2 = Row64(), r3 = Row64(), r4 = Row64(), r5 = Row64()

    /// Zero, or the six rows at `c` (`ldc` apart) unless `fresh`.
    @inline(__always) init(_ c: UnsafeMutablePointer<Float>, _ ldc: Int, fresh: Bool) {
        guard !fresh else { return }
        (r0, r1, r2) = (Row64(c), Row64(c + ldc), Row64(c + 2 * ldc))
        (r3, r4, r5) = (Row64(c + 3 * ldc), Row64(c + 4 * ldc), Row64(c + 5 * ldc))
    }
    @inline(__always) func store(_ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        r0.store(c); r1.store(c + ldc); r2.store(c + 2 * ldc)
        r3.store(c + 3 * ldc); r4.store(c + 4 * ldc); r5.store(c + 5 * ldc)
    }
    /// Row i += x.i · y for the six rows.
    @inline(__always) mutating func add(_ x: (Float, Float, Float, Float, Float, Float), _ y: Row64) {
        r0.add(x.0, y); r1.add(x.1, y); r2.add(x.2, y); r3.add(x.3, y); r4.add(x.4, y); r5.add(x.5, y)
    }
}
