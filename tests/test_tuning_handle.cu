/* The tuning cache as a handle sees it: loaded once at tsr_create, only this
 * device's and versions' entries used (others kept in the file), M buckets,
 * TESSERA_TUNING=off, a corrupt file quarantined without failing tsr_create,
 * and the W4A16 dispatcher choosing a tuned configuration over its heuristic.
 * Built as test_tuning_handle_emu (emulated device) and _gpu (real one). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vector>

#include <cuda_fp16.h>

#include "tessera/tuning.h" /* before support.h: its tuning helper needs it */
#include "support.h"
#include "tessera/w4a16.h"

static char g_dir[256], g_path[512];

static tsr_tuning_entry_t mine(tsr_handle_t h, int n, int k, int m, int config)
{
    tsr_tuning_entry_t e;
    assert_int_equal(tsr_tuning_entry_for(h, &e), TSR_STATUS_SUCCESS);
    tsr_test_w4a16_key(&e, n, k, m, config);
    e.time_us = 1.0;
    return e;
}

static void test_handle_uses_its_own_entries(void **state)
{
    (void)state;
    tsr_handle_t h;
    assert_int_equal(tsr_create(&h), TSR_STATUS_SUCCESS);
    assert_int_equal(tsr_tuning_count(h), 0);
    tsr_tuning_entry_t v[5];
    v[0] = mine(h, 256, 256, 1, 3);
    v[1] = mine(h, 256, 256, 16, 2);
    v[2] = mine(h, 256, 256, 1, 1);
    snprintf(v[2].device, sizeof v[2].device, "some other GPU"); /* kept, never used */
    v[3] = mine(h, 256, 256, 1, 4);
    v[3].tessera_version += 1; /* another tessera version */
    v[4] = mine(h, 256, 256, 1, 4);
    v[4].driver_version += 10; /* another driver */
    assert_int_equal(tsr_tuning_merge(g_path, v, 5), TSR_STATUS_SUCCESS);
    assert_int_equal(tsr_tuning_count(h), 0); /* loaded once: no I/O until asked */
    assert_int_equal(tsr_tuning_reload(h), TSR_STATUS_SUCCESS);
    assert_int_equal(tsr_tuning_count(h), 2);

    int cfg = -1, found = 0;
    assert_int_equal(tsr_tuning_lookup(h, "w4a16", TSR_DTYPE_F16, 128, 256, 256, 1, &cfg, &found), 0);
    assert_true(found && cfg == 3);
    tsr_tuning_lookup(h, "w4a16", TSR_DTYPE_F16, 128, 256, 256, 9, &cfg, &found); /* bucket 16 */
    assert_true(found && cfg == 2);
    tsr_tuning_lookup(h, "w4a16", TSR_DTYPE_F16, 128, 256, 256, 17, &cfg, &found);
    assert_false(found);
    tsr_tuning_lookup(h, "w4a16", TSR_DTYPE_BF16, 128, 256, 256, 1, &cfg, &found);
    assert_false(found);
    tsr_tuning_lookup(h, "w4a16", TSR_DTYPE_F16, 64, 256, 256, 1, &cfg, &found);
    assert_false(found);

    /* the dispatcher: tuned beats heuristic; untuned shapes keep the heuristic */
    tsr_w4a16_layout_t l;
    assert_int_equal(tsr_w4a16_layout(256, 256, 128, TSR_DTYPE_F16, 0, 0, &l), 0);
    assert_int_equal(tsr_w4a16_query_config(h, &l, 1, &cfg), 0);
    assert_int_equal(cfg, 3);
    assert_int_equal(tsr_w4a16_query_config(h, &l, 12, &cfg), 0);
    assert_int_equal(cfg, 2);
    int heuristic_small;
    tsr_w4a16_layout_t other;
    assert_int_equal(tsr_w4a16_layout(256, 384, 128, TSR_DTYPE_F16, 0, 0, &other), 0);
    assert_int_equal(tsr_w4a16_query_config(h, &other, 1, &heuristic_small), 0);
    assert_int_not_equal(heuristic_small, 3);

    /* a new handle loads them at creation */
    tsr_handle_t h2;
    assert_int_equal(tsr_create(&h2), TSR_STATUS_SUCCESS);
    assert_int_equal(tsr_tuning_count(h2), 2);
    assert_int_equal(tsr_w4a16_query_config(h2, &l, 1, &cfg), 0);
    assert_int_equal(cfg, 3);
    tsr_destroy(h2);

    /* the file still holds all five */
    tsr_tuning_entry_t *r;
    int n;
    assert_int_equal(tsr_tuning_read(g_path, &r, &n), 0);
    assert_int_equal(n, 5);
    free(r);
    tsr_destroy(h);

    setenv("TESSERA_TUNING", "off", 1);
    assert_int_equal(tsr_create(&h), TSR_STATUS_SUCCESS);
    unsetenv("TESSERA_TUNING");
    assert_int_equal(tsr_tuning_count(h), 0);
    assert_int_equal(tsr_w4a16_query_config(h, &l, 1, &cfg), 0);
    assert_int_equal(cfg, heuristic_small);
    tsr_destroy(h);
}

/* ktune records the dense route (TSR_W4A16_ROUTE_DENSE) where it beats every
 * configuration: in AUTO mode such an entry sends calls of that shape and m
 * bucket to the route on any device, and a configuration's entry keeps the
 * kernel even above AUTO's threshold on sm_90; KERNEL mode and
 * TSR_W4A16_CONFIG ignore the route's entries. The routed call's C is
 * checked against the kernel's on the same random weight. */
static void test_cache_chooses_the_route(void **state)
{
    (void)state;
    const int k = 128, n = 128;
    tsr_handle_t h;
    assert_int_equal(tsr_create(&h), TSR_STATUS_SUCCESS);
    tsr_device_info_t info;
    assert_int_equal(tsr_get_device_info(h, &info), TSR_STATUS_SUCCESS);
    const bool sm90 = info.cc_major == 9 && info.cc_minor == 0;
    tsr_tuning_entry_t v[2] = {mine(h, n, k, 1024, TSR_W4A16_ROUTE_DENSE), mine(h, n, k, 4096, 5)};
    assert_int_equal(tsr_tuning_merge(g_path, v, 2), TSR_STATUS_SUCCESS);
    assert_int_equal(tsr_tuning_reload(h), TSR_STATUS_SUCCESS);
    tsr_w4a16_layout_t l;
    assert_int_equal(tsr_w4a16_layout(k, n, 128, TSR_DTYPE_F16, 0, 0, &l), 0);
    int cfg = 99;
    assert_int_equal(tsr_w4a16_query_config(h, &l, 1024, &cfg), 0);
    assert_int_equal(cfg, TSR_W4A16_ROUTE_DENSE);
    assert_int_equal(tsr_w4a16_query_config(h, &l, 600, &cfg), 0); /* the same bucket */
    assert_int_equal(cfg, TSR_W4A16_ROUTE_DENSE);
    assert_int_equal(tsr_w4a16_query_config(h, &l, 2048, &cfg), 0); /* no entry: the threshold */
    assert_int_equal(cfg == TSR_W4A16_ROUTE_DENSE, sm90);
    assert_int_equal(tsr_w4a16_query_config(h, &l, 4096, &cfg), 0); /* the kernel, measured faster */
    assert_int_equal(cfg, 5);

    /* the routed call, against the kernel's (configuration 5) */
    const int m = 1024;
    std::vector<uint32_t> qw((size_t)k / 8 * n);
    std::vector<uint16_t> sc((size_t)(k / 128) * n), a((size_t)m * k);
    uint64_t rng = 0x51ab;
    for (auto &w : qw) w = (uint32_t)(fabs(tsr_test_rand_unit(&rng)) * 4294967295.0); /* any word is a valid weight */
    for (auto &x : sc) x = __half_as_ushort(__float2half_rn((float)(0.01 + 0.02 * fabs(tsr_test_rand_unit(&rng)))));
    for (auto &x : a) x = __half_as_ushort(__float2half_rn((float)tsr_test_rand_unit(&rng)));
    void *dqw, *dsc, *blob, *da, *dc[2], *ws;
    size_t ws_bytes = 0;
    assert_int_equal(tsr_w4a16_workspace_size(h, &l, m, &ws_bytes), 0);
    assert_true(ws_bytes >= (size_t)k * n * 2); /* the route's slab */
    TSR_TEST_CUDA(cudaMalloc(&dqw, qw.size() * 4));
    TSR_TEST_CUDA(cudaMalloc(&dsc, sc.size() * 2));
    TSR_TEST_CUDA(cudaMalloc(&blob, l.total_bytes));
    TSR_TEST_CUDA(cudaMalloc(&da, a.size() * 2));
    TSR_TEST_CUDA(cudaMalloc(&ws, ws_bytes));
    TSR_TEST_CUDA(cudaMemcpy(dqw, qw.data(), qw.size() * 4, cudaMemcpyHostToDevice));
    TSR_TEST_CUDA(cudaMemcpy(dsc, sc.data(), sc.size() * 2, cudaMemcpyHostToDevice));
    TSR_TEST_CUDA(cudaMemcpy(da, a.data(), a.size() * 2, cudaMemcpyHostToDevice));
    TSR_TEST_CUDA(cudaMemset(ws, 0, ws_bytes));
    tsr_w4a16_source_t src;
    tsr_w4a16_source_init(&src);
    src.format = TSR_W4A16_FORMAT_GPTQ;
    src.k = k;
    src.n = n;
    src.group_size = 128;
    src.qweight = dqw;
    src.scales = dsc;
    src.scales_dtype = TSR_DTYPE_F16;
    assert_int_equal(tsr_w4a16_pack_device(h, &src, &l, blob, 0), TSR_STATUS_SUCCESS);
    std::vector<uint16_t> c[2];
    for (int i = 0; i < 2; i++) {
        TSR_TEST_CUDA(cudaMalloc(&dc[i], (size_t)m * n * 2));
        TSR_TEST_CUDA(cudaMemset(dc[i], 0xFF, (size_t)m * n * 2)); /* NaN: an unwritten element fails */
        tsr_status_t st = i == 0 ? tsr_w4a16_gemm(h, &l, m, da, blob, NULL, dc[i], ws, ws_bytes, 0)
                                 : tsr_w4a16_gemm_config(h, &l, m, da, blob, NULL, dc[i], ws, ws_bytes, 5, 0);
        if (st) fail_msg("gemm %d: %s", i, tsr_last_error());
        c[i].resize((size_t)m * n);
        TSR_TEST_CUDA(cudaMemcpy(c[i].data(), dc[i], c[i].size() * 2, cudaMemcpyDeviceToHost));
    }
    double largest = 0;
    for (uint16_t x : c[1]) largest = fmax(largest, fabs(__half2float(__ushort_as_half(x))));
    assert_true(largest > 0);
    for (size_t x = 0; x < c[0].size(); x++) {
        const double r = __half2float(__ushort_as_half(c[0][x])), kk = __half2float(__ushort_as_half(c[1][x]));
        if (!(fabs(r - kk) <= 4e-3 * largest))
            fail_msg("C[%zu]: the routed call %.6g, the kernel %.6g (largest %.4g)", x, r, kk, largest);
    }

    /* KERNEL mode, and a forced configuration, ignore the route's entry */
    assert_int_equal(tsr_w4a16_set_prefill(h, TSR_W4A16_PREFILL_KERNEL), 0);
    assert_int_equal(tsr_w4a16_query_config(h, &l, 1024, &cfg), 0);
    assert_true(cfg >= 0);
    tsr_destroy(h);
    setenv("TSR_W4A16_CONFIG", "1", 1);
    assert_int_equal(tsr_create(&h), TSR_STATUS_SUCCESS);
    unsetenv("TSR_W4A16_CONFIG");
    assert_int_equal(tsr_w4a16_query_config(h, &l, 1024, &cfg), 0);
    assert_int_equal(cfg, 1);
    tsr_destroy(h);
    void *bufs[] = {dqw, dsc, blob, da, dc[0], dc[1], ws};
    for (void *b : bufs) cudaFree(b);
    assert_int_equal(tsr_tuning_clear(g_path), TSR_STATUS_SUCCESS);
}

static void test_corrupt_cache_does_not_fail_create(void **state)
{
    (void)state;
    FILE *f = fopen(g_path, "w");
    fputs("tessera-tuning-cache v1\ngarbage\n", f);
    fclose(f);
    tsr_handle_t h;
    assert_int_equal(tsr_create(&h), TSR_STATUS_SUCCESS);
    assert_string_equal(tsr_last_error(), "");
    assert_int_equal(tsr_tuning_count(h), 0);
    assert_int_equal(access(g_path, F_OK), -1); /* moved aside */
    tsr_destroy(h);
}

static int setup(void **state)
{
    (void)state;
    if (tsr_test_make_tmpdir(g_dir, sizeof g_dir, "tsr_tuning_h")) return -1;
    snprintf(g_path, sizeof g_path, "%s/tuning.txt", g_dir);
    setenv("TESSERA_CACHE_DIR", g_dir, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tsr_test_remove_dir(g_dir);
}

int main(void)
{
#if !defined(TSR_EMU)
    if (!tsr_test_device_or_skip()) return 77;
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handle_uses_its_own_entries),
        cmocka_unit_test(test_cache_chooses_the_route),
        cmocka_unit_test(test_corrupt_cache_does_not_fail_create),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
