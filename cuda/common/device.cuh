/* Prelude of every tessera kernel source: the PTX wrappers, shared-memory
 * declarations and the launch macro, each of which the CPU emulation replaces
 * when the source is compiled with -DTSR_EMU (tests/emu, docs/emulation.md). */
#ifndef TESSERA_CUDA_COMMON_DEVICE_CUH
#define TESSERA_CUDA_COMMON_DEVICE_CUH

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#include "ptx.cuh"

#include <utility>

#if defined(TSR_EMU)
/* The block's dynamic shared memory, as `extern __shared__ T name[]`. */
#define TSR_DYNAMIC_SMEM(T, name) T *name = (T *)tsr_simt_dynamic_smem()
/* A block-wide array, as `__shared__ T name[n]`; only at the top of a kernel. */
#define TSR_STATIC_SMEM(T, name, n) T *name = (T *)tsr_simt_static_smem(sizeof(T) * (n), alignof(T))
/* `kernel<<<grid, block, smem, stream>>>(...)`; evaluates to the launch's cudaError_t. */
#define TSR_LAUNCH(kernel, grid, block, smem, stream, ...) \
    ((void)(stream), tsr_simt_launch(#kernel, kernel, grid, block, smem, __VA_ARGS__))
/* TSR_LAUNCH, as a programmatic dependent launch when `programmatic` is
 * nonzero: the kernel may start before the one ahead of it on the stream
 * ends, and must call griddep_wait (ptx.cuh) before it touches what that
 * one writes. The caller sets it only on sm_90, where the kernel was built
 * with that wait (it compiles to nothing for older targets). */
#define TSR_LAUNCH_EX(kernel, grid, block, smem, stream, programmatic, ...) \
    ((void)(stream), tsr_simt_launch_ex(#kernel, kernel, grid, block, smem, programmatic, __VA_ARGS__))
#else
/* One untyped extern array: a typed one would clash between instantiations. */
#define TSR_DYNAMIC_SMEM(T, name)                                   \
    extern __shared__ __align__(16) unsigned char tsr_dynamic_smem_[]; \
    T *name = (T *)tsr_dynamic_smem_
#define TSR_STATIC_SMEM(T, name, n) __shared__ __align__(16) T name[n]
#define TSR_LAUNCH(kernel, grid, block, smem, stream, ...) \
    (kernel<<<grid, block, smem, stream>>>(__VA_ARGS__), cudaGetLastError())
#define TSR_LAUNCH_EX(kernel, grid, block, smem, stream, programmatic, ...) \
    tsr_launch_ex(kernel, grid, block, smem, stream, programmatic, __VA_ARGS__)
template <typename... P, typename... A>
static inline cudaError_t tsr_launch_ex(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                                        int programmatic, A &&...args)
{
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cfg.attrs = attr;
    cfg.numAttrs = programmatic ? 1 : 0;
    cudaError_t e = cudaLaunchKernelEx(&cfg, kernel, std::forward<A>(args)...);
    return e != cudaSuccess ? e : cudaGetLastError();
}
#endif

#endif
