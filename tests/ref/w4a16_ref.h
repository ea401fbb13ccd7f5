/* Test data and the plain reference for W4A16: logical weights (q, zero,
 * scale, group of each row) drawn at random, encoded into each checkpoint
 * format by encoders written here from the formats' descriptions (never the
 * library's readers), and C = A * W computed in fp64. */
#ifndef TESSERA_TESTS_REF_W4A16_REF_H
#define TESSERA_TESTS_REF_W4A16_REF_H

#include <stddef.h>
#include <stdint.h>

#include "tessera/w4a16.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ref_w4a16 {
    int k, n, group_size, groups; /* group_size resolved (k for per-channel) */
    int asym, act_order;
    tsr_w4a16_format_t format;
    tsr_dtype_t scales_dtype;
    uint8_t *q;        /* [k][n] 0..15 */
    uint8_t *zero;     /* [groups][n] 0..15 (8 when symmetric) */
    uint16_t *scale;   /* [groups][n] bits of scales_dtype */
    int32_t *g_idx;    /* [k] */
    /* the encoded checkpoint tensors */
    void *qweight, *qzeros;
    size_t qweight_bytes, qzeros_bytes, scales_bytes;
} ref_w4a16_t;

/* Draws a weight. group_size may be -1. act_order shuffles rows over groups. */
void ref_w4a16_make(ref_w4a16_t *w, tsr_w4a16_format_t format, int k, int n, int group_size, int asym, int act_order,
                    tsr_dtype_t scales_dtype, uint64_t *rng);
void ref_w4a16_free(ref_w4a16_t *w);
/* A source descriptor pointing at w's host tensors. */
void ref_w4a16_source(const ref_w4a16_t *w, tsr_w4a16_source_t *src);

/* 16-bit float helpers of the reference (own code, RNE). */
double ref_b16_to_double(uint16_t v, tsr_dtype_t dtype);
uint16_t ref_double_to_b16(double v, tsr_dtype_t dtype);

/* C[m][n] in double; a [m][k] bits of dtype; bias [n] or NULL. The scale is
 * first rounded to dtype, as the packed blob stores it. rownorm[m][n] (may be
 * NULL) receives sqrt(sum_k (a*w)^2), the scale of the rounding error. */
void ref_w4a16_gemm(const ref_w4a16_t *w, tsr_dtype_t dtype, int m, const uint16_t *a, const uint16_t *bias,
                    double *c, double *rownorm);

#ifdef __cplusplus
}
#endif
#endif
