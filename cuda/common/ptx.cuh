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

/* ---- wgmma (sm_90a): warpgroup MMA, A from registers, B from shared memory --
 * D[64][N] += A[64][16] * B[16][N] over the 128 threads of a warpgroup; warp w
 * of the group holds rows 16w..16w+15 of A and D in the mma.m16n8k16 layouts
 * (A: {row g k 2t, row g+8 k 2t, row g k 2t+8, row g+8 k 2t+8} as b16 pairs;
 * D: d[4j..4j+3] is the m16n8 C fragment of columns 8j..8j+7). B is described
 * by a shared-memory matrix descriptor (wgmma_desc_k_major_sw128). The MMA is
 * asynchronous: wgmma_fence before it when its A or D registers were just
 * written, then wgmma_commit and wgmma_wait before D is read. Only where
 * TSR_WGMMA_OK (sm_90a code, or the emulation); elsewhere the callers trap. */
#if defined(TSR_EMU) || (defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL))
#define TSR_WGMMA_OK 1
#else
#define TSR_WGMMA_OK 0
#endif

/* The 32-bit shared-window address of p (what descriptors and cp.async use). */
TSR_DEVICE uint32_t smem_u32(const void *smem_p)
{
#if defined(TSR_EMU)
    return tsr_simt_smem_u32(smem_p);
#else
    return (uint32_t)__cvta_generic_to_shared(smem_p);
#endif
}

/* A K-major operand in the 128-byte swizzle: rows (of N) of 64 b16 values, 128
 * bytes each, 8-row atoms of 1024 bytes back to back (the stride), 16-byte
 * chunk c of row r stored at chunk c ^ (r % 8); the atoms start on 1024-byte
 * boundaries, and start_u32 may sit 32, 64 or 96 bytes into a row (the k16
 * step). The leading-dimension offset is unused in this mode (1). */
TSR_DEVICE uint64_t wgmma_desc_k_major_sw128(uint32_t start_u32)
{
    return (uint64_t)((start_u32 & 0x3ffff) >> 4) | (uint64_t)1 << 16 | (uint64_t)(1024 >> 4) << 32 | (uint64_t)1 << 62;
}

TSR_DEVICE void wgmma_fence(void)
{
#if defined(TSR_EMU)
#elif TSR_WGMMA_OK
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
TSR_DEVICE void wgmma_commit(void)
{
#if defined(TSR_EMU)
    tsr_simt_wgmma_commit();
#elif TSR_WGMMA_OK
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
/* Waits until at most N committed groups of this warpgroup are in flight. */
template <int N> TSR_DEVICE void wgmma_wait(void)
{
#if defined(TSR_EMU)
    tsr_simt_wgmma_wait(N);
#elif TSR_WGMMA_OK
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}
/* ---- named barriers: producer/consumer hand-offs between some warps --------- */
/* bar.sync id, count: waits until `count` threads (a multiple of 32, whole
 * warps) have arrived at barrier `id` (1..15; 0 is __syncthreads'), and is
 * then ordered after their earlier shared-memory accesses. bar.arrive: counts
 * this thread's warp in without waiting (the side that only signals). */
TSR_DEVICE void named_barrier_sync(int id, int count)
{
#if defined(TSR_EMU)
    tsr_simt_bar_sync(id, count);
#else
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(count) : "memory");
#endif
}
TSR_DEVICE void named_barrier_arrive(int id, int count)
{
#if defined(TSR_EMU)
    tsr_simt_bar_arrive(id, count);
#else
    asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(count) : "memory");
#endif
}

/* setmaxnreg (sm_90a): a warpgroup gives registers back to the SM (dec) or
 * takes them (inc), so that a producer warpgroup that only copies can leave
 * its share to the consumers' accumulators. Warp-uniform across the
 * warpgroup; N a multiple of 8 in 24..256. Nothing to do in the emulation. */
template <int N> TSR_DEVICE void setmaxnreg_inc(void)
{
#if !defined(TSR_EMU) && TSR_WGMMA_OK
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
#endif
}
template <int N> TSR_DEVICE void setmaxnreg_dec(void)
{
#if !defined(TSR_EMU) && TSR_WGMMA_OK
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
#endif
}

/* Orders this thread's earlier shared-memory writes (st.shared, cp.async)
 * before later reads by the async proxy (wgmma's B operand). */
TSR_DEVICE void fence_proxy_async_smem(void)
{
#if defined(TSR_EMU)
#elif TSR_WGMMA_OK
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

#define TSR_F8(d, i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])
#define TSR_F32(d, i) TSR_F8(d, i), TSR_F8(d, i + 8), TSR_F8(d, i + 16), TSR_F8(d, i + 24)
/* operand numbers b0..b9 */
#define TSR_OPS10(b) "%" #b "0, %" #b "1, %" #b "2, %" #b "3, %" #b "4, %" #b "5, %" #b "6, %" #b "7, %" #b "8, %" #b "9"
/* operands 0..31 (n64), 0..63 (n128) or 0..127 (n256), then a0..a3, the descriptor and scale-d */
#define TSR_D64 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, " TSR_OPS10(1) ", " TSR_OPS10(2) ", %30, %31}"
#define TSR_D128 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, " TSR_OPS10(1) ", " TSR_OPS10(2) ", " TSR_OPS10(3) ", " TSR_OPS10(4) ", " \
                 TSR_OPS10(5) ", %60, %61, %62, %63}"
#define TSR_D256 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, " TSR_OPS10(1) ", " TSR_OPS10(2) ", " TSR_OPS10(3) ", " TSR_OPS10(4) ", " \
                 TSR_OPS10(5) ", " TSR_OPS10(6) ", " TSR_OPS10(7) ", " TSR_OPS10(8) ", " TSR_OPS10(9) ", " TSR_OPS10(10) ", " \
                 TSR_OPS10(11) ", %120, %121, %122, %123, %124, %125, %126, %127}"

/* d[N/2] = A (a[4], this warp's 16 rows) * B (desc) + (accumulate ? d : 0),
 * f16 or bf16 inputs. accumulate is wgmma's scale-d predicate: 0 starts a sum
 * without other instructions zeroing d first, which ptxas treats as a hazard
 * while earlier wgmma may be in flight (and then serialises them all).
 * TSR_WGMMA_RS's a0..acc_op: the operand numbers after d's. */
#define TSR_WGMMA_RS(shape, type, dlist, a0, a1, a2, a3, dsc, acc_op, ...)                                         \
    asm volatile("{\n.reg .pred sd;\nsetp.ne.b32 sd, %" acc_op ", 0;\nwgmma.mma_async.sync.aligned." shape ".f32." type \
                 "." type " " dlist ", {%" a0 ", %" a1 ", %" a2 ", %" a3 "}, %" dsc ", sd, 1, 1, 0;\n}\n"              \
                 : __VA_ARGS__                                                                                     \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(accumulate))
template <int N, int BF16> TSR_DEVICE void wgmma_m64k16_rs(float *d, const uint32_t a[4], uint64_t desc, int accumulate)
{
    static_assert(N == 64 || N == 128 || N == 256, "wgmma_m64k16_rs: N is 64, 128 or 256");
#if defined(TSR_EMU)
    tsr_simt_wgmma_m64k16_rs(d, N, a, desc, BF16, accumulate);
#elif TSR_WGMMA_OK
    if (N == 64 && !BF16)
        TSR_WGMMA_RS("m64n64k16", "f16", TSR_D64, "32", "33", "34", "35", "36", "37", TSR_F32(d, 0));
    else if (N == 64)
        TSR_WGMMA_RS("m64n64k16", "bf16", TSR_D64, "32", "33", "34", "35", "36", "37", TSR_F32(d, 0));
    else if (N == 128 && !BF16)
        TSR_WGMMA_RS("m64n128k16", "f16", TSR_D128, "64", "65", "66", "67", "68", "69", TSR_F32(d, 0), TSR_F32(d, 32));
    else if (N == 128)
        TSR_WGMMA_RS("m64n128k16", "bf16", TSR_D128, "64", "65", "66", "67", "68", "69", TSR_F32(d, 0), TSR_F32(d, 32));
    else if (!BF16)
        TSR_WGMMA_RS("m64n256k16", "f16", TSR_D256, "128", "129", "130", "131", "132", "133", TSR_F32(d, 0), TSR_F32(d, 32),
                     TSR_F32(d, 64), TSR_F32(d, 96));
    else
        TSR_WGMMA_RS("m64n256k16", "bf16", TSR_D256, "128", "129", "130", "131", "132", "133", TSR_F32(d, 0), TSR_F32(d, 32),
                     TSR_F32(d, 64), TSR_F32(d, 96));
#else
    (void)d;
    (void)a;
    (void)desc;
    (void)accumulate;
    __trap();
#endif
}
#undef TSR_WGMMA_RS
#undef TSR_D128
#undef TSR_D64
#undef TSR_OPS10
#undef TSR_F32
#undef TSR_F8

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
    if (tsr_simt_global_store_check(p, 4, "red.release")) *p += v;
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
    if (!tsr_simt_global_store_check(p, 4, "atom.acq_rel")) return 0;
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
    if (tsr_simt_global_store_check(p, 4, "st.release")) *p = v;
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

/* ---- programmatic dependent launch (sm_90) --------------------------------- */
/* A kernel launched with programmatic stream serialisation (device.cuh's
 * TSR_LAUNCH_EX) may start while the kernel before it on the stream is still
 * running. griddep_wait blocks until that kernel has completed and its
 * memory is visible; before it a thread may read only what that kernel does
 * not write, and write nothing in global memory. griddep_launch_dependents
 * lets the next such kernel start; called after griddep_wait, so that the
 * next kernel can overlap only this one. Both are no-ops before sm_90 and
 * in a kernel launched without the attribute. The emulation checks the
 * rules (docs/emulation.md). */
TSR_DEVICE void griddep_wait(void)
{
#if defined(TSR_EMU)
    tsr_simt_griddep_wait();
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
TSR_DEVICE void griddep_launch_dependents(void)
{
#if defined(TSR_EMU)
    tsr_simt_griddep_launch_dependents();
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
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
    if (!tsr_simt_global_store_check(gmem_p, sizeof(T), "st.global")) return;
#endif
    *gmem_p = v;
}

#endif
