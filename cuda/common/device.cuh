/* Prelude of every tessera kernel source: the PTX wrappers, shared-memory
 * declarations and the launch macro, each of which the CPU emulation replaces
 * when the source is compiled with -DTSR_EMU (tests/emu, docs/emulation.md). */
#ifndef TESSERA_CUDA_COMMON_DEVICE_CUH
#define TESSERA_CUDA_COMMON_DEVICE_CUH

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#include "ptx.cuh"

#if defined(TSR_EMU)
/* The block's dynamic shared memory, as `extern __shared__ T name[]`. */
#define TSR_DYNAMIC_SMEM(T, name) T *name = (T *)tsr_simt_dynamic_smem()
/* A block-wide array, as `__shared__ T name[n]`; only at the top of a kernel. */
#define TSR_STATIC_SMEM(T, name, n) T *name = (T *)tsr_simt_static_smem(sizeof(T) * (n), alignof(T))
/* `kernel<<<grid, block, smem, stream>>>(...)`; evaluates to the launch's cudaError_t. */
#define TSR_LAUNCH(kernel, grid, block, smem, stream, ...) \
    ((void)(stream), tsr_simt_launch(#kernel, kernel, grid, block, smem, __VA_ARGS__))
#else
/* One untyped extern array: a typed one would clash between instantiations. */
#define TSR_DYNAMIC_SMEM(T, name)                                   \
    extern __shared__ __align__(16) unsigned char tsr_dynamic_smem_[]; \
    T *name = (T *)tsr_dynamic_smem_
#define TSR_STATIC_SMEM(T, name, n) __shared__ __align__(16) T name[n]
#define TSR_LAUNCH(kernel, grid, block, smem, stream, ...) \
    (kernel<<<grid, block, smem, stream>>>(__VA_ARGS__), cudaGetLastError())
#endif

#endif
