/* Host suite: W4A16 layouts and host packing. Every source format, group size,
 * symmetric/asymmetric and act-order case is packed and unpacked again and must
 * give back the logical weights; bad input gets its status and message. */
#include <string.h>

#include "support.h"
#include "tessera/w4a16.h"
#include "ref/w4a16_ref.h"
#include "w4a16_format.h" /* the placement functions themselves */

static uint64_t g_seed;

static void roundtrip(tsr_w4a16_format_t fmt, int k, int n, int group, int asym, int act, tsr_dtype_t sdt, tsr_dtype_t dtype)
{
    uint64_t rng = g_seed ^ ((uint64_t)fmt << 40) ^ ((uint64_t)k << 20) ^ (uint64_t)n ^ ((uint64_t)(group & 0xfff) << 52);
    ref_w4a16_t w;
    ref_w4a16_make(&w, fmt, k, n, group, asym, act, sdt, &rng);
    tsr_w4a16_source_t src;
    ref_w4a16_source(&w, &src);
    tsr_w4a16_layout_t l;
    assert_int_equal(tsr_w4a16_layout(k, n, group, dtype, asym, act, &l), TSR_STATUS_SUCCESS);
    void *blob = aligned_alloc(64, (l.total_bytes + 63) / 64 * 64);
    memset(blob, 0xEE, l.total_bytes);
    tsr_status_t st = tsr_w4a16_pack_host(&src, &l, blob);
    if (st) fail_msg("pack: %s | %s", tsr_status_string(st), tsr_last_error());
    uint8_t *q = malloc((size_t)k * n / 2), *z = malloc((size_t)w.groups * n);
    uint16_t *s = malloc((size_t)w.groups * n * 2);
    int32_t *gi = malloc((size_t)k * 4);
    assert_int_equal(tsr_w4a16_unpack_host(&l, blob, q, s, z, gi), TSR_STATUS_SUCCESS);
    for (int r = 0; r < k; r++)
        for (int c = 0; c < n; c++) {
            int got = (q[(size_t)r * (n / 2) + c / 2] >> (4 * (c & 1))) & 15;
            if (got != w.q[(size_t)r * n + c])
                fail_msg("fmt %d k=%d n=%d g=%d: q[%d][%d]=%d, want %d (seed %llu)", fmt, k, n, group, r, c, got,
                         w.q[(size_t)r * n + c], (unsigned long long)g_seed);
        }
    for (int g = 0; g < w.groups; g++)
        for (int c = 0; c < n; c++) {
            size_t i = (size_t)g * n + c;
            uint16_t want = ref_double_to_b16(ref_b16_to_double(w.scale[i], sdt), dtype);
            if (s[i] != want) fail_msg("scale[%d][%d]=0x%04x, want 0x%04x", g, c, s[i], want);
            if (z[i] != w.zero[i]) fail_msg("zero[%d][%d]=%d, want %d", g, c, z[i], w.zero[i]);
        }
    for (int r = 0; r < k; r++)
        if (gi[r] != w.g_idx[r]) fail_msg("g_idx[%d]=%d, want %d", r, gi[r], w.g_idx[r]);
    free(q);
    free(z);
    free(s);
    free(gi);
    free(blob);
    ref_w4a16_free(&w);
}

/* tsr_w4a16_nibble_of (used by the dequantiser) inverts tsr_w4a16_nibble_coord
 * (used by the packers and, through the fragment layout, the kernel) on every
 * nibble of a tile, and no two nibbles claim the same element. */
static void test_nibble_of_inverts_nibble_coord(void **state)
{
    (void)state;
    static unsigned char seen[TSR_W4A16_TILE_K][TSR_W4A16_TILE_N];
    memset(seen, 0, sizeof seen);
    for (int w = 0; w < TSR_W4A16_WARPS; w++)
        for (int lane = 0; lane < 32; lane++)
            for (int ks = 0; ks < 4; ks++)
                for (int p = 0; p < 8; p++) {
                    int k, n, word, q;
                    tsr_w4a16_nibble_coord(0, 0, w, lane, ks, p, &k, &n);
                    assert_in_range(k, 0, TSR_W4A16_TILE_K - 1);
                    assert_in_range(n, 0, TSR_W4A16_TILE_N - 1);
                    assert_int_equal(seen[k][n]++, 0);
                    tsr_w4a16_nibble_of(k, n, &word, &q);
                    assert_int_equal(word, w * 128 + lane * 4 + ks);
                    assert_int_equal(q, p);
                }
}

static void test_roundtrip_every_format(void **state)
{
    (void)state;
    const int groups[] = {32, 64, 128, -1};
    for (int f = 0; f < 3; f++)
        for (int gi = 0; gi < 4; gi++)
            for (int asym = 0; asym < 2; asym++) {
                roundtrip((tsr_w4a16_format_t)f, 256, 136, groups[gi], asym, 0, TSR_DTYPE_F16, TSR_DTYPE_F16);
                roundtrip((tsr_w4a16_format_t)f, 352, 264, groups[gi], asym, 0, TSR_DTYPE_F16, TSR_DTYPE_BF16);
            }
}

static void test_roundtrip_act_order(void **state)
{
    (void)state;
    roundtrip(TSR_W4A16_FORMAT_GPTQ, 256, 64, 32, 1, 1, TSR_DTYPE_F16, TSR_DTYPE_F16);
    roundtrip(TSR_W4A16_FORMAT_GPTQ, 384, 136, 128, 0, 1, TSR_DTYPE_BF16, TSR_DTYPE_BF16);
    roundtrip(TSR_W4A16_FORMAT_GPTQ, 608, 72, 32, 1, 1, TSR_DTYPE_F16, TSR_DTYPE_BF16); /* k % 64 == 32 */
}

/* The shapes tensor parallelism produces are accepted, not refused. */
static void test_layout_accepts_tp_shapes(void **state)
{
    (void)state;
    const int ks[] = {10944, 7392, 3584, 4096};
    tsr_w4a16_layout_t l;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(tsr_w4a16_layout(ks[i], 1000, 32, TSR_DTYPE_F16, 1, 0, &l), TSR_STATUS_SUCCESS);
        assert_true(l.k_padded % 64 == 0 && l.k_padded >= ks[i] && l.k_padded - ks[i] < 64);
        assert_int_equal(l.n_padded, 1024);
        assert_int_equal(l.qweight_bytes, (size_t)l.k_padded * l.n_padded / 2);
        assert_true(l.total_bytes >= l.perm_offset + l.perm_bytes);
        assert_int_equal(l.qweight_offset % 256 + l.scales_offset % 256 + l.zeros_offset % 256 + l.perm_offset % 256, 0);
    }
    assert_int_equal(tsr_w4a16_layout(10944, 2048, 64, TSR_DTYPE_BF16, 0, 1, &l), TSR_STATUS_SUCCESS);
    assert_int_equal(l.groups, 171);
    assert_int_equal(l.zeros_bytes, 0);
    assert_int_equal(l.perm_bytes, (size_t)l.k_padded * 4);
}

static void test_layout_rejects_bad_input(void **state)
{
    (void)state;
    tsr_w4a16_layout_t l;
    TSR_EXPECT_ERROR(tsr_w4a16_layout(4100, 256, 128, TSR_DTYPE_F16, 0, 0, &l), TSR_STATUS_UNSUPPORTED_SHAPE, "k=4100 must be a positive multiple of 32");
    TSR_EXPECT_ERROR(tsr_w4a16_layout(4096, 250, 128, TSR_DTYPE_F16, 0, 0, &l), TSR_STATUS_UNSUPPORTED_SHAPE, "n=250 must be a positive multiple of 8");
    TSR_EXPECT_ERROR(tsr_w4a16_layout(4096, 256, 48, TSR_DTYPE_F16, 0, 0, &l), TSR_STATUS_UNSUPPORTED_SHAPE, "group_size=48");
    TSR_EXPECT_ERROR(tsr_w4a16_layout(4096, 256, 128, TSR_DTYPE_F32, 0, 0, &l), TSR_STATUS_UNSUPPORTED_DTYPE, "dtype=f32 must be f16 or bf16");
    TSR_EXPECT_ERROR(tsr_w4a16_layout(4096, 256, 128, TSR_DTYPE_F16, 0, 0, NULL), TSR_STATUS_INVALID_VALUE, "l is NULL");
    TSR_EXPECT_ERROR(tsr_w4a16_layout(0, 256, 128, TSR_DTYPE_F16, 0, 0, &l), TSR_STATUS_UNSUPPORTED_SHAPE, "k=0");
}

static void test_pack_rejects_bad_input(void **state)
{
    (void)state;
    uint64_t rng = g_seed;
    ref_w4a16_t w;
    ref_w4a16_make(&w, TSR_W4A16_FORMAT_GPTQ, 128, 64, 32, 1, 1, TSR_DTYPE_F16, &rng);
    tsr_w4a16_source_t src;
    ref_w4a16_source(&w, &src);
    tsr_w4a16_layout_t l;
    assert_int_equal(tsr_w4a16_layout(128, 64, 32, TSR_DTYPE_F16, 1, 1, &l), TSR_STATUS_SUCCESS);
    void *blob = aligned_alloc(64, (l.total_bytes + 63) / 64 * 64);
    char *mis = (char *)blob + 4;
    TSR_EXPECT_ERROR(tsr_w4a16_pack_host(&src, &l, mis), TSR_STATUS_MISALIGNED_POINTER, "must be aligned to 16 bytes");
    tsr_w4a16_source_t bad = src;
    bad.size = 3;
    TSR_EXPECT_ERROR(tsr_w4a16_pack_host(&bad, &l, blob), TSR_STATUS_INVALID_VALUE, "tsr_w4a16_source_init");
    bad = src;
    bad.qzeros = NULL;
    TSR_EXPECT_ERROR(tsr_w4a16_pack_host(&bad, &l, blob), TSR_STATUS_INVALID_VALUE, "layout->has_zeros=1");
    bad = src;
    bad.k = 256;
    TSR_EXPECT_ERROR(tsr_w4a16_pack_host(&bad, &l, blob), TSR_STATUS_INVALID_VALUE, "src is 256x64 but layout is 128x64");
    bad = src;
    bad.format = TSR_W4A16_FORMAT_AWQ;
    TSR_EXPECT_ERROR(tsr_w4a16_pack_host(&bad, &l, blob), TSR_STATUS_NOT_SUPPORTED, "act-order");
    bad = src;
    bad.scales = NULL;
    TSR_EXPECT_ERROR(tsr_w4a16_pack_host(&bad, &l, blob), TSR_STATUS_INVALID_VALUE, "s->scales is NULL");
    /* act-order whose groups are not full */
    int32_t saved = w.g_idx[5];
    w.g_idx[5] = (w.g_idx[5] + 1) % w.groups;
    TSR_EXPECT_ERROR(tsr_w4a16_pack_host(&src, &l, blob), TSR_STATUS_UNSUPPORTED_SHAPE, "act-order needs exactly 32");
    w.g_idx[5] = 99;
    TSR_EXPECT_ERROR(tsr_w4a16_pack_host(&src, &l, blob), TSR_STATUS_INVALID_VALUE, "g_idx[5]=99 must be in [0, 4)");
    w.g_idx[5] = saved;
    assert_int_equal(tsr_w4a16_pack_host(&src, &l, blob), TSR_STATUS_SUCCESS);
    free(blob);
    ref_w4a16_free(&w);
}

int main(void)
{
    g_seed = tsr_test_seed("w4a16_pack");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nibble_of_inverts_nibble_coord),
        cmocka_unit_test(test_roundtrip_every_format),
        cmocka_unit_test(test_roundtrip_act_order),
        cmocka_unit_test(test_layout_accepts_tp_shapes),
        cmocka_unit_test(test_layout_rejects_bad_input),
        cmocka_unit_test(test_pack_rejects_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
