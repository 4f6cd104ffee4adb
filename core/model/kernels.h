/* What the CPU's kernels (kernels.c, lstm_kernel.c) share: how an entry point is exported for ctypes, and
 * whether the AVX2 path is compiled (GCC or Clang on x86, the instruction set then chosen at run time). */
#ifndef CONVLSTM_KERNELS_H
#define CONVLSTM_KERNELS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(_WIN32)
#define EXPORT __declspec(dllexport)
#else
#define EXPORT __attribute__((visibility("default")))
#endif

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define HAVE_AVX2_PATH 1
#include <immintrin.h>
#endif

/* whether this CPU runs the AVX2 + FMA paths (asked on every call: a few loads, nothing shared) */
static inline int cpu_has_avx2(void)
{
#ifdef HAVE_AVX2_PATH
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

#endif
