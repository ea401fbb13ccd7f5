/* W4A16 packing on the GPU: the same placement as the host packer (both walk
 * csrc/w4a16_format.h), one thread per packed word, so that repacking a large
 * checkpoint runs at memory speed instead of minutes on the host; and the way
 * back, dequantisation of a packed weight to a dense matrix. */
#include "common/device.cuh"

extern "C" {
#include "w4a16_internal.h"
}

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
 * One block per (k-tile, n-tile): the tile's 4 KB of codes and its groups'
 * scales and zeros come into shared memory with coalesced loads; then each
 * thread writes four runs of 8 columns of one row as 16-byte stores (16
 * neighbouring threads cover a row's 128 columns). The value is (q - z) * s
 * rounded once to the dtype: what the gemm's dequantiser computes. */
__global__ void __launch_bounds__(TSR_W4A16_THREADS) w4a16_dequant_kernel(tsr_w4a16_dequant_args_t p)
{
    TSR_STATIC_SMEM(uint32_t, words, TSR_W4A16_TILE_WORDS);
    TSR_STATIC_SMEM(uint16_t, scales, 2 * TSR_W4A16_TILE_N);
    TSR_STATIC_SMEM(uint8_t, zeros, TSR_W4A16_TILE_N);
    const int kt = (int)blockIdx.x, nt = (int)blockIdx.y, tid = threadIdx.x;
    const uint32_t *tile = p.qweight + ((size_t)nt * p.k_tiles + kt) * TSR_W4A16_TILE_WORDS;
    st_shared(&words[tid * 4], ld_global((const uint4 *)(tile + tid * 4)));
    const int g0 = kt * TSR_W4A16_TILE_K / p.group_size, ngroups = p.group_size == 32 ? 2 : 1;
    if (tid < TSR_W4A16_TILE_N * ngroups) {
        int G = g0 + tid / TSR_W4A16_TILE_N, pos = nt * TSR_W4A16_TILE_N + tid % TSR_W4A16_TILE_N;
        st_shared(&scales[tid], ld_global(p.scales + (size_t)G * p.n_padded + pos));
    }
    if (p.has_zeros && tid < TSR_W4A16_TILE_N / 2 * ngroups) {
        int G = g0 + tid / (TSR_W4A16_TILE_N / 2);
        size_t byte = ((size_t)G * p.n_padded + nt * TSR_W4A16_TILE_N) / 2 + tid % (TSR_W4A16_TILE_N / 2);
        st_shared(&zeros[tid], ld_global(p.zeros + byte));
    }
    __syncthreads();
#pragma unroll 1
    for (int i = 0; i < 4; i++) {
        const int c = tid + i * TSR_W4A16_THREADS, kk = c / 16, n0 = (c % 16) * 8;
        const int k = kt * TSR_W4A16_TILE_K + kk, n = nt * TSR_W4A16_TILE_N + n0;
        if (k >= p.k || n >= p.n) continue; /* n % 8 == 0: a run is all in or all out */
        const int gl = k / p.group_size - g0;
        uint16_t v[8];
#pragma unroll
        for (int j = 0; j < 8; j++) {
            int word, q;
            tsr_w4a16_nibble_of(kk, n0 + j, &word, &q);
            int code = (int)(ld_shared<uint32_t>(&words[word]) >> (4 * q)) & 15;
            int pos = gl * TSR_W4A16_TILE_N + tsr_w4a16_scale_position(n0 + j);
            int z = p.has_zeros ? (ld_shared<uint8_t>(&zeros[pos / 2]) >> (4 * (pos & 1))) & 15 : 8;
            uint16_t sb = ld_shared<uint16_t>(&scales[pos]);
            /* (q - z) * s is exact in fp32; one rounding to the dtype */
            float s = p.bf16 ? __bfloat162float(__ushort_as_bfloat16(sb)) : __half2float(__ushort_as_half(sb));
            float x = (float)(code - z) * s;
            v[j] = p.bf16 ? __bfloat16_as_ushort(__float2bfloat16_rn(x)) : __half_as_ushort(__float2half_rn(x));
        }
        const int row = p.perm ? ld_global(p.perm + k) : k;
        st_global((uint4 *)(p.out + (size_t)row * p.n + n),
                  make_uint4(v[0] | (unsigned)v[1] << 16, v[2] | (unsigned)v[3] << 16, v[4] | (unsigned)v[5] << 16,
                             v[6] | (unsigned)v[7] << 16));
    }
}

extern "C" cudaError_t tsr_w4a16_launch_dequant(const tsr_w4a16_dequant_args_t *p, cudaStream_t stream)
{
    auto w4a16_dequant = w4a16_dequant_kernel;
    return TSR_LAUNCH(w4a16_dequant, dim3((unsigned)p->k_tiles, (unsigned)p->n_tiles), dim3(TSR_W4A16_THREADS), 0,
                      stream, *p);
}

/* ---- the dense route's C before cuBLAS: every row a copy of the bias -------- */
__global__ void w4a16_bias_rows_kernel(const uint16_t *bias, uint16_t *c, int m, int n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)m * n) return;
    st_global(c + i, ld_global(bias + i % (size_t)n));
}

extern "C" cudaError_t tsr_w4a16_launch_bias_rows(const uint16_t *bias, uint16_t *c, int m, int n, cudaStream_t stream)
{
    size_t total = (size_t)m * n;
    auto w4a16_bias_rows = w4a16_bias_rows_kernel;
    return TSR_LAUNCH(w4a16_bias_rows, dim3((unsigned)((total + 255) / 256)), dim3(256), 0, stream, bias, c, m, n);
}
