/* Pieces of the W4A16 family shared between its host files (packer, device
 * packer, dispatcher) and the kernel launchers in cuda/w4a16/. Not installed. */
#ifndef TESSERA_CSRC_W4A16_INTERNAL_H
#define TESSERA_CSRC_W4A16_INTERNAL_H

#include "tessera/w4a16.h"
#include "w4a16_format.h"

#ifdef __cplusplus
extern "C" {
#endif

tsr_status_t tsr_w4a16_layout_impl(int k, int n, int group_size, tsr_dtype_t dtype, int has_zeros, int act_order,
                                   tsr_w4a16_layout_t *l);
tsr_status_t tsr_w4a16_check_source(const char *fn, const tsr_w4a16_source_t *s, const tsr_w4a16_layout_t *l);
tsr_status_t tsr_w4a16_build_perm(const char *fn, const tsr_w4a16_layout_t *l, const int32_t *g_idx, int32_t *perm);

/* Kernel launchers (cuda/w4a16/): each returns the launch's CUDA error. */
cudaError_t tsr_w4a16_launch_gemm(const tsr_w4a16_launch_args_t *args, cudaStream_t stream);
/* How many blocks of configuration `config` one SM holds at once (occupancy
 * query, cached per kernel); also sets the kernel's shared-memory limit. */
cudaError_t tsr_w4a16_blocks_per_sm(int config, int bf16, int has_zeros, int *blocks_per_sm);
/* a_perm[m][j] = a[m][perm[j]] for j < k (perm: device int32 [k_padded]);
 * programmatic: a programmatic dependent launch (sm_90). */
cudaError_t tsr_w4a16_launch_permute_a(const void *a, const int32_t *perm, void *a_perm, int m, int k,
                                       int programmatic, cudaStream_t stream);
/* GPU packing: one thread per packed word / per (group, column). perm may be
 * NULL (device int32 [k_padded] otherwise). */
typedef struct tsr_w4a16_pack_args {
    int format, k, n, k_padded, n_padded, group_size, groups, has_zeros, zeros_minus_one;
    int scales_convert; /* 0: copy bits; 1: f16 -> bf16; 2: bf16 -> f16 */
    const void *qweight, *scales, *qzeros;
    const int32_t *perm;
    uint32_t *out_qweight;
    uint16_t *out_scales;
    uint8_t *out_zeros;
} tsr_w4a16_pack_args_t;
cudaError_t tsr_w4a16_launch_pack(const tsr_w4a16_pack_args_t *args, cudaStream_t stream);

/* Dequantisation to dense [k][n], or a slab of its columns: n-tiles n_tile0
 * .. n_tile0 + n_tiles - 1 (columns from 128 n_tile0, up to n) into out with
 * row pitch ld. min(blocks, tiles) blocks walk the (k-tile, n-tile) tiles.
 * group_size and group_shift as the gemm's (k_padded for per-channel; shift
 * -1 when the size is no power of two); perm NULL without act-order. */
typedef struct tsr_w4a16_dequant_args {
    int k, n, n_padded, k_tiles, group_size, group_shift, has_zeros, bf16, blocks;
    int n_tile0, n_tiles, ld;
    const uint32_t *qweight;
    const uint16_t *scales;
    const uint8_t *zeros;
    const int32_t *perm;
    uint16_t *out; /* [k][ld]: column 128 n_tile0 at out[0] */
} tsr_w4a16_dequant_args_t;
cudaError_t tsr_w4a16_launch_dequant(const tsr_w4a16_dequant_args_t *args, cudaStream_t stream);
/* c[i][j] = bias[j] for i < m, j < n (16-bit values): the dense route's C
 * before cuBLAS adds A * W to it. */
cudaError_t tsr_w4a16_launch_bias_rows(const uint16_t *bias, uint16_t *c, int m, int n, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
