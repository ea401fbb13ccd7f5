/* The only place with inline PTX. Small named wrappers, one per instruction a
 * tessera kernel uses; kernels call these and read like algorithms. Built with
 * -DTSR_EMU (tests/emu), each wrapper calls the CPU emulation's version of the
 * instruction instead, which also bounds-checks and tracks shared memory.
 * Pointers named smem_* must point into shared memory. */
#ifndef TESSERA_CUDA_COMMON_PTX_CUH
#define TESSERA_CUDA_COMMON_PTX_CUH

#include <stdint.h>

#if defined(TSR_EMU)
#include "simt.h"
#include "simt_ptx.h"
#define TSR_DEVICE static inline
#else
#define TSR_DEVICE __device__ __forceinline__
#endif

/* ---- cp.async: global -> shared without registers, grouped commits -------- */
/* Copies 16 bytes; only the first src_bytes (0..16) are read, the rest of the
 * destination is zero-filled. src_bytes = 0 reads nothing, which is how a
 * partial tile pads its tail without touching memory past the end. */
TSR_DEVICE void cp_async_16_zfill(void *smem_dst, const void *gmem_src, int src_bytes)
{
#if defined(TSR_EMU)
    tsr_simt_cp_async(smem_dst, gmem_src, 16, src_bytes);
#else
    uint32_t d = (uint32_t)__cvta_generic_to_shared(smem_dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(gmem_src), "r"(src_bytes));
#endif
}

/* No L2 cache-hint variant (createpolicy + cp.async.L2::cache_hint) on
 * purpose: ptxas 13.0 (and 13.1-13.3, fixed in 13.4) sometimes drops the
 * createpolicy and leaves the LDGSTS reading an unset uniform register as its
 * descriptor, which traps as an illegal instruction on sm_90. It hit 4 of our
 * 24 W4A16 instantiations on the first H100 run (2026-11-22); public reports:
 * IST-DASLab/marlin#44, triton-lang/triton#11660. The hint was a small L2
 * nicety, not worth a miscompile. */

TSR_DEVICE void cp_async_commit(void)
{
#if defined(TSR_EMU)
    tsr_simt_cp_async_commit();
#else
    asm volatile("cp.async.commit_group;\n" ::);
#endif
}

/* Waits until at most N committed groups are still in flight. */
template <int N> TSR_DEVICE void cp_async_wait(void)
{
#if defined(TSR_EMU)
    tsr_simt_cp_async_wait(N);
#else
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

/* ---- ldmatrix: four/two/one 8x8 b16 matrices from shared memory ------------ */
#if defined(TSR_EMU)
#define TSR_LDMATRIX(count, trans, regs, p) tsr_simt_ldmatrix(regs, count, trans, p)
#endif
TSR_DEVICE void ldmatrix_x4(uint32_t r[4], const void *smem_row)
{
#if defined(TSR_EMU)
    TSR_LDMATRIX(4, 0, r, smem_row);
#else
    uint32_t a = (uint32_t)__cvta_generic_to_shared(smem_row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
#endif
}
TSR_DEVICE void ldmatrix_x2(uint32_t r[2], const void *smem_row)
{
#if defined(TSR_EMU)
    TSR_LDMATRIX(2, 0, r, smem_row);
#else
    uint32_t a = (uint32_t)__cvta_generic_to_shared(smem_row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(a));
#endif
}
TSR_DEVICE void ldmatrix_x1(uint32_t r[1], const void *smem_row)
{
#if defined(TSR_EMU)
    TSR_LDMATRIX(1, 0, r, smem_row);
#else
    uint32_t a = (uint32_t)__cvta_generic_to_shared(smem_row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(a));
#endif
}
TSR_DEVICE void ldmatrix_x4_trans(uint32_t r[4], const void *smem_row)
{
#if defined(TSR_EMU)
    TSR_LDMATRIX(4, 1, r, smem_row);
#else
    uint32_t a = (uint32_t)__cvta_generic_to_shared(smem_row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
#endif
}
TSR_DEVICE void ldmatrix_x2_trans(uint32_t r[2], const void *smem_row)
{
#if defined(TSR_EMU)
    TSR_LDMATRIX(2, 1, r, smem_row);
#else
    uint32_t a = (uint32_t)__cvta_generic_to_shared(smem_row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(a));
#endif
}

/* ---- mma.sync m16n8k16, f32 accumulate: c += a * b ------------------------- */
TSR_DEVICE void mma_m16n8k16_f16(float c[4], const uint32_t a[4], const uint32_t b[2])
{
#if defined(TSR_EMU)
    tsr_simt_mma_m16n8k16(c, a, b, c, 0);
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}
TSR_DEVICE void mma_m16n8k16_bf16(float c[4], const uint32_t a[4], const uint32_t b[2])
{
#if defined(TSR_EMU)
    tsr_simt_mma_m16n8k16(c, a, b, c, 1);
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

/* ---- mma.sp m16n8k32: A is 2:4 sparse (kept values + metadata) ------------- */
template <int Selector> TSR_DEVICE void mma_sp_m16n8k32_f16(float c[4], const uint32_t a[4], const uint32_t b[4], uint32_t meta)
{
#if defined(TSR_EMU)
    tsr_simt_mma_sp_m16n8k32(c, a, b, c, meta, Selector, 0);
#else
    asm volatile("mma.sp.sync.aligned.m16n8k32.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9,%10,%11}, {%0,%1,%2,%3}, %12, %13;\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "r"(b[2]), "r"(b[3]), "r"(meta), "n"(Selector));
#endif
}
template <int Selector> TSR_DEVICE void mma_sp_m16n8k32_bf16(float c[4], const uint32_t a[4], const uint32_t b[4], uint32_t meta)
{
#if defined(TSR_EMU)
    tsr_simt_mma_sp_m16n8k32(c, a, b, c, meta, Selector, 1);
#else
    asm volatile("mma.sp.sync.aligned.m16n8k32.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9,%10,%11}, {%0,%1,%2,%3}, %12, %13;\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "r"(b[2]), "r"(b[3]), "r"(meta), "n"(Selector));
#endif
}

/* ---- bit manipulation --------------------------------------------------- */
/* Any three-input bitwise function in one instruction; Lut is the truth table
 * built from a=0xF0, b=0xCC, c=0xAA (e.g. (a & b) | c is (0xF0 & 0xCC) | 0xAA). */
template <int Lut> TSR_DEVICE uint32_t lop3(uint32_t a, uint32_t b, uint32_t c)
{
#if defined(TSR_EMU)
    return tsr_simt_lop3(a, b, c, (unsigned)Lut);
#else
    uint32_t r;
    asm volatile("lop3.b32 %0, %1, %2, %3, %4;\n" : "=r"(r) : "r"(a), "r"(b), "r"(c), "n"(Lut));
    return r;
#endif
}

/* Byte permute: result byte i is byte sel[4i..4i+3] of {b:a} (default mode). */
TSR_DEVICE uint32_t prmt(uint32_t a, uint32_t b, uint32_t sel)
{
#if defined(TSR_EMU)
    return tsr_simt_prmt(a, b, sel);
#else
    uint32_t r;
    asm volatile("prmt.b32 %0, %1, %2, %3;\n" : "=r"(r) : "r"(a), "r"(b), "r"(sel));
    return r;
#endif
}

/* ---- memory ordering between blocks -------------------------------------- */
/* Acquire load at gpu scope: reads after it see what the releasing block wrote. */
TSR_DEVICE int ld_acquire_gpu(const int *p)
{
#if defined(TSR_EMU)
    if (!tsr_simt_global_check(p, 4, "ld.acquire")) return 0;
    int v = *(volatile const int *)p;
    tsr_simt_yield(); /* a spin on this load lets the other resident blocks run */
    return v;
#else
    int v;
    asm volatile("ld.global.acquire.gpu.b32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
    return v;
#endif
}

/* Release reduction at gpu scope: writes before it are visible to an acquirer. */
TSR_DEVICE void red_release_gpu_add(int *p, int v)
{
#if defined(TSR_EMU)
    if (tsr_simt_global_check(p, 4, "red.release")) *p += v;
#else
    asm volatile("red.release.gpu.global.add.s32 [%0], %1;\n" ::"l"(p), "r"(v) : "memory");
#endif
}

/* Atomic add at gpu scope with acquire and release semantics; returns the old
 * value. Release publishes this block's earlier writes (after a barrier, the
 * whole block's); acquire lets the one that sees the final count read them. */
TSR_DEVICE int atom_add_acq_rel_gpu(int *p, int v)
{
#if defined(TSR_EMU)
    if (!tsr_simt_global_check(p, 4, "atom.acq_rel")) return 0;
    int old = *p;
    *p = old + v;
    return old;
#else
    int old;
    asm volatile("atom.acq_rel.gpu.global.add.s32 %0, [%1], %2;\n" : "=r"(old) : "l"(p), "r"(v) : "memory");
    return old;
#endif
}

TSR_DEVICE void st_release_gpu(int *p, int v)
{
#if defined(TSR_EMU)
    if (tsr_simt_global_check(p, 4, "st.release")) *p = v;
#else
    asm volatile("st.global.release.gpu.b32 [%0], %1;\n" ::"l"(p), "r"(v) : "memory");
#endif
}

TSR_DEVICE void fence_acq_rel_gpu(void)
{
#if !defined(TSR_EMU)
    asm volatile("fence.acq_rel.gpu;\n" ::: "memory");
#endif
}

/* Load that bypasses L1 (cached in L2 only): for data another block wrote
 * during this launch, which a stale L1 line must not shadow. */
TSR_DEVICE float4 ld_global_cg_f4(const float4 *p)
{
#if defined(TSR_EMU)
    if (!tsr_simt_global_check(p, 16, "ld.global.cg")) return make_float4(0, 0, 0, 0);
    return *p;
#else
    float4 v;
    asm volatile("ld.global.cg.v4.f32 {%0,%1,%2,%3}, [%4];\n" : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "l"(p));
    return v;
#endif
}

/* ---- plain accesses the emulation checks --------------------------------- */
/* Shared memory: tracked so that a read of a byte nobody wrote is reported. */
template <typename T> TSR_DEVICE void st_shared(void *smem_p, T v)
{
#if defined(TSR_EMU)
    if (!tsr_simt_smem_mark(smem_p, sizeof(T))) return;
#endif
    *(T *)smem_p = v;
}
template <typename T> TSR_DEVICE T ld_shared(const void *smem_p)
{
#if defined(TSR_EMU)
    if (!tsr_simt_smem_check(smem_p, sizeof(T), "ld.shared")) return T();
#endif
    return *(const T *)smem_p;
}
/* Global memory: bounds-checked against the emulated allocations. */
template <typename T> TSR_DEVICE T ld_global(const T *gmem_p)
{
#if defined(TSR_EMU)
    if (!tsr_simt_global_check(gmem_p, sizeof(T), "ld.global")) return T();
#endif
    return *gmem_p;
}
/* Generic address: shared or global memory, whichever p points into (the
 * hardware resolves the window per access). For code that reads one pointer
 * from either. */
template <typename T> TSR_DEVICE T ld_generic(const T *p)
{
#if defined(TSR_EMU)
    if (!tsr_simt_generic_check(p, sizeof(T), "ld (generic)")) return T();
#endif
    return *p;
}
/* A hint to bring the line holding p into L1; no register waits on it. The
 * emulation checks p like a load (a prefetch of a wild address is a bug even
 * where the hardware would shrug). */
TSR_DEVICE void prefetch_global_l1(const void *gmem_p)
{
#if defined(TSR_EMU)
    (void)tsr_simt_global_check(gmem_p, 1, "prefetch.global.L1");
#else
    asm volatile("prefetch.global.L1 [%0];\n" ::"l"(gmem_p));
#endif
}
template <typename T> TSR_DEVICE void st_global(T *gmem_p, T v)
{
#if defined(TSR_EMU)
    if (!tsr_simt_global_check(gmem_p, sizeof(T), "st.global")) return;
#endif
    *gmem_p = v;
}

#endif
