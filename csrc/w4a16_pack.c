/* W4A16 host packing: checkpoint tensors (GPTQ, AWQ, plain int4) into the
 * tessera blob, and back. Where each value goes is defined once, in
 * w4a16_format.h; this file only reads sources and walks that definition. */
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "internal.h"
#include "tessera/w4a16.h"
#include "w4a16_format.h"
#include "w4a16_internal.h"

static size_t align256(size_t x) { return (x + 255) / 256 * 256; }

tsr_status_t tsr_w4a16_layout_impl(int k, int n, int group_size, tsr_dtype_t dtype, int has_zeros, int act_order,
                                   tsr_w4a16_layout_t *l)
{
    const char *fn = "tsr_w4a16_layout";
    TSR_CHECK_PTR(fn, l);
    if (k <= 0 || k % 32)
        return tsr_fail(TSR_STATUS_UNSUPPORTED_SHAPE, "%s: k=%d must be a positive multiple of 32", fn, k);
    if (n <= 0 || n % 8)
        return tsr_fail(TSR_STATUS_UNSUPPORTED_SHAPE, "%s: n=%d must be a positive multiple of 8", fn, n);
    if (group_size == -1) group_size = k;
    if (!(group_size == 32 || group_size == k || (group_size > 0 && group_size % 64 == 0)))
        return tsr_fail(TSR_STATUS_UNSUPPORTED_SHAPE,
                        "%s: group_size=%d must be 32, a multiple of 64, k=%d or -1 (per-channel)", fn, group_size, k);
    if (dtype != TSR_DTYPE_F16 && dtype != TSR_DTYPE_BF16)
        return tsr_fail(TSR_STATUS_UNSUPPORTED_DTYPE, "%s: dtype=%s must be f16 or bf16", fn, tsr_dtype_name(dtype));
    memset(l, 0, sizeof *l);
    l->k = k;
    l->n = n;
    l->group_size = group_size;
    l->k_padded = (k + TSR_W4A16_TILE_K - 1) / TSR_W4A16_TILE_K * TSR_W4A16_TILE_K;
    l->n_padded = (n + TSR_W4A16_TILE_N - 1) / TSR_W4A16_TILE_N * TSR_W4A16_TILE_N;
    /* per-channel keeps one group even where k was padded */
    l->groups = group_size == k ? 1 : (l->k_padded + group_size - 1) / group_size;
    l->dtype = dtype;
    l->has_zeros = has_zeros != 0;
    l->act_order = act_order != 0;
    size_t off = 0;
    l->qweight_offset = off;
    l->qweight_bytes = (size_t)l->k_padded * l->n_padded / 2;
    off = align256(off + l->qweight_bytes);
    l->scales_offset = off;
    l->scales_bytes = (size_t)l->groups * l->n_padded * 2;
    off = align256(off + l->scales_bytes);
    l->zeros_offset = off;
    l->zeros_bytes = l->has_zeros ? (size_t)l->groups * l->n_padded / 2 : 0;
    off = align256(off + l->zeros_bytes);
    l->perm_offset = off;
    l->perm_bytes = l->act_order ? (size_t)l->k_padded * 4 : 0;
    off = align256(off + l->perm_bytes);
    l->total_bytes = off;
    return TSR_STATUS_SUCCESS;
}

tsr_status_t tsr_w4a16_layout(int k, int n, int group_size, tsr_dtype_t dtype, int has_zeros, int act_order,
                              tsr_w4a16_layout_t *layout)
{
    tsr_clear_error();
    return tsr_w4a16_layout_impl(k, n, group_size, dtype, has_zeros, act_order, layout);
}

/* The group of a packed row: rows are grouped contiguously after act-order. */
static int group_of(const tsr_w4a16_layout_t *l, int row) { return l->group_size == l->k ? 0 : row / l->group_size; }

tsr_status_t tsr_w4a16_check_source(const char *fn, const tsr_w4a16_source_t *s, const tsr_w4a16_layout_t *l)
{
    TSR_CHECK_PTR(fn, s);
    TSR_CHECK_PTR(fn, l);
    if (s->size != sizeof *s)
        return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: src->size=%zu must be sizeof(tsr_w4a16_source_t)=%zu (call tsr_w4a16_source_init)",
                        fn, s->size, sizeof *s);
    if (s->format != TSR_W4A16_FORMAT_GPTQ && s->format != TSR_W4A16_FORMAT_AWQ && s->format != TSR_W4A16_FORMAT_PLAIN)
        return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: src->format=%d is not a tsr_w4a16_format_t", fn, (int)s->format);
    if (s->k != l->k || s->n != l->n)
        return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: src is %dx%d but layout is %dx%d", fn, s->k, s->n, l->k, l->n);
    int g = s->group_size == -1 ? s->k : s->group_size;
    if (g != l->group_size)
        return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: src->group_size=%d but layout->group_size=%d", fn, s->group_size,
                        l->group_size);
    if ((s->qzeros != NULL) != l->has_zeros)
        return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: src->qzeros is %s but layout->has_zeros=%d", fn,
                        s->qzeros ? "set" : "NULL", l->has_zeros);
    if ((s->g_idx != NULL) != l->act_order)
        return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: src->g_idx is %s but layout->act_order=%d", fn,
                        s->g_idx ? "set" : "NULL", l->act_order);
    if (s->g_idx && s->format != TSR_W4A16_FORMAT_GPTQ)
        return tsr_fail(TSR_STATUS_NOT_SUPPORTED, "%s: g_idx (act-order) is a GPTQ feature; src->format=%d", fn, (int)s->format);
    if (s->scales_dtype != TSR_DTYPE_F16 && s->scales_dtype != TSR_DTYPE_BF16)
        return tsr_fail(TSR_STATUS_UNSUPPORTED_DTYPE, "%s: src->scales_dtype=%s must be f16 or bf16", fn,
                        tsr_dtype_name(s->scales_dtype));
    TSR_CHECK_PTR(fn, s->qweight);
    TSR_CHECK_PTR(fn, s->scales);
    return TSR_STATUS_SUCCESS;
}

/* Builds perm (k_padded entries) from g_idx: a stable sort of the rows by group.
 * The kernel reads group j/group_size for packed row j, so every group but the
 * last must hold exactly group_size rows. */
tsr_status_t tsr_w4a16_build_perm(const char *fn, const tsr_w4a16_layout_t *l, const int32_t *g_idx, int32_t *perm)
{
    int k = l->k, g = l->group_size, src_groups = (k + g - 1) / g;
    int *count = calloc((size_t)src_groups + 1, sizeof *count);
    if (!count) return tsr_fail(TSR_STATUS_OUT_OF_MEMORY, "%s: allocating act-order counts failed", fn);
    for (int r = 0; r < k; r++) {
        if (g_idx[r] < 0 || g_idx[r] >= src_groups) {
            free(count);
            return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: g_idx[%d]=%d must be in [0, %d)", fn, r, g_idx[r], src_groups);
        }
        count[g_idx[r] + 1]++;
    }
    for (int G = 0; G < src_groups; G++) {
        int want = G + 1 < src_groups ? g : k - g * (src_groups - 1);
        if (count[G + 1] != want) {
            int got = count[G + 1];
            free(count);
            return tsr_fail(TSR_STATUS_UNSUPPORTED_SHAPE, "%s: g_idx puts %d rows in group %d; act-order needs exactly %d (group_size)",
                            fn, got, G, want);
        }
        count[G + 1] += count[G];
    }
    for (int r = 0; r < k; r++) perm[count[g_idx[r]]++] = r;
    for (int r = k; r < l->k_padded; r++) perm[r] = r;
    free(count);
    return TSR_STATUS_SUCCESS;
}

/* ---- reading a source, one element at a time -------------------------------- */
static int src_q(const tsr_w4a16_source_t *s, int k, int n) { return tsr_w4a16_src_q((int)s->format, s->qweight, s->n, k, n); }

static int src_zero(const tsr_w4a16_source_t *s, int G, int n)
{
    return tsr_w4a16_src_zero((int)s->format, s->qzeros, s->n, s->gptq_zeros_minus_one, G, n);
}

static uint16_t src_scale(const tsr_w4a16_source_t *s, int G, int n, tsr_dtype_t want)
{
    uint16_t v = ((const uint16_t *)s->scales)[(size_t)G * s->n + n];
    if (s->scales_dtype == want) return v;
    return want == TSR_DTYPE_BF16 ? tsr_f32_to_bf16(tsr_f16_to_f32(v)) : tsr_f32_to_f16(tsr_bf16_to_f32(v));
}

tsr_status_t tsr_w4a16_pack_host(const tsr_w4a16_source_t *src, const tsr_w4a16_layout_t *l, void *packed)
{
    const char *fn = "tsr_w4a16_pack_host";
    tsr_clear_error();
    tsr_status_t st = tsr_w4a16_check_source(fn, src, l);
    if (st) return st;
    TSR_CHECK_PTR(fn, packed);
    TSR_CHECK_ALIGN(fn, packed, 16);
    unsigned char *out = packed;
    memset(out, 0, l->total_bytes);
    int32_t *perm = l->act_order ? (int32_t *)(out + l->perm_offset) : NULL;
    if (perm && (st = tsr_w4a16_build_perm(fn, l, src->g_idx, perm))) return st;

    /* Column block by column block (128 columns, one n-tile): every row's
     * codes of the block first, read from the source in its own order (a
     * GPTQ word gives 8 rows), plus a zero row for k past the end; then each
     * packed word from them, its nibbles' places read from a table that is
     * the same for every tile (tsr_w4a16_nibble_coord at tile (0, 0)), rows
     * through the act-order permutation. Gathering each nibble through the
     * layout functions from the source ran at 224-297 M weights/s on one core
     * (about 4 minutes for a 70B model, perf/bench_w4a16_pack); unpacking
     * tile rows straight from the source under act-order re-read each GPTQ
     * word for each of its 8 rows. */
    uint32_t *qw = (uint32_t *)(out + l->qweight_offset);
    const int k_tiles = l->k_padded / TSR_W4A16_TILE_K, n_tiles = l->n_padded / TSR_W4A16_TILE_N, N = TSR_W4A16_TILE_N;
    uint16_t(*from)[8] = malloc(sizeof(uint16_t[8]) * TSR_W4A16_TILE_WORDS);
    uint8_t *codes = malloc((size_t)(l->k + 1) * N); /* [k + 1][128]: row k is zeros */
    if (!from || !codes) {
        free(from);
        free(codes);
        return tsr_fail(TSR_STATUS_OUT_OF_MEMORY, "%s: %zu bytes for one column block's codes", fn, (size_t)(l->k + 1) * N);
    }
    for (int w = 0; w < TSR_W4A16_WARPS; w++)
        for (int lane = 0; lane < 32; lane++)
            for (int ks = 0; ks < 4; ks++)
                for (int p = 0; p < 8; p++) {
                    int k, n;
                    tsr_w4a16_nibble_coord(0, 0, w, lane, ks, p, &k, &n);
                    from[tsr_w4a16_word_index(0, 0, 1, w, lane, ks)][p] = (uint16_t)(k * N + n);
                }
    memset(codes + (size_t)l->k * N, 0, (size_t)N);
    for (int nt = 0; nt < n_tiles; nt++) {
        const int n0 = nt * N, cols = l->n - n0 < N ? l->n - n0 : N;
        if (src->format == TSR_W4A16_FORMAT_GPTQ) {
            const uint32_t *q = src->qweight;
            for (int k8 = 0; k8 < l->k / 8; k8++)
                for (int nn = 0; nn < cols; nn++) {
                    const uint32_t w = q[(size_t)k8 * src->n + n0 + nn];
                    for (int r = 0; r < 8; r++) codes[(size_t)(8 * k8 + r) * N + nn] = (uint8_t)((w >> (4 * r)) & 15);
                }
        } else {
            for (int k = 0; k < l->k; k++)
                for (int nn = 0; nn < cols; nn++) codes[(size_t)k * N + nn] = (uint8_t)src_q(src, k, n0 + nn);
        }
        if (cols < N)
            for (int k = 0; k < l->k; k++) memset(codes + (size_t)k * N + cols, 0, (size_t)(N - cols));
        for (int kt = 0; kt < k_tiles; kt++) {
            /* a tile's rows are contiguous in codes unless permuted or past k;
             * otherwise gather them into the first rows' place in a copy */
            uint8_t tile[TSR_W4A16_TILE_K * TSR_W4A16_TILE_N];
            const uint8_t *t = codes + (size_t)kt * TSR_W4A16_TILE_K * N;
            if (perm || (kt + 1) * TSR_W4A16_TILE_K > l->k) {
                for (int kk = 0; kk < TSR_W4A16_TILE_K; kk++) {
                    const int k = kt * TSR_W4A16_TILE_K + kk;
                    memcpy(tile + kk * N, codes + (size_t)(k < l->k ? (perm ? perm[k] : k) : l->k) * N, (size_t)N);
                }
                t = tile;
            }
            uint32_t *dst = qw + tsr_w4a16_word_index(nt, kt, k_tiles, 0, 0, 0);
            for (int i = 0; i < TSR_W4A16_TILE_WORDS; i++) {
                const uint16_t *f = from[i];
                dst[i] = (uint32_t)t[f[0]] | (uint32_t)t[f[1]] << 4 | (uint32_t)t[f[2]] << 8 | (uint32_t)t[f[3]] << 12 |
                         (uint32_t)t[f[4]] << 16 | (uint32_t)t[f[5]] << 20 | (uint32_t)t[f[6]] << 24 | (uint32_t)t[f[7]] << 28;
            }
        }
    }
    free(from);
    free(codes);

    int src_groups = (l->k + l->group_size - 1) / l->group_size;
    uint16_t *sc = (uint16_t *)(out + l->scales_offset);
    uint8_t *zr = l->has_zeros ? out + l->zeros_offset : NULL;
    for (int G = 0; G < src_groups && G < l->groups; G++)
        for (int n = 0; n < l->n; n++) {
            int pos = tsr_w4a16_scale_position(n);
            sc[(size_t)G * l->n_padded + pos] = src_scale(src, G, n, l->dtype);
            if (zr) zr[((size_t)G * l->n_padded + pos) / 2] |= (uint8_t)(src_zero(src, G, n) << (4 * (pos & 1)));
        }
    return TSR_STATUS_SUCCESS;
}

tsr_status_t tsr_w4a16_unpack_host(const tsr_w4a16_layout_t *l, const void *packed, uint8_t *q, void *scales,
                                   uint8_t *zeros, int32_t *g_idx)
{
    const char *fn = "tsr_w4a16_unpack_host";
    tsr_clear_error();
    TSR_CHECK_PTR(fn, l);
    TSR_CHECK_PTR(fn, packed);
    TSR_CHECK_PTR(fn, q);
    TSR_CHECK_PTR(fn, scales);
    const unsigned char *in = packed;
    const int32_t *perm = l->act_order ? (const int32_t *)(in + l->perm_offset) : NULL;
    const uint32_t *qw = (const uint32_t *)(in + l->qweight_offset);
    int k_tiles = l->k_padded / TSR_W4A16_TILE_K, n_tiles = l->n_padded / TSR_W4A16_TILE_N;
    memset(q, 0, (size_t)l->k * l->n / 2);
    for (int nt = 0; nt < n_tiles; nt++)
        for (int kt = 0; kt < k_tiles; kt++)
            for (int w = 0; w < TSR_W4A16_WARPS; w++)
                for (int lane = 0; lane < 32; lane++)
                    for (int ks = 0; ks < 4; ks++) {
                        uint32_t word = qw[tsr_w4a16_word_index(nt, kt, k_tiles, w, lane, ks)];
                        for (int p = 0; p < 8; p++) {
                            int k, n;
                            tsr_w4a16_nibble_coord(nt, kt, w, lane, ks, p, &k, &n);
                            if (k >= l->k || n >= l->n) continue;
                            int row = perm ? perm[k] : k;
                            uint8_t v = (uint8_t)((word >> (4 * p)) & 15);
                            q[(size_t)row * (l->n / 2) + n / 2] |= (uint8_t)(v << (4 * (n & 1)));
                        }
                    }
    int src_groups = (l->k + l->group_size - 1) / l->group_size;
    const uint16_t *sc = (const uint16_t *)(in + l->scales_offset);
    const uint8_t *zr = l->has_zeros ? in + l->zeros_offset : NULL;
    for (int G = 0; G < src_groups; G++)
        for (int n = 0; n < l->n; n++) {
            int pos = tsr_w4a16_scale_position(n);
            ((uint16_t *)scales)[(size_t)G * l->n + n] = sc[(size_t)G * l->n_padded + pos];
            if (zeros) zeros[(size_t)G * l->n + n] = zr ? (zr[((size_t)G * l->n_padded + pos) / 2] >> (4 * (pos & 1))) & 15 : 8;
        }
    if (g_idx)
        for (int j = 0; j < l->k; j++) g_idx[perm ? perm[j] : j] = group_of(l, j);
    return TSR_STATUS_SUCCESS;
}
