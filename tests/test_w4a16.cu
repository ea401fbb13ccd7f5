/* Kernel suite for W4A16: tsr_w4a16_gemm against the fp64 reference for every
 * checkpoint format, group size, dtype, symmetric/asymmetric and act-order,
 * at M = 1, 7, 16, 33, 200, with several blocks, split columns and partial
 * tiles; the GPU packer against the host packer byte for byte; and each kind
 * of bad input. Built as test_w4a16_emu (CPU emulation) and test_w4a16_gpu. */
#include <fnmatch.h>
#include <string.h>
#include <algorithm>
#include <string>
#include <vector>

#include "support.h"
#include "tessera/w4a16.h"
#include "ref/w4a16_ref.h"

extern "C" {
#include "w4a16_format.h" /* TSR_W4A16_CONFIG_COUNT: the rows of the dispatch table */
}

static uint64_t g_seed;
static tsr_handle_t g_handle;
static int g_forced = -1; /* the configuration forced on g_handle, or -1 */

/* Rows per block of the configuration the dispatcher uses for m (it says
 * which), or of the forced one. */
static int rows_per_block(const tsr_w4a16_layout_t *l, int m)
{
    static const int rows[] = {
#define ROW_ROWS(id, m_blocks, stages, warps_m, swap_ab, items_per_barrier) tsr_w4a16_tile_rows(m_blocks, swap_ab),
        TSR_W4A16_CONFIGS(ROW_ROWS)
#undef ROW_ROWS
    };
    int id = g_forced;
    if (id < 0 && tsr_w4a16_query_config(g_handle, l, m, &id)) fail_msg("query_config: %s", tsr_last_error());
    return id >= 0 && id < TSR_W4A16_CONFIG_COUNT ? rows[id] : 128; /* the dense route has no row tiles */
}

struct dev_buf {
    void *p = nullptr;
    size_t bytes = 0;
};
static dev_buf dev_new(size_t bytes)
{
    dev_buf b;
    b.bytes = bytes;
    TSR_TEST_CUDA(cudaMalloc(&b.p, bytes ? bytes : 16));
    return b;
}

/* Packs w (on the host, or on the device when on_device) and returns the blob in device memory. */
static dev_buf pack(const ref_w4a16_t &w, const tsr_w4a16_layout_t &l, bool on_device)
{
    tsr_w4a16_source_t src;
    ref_w4a16_source(&w, &src);
    dev_buf blob = dev_new(l.total_bytes);
    if (!on_device) {
        std::vector<uint64_t> host((l.total_bytes + 7) / 8);
        tsr_status_t st = tsr_w4a16_pack_host(&src, &l, host.data());
        if (st) fail_msg("pack_host: %s | %s", tsr_status_string(st), tsr_last_error());
        TSR_TEST_CUDA(cudaMemcpy(blob.p, host.data(), l.total_bytes, cudaMemcpyHostToDevice));
        return blob;
    }
    dev_buf qw = dev_new(w.qweight_bytes), sc = dev_new(w.scales_bytes), qz;
    TSR_TEST_CUDA(cudaMemcpy(qw.p, w.qweight, w.qweight_bytes, cudaMemcpyHostToDevice));
    TSR_TEST_CUDA(cudaMemcpy(sc.p, w.scale, w.scales_bytes, cudaMemcpyHostToDevice));
    src.qweight = qw.p;
    src.scales = sc.p;
    if (w.qzeros) {
        qz = dev_new(w.qzeros_bytes);
        TSR_TEST_CUDA(cudaMemcpy(qz.p, w.qzeros, w.qzeros_bytes, cudaMemcpyHostToDevice));
        src.qzeros = qz.p;
    }
    TSR_TEST_CUDA(cudaMemset(blob.p, 0x5A, l.total_bytes)); /* the packer must write all of it */
    tsr_status_t st = tsr_w4a16_pack_device(g_handle, &src, &l, blob.p, 0);
    if (st) fail_msg("pack_device: %s | %s", tsr_status_string(st), tsr_last_error());
    TSR_TEST_CUDA(cudaDeviceSynchronize());
    cudaFree(qw.p);
    cudaFree(sc.p);
    cudaFree(qz.p);
    return blob;
}

struct gemm_case {
    tsr_w4a16_format_t fmt;
    int m, k, n, group, asym, act;
    tsr_dtype_t dtype;
    int bias;
};

/* C (m x n, the case's dtype) against the reference, element by element and
 * in relative rms; `what` names the run in a failure. */
static void expect_close(const gemm_case &tc, const std::vector<uint16_t> &c, const std::vector<double> &ref,
                         const std::vector<double> &norm, const char *what)
{
    const double tol = tc.dtype == TSR_DTYPE_BF16 ? 1.6e-2 : 2.5e-3;
    double err2 = 0, ref2 = 0;
    for (int i = 0; i < tc.m; i++)
        for (int j = 0; j < tc.n; j++) {
            size_t x = (size_t)i * tc.n + j;
            double got = ref_b16_to_double(c[x], tc.dtype), want = ref[x];
            /* output rounding plus per-product rounding of the 16-bit weights */
            double bound = tol * (fabs(want) + norm[x]) + 1e-6;
            if (!(fabs(got - want) <= bound))
                fail_msg("fmt %d m=%d k=%d n=%d g=%d asym=%d act=%d %s %s: C[%d][%d] = %.6g, want %.6g (bound %.3g) seed %llu",
                         tc.fmt, tc.m, tc.k, tc.n, tc.group, tc.asym, tc.act, tsr_dtype_name(tc.dtype), what, i, j, got,
                         want, bound, (unsigned long long)g_seed);
            err2 += (got - want) * (got - want);
            ref2 += want * want;
        }
    assert_true(sqrt(err2 / ref2) < (tc.dtype == TSR_DTYPE_BF16 ? 1e-2 : 2e-3));
}

/* One case's inputs from rng (the weight, then A, then the bias), the fp64
 * reference, and the device copies with C unset and a zeroed workspace of
 * tsr_w4a16_workspace_size for handle h. */
struct case_inputs {
    ref_w4a16_t w;
    tsr_w4a16_layout_t l;
    std::vector<uint16_t> a, bias;
    std::vector<double> ref, norm;
    dev_buf blob, da, db, dc, ws;
};

static void make_inputs(case_inputs &in, const gemm_case &tc, uint64_t rng, tsr_handle_t h)
{
    ref_w4a16_make(&in.w, tc.fmt, tc.k, tc.n, tc.group, tc.asym, tc.act, TSR_DTYPE_F16, &rng);
    assert_int_equal(tsr_w4a16_layout(tc.k, tc.n, tc.group, tc.dtype, tc.asym, tc.act, &in.l), TSR_STATUS_SUCCESS);
    in.blob = pack(in.w, in.l, false);
    in.a.resize((size_t)tc.m * tc.k);
    in.bias.resize(tc.n);
    for (auto &v : in.a) v = ref_double_to_b16(tsr_test_rand_unit(&rng), tc.dtype);
    for (auto &v : in.bias) v = ref_double_to_b16(tsr_test_rand_unit(&rng), tc.dtype);
    in.ref.resize((size_t)tc.m * tc.n);
    in.norm.resize((size_t)tc.m * tc.n);
    ref_w4a16_gemm(&in.w, tc.dtype, tc.m, in.a.data(), tc.bias ? in.bias.data() : nullptr, in.ref.data(), in.norm.data());
    in.da = dev_new(in.a.size() * 2);
    in.db = dev_new(in.bias.size() * 2);
    in.dc = dev_new((size_t)tc.m * tc.n * 2);
    TSR_TEST_CUDA(cudaMemcpy(in.da.p, in.a.data(), in.a.size() * 2, cudaMemcpyHostToDevice));
    TSR_TEST_CUDA(cudaMemcpy(in.db.p, in.bias.data(), in.bias.size() * 2, cudaMemcpyHostToDevice));
    size_t ws_bytes = 0;
    tsr_status_t st = tsr_w4a16_workspace_size(h, &in.l, tc.m, &ws_bytes);
    if (st) fail_msg("workspace_size: %s", tsr_last_error());
    in.ws = dev_new(ws_bytes);
    TSR_TEST_CUDA(cudaMemset(in.ws.p, 0, ws_bytes ? ws_bytes : 16));
}

static void free_inputs(case_inputs &in)
{
    cudaFree(in.da.p);
    cudaFree(in.db.p);
    cudaFree(in.dc.p);
    cudaFree(in.ws.p);
    cudaFree(in.blob.p);
    ref_w4a16_free(&in.w);
}

/* Runs one case twice through the same workspace (the second run checks that
 * the locks were left reset) and compares with the reference. kernel_route =
 * false for calls that take the dense route (no partials, no locks used). */
static void run_case(const gemm_case &tc, bool kernel_route = true)
{
    case_inputs in;
    make_inputs(in, tc, g_seed ^ ((uint64_t)tc.m << 48) ^ ((uint64_t)tc.k << 24) ^ (uint64_t)tc.n ^ ((uint64_t)tc.fmt << 60),
                g_handle);
    const tsr_w4a16_layout_t &l = in.l;
    const dev_buf &blob = in.blob, &da = in.da, &db = in.db, &dc = in.dc, &ws = in.ws;
    const size_t ws_bytes = ws.bytes;
    std::vector<uint16_t> c((size_t)tc.m * tc.n);
    tsr_status_t st;
    std::vector<uint16_t> first;
    for (int rep = 0; rep < 2; rep++) {
        TSR_TEST_CUDA(cudaMemset(dc.p, 0xFF, c.size() * 2)); /* NaN poison: an unwritten element fails */
        st = tsr_w4a16_gemm(g_handle, &l, tc.m, da.p, blob.p, tc.bias ? db.p : nullptr, dc.p, ws.p, ws_bytes, 0);
        if (st) fail_msg("gemm: %s | %s", tsr_status_string(st), tsr_last_error());
        TSR_TEST_CUDA(cudaDeviceSynchronize());
        TSR_TEST_CUDA(cudaMemcpy(c.data(), dc.p, c.size() * 2, cudaMemcpyDeviceToHost));
        expect_close(tc, c, in.ref, in.norm, rep ? "run 1" : "run 0");
        if (rep == 0) first = c;
    }
    /* Deterministic whatever order the blocks run and arrive in: once more with
     * the emulation's scheduling shuffled (on a GPU the order varies by itself),
     * bit for bit equal to the first run. */
    const char *was = getenv("TSR_SIMT_SHUFFLE");
    std::string saved = was ? was : "";
    setenv("TSR_SIMT_SHUFFLE", std::to_string(g_seed | 1).c_str(), 1);
    TSR_TEST_CUDA(cudaMemset(dc.p, 0xFF, c.size() * 2));
    /* NaN in every partial slot (the locks, which lead the workspace, stay 0):
     * a partial read before its block wrote it can no longer pass for the
     * previous run's identical one */
    const int n_tiles = (tc.n + 127) / 128, bm = rows_per_block(&l, tc.m), slices = (tc.m + bm - 1) / bm;
    const size_t locks_bytes = ((size_t)n_tiles * slices * 4 + 255) / 256 * 256;
    if (kernel_route && ws_bytes > locks_bytes)
        TSR_TEST_CUDA(cudaMemset((char *)ws.p + locks_bytes, 0xFF, ws_bytes - locks_bytes));
    st = tsr_w4a16_gemm(g_handle, &l, tc.m, da.p, blob.p, tc.bias ? db.p : nullptr, dc.p, ws.p, ws_bytes, 0);
    if (was) setenv("TSR_SIMT_SHUFFLE", saved.c_str(), 1);
    else unsetenv("TSR_SIMT_SHUFFLE");
    if (st) fail_msg("gemm (shuffled): %s | %s", tsr_status_string(st), tsr_last_error());
    TSR_TEST_CUDA(cudaDeviceSynchronize());
    TSR_TEST_CUDA(cudaMemcpy(c.data(), dc.p, c.size() * 2, cudaMemcpyDeviceToHost));
    for (size_t x = 0; x < c.size(); x++)
        if (c[x] != first[x])
            fail_msg("fmt %d m=%d k=%d n=%d: C[%zu] = 0x%04x in a shuffled run, 0x%04x before (seed %llu)", tc.fmt, tc.m,
                     tc.k, tc.n, x, c[x], first[x], (unsigned long long)g_seed);
    /* the locks are back at zero: they lead the workspace (the dense route
     * keeps clear of them) */
    std::vector<int> locks(kernel_route ? (size_t)n_tiles * slices : 64 * (size_t)n_tiles);
    TSR_TEST_CUDA(cudaMemcpy(locks.data(), ws.p, locks.size() * 4, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < locks.size(); i++)
        if (locks[i] != 0) fail_msg("lock %zu left at %d", i, locks[i]);
    free_inputs(in);
}

static void test_decode_shapes(void **state)
{
    (void)state;
    /* M = 1, 7, 16: one row slice, columns split over blocks (the emulated
     * device has 4 SMs: 3 x 4 tiles over 4 blocks splits every column). */
    const gemm_case cases[] = {
        {TSR_W4A16_FORMAT_GPTQ, 1, 256, 384, 128, 0, 0, TSR_DTYPE_F16, 1},
        {TSR_W4A16_FORMAT_GPTQ, 7, 256, 384, 64, 1, 0, TSR_DTYPE_BF16, 0},
        {TSR_W4A16_FORMAT_AWQ, 16, 256, 264, 32, 1, 0, TSR_DTYPE_F16, 1},
        {TSR_W4A16_FORMAT_PLAIN, 7, 352, 136, -1, 1, 0, TSR_DTYPE_F16, 0},
        {TSR_W4A16_FORMAT_PLAIN, 1, 192, 128, 64, 0, 0, TSR_DTYPE_BF16, 1},
        /* deep k, one column tile: every block shares it (4 to 7 partials,
         * where the summation order matters to the last bit) */
        {TSR_W4A16_FORMAT_GPTQ, 5, 1024, 120, 128, 1, 0, TSR_DTYPE_F16, 1},
        /* shallow k, many columns: blocks take more items than a column has,
         * so a block's range ends one column, holds whole ones, starts
         * another (as the 70B gate_up layer at m = 1: 218 items a block, 128
         * a column); 2 k-tiles, 10 and 40 column tiles */
        {TSR_W4A16_FORMAT_GPTQ, 1, 128, 1280, 128, 0, 0, TSR_DTYPE_F16, 1},
        {TSR_W4A16_FORMAT_AWQ, 7, 128, 5120, 64, 1, 0, TSR_DTYPE_BF16, 0},
    };
    for (const auto &c : cases) run_case(c);
}

static void test_prefill_shapes(void **state)
{
    (void)state;
    /* M = 33 (64-row tile, one slice), 200 (128-row tiles: two slices). */
    const gemm_case cases[] = {
        {TSR_W4A16_FORMAT_GPTQ, 33, 256, 264, 128, 1, 0, TSR_DTYPE_F16, 1},
        {TSR_W4A16_FORMAT_AWQ, 200, 128, 136, 64, 1, 0, TSR_DTYPE_BF16, 1},
        {TSR_W4A16_FORMAT_GPTQ, 24, 160, 128, 32, 0, 0, TSR_DTYPE_F16, 0},
        /* two row slices of one column each, split over two blocks per slice */
        {TSR_W4A16_FORMAT_GPTQ, 200, 256, 128, 64, 1, 0, TSR_DTYPE_F16, 1},
        /* two slices of three columns (9 k-tiles) on the emulation's 4 SMs:
         * whole columns would take two waves of 9 items, so each slice is
         * striped over two blocks of 14 items, runs that start and end
         * inside columns (make_plan's several-slice rule) */
        {TSR_W4A16_FORMAT_GPTQ, 200, 576, 296, 64, 1, 0, TSR_DTYPE_BF16, 1},
    };
    for (const auto &c : cases) run_case(c);
}

/* Every combination of format, group size, dtype, zeros and act-order (GPTQ
 * only), cycling through M = 1, 7, 16, 33, 200 so that each M meets several. */
static void test_every_combination(void **state)
{
    (void)state;
    const int groups[] = {32, 64, 128, -1}, ms[] = {1, 7, 16, 33, 200};
    int i = 0;
    for (int f = 0; f < 3; f++)
        for (int g = 0; g < 4; g++)
            for (int bf = 0; bf < 2; bf++)
                for (int asym = 0; asym < 2; asym++)
                    for (int act = 0; act < (f == 0 ? 2 : 1); act++, i++) {
                        int m = ms[i % 5];
                        gemm_case c = {(tsr_w4a16_format_t)f, m, 256, m >= 33 ? 136 : 264, groups[g], asym, act,
                                       bf ? TSR_DTYPE_BF16 : TSR_DTYPE_F16, i % 3 == 0};
                        run_case(c);
                    }
    printf("%d combinations checked\n", i);
}

static void test_act_order(void **state)
{
    (void)state;
    const gemm_case cases[] = {
        {TSR_W4A16_FORMAT_GPTQ, 7, 256, 136, 32, 1, 1, TSR_DTYPE_F16, 0},
        {TSR_W4A16_FORMAT_GPTQ, 16, 256, 128, 128, 0, 1, TSR_DTYPE_BF16, 1},
    };
    for (const auto &c : cases) run_case(c);
}

/* Every row of the configuration table, forced through TSR_W4A16_CONFIG, on a
 * shape that splits columns and has a partial last tile. The warpgroup tiles
 * (wgmma) need an sm_90 device: elsewhere the dispatcher must refuse them
 * with UNSUPPORTED_ARCH, which is checked instead (the emulation runs them as
 * sm_90 in test_w4a16_emu_sm90). */
static void test_every_config(void **state)
{
    (void)state;
    tsr_handle_t saved = g_handle;
    static const int swap_of[] = {
#define ROW_SWAP(id, m_blocks, stages, warps_m, swap_ab, items_per_barrier) swap_ab,
        TSR_W4A16_CONFIGS(ROW_SWAP)
#undef ROW_SWAP
    };
    static const int items_per_barrier_of[] = {
#define ROW_IPB(id, m_blocks, stages, warps_m, swap_ab, items_per_barrier) items_per_barrier,
        TSR_W4A16_CONFIGS(ROW_IPB)
#undef ROW_IPB
    };
    tsr_device_info_t dev;
    assert_int_equal(tsr_get_device_info(saved, &dev), TSR_STATUS_SUCCESS);
    const bool sm90 = dev.cc_major == 9 && dev.cc_minor == 0;
    for (int id = 0; id < TSR_W4A16_CONFIG_COUNT; id++) {
        assert_int_equal(tsr_w4a16_config_supported(saved, id), !tsr_w4a16_uses_wgmma(swap_of[id]) || sm90);
        if (tsr_w4a16_uses_wgmma(swap_of[id]) && !sm90) {
            tsr_w4a16_layout_t l;
            assert_int_equal(tsr_w4a16_layout(352, 264, 32, TSR_DTYPE_F16, 1, 0, &l), TSR_STATUS_SUCCESS);
            size_t wsb = 0;
            assert_int_equal(tsr_w4a16_workspace_size(saved, &l, 64, &wsb), TSR_STATUS_SUCCESS);
            TSR_EXPECT_ERROR(tsr_w4a16_gemm_config(saved, &l, 64, NULL, NULL, NULL, NULL, NULL, wsb, id, 0),
                             TSR_STATUS_UNSUPPORTED_ARCH, "uses wgmma, which needs an sm_90 device");
            printf("config %d (wgmma) refused on cc %d.%d, as it must be\n", id, dev.cc_major, dev.cc_minor);
            continue;
        }
        char v[8];
        snprintf(v, sizeof v, "%d", id);
        setenv("TSR_W4A16_CONFIG", v, 1);
        assert_int_equal(tsr_create(&g_handle), TSR_STATUS_SUCCESS);
        unsetenv("TSR_W4A16_CONFIG");
        g_forced = id;
        const gemm_case c = {TSR_W4A16_FORMAT_GPTQ, 1 + 13 * id, 352, 264, 32, 1, 0, id % 2 ? TSR_DTYPE_BF16 : TSR_DTYPE_F16, 1};
        run_case(c);
        /* several row slices of one 128-column tile: columns split across
         * blocks within each slice, a partial last slice and tile */
        const gemm_case d = {TSR_W4A16_FORMAT_AWQ, 150 + id, 352, 120, 64, 1, 0, id % 2 ? TSR_DTYPE_F16 : TSR_DTYPE_BF16, 0};
        run_case(d);
        /* the swapped tiles at 13 tokens, columns split over blocks: the
         * 8-token tiles in two row slices (the second 5 rows), the 16-token
         * one in one whose second fragment holds 5 */
        if (swap_of[id] == 1) {
            const gemm_case f = {TSR_W4A16_FORMAT_GPTQ, 13, 512, 264, 128, 1, 0, id % 2 ? TSR_DTYPE_BF16 : TSR_DTYPE_F16, 1};
            run_case(f);
        }
        /* the warp-specialised tiles and those with two items a barrier: a
         * long k (17 k-tiles, an odd count) over several row slices (the
         * last partial), so that every block runs more items than it has
         * stages and the hand-over barriers refill each stage buffer (the
         * cases above give its blocks at most 6 items); both dtypes, with
         * and without zero points */
        const bool long_case = swap_of[id] == TSR_W4A16_SWAP_WGMMA_WS || items_per_barrier_of[id] == 2;
        for (int v = 0; long_case && v < 2; v++) {
            /* two or three row slices, the last partial */
            const int m = std::min(rows_per_block(NULL, 0) * 5 / 2 + 2, 300);
            const gemm_case e = {TSR_W4A16_FORMAT_GPTQ, m, 1088, 136, 128, v, 0, v ? TSR_DTYPE_F16 : TSR_DTYPE_BF16, 0};
            run_case(e);
        }
        tsr_destroy(g_handle);
    }
    g_forced = -1;
    g_handle = saved;
    assert_int_equal(tsr_w4a16_config_supported(saved, -1), 0);
    assert_int_equal(tsr_w4a16_config_supported(saved, TSR_W4A16_CONFIG_COUNT), 0);
    assert_int_equal(tsr_w4a16_config_supported(NULL, 0), 0);
    /* the heuristic takes the warpgroup tiles on sm_90 alone (and only there
     * are they timed: perf/results/2026-11-22-h100, run 13) */
    tsr_w4a16_layout_t l;
    assert_int_equal(tsr_w4a16_layout(352, 264, 32, TSR_DTYPE_F16, 1, 0, &l), TSR_STATUS_SUCCESS);
    const int m_of[5] = {8, 16, 32, 64, 128}, want[2][5] = {{6, 0, 1, 2, 5}, {6, 3, 1, 7, 8}};
    for (int i = 0; i < 5; i++) {
        int cfg = -1;
        assert_int_equal(tsr_w4a16_query_config(saved, &l, m_of[i], &cfg), TSR_STATUS_SUCCESS);
        if (cfg != want[sm90][i]) fail_msg("m=%d on cc %d.%d: the heuristic chose config %d, want %d", m_of[i], dev.cc_major, dev.cc_minor, cfg, want[sm90][i]);
    }
    /* sm_90 beyond 128 rows: the 256-token tile (11) where it pads m no
     * further than the 128-token one and m * n * k passes 2^34 (70b.qkv,
     * k 8192, n 10240, at m = 250, 256 and 512; not at 384, which it pads
     * further, nor at 129, too little work), else 8 (70b.o, k = n = 8192:
     * m * n * k is exactly 2^34 at 256) */
    tsr_w4a16_layout_t big, mid;
    assert_int_equal(tsr_w4a16_layout(8192, 10240, 128, TSR_DTYPE_F16, 0, 0, &big), TSR_STATUS_SUCCESS);
    assert_int_equal(tsr_w4a16_layout(8192, 8192, 128, TSR_DTYPE_F16, 0, 0, &mid), TSR_STATUS_SUCCESS);
    const struct {
        const tsr_w4a16_layout_t *l;
        int m, want;
    } prefill[] = {{&big, 256, 11}, {&big, 512, 11}, {&big, 384, 8}, {&big, 129, 8}, {&big, 250, 11}, {&mid, 256, 8}, {&mid, 512, 11}};
    for (const auto &c : prefill) {
        int cfg = -1;
        assert_int_equal(tsr_w4a16_query_config(saved, c.l, c.m, &cfg), TSR_STATUS_SUCCESS);
        const int want = sm90 ? c.want : 5;
        if (cfg != want) fail_msg("k=%d n=%d m=%d on cc %d.%d: the heuristic chose config %d, want %d", c.l->k, c.l->n, c.m, dev.cc_major, dev.cc_minor, cfg, want);
    }
}

/* A fresh handle whose dense route works in slabs of one column tile (128
 * columns), so that small layers take several. */
static tsr_handle_t handle_with_one_tile_slabs(void)
{
    tsr_handle_t h = nullptr;
    setenv("TSR_W4A16_DENSE_SLAB_COLS", "128", 1);
    assert_int_equal(tsr_create(&h), TSR_STATUS_SUCCESS);
    unsetenv("TSR_W4A16_DENSE_SLAB_COLS");
    return h;
}

/* The dense prefill route forced (TSR_W4A16_PREFILL_DENSE): dequantise +
 * (emulated) cuBLAS from m = 1024, the kernel below, in slabs (n = 136 takes
 * two, the second 8 wide; 392 four); a kernel call after a dense call in the
 * same workspace still finds its locks at zero. */
static void test_dense_prefill(void **state)
{
    (void)state;
    tsr_handle_t saved = g_handle;
    g_handle = handle_with_one_tile_slabs();
    assert_int_equal(tsr_w4a16_set_prefill(g_handle, (tsr_w4a16_prefill_t)7), TSR_STATUS_INVALID_VALUE);
    assert_non_null(strstr(tsr_last_error(), "mode=7"));
    assert_int_equal(tsr_w4a16_set_prefill(g_handle, TSR_W4A16_PREFILL_DENSE), TSR_STATUS_SUCCESS);
    tsr_w4a16_layout_t l;
    assert_int_equal(tsr_w4a16_layout(128, 72, 32, TSR_DTYPE_F16, 1, 1, &l), TSR_STATUS_SUCCESS);
    int cfg = 99;
    assert_int_equal(tsr_w4a16_query_config(g_handle, &l, TSR_W4A16_DENSE_MIN_M, &cfg), TSR_STATUS_SUCCESS);
    assert_int_equal(cfg, TSR_W4A16_ROUTE_DENSE);
    assert_int_equal(tsr_w4a16_query_config(g_handle, &l, TSR_W4A16_DENSE_MIN_M - 1, &cfg), TSR_STATUS_SUCCESS);
    assert_true(cfg >= 0);
    size_t ws_bytes = 0;
    assert_int_equal(tsr_w4a16_workspace_size(g_handle, &l, 1030, &ws_bytes), TSR_STATUS_SUCCESS);
    assert_true(ws_bytes >= (size_t)128 * 72 * 2); /* the dense matrix lives there */

    const gemm_case dense[] = {
        {TSR_W4A16_FORMAT_GPTQ, 1030, 128, 72, 32, 1, 1, TSR_DTYPE_F16, 1},
        {TSR_W4A16_FORMAT_AWQ, 1024, 192, 136, 64, 1, 0, TSR_DTYPE_BF16, 0},
        {TSR_W4A16_FORMAT_GPTQ, 1025, 64, 392, 32, 0, 1, TSR_DTYPE_BF16, 1},
    };
    for (const gemm_case &c : dense) run_case(c, false);
    run_case({TSR_W4A16_FORMAT_GPTQ, 40, 128, 72, 32, 1, 0, TSR_DTYPE_F16, 1}); /* below: the kernel */

    /* the dense route at m = 1030, then the kernel at m = 20 (two row slices
     * of one column tile, each split over two blocks: it counts in locks) in
     * the same zeroed-once workspace: the dense matrix must not have landed
     * on those locks */
    uint64_t rng = g_seed ^ 0xd5;
    ref_w4a16_t w;
    ref_w4a16_make(&w, TSR_W4A16_FORMAT_GPTQ, 128, 72, 32, 1, 0, TSR_DTYPE_F16, &rng);
    assert_int_equal(tsr_w4a16_layout(128, 72, 32, TSR_DTYPE_F16, 1, 0, &l), TSR_STATUS_SUCCESS);
    dev_buf blob = pack(w, l, false);
    const int m = 20;
    std::vector<uint16_t> a((size_t)1030 * 128), c((size_t)m * 72);
    for (auto &v : a) v = ref_double_to_b16(tsr_test_rand_unit(&rng), TSR_DTYPE_F16);
    std::vector<double> ref((size_t)m * 72), norm((size_t)m * 72);
    ref_w4a16_gemm(&w, TSR_DTYPE_F16, m, a.data(), nullptr, ref.data(), norm.data());
    size_t wsb = 0, ws_small = 0; /* one workspace for both calls: the larger */
    assert_int_equal(tsr_w4a16_workspace_size(g_handle, &l, 1030, &wsb), TSR_STATUS_SUCCESS);
    assert_int_equal(tsr_w4a16_workspace_size(g_handle, &l, m, &ws_small), TSR_STATUS_SUCCESS);
    if (ws_small > wsb) wsb = ws_small;
    dev_buf da = dev_new(a.size() * 2), dbig = dev_new((size_t)1030 * 72 * 2), dc = dev_new(c.size() * 2), ws = dev_new(wsb);
    TSR_TEST_CUDA(cudaMemcpy(da.p, a.data(), a.size() * 2, cudaMemcpyHostToDevice));
    TSR_TEST_CUDA(cudaMemset(ws.p, 0, wsb));
    assert_int_equal(tsr_w4a16_gemm(g_handle, &l, 1030, da.p, blob.p, nullptr, dbig.p, ws.p, wsb, 0), TSR_STATUS_SUCCESS);
    TSR_TEST_CUDA(cudaMemset(dc.p, 0xFF, c.size() * 2));
    tsr_status_t st = tsr_w4a16_gemm_config(g_handle, &l, m, da.p, blob.p, nullptr, dc.p, ws.p, wsb, 0, 0);
    if (st) fail_msg("gemm_config: %s", tsr_last_error());
    TSR_TEST_CUDA(cudaDeviceSynchronize());
    TSR_TEST_CUDA(cudaMemcpy(c.data(), dc.p, c.size() * 2, cudaMemcpyDeviceToHost));
    for (size_t x = 0; x < c.size(); x++) {
        double got = ref_b16_to_double(c[x], TSR_DTYPE_F16);
        if (!(fabs(got - ref[x]) <= 2.5e-3 * (fabs(ref[x]) + norm[x]) + 1e-6))
            fail_msg("the kernel after the dense route: C[%zu] = %.6g, want %.6g (seed %llu)", x, got, ref[x],
                     (unsigned long long)g_seed);
    }
    cudaFree(da.p);
    cudaFree(dbig.p);
    cudaFree(dc.p);
    cudaFree(ws.p);
    cudaFree(blob.p);
    ref_w4a16_free(&w);
    tsr_destroy(g_handle);
    g_handle = saved;
}

/* The default mode (AUTO): the dense route from TSR_W4A16_AUTO_DENSE_MIN_M
 * on sm_90 alone; a configuration forced by TSR_W4A16_CONFIG keeps the
 * kernel; tsr_w4a16_set_prefill switches. On sm_90 (the emulated one too),
 * one call at m = 2048 through three slabs (128, 128 and 8 columns). */
static void test_auto_prefill(void **state)
{
    (void)state;
    tsr_handle_t saved = g_handle;
    g_handle = handle_with_one_tile_slabs();
    tsr_device_info_t info;
    assert_int_equal(tsr_get_device_info(g_handle, &info), TSR_STATUS_SUCCESS);
    const bool sm90 = info.cc_major == 9 && info.cc_minor == 0;
    tsr_w4a16_layout_t l;
    assert_int_equal(tsr_w4a16_layout(128, 264, 64, TSR_DTYPE_BF16, 1, 0, &l), TSR_STATUS_SUCCESS);
    int cfg = 99;
    assert_int_equal(tsr_w4a16_query_config(g_handle, &l, TSR_W4A16_AUTO_DENSE_MIN_M, &cfg), TSR_STATUS_SUCCESS);
    if (sm90) assert_int_equal(cfg, TSR_W4A16_ROUTE_DENSE);
    else assert_true(cfg >= 0);
    assert_int_equal(tsr_w4a16_query_config(g_handle, &l, TSR_W4A16_AUTO_DENSE_MIN_M - 1, &cfg), TSR_STATUS_SUCCESS);
    assert_true(cfg >= 0);
    assert_int_equal(tsr_w4a16_set_prefill(g_handle, TSR_W4A16_PREFILL_KERNEL), TSR_STATUS_SUCCESS);
    assert_int_equal(tsr_w4a16_query_config(g_handle, &l, 4096, &cfg), TSR_STATUS_SUCCESS);
    assert_true(cfg >= 0);
    assert_int_equal(tsr_w4a16_set_prefill(g_handle, TSR_W4A16_PREFILL_AUTO), TSR_STATUS_SUCCESS);
    if (sm90) run_case({TSR_W4A16_FORMAT_AWQ, 2048, 128, 264, 64, 1, 0, TSR_DTYPE_BF16, 1}, false);
    tsr_destroy(g_handle);
    setenv("TSR_W4A16_CONFIG", "5", 1);
    assert_int_equal(tsr_create(&g_handle), TSR_STATUS_SUCCESS);
    unsetenv("TSR_W4A16_CONFIG");
    assert_int_equal(tsr_w4a16_query_config(g_handle, &l, 4096, &cfg), TSR_STATUS_SUCCESS);
    assert_int_equal(cfg, 5);
    tsr_destroy(g_handle);
    g_handle = saved;
}

/* tsr_w4a16_gemm captured into a CUDA graph and replayed twice, then called
 * directly, on a fresh handle: at m = 7 (columns split over blocks) a replay
 * whose locks were not left at zero would sum the wrong partials; at m = 2048
 * on sm_90 AUTO would create its cuBLAS handle, which no capture may see
 * (the emulated cuBLAS refuses, as the real one would fail to allocate), so
 * the captured call runs the kernel and the direct one the dense route; a
 * second capture then holds the dense route, cuBLAS call included. The
 * emulation records a capture and runs it at cudaGraphLaunch. */
static void test_graph_capture(void **state)
{
    (void)state;
    tsr_handle_t h;
    assert_int_equal(tsr_create(&h), TSR_STATUS_SUCCESS);
    tsr_device_info_t info;
    assert_int_equal(tsr_get_device_info(h, &info), TSR_STATUS_SUCCESS);
    /* 2048 where AUTO routes it (elsewhere it is the kernel again, at length) */
    const bool sm90 = info.cc_major == 9 && info.cc_minor == 0;
    const int ms[] = {7, 2048};
    for (int m : ms) {
        if (m == 2048 && !sm90) continue;
        const gemm_case tc = {TSR_W4A16_FORMAT_GPTQ, m, 96, 136, 32, 1, 0, TSR_DTYPE_F16, 1};
        case_inputs in;
        make_inputs(in, tc, g_seed ^ (0xca97ull + (uint64_t)m), h);
        const tsr_w4a16_layout_t &l = in.l;
        const dev_buf &blob = in.blob, &da = in.da, &db = in.db, &dc = in.dc, &ws = in.ws;
        const size_t ws_bytes = ws.bytes;
        std::vector<uint16_t> c((size_t)m * tc.n);
        cudaStream_t s;
        TSR_TEST_CUDA(cudaStreamCreate(&s));
        /* m = 2048 twice: first the kernel is captured (no cuBLAS handle yet),
         * then, the direct call having created it, the dense route */
        for (int round = 0; round < (m == 2048 ? 2 : 1); round++) {
            TSR_TEST_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
            tsr_status_t st = tsr_w4a16_gemm(h, &l, m, da.p, blob.p, db.p, dc.p, ws.p, ws_bytes, s);
            cudaGraph_t graph = nullptr;
            cudaError_t ce = cudaStreamEndCapture(s, &graph);
            if (st) fail_msg("gemm under capture, m=%d round %d: %s | %s", m, round, tsr_status_string(st), tsr_last_error());
            if (ce != cudaSuccess) fail_msg("cudaStreamEndCapture, m=%d round %d: %s", m, round, cudaGetErrorString(ce));
            cudaGraphExec_t exec;
            TSR_TEST_CUDA(cudaGraphInstantiate(&exec, graph, 0));
            for (int rep = 0; rep < 3; rep++) {
                TSR_TEST_CUDA(cudaMemsetAsync(dc.p, 0xFF, dc.bytes, s)); /* NaN poison */
                if (rep < 2) TSR_TEST_CUDA(cudaGraphLaunch(exec, s));
                else if ((st = tsr_w4a16_gemm(h, &l, m, da.p, blob.p, db.p, dc.p, ws.p, ws_bytes, s)))
                    fail_msg("gemm after capture, m=%d: %s | %s", m, tsr_status_string(st), tsr_last_error());
                TSR_TEST_CUDA(cudaStreamSynchronize(s));
                TSR_TEST_CUDA(cudaMemcpy(c.data(), dc.p, c.size() * 2, cudaMemcpyDeviceToHost));
                expect_close(tc, c, in.ref, in.norm, rep == 0 ? "graph replay 0" : rep == 1 ? "graph replay 1" : "direct call after the capture");
            }
            TSR_TEST_CUDA(cudaGraphExecDestroy(exec));
            TSR_TEST_CUDA(cudaGraphDestroy(graph));
        }
        TSR_TEST_CUDA(cudaStreamDestroy(s));
        free_inputs(in);
    }
    tsr_destroy(h);
}

static void test_device_pack_matches_host(void **state)
{
    (void)state;
    const int fmts[] = {0, 1, 2};
    for (int f : fmts)
        for (int asym = 0; asym < 2; asym++) {
            uint64_t rng = g_seed ^ (uint64_t)(f * 2 + asym);
            int act = f == 0 && asym;
            ref_w4a16_t w;
            ref_w4a16_make(&w, (tsr_w4a16_format_t)f, 160, 264, 32, asym, act, TSR_DTYPE_F16, &rng);
            tsr_w4a16_layout_t l;
            assert_int_equal(tsr_w4a16_layout(160, 264, 32, f == 2 ? TSR_DTYPE_BF16 : TSR_DTYPE_F16, asym, act, &l), 0);
            dev_buf h = pack(w, l, false), d = pack(w, l, true);
            std::vector<unsigned char> hb(l.total_bytes), db(l.total_bytes);
            TSR_TEST_CUDA(cudaMemcpy(hb.data(), h.p, l.total_bytes, cudaMemcpyDeviceToHost));
            TSR_TEST_CUDA(cudaMemcpy(db.data(), d.p, l.total_bytes, cudaMemcpyDeviceToHost));
            for (size_t i = 0; i < l.total_bytes; i++)
                if (hb[i] != db[i]) fail_msg("format %d asym %d: byte %zu differs: host 0x%02x device 0x%02x", f, asym, i, hb[i], db[i]);
            cudaFree(h.p);
            cudaFree(d.p);
            ref_w4a16_free(&w);
        }
}

/* One dense dequantisation, bit for bit against the reference's (q - z) * s
 * in the checkpoint's row order, into a NaN-poisoned output with a guard past
 * its end. */
static void check_dequantize(int f, int group, int asym, int act, tsr_dtype_t dt, int k, int n, bool gpu_pack,
                             uint64_t rng)
{
    const int guard = 64;
    ref_w4a16_t w;
    ref_w4a16_make(&w, (tsr_w4a16_format_t)f, k, n, group, asym, act, TSR_DTYPE_F16, &rng);
    tsr_w4a16_layout_t l;
    assert_int_equal(tsr_w4a16_layout(k, n, group, dt, asym, act, &l), TSR_STATUS_SUCCESS);
    dev_buf blob = pack(w, l, gpu_pack), out = dev_new(((size_t)k * n + guard) * 2);
    TSR_TEST_CUDA(cudaMemset(out.p, 0xFF, out.bytes)); /* NaN in f16 and bf16 */
    tsr_status_t st = tsr_w4a16_dequantize(g_handle, &l, blob.p, out.p, 0);
    if (st) fail_msg("dequantize: %s | %s", tsr_status_string(st), tsr_last_error());
    TSR_TEST_CUDA(cudaDeviceSynchronize());
    std::vector<uint16_t> got((size_t)k * n + guard);
    TSR_TEST_CUDA(cudaMemcpy(got.data(), out.p, out.bytes, cudaMemcpyDeviceToHost));
    for (int r = 0; r < k; r++)
        for (int c = 0; c < n; c++) {
            size_t gi = (size_t)w.g_idx[r] * n + c;
            double s = ref_b16_to_double(ref_double_to_b16(ref_b16_to_double(w.scale[gi], TSR_DTYPE_F16), dt), dt);
            uint16_t want = ref_double_to_b16((w.q[(size_t)r * n + c] - w.zero[gi]) * s, dt);
            if (got[(size_t)r * n + c] != want)
                fail_msg("fmt %d g=%d asym=%d act=%d %s k=%d n=%d: w[%d][%d] = 0x%04x, want 0x%04x (seed %llu)", f, group,
                         asym, act, tsr_dtype_name(dt), k, n, r, c, got[(size_t)r * n + c], want,
                         (unsigned long long)g_seed);
        }
    for (int j = 0; j < guard; j++) assert_int_equal(got[(size_t)k * n + j], 0xFFFF);
    cudaFree(blob.p);
    cudaFree(out.p);
    ref_w4a16_free(&w);
}

/* Partial k- and n-tiles, every format, group, zeros and act-order; then two
 * weights of about five tiles for every block of the grid (4 an SM: 85 tiles
 * on the emulated 4 SMs), so that each block walks several tiles through both
 * of its shared buffers and prefetches across them. */
static void test_dequantize(void **state)
{
    (void)state;
    const int groups[] = {32, 64, 128, -1};
    int i = 0;
    for (int f = 0; f < 3; f++)
        for (int g = 0; g < 4; g++)
            for (int asym = 0; asym < 2; asym++, i++) {
                const int act = f == 0 && (g + asym) % 2;
                const tsr_dtype_t dt = i % 2 ? TSR_DTYPE_BF16 : TSR_DTYPE_F16;
                check_dequantize(f, groups[g], asym, act, dt, 224, 264, i % 3 == 0, g_seed ^ (uint64_t)(0xdeadull * (i + 1)));
            }
    int sms = 0;
    TSR_TEST_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    const int k_big = 64 * (4 * sms + 1) - 32; /* 5 n-tiles, the last 8 columns wide */
    check_dequantize(TSR_W4A16_FORMAT_GPTQ, 32, 1, 1, TSR_DTYPE_F16, k_big, 520, true, g_seed ^ 0xbeefull);
    check_dequantize(TSR_W4A16_FORMAT_AWQ, 128, 1, 0, TSR_DTYPE_BF16, k_big, 520, false, g_seed ^ 0xfeedull);
    i += 2;
    printf("%d dequantisations checked\n", i);
}

/* Group sizes that are multiples of 64 but not powers of two (the layout
 * accepts any multiple of 64): 192 over k = 448 ends in a partial group. */
static void test_group_not_power_of_two(void **state)
{
    (void)state;
    const gemm_case cases[] = {
        {TSR_W4A16_FORMAT_GPTQ, 7, 448, 136, 192, 1, 0, TSR_DTYPE_F16, 0},
        {TSR_W4A16_FORMAT_AWQ, 1, 384, 128, 192, 0, 0, TSR_DTYPE_BF16, 1},
        {TSR_W4A16_FORMAT_GPTQ, 40, 640, 256, 320, 1, 1, TSR_DTYPE_BF16, 1},
        {TSR_W4A16_FORMAT_PLAIN, 200, 448, 136, 192, 1, 0, TSR_DTYPE_F16, 1},
    };
    for (const auto &c : cases) run_case(c);
    check_dequantize(TSR_W4A16_FORMAT_GPTQ, 192, 1, 1, TSR_DTYPE_F16, 448, 264, false, g_seed ^ 0x192ull);
}

static void test_dequantize_rejects_bad_input(void **state)
{
    (void)state;
    tsr_w4a16_layout_t l;
    assert_int_equal(tsr_w4a16_layout(128, 128, 64, TSR_DTYPE_F16, 0, 0, &l), 0);
    dev_buf blob = dev_new(l.total_bytes), out = dev_new(128 * 128 * 2 + 16);
    TSR_EXPECT_ERROR(tsr_w4a16_dequantize(NULL, &l, blob.p, out.p, 0), TSR_STATUS_INVALID_VALUE, "handle is NULL");
    TSR_EXPECT_ERROR(tsr_w4a16_dequantize(g_handle, NULL, blob.p, out.p, 0), TSR_STATUS_INVALID_VALUE, "l is NULL");
    TSR_EXPECT_ERROR(tsr_w4a16_dequantize(g_handle, &l, NULL, out.p, 0), TSR_STATUS_INVALID_VALUE, "packed is NULL");
    TSR_EXPECT_ERROR(tsr_w4a16_dequantize(g_handle, &l, blob.p, NULL, 0), TSR_STATUS_INVALID_VALUE, "w is NULL");
    TSR_EXPECT_ERROR(tsr_w4a16_dequantize(g_handle, &l, blob.p, (char *)out.p + 8, 0), TSR_STATUS_MISALIGNED_POINTER,
                     "must be aligned to 16 bytes");
    tsr_w4a16_layout_t bad = l;
    bad.groups++;
    TSR_EXPECT_ERROR(tsr_w4a16_dequantize(g_handle, &bad, blob.p, out.p, 0), TSR_STATUS_INVALID_VALUE,
                     "differs from what tsr_w4a16_layout computes");
    cudaFree(blob.p);
    cudaFree(out.p);
}

/* Programmatic dependent launch (tsr_w4a16_set_programmatic_launch, sm_90):
 * three layers chained on one stream, each one's A the previous one's C, in
 * one workspace, with nothing in between to end an overlap: the emulation
 * checks that no kernel reads A or the workspace, or stores anything, before
 * its griddepcontrol.wait (tests/emu/simt.h), and every C is compared with
 * the fp64 reference of the A it was given. Then the chain captured into a
 * graph and replayed, and the chain with ordinary launches: both bit for bit
 * the first. The second layer has act-order: its gather of A is a
 * programmatic launch too, between two gemms. Each tile family: decode
 * (6, 3, 1), warpgroup (7, 8) and warp-specialised (10). */
static void test_programmatic_launch(void **state)
{
    (void)state;
    tsr_handle_t h;
    assert_int_equal(tsr_create(&h), TSR_STATUS_SUCCESS);
    tsr_device_info_t info;
    assert_int_equal(tsr_get_device_info(h, &info), TSR_STATUS_SUCCESS);
    TSR_EXPECT_ERROR(tsr_w4a16_set_programmatic_launch(NULL, 1), TSR_STATUS_INVALID_VALUE, "handle is NULL");
    TSR_EXPECT_ERROR(tsr_w4a16_set_programmatic_launch(h, 2), TSR_STATUS_INVALID_VALUE, "enable=2 must be 0 or 1");
    assert_int_equal(tsr_w4a16_set_programmatic_launch(h, 0), TSR_STATUS_SUCCESS);
    if (!(info.cc_major == 9 && info.cc_minor == 0)) {
        TSR_EXPECT_ERROR(tsr_w4a16_set_programmatic_launch(h, 1), TSR_STATUS_UNSUPPORTED_ARCH, "needs an sm_90 device");
        printf("programmatic launch refused on cc %d.%d, as it must be\n", info.cc_major, info.cc_minor);
        tsr_destroy(h);
        return;
    }
    const int k = 192, n = 192, layers = 3; /* n = k: each C is the next A */
    const tsr_dtype_t dt = TSR_DTYPE_F16;
    uint64_t rng = g_seed ^ 0x9d1;
    ref_w4a16_t w[2];
    tsr_w4a16_layout_t l[2];
    ref_w4a16_make(&w[0], TSR_W4A16_FORMAT_AWQ, k, n, 32, 1, 0, dt, &rng);
    ref_w4a16_make(&w[1], TSR_W4A16_FORMAT_GPTQ, k, n, 64, 1, 1, dt, &rng);
    assert_int_equal(tsr_w4a16_layout(k, n, 32, dt, 1, 0, &l[0]), TSR_STATUS_SUCCESS);
    assert_int_equal(tsr_w4a16_layout(k, n, 64, dt, 1, 1, &l[1]), TSR_STATUS_SUCCESS);
    dev_buf blob[2] = {pack(w[0], l[0], false), pack(w[1], l[1], false)};
    std::vector<uint16_t> bias(n);
    for (auto &v : bias) v = ref_double_to_b16(tsr_test_rand_unit(&rng), dt);
    dev_buf db = dev_new((size_t)n * 2);
    TSR_TEST_CUDA(cudaMemcpy(db.p, bias.data(), bias.size() * 2, cudaMemcpyHostToDevice));
    const int cases[][2] = {{6, 1}, {6, 5}, {3, 16}, {1, 30}, {7, 40}, {8, 100}, {10, 130}}; /* {config, m} */
    for (const auto &cm : cases) {
        const int config = cm[0], m = cm[1];
        const gemm_case tc = {TSR_W4A16_FORMAT_GPTQ, m, k, n, 32, 1, 0, dt, 1}; /* for expect_close */
        std::vector<uint16_t> a0((size_t)m * k);
        for (auto &v : a0) v = ref_double_to_b16(tsr_test_rand_unit(&rng), dt);
        size_t wsb = 0;
        for (int i = 0; i < 2; i++) {
            size_t b = 0;
            assert_int_equal(tsr_w4a16_workspace_size(h, &l[i], m, &b), TSR_STATUS_SUCCESS);
            wsb = b > wsb ? b : wsb;
        }
        dev_buf ws = dev_new(wsb), act[layers + 1];
        TSR_TEST_CUDA(cudaMemset(ws.p, 0, wsb));
        for (auto &b : act) b = dev_new((size_t)m * k * 2);
        TSR_TEST_CUDA(cudaMemcpy(act[0].p, a0.data(), a0.size() * 2, cudaMemcpyHostToDevice));
        cudaStream_t s;
        TSR_TEST_CUDA(cudaStreamCreate(&s));
        /* the chain into act[1..layers], poisoned first (the memsets come
         * before the first call: nothing between the calls) */
        auto chain = [&](void) {
            for (int i = 1; i <= layers; i++) TSR_TEST_CUDA(cudaMemsetAsync(act[i].p, 0xFF, act[i].bytes, s));
            for (int i = 0; i < layers; i++) {
                tsr_status_t st = tsr_w4a16_gemm_config(h, &l[i % 2], m, act[i].p, blob[i % 2].p, db.p, act[i + 1].p,
                                                        ws.p, wsb, config, s);
                if (st) fail_msg("config %d m=%d layer %d: %s | %s", config, m, i, tsr_status_string(st), tsr_last_error());
            }
        };
        auto outputs = [&](void) {
            TSR_TEST_CUDA(cudaStreamSynchronize(s));
            std::vector<uint16_t> all;
            for (int i = 1; i <= layers; i++) {
                std::vector<uint16_t> c((size_t)m * n);
                TSR_TEST_CUDA(cudaMemcpy(c.data(), act[i].p, c.size() * 2, cudaMemcpyDeviceToHost));
                all.insert(all.end(), c.begin(), c.end());
            }
            return all;
        };
        assert_int_equal(tsr_w4a16_set_programmatic_launch(h, 1), TSR_STATUS_SUCCESS);
        chain();
        const std::vector<uint16_t> first = outputs();
        for (int i = 0; i < layers; i++) {
            const uint16_t *in = i == 0 ? a0.data() : first.data() + (size_t)(i - 1) * m * n;
            std::vector<uint16_t> c(first.begin() + (size_t)i * m * n, first.begin() + (size_t)(i + 1) * m * n);
            std::vector<double> ref((size_t)m * n), norm((size_t)m * n);
            ref_w4a16_gemm(&w[i % 2], dt, m, in, bias.data(), ref.data(), norm.data());
            char what[64];
            snprintf(what, sizeof what, "config %d, programmatic, layer %d", config, i);
            expect_close(tc, c, ref, norm, what);
        }
        for (int round = 0; round < 2; round++) {
            cudaGraph_t graph = nullptr;
            cudaGraphExec_t exec = nullptr;
            if (round == 0) { /* captured, programmatic edges and all */
                TSR_TEST_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
                chain();
                TSR_TEST_CUDA(cudaStreamEndCapture(s, &graph));
                TSR_TEST_CUDA(cudaGraphInstantiate(&exec, graph, 0));
                TSR_TEST_CUDA(cudaGraphLaunch(exec, s));
            } else { /* ordinary launches */
                assert_int_equal(tsr_w4a16_set_programmatic_launch(h, 0), TSR_STATUS_SUCCESS);
                chain();
            }
            const std::vector<uint16_t> again = outputs();
            for (size_t x = 0; x < again.size(); x++)
                if (again[x] != first[x])
                    fail_msg("config %d m=%d %s: element %zu = 0x%04x, 0x%04x in the first chain (seed %llu)", config, m,
                             round == 0 ? "graph replay" : "ordinary launches", x, again[x], first[x],
                             (unsigned long long)g_seed);
            if (exec) TSR_TEST_CUDA(cudaGraphExecDestroy(exec));
            if (graph) TSR_TEST_CUDA(cudaGraphDestroy(graph));
        }
        printf("config %d m=%d: three programmatic layers match the reference; graph and ordinary launches bit for bit\n",
               config, m);
        TSR_TEST_CUDA(cudaStreamDestroy(s));
        for (auto &b : act) cudaFree(b.p);
        cudaFree(ws.p);
    }
    cudaFree(db.p);
    for (int i = 0; i < 2; i++) {
        cudaFree(blob[i].p);
        ref_w4a16_free(&w[i]);
    }
    tsr_destroy(h);
}

static void test_gemm_rejects_bad_input(void **state)
{
    (void)state;
    tsr_w4a16_layout_t l;
    assert_int_equal(tsr_w4a16_layout(128, 128, 64, TSR_DTYPE_F16, 0, 0, &l), 0);
    dev_buf a = dev_new(16 * 128 * 2 + 16), blob = dev_new(l.total_bytes), c = dev_new(16 * 128 * 2);
    size_t ws_bytes = 0;
    assert_int_equal(tsr_w4a16_workspace_size(g_handle, &l, 16, &ws_bytes), 0);
    dev_buf ws = dev_new(ws_bytes + 16);
    TSR_TEST_CUDA(cudaMemset(ws.p, 0, ws_bytes + 16));
    TSR_EXPECT_ERROR(tsr_w4a16_gemm(NULL, &l, 16, a.p, blob.p, NULL, c.p, ws.p, ws_bytes, 0), TSR_STATUS_INVALID_VALUE, "h is NULL");
    TSR_EXPECT_ERROR(tsr_w4a16_gemm(g_handle, NULL, 16, a.p, blob.p, NULL, c.p, ws.p, ws_bytes, 0), TSR_STATUS_INVALID_VALUE, "l is NULL");
    TSR_EXPECT_ERROR(tsr_w4a16_gemm(g_handle, &l, -1, a.p, blob.p, NULL, c.p, ws.p, ws_bytes, 0), TSR_STATUS_INVALID_VALUE, "m=-1 must be >= 0");
    TSR_EXPECT_ERROR(tsr_w4a16_gemm(g_handle, &l, 16, NULL, blob.p, NULL, c.p, ws.p, ws_bytes, 0), TSR_STATUS_INVALID_VALUE, "a is NULL");
    TSR_EXPECT_ERROR(tsr_w4a16_gemm(g_handle, &l, 16, (char *)a.p + 2, blob.p, NULL, c.p, ws.p, ws_bytes, 0),
                 TSR_STATUS_MISALIGNED_POINTER, "must be aligned to 16 bytes");
    TSR_EXPECT_ERROR(tsr_w4a16_gemm(g_handle, &l, 16, a.p, blob.p, NULL, c.p, ws.p, 16, 0), TSR_STATUS_WORKSPACE_TOO_SMALL,
                 "workspace_bytes=16 but m=16 needs");
    TSR_EXPECT_ERROR(tsr_w4a16_gemm_config(g_handle, &l, 16, a.p, blob.p, NULL, c.p, ws.p, ws_bytes, 99, 0),
                 TSR_STATUS_INVALID_VALUE, "config=99 is not a W4A16 configuration");
    int cfg = -1;
    TSR_EXPECT_ERROR(tsr_w4a16_query_config(g_handle, &l, 16, NULL), TSR_STATUS_INVALID_VALUE, "config is NULL");
    assert_int_equal(tsr_w4a16_query_config(g_handle, &l, 16, &cfg), TSR_STATUS_SUCCESS);
    assert_true(cfg >= 0 && cfg < tsr_w4a16_config_count());
    tsr_w4a16_layout_t bad = l;
    bad.k_padded = 4096;
    TSR_EXPECT_ERROR(tsr_w4a16_gemm(g_handle, &bad, 16, a.p, blob.p, NULL, c.p, ws.p, ws_bytes, 0), TSR_STATUS_INVALID_VALUE,
                 "differs from what tsr_w4a16_layout computes");
    bad = l;
    bad.k = 100;
    TSR_EXPECT_ERROR(tsr_w4a16_can_implement(g_handle, &bad, 16), TSR_STATUS_UNSUPPORTED_SHAPE, "k=100 must be a positive multiple of 32");
    bad = l;
    bad.dtype = TSR_DTYPE_INT8;
    TSR_EXPECT_ERROR(tsr_w4a16_can_implement(g_handle, &bad, 16), TSR_STATUS_UNSUPPORTED_DTYPE, "dtype=int8");
    TSR_EXPECT_ERROR(tsr_w4a16_workspace_size(g_handle, &l, 16, NULL), TSR_STATUS_INVALID_VALUE, "bytes is NULL");
    /* m = 0 is a valid empty product */
    assert_int_equal(tsr_w4a16_gemm(g_handle, &l, 0, a.p, blob.p, NULL, c.p, ws.p, ws_bytes, 0), TSR_STATUS_SUCCESS);
    assert_int_equal(tsr_w4a16_can_implement(g_handle, &l, 4096), TSR_STATUS_SUCCESS);
    cudaFree(a.p);
    cudaFree(blob.p);
    cudaFree(c.p);
    cudaFree(ws.p);
}

int main(void)
{
#if !defined(TSR_EMU)
    if (!tsr_test_device_or_skip()) return 77;
#endif
    g_seed = tsr_test_seed("w4a16");
    setenv("TESSERA_TUNING", "off", 1); /* hermetic: a user's tuning cache must not pick configurations here */
    tsr_status_t st = tsr_create(&g_handle);
    if (st) {
        printf("tsr_create: %s | %s\n", tsr_status_string(st), tsr_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_shapes),
        cmocka_unit_test(test_prefill_shapes),
        cmocka_unit_test(test_act_order),
        cmocka_unit_test(test_group_not_power_of_two),
        cmocka_unit_test(test_every_combination),
        cmocka_unit_test(test_every_config),
        cmocka_unit_test(test_dense_prefill),
        cmocka_unit_test(test_auto_prefill),
        cmocka_unit_test(test_graph_capture),
        cmocka_unit_test(test_programmatic_launch),
        cmocka_unit_test(test_device_pack_matches_host),
        cmocka_unit_test(test_dequantize),
        cmocka_unit_test(test_dequantize_rejects_bad_input),
        cmocka_unit_test(test_gemm_rejects_bad_input),
    };
    /* TSR_TEST_FILTER: run only the tests whose names match one of its
     * '|'-separated glob patterns (fnmatch) */
    std::vector<CMUnitTest> run;
    const char *filter = getenv("TSR_TEST_FILTER");
    for (const CMUnitTest &t : tests) {
        bool keep = !filter;
        for (const char *f = filter; f && !keep; f = strchr(f, '|') ? strchr(f, '|') + 1 : nullptr) {
            const std::string pattern(f, strchr(f, '|') ? (size_t)(strchr(f, '|') - f) : strlen(f));
            keep = fnmatch(pattern.c_str(), t.name, 0) == 0;
        }
        if (keep) run.push_back(t);
    }
    int rc = _cmocka_run_group_tests("test_w4a16", run.data(), run.size(), NULL, NULL);
    tsr_destroy(g_handle);
    return rc;
}
