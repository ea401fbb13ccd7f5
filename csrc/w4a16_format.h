/* The W4A16 packed layout as code: the one definition of where every nibble,
 * scale and zero of a weight goes (docs/formats/w4a16.md says the same in
 * words), shared by the host packer, the GPU packer and the kernel, plus the
 * kernel configuration table and the launch arguments. Plain C, valid C++/CUDA. */
#ifndef TESSERA_CSRC_W4A16_FORMAT_H
#define TESSERA_CSRC_W4A16_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"

/* A block tile covers 64 rows of k by 128 columns of n. Each of its 8 warps
 * owns 16 columns (two mma n8 tiles) and all 64 k; each lane holds its B
 * fragments for the four k16 steps in one 16-byte word group, so the kernel
 * fetches them with a single 16-byte load. */
#define TSR_W4A16_TILE_K 64
#define TSR_W4A16_TILE_N 128
#define TSR_W4A16_WARPS 8
#define TSR_W4A16_THREADS 256
#define TSR_W4A16_TILE_WORDS 1024 /* 64*128 nibbles / 8 per word */

/* Word index of (n-tile, k-tile, warp, lane, k16 step) in the packed qweight:
 * tiles are stored column by column (all k-tiles of n-tile 0, then n-tile 1, ...)
 * so that a block walking down k reads one contiguous run. */
TSR_HD size_t tsr_w4a16_word_index(int nt, int kt, int k_tiles, int warp, int lane, int kstep)
{
    return ((size_t)nt * (size_t)k_tiles + (size_t)kt) * TSR_W4A16_TILE_WORDS + (size_t)warp * 128 + (size_t)lane * 4 +
           (size_t)kstep;
}

/* Which weight element nibble p (0..7, bit 4p) of that word holds.
 * The word yields four register pairs: pair i is nibbles (i, i+4), which the
 * dequantiser extracts with one mask (0x000f000f after shifting by 4i, or
 * 0x00f000f0 for odd i in fp16) into the low and high halves of a half2.
 * Pair i feeds n8 tile j = i/2, B register i%2: register 0 holds k = 2t, 2t+1
 * and register 1 holds k = 2t+8, 2t+9 of the k16 step (t = lane%4), column
 * lane/4 of the tile: the PTX ISA's mma.m16n8k16 B fragment. */
TSR_HD void tsr_w4a16_nibble_coord(int nt, int kt, int warp, int lane, int kstep, int p, int *k, int *n)
{
    int pair = p & 3, hi = p >> 2;
    int tile = pair >> 1, reg = pair & 1;
    int row, col;
    tsr_frag_m16n8k16_b(lane, 2 * reg + hi, &row, &col);
    *k = kt * TSR_W4A16_TILE_K + kstep * 16 + row;
    *n = nt * TSR_W4A16_TILE_N + warp * 16 + tile * 8 + col;
}

/* The inverse of tsr_w4a16_nibble_coord within one tile: element (kk, nn) of
 * the 64x128 tile (kk < 64, nn < 128) sits in word `*word` of the tile's 1024
 * (warp*128 + lane*4 + k16 step) at nibble `*p`. From the B fragment: row
 * r = kk%16 is 2*(lane%4) + hi + 8*reg, column nn%8 is lane/4. */
TSR_HD void tsr_w4a16_nibble_of(int kk, int nn, int *word, int *p)
{
    int r = kk % 16, reg = r >> 3, hi = r & 1, t = (r & 7) >> 1;
    int lane = (nn % 8) * 4 + t, pair = ((nn % 16) >> 3) * 2 + reg;
    *word = (nn / 16) * 128 + lane * 4 + kk / 16;
    *p = pair + 4 * hi;
}

/* The group of packed row k: k >> group_shift for power-of-two group sizes,
 * else (group_shift -1: 192, 320, or a per-channel k_padded like 4160) a
 * division. The GEMM's loader and the dequantisation kernel both ask here. */
TSR_HD int tsr_w4a16_group_of_row(int k, int group_shift, int group_size)
{
    return group_shift >= 0 ? k >> group_shift : k / group_size;
}

/* Scales and zeros are stored per group in a column order permuted within each
 * 128-column tile, so that a lane's two columns (its n8 tiles 0 and 1) are
 * adjacent: position q = 16*warp + 2*(lane/4) + j holds column 16*warp + 8*j + lane/4.
 * A lane then reads its two scales as one half2 and its two zeros as one byte. */
TSR_HD int tsr_w4a16_scale_position(int n)
{
    int tile = n / TSR_W4A16_TILE_N, c = n % TSR_W4A16_TILE_N;
    int warp = c / 16, j = (c % 16) / 8, g = c % 8;
    return tile * TSR_W4A16_TILE_N + warp * 16 + g * 2 + j;
}

/* ---- reading checkpoint formats (tsr_w4a16_format_t values) ------------------ */
/* AWQ packs eight columns per int32 in the order 0,2,4,6,1,3,5,7: column c of
 * a group of eight sits in nibble slot (c%2)*4 + c/2. */
TSR_HD int tsr_awq_nibble_slot(int c) { return (c & 1) * 4 + (c >> 1); }

/* q (0..15) of source row k, column n of a weight with n_cols columns. */
TSR_HD int tsr_w4a16_src_q(int format, const void *qweight, int n_cols, int k, int n)
{
    if (format == 0) { /* GPTQ: int32 [k/8][n], nibble k%8 */
        uint32_t w = ((const uint32_t *)qweight)[(size_t)(k / 8) * n_cols + n];
        return (int)(w >> (4 * (k % 8))) & 15;
    }
    if (format == 1) { /* AWQ: int32 [k][n/8] */
        uint32_t w = ((const uint32_t *)qweight)[(size_t)k * (n_cols / 8) + n / 8];
        return (int)(w >> (4 * tsr_awq_nibble_slot(n % 8))) & 15;
    }
    uint8_t b = ((const uint8_t *)qweight)[(size_t)k * (n_cols / 2) + n / 2]; /* PLAIN */
    return (n & 1) ? b >> 4 : b & 15;
}

/* The zero point (0..15) of group G, column n; 8 when qzeros is NULL. */
TSR_HD int tsr_w4a16_src_zero(int format, const void *qzeros, int n_cols, int zeros_minus_one, int G, int n)
{
    if (!qzeros) return 8;
    if (format == 0 || format == 1) {
        uint32_t w = ((const uint32_t *)qzeros)[(size_t)G * (n_cols / 8) + n / 8];
        if (format == 1) return (int)(w >> (4 * tsr_awq_nibble_slot(n % 8))) & 15;
        int z = (int)(w >> (4 * (n % 8))) & 15;
        return zeros_minus_one ? (z + 1) & 15 : z;
    }
    return ((const uint8_t *)qzeros)[(size_t)G * n_cols + n] & 15;
}

/* ---- kernel configurations: the dispatch table ------------------------------
 * X(id, m_blocks, stages, warps_m, swap_ab, items_per_barrier): a block
 * computes 16*m_blocks rows (the swapped decode tile 8*m_blocks); stages is
 * the depth of the cp.async pipeline; warps_m is how many of the 8 warps split
 * the rows (1: each warp has 16 columns and every row; 2: 32 columns and half
 * the rows, see the kernel's warp grid). swap_ab = 1 is the swapped decode
 * tile of 8 * m_blocks tokens (m_blocks 1 or 2): the weights are the mma's A
 * operand and the activations its B, so the mma's 8-wide side carries the
 * tokens and an m16n8k16 covers 16 columns of 8 tokens where the 16-row tile
 * needs two for 16 tokens (half the mma, half the ldmatrix, half the
 * accumulators); the scale is applied to the fp32 sums, not to the fp16
 * weights. swap_ab = 2 (sm_90a only) is the warpgroup tile: the same roles on
 * wgmma.m64nNk16, N = 16*m_blocks tokens (64 or 128) read by the tensor cores
 * from shared memory, 64 columns per warpgroup (cuda/w4a16/). swap_ab = 3
 * (sm_90a only, 64, 128 or 256 tokens) is that tile warp-specialised: a third
 * warpgroup loads the stages while the two others only dequantise and
 * multiply, handing stages over through named barriers (at most 7 stages);
 * with 256 tokens (m64n256k16) each weight dequantised feeds twice the MMA
 * work. items_per_barrier = 2 (8-warp tiles other than the warpgroup ones)
 * waits and loads for two items at each block barrier instead of one: run 15's
 * decode profile had a warp stalled at the barrier 1.01 of every 7.7 cycles.
 * Rows 9, 10, 12 (prefill candidates: 9 is row 8 with 8 stages, 6 loaded
 * ahead instead of 2), 13 (row 6 with two items a barrier) and 14 (the
 * swapped tile with 16 tokens, for 8 < m <= 16) were timed on an H100 in
 * run 18 (perf/results/2026-11-23-h100) and lost or tied: they, and row 4,
 * are used only when forced or tuned. Rows 7-12 run on sm_90 alone
 * (tsr_w4a16_config_supported), where the heuristic takes 3 up to m = 16,
 * 7 and 8 from m = 33, and 11 for some m beyond 128 (csrc/w4a16.c). To add a configuration, add a line here: the kernel file
 * instantiates every line, and the dispatcher walks them. */
#define TSR_W4A16_CONFIGS(X) \
    X(0, 1, 8, 1, 0, 1)      \
    X(1, 2, 4, 1, 0, 1)      \
    X(2, 4, 4, 1, 0, 1)      \
    X(3, 1, 4, 1, 0, 1)      \
    X(4, 8, 4, 1, 0, 1)      \
    X(5, 8, 4, 2, 0, 1)      \
    X(6, 1, 8, 1, 1, 1)      \
    X(7, 4, 4, 1, 2, 1)      \
    X(8, 8, 4, 1, 2, 1)      \
    X(9, 8, 8, 1, 2, 1)      \
    X(10, 8, 6, 1, 3, 1)     \
    X(11, 16, 5, 1, 3, 1)    \
    X(12, 4, 7, 1, 3, 1)     \
    X(13, 1, 8, 1, 1, 2)     \
    X(14, 2, 8, 1, 1, 1)
#define TSR_W4A16_CONFIG_COUNT 15
/* swap_ab of the warpgroup (wgmma) tiles, and of the warp-specialised one */
#define TSR_W4A16_SWAP_WGMMA 2
#define TSR_W4A16_SWAP_WGMMA_WS 3

/* Whether a configuration's tile uses wgmma (sm_90a alone). */
TSR_HD int tsr_w4a16_uses_wgmma(int swap_ab) { return swap_ab >= TSR_W4A16_SWAP_WGMMA; }
/* Threads of one block: 8 warps, and the warp-specialised tile's loading warpgroup. */
TSR_HD int tsr_w4a16_block_threads(int swap_ab)
{
    return swap_ab == TSR_W4A16_SWAP_WGMMA_WS ? TSR_W4A16_THREADS + 128 : TSR_W4A16_THREADS;
}

typedef struct tsr_w4a16_config {
    int id, m_blocks, stages, warps_m, swap_ab, items_per_barrier;
} tsr_w4a16_config_t;

/* Rows of activations (tokens) one block computes. */
TSR_HD int tsr_w4a16_tile_rows(int m_blocks, int swap_ab) { return swap_ab == 1 ? 8 * m_blocks : 16 * m_blocks; }

/* Shared memory of one pipeline stage: A rows, the weight tile, two groups of
 * scales (a 64-row tile spans two groups when group_size is 32) and zeros. */
TSR_HD size_t tsr_w4a16_stage_bytes(int rows)
{
    return (size_t)rows * TSR_W4A16_TILE_K * 2 + TSR_W4A16_TILE_WORDS * 4 + 2 * TSR_W4A16_TILE_N * 2 +
           2 * TSR_W4A16_TILE_N / 2;
}

/* Dynamic shared memory of a launch: `stages` stages of `rows` rows; the
 * warpgroup tile's stages start on 1024-byte boundaries (its activation rows
 * are a wgmma operand in the 128-byte swizzle), plus room to align the first. */
TSR_HD size_t tsr_w4a16_smem_bytes(int rows, int stages, int swap_ab)
{
    const size_t stage = tsr_w4a16_stage_bytes(rows);
    if (!tsr_w4a16_uses_wgmma(swap_ab)) return (size_t)stages * stage;
    return (size_t)stages * ((stage + 1023) / 1024 * 1024) + 1024 - 16;
}

/* Everything one launch needs, computed by the dispatcher (csrc/w4a16.c). */
typedef struct tsr_w4a16_launch_args {
    int config;
    int bf16, has_zeros;
    int m, n, k;                 /* logical sizes */
    int n_padded, k_tiles, n_tiles;
    int group_size, groups;
    int group_shift;             /* k >> group_shift is k's group: log2(group_size); -1 when that is no power of two */
    int m_slices;                /* ceil(m / tile rows); grid.y */
    int blocks_per_slice;        /* grid.x */
    int items_per_block;         /* consecutive (n-tile, k-tile) items, column-major */
    int programmatic;            /* a programmatic dependent launch (tsr_w4a16_set_programmatic_launch) */
    const void *a;               /* [m][k], or the permuted copy under act-order */
    const uint32_t *qweight;
    const void *scales;
    const uint8_t *zeros;        /* NULL when symmetric */
    const void *bias;
    void *c;
    int *locks;                  /* [m_slices][n_tiles], zero between launches */
    float *partials;             /* [m_slices][blocks_per_slice][2][tile rows*128] */
} tsr_w4a16_launch_args_t;

#endif
