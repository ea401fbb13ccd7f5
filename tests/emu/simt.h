/* SIMT emulation: runs tessera's own CUDA kernel sources on the CPU.
 * A kernel .cu compiled by the host C++ compiler with -DTSR_EMU includes this
 * header (through cuda/common/device.cuh). Each block's threads become
 * cooperative fibers; warp-level instructions are exchanged through per-warp
 * slots and computed with the PTX ISA's fragment layouts (csrc/layout.h).
 * How it works and what it leaves out: docs/emulation.md. Test support only. */
#ifndef TESSERA_TESTS_EMU_SIMT_H
#define TESSERA_TESTS_EMU_SIMT_H

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <functional>
#include <tuple>
#include <utility>

/* ---- what one emulated thread sees -------------------------------------- */

struct tsr_simt_thread_view {
    uint3 thread_idx;
    uint3 block_idx;
    dim3 block_dim;
    dim3 grid_dim;
};

/* The running fiber's view; valid only inside an emulated kernel. */
const tsr_simt_thread_view *tsr_simt_view(void);

#define threadIdx (tsr_simt_view()->thread_idx)
#define blockIdx (tsr_simt_view()->block_idx)
#define blockDim (tsr_simt_view()->block_dim)
#define gridDim (tsr_simt_view()->grid_dim)
#define warpSize 32

#ifndef __global__
#define __global__
#endif
#ifndef __forceinline__
#define __forceinline__ inline
#endif
#define __launch_bounds__(...)
#define __restrict__ __restrict
/* Static __shared__ is not used by tessera kernels: they declare shared memory
 * through TSR_DYNAMIC_SMEM / TSR_STATIC_SMEM (cuda/common/device.cuh). */

/* ---- shared memory ------------------------------------------------------ */
void *tsr_simt_dynamic_smem(void);
/* The n-th call made by each thread of a block returns the same block-wide
 * buffer, so a declaration at the top of a kernel behaves like __shared__. */
void *tsr_simt_static_smem(size_t bytes, size_t align);
/* Shadow tracking of shared memory: stores mark bytes written, loads check them.
 * A load of a byte no thread of the block wrote since launch is reported. */
int tsr_simt_smem_mark(const void *p, size_t bytes);
int tsr_simt_smem_check(const void *p, size_t bytes, const char *what);

/* ---- global memory ------------------------------------------------------ */
/* Fails (naming kernel, block, thread and address) unless [p, p+bytes) lies
 * inside one buffer from the emulated cudaMalloc. Each returns 0 when the
 * access must not be performed (the fault was recorded, not fatal). */
int tsr_simt_global_check(const void *p, size_t bytes, const char *what);
/* The same for a store or atomic: also recorded as the running kernel's
 * write of that allocation (below). */
int tsr_simt_global_store_check(const void *p, size_t bytes, const char *what);
/* A generic-address access: checked as shared when p lies in the block's
 * shared memory, else as global. */
int tsr_simt_generic_check(const void *p, size_t bytes, const char *what);
/* A 16-bit float's bits (bf16 when bf16 != 0, else fp16) as a float. */
float tsr_simt_b16_to_float(uint16_t v, int bf16);

/* ---- barriers and scheduling -------------------------------------------- */
void tsr_simt_syncthreads(void);
void tsr_simt_syncwarp(void);
/* Named barriers 1..15 (bar.sync / bar.arrive id, count), ptx.cuh's
 * named_barrier_sync / named_barrier_arrive. */
void tsr_simt_bar_sync(int id, int count);
void tsr_simt_bar_arrive(int id, int count);
/* A spinning thread (acquire load in a loop) lets the other fibers run. */
void tsr_simt_yield(void);

#define __syncthreads() tsr_simt_syncthreads()
#define __syncwarp(...) tsr_simt_syncwarp()
#define __threadfence() ((void)0)
#define __threadfence_block() ((void)0)

/* ---- warp collectives --------------------------------------------------- */
/* Each lane deposits `bytes` from `mine`; returns the warp's 32 slots (slot
 * stride TSR_SIMT_SLOT bytes) once every lane has arrived. The caller must call
 * tsr_simt_warp_release() after reading, before the next collective. */
#define TSR_SIMT_SLOT 128
const unsigned char *tsr_simt_warp_gather(const void *mine, size_t bytes);
void tsr_simt_warp_release(void);
int tsr_simt_lane(void);

template <typename T>
static inline T tsr_simt_shfl_from(T v, int src_lane_fn_kind, int arg, int width)
{
    static_assert(sizeof(T) <= TSR_SIMT_SLOT, "shuffle value too large");
    const unsigned char *slots = tsr_simt_warp_gather(&v, sizeof v);
    int lane = tsr_simt_lane();
    int base = lane & ~(width - 1), src = lane;
    switch (src_lane_fn_kind) {
    case 0: src = base + (arg & (width - 1)); break;                          /* idx */
    case 1: src = (lane & (width - 1)) ^ arg; src = src < width ? base + src : lane; break; /* xor */
    case 2: src = (lane - base) >= arg ? lane - arg : lane; break;            /* up */
    case 3: src = (lane - base) + arg < width ? lane + arg : lane; break;     /* down */
    }
    T out;
    memcpy(&out, slots + (size_t)src * TSR_SIMT_SLOT, sizeof out);
    tsr_simt_warp_release();
    return out;
}
template <typename T> static inline T __shfl_sync(unsigned, T v, int l, int w = 32) { return tsr_simt_shfl_from(v, 0, l, w); }
template <typename T> static inline T __shfl_xor_sync(unsigned, T v, int m, int w = 32) { return tsr_simt_shfl_from(v, 1, m, w); }
template <typename T> static inline T __shfl_up_sync(unsigned, T v, unsigned d, int w = 32) { return tsr_simt_shfl_from(v, 2, (int)d, w); }
template <typename T> static inline T __shfl_down_sync(unsigned, T v, unsigned d, int w = 32) { return tsr_simt_shfl_from(v, 3, (int)d, w); }

unsigned tsr_simt_ballot(unsigned mask, int pred);
static inline unsigned __ballot_sync(unsigned mask, int pred) { return tsr_simt_ballot(mask, pred); }
static inline int __any_sync(unsigned mask, int pred) { return tsr_simt_ballot(mask, pred) != 0; }
static inline int __all_sync(unsigned mask, int pred) { return (tsr_simt_ballot(mask, pred) & mask) == mask; }
static inline unsigned __activemask(void) { return 0xffffffffu; }

/* The device math library's integer min/max. */
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }

/* ---- integer intrinsics ------------------------------------------------- */
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
static inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline unsigned __brev(unsigned x)
{
    unsigned r = 0;
    for (int i = 0; i < 32; i++) r |= ((x >> i) & 1u) << (31 - i);
    return r;
}
static inline unsigned __funnelshift_r(unsigned lo, unsigned hi, unsigned s)
{
    unsigned long long v = ((unsigned long long)hi << 32) | lo;
    return (unsigned)(v >> (s & 31));
}
static inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
template <typename T> static inline T __ldg(const T *p) { return tsr_simt_global_check(p, sizeof(T), "__ldg") ? *p : T(); }

/* ---- atomics: fibers are cooperative, so a plain read-modify-write is atomic */
template <typename T> static inline T atomicAdd(T *p, T v) { T o = *p; *p = o + v; return o; }
template <typename T> static inline T atomicSub(T *p, T v) { T o = *p; *p = o - v; return o; }
template <typename T> static inline T atomicExch(T *p, T v) { T o = *p; *p = v; return o; }
template <typename T> static inline T atomicMax(T *p, T v) { T o = *p; if (v > o) *p = v; return o; }
template <typename T> static inline T atomicMin(T *p, T v) { T o = *p; if (v < o) *p = v; return o; }
template <typename T> static inline T atomicOr(T *p, T v) { T o = *p; *p = o | v; return o; }
template <typename T> static inline T atomicAnd(T *p, T v) { T o = *p; *p = o & v; return o; }
template <typename T> static inline T atomicCAS(T *p, T cmp, T v) { T o = *p; if (o == cmp) *p = v; return o; }

/* ---- half and bfloat16 arithmetic that cuda_fp16.h keeps device-only ------ */
/* cuda_fp16.hpp gives the host add/sub/mul; the fused multiply-adds are
 * device-only. One rounding, as the hardware's FMA: the product of two 16-bit
 * floats is exact in double, and so is its sum with a third. */
#define TSR_SIMT_FMA(T, T2, to_f, from_f)                                                            \
    static inline T2 __hfma2(T2 a, T2 b, T2 c)                                                       \
    {                                                                                               \
        return T2(from_f((float)((double)to_f(a.x) * to_f(b.x) + to_f(c.x))),                       \
                  from_f((float)((double)to_f(a.y) * to_f(b.y) + to_f(c.y))));                      \
    }                                                                                               \
    static inline T __hfma(T a, T b, T c) { return from_f((float)((double)to_f(a) * to_f(b) + to_f(c))); }
TSR_SIMT_FMA(__half, __half2, __half2float, __float2half_rn)
TSR_SIMT_FMA(__nv_bfloat16, __nv_bfloat162, __bfloat162float, __float2bfloat16_rn)
#undef TSR_SIMT_FMA

/* ---- launching ---------------------------------------------------------- */
/* Runs grid x block fibers of `body` to completion; `name` appears in every
 * report. Blocks run in waves of the emulated device's resident-block count
 * (TSR_SIMT_RESIDENT, default: its SM count), so blocks of one wave may spin
 * on each other's flags. Returns cudaSuccess or the launch's error. */
cudaError_t tsr_simt_run(const char *name, dim3 grid, dim3 block, size_t dyn_smem,
                         const std::function<void()> &body);

/* The same as a programmatic dependent launch (programmatic != 0: the
 * attribute cudaLaunchAttributeProgrammaticStreamSerialization). The
 * emulation runs kernels one after the other, which is one order a GPU may
 * choose; what it checks instead is the rule that makes every order safe:
 * until a thread of such a kernel has passed griddepcontrol.wait
 * (tsr_simt_griddep_wait) it must not store to global memory, nor read an
 * allocation that the kernel before it on the stream stored to (the emulated
 * cuBLAS counts as a kernel; a synchronisation, copy or set ends the
 * overlap). And in any
 * kernel, griddepcontrol.launch_dependents before griddepcontrol.wait is
 * reported when the kernel was launched programmatically: it would let the
 * next kernel overlap the one before. */
cudaError_t tsr_simt_run_ex(const char *name, dim3 grid, dim3 block, size_t dyn_smem, int programmatic,
                            const std::function<void()> &body);
void tsr_simt_griddep_wait(void);
void tsr_simt_griddep_launch_dependents(void);
/* Stream work outside kernels that stores to the allocation holding p as a
 * kernel does (the emulated cuBLAS); and what no later kernel overlaps: a
 * host synchronisation, a copy or set on the stream. */
void tsr_simt_note_stream_store(const void *p);
void tsr_simt_end_overlap(void);

/* Stream capture (cudaStreamBeginCapture .. cudaStreamEndCapture in the
 * emulated runtime): while one is open, launches and the runtime's and the
 * emulated cuBLAS's stream work are recorded as operations instead of run,
 * and cudaGraphLaunch runs them in order. Every emulated stream is one
 * stream, so one capture at a time. */
bool tsr_simt_capturing(void);
void tsr_simt_capture_add(std::function<void()> op);

/* `kernel<<<grid, block, smem, stream>>>(args...)` under the emulation, as a
 * programmatic dependent launch when programmatic != 0 (tsr_simt_run_ex). The
 * arguments are converted to the kernel's parameter types once, as a real
 * launch copies them into the parameter space. */
template <typename... P, typename... A>
static inline cudaError_t tsr_simt_launch_ex(const char *name, void (*kernel)(P...), dim3 grid, dim3 block,
                                             size_t smem, int programmatic, A &&...args)
{
    std::tuple<typename std::decay<P>::type...> params(std::forward<A>(args)...);
    /* by value: under a capture the launch runs later, from the graph */
    return tsr_simt_run_ex(name, grid, block, smem, programmatic, [params, kernel] { std::apply(kernel, params); });
}
template <typename... P, typename... A>
static inline cudaError_t tsr_simt_launch(const char *name, void (*kernel)(P...), dim3 grid, dim3 block, size_t smem,
                                          A &&...args)
{
    return tsr_simt_launch_ex(name, kernel, grid, block, smem, 0, std::forward<A>(args)...);
}

/* Failures are fatal by default; the emulation's own self-tests switch to
 * recording them, to check that a planted fault is caught. */
void tsr_simt_set_record_faults(int on);
/* Number of faults recorded since the last call, and the first message. */
int tsr_simt_take_faults(char *first, size_t cap);
/* Reports a fault in the running kernel (fatal unless recording). */
void tsr_simt_fault(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
