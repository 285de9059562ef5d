// OpenBLAS's CBLAS interface plus its thread-control entry points, the spin-wait hint the
// compute pool's idle workers use, a lane-wise square root, fixed 8-lane shuffles and the
// CPU's vector level.
#include <cblas.h>

/// Imported into Swift as SIMD16<Float>.
typedef float p2p_float16 __attribute__((ext_vector_type(16)));

/// IEEE square root of every lane (`vsqrtps`, correctly rounded like the scalar one).
/// Swift's `SIMD16<Float>.squareRoot()` goes lane by lane through libm's `sqrtf` on Linux
/// (it keeps errno semantics), which made Adam's update three times slower.
static inline __attribute__((always_inline)) p2p_float16 p2p_sqrt16(p2p_float16 x) {
    return __builtin_elementwise_sqrt(x);
}

/// Imported into Swift as SIMD8<Float>.
typedef float p2p_float8 __attribute__((ext_vector_type(8)));

/// Imported into Swift as SIMD4<Float>.
typedef float p2p_float4 __attribute__((ext_vector_type(4)));

// a·b + c in every lane: one fused multiply-add (`vfmadd`) where the target has FMA, else a
// multiply and an add. (Swift's `addingProduct` keeps the fused rounding everywhere, which
// without FMA hardware is a libm `fmaf` call per lane.)
#if defined(__FMA__)
#define P2P_MULADD(a, b, c) __builtin_elementwise_fma(a, b, c)
#else
#define P2P_MULADD(a, b, c) ((a) * (b) + (c))
#endif
static inline __attribute__((always_inline)) float p2p_muladd1(float a, float b, float c) { return P2P_MULADD(a, b, c); }
static inline __attribute__((always_inline)) p2p_float4 p2p_muladd4(p2p_float4 a, p2p_float4 b, p2p_float4 c) { return P2P_MULADD(a, b, c); }
static inline __attribute__((always_inline)) p2p_float8 p2p_muladd8(p2p_float8 a, p2p_float8 b, p2p_float8 c) { return P2P_MULADD(a, b, c); }
static inline __attribute__((always_inline)) p2p_float16 p2p_muladd16(p2p_float16 a, p2p_float16 b, p2p_float16 c) { return P2P_MULADD(a, b, c); }

// Fixed shuffles of two 8-lane vectors a, b (lanes 0–7 of a, 8–15 of b), which Swift's SIMD
// types cannot spell: each is one or two AVX instructions. The first four make the usual
// 8×8 transpose (`transpose8x8`), the others Winograd's stride-2 kernel split.

/// a0 b0 a1 b1 | a4 b4 a5 b5 (`vunpcklps`).
static inline __attribute__((always_inline)) p2p_float8 p2p_unpacklo8(p2p_float8 a, p2p_float8 b) {
    return __builtin_shufflevector(a, b, 0, 8, 1, 9, 4, 12, 5, 13);
}
/// a2 b2 a3 b3 | a6 b6 a7 b7 (`vunpckhps`).
static inline __attribute__((always_inline)) p2p_float8 p2p_unpackhi8(p2p_float8 a, p2p_float8 b) {
    return __builtin_shufflevector(a, b, 2, 10, 3, 11, 6, 14, 7, 15);
}
/// a0 a1 b0 b1 | a4 a5 b4 b5 (`vshufps` 0x44).
static inline __attribute__((always_inline)) p2p_float8 p2p_lowpairs8(p2p_float8 a, p2p_float8 b) {
    return __builtin_shufflevector(a, b, 0, 1, 8, 9, 4, 5, 12, 13);
}
/// a2 a3 b2 b3 | a6 a7 b6 b7 (`vshufps` 0xEE).
static inline __attribute__((always_inline)) p2p_float8 p2p_highpairs8(p2p_float8 a, p2p_float8 b) {
    return __builtin_shufflevector(a, b, 2, 3, 10, 11, 6, 7, 14, 15);
}
/// a0 a1 a4 a5 b0 b1 b4 b5: the even pairs of each.
static inline __attribute__((always_inline)) p2p_float8 p2p_evenpairs8(p2p_float8 a, p2p_float8 b) {
    return __builtin_shufflevector(a, b, 0, 1, 4, 5, 8, 9, 12, 13);
}
/// a2 a3 a6 a7 b2 b3 b6 b7: the odd pairs of each.
static inline __attribute__((always_inline)) p2p_float8 p2p_oddpairs8(p2p_float8 a, p2p_float8 b) {
    return __builtin_shufflevector(a, b, 2, 3, 6, 7, 10, 11, 14, 15);
}
/// The inverse of the two above: a0 a1 b0 b1 a2 a3 b2 b3 …
static inline __attribute__((always_inline)) p2p_float8 p2p_pairslo8(p2p_float8 a, p2p_float8 b) {
    return __builtin_shufflevector(a, b, 0, 1, 8, 9, 2, 3, 10, 11);
}
/// … and a4 a5 b4 b5 a6 a7 b6 b7.
static inline __attribute__((always_inline)) p2p_float8 p2p_pairshi8(p2p_float8 a, p2p_float8 b) {
    return __builtin_shufflevector(a, b, 4, 5, 12, 13, 6, 7, 14, 15);
}

// Every 2nd, 3rd or 4th float of 16, 24 or 32 consecutive ones (lanes 0–7 of a, 8–15 of b, …):
// Winograd's tile copies (`strided8`).

/// a0 a2 a4 a6 b0 b2 b4 b6.
static inline __attribute__((always_inline)) p2p_float8 p2p_stride2_8(p2p_float8 a, p2p_float8 b) {
    return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14);
}
/// a0 a3 a6 b1 b4 b7 c2 c5.
static inline __attribute__((always_inline)) p2p_float8 p2p_stride3_8(p2p_float8 a, p2p_float8 b, p2p_float8 c) {
    p2p_float8 ab = __builtin_shufflevector(a, b, 0, 3, 6, 9, 12, 15, -1, -1);
    return __builtin_shufflevector(ab, c, 0, 1, 2, 3, 4, 5, 10, 13);
}
/// a0 a4 b0 b4 c0 c4 d0 d4.
static inline __attribute__((always_inline)) p2p_float8 p2p_stride4_8(p2p_float8 a, p2p_float8 b, p2p_float8 c, p2p_float8 d) {
    p2p_float8 ab = __builtin_shufflevector(a, b, 0, 4, 8, 12, -1, -1, -1, -1);
    p2p_float8 cd = __builtin_shufflevector(c, d, 0, 4, 8, 12, -1, -1, -1, -1);
    return __builtin_shufflevector(ab, cd, 0, 1, 2, 3, 8, 9, 10, 11);
}

// Their inverses for 2 and 3 vectors, interleaved into 16 or 24 consecutive floats at `out`
// (4 vectors are half of `transpose8x8`).

/// a0 b0 a1 b1 … a7 b7.
static inline __attribute__((always_inline)) void p2p_interleave2_8(p2p_float8 a, p2p_float8 b, float *out) {
    p2p_float8 lo = __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11);
    p2p_float8 hi = __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15);
    __builtin_memcpy(out, &lo, sizeof lo);
    __builtin_memcpy(out + 8, &hi, sizeof hi);
}
/// a0 b0 c0 a1 b1 c1 … a7 b7 c7.
static inline __attribute__((always_inline)) void p2p_interleave3_8(p2p_float8 a, p2p_float8 b, p2p_float8 c, float *out) {
    p2p_float8 x0 = __builtin_shufflevector(a, b, 0, 8, -1, 1, 9, -1, 2, 10);
    p2p_float8 x1 = __builtin_shufflevector(a, b, -1, 3, 11, -1, 4, 12, -1, 5);
    p2p_float8 x2 = __builtin_shufflevector(a, b, 13, -1, 6, 14, -1, 7, 15, -1);
    p2p_float8 o0 = __builtin_shufflevector(x0, c, 0, 1, 8, 3, 4, 9, 6, 7);
    p2p_float8 o1 = __builtin_shufflevector(x1, c, 10, 1, 2, 11, 4, 5, 12, 7);
    p2p_float8 o2 = __builtin_shufflevector(x2, c, 0, 13, 2, 3, 14, 5, 6, 15);
    __builtin_memcpy(out, &o0, sizeof o0);
    __builtin_memcpy(out + 8, &o1, sizeof o1);
    __builtin_memcpy(out + 16, &o2, sizeof o2);
}

/// The widest vector kernels this CPU and the OS support, for choosing OpenBLAS's kernels:
/// 3 = AVX-512 (F, BW, VL, DQ: what OpenBLAS's SkylakeX kernels use), 2 = AVX2 + FMA, 1 = less.
static inline int p2p_cpu_vector_level(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) return 3;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 2;
#endif
    return 1;
}

/// Asks for the cache line at `p` ahead of its use (`prefetcht0`; a hint: it never faults).
/// The hardware prefetchers stop at 4 KiB pages, and the weight-streaming kernels read a new
/// page every row.
static inline __attribute__((always_inline)) void p2p_prefetch(const void *p) {
    __builtin_prefetch(p, 0, 3);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
