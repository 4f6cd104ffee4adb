/* What the CPU's kernels (kernels.c, lstm_kernel.c, decoder_kernel.c, attention_kernel.c) share: how an
 * entry point is exported for ctypes, bf16's conversions, one value or eight of a bf16 or float32 array, and
 * whether the AVX2 path is compiled (GCC or Clang on x86, the instruction set then chosen at run time). */
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

/* plain loops that the compiler vectorizes, built twice (AVX2, and the baseline) where the loader can choose
 * between them when the module loads (glibc's ifunc; musl has none): each element's arithmetic as written
 * (no FMA, so no contraction that would round otherwise), 8 wide */
#if defined(HAVE_AVX2_PATH) && defined(__ELF__) && defined(__GLIBC__)
#define WIDE_LOOPS __attribute__((target_clones("avx2", "default")))
#else
#define WIDE_LOOPS
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
    const uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;   /* to nearest, ties to even */
    const uint32_t quiet = (bits >> 16) | 0x40u;                                /* a NaN stays a (quiet) NaN */
    return (uint16_t)(x != x ? quiet : rounded);      /* no branch: the loops it is in vectorize */
}

/* one value of a bf16 or float32 array, as a float, and back */
static inline float load_one(const void *p, int64_t at, int bf16)
{
    return bf16 ? bf16_to_float(((const uint16_t *)p)[at]) : ((const float *)p)[at];
}

static inline void store_one(void *p, int64_t at, float x, int bf16)
{
    if (bf16)
        ((uint16_t *)p)[at] = float_to_bf16(x);
    else
        ((float *)p)[at] = x;
}

#ifdef HAVE_AVX2_PATH
/* eight values of a bf16 or float32 array, as floats, and back (rounded as float_to_bf16 rounds) */
__attribute__((target("avx2,fma")))
static inline __m256 load8(const void *p, int64_t at, int bf16)
{
    if (!bf16)
        return _mm256_loadu_ps((const float *)p + at);
    const __m128i half = _mm_loadu_si128((const __m128i *)((const uint16_t *)p + at));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(half), 16));
}

__attribute__((target("avx2,fma")))
static inline void store8(void *p, int64_t at, __m256 x, int bf16)
{
    if (!bf16) {
        _mm256_storeu_ps((float *)p + at, x);
        return;
    }
    const __m256i bits = _mm256_castps_si256(x);
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7fff))), 16);
    const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x40));
    rounded = _mm256_blendv_epi8(rounded, quiet, nan);
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(rounded, rounded), 0xD8);
    _mm_storeu_si128((__m128i *)((uint16_t *)p + at), _mm256_castsi256_si128(packed));
}

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
