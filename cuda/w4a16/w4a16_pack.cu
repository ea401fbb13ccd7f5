/* W4A16 packing on the GPU: the same placement as the host packer (both walk
 * csrc/w4a16_format.h), one thread per packed word, so that repacking a large
 * checkpoint runs at memory speed instead of minutes on the host. */
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
