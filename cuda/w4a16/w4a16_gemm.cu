/* W4A16 GEMM for sm_80+: C[m][n] = A[m][k] * dequant(W)[k][n] (+ bias).
 * Weights stream through a cp.async pipeline in the packed layout of
 * csrc/w4a16_format.h, are dequantised in registers with a few bit operations,
 * and meet the activations (ldmatrix from swizzled shared memory) in
 * mma.sync.m16n8k16 with fp32 accumulators. The (n-tile, k-tile) work is
 * striped over the grid; of the blocks sharing a column, the last to arrive sums
 * their partials in a fixed order and resets the lock. docs/formats/w4a16.md. */
#include "common/device.cuh"

extern "C" {
#include "w4a16_internal.h"
}
#include "w4a16/w4a16_dequant.cuh"

/* ---- fp32 pairs to and from 16-bit register pairs ---------------------------- */
template <int BF16> TSR_DEVICE uint32_t pack_out(float x, float y)
{
    uint32_t r;
    if (BF16) {
        __nv_bfloat162 v = __floats2bfloat162_rn(x, y);
        memcpy(&r, &v, 4);
    } else {
        __half2 v = __floats2half2_rn(x, y);
        memcpy(&r, &v, 4);
    }
    return r;
}
template <int BF16> TSR_DEVICE float2 unpack_in(uint32_t u)
{
    if (BF16) {
        __nv_bfloat162 v;
        memcpy(&v, &u, 4);
        return __bfloat1622float2(v);
    }
    __half2 v;
    memcpy(&v, &u, 4);
    return __half22float2(v);
}

/* ---- shared memory of one pipeline stage ------------------------------------ */
/* ALIGN: the stage stride; 1024 for the warpgroup tile, whose activation rows
 * are a wgmma operand in the 128-byte swizzle (atoms on 1024-byte boundaries). */
template <int ROWS, int ALIGN = 16> struct w4a16_stage_layout {
    static const int a_bytes = ROWS * TSR_W4A16_TILE_K * 2; /* [rows][64] halves, 128-byte rows */
    static const int b_offset = a_bytes;                         /* 4096 bytes of packed weights */
    static const int s_offset = b_offset + TSR_W4A16_TILE_WORDS * 4; /* 2 groups x 128 scales */
    static const int z_offset = s_offset + 2 * TSR_W4A16_TILE_N * 2; /* 2 groups x 64 bytes */
    static const int bytes = (z_offset + 2 * TSR_W4A16_TILE_N / 2 + ALIGN - 1) / ALIGN * ALIGN;
};

/* What one thread copies into every stage: its 16-byte chunk column of the
 * activation rows, its first row (rows row0, row0+32, ... for a tile of more
 * than 256 chunks), the shared-memory slot (chunk c of row r lands at slot
 * c ^ (r%8): ldmatrix then reads 8 rows of one chunk column from 8 different
 * bank groups, csrc/layout.h). And where the next item to load is, as
 * pointers that move by a constant per item: the decode loop issues one
 * instruction every 2.5 cycles per scheduler (ncu, perf/results/
 * 2026-11-22-h100), so per-item address arithmetic (64-bit multiplies, a
 * signed modulo, re-read thread indices) is time, not just code. */
struct w4a16_loader {
    /* this thread's first activation chunk and its k: at k-tile kt for the
     * tiles of more than 16 rows (every thread copies activations every
     * item); at k-tile 0 for the decode tiles, whose activations warp 0
     * alone copies, finding k-tile kt's from there (the other warps then
     * skip the update, ~6 instructions an item, nvdisasm) */
    const unsigned char *a;
    int col;
    const uint32_t *w;          /* this thread's 16 weight bytes of the item (nt, kt) */
    const unsigned char *scale; /* this lane's 16 bytes of scales at group 0, n-tile 0 (warp 1 copies them) */
    int nt, kt;                 /* the item loaded next */
    int row0, smem_a0;
    int role;                   /* what else this thread copies each item (w4a16_load_stage); 0: nothing */
};

/* Besides its weights, what a thread copies (w4a16_load_stage). */
#define TSR_W4A16_COPIES_A 1 /* warp 0 of the decode tiles: the activations */
#define TSR_W4A16_COPIES_S 2 /* warp 1, lanes 0..15 (0..31 at group size 32): the scales */
#define TSR_W4A16_COPIES_Z 3 /* warp 2, lanes 0..3 (0..7): the zero points */

/* tid: the thread's index among the THREADS that copy (the block's 256, or
 * the warp-specialised tile's loading warpgroup) */
template <int ROWS, int HAS_Z, int THREADS = TSR_W4A16_THREADS>
TSR_DEVICE w4a16_loader w4a16_make_loader(const tsr_w4a16_launch_args_t &p, int m0, int item, int tid)
{
    w4a16_loader ld;
    const int r = tid >> 3, ch = tid & 7;
    const int warp = tid >> 5, lane = tid & 31, ngroups = p.group_size == 32 ? 2 : 1;
    ld.role = ROWS <= 16 && warp == 0          ? TSR_W4A16_COPIES_A
              : warp == 1 && lane < 16 * ngroups ? TSR_W4A16_COPIES_S
              : HAS_Z && warp == 2 && lane < 4 * ngroups ? TSR_W4A16_COPIES_Z
                                                         : 0;
    ld.nt = item / p.k_tiles;
    ld.kt = item % p.k_tiles;
    ld.row0 = m0 + r;
    ld.col = (ROWS > 16 ? ld.kt * TSR_W4A16_TILE_K : 0) + ch * 8;
    ld.a = (const unsigned char *)p.a + ((size_t)ld.row0 * p.k + ld.col) * 2;
    ld.w = p.qweight + (size_t)item * TSR_W4A16_TILE_WORDS + tid * 4;
    /* group gi of a k-tile (two of them at group size 32) comes from lanes 16 gi .. 16 gi + 15 of warp 1 */
    ld.scale = (const unsigned char *)p.scales + ((size_t)(tid / 16 % 2) * p.n_padded) * 2 + (tid % 16) * 16;
    ld.smem_a0 = r * 128 + tsr_swizzle_chunk(r, ch, 8) * 16;
    return ld;
}

/* The (n-tile, k-tile) after (*nt, *kt) in item order. */
TSR_DEVICE void w4a16_next_tile(const tsr_w4a16_launch_args_t &p, int *nt, int *kt)
{
    if (++*kt == p.k_tiles) {
        *kt = 0;
        ++*nt;
    }
}

/* What w4a16_load_stage copies: all of the item, or (the prologue of a
 * programmatic launch) the packed weight's part first and the activations,
 * which the kernel before may still be writing, after griddep_wait. */
#define TSR_W4A16_LOAD_PACKED 1 /* weights, scales, zero points */
#define TSR_W4A16_LOAD_A 2      /* activations */
#define TSR_W4A16_LOAD_ALL 3

/* Issues the cp.async copies of the loader's item into stage buffer `st`
 * (ROWS activation rows: 8 or 16 for decode, 32..128). */
template <int ROWS, int HAS_Z, int THREADS = TSR_W4A16_THREADS, int WHAT = TSR_W4A16_LOAD_ALL>
TSR_DEVICE void w4a16_load_stage(const tsr_w4a16_launch_args_t &p, w4a16_loader *ld, unsigned char *st, int tid)
{
    typedef w4a16_stage_layout<ROWS> L;
    static_assert(THREADS % 64 == 0, "rounds of a multiple of 8 rows keep each thread's swizzle slot");
    /* Activations: ROWS rows of 64 k as 8 chunks of 16 bytes, THREADS / 8
     * rows a round (32 for the block's 256 threads). Rows past m are not copied at all (zeroed once
     * when the kernel starts, w4a16_zero_rows_past_m); k past the end is
     * zero-filled without being read. */
    constexpr int A_CHUNKS = ROWS * 8, ROWS_PER_ROUND = THREADS / 8;
    if (ROWS > 16 && (WHAT & TSR_W4A16_LOAD_A)) {
        const bool ok = ld->col < p.k;
#pragma unroll
        for (int i = 0; i < (A_CHUNKS + THREADS - 1) / THREADS; i++) {
            if (A_CHUNKS % THREADS != 0 && tid + i * THREADS >= A_CHUNKS) break;
            if (ld->row0 + i * ROWS_PER_ROUND >= p.m) break; /* and every later round's row too */
            const void *src = ok ? ld->a + (size_t)i * ROWS_PER_ROUND * p.k * 2 : p.a;
            cp_async_16_zfill(st + ld->smem_a0 + i * ROWS_PER_ROUND * 128, src, ok ? 16 : 0);
        }
    }
    /* Weights: the tile is 4096 contiguous bytes, tiles in item order;
     * thread t copies bytes 16t.. (and 16(t + THREADS)..) */
#pragma unroll
    for (int j = 0; j < TSR_W4A16_TILE_WORDS / 4 / THREADS; j++)
        if (WHAT & TSR_W4A16_LOAD_PACKED)
            cp_async_16_zfill(st + L::b_offset + (tid + j * THREADS) * 16, ld->w + j * THREADS * 4, 16);
    /* The rest is a few warps' work, each behind a branch the other warps skip
     * (spread over all warps these copies were ~35 instructions every warp
     * issued, mostly predicated off), and on different warps: a block's warp w
     * runs on scheduler w % 4, so piling them on one warp would make its
     * scheduler the block's slowest. Warp 0: the activations of the 16-row
     * decode tile (ROWS/4 rounds of 4 rows; decode has few rows below m); warp 1:
     * the scales of the one or two groups this k-tile touches; warp 2: their
     * zeros. Who does what is decided once (ld->role): the threads with
     * nothing more to copy skip it all with one test (the per-item tests of
     * warp, lane and group size were ~7 instructions for every warp). */
    if (!ld->role) return;
    const int lane = tid & 31;
    if (ROWS <= 16 && ld->role == TSR_W4A16_COPIES_A) {
        if (WHAT & TSR_W4A16_LOAD_A) {
            const int r = lane >> 3, ch = lane & 7;
            const bool in_k = ld->col + ld->kt * TSR_W4A16_TILE_K < p.k; /* ld->a and ld->col are at k-tile 0 here */
            const unsigned char *const a = ld->a + ld->kt * (TSR_W4A16_TILE_K * 2);
#pragma unroll
            for (int i = 0; i < ROWS / 4; i++) {
                if (ld->row0 + 4 * i >= p.m) break;
                const void *src = in_k ? a + (size_t)i * 4 * p.k * 2 : p.a;
                cp_async_16_zfill(st + (r + 4 * i) * 128 + tsr_swizzle_chunk(r + 4 * i, ch, 8) * 16, src, in_k ? 16 : 0);
            }
        }
    } else if ((WHAT & TSR_W4A16_LOAD_PACKED) && ld->role == TSR_W4A16_COPIES_S) {
        const int g0 = tsr_w4a16_group_of_row(ld->kt * TSR_W4A16_TILE_K, p.group_shift, p.group_size);
        cp_async_16_zfill(st + L::s_offset + lane * 16, ld->scale + ((size_t)g0 * p.n_padded + ld->nt * TSR_W4A16_TILE_N) * 2, 16);
    } else if ((WHAT & TSR_W4A16_LOAD_PACKED) && HAS_Z && ld->role == TSR_W4A16_COPIES_Z) {
        const int g0 = tsr_w4a16_group_of_row(ld->kt * TSR_W4A16_TILE_K, p.group_shift, p.group_size);
        const unsigned char *src = p.zeros + (size_t)(g0 + lane / 4) * (p.n_padded / 2) + ld->nt * (TSR_W4A16_TILE_N / 2) + (lane % 4) * 16;
        cp_async_16_zfill(st + L::z_offset + lane * 16, src, 16);
    }
    /* the decode tiles' next item: only the threads with a role track it,
     * here, behind the branch the others skip (~9 instructions an item
     * fewer for them; w4a16_loader_next moves the rest) */
    if (ROWS <= 16) w4a16_next_tile(p, &ld->nt, &ld->kt);
}

/* Rows of the block's row slice past m, zeroed in every stage buffer once:
 * the loads never touch them again (at m = 1 that is 120 of each item's 128
 * activation copies saved; likely most of the excess global sectors the
 * H100's profile counted). The first barrier of the main loop orders these
 * stores before any read. */
template <int ROWS, int STAGES, int ALIGN, int THREADS = TSR_W4A16_THREADS>
TSR_DEVICE void w4a16_zero_rows_past_m(const tsr_w4a16_launch_args_t &p, int m0, unsigned char *smem, int tid)
{
    typedef w4a16_stage_layout<ROWS, ALIGN> L;
    constexpr int A_CHUNKS = ROWS * 8;
    if (m0 + ROWS <= p.m) return;
    for (int i = tid; i < STAGES * A_CHUNKS; i += THREADS) {
        const int c = i % A_CHUNKS;
        if (m0 + (c >> 3) >= p.m) st_shared(smem + (i / A_CHUNKS) * L::bytes + c * 16, make_uint4(0, 0, 0, 0));
    }
}

/* The loader to the item after (nt, kt): its pointers follow the tile, the
 * activation chunk (ROWS > 16) back to k-tile 0 when a new n-tile starts. In
 * the decode tiles (nt, kt) moves in w4a16_load_stage instead, behind the
 * branch that the threads with nothing to copy but weights skip. */
template <int ROWS> TSR_DEVICE void w4a16_loader_next(const tsr_w4a16_launch_args_t &p, w4a16_loader *ld)
{
    ld->w += TSR_W4A16_TILE_WORDS;
    if constexpr (ROWS > 16) {
        w4a16_next_tile(p, &ld->nt, &ld->kt);
        const int back = ld->kt == 0 ? p.k_tiles - 1 : -1; /* k-tiles to step back */
        ld->a -= (ptrdiff_t)back * TSR_W4A16_TILE_K * 2;
        ld->col -= back * TSR_W4A16_TILE_K;
    }
}

/* The warp grid of a block: WM warps along m, 8/WM along n. Warp `warp` owns
 * rows [wm*MB/WM, (wm+1)*MB/WM) of m16 blocks and WM of the tile's eight
 * 16-column groups, wn*WM .. wn*WM+WM-1. With WM = 1 each warp has 16 columns
 * and every row (decode: nothing is dequantised twice); with WM = 2 each A
 * fragment feeds four mma instead of two, halving shared-memory reads of A
 * per mma (prefill, where those reads bound the mma rate), at the price of
 * dequantising every weight twice. */
template <int WM> TSR_DEVICE int w4a16_warp_m(int warp) { return warp / (8 / WM); }
template <int WM> TSR_DEVICE int w4a16_warp_n(int warp) { return warp % (8 / WM); }

/* Group gi's scales and zero constants for this lane's two columns of the
 * tile's 16-column group grp (lane/4 and lane/4 + 8: the two n8 tiles, or the
 * swapped tile's rows g and g+8). The packed scales put those two columns side
 * by side: one 32-bit load, the first column's scale in the low half. gi is 0,
 * or 1 for a k-tile's second group at group size 32; s_ofs and z_ofs are the
 * lane's offsets of group 0 in the stage buffer (w4a16_scale_offset,
 * w4a16_zero_offset). */
template <int BF16, int HAS_Z>
TSR_DEVICE uint32_t w4a16_group_params_at(const unsigned char *st, int s_ofs, int z_ofs, int gi, uint32_t zlo[2], uint32_t zhi[2])
{
    const uint32_t s2 = ld_shared<uint32_t>(st + s_ofs + gi * 256);
    int z0 = 8, z1 = 8;
    if (HAS_Z) {
        uint8_t zb = ld_shared<uint8_t>(st + z_ofs + gi * 64);
        z0 = zb & 15;
        z1 = zb >> 4;
    }
    zero_constants<BF16>(z0, &zlo[0], &zhi[0]);
    zero_constants<BF16>(z1, &zlo[1], &zhi[1]);
    return s2;
}
/* Where lane `lane` of column group grp finds its two columns' scales (a
 * half2) and zero points (a byte) of group 0 in a stage buffer. */
template <int ROWS> TSR_DEVICE int w4a16_scale_offset(int grp, int lane)
{
    return w4a16_stage_layout<ROWS>::s_offset + (grp * 16 + (lane / 4) * 2) * 2;
}
template <int ROWS> TSR_DEVICE int w4a16_zero_offset(int grp, int lane)
{
    return w4a16_stage_layout<ROWS>::z_offset + grp * 8 + lane / 4;
}
template <int ROWS, int BF16, int HAS_Z>
TSR_DEVICE uint32_t w4a16_group_params(const unsigned char *st, int gi, int grp, int lane, uint32_t zlo[2], uint32_t zhi[2])
{
    return w4a16_group_params_at<BF16, HAS_Z>(st, w4a16_scale_offset<ROWS>(grp, lane), w4a16_zero_offset<ROWS>(grp, lane), gi, zlo, zhi);
}

/* The byte offsets in a stage buffer that a thread reads every item,
 * computed once per block: passed in, they are a register plus an immediate
 * stage offset each; computed where they are used, ptxas redid the
 * arithmetic every item (about 25 instructions an item in configuration 3,
 * 10 in 6, up to 35 in the warpgroup tiles with zero points; nvdisasm). w:
 * its 16 bytes of packed weight; s, z: group 0's scales and zero points of
 * its columns (every tile whose warps own 16 columns: all but the 2x4 warp
 * grid, configuration 5); x[kk]: the ldmatrix row address of k16 step kk, for
 * the decode tiles alone (the 16-row tile with one warp row, configurations
 * 0 and 3, and the swapped tiles, 6 and 13 with 8 tokens, 14 with 16; the
 * 8-token swapped tile: of steps 2kk and 2kk+1). */
struct w4a16_stage_offsets {
    int w, x[4], s, z;
};
/* SWAP: the swapped tile (ROWS 8 or 16 tokens) */
template <int ROWS, int SWAP> TSR_DEVICE w4a16_stage_offsets w4a16_stage_offsets_of(int tid)
{
    const int warp = tid / 32, lane = tid % 32;
    w4a16_stage_offsets o;
    o.w = w4a16_stage_layout<ROWS>::b_offset + tid * 16;
    o.s = w4a16_scale_offset<ROWS>(warp, lane);
    o.z = w4a16_zero_offset<ROWS>(warp, lane);
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        /* the 16-row tile: lanes 0-15 address rows 0-15 at chunk 2kk, lanes
         * 16-31 at 2kk+1; the swapped one with 8 tokens: lanes 8q..8q+7
         * token rows 0-7 of chunk 4kk+q (kk < 2); with 16: lanes 8q..8q+7
         * token rows 8(q/2)..8(q/2)+7 of chunk 2kk+q%2 */
        const int q = lane >> 3;
        const int row = !SWAP ? lane & 15 : ROWS == 8 ? lane & 7 : (q >> 1) * 8 + (lane & 7);
        const int ch = !SWAP ? 2 * kk + (lane >> 4) : ROWS == 8 ? 4 * kk + q : 2 * kk + (q & 1);
        o.x[kk] = SWAP && ROWS == 8 && kk >= 2 ? 0 : row * 128 + tsr_swizzle_chunk(row, ch, 8) * 16;
    }
    return o;
}

/* Multiplies one stage: each warp its rows and column groups, four k16 steps. */
template <int MB, int WM, int BF16, int HAS_Z>
TSR_DEVICE void w4a16_compute_stage(const tsr_w4a16_launch_args_t &p, const unsigned char *st, const w4a16_stage_offsets &ofs,
                                    float acc[MB / WM][2 * WM][4])
{
    /* with one warp row (each warp its 16 columns, as the offsets assume)
     * the weights, scales and zeros are read at the offsets computed once,
     * and in the 16-row tile (MB 1) the ldmatrix rows too */
    constexpr bool OWN16 = WM == 1, DECODE = MB == 1 && WM == 1;
    typedef w4a16_stage_layout<16 * MB> L;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int wm = w4a16_warp_m<WM>(warp), wn = w4a16_warp_n<WM>(warp);
    uint32_t words[WM][4], s[WM][2], zlo[WM][2], zhi[WM][2];
#pragma unroll
    for (int g = 0; g < WM; g++) {
        const uint4 bq = ld_shared<uint4>(st + (OWN16 ? ofs.w : L::b_offset + ((wn * WM + g) * 32 + lane) * 16));
        words[g][0] = bq.x;
        words[g][1] = bq.y;
        words[g][2] = bq.z;
        words[g][3] = bq.w;
    }
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        if (kk == 0 || (kk == 2 && p.group_size == 32)) {
            const int gi = kk / 2;
#pragma unroll
            for (int g = 0; g < WM; g++) {
                const uint32_t s2 = OWN16 ? w4a16_group_params_at<BF16, HAS_Z>(st, ofs.s, ofs.z, gi, zlo[g], zhi[g])
                                          : w4a16_group_params<16 * MB, BF16, HAS_Z>(st, gi, wn * WM + g, lane, zlo[g], zhi[g]);
                s[g][0] = prmt(s2, 0, 0x1010); /* low half to both halves */
                s[g][1] = prmt(s2, 0, 0x3232);
            }
        }
        uint32_t b[WM][2][2];
#pragma unroll
        for (int g = 0; g < WM; g++) dequant_word<BF16>(words[g][kk], zlo[g], zhi[g], s[g], b[g]);
#pragma unroll
        for (int mb = 0; mb < MB / WM; mb++) {
            /* lanes 0-15 address rows 0-15 at k chunk 2kk, lanes 16-31 at 2kk+1:
             * the four 8x8 matrices are exactly the A fragment a0..a7 */
            int row = (wm * (MB / WM) + mb) * 16 + (lane & 15), ch = 2 * kk + (lane >> 4);
            uint32_t a[4];
            ldmatrix_x4(a, st + (DECODE ? ofs.x[kk] : row * 128 + tsr_swizzle_chunk(row, ch, 8) * 16));
#pragma unroll
            for (int g = 0; g < WM; g++)
#pragma unroll
                for (int j = 0; j < 2; j++) {
                    if (BF16) mma_m16n8k16_bf16(acc[mb][2 * g + j], a, b[g][j]);
                    else mma_m16n8k16_f16(acc[mb][2 * g + j], a, b[g][j]);
                }
        }
    }
}

/* The 8-row decode tile (configuration 6): the weights are the mma's A
 * operand (16 columns x 16 k, as rows x columns) and the activations its B
 * (16 k x 8 tokens), so C holds 16 columns x 8 tokens. A packed word holds
 * exactly one A fragment: its pairs are the B fragments of the 16-row tile
 * (pair i: n8 tile i/2, register i%2, csrc/w4a16_format.h), and the A
 * fragment's registers are rows g and g+8 (the two n8 tiles) at k 2t and at
 * k 2t+8: {tile 0 reg 0, tile 1 reg 0, tile 0 reg 1, tile 1 reg 1}. One
 * ldmatrix.x4 reads the B fragments of two k16 steps (4 chunks of 8 tokens). */
/* A packed word's dequantised pairs (b[n8 tile][register], as the 16-row tile
 * uses them for B) in the order of an A fragment whose rows are the 16
 * columns: rows g, g+8 at k 2t, then at k 2t+8. The swapped and warpgroup
 * tiles' one definition of it. */
TSR_DEVICE void w4a16_a_fragment(const uint32_t b[2][2], uint32_t a[4])
{
    a[0] = b[0][0];
    a[1] = b[1][0];
    a[2] = b[0][1];
    a[3] = b[1][1];
}

template <int R, int C> TSR_DEVICE void w4a16_zero(float acc[R][C][4])
{
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int c = 0; c < C; c++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[r][c][e] = 0.f;
}

/* NT: the tile's n8 fragments of tokens, 1 (8 tokens, configurations 6
 * and 13) or 2 (16 tokens, configuration 14: the same weights' fragments
 * feed twice the MMAs, so 9-16 tokens cost about what 8 do, where the
 * 16-row tile dequantises each weight into the B operand of two MMAs as
 * well but reads 16-row A fragments and scales the weights in fp16). */
template <int NT, int BF16, int HAS_Z>
TSR_DEVICE void w4a16_compute_stage_swapped(const tsr_w4a16_launch_args_t &p, const unsigned char *st, const w4a16_stage_offsets &ofs,
                                            float acc[NT][4])
{
    const uint4 bq = ld_shared<uint4>(st + ofs.w);
    const uint32_t words[4] = {bq.x, bq.y, bq.z, bq.w};
    uint32_t zlo[2], zhi[2], x[4];
    /* The scale is applied after the mma, in fp32: the mma sums (v - z) * a
     * for one group into t, and acc += t * s once per group; that is 4 FFMA a
     * group and fragment where scaling the weights took 16 HMUL2 a k-tile,
     * and the products are no longer rounded to 16 bits first. With one
     * fragment, two such sums, of the even and the odd k16 steps: an MMA
     * waits for the one before it into the same registers, so one sum made
     * the item's four MMAs a chain of four, two make two chains of two
     * (session 12, kept after run 18; run 15's profile of this tile: "wait", a
     * fixed-latency dependency, the largest stall, 2.06 cycles of every 7.75
     * between a warp's instructions), for 4 FADD an item. With two
     * fragments their two sums are already two chains. */
    constexpr int CHAINS = NT == 1 ? 2 : 1;
    float t[CHAINS][NT][4];
    w4a16_zero<CHAINS, NT>(t);
    float2 sf = make_float2(0.f, 0.f);
    /* acc += (the chains' sum) * the group's scales, and the sums restart */
    auto apply_scale = [&](bool restart) {
#pragma unroll
        for (int j = 0; j < NT; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float sum = t[0][j][e];
#pragma unroll
                for (int c = 1; c < CHAINS; c++) sum += t[c][j][e];
                acc[j][e] += sum * (e < 2 ? sf.x : sf.y);
                if (restart)
#pragma unroll
                    for (int c = 0; c < CHAINS; c++) t[c][j][e] = 0.f;
            }
    };
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        if (kk == 0 || (kk == 2 && p.group_size == 32)) {
            if (kk == 2) apply_scale(true); /* group 0 of a two-group k-tile is done */
            /* column g's scale in the low half, column g+8's in the high */
            sf = unpack_in<BF16>(w4a16_group_params_at<BF16, HAS_Z>(st, ofs.s, ofs.z, kk / 2, zlo, zhi));
        }
        /* one fragment: one ldmatrix.x4 for two k16 steps (registers 2i,
         * 2i+1 for step 2(kk/2)+i); two: one a step (registers 2j, 2j+1 for
         * fragment j) */
        if (NT == 2 || kk % 2 == 0) ldmatrix_x4(x, st + ofs.x[NT == 2 ? kk : kk / 2]);
        uint32_t b[2][2];
        dequant_word<BF16, 0>(words[kk], zlo, zhi, zlo, b);
        uint32_t a[4];
        w4a16_a_fragment(b, a);
#pragma unroll
        for (int j = 0; j < NT; j++) {
            const int r = NT == 1 ? (kk % 2) * 2 : 2 * j;
            const uint32_t xb[2] = {x[r], x[r + 1]};
            float *d = t[CHAINS == 2 ? kk % 2 : 0][j];
            if (BF16) mma_m16n8k16_bf16(d, a, xb);
            else mma_m16n8k16_f16(d, a, xb);
        }
    }
    apply_scale(false);
}

/* A stage buffer's index as a type, so that the kernel's item code (a
 * lambda) is compiled once per buffer. */
template <int S> struct w4a16_stage_tag {
};
template <int S> constexpr int w4a16_stage_of(w4a16_stage_tag<S>) { return S; }

/* The warpgroup tile (configurations 7 and 8, sm_90a): the swapped tile's
 * roles on wgmma.m64nNk16. Warpgroup h of the block owns columns 64h..64h+63
 * of the tile, as the A operand from registers: warp w of the block holds
 * columns 16w..16w+15, the rows of its A fragment, and a packed word is
 * exactly that fragment (as in configuration 6). The N = 16 * MB tokens are
 * B, read by the tensor cores straight from the stage's activation rows,
 * which the loader already lays out as a K-major operand in the 128-byte
 * swizzle (chunk c of row r at c ^ r % 8, csrc/layout.h): a k16 step is the
 * same descriptor 32 bytes further. The scale is folded into the weights
 * before the MMA (fp16/bf16 products, as configurations 0-5): scaling after
 * it in fp32 (configuration 6) would need a second set of N/2 accumulators.
 * Validated and timed on an H100 in run 13 (perf/results/2026-11-22-h100):
 * 1.13-1.32x the mma.sync tiles at m = 64 and 128, the heuristic's choice on
 * sm_90 there (csrc/w4a16.c).
 *
 * Pipelining (run 13's version waited for its MMAs every item). Each k16 step
 * is its own commit group, and step kk's A fragment lives in the same
 * registers every item (a[kk], the kernel's): before it is rewritten,
 * `wgmma.wait_group 3` retires the group that read it last (the previous
 * item's step kk), leaving three in flight while the warp dequantises. The
 * dequantisation of a step comes after that wait, and the group parameters
 * of both halves are loaded before the first (a branch-free select for
 * 32-wide groups): ptxas 13.0 serialised every wgmma of the kernel (its
 * warning C7513, "non wgmma instructions defining input registers of a wgmma
 * between start and end of the pipeline stage") when the fragment was
 * computed before the wait, or when a group-32 reload sat between the steps,
 * and (C7515) when the accumulators were zeroed by other instructions while
 * MMAs could be in flight: a tile's first MMA overwrites them instead
 * (scale-d 0, `fresh`). Check with -Xptxas -v (no C7513/C7515) and nvdisasm
 * (WARPGROUP.DEPBAR.LE gsb0, 0x3 between the HGMMA). The previous item's
 * groups are retired before this item's last step is issued, so the kernel
 * loads one stage less ahead for these tiles (the stage they read is refilled
 * after the next barrier) and waits for every group before its epilogue reads
 * acc. */
template <int MB, int BF16, int HAS_Z>
TSR_DEVICE void w4a16_compute_stage_wgmma(const tsr_w4a16_launch_args_t &p, const unsigned char *st, const w4a16_stage_offsets *ofs,
                                          float acc[2 * MB][4], uint32_t a[4][4], int fresh)
{
    typedef w4a16_stage_layout<16 * MB, 1024> L;
    /* w4a16_group_params reads the 16-byte-stride layout: only the stride differs */
    static_assert(L::s_offset == w4a16_stage_layout<16 * MB>::s_offset && L::z_offset == w4a16_stage_layout<16 * MB>::z_offset,
                  "the stage's sections sit at the same offsets for any stride");
    /* the thread's offsets computed once (ofs), or here (NULL: the
     * warp-specialised tile, whose computing warps spill 4 bytes more when
     * they hold them) */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int w_ofs = ofs ? ofs->w : L::b_offset + (warp * 32 + lane) * 16;
    const int s_ofs = ofs ? ofs->s : w4a16_scale_offset<16 * MB>(warp, lane);
    const int z_ofs = ofs ? ofs->z : w4a16_zero_offset<16 * MB>(warp, lane);
    const uint4 bq = ld_shared<uint4>(st + w_ofs);
    const uint32_t words[4] = {bq.x, bq.y, bq.z, bq.w};
    const uint32_t st_u32 = smem_u32(st);
    /* steps 0-1 and 2-3: the same group but for 32-wide groups */
    uint32_t zl[2][2], zh[2][2], sc[2][2];
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const int gi = h == 1 && p.group_size == 32 ? 1 : 0;
        const uint32_t s2 = w4a16_group_params_at<BF16, HAS_Z>(st, s_ofs, z_ofs, gi, zl[h], zh[h]);
        sc[h][0] = prmt(s2, 0, 0x1010); /* column g's scale in both halves */
        sc[h][1] = prmt(s2, 0, 0x3232); /* column g+8's */
    }
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        wgmma_wait<3>(); /* the group that read a[kk] last is done */
        uint32_t b[2][2];
        dequant_word<BF16>(words[kk], zl[kk / 2], zh[kk / 2], sc[kk / 2], b);
        w4a16_a_fragment(b, a[kk]);
        wgmma_fence(); /* a[kk] was written by other instructions */
        wgmma_m64k16_rs<16 * MB, BF16>(&acc[0][0], a[kk], wgmma_desc_k_major_sw128(st_u32 + 32 * kk), kk > 0 || !fresh);
        wgmma_commit();
    }
}

/* Where block `b` leaves its partial sum of column `col`: two slots per block,
 * one for the column its run starts in and one for the column it ends in (a
 * run inside one column uses the first). */
TSR_DEVICE float *w4a16_partial_slot(const tsr_w4a16_launch_args_t &p, int b, int col, int rows)
{
    const int end = col == b * p.items_per_block / p.k_tiles ? 0 : 1;
    return p.partials + (((size_t)blockIdx.y * p.blocks_per_slice + b) * 2 + end) * ((size_t)rows * TSR_W4A16_TILE_N);
}

/* The barrier of the threads that compute: the whole block, or (BAR > 0)
 * the warp-specialised tile's 8 computing warps on named barrier BAR. */
template <int BAR> TSR_DEVICE void w4a16_compute_sync(void)
{
    if (BAR == 0) __syncthreads();
    else named_barrier_sync(BAR, TSR_W4A16_THREADS);
}

/* Finishes column `col` of this block's range. A column computed by one block
 * is stored. A column split over blocks b_first..b_last is reduced by the last
 * of them to arrive: each writes its partial to its own slot and counts itself
 * in the column's lock (atomic, acquire-release); the one that brings the count
 * to `count` sums all partials in block order (its own re-read too, so the sum
 * is the same whoever is last), stores C and resets the lock to 0, leaving
 * the workspace as it found it. Why this way: no block ever waits for another, so the kernel is correct
 * however many of its blocks the GPU runs at once (another stream's kernels,
 * MPS, green contexts), no block idles at the end of its run, and the fixed
 * summation order keeps results deterministic. `flag` is one int of shared
 * memory for telling the block who was last. */
template <int ROWS, int MBW, int NJ, int WM, int BF16, int SWAP, int BAR = 0>
TSR_DEVICE void w4a16_epilogue(const tsr_w4a16_launch_args_t &p, int col, int m0, float acc[MBW][NJ][4], int *flag)
{
    /* MBW, NJ: a warp's m16 blocks and n8 tiles (the swapped tiles: NJ
     * fragments of 16 columns x 8 tokens, tokens 8j..8j+7 in fragment j) */
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int wm = w4a16_warp_m<WM>(warp), wn = w4a16_warp_n<WM>(warp);
    const int per = p.items_per_block, me = (int)blockIdx.x;
    const int b_first = col * p.k_tiles / per, b_last = (col * p.k_tiles + p.k_tiles - 1) / per;
    const int count = b_last - b_first + 1;
    int *lock = p.locks + (size_t)blockIdx.y * p.n_tiles + col;

    if (count > 1) {
        /* a partial tile is the warps' fragments in order: warp, m16 block, n8
         * tile; a lane whose rows (lane/4 and lane/4 + 8 of an m16 block; the
         * swapped tile's tokens 2(lane%4) and 2(lane%4)+1) are all past m
         * neither writes nor reads its part (decode: 4 lanes of 32; swapped
         * at m = 1: 8 lanes of 32 write) */
        auto past_m = [&](int mb, int j) {
            return SWAP ? m0 + 8 * j + 2 * (lane % 4) >= p.m : m0 + (wm * MBW + mb) * 16 + lane / 4 >= p.m;
        };
        float *mine = w4a16_partial_slot(p, me, col, ROWS) + warp * MBW * NJ * 128 + lane * 4;
#pragma unroll
        for (int mb = 0; mb < MBW; mb++)
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                if (past_m(mb, j)) continue;
                st_global((float4 *)(mine + (mb * NJ + j) * 128),
                          make_float4(acc[mb][j][0], acc[mb][j][1], acc[mb][j][2], acc[mb][j][3]));
            }
        w4a16_compute_sync<BAR>(); /* every thread's partial is written before the count */
        if (tid == 0) {
            fence_acq_rel_gpu();
            st_shared<int>(flag, atom_add_acq_rel_gpu(lock, 1) == count - 1);
        }
        w4a16_compute_sync<BAR>();
        /* read by all before tid 0 writes it again: the next epilogue comes
         * after at least one more item, whose loop barrier orders the two */
        const int last = ld_shared<int>(flag);
        if (!last) return;
        /* its own partial too from memory: the same order whoever is last.
         * IN_FLIGHT partials are loaded before any is added: one at a time,
         * each load's L2 latency was paid in turn (a 4 MB layer at m = 1,
         * 64 blocks a column, took 30 us, run 18); the sum's order is
         * unchanged. Lanes past m add zeros they never store. */
        constexpr int IN_FLIGHT = MBW * NJ >= 8 ? 1 : 8 / (MBW * NJ);
        w4a16_zero<MBW, NJ>(acc);
        for (int b0 = b_first; b0 <= b_last; b0 += IN_FLIGHT) {
            float4 v[IN_FLIGHT][MBW][NJ];
#pragma unroll
            for (int u = 0; u < IN_FLIGHT; u++) {
                const float *part = w4a16_partial_slot(p, b0 + u, col, ROWS) + warp * MBW * NJ * 128 + lane * 4;
#pragma unroll
                for (int mb = 0; mb < MBW; mb++)
#pragma unroll
                    for (int j = 0; j < NJ; j++)
                        v[u][mb][j] = b0 + u > b_last || past_m(mb, j) ? make_float4(0.f, 0.f, 0.f, 0.f)
                                                                        : ld_global_cg_f4((const float4 *)(part + (mb * NJ + j) * 128));
            }
#pragma unroll
            for (int u = 0; u < IN_FLIGHT; u++)
#pragma unroll
                for (int mb = 0; mb < MBW; mb++)
#pragma unroll
                    for (int j = 0; j < NJ; j++) {
                        acc[mb][j][0] += v[u][mb][j].x;
                        acc[mb][j][1] += v[u][mb][j].y;
                        acc[mb][j][2] += v[u][mb][j].z;
                        acc[mb][j][3] += v[u][mb][j].w;
                    }
        }
        if (tid == 0) st_release_gpu(lock, 0); /* everyone has counted: nobody reads it again */
    }
    uint16_t *c = (uint16_t *)p.c;
    const uint16_t *bias = (const uint16_t *)p.bias;
    if constexpr (SWAP) {
        /* fragment j: c0, c1: column g, tokens 8j+2t, 8j+2t+1; c2, c3: column g+8 */
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int n = col * TSR_W4A16_TILE_N + warp * 16 + h * 8 + lane / 4;
            if (n >= p.n) continue;
            const float bv = bias ? unpack_in<BF16>(ld_global(bias + n)).x : 0.f;
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                const int t0 = m0 + 8 * j + 2 * (lane % 4);
#pragma unroll
                for (int e = 0; e < 2; e++)
                    if (t0 + e < p.m)
                        st_global(c + (size_t)(t0 + e) * p.n + n, (uint16_t)pack_out<BF16>(acc[0][j][2 * h + e] + bv, 0.f));
            }
        }
    } else {
#pragma unroll
        for (int mb = 0; mb < MBW; mb++)
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                int n = col * TSR_W4A16_TILE_N + (wn * WM + j / 2) * 16 + (j % 2) * 8 + (lane % 4) * 2;
                if (n >= p.n) continue;
                float2 bv = make_float2(0.f, 0.f);
                if (bias) bv = unpack_in<BF16>(ld_global((const uint32_t *)(bias + n)));
                int r0 = m0 + (wm * MBW + mb) * 16 + lane / 4, r1 = r0 + 8;
                if (r0 < p.m) st_global((uint32_t *)(c + (size_t)r0 * p.n + n), pack_out<BF16>(acc[mb][j][0] + bv.x, acc[mb][j][1] + bv.y));
                if (r1 < p.m) st_global((uint32_t *)(c + (size_t)r1 * p.n + n), pack_out<BF16>(acc[mb][j][2] + bv.x, acc[mb][j][3] + bv.y));
            }
    }
}

/* Blocks per SM the launch bounds ask for, the way the CUDA programming guide
 * sets per-architecture bounds: four for the decode tiles (16 rows, and the
 * swapped ones of 8 and 16 tokens: 64 registers; the shared memory of 8
 * stages fits four blocks), two for the 2x4
 * warp grid where it fits in 128 registers without spilling (sm_90; on sm_80
 * the bf16 variant would spill 8 bytes), and two for the 64-token warpgroup
 * tile (128 registers; it took 131-136 unbounded, one block an SM; with the
 * pipelining it spilled 4-12 bytes, and ran as fast as before in run 15;
 * with the epilogue written once it fits in 125-128 without spilling). */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define TSR_W4A16_MIN_BLOCKS(mb, wm, swap) ((swap) == 2 ? ((mb) == 4 ? 2 : 1) : (mb) == 1 || (swap) == 1 ? 4 : (wm) == 2 ? 2 : 1)
#else
#define TSR_W4A16_MIN_BLOCKS(mb, wm, swap) ((mb) == 1 || (swap) == 1 ? 4 : 1)
#endif

template <int MB, int WM, int STAGES, int BF16, int HAS_Z, int SWAP, int IPB>
__global__ void __launch_bounds__(TSR_W4A16_THREADS, TSR_W4A16_MIN_BLOCKS(MB, WM, SWAP)) w4a16_gemm_kernel(tsr_w4a16_launch_args_t p)
{
    static_assert(MB % WM == 0 && 8 % WM == 0, "the warp grid must divide the tile");
    static_assert(SWAP != 1 || ((MB == 1 || MB == 2) && WM == 1), "the swapped tile is the 8- or 16-token decode tile");
    static_assert(SWAP != 2 || ((MB == 4 || MB == 8) && WM == 1), "the warpgroup tile has 64 or 128 tokens");
    static_assert(IPB == 1 || (IPB == 2 && SWAP != 2 && STAGES % 2 == 0), "two items a barrier: 8-warp mma.sync tiles, even stages");
    constexpr int ROWS = SWAP == 1 ? 8 * MB : 16 * MB, ALIGN = SWAP == 2 ? 1024 : 16;
    /* a warp's accumulator fragments */
    constexpr int MBW = SWAP ? 1 : MB / WM, NJ = SWAP == 1 ? MB : SWAP == 2 ? 2 * MB : 2 * WM;
    typedef w4a16_stage_layout<ROWS, ALIGN> L;
    TSR_DYNAMIC_SMEM(unsigned char, smem_raw);
    TSR_STATIC_SMEM(int, last_flag, 1);
    /* the launch adds ALIGN - 16 bytes for this */
    unsigned char *const smem = smem_raw + ((ALIGN - (smem_u32(smem_raw) & (ALIGN - 1))) & (ALIGN - 1));
    const int m0 = (int)blockIdx.y * ROWS;
    const int total = p.n_tiles * p.k_tiles;
    const int first = (int)blockIdx.x * p.items_per_block;
    const int last = min(first + p.items_per_block, total);

    /* the warpgroup tiles never zero acc: a tile's first MMA overwrites it
     * (fresh); their A fragments, one per k16 step, persist across items */
    float acc[MBW][NJ][4];
    if constexpr (SWAP != 2) w4a16_zero<MBW, NJ>(acc);
    int fresh = 1;
    uint32_t a_regs[SWAP == 2 ? 4 : 1][4];
    w4a16_loader ld = w4a16_make_loader<ROWS, HAS_Z>(p, m0, first, threadIdx.x);
    w4a16_zero_rows_past_m<ROWS, STAGES, ALIGN>(p, m0, smem, threadIdx.x);
    /* the column computed (two divisions per block, none per item) */
    int nt = first / p.k_tiles;
    const int kt0 = first % p.k_tiles;
    const w4a16_stage_offsets sofs = w4a16_stage_offsets_of<ROWS, SWAP == 1>(threadIdx.x);

    /* Stages loaded ahead of the one computed: all but that one, and one
     * fewer for the warpgroup tiles, whose MMAs may still read the previous
     * item's stage (w4a16_compute_stage_wgmma), and for two items a barrier
     * (IPB 2: the barrier before item i lets items i+AHEAD and i+AHEAD+1
     * overwrite the stages of i-2 and i-1, while i and i+1 are computed).
     * The prologue fills AHEAD stages, a commit group every IPB items; a
     * group is committed even when empty, so that wait<GROUPS-1>
     * always means "the oldest stage has landed". */
    constexpr int AHEAD = SWAP == 2 || IPB == 2 ? STAGES - 2 : STAGES - 1, GROUPS = AHEAD / IPB;
    static_assert(AHEAD >= IPB && AHEAD % IPB == 0, "the pipeline needs a group in flight");
    static_assert(STAGES <= 8, "the item switch has cases for 8 stages");
    if (p.programmatic) {
        /* A programmatic launch (sm_90) may run beside the kernel before it
         * on the stream: the packed weight, which no kernel writes, streams
         * in meanwhile; the activations (maybe that kernel's output) come
         * after griddep_wait, as does every global store. The first commit
         * group then holds all AHEAD items' weights. The loader is made
         * again for the second pass rather than copied, and the passes are
         * loops, not unrolled: the register peak stays the main loop's (on
         * sm_90, configuration 5, f16 without zeros, at its 128-register cap,
         * keeps 8 bytes in local memory all the same: stored once before the
         * loop, read in the epilogue; nvdisasm). */
#pragma unroll 1
        for (int s = 0; s < AHEAD; s++) {
            if (first + s < last) {
                w4a16_load_stage<ROWS, HAS_Z, TSR_W4A16_THREADS, TSR_W4A16_LOAD_PACKED>(p, &ld, smem + s * L::bytes, threadIdx.x);
                w4a16_loader_next<ROWS>(p, &ld);
            }
        }
        griddep_wait();
        ld = w4a16_make_loader<ROWS, HAS_Z>(p, m0, first, threadIdx.x);
#pragma unroll 1
        for (int s = 0; s < AHEAD; s++) {
            if (first + s < last) {
                w4a16_load_stage<ROWS, HAS_Z, TSR_W4A16_THREADS, TSR_W4A16_LOAD_A>(p, &ld, smem + s * L::bytes, threadIdx.x);
                w4a16_loader_next<ROWS>(p, &ld);
            }
            if ((s + 1) % IPB == 0) cp_async_commit();
        }
    } else {
#pragma unroll
        for (int s = 0; s < AHEAD; s++) {
            if (first + s < last) {
                w4a16_load_stage<ROWS, HAS_Z>(p, &ld, smem + s * L::bytes, threadIdx.x);
                w4a16_loader_next<ROWS>(p, &ld);
            }
            if ((s + 1) % IPB == 0) cp_async_commit();
        }
    }
    /* the next kernel, if launched programmatically, may start its own
     * weight loads beside this one's (after griddep_wait: never beside the
     * kernel before this one) */
    griddep_launch_dependents();
    /* Stage buffers in turn, each stage's item code written once per stage
     * buffer so that it knows its buffer at compile time: the shared-memory
     * addresses of the copies, the weight word and the ldmatrix rows are
     * then thread-constant registers plus immediate offsets. With a run-time
     * stage index ptxas recomputed them from the thread index every item
     * (about 35 of the ~160 instructions a warp issued per item, nvdisasm of
     * configuration 0). The epilogue, though, is written once: the items
     * run in a switch that falls through the stages (entered at the stage
     * after the last epilogue) and leaves it when a column is done. Inlined
     * into every stage, the ~550-instruction epilogue made the decode
     * kernel 6,900 instructions long, its 8 stretches of ~190 each 9 KB from
     * the next (run 15's profile of configuration 6: a warp stalled 1.24
     * cycles of every 7.75 for want of an instruction); now 3,000. */
    auto run_item = [&](auto stage_tag, int item) {
        constexpr int s = w4a16_stage_of(stage_tag);
        /* IPB 2: the block's even items (counted from its first) wait and
         * load for the odd ones too. The switch keeps stage == (item -
         * first) % STAGES, and STAGES is even: the stage buffer's parity is
         * the item's, known at compile time */
        if (IPB == 1 || s % 2 == 0) {
            cp_async_wait<GROUPS - 1>();
            /* the tensor cores read the activations through the async proxy */
            if constexpr (SWAP == 2) fence_proxy_async_smem();
            /* everyone's copies of this stage have landed, and everyone is
             * done with the stage the next load overwrites */
            __syncthreads();
#pragma unroll
            for (int j = 0; j < IPB; j++) {
                if (item + AHEAD + j < last) {
                    w4a16_load_stage<ROWS, HAS_Z>(p, &ld, smem + ((s + AHEAD + j) % STAGES) * L::bytes, threadIdx.x);
                    w4a16_loader_next<ROWS>(p, &ld);
                }
            }
            cp_async_commit();
        }
        if constexpr (SWAP == 1) w4a16_compute_stage_swapped<MB, BF16, HAS_Z>(p, smem + s * L::bytes, sofs, acc[0]);
        else if constexpr (SWAP == 2) w4a16_compute_stage_wgmma<MB, BF16, HAS_Z>(p, smem + s * L::bytes, &sofs, acc[0], a_regs, fresh);
        else w4a16_compute_stage<MB, WM, BF16, HAS_Z>(p, smem + s * L::bytes, sofs, acc);
    };
    /* The items of the column being computed still to come in this block's
     * range: a countdown, the one per-item test of where the column ends
     * (tracking the item's k-tile took ~6 more instructions an item) */
    int item = first, stage = 0, left = min(last - first, p.k_tiles - kt0);
    while (item < last) {
        bool column_done = false;
        switch (stage) {
/* stage S's item; a finished column leaves the switch for the epilogue, and
 * the stage to go on with is recorded then (not every item) */
#define W4A16_STAGE_CASE(S)                                                         \
    case S:                                                                         \
        if constexpr (S < STAGES) {                                                 \
            run_item(w4a16_stage_tag<S>(), item);                                   \
            item++;                                                                 \
            if (--left == 0) {                                                      \
                column_done = true;                                                 \
                stage = (S + 1) % STAGES;                                           \
                break;                                                              \
            }                                                                       \
            fresh = 0;                                                              \
        }                                                                           \
        [[fallthrough]];
            W4A16_STAGE_CASE(0)
            W4A16_STAGE_CASE(1)
            W4A16_STAGE_CASE(2)
            W4A16_STAGE_CASE(3)
            W4A16_STAGE_CASE(4)
            W4A16_STAGE_CASE(5)
            W4A16_STAGE_CASE(6)
            W4A16_STAGE_CASE(7)
#undef W4A16_STAGE_CASE
        default:
            break;
        }
        if (column_done) {
            if constexpr (SWAP == 2) wgmma_wait<0>(); /* acc is final once every group is done */
            w4a16_epilogue<ROWS, MBW, NJ, WM, BF16, SWAP>(p, nt, m0, acc, last_flag);
            if constexpr (SWAP != 2) w4a16_zero<MBW, NJ>(acc);
            fresh = 1;
            nt++; /* the next column starts at k-tile 0 */
            left = min(last - item, p.k_tiles);
        } else {
            stage = 0; /* fell through the last stage's case */
        }
    }
    cp_async_wait<0>();
}

/* ---- the warp-specialised warpgroup tiles (configurations 10-12; sm_90a) ----
 * Configuration 8's tile (128 columns x 128 tokens, two warpgroups of
 * wgmma.m64n128k16 with the weights as A from registers) with the loading
 * taken off the computing warps. Run 15's profile of configuration 8 at
 * m = 1024: one block of 8 warps an SM, no eligible warp 59% of the cycles,
 * every warp stopping at a block barrier each item and issuing its share of
 * ~1,300 cp.async besides its dequantisation and MMAs, two stages ahead.
 * Here warps 0-7 (the two warpgroups) only dequantise, multiply and write
 * back, and a third warpgroup (warps 8-11) copies every stage, STAGES - 2 of
 * them in flight ahead of the one computed. The hand-over is two named
 * barriers per stage buffer instead of __syncthreads: FULL(s) (the loaders
 * arrive once their copies of s have landed; the computing warps wait) and
 * EMPTY(s) (the computing warps arrive once the MMAs reading s are retired;
 * the loaders wait before refilling it). A single loading warp would issue
 * ~400 instructions an item (nvdisasm: each cp.async with its address,
 * bounds test and ptxas's three no-ops), most of what two warpgroups' MMAs
 * take at full rate; four share it. 384 threads cap a thread at 168
 * registers (ptxas 13.0), where the 128-token tile's computing warps fit
 * without spilling (configuration 8 takes 202-206 when free to); the
 * 256-token tile (configuration 11, m64n256k16) takes more with setmaxnreg
 * (below). */
#define TSR_W4A16_WS_THREADS (TSR_W4A16_THREADS + 128)
#define TSR_W4A16_WS_FULL(s) (1 + (s))
#define TSR_W4A16_WS_EMPTY(s, stages) (1 + (stages) + (s))
#define TSR_W4A16_WS_EPILOGUE_BAR 15 /* the computing warps' own barrier (w4a16_epilogue) */

/* Warps 8-11: load items first..last-1 into the stage buffers in turn, as
 * the 8-warp tiles' loader does with 128 threads instead of 256. */
template <int ROWS, int STAGES, int HAS_Z>
TSR_DEVICE void w4a16_ws_load(const tsr_w4a16_launch_args_t &p, int m0, int first, int last, unsigned char *smem)
{
    typedef w4a16_stage_layout<ROWS, 1024> L;
    constexpr int LOADERS = TSR_W4A16_WS_THREADS - TSR_W4A16_THREADS;
    constexpr int AHEAD = STAGES - 2; /* items in flight; more would deadlock (below) */
    const int tid = (int)threadIdx.x - TSR_W4A16_THREADS;
    w4a16_zero_rows_past_m<ROWS, STAGES, 1024, LOADERS>(p, m0, smem, tid);
    w4a16_loader ld = w4a16_make_loader<ROWS, HAS_Z, LOADERS>(p, m0, first, tid);
    const int n = last - first;
    for (int i = 0; i < n; i++) { /* the block's item first + i into stage i % STAGES */
        const int s = i % STAGES;
        /* Refilling s needs item i - STAGES's MMAs retired, which the
         * computing warps signal (EMPTY) once they have issued the next
         * item's. FULL(j) comes after issuing j + AHEAD, which needs EMPTY
         * of j + AHEAD - STAGES, signalled at j + AHEAD - STAGES + 1: at most
         * j - 1, where the computing warps wait for FULL(j), so AHEAD <=
         * STAGES - 2 or neither side moves. */
        if (i >= STAGES) named_barrier_sync(TSR_W4A16_WS_EMPTY(s, STAGES), TSR_W4A16_WS_THREADS);
        w4a16_load_stage<ROWS, HAS_Z, LOADERS>(p, &ld, smem + s * L::bytes, tid);
        w4a16_loader_next<ROWS>(p, &ld);
        cp_async_commit();
        if (i >= AHEAD) { /* item i - AHEAD, the oldest not yet handed over */
            cp_async_wait<AHEAD>(); /* its copies have landed */
            fence_proxy_async_smem(); /* the tensor cores read it through the async proxy */
            named_barrier_arrive(TSR_W4A16_WS_FULL((i - AHEAD) % STAGES), TSR_W4A16_WS_THREADS);
        }
    }
    cp_async_wait<0>();
    fence_proxy_async_smem();
    for (int j = n > AHEAD ? n - AHEAD : 0; j < n; j++)
        named_barrier_arrive(TSR_W4A16_WS_FULL(j % STAGES), TSR_W4A16_WS_THREADS);
}

/* Two blocks an SM for the 64-token tile (configuration 12), as
 * configuration 7; one for the others. */
template <int MB, int STAGES, int BF16, int HAS_Z>
__global__ void __launch_bounds__(TSR_W4A16_WS_THREADS, MB == 4 ? 2 : 1) w4a16_gemm_ws_kernel(tsr_w4a16_launch_args_t p)
{
    static_assert(MB == 4 || MB == 8 || MB == 16, "the warp-specialised tile has 64, 128 or 256 tokens");
    static_assert(STAGES >= 3 && TSR_W4A16_WS_EMPTY(STAGES - 1, STAGES) < TSR_W4A16_WS_EPILOGUE_BAR, "two named barriers a stage, ids 1..14");
    constexpr int ROWS = 16 * MB, NJ = 2 * MB;
    typedef w4a16_stage_layout<ROWS, 1024> L;
    TSR_DYNAMIC_SMEM(unsigned char, smem_raw);
    TSR_STATIC_SMEM(int, last_flag, 1);
    unsigned char *const smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
    const int m0 = (int)blockIdx.y * ROWS;
    const int total = p.n_tiles * p.k_tiles;
    const int first = (int)blockIdx.x * p.items_per_block;
    const int last = min(first + p.items_per_block, total);
    /* a programmatic launch: nothing overlaps the kernel before (the
     * loading warps could stream weights meanwhile, as the 8-warp tiles do;
     * not done for these prefill tiles, whose calls are long) */
    griddep_wait();
    griddep_launch_dependents();
    /* the warp index from lane 0: ptxas then knows the branch is
     * warp-uniform; on threadIdx.x it treated the MMAs below as on a
     * divergent path and serialised every wgmma (its C7518) */
    if (__shfl_sync(0xffffffffu, (int)threadIdx.x / 32, 0) >= TSR_W4A16_WARPS) {
        /* The loaders give registers to the computing warps where these
         * need more than an even share. 256 tokens: 128 accumulators a
         * thread; 384 x 168 = 128 x 40 + 256 x 232 (ptxas then allocates the
         * computing path up to 232 and spills 36 bytes in its epilogue, none
         * in the loop; 240/32 and 240/24 put a spill into the loop). 64
         * tokens, two blocks an SM at 80 registers a thread (16 bytes of
         * spill without): 384 x 80 >= 128 x 40 + 256 x 96. */
        if constexpr (MB != 8) setmaxnreg_dec<40>();
        w4a16_ws_load<ROWS, STAGES, HAS_Z>(p, m0, first, last, smem);
        return;
    }
    if constexpr (MB == 16) setmaxnreg_inc<232>();
    if constexpr (MB == 4) setmaxnreg_inc<96>();
    /* warps 0-7: configuration 8's computation (m64n256k16 for 256 tokens),
     * stage by stage as they fill */
    float acc[1][NJ][4];
    uint32_t a_regs[4][4];
    int fresh = 1, nt = first / p.k_tiles, kt = first % p.k_tiles, s = 0;
    for (int item = first; item < last; item++) {
        named_barrier_sync(TSR_W4A16_WS_FULL(s), TSR_W4A16_WS_THREADS);
        w4a16_compute_stage_wgmma<MB, BF16, HAS_Z>(p, smem + s * L::bytes, NULL, acc[0], a_regs, fresh);
        /* the previous item's MMAs are retired now (each step above waited
         * for its namesake): its stage may be refilled, if it will be */
        if (item > first && item - 1 + STAGES < last)
            named_barrier_arrive(TSR_W4A16_WS_EMPTY((s + STAGES - 1) % STAGES, STAGES), TSR_W4A16_WS_THREADS);
        s = s + 1 == STAGES ? 0 : s + 1;
        fresh = 0;
        if (kt == p.k_tiles - 1 || item + 1 == last) {
            wgmma_wait<0>(); /* acc is final once every group is done */
            w4a16_epilogue<ROWS, 1, NJ, 1, BF16, TSR_W4A16_SWAP_WGMMA, TSR_W4A16_WS_EPILOGUE_BAR>(p, nt, m0, acc, last_flag);
            fresh = 1;
        }
        w4a16_next_tile(p, &nt, &kt);
    }
}

/* ---- act-order: gather the activations' columns into packed row order ------- */
__global__ void w4a16_permute_a_kernel(const uint16_t *a, const int32_t *perm, uint16_t *out, int m, int k)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const bool in = i < (size_t)m * k;
    /* the permutation is part of the packed weight, which no kernel writes:
     * read before griddep_wait in a programmatic launch; A (the kernel
     * before may be writing it) and every store after it */
    const int src = in ? ld_global(perm + (int)(i % (size_t)k)) : 0;
    griddep_wait();
    griddep_launch_dependents();
    if (in) st_global(out + i, ld_global(a + i / (size_t)k * k + src));
}

extern "C" cudaError_t tsr_w4a16_launch_permute_a(const void *a, const int32_t *perm, void *a_perm, int m, int k,
                                                  int programmatic, cudaStream_t stream)
{
    size_t total = (size_t)m * k;
    dim3 grid((unsigned)((total + 255) / 256)), block(256);
    auto w4a16_permute_a = w4a16_permute_a_kernel;
    return TSR_LAUNCH_EX(w4a16_permute_a, grid, block, 0, stream, programmatic, (const uint16_t *)a, perm,
                         (uint16_t *)a_perm, m, k);
}

/* ---- instantiation: one per line of TSR_W4A16_CONFIGS x dtype x zeros -------- */
/* The kernel of a configuration: the warp-specialised tiles have their own. */
template <int MB, int WM, int STAGES, int BF16, int HAS_Z, int SWAP, int IPB>
static void (*w4a16_kernel_of(void))(tsr_w4a16_launch_args_t)
{
    if constexpr (SWAP == TSR_W4A16_SWAP_WGMMA_WS) return w4a16_gemm_ws_kernel<MB, STAGES, BF16, HAS_Z>;
    else return w4a16_gemm_kernel<MB, WM, STAGES, BF16, HAS_Z, SWAP, IPB>;
}

/* Sets the kernel's shared-memory limit and asks how many of its blocks fit on
 * one SM; both once per instantiation (and per process; tessera binds one
 * device per handle, and the attribute is per function), not per launch. */
template <int MB, int WM, int STAGES, int BF16, int HAS_Z, int SWAP, int IPB>
static cudaError_t w4a16_prepare(int *blocks_per_sm)
{
    auto w4a16_gemm = w4a16_kernel_of<MB, WM, STAGES, BF16, HAS_Z, SWAP, IPB>();
    const size_t smem = tsr_w4a16_smem_bytes(tsr_w4a16_tile_rows(MB, SWAP), STAGES, SWAP);
    static int resident = 0;
    if (!resident) {
        cudaError_t e = cudaFuncSetAttribute((const void *)w4a16_gemm, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e != cudaSuccess) return e;
        int n = 0;
        e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, (const void *)w4a16_gemm, tsr_w4a16_block_threads(SWAP), smem);
        if (e != cudaSuccess) return e;
        resident = n > 0 ? n : 1;
    }
    if (blocks_per_sm) *blocks_per_sm = resident;
    return cudaSuccess;
}

template <int MB, int WM, int STAGES, int BF16, int HAS_Z, int SWAP, int IPB>
static cudaError_t w4a16_launch_one(const tsr_w4a16_launch_args_t *p, cudaStream_t stream)
{
    auto w4a16_gemm = w4a16_kernel_of<MB, WM, STAGES, BF16, HAS_Z, SWAP, IPB>();
    cudaError_t e = w4a16_prepare<MB, WM, STAGES, BF16, HAS_Z, SWAP, IPB>(NULL);
    if (e != cudaSuccess) return e;
    const size_t smem = tsr_w4a16_smem_bytes(tsr_w4a16_tile_rows(MB, SWAP), STAGES, SWAP);
    dim3 grid((unsigned)p->blocks_per_slice, (unsigned)p->m_slices), block(tsr_w4a16_block_threads(SWAP));
    return TSR_LAUNCH_EX(w4a16_gemm, grid, block, smem, stream, p->programmatic, *p);
}

template <int MB, int WM, int STAGES, int SWAP, int IPB>
static cudaError_t w4a16_launch_config(const tsr_w4a16_launch_args_t *p, cudaStream_t stream)
{
    if (p->bf16)
        return p->has_zeros ? w4a16_launch_one<MB, WM, STAGES, 1, 1, SWAP, IPB>(p, stream)
                            : w4a16_launch_one<MB, WM, STAGES, 1, 0, SWAP, IPB>(p, stream);
    return p->has_zeros ? w4a16_launch_one<MB, WM, STAGES, 0, 1, SWAP, IPB>(p, stream)
                        : w4a16_launch_one<MB, WM, STAGES, 0, 0, SWAP, IPB>(p, stream);
}

template <int MB, int WM, int STAGES, int SWAP, int IPB>
static cudaError_t w4a16_prepare_config(int bf16, int has_zeros, int *blocks_per_sm)
{
    if (bf16)
        return has_zeros ? w4a16_prepare<MB, WM, STAGES, 1, 1, SWAP, IPB>(blocks_per_sm) : w4a16_prepare<MB, WM, STAGES, 1, 0, SWAP, IPB>(blocks_per_sm);
    return has_zeros ? w4a16_prepare<MB, WM, STAGES, 0, 1, SWAP, IPB>(blocks_per_sm) : w4a16_prepare<MB, WM, STAGES, 0, 0, SWAP, IPB>(blocks_per_sm);
}

extern "C" cudaError_t tsr_w4a16_blocks_per_sm(int config, int bf16, int has_zeros, int *blocks_per_sm)
{
    switch (config) {
#define TSR_W4A16_CASE(id, mb, stages, wm, swap, ipb) \
    case id: return w4a16_prepare_config<mb, wm, stages, swap, ipb>(bf16, has_zeros, blocks_per_sm);
        TSR_W4A16_CONFIGS(TSR_W4A16_CASE)
#undef TSR_W4A16_CASE
    }
    return cudaErrorInvalidValue;
}

extern "C" cudaError_t tsr_w4a16_launch_gemm(const tsr_w4a16_launch_args_t *p, cudaStream_t stream)
{
    switch (p->config) {
#define TSR_W4A16_CASE(id, mb, stages, wm, swap, ipb) \
    case id: return w4a16_launch_config<mb, wm, stages, swap, ipb>(p, stream);
        TSR_W4A16_CONFIGS(TSR_W4A16_CASE)
#undef TSR_W4A16_CASE
    }
    return cudaErrorInvalidValue;
}
