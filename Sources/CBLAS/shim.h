// OpenBLAS's CBLAS interface plus its thread-control entry points, the spin-wait hint the
// compute pool's idle workers use, a lane-wise square root and the CPU's vector level.
#include <cblas.h>

/// Imported into Swift as SIMD16<Float>.
typedef float p2p_float16 __attribute__((ext_vector_type(16)));

/// IEEE square root of every lane (`vsqrtps`, correctly rounded like the scalar one).
/// Swift's `SIMD16<Float>.squareRoot()` goes lane by lane through libm's `sqrtf` on Linux
/// (it keeps errno semantics), which made Adam's update three times slower.
static inline __attribute__((always_inline)) p2p_float16 p2p_sqrt16(p2p_float16 x) {
    return __builtin_elementwise_sqrt(x);
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

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
