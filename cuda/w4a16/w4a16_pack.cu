/* W4A16 packing on the GPU: the same placement as the host packer (both walk
 * csrc/w4a16_format.h), one thread per packed word, so that repacking a large
 * checkpoint runs at memory speed instead of minutes on the host; and the way
 * back, dequantisation of a packed weight to a dense matrix. */
#include "common/device.cuh"

extern "C" {
#include "w4a16_internal.h"
}
#include "w4a16/w4a16_dequant.cuh"

/* Word `i` of the packed qweight: decode its (n-tile, k-tile, warp, lane,
 * k16 step) from the index and gather its eight nibbles from the source. */
__global__ void w4a16_pack_qweight_kernel(tsr_w4a16_pack_args_t p)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int k_tiles = p.k_padded / TSR_W4A16_TILE_K;
    const size_t words = (size_t)p.k_padded * p.n_padded / 8;
    if (i >= words) return;
    size_t tile = i / TSR_W4A16_TILE_WORDS;
    int within = (int)(i % TSR_W4A16_TILE_WORDS);
    int nt = (int)(tile / (size_t)k_tiles), kt = (int)(tile % (size_t)k_tiles);
    int warp = within / 128, lane = (within / 4) % 32, ks = within % 4;
    uint32_t word = 0;
    for (int q = 0; q < 8; q++) {
        int k, n;
        tsr_w4a16_nibble_coord(nt, kt, warp, lane, ks, q, &k, &n);
        if (k < p.k && n < p.n) {
            int row = p.perm ? ld_global(p.perm + k) : k;
            /* a raw read: the emulation's guard pages catch an overrun */
            word |= (uint32_t)tsr_w4a16_src_q(p.format, p.qweight, p.n, row, n) << (4 * q);
        }
    }
    st_global(p.out_qweight + i, word);
}

/* One thread per (group, column): scale converted if asked, zero into its nibble.
 * Two columns share a zero byte; the even-position thread writes both. */
__global__ void w4a16_pack_scales_kernel(tsr_w4a16_pack_args_t p)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)p.groups * p.n_padded) return;
    int G = (int)(i / (size_t)p.n_padded), pos = (int)(i % (size_t)p.n_padded);
    /* invert the scale permutation within the 128-column tile */
    int tile = pos / TSR_W4A16_TILE_N, c = pos % TSR_W4A16_TILE_N;
    int warp = c / 16, g = (c % 16) / 2, j = c % 2;
    int n = tile * TSR_W4A16_TILE_N + warp * 16 + j * 8 + g;
    int src_groups = (p.k + p.group_size - 1) / p.group_size;
    bool valid = n < p.n && G < src_groups;
    uint16_t s = 0;
    if (valid) {
        s = ld_global((const uint16_t *)p.scales + (size_t)G * p.n + n);
        if (p.scales_convert == 1) s = __bfloat16_as_ushort(__float2bfloat16_rn(__half2float(__ushort_as_half(s))));
        if (p.scales_convert == 2) s = __half_as_ushort(__float2half_rn(__bfloat162float(__ushort_as_bfloat16(s))));
    }
    st_global(p.out_scales + i, s);
    if (p.has_zeros && j == 0) {
        int z[2] = {0, 0};
        for (int e = 0; e < 2; e++) {
            int ne = tile * TSR_W4A16_TILE_N + warp * 16 + e * 8 + g;
            if (ne < p.n && G < src_groups) z[e] = tsr_w4a16_src_zero(p.format, p.qzeros, p.n, p.zeros_minus_one, G, ne);
        }
        st_global(p.out_zeros + i / 2, (uint8_t)(z[0] | (z[1] << 4)));
    }
}

extern "C" cudaError_t tsr_w4a16_launch_pack(const tsr_w4a16_pack_args_t *p, cudaStream_t stream)
{
    size_t words = (size_t)p->k_padded * p->n_padded / 8;
    auto w4a16_pack_qweight = w4a16_pack_qweight_kernel;
    cudaError_t e = TSR_LAUNCH(w4a16_pack_qweight, dim3((unsigned)((words + 255) / 256)), dim3(256), 0, stream, *p);
    if (e != cudaSuccess) return e;
    size_t cells = (size_t)p->groups * p->n_padded;
    auto w4a16_pack_scales = w4a16_pack_scales_kernel;
    return TSR_LAUNCH(w4a16_pack_scales, dim3((unsigned)((cells + 255) / 256)), dim3(256), 0, stream, *p);
}

/* ---- dequantisation to dense [k][n] ---------------------------------------------
 * The dense route's first half (tsr_w4a16_dequantize): it reads 4.1 bits and
 * writes 16 per weight, so it should run at the copy bandwidth, and needs few
 * instructions per byte to get there. Each block walks tiles (64 k x 128 n)
 * grid-stride in blob order, the next tile's codes, scales and zeros loaded
 * into registers before it works on the current one. A thread's 16 bytes of
 * codes are its four mma fragments; the GEMM's dequantiser (dequant_word)
 * turns each word into four 32-bit pairs, (q - z) * s rounded once, the bits
 * the GEMM multiplies: rows 2i and 2i+1 of one column. Shared memory holds
 * the tile as such pairs, [32 row pairs][128 columns] of 32 bits; a thread
 * then takes 8 columns of one row pair (two 16-byte loads), splits them into
 * the two rows with 8 byte permutes, and writes each as one 16-byte store (16
 * threads to a 256-byte row). Two shared buffers: one barrier a tile. */
#define TSR_W4A16_DQ_PITCH (TSR_W4A16_TILE_N + 8) /* words: row pairs t apart start 8t banks apart */

/* What one thread reads of tile (nt, kt), nt counted from the slab's first:
 * its 16 bytes of codes, and the scale pair and zero byte of its two columns
 * for the tile's first and second 32 rows (two groups only for group size 32). */
typedef struct w4a16_dq_fetch {
    uint4 q;
    uint32_t s2[2];
    uint32_t zb[2];
} w4a16_dq_fetch_t;

template <int HAS_Z>
TSR_DEVICE w4a16_dq_fetch_t w4a16_dq_fetch(const tsr_w4a16_dequant_args_t &p, int nt, int kt, int tid)
{
    w4a16_dq_fetch_t f;
    const int warp = tid / 32, g = (tid % 32) / 4, row = kt * TSR_W4A16_TILE_K;
    f.q = ld_global((const uint4 *)(p.qweight + ((size_t)(p.n_tile0 + nt) * p.k_tiles + kt) * TSR_W4A16_TILE_WORDS) + tid);
    const int g0 = tsr_w4a16_group_of_row(row, p.group_shift, p.group_size);
    /* the two columns' packed positions are side by side (docs/formats/w4a16.md) */
    const size_t pos = (size_t)(p.n_tile0 + nt) * TSR_W4A16_TILE_N + warp * 16 + 2 * g;
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const size_t at = (size_t)(g0 + (p.group_size == 32 ? h : 0)) * p.n_padded + pos;
        f.s2[h] = ld_global((const uint32_t *)(p.scales + at));
        f.zb[h] = HAS_Z ? ld_global(p.zeros + at / 2) : 0x88;
    }
    return f;
}

template <int BF16, int HAS_Z>
__global__ void __launch_bounds__(TSR_W4A16_THREADS) w4a16_dequant_kernel(tsr_w4a16_dequant_args_t p)
{
    TSR_STATIC_SMEM(uint32_t, pairs, 2 * (TSR_W4A16_TILE_K / 2) * TSR_W4A16_DQ_PITCH);
    const int tid = threadIdx.x, warp = tid / 32, g = (tid % 32) / 4, t = tid % 4;
    if ((int)blockIdx.x >= p.k_tiles * p.n_tiles) return;
    /* tile (nt, kt) is tile nt * k_tiles + kt; a block steps gridDim.x tiles */
    const int step_nt = (int)gridDim.x / p.k_tiles, step_kt = (int)gridDim.x % p.k_tiles;
    int nt = (int)blockIdx.x / p.k_tiles, kt = (int)blockIdx.x % p.k_tiles;
    w4a16_dq_fetch_t next = w4a16_dq_fetch<HAS_Z>(p, nt, kt, tid);
#pragma unroll 1
    for (int buf = 0; nt < p.n_tiles; buf ^= 1) {
        const w4a16_dq_fetch_t cur = next;
        const int cur_nt = nt, cur_kt = kt;
        kt += step_kt;
        nt += step_nt;
        if (kt >= p.k_tiles) {
            kt -= p.k_tiles;
            nt++;
        }
        if (nt < p.n_tiles) next = w4a16_dq_fetch<HAS_Z>(p, nt, kt, tid);
        uint32_t *o = pairs + buf * (TSR_W4A16_TILE_K / 2) * TSR_W4A16_DQ_PITCH;
        const uint32_t words[4] = {cur.q.x, cur.q.y, cur.q.z, cur.q.w};
#pragma unroll
        for (int h = 0; h < 2; h++) {
            uint32_t zlo[2], zhi[2], s[2];
            zero_constants<BF16>((int)(cur.zb[h] & 15), &zlo[0], &zhi[0]);
            zero_constants<BF16>((int)((cur.zb[h] >> 4) & 15), &zlo[1], &zhi[1]);
            s[0] = prmt(cur.s2[h], 0, 0x1010); /* a column's scale in both halves */
            s[1] = prmt(cur.s2[h], 0, 0x3232);
#pragma unroll
            for (int kk = 2 * h; kk < 2 * h + 2; kk++) {
                uint32_t b[2][2];
                dequant_word<BF16>(words[kk], zlo, zhi, s, b);
                /* b[j][r]: column 16 warp + 8 j + g, rows 16 kk + 2t + 8r and the next: row pair 8 kk + t + 4r */
#pragma unroll
                for (int j = 0; j < 2; j++)
#pragma unroll
                    for (int r = 0; r < 2; r++)
                        st_shared(o + (8 * kk + t + 4 * r) * TSR_W4A16_DQ_PITCH + 16 * warp + 8 * j + g, b[j][r]);
            }
        }
        __syncthreads();
        /* 32 row pairs x 16 runs of 8 columns: two a thread */
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const int u = tid + i * TSR_W4A16_THREADS, rp = u / 16, n0 = (u % 16) * 8;
            /* n counts from the slab's first column; k % 32 == 0 and n % 8 == 0,
             * so a run is all in or all out, and both its rows alike */
            const int k = cur_kt * TSR_W4A16_TILE_K + 2 * rp, n = cur_nt * TSR_W4A16_TILE_N + n0;
            if (k >= p.k || p.n_tile0 * TSR_W4A16_TILE_N + n >= p.n) continue;
            const uint4 x = ld_shared<uint4>(o + rp * TSR_W4A16_DQ_PITCH + n0);
            const uint4 y = ld_shared<uint4>(o + rp * TSR_W4A16_DQ_PITCH + n0 + 4);
            const uint4 even = make_uint4(prmt(x.x, x.y, 0x5410), prmt(x.z, x.w, 0x5410), prmt(y.x, y.y, 0x5410),
                                          prmt(y.z, y.w, 0x5410));
            const uint4 odd = make_uint4(prmt(x.x, x.y, 0x7632), prmt(x.z, x.w, 0x7632), prmt(y.x, y.y, 0x7632),
                                         prmt(y.z, y.w, 0x7632));
            const int r0 = p.perm ? ld_global(p.perm + k) : k, r1 = p.perm ? ld_global(p.perm + k + 1) : k + 1;
            st_global((uint4 *)(p.out + (size_t)r0 * p.ld + n), even);
            st_global((uint4 *)(p.out + (size_t)r1 * p.ld + n), odd);
        }
    }
}

extern "C" cudaError_t tsr_w4a16_launch_dequant(const tsr_w4a16_dequant_args_t *p, cudaStream_t stream)
{
    const int tiles = p->k_tiles * p->n_tiles;
    const dim3 grid((unsigned)(tiles < p->blocks ? tiles : p->blocks)), block(TSR_W4A16_THREADS);
    if (tiles == 0) return cudaSuccess;
    if (p->bf16) {
        if (p->has_zeros) {
            auto w4a16_dequant_bf16_z = w4a16_dequant_kernel<1, 1>;
            return TSR_LAUNCH(w4a16_dequant_bf16_z, grid, block, 0, stream, *p);
        }
        auto w4a16_dequant_bf16 = w4a16_dequant_kernel<1, 0>;
        return TSR_LAUNCH(w4a16_dequant_bf16, grid, block, 0, stream, *p);
    }
    if (p->has_zeros) {
        auto w4a16_dequant_f16_z = w4a16_dequant_kernel<0, 1>;
        return TSR_LAUNCH(w4a16_dequant_f16_z, grid, block, 0, stream, *p);
    }
    auto w4a16_dequant_f16 = w4a16_dequant_kernel<0, 0>;
    return TSR_LAUNCH(w4a16_dequant_f16, grid, block, 0, stream, *p);
}

/* ---- the dense route's C before cuBLAS: every row a copy of the bias --------
 * m x n 16-bit values written once (and read back by cuBLAS as beta * C), so
 * each thread writes four 32-bit pairs: n % 8 == 0 keeps a run of 8 inside
 * a row, and C and the bias are 4-byte aligned (the gemm's checks). */
__global__ void w4a16_bias_rows_kernel(const uint16_t *bias, uint16_t *c, int m, int n)
{
    const size_t run = (size_t)blockIdx.x * blockDim.x + threadIdx.x, i = run * 8;
    if (i >= (size_t)m * n) return;
    const uint32_t *b = (const uint32_t *)(bias + i % (size_t)n);
    uint32_t *o = (uint32_t *)(c + i);
#pragma unroll
    for (int j = 0; j < 4; j++) st_global(o + j, ld_global(b + j));
}

extern "C" cudaError_t tsr_w4a16_launch_bias_rows(const uint16_t *bias, uint16_t *c, int m, int n, cudaStream_t stream)
{
    const size_t runs = (size_t)m * n / 8;
    auto w4a16_bias_rows = w4a16_bias_rows_kernel;
    return TSR_LAUNCH(w4a16_bias_rows, dim3((unsigned)((runs + 255) / 256)), dim3(256), 0, stream, bias, c, m, n);
}
