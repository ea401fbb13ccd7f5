/* The W4A16 reference: see w4a16_ref.h. Deliberately plain. */
#include "w4a16_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double ref_b16_to_double(uint16_t v, tsr_dtype_t dtype)
{
    if (dtype == TSR_DTYPE_BF16) {
        uint32_t u = (uint32_t)v << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    int sign = v >> 15, e = (v >> 10) & 31, m = v & 1023;
    double x;
    if (e == 31) x = m ? NAN : INFINITY;
    else if (e == 0) x = ldexp(m, -24);
    else x = ldexp(1024 + m, e - 25);
    return sign ? -x : x;
}

/* Rounds to nearest even by searching the neighbours: slow, obviously right. */
uint16_t ref_double_to_b16(double v, tsr_dtype_t dtype)
{
    if (isnan(v)) return dtype == TSR_DTYPE_BF16 ? 0x7fc0 : 0x7e00;
    uint16_t sign = v < 0 ? 0x8000 : 0;
    double a = fabs(v);
    uint16_t lo = 0, hi = dtype == TSR_DTYPE_BF16 ? 0x7f80 : 0x7c00; /* +inf */
    while (hi - lo > 1) {
        uint16_t mid = (uint16_t)((lo + hi) / 2);
        if (ref_b16_to_double(mid, dtype) <= a) lo = mid;
        else hi = mid;
    }
    double dl = a - ref_b16_to_double(lo, dtype), dh = ref_b16_to_double(hi, dtype) - a;
    uint16_t r = dl < dh ? lo : dh < dl ? hi : ((lo & 1) ? hi : lo);
    return (uint16_t)(sign | r);
}

void ref_w4a16_make(ref_w4a16_t *w, tsr_w4a16_format_t format, int k, int n, int group_size, int asym, int act_order,
                    tsr_dtype_t scales_dtype, uint64_t *rng)
{
    memset(w, 0, sizeof *w);
    w->k = k;
    w->n = n;
    w->group_size = group_size == -1 ? k : group_size;
    w->groups = (k + w->group_size - 1) / w->group_size;
    w->asym = asym;
    w->act_order = act_order;
    w->format = format;
    w->scales_dtype = scales_dtype;
    w->q = malloc((size_t)k * n);
    w->zero = malloc((size_t)w->groups * n);
    w->scale = malloc((size_t)w->groups * n * 2);
    w->g_idx = malloc((size_t)k * 4);
    for (size_t i = 0; i < (size_t)k * n; i++) w->q[i] = (uint8_t)(next(rng) & 15);
    for (size_t i = 0; i < (size_t)w->groups * n; i++) {
        w->zero[i] = asym ? (uint8_t)(next(rng) & 15) : 8;
        double s = 0.002 + 0.02 * (double)(next(rng) >> 11) / 9007199254740992.0;
        w->scale[i] = ref_double_to_b16(s, scales_dtype);
    }
    /* rows to groups: in order, or a random shuffle with every group full */
    for (int r = 0; r < k; r++) w->g_idx[r] = r / w->group_size;
    if (act_order)
        for (int r = k - 1; r > 0; r--) {
            int j = (int)(next(rng) % (uint64_t)(r + 1));
            int32_t t = w->g_idx[r];
            w->g_idx[r] = w->g_idx[j];
            w->g_idx[j] = t;
        }
    /* encode */
    if (format == TSR_W4A16_FORMAT_GPTQ) {
        /* qweight int32 [k/8][n]: row k of W in nibble k%8 (low first);
         * qzeros int32 [groups][n/8]: column n in nibble n%8, stored as zero-1 */
        uint32_t *qw = calloc((size_t)k / 8 * n, 4);
        for (int r = 0; r < k; r++)
            for (int c = 0; c < n; c++) qw[(size_t)(r / 8) * n + c] |= (uint32_t)w->q[(size_t)r * n + c] << (4 * (r % 8));
        w->qweight = qw;
        w->qweight_bytes = (size_t)k / 8 * n * 4;
        if (asym) {
            uint32_t *qz = calloc((size_t)w->groups * n / 8, 4);
            for (int g = 0; g < w->groups; g++)
                for (int c = 0; c < n; c++)
                    qz[(size_t)g * (n / 8) + c / 8] |= (uint32_t)((w->zero[(size_t)g * n + c] - 1) & 15) << (4 * (c % 8));
            w->qzeros = qz;
            w->qzeros_bytes = (size_t)w->groups * n / 8 * 4;
        }
    } else if (format == TSR_W4A16_FORMAT_AWQ) {
        /* int32 [k][n/8]; eight columns per word in the order 0,2,4,6,1,3,5,7:
         * nibble slot s holds column order[s] */
        static const int order[8] = {0, 2, 4, 6, 1, 3, 5, 7};
        uint32_t *qw = calloc((size_t)k * n / 8, 4);
        for (int r = 0; r < k; r++)
            for (int c8 = 0; c8 < n / 8; c8++)
                for (int s = 0; s < 8; s++)
                    qw[(size_t)r * (n / 8) + c8] |= (uint32_t)w->q[(size_t)r * n + c8 * 8 + order[s]] << (4 * s);
        w->qweight = qw;
        w->qweight_bytes = (size_t)k * n / 8 * 4;
        if (asym) {
            uint32_t *qz = calloc((size_t)w->groups * n / 8, 4);
            for (int g = 0; g < w->groups; g++)
                for (int c8 = 0; c8 < n / 8; c8++)
                    for (int s = 0; s < 8; s++)
                        qz[(size_t)g * (n / 8) + c8] |= (uint32_t)w->zero[(size_t)g * n + c8 * 8 + order[s]] << (4 * s);
            w->qzeros = qz;
            w->qzeros_bytes = (size_t)w->groups * n / 8 * 4;
        }
    } else {
        uint8_t *qw = calloc((size_t)k * n / 2, 1);
        for (int r = 0; r < k; r++)
            for (int c = 0; c < n; c++) qw[(size_t)r * (n / 2) + c / 2] |= (uint8_t)(w->q[(size_t)r * n + c] << (4 * (c % 2)));
        w->qweight = qw;
        w->qweight_bytes = (size_t)k * n / 2;
        if (asym) {
            uint8_t *qz = malloc((size_t)w->groups * n);
            memcpy(qz, w->zero, (size_t)w->groups * n);
            w->qzeros = qz;
            w->qzeros_bytes = (size_t)w->groups * n;
        }
    }
    w->scales_bytes = (size_t)w->groups * n * 2;
}

void ref_w4a16_free(ref_w4a16_t *w)
{
    free(w->q);
    free(w->zero);
    free(w->scale);
    free(w->g_idx);
    free(w->qweight);
    free(w->qzeros);
    memset(w, 0, sizeof *w);
}

void ref_w4a16_source(const ref_w4a16_t *w, tsr_w4a16_source_t *src)
{
    tsr_w4a16_source_init(src);
    src->format = w->format;
    src->k = w->k;
    src->n = w->n;
    src->group_size = w->group_size == w->k ? -1 : w->group_size;
    src->qweight = w->qweight;
    src->scales = w->scale;
    src->scales_dtype = w->scales_dtype;
    src->qzeros = w->qzeros;
    src->g_idx = w->act_order ? w->g_idx : NULL;
    src->gptq_zeros_minus_one = 1;
}

void ref_w4a16_gemm(const ref_w4a16_t *w, tsr_dtype_t dtype, int m, const uint16_t *a, const uint16_t *bias,
                    double *c, double *rownorm)
{
    int k = w->k, n = w->n;
    double *wd = malloc((size_t)k * n * sizeof *wd);
    for (int r = 0; r < k; r++)
        for (int col = 0; col < n; col++) {
            size_t gi = (size_t)w->g_idx[r] * n + col;
            double s = ref_b16_to_double(w->scale[gi], w->scales_dtype);
            s = ref_b16_to_double(ref_double_to_b16(s, dtype), dtype);
            wd[(size_t)r * n + col] = ((int)w->q[(size_t)r * n + col] - (int)w->zero[gi]) * s;
        }
    for (int i = 0; i < m; i++)
        for (int col = 0; col < n; col++) {
            double acc = bias ? ref_b16_to_double(bias[col], dtype) : 0, sq = 0;
            for (int r = 0; r < k; r++) {
                double p = ref_b16_to_double(a[(size_t)i * k + r], dtype) * wd[(size_t)r * n + col];
                acc += p;
                sq += p * p;
            }
            c[(size_t)i * n + col] = acc;
            if (rownorm) rownorm[(size_t)i * n + col] = sqrt(sq);
        }
    free(wd);
}
