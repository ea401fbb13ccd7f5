/* W4A16 dispatcher: validates a call, picks a kernel configuration from the
 * table in w4a16_format.h, plans the striped grid and the workspace, and
 * launches (cuda/w4a16/). Every rejection names the argument, value and rule. */
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>

#include "internal.h"
#include "w4a16_internal.h"

static const tsr_w4a16_config_t k_configs[TSR_W4A16_CONFIG_COUNT] = {
#define TSR_W4A16_ROW(id, mb, stages, wm, swap, ipb) {id, mb, stages, wm, swap, ipb},
    TSR_W4A16_CONFIGS(TSR_W4A16_ROW)
#undef TSR_W4A16_ROW
};

/* A launch plan: grid shape and where each part of the workspace lives. */
typedef struct w4a16_plan {
    const tsr_w4a16_config_t *config;
    int m_slices, blocks_per_slice, items_per_block, k_tiles, n_tiles;
    size_t locks_offset, partials_offset, a_perm_offset, workspace_bytes, smem_bytes;
    int dense;           /* the dequantise + cuBLAS route (tsr_w4a16_set_prefill) */
    int dense_cols;      /* its slab width: columns dequantised and multiplied at a time */
    size_t dense_offset; /* where the slab [k][dense_cols] goes: past the locks any kernel call can count in */
} w4a16_plan_t;

/* Blocks per SM beyond two are taken only while each block keeps this many
 * items (the grid rule in make_plan). */
#define TSR_W4A16_MIN_ITEMS_PER_EXTRA_BLOCK 64
/* ... and a second block per SM of the 32- and 64-row tiles only while each
 * keeps this many. */
#define TSR_W4A16_MIN_ITEMS_TALL 16

static size_t align256(size_t x) { return (x + 255) / 256 * 256; }

/* Heuristic until the tuning cache (issue 6) answers first: the smallest row
 * tile that covers m (8 rows, the swapped tile, up to m = 8), so that decode
 * moves weights once and wastes few mma rows,
 * and 128-row tiles beyond 64 rows, which halve the weight re-reads of prefill.
 * Decode gets 8 stages: memory-bound, it needs bytes in flight (about 25 KB
 * per SM to cover HBM latency on H100 by Little's law; 4 stages hold 16 KB). */
static const tsr_w4a16_config_t *config_by_id(int id)
{
    for (int i = 0; i < TSR_W4A16_CONFIG_COUNT; i++)
        if (k_configs[i].id == id) return &k_configs[i];
    return NULL;
}

static int is_sm90(tsr_handle_t h) { return h->info.cc_major == 9 && h->info.cc_minor == 0; }

/* The warpgroup tiles (wgmma) run on sm_90 alone: the kernels are built for
 * sm_90a there, and wgmma exists nowhere else. */
static int config_runs_on(tsr_handle_t h, const tsr_w4a16_config_t *c)
{
    return !tsr_w4a16_uses_wgmma(c->swap_ab) || is_sm90(h);
}

/* In order: an explicit id (tsr_w4a16_gemm_config), TSR_W4A16_CONFIG, the
 * tuning cache's entry (*tuned; NULL when there is none), the heuristic. A
 * cache entry for the dense route (TSR_W4A16_ROUTE_DENSE) names no
 * configuration: where such a call runs the kernel after all (under graph
 * capture, in KERNEL mode), the heuristic chooses. */
static const tsr_w4a16_config_t *choose_config(tsr_handle_t h, const tsr_w4a16_layout_t *l, int m, int explicit_id,
                                               const int *tuned)
{
    const tsr_w4a16_config_t *c;
    if (explicit_id >= 0 && (c = config_by_id(explicit_id))) return c;
    if ((c = config_by_id(h->w4a16_forced_config))) return c;
    if (tuned && (c = config_by_id(*tuned)) && config_runs_on(h, c)) return c;
    /* the 8-row tile with the weights as the mma's A operand: half the mma
     * and half the ldmatrix of the 16-row tile */
    if (m <= 8) return &k_configs[6];
    /* the 16-row tile; on sm_90 with 4 stages rather than 8: ktune on the
     * Llama-3-70B layers (H100, run 16) found configuration 3 1.03-1.06x
     * faster at m = 16 on all four, and the heuristic's choice best at every
     * other m it timed (1..1024) */
    if (m <= 16) return is_sm90(h) ? &k_configs[3] : &k_configs[0];
    if (m <= 32) return &k_configs[1];
    /* sm_90: the warpgroup tiles, 1.17-1.32x configuration 2 at m = 64 and
     * 1.13-1.27x configuration 5 at m = 128 on every Llama-3 layer of the
     * H100 run 13 (perf/results/2026-11-22-h100); 8 (128 tokens) beat 7 at
     * m = 128 on all eight layers and at m = 256 on five of them */
    if (is_sm90(h)) {
        if (m <= 64) return &k_configs[7];
        /* the warp-specialised 256-token tile where its row slices pad m no
         * further than the 128-token tile's (m = 129-256, 385-512, ...) and
         * the layer's work m * n * k passes 2^34: against configuration 8,
         * 1.02-1.25x on every such Llama-3 layer at m = 192, 256 and 512;
         * below that work mostly slower (0.82-0.98x: 70b.o and 8b.down at
         * 256, 8b.qkv and 8b.o everywhere), the bound giving up two wins
         * (70b.qkv at 192, 1.14x; 8b.down at 192, 1.02x; H100,
         * perf/results/2026-11-23-h100 run 21, with the striped grid) */
        const int m128 = (m + 127) / 128 * 128, m256 = (m + 255) / 256 * 256;
        if (m256 == m128 && (double)m * l->n * l->k > 17179869184.0) return &k_configs[11];
        return &k_configs[8];
    }
    if (m <= 64) return &k_configs[2];
    /* the 2x4 warp grid: 1.0-1.25x config 4 from m = 128 on an H100
     * (perf/results/2026-11-22-h100, run 2) */
    return &k_configs[5];
}

/* The group size the kernels walk: per-channel is one group over the padded k. */
static int kernel_group_size(const tsr_w4a16_layout_t *l) { return l->group_size == l->k ? l->k_padded : l->group_size; }
/* The kernel finds a k's group with one shift when the group size is a power
 * of two (32, 64, 128, ...); other multiples of 64 (192, or a per-channel
 * k_padded such as 4160) get -1, and the kernel divides. */
static int kernel_group_shift(const tsr_w4a16_layout_t *l)
{
    const int g = kernel_group_size(l);
    for (int sh = 0; sh < 31; sh++)
        if (g == 1 << sh) return sh;
    return -1;
}

static tsr_status_t check_layout(const char *fn, const tsr_w4a16_layout_t *l)
{
    TSR_CHECK_PTR(fn, l);
    tsr_w4a16_layout_t ref;
    tsr_status_t st = tsr_w4a16_layout_impl(l->k, l->n, l->group_size, l->dtype, l->has_zeros, l->act_order, &ref);
    if (st) return st;
    if (memcmp(&ref, l, sizeof ref) != 0)
        return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: layout (k=%d, n=%d, group_size=%d) differs from what tsr_w4a16_layout computes; "
                        "pass the struct it filled in, unmodified", fn, l->k, l->n, l->group_size);
    return TSR_STATUS_SUCCESS;
}

/* Does this call take the dense route (tessera/w4a16.h: the modes)? A
 * configuration forced by TSR_W4A16_CONFIG keeps the kernel. In AUTO a
 * tuning-cache entry for the shape settles it (ktune times the route beside
 * the kernel configurations from TSR_W4A16_DENSE_MIN_M and records
 * TSR_W4A16_ROUTE_DENSE when it wins); without one, the threshold. */
static int takes_dense_route(tsr_handle_t h, int m, int explicit_id, const int *tuned)
{
    if (explicit_id >= 0) return 0;
    if (h->w4a16_prefill == TSR_W4A16_PREFILL_DENSE) return m >= TSR_W4A16_DENSE_MIN_M;
    if (h->w4a16_prefill != TSR_W4A16_PREFILL_AUTO || config_by_id(h->w4a16_forced_config)) return 0;
    if (tuned) return *tuned == TSR_W4A16_ROUTE_DENSE;
    return is_sm90(h) && m >= TSR_W4A16_AUTO_DENSE_MIN_M;
}

/* The dense route's slab width: the widest of TSR_W4A16_DENSE_SLAB_BYTES of
 * weight, m columns (every cuBLAS call at least m x m x k) and enough columns
 * for two waves of 128 x 128 output tiles over the SMs (or
 * TSR_W4A16_DENSE_SLAB_COLS); a multiple of the 128-column tile, or all of n.
 * Why the waves: 70b.down (k = 28672) at m = 1024 took slabs of 1152
 * columns, 72 such tiles a call for 132 SMs, and ran 1.36x slower than the
 * layer taken whole (H100, perf/results/2026-11-23-h100 run 22). */
static int dense_slab_cols(tsr_handle_t h, const tsr_w4a16_layout_t *l, int m)
{
    size_t cols = h->w4a16_dense_slab_cols > 0 ? (size_t)h->w4a16_dense_slab_cols
                                               : TSR_W4A16_DENSE_SLAB_BYTES / ((size_t)l->k * 2);
    if (h->w4a16_dense_slab_cols <= 0) {
        const size_t sms = h->info.sm_count > 0 ? (size_t)h->info.sm_count : 1;
        const size_t fill = m > 0 ? 2 * sms * 128 * 128 / (size_t)m : 0;
        if (cols < (size_t)m) cols = (size_t)m;
        if (cols < fill) cols = fill;
    }
    cols = (cols + TSR_W4A16_TILE_N - 1) / TSR_W4A16_TILE_N * TSR_W4A16_TILE_N;
    return cols < (size_t)l->n ? (int)cols : l->n;
}

static tsr_status_t make_plan(const char *fn, tsr_handle_t h, const tsr_w4a16_layout_t *l, int m, int explicit_id,
                              int allow_dense, w4a16_plan_t *p)
{
    TSR_CHECK_PTR(fn, h);
    tsr_status_t st = check_layout(fn, l);
    if (st) return st;
    if (m < 0) return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: m=%d must be >= 0", fn, m);
    if (h->info.cc_major < 8)
        return tsr_fail(TSR_STATUS_UNSUPPORTED_ARCH, "%s: device cc %d.%d; the W4A16 kernels need sm_80 or newer", fn,
                        h->info.cc_major, h->info.cc_minor);
    if (explicit_id >= TSR_W4A16_CONFIG_COUNT || (explicit_id >= 0 && !config_by_id(explicit_id)))
        return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: config=%d is not a W4A16 configuration (0..%d)", fn, explicit_id,
                        TSR_W4A16_CONFIG_COUNT - 1);
    memset(p, 0, sizeof *p);
    /* the tuning cache's entry, looked up once for both choices below, and
     * only where neither an explicit nor a forced configuration settles them */
    int tuned_id = 0, tuned = 0;
    if (explicit_id < 0 && !config_by_id(h->w4a16_forced_config))
        tsr_tuning_lookup(h, "w4a16", l->dtype, l->group_size, l->n, l->k, m, &tuned_id, &tuned);
    p->config = choose_config(h, l, m, explicit_id, tuned ? &tuned_id : NULL);
    int bm = tsr_w4a16_tile_rows(p->config->m_blocks, p->config->swap_ab);
    p->k_tiles = l->k_padded / TSR_W4A16_TILE_K;
    p->n_tiles = l->n_padded / TSR_W4A16_TILE_N;
    p->m_slices = m == 0 ? 0 : (m + bm - 1) / bm;
    if (allow_dense && takes_dense_route(h, m, explicit_id, tuned ? &tuned_id : NULL)) {
        /* The locks lead every workspace and must stay zero: the dense matrix
         * goes past the most any kernel call counts there. A kernel call with
         * up to m rows has at most (m+15)/16 slices of n_tiles locks; one with
         * more rows splits columns (and counts) only while slices x n_tiles is
         * under the grid, at most 8 blocks (of 256 threads) per SM. */
        const size_t most_locks = (size_t)((m + 15) / 16) * p->n_tiles, grid_locks = (size_t)8 * h->info.sm_count;
        p->dense = 1;
        p->dense_cols = dense_slab_cols(h, l, m);
        p->dense_offset = align256((most_locks > grid_locks ? most_locks : grid_locks) * sizeof(int));
        p->workspace_bytes = align256(p->dense_offset + (size_t)l->k * p->dense_cols * 2);
        return TSR_STATUS_SUCCESS;
    }
    if (!config_runs_on(h, p->config))
        return tsr_fail(TSR_STATUS_UNSUPPORTED_ARCH, "%s: config %d uses wgmma, which needs an sm_90 device (H100/H200); this one is cc %d.%d",
                        fn, p->config->id, h->info.cc_major, h->info.cc_minor);
    p->smem_bytes = tsr_w4a16_smem_bytes(bm, p->config->stages, p->config->swap_ab);
    if (p->smem_bytes > (size_t)h->info.smem_per_block_optin)
        return tsr_fail(TSR_STATUS_UNSUPPORTED_ARCH, "%s: config %d needs %zu bytes of shared memory; the device allows %d",
                        fn, p->config->id, p->smem_bytes, h->info.smem_per_block_optin);
    int per_sm = 1;
    cudaError_t ce = tsr_w4a16_blocks_per_sm(p->config->id, l->dtype == TSR_DTYPE_BF16, l->has_zeros, &per_sm);
    if (ce != cudaSuccess)
        return tsr_fail(TSR_STATUS_CUDA_ERROR, "%s: occupancy query for config %d: %s", fn, p->config->id, cudaGetErrorString(ce));
    int total = p->k_tiles * p->n_tiles, sms = h->info.sm_count > 0 ? h->info.sm_count : 1;
    /* Striping. With one row slice, spread all (n, k) tiles evenly over the
     * grid, so a small layer still fills the GPU; with several, whichever of
     * whole columns per block or striping each slice ends sooner (below).
     * How many blocks per SM with one slice: the H100 sweep of run 6
     * (perf/results/2026-11-22-h100, TSR_W4A16_BLOCKS_PER_SM = 1..4, m = 1, 4,
     * 16, eight Llama-3 layers) found two best or within 2% of best on every
     * layer but one: one leaves the schedulers idle (ncu, run 3), and beyond
     * two each block gets too few items to amortise its start (filling its
     * stages) and its end (partial tiles), except on the largest layers:
     * 70b.gate_up ran 128 us at two, 122 at three or four; 70b.down 69 at two
     * or three, 72 at four. So two, and more only while every block keeps at
     * least 64 items; the sweep was of the 16-row tile. The swapped 8-row
     * tile (the default for m <= 8) stays at two: swept again in
     * perf/results/2026-11-23-h100 run 20 (after the kernel's reduction
     * came to load its partials together), two beat the rule's three or
     * more on 70b.gate_up and 70b.down by 7-8% at m = 1 and 4 and tied on
     * the other six layers, while the 16-row tile at m = 16 still gained
     * from more (70b.down 0.93x at two). */
    int wave = sms;
    if (p->m_slices <= 1) {
        int per = per_sm < 2 ? per_sm : 2;
        /* the taller tiles (32 and 64 rows) end in bigger partial tiles: on
         * 8b.o and 8b.qkv at m = 64 (8 and 12 items a block at two) one per
         * SM was 5-14% faster (run 8) */
        if (p->config->m_blocks > 1 && total < TSR_W4A16_MIN_ITEMS_TALL * sms * per) per = 1;
        while (p->config->swap_ab != 1 && per < per_sm && total >= TSR_W4A16_MIN_ITEMS_PER_EXTRA_BLOCK * sms * (per + 1)) per++;
        if (h->w4a16_forced_blocks_per_sm > 0)
            per = h->w4a16_forced_blocks_per_sm < per_sm ? h->w4a16_forced_blocks_per_sm : per_sm;
        wave = sms * (per > 0 ? per : 1);
    }
    int blocks;
    if (p->m_slices <= 1) blocks = total < wave ? total : wave;
    else {
        /* Several row slices: whole columns per block (no partial sums) take
         * ceil(n_tiles * m_slices / wave) waves of k_tiles items; striping
         * each slice over wave / m_slices blocks takes one wave of
         * ceil(total / that) items. Whole columns always (up to run 20) left
         * the second wave nearly empty wherever n_tiles * m_slices passed the
         * SM count a little: 70b.qkv at m = 256 (160 blocks, 132 SMs) took
         * 161 us against 63 at m = 128. Striping wins when it saves more than
         * the partials cost, taken as 1/16. */
        const long whole = ((long)p->n_tiles * p->m_slices + wave - 1) / wave * p->k_tiles;
        const int per_slice = wave / p->m_slices;
        const long striped = per_slice > 0 ? ((long)total + per_slice - 1) / per_slice : whole + 1;
        blocks = striped * 16 < whole * 15 ? per_slice : p->n_tiles;
    }
    if (blocks > total) blocks = total;
    if (blocks < 1) blocks = 1;
    p->items_per_block = (total + blocks - 1) / blocks;
    p->blocks_per_slice = (total + p->items_per_block - 1) / p->items_per_block;
    int split = p->items_per_block % p->k_tiles != 0;
    size_t off = 0;
    p->locks_offset = off;
    off = align256(off + (size_t)p->m_slices * p->n_tiles * sizeof(int));
    p->partials_offset = off;
    /* two partial tiles per block: the column its run starts in and the one it ends in */
    if (split) off = align256(off + (size_t)p->m_slices * p->blocks_per_slice * 2 * bm * TSR_W4A16_TILE_N * sizeof(float));
    p->a_perm_offset = off;
    if (l->act_order) off = align256(off + (size_t)m * l->k * 2);
    p->workspace_bytes = off;
    return TSR_STATUS_SUCCESS;
}

tsr_status_t tsr_w4a16_can_implement(tsr_handle_t handle, const tsr_w4a16_layout_t *layout, int m)
{
    tsr_clear_error();
    w4a16_plan_t plan = {0};
    return make_plan("tsr_w4a16_can_implement", handle, layout, m, -1, 1, &plan);
}

tsr_status_t tsr_w4a16_workspace_size(tsr_handle_t handle, const tsr_w4a16_layout_t *layout, int m, size_t *bytes)
{
    const char *fn = "tsr_w4a16_workspace_size";
    tsr_clear_error();
    TSR_CHECK_PTR(fn, bytes);
    w4a16_plan_t plan = {0};
    tsr_status_t st = make_plan(fn, handle, layout, m, -1, 1, &plan);
    if (st) return st;
    /* enough for every configuration, so that a tuned or explicit choice
     * fits too, and the dense route's slab when it applies */
    size_t most = plan.workspace_bytes;
    for (int i = 0; i < TSR_W4A16_CONFIG_COUNT; i++) {
        if (make_plan(fn, handle, layout, m, k_configs[i].id, 0, &plan) == TSR_STATUS_SUCCESS && plan.workspace_bytes > most)
            most = plan.workspace_bytes;
    }
    tsr_clear_error();
    *bytes = most;
    return TSR_STATUS_SUCCESS;
}

int tsr_w4a16_config_count(void) { return TSR_W4A16_CONFIG_COUNT; }

int tsr_w4a16_config_supported(tsr_handle_t handle, int id)
{
    const tsr_w4a16_config_t *c = config_by_id(id);
    return handle && c && config_runs_on(handle, c);
}

tsr_status_t tsr_w4a16_query_config(tsr_handle_t handle, const tsr_w4a16_layout_t *layout, int m, int *config)
{
    const char *fn = "tsr_w4a16_query_config";
    tsr_clear_error();
    TSR_CHECK_PTR(fn, config);
    w4a16_plan_t plan = {0};
    tsr_status_t st = make_plan(fn, handle, layout, m, -1, 1, &plan);
    if (!st) *config = plan.dense ? TSR_W4A16_ROUTE_DENSE : plan.config->id;
    return st;
}

static void release_blas(void *blas) { cublasDestroy((cublasHandle_t)blas); }

/* The dense route's cuBLAS handle, once per tessera handle. */
static tsr_status_t create_blas(const char *fn, tsr_handle_t h)
{
    if (h->blas) return TSR_STATUS_SUCCESS;
    cublasHandle_t blas;
    cublasStatus_t bs = cublasCreate(&blas);
    if (bs != CUBLAS_STATUS_SUCCESS)
        return tsr_fail(TSR_STATUS_CUDA_ERROR, "%s: cublasCreate failed with cuBLAS status %d", fn, (int)bs);
    h->blas = blas;
    h->release_blas = release_blas;
    return TSR_STATUS_SUCCESS;
}

tsr_status_t tsr_w4a16_set_prefill(tsr_handle_t handle, tsr_w4a16_prefill_t mode)
{
    const char *fn = "tsr_w4a16_set_prefill";
    tsr_clear_error();
    TSR_CHECK_PTR(fn, handle);
    if (mode != TSR_W4A16_PREFILL_KERNEL && mode != TSR_W4A16_PREFILL_DENSE && mode != TSR_W4A16_PREFILL_AUTO)
        return tsr_fail(TSR_STATUS_INVALID_VALUE,
                        "%s: mode=%d must be TSR_W4A16_PREFILL_KERNEL (0), TSR_W4A16_PREFILL_DENSE (1) or TSR_W4A16_PREFILL_AUTO (2)",
                        fn, (int)mode);
    if (mode != TSR_W4A16_PREFILL_KERNEL) {
        tsr_status_t st = create_blas(fn, handle);
        if (st) return st;
    }
    handle->w4a16_prefill = mode;
    return TSR_STATUS_SUCCESS;
}

tsr_status_t tsr_w4a16_set_programmatic_launch(tsr_handle_t handle, int enable)
{
    const char *fn = "tsr_w4a16_set_programmatic_launch";
    tsr_clear_error();
    TSR_CHECK_PTR(fn, handle);
    if (enable != 0 && enable != 1)
        return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: enable=%d must be 0 or 1", fn, enable);
    if (enable && !is_sm90(handle))
        return tsr_fail(TSR_STATUS_UNSUPPORTED_ARCH,
                        "%s: programmatic dependent launch needs an sm_90 device (H100/H200); this one is cc %d.%d", fn,
                        handle->info.cc_major, handle->info.cc_minor);
    handle->w4a16_programmatic = enable;
    return TSR_STATUS_SUCCESS;
}

/* Blocks per SM of the dequantisation: 1024 threads, 70 KB of its shared
 * buffers, and each block holds the next tile's loads in flight. */
#define TSR_W4A16_DEQUANT_BLOCKS_PER_SM 4

/* Fills the dequantisation launch of a packed weight into w ([k][n], dense;
 * the dense route narrows it to a slab). */
static void dequant_args(tsr_handle_t h, const tsr_w4a16_layout_t *l, const void *packed, void *w,
                         tsr_w4a16_dequant_args_t *args)
{
    const unsigned char *blob = packed;
    memset(args, 0, sizeof *args);
    args->k = l->k;
    args->n = l->n;
    args->n_padded = l->n_padded;
    args->k_tiles = l->k_padded / TSR_W4A16_TILE_K;
    args->n_tile0 = 0;
    args->n_tiles = l->n_padded / TSR_W4A16_TILE_N;
    args->ld = l->n;
    args->group_size = kernel_group_size(l);
    args->group_shift = kernel_group_shift(l);
    args->has_zeros = l->has_zeros;
    args->bf16 = l->dtype == TSR_DTYPE_BF16;
    args->blocks = TSR_W4A16_DEQUANT_BLOCKS_PER_SM * (h->info.sm_count > 0 ? h->info.sm_count : 1);
    args->qweight = (const uint32_t *)(blob + l->qweight_offset);
    args->scales = (const uint16_t *)(blob + l->scales_offset);
    args->zeros = l->has_zeros ? blob + l->zeros_offset : NULL;
    args->perm = l->act_order ? (const int32_t *)(blob + l->perm_offset) : NULL;
    args->out = w;
}

/* The dense route: C = bias rows; then per slab of `cols` columns, the slab
 * of W into the workspace (w, [k][slab width]) and C[:, slab] += A W_slab by
 * cuBLAS. W's rows are in checkpoint order, so A needs no act-order gather. */
static tsr_status_t dense_gemm(const char *fn, tsr_handle_t h, const tsr_w4a16_layout_t *l, int m, const void *a,
                               const void *packed, const void *bias, void *c, void *w, int cols, cudaStream_t stream)
{
    float one = 1.f, beta = 0.f;
    if (bias) {
        TSR_CUDA_TRY(tsr_w4a16_launch_bias_rows((const uint16_t *)bias, (uint16_t *)c, m, l->n, stream));
        beta = 1.f;
    }
    cublasHandle_t blas = (cublasHandle_t)h->blas;
    const cudaDataType_t t = l->dtype == TSR_DTYPE_BF16 ? CUDA_R_16BF : CUDA_R_16F;
    tsr_w4a16_dequant_args_t args;
    dequant_args(h, l, packed, w, &args); /* each slab narrows it */
    cublasStatus_t bs = cublasSetStream(blas, stream);
    for (int c0 = 0; c0 < l->n && bs == CUBLAS_STATUS_SUCCESS; c0 += cols) {
        const int width = cols < l->n - c0 ? cols : l->n - c0;
        args.n_tile0 = c0 / TSR_W4A16_TILE_N; /* cols is a multiple of 128 unless it is all of n */
        args.n_tiles = (width + TSR_W4A16_TILE_N - 1) / TSR_W4A16_TILE_N;
        args.ld = width;
        TSR_CUDA_TRY(tsr_w4a16_launch_dequant(&args, stream));
        /* row-major C[m][c0..] = A[m][k] W_slab[k][width] is column-major C^T = W_slab^T A^T, C's pitch n */
        bs = cublasGemmEx(blas, CUBLAS_OP_N, CUBLAS_OP_N, width, m, l->k, &one, w, t, width, a, t, l->k, &beta,
                          (uint16_t *)c + c0, t, l->n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    }
    if (bs != CUBLAS_STATUS_SUCCESS)
        return tsr_fail(TSR_STATUS_CUDA_ERROR, "%s: cublasGemmEx (m=%d, n=%d, k=%d, slabs of %d columns) failed with cuBLAS status %d",
                        fn, m, l->n, l->k, cols, (int)bs);
    return TSR_STATUS_SUCCESS;
}

static tsr_status_t gemm_impl(const char *fn, tsr_handle_t h, const tsr_w4a16_layout_t *l, int m, const void *a,
                              const void *packed, const void *bias, void *c, void *workspace, size_t workspace_bytes,
                              int config, cudaStream_t stream)
{
    w4a16_plan_t plan = {0};
    tsr_status_t st = make_plan(fn, h, l, m, config, 1, &plan);
    if (st) return st;
    if (plan.dense && !h->blas) {
        /* AUTO's first dense call creates the cuBLAS handle, which no graph
         * capture may see: a captured call runs the kernel instead */
        enum cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
        TSR_CUDA_TRY(cudaStreamIsCapturing(stream, &capture));
        if (capture == cudaStreamCaptureStatusNone) st = create_blas(fn, h);
        else st = make_plan(fn, h, l, m, config, 0, &plan);
        if (st) return st;
    }
    if (m == 0) return TSR_STATUS_SUCCESS;
    TSR_CHECK_PTR(fn, a);
    TSR_CHECK_PTR(fn, packed);
    TSR_CHECK_PTR(fn, c);
    TSR_CHECK_ALIGN(fn, a, 16);
    TSR_CHECK_ALIGN(fn, packed, 16);
    TSR_CHECK_ALIGN(fn, c, 4);
    if (bias) TSR_CHECK_ALIGN(fn, bias, 4);
    if (workspace_bytes < plan.workspace_bytes)
        return tsr_fail(TSR_STATUS_WORKSPACE_TOO_SMALL, "%s: workspace_bytes=%zu but m=%d needs %zu (tsr_w4a16_workspace_size)",
                        fn, workspace_bytes, m, plan.workspace_bytes);
    if (plan.workspace_bytes) {
        TSR_CHECK_PTR(fn, workspace);
        TSR_CHECK_ALIGN(fn, workspace, 16);
    }
    unsigned char *ws = workspace;
    if (plan.dense) return dense_gemm(fn, h, l, m, a, packed, bias, c, ws + plan.dense_offset, plan.dense_cols, stream);
    const unsigned char *blob = packed;
    tsr_w4a16_launch_args_t args;
    memset(&args, 0, sizeof args);
    args.config = plan.config->id;
    args.bf16 = l->dtype == TSR_DTYPE_BF16;
    args.has_zeros = l->has_zeros;
    args.m = m;
    args.n = l->n;
    args.k = l->k;
    args.n_padded = l->n_padded;
    args.k_tiles = plan.k_tiles;
    args.n_tiles = plan.n_tiles;
    args.group_size = kernel_group_size(l);
    args.group_shift = kernel_group_shift(l);
    args.groups = l->groups;
    args.m_slices = plan.m_slices;
    args.blocks_per_slice = plan.blocks_per_slice;
    args.items_per_block = plan.items_per_block;
    args.programmatic = h->w4a16_programmatic;
    args.a = a;
    args.qweight = (const uint32_t *)(blob + l->qweight_offset);
    args.scales = blob + l->scales_offset;
    args.zeros = l->has_zeros ? blob + l->zeros_offset : NULL;
    args.bias = bias;
    args.c = c;
    args.locks = (int *)(ws + plan.locks_offset);
    args.partials = (float *)(ws + plan.partials_offset);
    if (l->act_order) {
        void *a_perm = ws + plan.a_perm_offset;
        TSR_CUDA_TRY(tsr_w4a16_launch_permute_a(a, (const int32_t *)(blob + l->perm_offset), a_perm, m, l->k,
                                                args.programmatic, stream));
        args.a = a_perm;
    }
    TSR_CUDA_TRY(tsr_w4a16_launch_gemm(&args, stream));
    return TSR_STATUS_SUCCESS;
}

tsr_status_t tsr_w4a16_gemm(tsr_handle_t handle, const tsr_w4a16_layout_t *layout, int m, const void *a,
                            const void *packed, const void *bias, void *c, void *workspace, size_t workspace_bytes,
                            cudaStream_t stream)
{
    tsr_clear_error();
    tsr_nvtx_push("tsr_w4a16_gemm");
    tsr_status_t st = gemm_impl("tsr_w4a16_gemm", handle, layout, m, a, packed, bias, c, workspace, workspace_bytes, -1, stream);
    tsr_nvtx_pop();
    return st;
}

tsr_status_t tsr_w4a16_gemm_config(tsr_handle_t handle, const tsr_w4a16_layout_t *layout, int m, const void *a,
                                   const void *packed, const void *bias, void *c, void *workspace,
                                   size_t workspace_bytes, int config, cudaStream_t stream)
{
    tsr_clear_error();
    if (config < 0)
        return tsr_fail(TSR_STATUS_INVALID_VALUE, "tsr_w4a16_gemm_config: config=%d must be in 0..%d", config,
                        TSR_W4A16_CONFIG_COUNT - 1);
    tsr_nvtx_push("tsr_w4a16_gemm_config");
    tsr_status_t st = gemm_impl("tsr_w4a16_gemm_config", handle, layout, m, a, packed, bias, c, workspace,
                                workspace_bytes, config, stream);
    tsr_nvtx_pop();
    return st;
}

tsr_status_t tsr_w4a16_pack_device(tsr_handle_t handle, const tsr_w4a16_source_t *src,
                                   const tsr_w4a16_layout_t *l, void *packed, cudaStream_t stream)
{
    const char *fn = "tsr_w4a16_pack_device";
    tsr_clear_error();
    TSR_CHECK_PTR(fn, handle);
    tsr_status_t st = tsr_w4a16_check_source(fn, src, l);
    if (st) return st;
    if ((st = check_layout(fn, l))) return st;
    TSR_CHECK_PTR(fn, packed);
    TSR_CHECK_ALIGN(fn, packed, 16);
    tsr_nvtx_push(fn);
    unsigned char *blob = packed;
    int32_t *perm_host = NULL;
    if (l->act_order) {
        perm_host = malloc((size_t)l->k_padded * sizeof *perm_host);
        if (!perm_host) st = tsr_fail(TSR_STATUS_OUT_OF_MEMORY, "%s: allocating %d permutation entries failed", fn, l->k_padded);
        else st = tsr_w4a16_build_perm(fn, l, src->g_idx, perm_host);
    }
    if (!st) {
        cudaError_t e = cudaMemsetAsync(blob, 0, l->total_bytes, stream);
        if (e == cudaSuccess && perm_host)
            e = cudaMemcpyAsync(blob + l->perm_offset, perm_host, l->perm_bytes, cudaMemcpyHostToDevice, stream);
        if (e == cudaSuccess) {
            tsr_w4a16_pack_args_t pa;
            memset(&pa, 0, sizeof pa);
            pa.format = (int)src->format;
            pa.k = l->k;
            pa.n = l->n;
            pa.k_padded = l->k_padded;
            pa.n_padded = l->n_padded;
            pa.group_size = l->group_size;
            pa.groups = l->groups;
            pa.has_zeros = l->has_zeros;
            pa.zeros_minus_one = src->gptq_zeros_minus_one;
            pa.scales_convert = src->scales_dtype == l->dtype ? 0 : (l->dtype == TSR_DTYPE_BF16 ? 1 : 2);
            pa.qweight = src->qweight;
            pa.scales = src->scales;
            pa.qzeros = src->qzeros;
            pa.perm = perm_host ? (const int32_t *)(blob + l->perm_offset) : NULL;
            pa.out_qweight = (uint32_t *)(blob + l->qweight_offset);
            pa.out_scales = (uint16_t *)(blob + l->scales_offset);
            pa.out_zeros = l->has_zeros ? blob + l->zeros_offset : NULL;
            e = tsr_w4a16_launch_pack(&pa, stream);
        }
        /* the host permutation must outlive the async copy */
        if (e == cudaSuccess && perm_host) e = cudaStreamSynchronize(stream);
        if (e != cudaSuccess) st = tsr_fail_cuda(e, "tsr_w4a16_pack_device");
    }
    free(perm_host);
    tsr_nvtx_pop();
    return st;
}

tsr_status_t tsr_w4a16_dequantize(tsr_handle_t handle, const tsr_w4a16_layout_t *l, const void *packed, void *w,
                                  cudaStream_t stream)
{
    const char *fn = "tsr_w4a16_dequantize";
    tsr_clear_error();
    TSR_CHECK_PTR(fn, handle);
    tsr_status_t st = check_layout(fn, l);
    if (st) return st;
    TSR_CHECK_PTR(fn, packed);
    TSR_CHECK_PTR(fn, w);
    TSR_CHECK_ALIGN(fn, packed, 16);
    TSR_CHECK_ALIGN(fn, w, 16);
    tsr_w4a16_dequant_args_t args;
    dequant_args(handle, l, packed, w, &args);
    tsr_nvtx_push(fn);
    cudaError_t e = tsr_w4a16_launch_dequant(&args, stream);
    tsr_nvtx_pop();
    if (e != cudaSuccess) return tsr_fail_cuda(e, fn);
    return TSR_STATUS_SUCCESS;
}
