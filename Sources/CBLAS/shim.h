// OpenBLAS's CBLAS interface plus its thread-control entry points, and the spin-wait hint
// the compute pool's idle workers use.
#include <cblas.h>

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
