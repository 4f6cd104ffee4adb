/* The U-Net decoder's first step on the CPU, in one pass (model/synthesis.py's DecoderBlock holds the torch
 * reference, which a GPU, training and torch.compile run; tests/test_kernels.py holds the two together):
 *
 *     out = upsample(x, 2x, bilinear, align_corners=False) + skip
 *
 * x (N, H, W, C) and skip, out (N, 2H, 2W, C), NHWC (the learned part's layout on the CPU), all bf16 or all
 * float32. Each output px takes 3/4 of its nearer source px and 1/4 of the next one along each axis (the
 * frame's edges clamped), summed in float as torch's kernel sums them, and rounded to the type before the
 * sum with skip, as torch's two operations round it. Why: at full size torch's bilinear kernel took 16 ms
 * and the sum 14 ms of the learned part's 360 (640x352, one thread, bf16); here x and skip are read once and
 * out written once. */
#include "kernels.h"

/* output position o (of 2n): its two source positions and their weights, as torch computes them
 * (source = max((o + 0.5) / 2 - 0.5, 0); the second position clamped to the last) */
static inline void taps(int64_t o, int64_t n, int64_t *a, int64_t *b, float *wa, float *wb)
{
    const int64_t i = o >> 1;
    if (o & 1) {                    /* i + 1/4 */
        *a = i;
        *wa = 0.75f;
        *wb = 0.25f;
    } else if (i == 0) {            /* clamped to 0 */
        *a = 0;
        *wa = 1.f;
        *wb = 0.f;
    } else {                        /* i - 1/4 */
        *a = i - 1;
        *wa = 0.25f;
        *wb = 0.75f;
    }
    *b = *a + 1 < n ? *a + 1 : n - 1;
}

/* one source row y upsampled along x into h (2W * C floats): 3/4 and 1/4 of its two source px */
static void along_x(const void *x, int bf16, int64_t y_at, int64_t channels, int64_t width, float *h)
{
    for (int64_t ox = 0; ox < 2 * width; ox++) {
        int64_t x0, x1;
        float w0, w1;
        taps(ox, width, &x0, &x1, &w0, &w1);
        const int64_t a0 = y_at + x0 * channels, a1 = y_at + x1 * channels;
        float *o = h + ox * channels;
        if (bf16) {
            const uint16_t *s = (const uint16_t *)x;
            for (int64_t c = 0; c < channels; c++)
                o[c] = w0 * bf16_to_float(s[a0 + c]) + w1 * bf16_to_float(s[a1 + c]);
        } else {
            const float *s = (const float *)x;
            for (int64_t c = 0; c < channels; c++)
                o[c] = w0 * s[a0 + c] + w1 * s[a1 + c];
        }
    }
}

/* Output rows row_begin..row_end of the flattened (N, 2H). -1 where the two rows' buffers could not be
 * had (nothing written; the caller runs torch's expression), else 0. */
EXPORT int upsample_add(const void *x, const void *skip, void *out, int32_t bf16, int64_t channels, int64_t height,
                        int64_t width, int64_t row_begin, int64_t row_end)
{
    const int64_t out_h = 2 * height, span = 2 * width * channels;
    float *held[2] = {malloc(sizeof(float) * (size_t)span), malloc(sizeof(float) * (size_t)span)};
    int64_t which[2] = {-1, -1};       /* the source row (of the flattened N, H) each buffer holds */
    if (!held[0] || !held[1]) {
        free(held[0]);
        free(held[1]);
        return -1;
    }
    for (int64_t row = row_begin; row < row_end; row++) {
        const int64_t n = row / out_h, oy = row % out_h;
        int64_t y0, y1;
        float wy0, wy1;
        taps(oy, height, &y0, &y1, &wy0, &wy1);
        const float *h[2];
        const int64_t want[2] = {n * height + y0, n * height + y1};
        for (int k = 0; k < 2; k++) {      /* consecutive output rows share source rows: each made once */
            if (which[0] == want[k] || which[1] == want[k]) {
                h[k] = held[which[0] == want[k] ? 0 : 1];
                continue;
            }
            /* a buffer the row before this one in the pair does not use, else one the second row will not */
            const int slot = k == 1 ? (h[0] == held[0] ? 1 : 0) : (which[0] == want[1] ? 1 : 0);
            along_x(x, bf16, want[k] * width * channels, channels, width, held[slot]);
            which[slot] = want[k];
            h[k] = held[slot];
        }
        const float *h0 = h[0], *h1 = h[1];
        const int64_t at = row * span;
        if (bf16) {
            const uint16_t *k = (const uint16_t *)skip + at;
            uint16_t *o = (uint16_t *)out + at;
            for (int64_t i = 0; i < span; i++)
                o[i] = float_to_bf16(bf16_to_float(float_to_bf16(wy0 * h0[i] + wy1 * h1[i])) + bf16_to_float(k[i]));
        } else {
            const float *k = (const float *)skip + at;
            float *o = (float *)out + at;
            for (int64_t i = 0; i < span; i++)
                o[i] = (wy0 * h0[i] + wy1 * h1[i]) + k[i];
        }
    }
    free(held[0]);
    free(held[1]);
    return 0;
}
