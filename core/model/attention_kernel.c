/* The refinement's attention after its convolutions, on the CPU (model/refinement.py's AttentionBlock holds
 * the torch reference, which a GPU, training and torch.compile run; tests/test_kernels.py holds the two):
 *
 *     z = y * s                    (channel attention: s one weight per channel, (B, C))
 *     pooled = [mean_c z, max_c z] (what the spatial attention's 7x7 convolution reads)    -> scaled_pool
 *     out = x + z * a              (a = sigmoid of that convolution, one weight per px)    -> attend
 *
 * and before them the channel attention's mean of y over the pixels, as each row's sums     -> channel_sums
 *
 * x, y, out (B, H, W, C) and pooled (B, H, W, 2), NHWC (the learned part's layout on the CPU), a (B, H, W),
 * all bf16 or all float32; each product and sum rounded to that type where torch's operations round it
 * (z is never written: both make it again). With AVX2 and FMA (chosen at run time) 8 channels at a time
 * where C is a multiple of 8 (the mean then sums in another order than torch's: float rounding);
 * otherwise one at a time. Why: in torch the products, the two reductions over the channels, their
 * concatenation and the residual sum are each a pass over the full-size 16-channel activations: 18-22 ms
 * of a 39-43 ms block at 640x352 on one thread, bf16; the mean over the pixels of bf16 activations is a
 * float32 copy of them summed, 5-7 ms a block. */
#include "kernels.h"

static inline float round_to(float v, int bf16)      /* what an array of the type holds of v */
{
    return bf16 ? bf16_to_float(float_to_bf16(v)) : v;
}

static void pool_px(const void *y, int64_t at, const float *s, int bf16, int64_t channels, float *mean, float *most)
{
    float sum = 0.f, top = -INFINITY;
    for (int64_t c = 0; c < channels; c++) {
        const float z = round_to(load_one(y, at + c, bf16) * s[c], bf16);
        sum += z;
        top = (z > top || z != z) ? z : top;       /* a NaN wins, as torch's amax has it */
    }
    *mean = sum / (float)channels;
    *most = top;
}

static void attend_px(const void *x, const void *y, int64_t at, const float *s, float weight, void *out, int bf16,
                      int64_t channels)
{
    for (int64_t c = 0; c < channels; c++) {
        const float z = round_to(load_one(y, at + c, bf16) * s[c], bf16);
        store_one(out, at + c, load_one(x, at + c, bf16) + round_to(z * weight, bf16), bf16);
    }
}

#ifdef HAVE_AVX2_PATH
__attribute__((target("avx2,fma")))
static inline __m256 round8(__m256 v, int bf16)      /* round_to, 8 at a time (a NaN stays a quiet NaN) */
{
    if (!bf16)
        return v;
    const __m256i bits = _mm256_castps_si256(v), high = _mm256_set1_epi32((int)0xffff0000u);
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    const __m256i rounded = _mm256_and_si256(_mm256_add_epi32(bits, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7fff))), high);
    const __m256i quiet = _mm256_and_si256(_mm256_or_si256(bits, _mm256_set1_epi32(0x400000)), high);
    const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    return _mm256_castsi256_ps(_mm256_blendv_epi8(rounded, quiet, nan));
}

__attribute__((target("avx2,fma")))
static void pool_px8(const void *y, int64_t at, const float *s, int bf16, int64_t channels, float *mean, float *most)
{
    __m256 sum = _mm256_setzero_ps(), top = _mm256_set1_ps(-INFINITY), nan = _mm256_setzero_ps();
    for (int64_t c = 0; c < channels; c += 8) {
        const __m256 z = round8(_mm256_mul_ps(load8(y, at + c, bf16), _mm256_loadu_ps(s + c)), bf16);
        sum = _mm256_add_ps(sum, z);
        top = _mm256_max_ps(top, z);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(z, z, _CMP_UNORD_Q));
    }
    float sums[8], tops[8];
    _mm256_storeu_ps(sums, sum);
    _mm256_storeu_ps(tops, top);
    float total = 0.f, best = -INFINITY;
    for (int k = 0; k < 8; k++) {
        total += sums[k];
        best = tops[k] > best ? tops[k] : best;
    }
    *mean = total / (float)channels;
    *most = _mm256_movemask_ps(nan) ? NAN : best;
}

__attribute__((target("avx2,fma")))
static void attend_px8(const void *x, const void *y, int64_t at, const float *s, float weight, void *out, int bf16,
                       int64_t channels)
{
    const __m256 w = _mm256_set1_ps(weight);
    for (int64_t c = 0; c < channels; c += 8) {
        const __m256 z = round8(_mm256_mul_ps(load8(y, at + c, bf16), _mm256_loadu_ps(s + c)), bf16);
        store8(out, at + c, _mm256_add_ps(load8(x, at + c, bf16), round8(_mm256_mul_ps(z, w), bf16)), bf16);
    }
}
#endif

typedef void (*Pool)(const void *, int64_t, const float *, int, int64_t, float *, float *);
typedef void (*Attend)(const void *, const void *, int64_t, const float *, float, void *, int, int64_t);

/* whether a px's channels go 8 at a time (AVX2 and FMA here, and whole vectors of them) */
static int eight_at_a_time(int64_t channels)
{
#ifdef HAVE_AVX2_PATH
    return channels % 8 == 0 && cpu_has_avx2();
#else
    (void)channels;
    return 0;
#endif
}

/* the channel weights of sample n as floats (at most MAX_CHANNELS; the caller checks) */
enum { MAX_CHANNELS = 1024 };

static void weights_of(const void *s, int64_t n, int64_t channels, int bf16, float *out)
{
    for (int64_t c = 0; c < channels; c++)
        out[c] = load_one(s, n * channels + c, bf16);
}

/* rows row_begin..row_end of the flattened (B, H); -1 (nothing written) for more than MAX_CHANNELS channels */
EXPORT int scaled_pool(const void *y, const void *s, void *pooled, int32_t bf16, int64_t channels, int64_t height,
                       int64_t width, int64_t row_begin, int64_t row_end)
{
    float weights[MAX_CHANNELS];
    if (channels > MAX_CHANNELS)
        return -1;
    Pool pool = pool_px;
#ifdef HAVE_AVX2_PATH
    if (eight_at_a_time(channels))
        pool = pool_px8;
#endif
    for (int64_t row = row_begin; row < row_end; row++) {
        if (row == row_begin || row % height == 0)
            weights_of(s, row / height, channels, bf16, weights);
        for (int64_t i = 0; i < width; i++) {
            float mean, most;
            pool(y, (row * width + i) * channels, weights, bf16, channels, &mean, &most);
            store_one(pooled, (row * width + i) * 2, mean, bf16);
            store_one(pooled, (row * width + i) * 2 + 1, most, bf16);
        }
    }
    return 0;
}

EXPORT int attend(const void *x, const void *y, const void *s, const void *a, void *out, int32_t bf16,
                  int64_t channels, int64_t height, int64_t width, int64_t row_begin, int64_t row_end)
{
    float weights[MAX_CHANNELS];
    if (channels > MAX_CHANNELS)
        return -1;
    Attend step = attend_px;
#ifdef HAVE_AVX2_PATH
    if (eight_at_a_time(channels))
        step = attend_px8;
#endif
    for (int64_t row = row_begin; row < row_end; row++) {
        if (row == row_begin || row % height == 0)
            weights_of(s, row / height, channels, bf16, weights);
        for (int64_t i = 0; i < width; i++)
            step(x, y, (row * width + i) * channels, weights, load_one(a, row * width + i, bf16), out, bf16, channels);
    }
    return 0;
}

/* Each row's sums over its pixels of each channel, in float32: sums[row * C + c] for the rows row_begin..row_end
 * of the flattened (B, H) (the caller adds the rows: the mean over the pixels, in another order than torch's). */
#ifdef HAVE_AVX2_PATH
__attribute__((target("avx2,fma")))
static void row_sums8(const void *y, int64_t at, int bf16, int64_t channels, int64_t width, float *sums)
{
    for (int64_t c = 0; c < channels; c += 8) {
        __m256 sum = _mm256_setzero_ps();
        for (int64_t i = 0; i < width; i++)
            sum = _mm256_add_ps(sum, load8(y, at + i * channels + c, bf16));
        _mm256_storeu_ps(sums + c, sum);
    }
}
#endif

static void row_sums(const void *y, int64_t at, int bf16, int64_t channels, int64_t width, float *sums)
{
    for (int64_t c = 0; c < channels; c++)
        sums[c] = 0.f;
    for (int64_t i = 0; i < width; i++)
        for (int64_t c = 0; c < channels; c++)
            sums[c] += load_one(y, at + i * channels + c, bf16);
}

EXPORT void channel_sums(const void *y, float *sums, int32_t bf16, int64_t channels, int64_t width, int64_t row_begin,
                         int64_t row_end)
{
    void (*sum_row)(const void *, int64_t, int, int64_t, int64_t, float *) = row_sums;
#ifdef HAVE_AVX2_PATH
    if (eight_at_a_time(channels))
        sum_row = row_sums8;
#endif
    for (int64_t row = row_begin; row < row_end; row++)
        sum_row(y, row * width * channels, bf16, channels, width, sums + row * channels);
}
