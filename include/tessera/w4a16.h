/* W4A16: 4-bit integer weights times fp16/bf16 activations, C = A * W (+ bias).
 * Weights arrive as quantisation tools write them (GPTQ, AWQ, plain int4), are
 * repacked once into tessera's layout (docs/formats/w4a16.md) on the host or
 * on the GPU, and are dequantised in registers by the GEMM kernel.
 *
 *   tsr_w4a16_layout()          sizes of the packed blob for a (k, n, group)
 *   tsr_w4a16_pack_host/_device repack a checkpoint's tensors into the blob
 *   tsr_w4a16_unpack_host()     back to plain int4 + scales (+ zeros)
 *   tsr_w4a16_can_implement()   whether (and why not) a problem runs
 *   tsr_w4a16_workspace_size()  bytes of workspace a gemm needs
 *   tsr_w4a16_gemm()            the product, on a caller-given stream
 *   tsr_w4a16_dequantize()      the packed weight as a dense matrix, on the GPU */
#ifndef TESSERA_W4A16_H
#define TESSERA_W4A16_H

#include <string.h>

#include <cuda_runtime_api.h>

#include "tessera/tessera.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Pinned values. */
typedef enum tsr_w4a16_format {
    TSR_W4A16_FORMAT_GPTQ = 0,  /* AutoGPTQ / HF: qweight int32 [k/8][n], 8 nibbles along k */
    TSR_W4A16_FORMAT_AWQ = 1,   /* AutoAWQ: qweight int32 [k][n/8], nibble order 0,2,4,6,1,3,5,7 */
    TSR_W4A16_FORMAT_PLAIN = 2  /* uint8 [k][n/2], two values along n, low nibble first */
} tsr_w4a16_format_t;

/* A quantised weight W [k][n] as a checkpoint stores it; w = (q - zero) * scale,
 * with q and zero in 0..15 and one (scale, zero) per (group, column).
 * groups = ceil(k / group_size); group_size = -1 means one group (per-channel). */
typedef struct tsr_w4a16_source {
    size_t size;                  /* sizeof(tsr_w4a16_source_t); set by tsr_w4a16_source_init */
    tsr_w4a16_format_t format;
    int k, n;
    int group_size;               /* 32, a multiple of 64, k, or -1 */
    const void *qweight;          /* GPTQ: int32 [k/8][n]; AWQ: int32 [k][n/8]; PLAIN: uint8 [k][n/2] */
    const void *scales;           /* [groups][n] of scales_dtype */
    tsr_dtype_t scales_dtype;     /* TSR_DTYPE_F16 or TSR_DTYPE_BF16 */
    const void *qzeros;           /* GPTQ/AWQ: int32 [groups][n/8] (AWQ nibble order for AWQ);
                                     PLAIN: uint8 [groups][n], one zero per byte;
                                     NULL: symmetric, zero = 8 (uint4 with bias 8) */
    const int32_t *g_idx;         /* GPTQ act-order: [k] group of each row of W, host memory; NULL: row/group_size */
    int gptq_zeros_minus_one;     /* GPTQ only: stored zeros are zero-1, as AutoGPTQ's v1 format writes them (default 1) */
} tsr_w4a16_source_t;

static inline void tsr_w4a16_source_init(tsr_w4a16_source_t *s)
{
    memset(s, 0, sizeof *s);
    s->size = sizeof *s;
    s->group_size = 128;
    s->scales_dtype = TSR_DTYPE_F16;
    s->gptq_zeros_minus_one = 1;
}

/* Where each part of a packed blob lives. Plain data: store it beside the blob. */
typedef struct tsr_w4a16_layout {
    int k, n, group_size;         /* group_size as resolved: -1 becomes k */
    int k_padded, n_padded;       /* k up to a multiple of 64, n of 128 */
    int groups;                   /* ceil(k_padded / group_size) */
    tsr_dtype_t dtype;            /* activations, scales and output: F16 or BF16 */
    int has_zeros;                /* 0: symmetric (zero 8) */
    int act_order;                /* 1: rows permuted; the blob holds the permutation */
    size_t qweight_offset, qweight_bytes;
    size_t scales_offset, scales_bytes;
    size_t zeros_offset, zeros_bytes;
    size_t perm_offset, perm_bytes; /* int32 [k_padded]: packed row j is source row perm[j] */
    size_t total_bytes;
} tsr_w4a16_layout_t;

/* Fills *layout for a weight of k x n. Rules: k % 32 == 0, n % 8 == 0, group_size
 * one of 32, a multiple of 64, k or -1; dtype F16 or BF16. */
tsr_status_t tsr_w4a16_layout(int k, int n, int group_size, tsr_dtype_t dtype, int has_zeros, int act_order,
                              tsr_w4a16_layout_t *layout);

/* Repacks src (all pointers host memory) into packed (host, layout->total_bytes,
 * 16-byte aligned). layout must come from tsr_w4a16_layout with the same k, n,
 * group, has_zeros = (src->qzeros != NULL) and act_order = (src->g_idx != NULL). */
tsr_status_t tsr_w4a16_pack_host(const tsr_w4a16_source_t *src, const tsr_w4a16_layout_t *layout, void *packed);

/* The same on the GPU: qweight, scales and qzeros are device pointers; g_idx
 * stays host memory (k ints; the permutation is built on the host). packed is
 * device memory of layout->total_bytes. Asynchronous on stream. */
tsr_status_t tsr_w4a16_pack_device(tsr_handle_t handle, const tsr_w4a16_source_t *src,
                                   const tsr_w4a16_layout_t *layout, void *packed, cudaStream_t stream);

/* Host unpack of a packed blob, in source row order:
 * q [k][n/2] PLAIN-packed; scales [groups][n] of layout->dtype; zeros [groups][n]
 * one per byte (NULL allowed; filled with 8 when the layout is symmetric);
 * g_idx [k] the group of each source row (NULL allowed). */
tsr_status_t tsr_w4a16_unpack_host(const tsr_w4a16_layout_t *layout, const void *packed, uint8_t *q, void *scales,
                                   uint8_t *zeros, int32_t *g_idx);

/* TSR_STATUS_SUCCESS when tsr_w4a16_gemm can run m rows on this handle's device;
 * otherwise the status and a message with the rule that fails. */
tsr_status_t tsr_w4a16_can_implement(tsr_handle_t handle, const tsr_w4a16_layout_t *layout, int m);

/* Bytes of device workspace tsr_w4a16_gemm needs for m rows, whatever
 * configuration it picks (enough for every one). The workspace holds
 * self-resetting locks: zero it once (cudaMemset) after allocating it; every
 * gemm leaves it zeroed again, so it may be reused and captured in CUDA graphs.
 * One gemm at a time per workspace: calls that may overlap (different streams)
 * need workspaces of their own. */
tsr_status_t tsr_w4a16_workspace_size(tsr_handle_t handle, const tsr_w4a16_layout_t *layout, int m, size_t *bytes);

/* C = A * W (+ bias), fp32 accumulation.
 * a:         [m][k] row-major, layout->dtype, 16-byte aligned
 * packed:    the device blob from a pack call, 16-byte aligned
 * bias:      [n] layout->dtype, or NULL
 * c:         [m][n] row-major, layout->dtype, 16-byte aligned (n % 8 == 0 keeps rows aligned)
 * workspace: device, >= tsr_w4a16_workspace_size bytes, zeroed once. */
tsr_status_t tsr_w4a16_gemm(tsr_handle_t handle, const tsr_w4a16_layout_t *layout, int m, const void *a,
                            const void *packed, const void *bias, void *c, void *workspace, size_t workspace_bytes,
                            cudaStream_t stream);

/* ---- prefill through cuBLAS ---------------------------------------------------------
 * Dequantising the packed weight to a dense matrix and multiplying with cuBLAS
 * beat the W4A16 kernel at large m on an H100 (perf/results/2026-11-22-h100,
 * run 17: 1.3-1.6x at m = 4096 on all eight Llama-3 layers, f16 and bf16;
 * 0.94-1.06x, a tie, at m = 1024). The route: bias rows into C when there is
 * a bias, then, for each slab of columns, tsr_w4a16_dequantize's kernel into
 * the workspace and cublasGemmEx (fp32 accumulation, beta 1 with a bias, so C
 * is rounded once). A slab is the widest of TSR_W4A16_DENSE_SLAB_BYTES of
 * dense weight, m columns, and 2 * SMs * 16384 / m columns (two waves of
 * 128 x 128 output tiles a cuBLAS call), a multiple of 128, all of n when
 * that is less: the workspace holds at most the largest of 64 MB, m * k * 2
 * bytes (the size of A) and 2 * SMs * 16384 * k * 2 / m bytes (about 240 MB
 * for k = 28672 at m = 1024 on 132 SMs) for it, and each cuBLAS call is at
 * least m x m x k.
 * Modes (tsr_w4a16_set_prefill):
 * - TSR_W4A16_PREFILL_AUTO, the default: a tuning-cache entry for the
 *   shape and m bucket decides (ktune times the route beside the kernel
 *   configurations from TSR_W4A16_DENSE_MIN_M and records
 *   TSR_W4A16_ROUTE_DENSE where it wins; docs/tuning.md); without one, the
 *   route for m >= TSR_W4A16_AUTO_DENSE_MIN_M on sm_90 (where it was
 *   measured) and the kernel otherwise. TSR_W4A16_CONFIG forces the kernel.
 *   640 since perf/results/2026-11-23-h100 (runs 18 and 21): with the
 *   rewritten dequantisation kernel the route beat the kernel's best
 *   configuration on six of the eight Llama-3 layers at m = 768 and on all
 *   eight at 1024 (1.1-1.3x; 1.4-1.75x configuration 8 at 2048 and 4096),
 *   while at 512 the kernel (configurations 8 and 11) won on six; 640 lies
 *   between.
 * - TSR_W4A16_PREFILL_DENSE: the route for m >= TSR_W4A16_DENSE_MIN_M on any
 *   device.
 * - TSR_W4A16_PREFILL_KERNEL: the kernel for every m.
 * tsr_w4a16_workspace_size counts the slab (after the locks, so that kernel
 * calls sharing the workspace still find their locks at zero);
 * tsr_w4a16_query_config answers TSR_W4A16_ROUTE_DENSE for such calls;
 * tsr_w4a16_gemm_config always runs the kernel. The cuBLAS handle is created
 * by tsr_w4a16_set_prefill (DENSE or AUTO) or by the first call that takes
 * the route; a call that would create it while its stream is being captured
 * into a CUDA graph runs the kernel instead (creating a cuBLAS handle is not
 * capturable; cuBLAS calls are). A handle runs one gemm at a time. */
#define TSR_W4A16_DENSE_MIN_M 1024
#define TSR_W4A16_AUTO_DENSE_MIN_M 640
#define TSR_W4A16_DENSE_SLAB_BYTES ((size_t)64 << 20)
#define TSR_W4A16_ROUTE_DENSE (-1)
typedef enum tsr_w4a16_prefill {
    TSR_W4A16_PREFILL_KERNEL = 0, /* the W4A16 kernel for every m */
    TSR_W4A16_PREFILL_DENSE = 1,  /* dequantise + cuBLAS from TSR_W4A16_DENSE_MIN_M, any device */
    TSR_W4A16_PREFILL_AUTO = 2    /* the default: dequantise + cuBLAS from TSR_W4A16_AUTO_DENSE_MIN_M on sm_90 */
} tsr_w4a16_prefill_t;
tsr_status_t tsr_w4a16_set_prefill(tsr_handle_t handle, tsr_w4a16_prefill_t mode);

/* ---- programmatic dependent launch (sm_90) ------------------------------------------
 * enable = 1: the handle's W4A16 kernels are launched with programmatic
 * stream serialisation, so that a call may start while the kernel before it
 * on the stream is finishing (a decode step's previous layer, or the
 * previous gemm): its blocks take the SM slots that free up and stream the
 * first pipeline stages of packed weight meanwhile, then wait
 * (griddepcontrol.wait) for that kernel's completion before they read A or
 * write anything. Each kernel also lets the next start early once it has
 * passed that wait. What it saves is the gap and the ramp between kernels
 * in a sequence (CUDA graphs included); a single call timed alone gains
 * nothing.
 * The condition: the packed weight must not be written by the kernel just
 * before the call on its stream (pack on the GPU, then synchronise or run
 * anything else in between). A, bias, C and the workspace may be.
 * 0 (the default): ordinary launches. The act-order gather of A is launched
 * the same way (it reads the permutation early); the dense route's kernels
 * and cuBLAS always launch ordinarily.
 * TSR_STATUS_UNSUPPORTED_ARCH below sm_90 (the feature needs cc 9.0). */
tsr_status_t tsr_w4a16_set_programmatic_launch(tsr_handle_t handle, int enable);

/* Dequantises a packed weight to a dense matrix: w[k][n] = (q - z) * s rounded
 * once to layout->dtype, the values tsr_w4a16_gemm multiplies, with rows in
 * the checkpoint's order (act-order undone). For prefill, where a dense GEMM
 * (cuBLAS) on the result may beat the fused kernel, and for inspecting a pack.
 * packed: the device blob from a pack call, 16-byte aligned
 * w:      device [k][n] row-major, layout->dtype, 16-byte aligned */
tsr_status_t tsr_w4a16_dequantize(tsr_handle_t handle, const tsr_w4a16_layout_t *layout, const void *packed, void *w,
                                  cudaStream_t stream);

/* ---- configurations: for ktune and benchmarks ---------------------------------
 * tsr_w4a16_gemm picks a configuration (tile rows, pipeline depth) itself: from
 * the tuning cache when it holds an entry for this device and shape, otherwise
 * from a heuristic. These calls expose that choice. */
int tsr_w4a16_config_count(void); /* valid ids are 0 .. count-1 */
/* 1 when configuration id runs on handle's device; 0 for an unknown id, a
 * NULL handle, and the sm_90 warpgroup tiles (7 to 12) on any other device.
 * ktune times only these; tsr_w4a16_gemm_config refuses the others. */
int tsr_w4a16_config_supported(tsr_handle_t handle, int id);
/* The id tsr_w4a16_gemm would use for m rows. */
tsr_status_t tsr_w4a16_query_config(tsr_handle_t handle, const tsr_w4a16_layout_t *layout, int m, int *config);
/* tsr_w4a16_gemm with the configuration given. */
tsr_status_t tsr_w4a16_gemm_config(tsr_handle_t handle, const tsr_w4a16_layout_t *layout, int m, const void *a,
                                   const void *packed, const void *bias, void *c, void *workspace,
                                   size_t workspace_bytes, int config, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
