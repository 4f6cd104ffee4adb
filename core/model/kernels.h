/* What the CPU's kernels (kernels.c, lstm_kernel.c, decoder_kernel.c) share: how an entry point is exported
 * for ctypes, bf16's conversions, and whether the AVX2 path is compiled (GCC or Clang on x86, the
 * instruction set then chosen at run time). */
#ifndef CONVLSTM_KERNELS_H
#define CONVLSTM_KERNELS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#define EXPORT __declspec(dllexport)
#else
#define EXPORT __attribute__((visibility("default")))
#endif

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define HAVE_AVX2_PATH 1
#include <immintrin.h>
#endif

/* bf16 is the top half of a float32: widened exactly, narrowed to nearest (ties to even), as torch does */
static inline float bf16_to_float(uint16_t v)
{
    const uint32_t bits = (uint32_t)v << 16;
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

static inline uint16_t float_to_bf16(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    if (x != x)
        return (uint16_t)((bits >> 16) | 0x40);                   /* a NaN stays a (quiet) NaN */
    return (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);   /* to nearest, ties to even */
}

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
