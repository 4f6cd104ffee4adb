/* The motion search's inner steps on the CPU. First, fused: for each pixel p of K candidate fields v,
 * the two frames read bilinearly along the trajectory through p (a at p - t v, b at p + (1 - t) v, coordinates
 * clamped to the frame as grid_sample's border padding does) and their absolute difference summed over
 * the planes. kernels.py calls it (the GIL released, rows split between threads) and keeps the torch
 * reference that a GPU runs; tests/test_kernels.py holds the two to float rounding.
 *
 * Why: in torch the same step is a grid per candidate, two grid_sample reads of every plane, a
 * difference, its absolute value and a sum, each a pass over memory; at 640x360 it was two thirds of the
 * motion search's time. Here nothing is written but the sum. With AVX2 and FMA (chosen at run time), 8
 * pixels at a time by gathers; otherwise one at a time. Second, the block means of such sums (box.py): in
 * torch the running sums of shifted slices, a row's then a column's, are a pass over memory per slice,
 * and on the full search's hundreds of small planes they took more than half its time. Third, each
 * pixel's cheapest candidate: torch's min across the candidates (not the last dimension) took 2 ns an
 * element. Fourth, the steps whose candidates are fixed offsets from a start (the refinement, the full
 * search) whole: see offset_search. Plain C with no Python API in the work itself:
 * the module exists only so that setuptools builds and installs it beside the package.
 */
#define Py_LIMITED_API 0x030C0000
#include <Python.h>

#include "kernels.h"

#define SEGMENT 1024   /* px of a row whose vectors are gathered at a time where a field is not contiguous */

typedef struct {
    const float *a, *b;          /* (channels, height, width) each, contiguous: one sample's planes */
    int32_t channels, height, width;
    float ta, tb;                /* -t and 1 - t */
} Pair;

static inline float clamp_to(float x, float hi) { return x > 0.f ? (x < hi ? x : hi) : 0.f; }

static inline float read_scalar(const float *p, int32_t at, int32_t dx, int32_t dy, float fx, float fy)
{
    const float top = p[at] + fx * (p[at + dx] - p[at]);
    const float bottom = p[at + dy] + fx * (p[at + dy + dx] - p[at + dy]);
    return top + fy * (bottom - top);
}

static void segment_scalar(const Pair *s, int32_t y, int32_t x0, int32_t x1, const float *vx, const float *vy,
                           float *out)
{
    const int32_t width = s->width, height = s->height, plane = width * height;
    const float hx = (float)(width - 1), hy = (float)(height - 1);
    for (int32_t x = x0; x < x1; x++) {
        const float mx = vx[x - x0], my = vy[x - x0];
        const float ax = clamp_to((float)x + s->ta * mx, hx), ay = clamp_to((float)y + s->ta * my, hy);
        const float bx = clamp_to((float)x + s->tb * mx, hx), by = clamp_to((float)y + s->tb * my, hy);
        const int32_t ax0 = (int32_t)ax, ay0 = (int32_t)ay, bx0 = (int32_t)bx, by0 = (int32_t)by;
        const int32_t adx = ax0 < width - 1, ady = ay0 < height - 1 ? width : 0;
        const int32_t bdx = bx0 < width - 1, bdy = by0 < height - 1 ? width : 0;
        const int32_t ia = ay0 * width + ax0, ib = by0 * width + bx0;
        float sum = 0.f;
        for (int32_t c = 0; c < s->channels; c++) {
            const float ra = read_scalar(s->a + c * plane, ia, adx, ady, ax - (float)ax0, ay - (float)ay0);
            const float rb = read_scalar(s->b + c * plane, ib, bdx, bdy, bx - (float)bx0, by - (float)by0);
            sum += fabsf(ra - rb);
        }
        out[x - x0] = sum;
    }
}

#ifdef HAVE_AVX2_PATH
__attribute__((target("avx2,fma")))
static inline __m256 read8(const float *p, __m256i at, __m256i dx, __m256i dy, __m256 fx, __m256 fy)
{
    const __m256 v00 = _mm256_i32gather_ps(p, at, 4), v01 = _mm256_i32gather_ps(p, _mm256_add_epi32(at, dx), 4);
    const __m256i below = _mm256_add_epi32(at, dy);
    const __m256 v10 = _mm256_i32gather_ps(p, below, 4), v11 = _mm256_i32gather_ps(p, _mm256_add_epi32(below, dx), 4);
    const __m256 top = _mm256_fmadd_ps(fx, _mm256_sub_ps(v01, v00), v00);
    const __m256 bottom = _mm256_fmadd_ps(fx, _mm256_sub_ps(v11, v10), v10);
    return _mm256_fmadd_ps(fy, _mm256_sub_ps(bottom, top), top);
}

/* where one side of a frame's trajectory lands: whole px (clamped as above), the step to the next column
 * and row (0 on the last one, whose weight is then 0), and the fractions; ``run``: the 8 lanes land on 8
 * neighbouring px of a row, none on the last column or row (a vector the same or nearly so across the 8,
 * as every candidate of the full search is and most of a smooth field), where four loads read what
 * eight-wide gathers would: the same values, at a fraction of the gathers' cost */
typedef struct { __m256i at, dx, dy; __m256 fx, fy; int run; } Landing;

__attribute__((target("avx2,fma")))
static inline Landing land8(__m256 x, __m256 y, __m256 hx, __m256 hy, int32_t width)
{
    const __m256 zero = _mm256_setzero_ps();
    x = _mm256_min_ps(_mm256_max_ps(x, zero), hx);
    y = _mm256_min_ps(_mm256_max_ps(y, zero), hy);
    const __m256i x0 = _mm256_cvttps_epi32(x), y0 = _mm256_cvttps_epi32(y);
    Landing l;
    l.fx = _mm256_sub_ps(x, _mm256_cvtepi32_ps(x0));
    l.fy = _mm256_sub_ps(y, _mm256_cvtepi32_ps(y0));
    l.dx = _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_cvttps_epi32(hx), x0), _mm256_set1_epi32(1));
    l.dy = _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_cvttps_epi32(hy), y0), _mm256_set1_epi32(width));
    l.at = _mm256_add_epi32(_mm256_mullo_epi32(y0, _mm256_set1_epi32(width)), x0);
    const __m256i first = _mm256_sub_epi32(l.at, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256i same = _mm256_and_si256(
        _mm256_cmpeq_epi32(first, _mm256_permutevar8x32_epi32(first, _mm256_setzero_si256())),
        _mm256_and_si256(_mm256_cmpeq_epi32(l.dx, _mm256_set1_epi32(1)), _mm256_cmpeq_epi32(l.dy, _mm256_set1_epi32(width))));
    l.run = _mm256_movemask_epi8(same) == -1;
    return l;
}

__attribute__((target("avx2,fma")))
static inline __m256 read_landing(const float *p, const Landing *l, int32_t width)
{
    if (!l->run)
        return read8(p, l->at, l->dx, l->dy, l->fx, l->fy);
    const float *q = p + _mm256_cvtsi256_si32(l->at);
    const __m256 v00 = _mm256_loadu_ps(q), v01 = _mm256_loadu_ps(q + 1);
    const __m256 v10 = _mm256_loadu_ps(q + width), v11 = _mm256_loadu_ps(q + width + 1);
    const __m256 top = _mm256_fmadd_ps(l->fx, _mm256_sub_ps(v01, v00), v00);
    const __m256 bottom = _mm256_fmadd_ps(l->fx, _mm256_sub_ps(v11, v10), v10);
    return _mm256_fmadd_ps(l->fy, _mm256_sub_ps(bottom, top), top);
}

__attribute__((target("avx2,fma")))
static void segment_avx2(const Pair *s, int32_t y, int32_t x0, int32_t x1, const float *vx, const float *vy,
                         float *out)
{
    const int32_t width = s->width, plane = width * s->height;
    const __m256 hx = _mm256_set1_ps((float)(width - 1)), hy = _mm256_set1_ps((float)(s->height - 1));
    const __m256 ta = _mm256_set1_ps(s->ta), tb = _mm256_set1_ps(s->tb), row = _mm256_set1_ps((float)y);
    const __m256 lanes = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7), magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    int32_t x = x0;
    for (; x + 8 <= x1; x += 8) {
        const __m256 mx = _mm256_loadu_ps(vx + (x - x0)), my = _mm256_loadu_ps(vy + (x - x0));
        const __m256 column = _mm256_add_ps(_mm256_set1_ps((float)x), lanes);
        const Landing la = land8(_mm256_fmadd_ps(ta, mx, column), _mm256_fmadd_ps(ta, my, row), hx, hy, width);
        const Landing lb = land8(_mm256_fmadd_ps(tb, mx, column), _mm256_fmadd_ps(tb, my, row), hx, hy, width);
        __m256 sum = _mm256_setzero_ps();
        for (int32_t c = 0; c < s->channels; c++) {
            const __m256 ra = read_landing(s->a + c * plane, &la, width);
            const __m256 rb = read_landing(s->b + c * plane, &lb, width);
            sum = _mm256_add_ps(sum, _mm256_and_ps(magnitude, _mm256_sub_ps(ra, rb)));
        }
        _mm256_storeu_ps(out + (x - x0), sum);
    }
    if (x < x1)
        segment_scalar(s, y, x, x1, vx + (x - x0), vy + (x - x0), out + (x - x0));
}
#endif

typedef void (*Segment)(const Pair *, int32_t, int32_t, int32_t, const float *, const float *, float *);

static Segment choose_segment(void)
{
#ifdef HAVE_AVX2_PATH
    if (cpu_has_avx2())
        return segment_avx2;
#endif
    return segment_scalar;
}

/* Rows row_begin..row_end of the flattened (batch, K, height) output (batch, K, height, width), float32
 * contiguous. a, b: (batch, channels, height, width) contiguous. v: (batch, K, 2, height, width) at any
 * element strides vs (0 where expanded). times: t per sample. Returns the instruction set used (2: AVX2,
 * 1: scalar), so the caller can say which ran. */
EXPORT int bilinear_mismatch(const float *a, const float *b, int64_t channels, int64_t height, int64_t width,
                             const float *v, const int64_t *vs, int64_t candidates, const float *times,
                             float *out, int64_t row_begin, int64_t row_end)
{
    const Segment segment = choose_segment();   /* a few loads: asked on every call, nothing shared */
    const int64_t image = channels * height * width;
    float gathered[2][SEGMENT];
    for (int64_t r = row_begin; r < row_end; r++) {
        const int64_t y = r % height, sample_k = r / height, k = sample_k % candidates, n = sample_k / candidates;
        const Pair s = {a + n * image, b + n * image, (int32_t)channels, (int32_t)height, (int32_t)width,
                        -times[n], 1.f - times[n]};
        const float *vx = v + n * vs[0] + k * vs[1] + y * vs[3], *vy = vx + vs[2];
        float *line = out + r * width;
        if (vs[4] == 1) {
            segment(&s, (int32_t)y, 0, (int32_t)width, vx, vy, line);
            continue;
        }
        for (int64_t x0 = 0; x0 < width; x0 += SEGMENT) {
            const int64_t x1 = x0 + SEGMENT < width ? x0 + SEGMENT : width;
            for (int64_t x = x0; x < x1; x++) {
                gathered[0][x - x0] = vx[x * vs[4]];
                gathered[1][x - x0] = vy[x * vs[4]];
            }
            segment(&s, (int32_t)y, (int32_t)x0, (int32_t)x1, gathered[0], gathered[1], line + x0);
        }
    }
    return segment == segment_scalar ? 1 : 2;
}

/* line[i]: the sum of in[i - r .. i + r] inside the row (block_mean's first pass) */
WIDE_LOOPS static void sum_along_x(const float *in, float *line, int64_t width, int64_t r)
{
    for (int64_t i = 0; i < width; i++) line[i] = in[i];
    for (int64_t d = 1; d <= r && d < width; d++) {
        for (int64_t i = d; i < width; i++) line[i] += in[i - d];
        for (int64_t i = 0; i < width - d; i++) line[i] += in[i + d];
    }
}

/* row y's window means from the row sums of rows from.. (across, one row of width each): rows y - r .. y + r
 * inside the frame summed, then divided by the pixels counted */
WIDE_LOOPS static void mean_along_y(const float *across, int64_t from, int64_t y, int64_t height, int64_t width, int64_t r,
                         const float *inverse_x, float *o)
{
    const int64_t lo = y - r > 0 ? y - r : 0, hi = y + r < height - 1 ? y + r : height - 1;
    const float *first = across + (lo - from) * width;
    for (int64_t i = 0; i < width; i++) o[i] = first[i];
    for (int64_t k = lo + 1; k <= hi; k++) {
        const float *line = across + (k - from) * width;
        for (int64_t i = 0; i < width; i++) o[i] += line[i];
    }
    const float inverse_y = 1.f / (float)(hi - lo + 1);
    for (int64_t i = 0; i < width; i++) o[i] *= inverse_x[i] * inverse_y;
}

/* 1 / the pixels a window of radius r counts along x at each column */
static void window_counts(float *inverse_x, int64_t width, int64_t r)
{
    for (int64_t i = 0; i < width; i++)
        inverse_x[i] = 1.f / (float)((i + r < width - 1 ? i + r : width - 1) - (i - r > 0 ? i - r : 0) + 1);
}

/* A row's costs of candidate k (its window means ``mean``, its vectors start + (dx, dy), motion counted
 * from origin where given), each kept with k where it is below the best so far (the first candidate
 * always; a NaN where the best is not one, as torch's min orders NaN first). */
WIDE_LOOPS static void keep_cheaper(const float *mean, const float *f, const float *sx, const float *sy, const float *ox,
                                    const float *oy, float dx, float dy, float prior, float floor_weight, int32_t k,
                                    int64_t width, float *bc, int32_t *bw)
{
    for (int64_t i = 0; i < width; i++) {
        float mx = sx[i] + dx, my = sy[i] + dy;
        if (ox) {
            mx -= ox[i];
            my -= oy[i];
        }
        const float motion = fabsf(mx) + fabsf(my);
        const float cost = mean[i] * (1.f + prior * motion) + f[i] * floor_weight * motion;
        const int take = k == 0 || cost < bc[i] || (cost != cost && bc[i] == bc[i]);
        bc[i] = take ? cost : bc[i];
        bw[i] = take ? k : bw[i];
    }
}

/* Rows row_begin..row_end of the flattened (planes, height) output: each pixel's mean over the side x side
 * window around it, of the pixels inside the frame (fewer at the edges), x and out (planes, height, width)
 * float32 contiguous. Each call sums its own rows' neighbours along x again (up to side - 1 rows beyond
 * its range), so calls on different rows share nothing. */
EXPORT void block_mean(const float *x, float *out, int64_t height, int64_t width, int64_t side,
                       int64_t row_begin, int64_t row_end)
{
    const int64_t r = side / 2;
    float *across = malloc(sizeof(float) * (size_t)width * (size_t)(row_end - row_begin + 2 * r));
    float *inverse_x = malloc(sizeof(float) * (size_t)width);
    if (!across || !inverse_x) {   /* out of memory: the caller sees NaN (never silently plausible) */
        for (int64_t i = row_begin * width; i < row_end * width; i++) out[i] = NAN;
        free(across);
        free(inverse_x);
        return;
    }
    window_counts(inverse_x, width, r);
    for (int64_t r0 = row_begin; r0 < row_end;) {
        const int64_t plane = r0 / height, y0 = r0 % height;
        const int64_t y1 = (plane + 1) * height < row_end ? height : row_end - plane * height;
        const int64_t from = y0 - r > 0 ? y0 - r : 0, to = y1 + r < height ? y1 + r : height;
        const float *src = x + plane * height * width;
        for (int64_t y = from; y < to; y++)        /* sums along x of the rows this part reads */
            sum_along_x(src + y * width, across + (y - from) * width, width, r);
        for (int64_t y = y0; y < y1; y++)          /* then along y, and the counts */
            mean_along_y(across, from, y, height, width, r, inverse_x, out + (plane * height + y) * width);
        r0 = plane * height + y1;
    }
    free(across);
    free(inverse_x);
}

/* A row's sums along x over 2r + 1 px with the row's ends replicated, added as box.py's slices add them
 * (the px itself, then the ones 1 px left and right, 2 px, ...): the same float sums. padded: width + 2r. */
WIDE_LOOPS static void replicated_sum_along_x(const float *in, float *padded, float *line, int64_t width, int64_t r)
{
    for (int64_t i = 0; i < r; i++) {
        padded[i] = in[0];
        padded[r + width + i] = in[width - 1];
    }
    memcpy(padded + r, in, sizeof(float) * (size_t)width);
    for (int64_t i = 0; i < width; i++) line[i] = padded[r + i];
    for (int64_t d = 1; d <= r; d++) {
        for (int64_t i = 0; i < width; i++) line[i] += padded[r + i - d];
        for (int64_t i = 0; i < width; i++) line[i] += padded[r + i + d];
    }
}

/* row y's box sums from the row sums of rows from.. (across), rows beyond the frame's edges replicated, in
 * the slices' order again, times scale */
WIDE_LOOPS static void replicated_mean_along_y(const float *across, int64_t from, int64_t y, int64_t height,
                                               int64_t width, int64_t r, float scale, float *o)
{
    const float *mid = across + (y - from) * width;
    for (int64_t i = 0; i < width; i++) o[i] = mid[i];
    for (int64_t d = 1; d <= r; d++) {
        const int64_t up = y - d > 0 ? y - d : 0, down = y + d < height - 1 ? y + d : height - 1;
        const float *above = across + (up - from) * width, *below = across + (down - from) * width;
        for (int64_t i = 0; i < width; i++) o[i] += above[i];
        for (int64_t i = 0; i < width; i++) o[i] += below[i];
    }
    for (int64_t i = 0; i < width; i++) o[i] *= scale;
}

/* box.py's box_mean: the mean over the side x side window around each pixel with the frame's edges
 * replicated, sums in the order of its torch slices, times the float nearest 1 / side^2 (as torch's
 * multiply by a number does): the same bits. Rows row_begin..row_end of the flattened (planes, height); x and
 * out (planes, height, width) float32 contiguous. */
EXPORT void box_mean(const float *x, float *out, int64_t height, int64_t width, int64_t side, int64_t row_begin,
                     int64_t row_end)
{
    const int64_t r = side / 2;
    const float scale = (float)(1.0 / (double)(side * side));
    float *across = malloc(sizeof(float) * (size_t)width * (size_t)(row_end - row_begin + 2 * r));
    float *padded = malloc(sizeof(float) * (size_t)(width + 2 * r));
    if (!across || !padded) {     /* out of memory: the caller sees NaN (never silently plausible) */
        for (int64_t i = row_begin * width; i < row_end * width; i++) out[i] = NAN;
        free(across);
        free(padded);
        return;
    }
    for (int64_t r0 = row_begin; r0 < row_end;) {
        const int64_t plane = r0 / height, y0 = r0 % height;
        const int64_t y1 = (plane + 1) * height < row_end ? height : row_end - plane * height;
        const int64_t from = y0 - r > 0 ? y0 - r : 0, to = y1 + r < height ? y1 + r : height;
        const float *src = x + plane * height * width;
        for (int64_t y = from; y < to; y++)
            replicated_sum_along_x(src + y * width, padded, across + (y - from) * width, width, r);
        for (int64_t y = y0; y < y1; y++)
            replicated_mean_along_y(across, from, y, height, width, r, scale, out + (plane * height + y) * width);
        r0 = plane * height + y1;
    }
    free(across);
    free(padded);
}

/* motion.py's _search and _full_search in one pass: for each pixel p, the cheapest of the K candidate
 * vectors start(p) + offsets[k], cost = the window mean of their mismatch (bilinear_mismatch's, each pixel
 * of the window with its own start; side x side, or with side2 > 0 the average of that mean and the
 * side2 x side2 one), times 1 + prior * |v - origin|, plus floor(p) * floor_weight * |v - origin| (|.| the
 * sum of both components' magnitudes; origin NULL: zero), ties to the first candidate; written as the
 * vector chosen and its cost. Rows row_begin..row_end of the flattened (batch, height). a, b: (batch,
 * channels, height, width); start, origin, out: (batch, 2, height, width); floor, cost: (batch, height,
 * width); offsets (K, 2); all float32 contiguous. Why: in torch (and with the three kernels above) the K
 * fields, K mismatch planes and their costs are each written out and read back; here a strip of rows at a
 * time, in cache. */
EXPORT int offset_search(const float *a, const float *b, int64_t channels, int64_t height, int64_t width,
                         const float *start, const float *origin, const float *floor_, const float *offsets,
                         int64_t candidates, const float *times, float prior, float floor_weight, int64_t side,
                         int64_t side2, float *out, float *cost_out, int64_t row_begin, int64_t row_end)
{
    enum { STRIP = 32 };      /* rows whose costs are found together (the window's reach recomputed around) */
    const Segment segment = choose_segment();
    const int64_t r1 = side / 2, r2 = side2 > 0 ? side2 / 2 : 0, r = r1 > r2 ? r1 : r2;
    const int64_t plane = height * width, image = channels * plane, held = STRIP + 2 * r;
    float *mismatch = malloc(sizeof(float) * (size_t)(held * width)), *across = malloc(sizeof(float) * (size_t)(held * width));
    float *across2 = malloc(sizeof(float) * (size_t)(held * width)), *mean2 = malloc(sizeof(float) * (size_t)width);
    float *inverse_x2 = malloc(sizeof(float) * (size_t)width);
    float *mean = malloc(sizeof(float) * (size_t)width), *inverse_x = malloc(sizeof(float) * (size_t)width);
    float *vx = malloc(sizeof(float) * (size_t)width), *vy = malloc(sizeof(float) * (size_t)width);
    float *best = malloc(sizeof(float) * (size_t)(STRIP * width));
    int32_t *which = malloc(sizeof(int32_t) * (size_t)(STRIP * width));
    if (!mismatch || !across || !across2 || !mean2 || !inverse_x2 || !mean || !inverse_x || !vx || !vy || !best || !which) {
        for (int64_t row = row_begin; row < row_end; row++) {   /* out of memory: NaN, never plausible */
            const int64_t n = row / height, y = row % height;
            for (int64_t i = 0; i < width; i++)
                out[n * 2 * plane + y * width + i] = out[(n * 2 + 1) * plane + y * width + i] =
                    cost_out[n * plane + y * width + i] = NAN;
        }
    } else {
        window_counts(inverse_x, width, r1);
        window_counts(inverse_x2, width, r2);
        for (int64_t row = row_begin; row < row_end;) {
            const int64_t n = row / height, y0 = row % height;
            int64_t y1 = y0 + STRIP < height ? y0 + STRIP : height;
            if (y1 - y0 > row_end - row) y1 = y0 + (row_end - row);
            const int64_t from = y0 - r > 0 ? y0 - r : 0, to = y1 + r < height ? y1 + r : height;
            const Pair s = {a + n * image, b + n * image, (int32_t)channels, (int32_t)height, (int32_t)width,
                            -times[n], 1.f - times[n]};
            const float *sx = start + n * 2 * plane, *sy = sx + plane;
            const float *ox = origin ? origin + n * 2 * plane : NULL, *oy = origin ? ox + plane : NULL;
            for (int64_t k = 0; k < candidates; k++) {
                const float dx = offsets[2 * k], dy = offsets[2 * k + 1];
                for (int64_t y = from; y < to; y++) {
                    for (int64_t i = 0; i < width; i++) {
                        vx[i] = sx[y * width + i] + dx;
                        vy[i] = sy[y * width + i] + dy;
                    }
                    segment(&s, (int32_t)y, 0, (int32_t)width, vx, vy, mismatch + (y - from) * width);
                    sum_along_x(mismatch + (y - from) * width, across + (y - from) * width, width, r1);
                    if (side2 > 0)
                        sum_along_x(mismatch + (y - from) * width, across2 + (y - from) * width, width, r2);
                }
                for (int64_t y = y0; y < y1; y++) {
                    mean_along_y(across, from, y, height, width, r1, inverse_x, mean);
                    if (side2 > 0) {      /* as motion._block_mean averages the two: a sum, then halved */
                        mean_along_y(across2, from, y, height, width, r2, inverse_x2, mean2);
                        for (int64_t i = 0; i < width; i++) mean[i] = (mean[i] + mean2[i]) / 2.f;
                    }
                    keep_cheaper(mean, floor_ + n * plane + y * width, sx + y * width, sy + y * width,
                                 ox ? ox + y * width : NULL, oy ? oy + y * width : NULL, dx, dy, prior, floor_weight,
                                 (int32_t)k, width, best + (y - y0) * width, which + (y - y0) * width);
                }
            }
            for (int64_t y = y0; y < y1; y++)
                for (int64_t i = 0; i < width; i++) {
                    const int64_t at = y * width + i, k = which[(y - y0) * width + i];
                    out[n * 2 * plane + at] = sx[at] + offsets[2 * k];
                    out[n * 2 * plane + plane + at] = sy[at] + offsets[2 * k + 1];
                    cost_out[n * plane + at] = best[(y - y0) * width + i];
                }
            row = n * height + y1;
        }
    }
    free(mismatch);
    free(across);
    free(across2);
    free(mean2);
    free(inverse_x2);
    free(mean);
    free(inverse_x);
    free(vx);
    free(vy);
    free(best);
    free(which);
    return segment == segment_scalar ? 1 : 2;
}

/* where a bilinear read at (x, y) in px lands, the coordinates clamped to the frame (grid_sample's border
 * padding): found once, then read on each plane (read_scalar's arithmetic) */
typedef struct { int32_t at, dx, dy; float fx, fy; } Tap;

static inline Tap land_clamped(int32_t height, int32_t width, float x, float y)
{
    x = clamp_to(x, (float)(width - 1));
    y = clamp_to(y, (float)(height - 1));
    const int32_t x0 = (int32_t)x, y0 = (int32_t)y;
    const Tap tap = {y0 * width + x0, x0 < width - 1, y0 < height - 1 ? width : 0, x - (float)x0, y - (float)y0};
    return tap;
}

static inline float read_tap(const float *p, const Tap *tap)
{
    return read_scalar(p, tap->at, tap->dx, tap->dy, tap->fx, tap->fy);
}

/* motion.py's _seen_mismatch before its block means. For each pixel of K candidate fields v over a part of
 * the frame (h x w px whose top left pixel is (y0, x0) of the frame's height x width), the four frames read
 * at p + steps[i] v (i = 0..3: I1..I4); a read is seen where it lies at most half a px outside the frame.
 * The pair judged is I2 and I3, or where I2's read is seen with I1's and I3's is not, I1 and I2, or where
 * I3's is seen with I4's and I2's is not, I3 and I4: mismatch = the sum over the first C planes of
 * |first - second|, detail = the first's last plane (the planes' detail, motion._detail), leaves = 1 where
 * I2's or I3's read is not seen. Rows row_begin..row_end of the flattened (batch, K, h). frames: (batch, 4,
 * C + 1, height, width); v: (batch, K, 2, h, w); steps: (batch, 4); mismatch, detail: (batch, K, h, w) float;
 * leaves: the same in bytes; all contiguous. Why: in torch, four grid_sample reads of all four frames'
 * planes, the seen masks, two selections, the difference and its sum were written out each, over thin
 * bands: 30-33 ms a pass at 640x360 for what this reads once. */
EXPORT void seen_mismatch(const float *frames, int64_t planes, int64_t height, int64_t width, const float *v,
                          int64_t candidates, int64_t h, int64_t w, int64_t y0, int64_t x0, const float *steps,
                          float *mismatch, float *detail, uint8_t *leaves, int64_t row_begin, int64_t row_end)
{
    const int64_t plane = height * width, image = planes * plane;
    const float hx = (float)(width - 1), hy = (float)(height - 1);
    for (int64_t r = row_begin; r < row_end; r++) {
        const int64_t y = r % h, nk = r / h, n = nk / candidates;
        const float *vx = v + nk * 2 * h * w + y * w, *vy = vx + h * w;
        const float *s = steps + 4 * n, *window = frames + n * 4 * image;
        const float py = (float)(y0 + y);
        float *m = mismatch + r * w, *d = detail + r * w;
        uint8_t *l = leaves + r * w;
        for (int64_t i = 0; i < w; i++) {
            const float px = (float)(x0 + i), mx = vx[i], my = vy[i];
            float xs[4], ys[4];
            int seen[4];
            for (int k = 0; k < 4; k++) {
                xs[k] = px + s[k] * mx;
                ys[k] = py + s[k] * my;
                const float in_x = fminf(xs[k], hx - xs[k]), in_y = fminf(ys[k], hy - ys[k]);
                seen[k] = fminf(in_x, in_y) > -0.5f;
            }
            const int left = seen[1] && seen[0] && !seen[2], right = seen[2] && seen[3] && !seen[1];
            const int f = left ? 0 : right ? 2 : 1, g = left ? 1 : right ? 3 : 2;
            const float *first = window + f * image, *second = window + g * image;
            const Tap tf = land_clamped((int32_t)height, (int32_t)width, xs[f], ys[f]);
            const Tap tg = land_clamped((int32_t)height, (int32_t)width, xs[g], ys[g]);
            float sum = 0.f;
            for (int64_t c = 0; c + 1 < planes; c++)
                sum += fabsf(read_tap(first + c * plane, &tf) - read_tap(second + c * plane, &tg));
            m[i] = sum;
            d[i] = read_tap(first + (planes - 1) * plane, &tf);
            l[i] = !(seen[1] && seen[2]);
        }
    }
}

/* best and which where candidate j's costs cj are smaller (a NaN smaller than any number) */
WIDE_LOOPS static void keep_smaller(const float *cj, int32_t j, int64_t count, float *best, int32_t *which)
{
    for (int64_t i = 0; i < count; i++) {
        const float x = cj[i], b = best[i];
        const int take = (x < b) | ((x != x) & (b == b));
        best[i] = take ? x : b;
        which[i] = take ? j : which[i];
    }
}

/* Pixels px_begin..px_end of the flattened (batch, height * width): over the K candidates of cost (batch, K,
 * height * width) float32 contiguous, the smallest value and its first index, as torch's min(1) gives
 * them (a NaN counts as the smallest, the first NaN wins). */
EXPORT void min_over_candidates(const float *cost, int64_t candidates, int64_t plane, float *value, int64_t *index,
                                int64_t px_begin, int64_t px_end)
{
    enum { RUN = 256 };    /* px kept in registers' reach at a time, all candidates over them: vectorised */
    float best[RUN];
    int32_t which[RUN];
    for (int64_t p = px_begin; p < px_end;) {
        const int64_t n = p / plane, first = p % plane;
        const int64_t last = (n + 1) * plane < px_end ? plane : px_end - n * plane;
        const int64_t count = last - first < RUN ? last - first : RUN;
        const float *c = cost + n * candidates * plane + first;
        for (int64_t i = 0; i < count; i++) {
            best[i] = c[i];
            which[i] = 0;
        }
        for (int32_t j = 1; j < candidates; j++)
            keep_smaller(c + j * plane, j, count, best, which);
        for (int64_t i = 0; i < count; i++) {
            value[n * plane + first + i] = best[i];
            index[n * plane + first + i] = which[i];
        }
        p = n * plane + first + count;
    }
}

/* d += |p(x + 1) - p(x)| + |p(y + 1) - p(y)| along a row (0 past the last column, or row: below NULL) */
WIDE_LOOPS static void add_detail(const float *p, const float *below, int64_t width, float *d)
{
    for (int64_t i = 0; i + 1 < width; i++)
        d[i] += fabsf(p[i + 1] - p[i]) + (below ? fabsf(below[i] - p[i]) : 0.f);
    if (width > 0)
        d[width - 1] += 0.f + (below ? fabsf(below[width - 1] - p[width - 1]) : 0.f);
}

/* motion.py's _detail: planes (N, C, H, W) copied into out (N, C + 1, H, W) and after them half the sum
 * over the planes of |p(x + 1) - p(x)| + |p(y + 1) - p(y)| (0 past the last column or row), summed plane by
 * plane as torch's sum over that dimension does. Rows row_begin..row_end of the flattened (N, H). Why: in
 * torch two differences, two pads, their sum, a sum over the planes and a concatenation, each a pass over
 * four frames' planes: 25 ms of the motion stage at 640x360 on one thread. */
EXPORT void detail_planes(const float *planes, float *out, int64_t channels, int64_t height, int64_t width,
                          int64_t row_begin, int64_t row_end)
{
    const int64_t plane = height * width;
    for (int64_t row = row_begin; row < row_end; row++) {
        const int64_t n = row / height, y = row % height;
        float *d = out + (n * (channels + 1) + channels) * plane + y * width;
        for (int64_t i = 0; i < width; i++)
            d[i] = 0.f;
        for (int64_t c = 0; c < channels; c++) {
            const float *p = planes + (n * channels + c) * plane + y * width;
            const float *below = y + 1 < height ? p + width : NULL;
            memcpy(out + (n * (channels + 1) + c) * plane + y * width, p, sizeof(float) * (size_t)width);
            add_detail(p, below, width, d);
        }
        for (int64_t i = 0; i < width; i++)
            d[i] *= 0.5f;
    }
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, .m_name = "_kernels", .m_size = -1};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
