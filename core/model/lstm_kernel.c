/* The ConvLSTM cell's arithmetic after its convolution, on the CPU, in one pass (model/convlstm.py holds the
 * torch reference that a GPU and training run; tests/test_kernels.py holds the two to float rounding):
 *
 *     i, f, o = sigmoid(gates[0:n]), sigmoid(gates[n:2n]), sigmoid(gates[2n:3n]);  g = tanh(gates[3n:4n])
 *     c = f * c_prev + i * g            (c = i * g on the first step: no c_prev)
 *     h = o * tanh(c)
 *
 * Why: in torch these are seven passes over memory, each of a gate's channel slice; with activations stored
 * NHWC (where oneDNN's bf16 convolutions need no reorder of their output) the slices are strided and the
 * passes took three fifths of the learned part (640x352, 2 threads, bf16). Here each gate value is read
 * once and only h and c are written. The gates come in bf16 or float32 (h is written in the same type); c is
 * float32 (it accumulates over the steps). Any layout whose four gates, h and c are addressed as
 * base(o1, o2) + gate * gate_step + j, j contiguous, is taken: NCHW (o2 a channel, j a pixel) and NHWC (o2 a
 * pixel, j a channel); h at strides of its own (a step's slot of the layer's output), and again, where
 * asked, at a second place's (the next step's convolution input, after the input's own channels). With AVX2 and FMA (chosen at run time) 8 values at a time, exp by a polynomial
 * (Cephes' expf, within 2 ulp); otherwise, and for a row's last values, libm's.
 */
#include "kernels.h"

static inline float sigmoid1(float x) { return 1.f / (1.f + expf(-x)); }

/* values j0..inner of one (o1, o2) row, one at a time */
static void row_scalar(const void *gates, int64_t gate_step, const float *c_prev, float *c_out, void *h_out,
                       void *h_next, int bf16, int64_t j0, int64_t inner)
{
    for (int64_t j = j0; j < inner; j++) {
        const float i = sigmoid1(load_one(gates, j, bf16)), o = sigmoid1(load_one(gates, 2 * gate_step + j, bf16));
        const float g = tanhf(load_one(gates, 3 * gate_step + j, bf16));
        float c = i * g;
        if (c_prev)
            c = sigmoid1(load_one(gates, gate_step + j, bf16)) * c_prev[j] + c;
        c_out[j] = c;
        const float h = o * tanhf(c);
        store_one(h_out, j, h, bf16);
        if (h_next)
            store_one(h_next, j, h, bf16);
    }
}

#ifdef HAVE_AVX2_PATH
__attribute__((target("avx2,fma")))
static inline __m256 exp8(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.3f), hi = _mm256_set1_ps(88.3f);   /* 2^n stays a normal float */
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);        /* x - n ln 2, in two parts */
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.f)));
    const __m256i scale = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(scale));
}

__attribute__((target("avx2,fma")))
static inline __m256 sigmoid8(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

__attribute__((target("avx2,fma")))
static inline __m256 tanh8(__m256 x)      /* 1 - 2 / (1 + e^2x): -1 and 1 at the ends, no overflow */
{
    const __m256 one = _mm256_set1_ps(1.f);
    const __m256 e = exp8(_mm256_add_ps(x, x));
    return _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.f), _mm256_add_ps(one, e)));
}

__attribute__((target("avx2,fma")))
static inline void row_avx2(const void *gates, int64_t gate_step, const float *c_prev, float *c_out, void *h_out,
                            void *h_next, int bf16, int64_t inner)
{
    int64_t j = 0;
    for (; j + 8 <= inner; j += 8) {
        const __m256 i = sigmoid8(load8(gates, j, bf16)), o = sigmoid8(load8(gates, 2 * gate_step + j, bf16));
        const __m256 g = tanh8(load8(gates, 3 * gate_step + j, bf16));
        __m256 c = _mm256_mul_ps(i, g);
        if (c_prev)
            c = _mm256_fmadd_ps(sigmoid8(load8(gates, gate_step + j, bf16)), _mm256_loadu_ps(c_prev + j), c);
        _mm256_storeu_ps(c_out + j, c);
        const __m256 h = _mm256_mul_ps(o, tanh8(c));
        store8(h_out, j, h, bf16);
        if (h_next)
            store8(h_next, j, h, bf16);
    }
    if (j < inner)
        row_scalar(gates, gate_step, c_prev, c_out, h_out, h_next, bf16, j, inner);
}
#endif

typedef void (*Row)(const void *, int64_t, const float *, float *, void *, void *, int, int64_t);

static void row_plain(const void *gates, int64_t gate_step, const float *c_prev, float *c_out, void *h_out,
                      void *h_next, int bf16, int64_t inner)
{
    row_scalar(gates, gate_step, c_prev, c_out, h_out, h_next, bf16, 0, inner);
}

/* What a range of rows shares, and where each row's values are. */
typedef struct {
    const void *gates;
    int64_t gate_step, outer2, inner, size;
    const int64_t *gate_strides, *state_strides, *h_strides, *next_strides;
    const float *c_prev;
    float *c_out;
    void *h_out, *h_next;
    int bf16;
} Cell;

/* Rows row_begin..row_end through ``row``. Inlined into each instruction set's caller with ``row`` a
 * constant, so that a row of NHWC's few channels (8 at the top level: one vector) costs no call through a
 * pointer and no division to find its place (at 640x352 those were half the kernel's time). */
/* rows ahead whose gates and cell state are asked for before they are read: in NHWC a row is one px (at the
 * top level 8 channels, one 64-byte line of bf16 gates), and the hardware's prefetch did not keep up: a
 * step at 640x352 took 12-13 ms, 7.0 with these (the same values; float32 gates 7.6 -> 5.9) */
enum { AHEAD = 16 };

static inline __attribute__((always_inline)) void cell_rows(const Cell *k, Row row, int64_t row_begin, int64_t row_end)
{
    int64_t o1 = row_begin / k->outer2, o2 = row_begin % k->outer2;
    for (int64_t r = row_begin; r < row_end; r++) {
        const int64_t g = o1 * k->gate_strides[0] + o2 * k->gate_strides[1];
        const int64_t s = o1 * k->state_strides[0] + o2 * k->state_strides[1];
        char *h = (char *)k->h_out + (o1 * k->h_strides[0] + o2 * k->h_strides[1]) * k->size;
        char *next = k->h_next ? (char *)k->h_next + (o1 * k->next_strides[0] + o2 * k->next_strides[1]) * k->size : NULL;
        __builtin_prefetch((const char *)k->gates + (g + AHEAD * k->gate_strides[1]) * k->size);
        if (k->c_prev)
            __builtin_prefetch(k->c_prev + s + AHEAD * k->state_strides[1]);
        row((const char *)k->gates + g * k->size, k->gate_step, k->c_prev ? k->c_prev + s : NULL, k->c_out + s, h,
            next, k->bf16, k->inner);
        if (++o2 == k->outer2) {
            o2 = 0;
            o1++;
        }
    }
}

static void rows_plain(const Cell *k, int64_t row_begin, int64_t row_end)
{
    cell_rows(k, row_plain, row_begin, row_end);
}

#ifdef HAVE_AVX2_PATH
__attribute__((target("avx2,fma")))
static void rows_avx2(const Cell *k, int64_t row_begin, int64_t row_end)
{
    cell_rows(k, row_avx2, row_begin, row_end);
}
#endif

/* Rows row_begin..row_end of the flattened (outer1, outer2): row r = (o1, o2) reads the gates at element
 * o1 * gate_strides[0] + o2 * gate_strides[1] (+ gate * gate_step + j), reads c_prev (NULL on the first step)
 * and writes c at o1 * state_strides[0] + o2 * state_strides[1] + j, and h at o1 * h_strides[0] + o2 *
 * h_strides[1] + j (a step's slot of the layer's output: no stacking of the steps afterwards), for j < inner;
 * where h_next is given, h again at its strides (the channels of the next step's convolution input that
 * follow the input's own: no concatenation). bf16: the gates and h are bf16 (else float32). Returns the
 * instruction set used (2: AVX2, 1: scalar). */
EXPORT int lstm_cell(const void *gates, int32_t bf16, int64_t outer2, const int64_t *gate_strides,
                     int64_t gate_step, const int64_t *state_strides, int64_t inner, const float *c_prev,
                     float *c_out, void *h_out, const int64_t *h_strides, void *h_next, const int64_t *next_strides,
                     int64_t row_begin, int64_t row_end)
{
    const Cell k = {gates, gate_step, outer2, inner, bf16 ? 2 : 4, gate_strides, state_strides, h_strides,
                    next_strides, c_prev, c_out, h_out, h_next, bf16};
#ifdef HAVE_AVX2_PATH
    if (cpu_has_avx2()) {
        rows_avx2(&k, row_begin, row_end);
        return 2;
    }
#endif
    rows_plain(&k, row_begin, row_end);
    return 1;
}
