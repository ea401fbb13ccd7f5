/* Self-tests of the SIMT emulation's instructions, each against cases worked
 * from the PTX ISA by hand, with expected values computed here by plain loops.
 * Built twice: as test_simt_emu (CPU emulation) and test_simt_gpu (nvcc, native
 * on a device), so the emulation is held to the hardware whenever one is lent.
 * The fault-detection tests exist only in the emulated build. */
#include "common/device.cuh"
#include "support.h"

#include <vector>

extern "C" {
#include "layout.h"
}

#if defined(TSR_EMU)
#include <sys/wait.h>
#include <unistd.h>
#endif

static uint64_t g_seed;

/* ---- helpers: device buffers with poison ---------------------------------- */
template <typename T> static T *dev_alloc(size_t n)
{
    T *p = NULL;
    TSR_TEST_CUDA(cudaMalloc((void **)&p, n * sizeof(T)));
    TSR_TEST_CUDA(cudaMemset(p, 0xCD, n * sizeof(T)));
    return p;
}
template <typename T> static void to_dev(T *d, const T *h, size_t n) { TSR_TEST_CUDA(cudaMemcpy(d, h, n * sizeof(T), cudaMemcpyHostToDevice)); }
template <typename T> static void to_host(T *h, const T *d, size_t n) { TSR_TEST_CUDA(cudaMemcpy(h, d, n * sizeof(T), cudaMemcpyDeviceToHost)); }

static uint16_t f2h_bits(float f, int bf16)
{
    if (bf16) {
        __nv_bfloat16_raw b = __float2bfloat16_rn(f);
        return b.x;
    }
    __half_raw h = __float2half_rn(f);
    return h.x;
}
static float h2f_bits(uint16_t u, int bf16)
{
    if (bf16) {
        uint32_t w = (uint32_t)u << 16;
        float f;
        memcpy(&f, &w, 4);
        return f;
    }
    __half_raw r;
    r.x = u;
    return __half2float(__half(r));
}

/* ---- mma.m16n8k16 ---------------------------------------------------------- */
/* Each lane gathers its fragments by the layout functions, runs one mma and
 * scatters D the same way; A row-major 16x16, B k-major [k][n] 16x8 as b16. */
__global__ void mma_kernel(const uint16_t *A, const uint16_t *B, float *D, int bf16)
{
    int lane = threadIdx.x;
    uint16_t ah[8], bh[4];
    for (int i = 0; i < 8; i++) {
        int r, c;
        tsr_frag_m16n8k16_a(lane, i, &r, &c);
        ah[i] = ld_global(A + r * 16 + c);
    }
    for (int i = 0; i < 4; i++) {
        int r, c;
        tsr_frag_m16n8k16_b(lane, i, &r, &c);
        bh[i] = ld_global(B + r * 8 + c);
    }
    uint32_t a[4], b[2];
    for (int i = 0; i < 4; i++) a[i] = ah[2 * i] | ((uint32_t)ah[2 * i + 1] << 16);
    for (int i = 0; i < 2; i++) b[i] = bh[2 * i] | ((uint32_t)bh[2 * i + 1] << 16);
    float c[4] = {0.5f, -0.25f, 1.0f, 2.0f};
    if (bf16) mma_m16n8k16_bf16(c, a, b);
    else mma_m16n8k16_f16(c, a, b);
    for (int i = 0; i < 4; i++) {
        int r, cc;
        tsr_frag_m16n8k16_c(lane, i, &r, &cc);
        st_global(D + r * 8 + cc, c[i]);
    }
}

static void check_mma(int bf16)
{
    uint64_t st = g_seed ^ (0x11u + (unsigned)bf16);
    uint16_t A[256], B[128];
    float D[128];
    for (int i = 0; i < 256; i++) A[i] = f2h_bits((float)tsr_test_rand_unit(&st), bf16);
    for (int i = 0; i < 128; i++) B[i] = f2h_bits((float)tsr_test_rand_unit(&st), bf16);
    uint16_t *dA = dev_alloc<uint16_t>(256), *dB = dev_alloc<uint16_t>(128);
    float *dD = dev_alloc<float>(128);
    to_dev(dA, A, 256);
    to_dev(dB, B, 128);
    auto k = mma_kernel;
    TSR_TEST_CUDA(TSR_LAUNCH(k, dim3(1), dim3(32), 0, 0, dA, dB, dD, bf16));
    TSR_TEST_CUDA(cudaDeviceSynchronize());
    to_host(D, dD, 128);
    /* C as the kernel set it: lane-dependent by fragment index, so recompute
     * per element from the C/D rule (row g / g+8, col 2t + i%2). */
    for (int r = 0; r < 16; r++)
        for (int n = 0; n < 8; n++) {
            int i = (r >= 8 ? 2 : 0) + (n & 1);
            const float cinit[4] = {0.5f, -0.25f, 1.0f, 2.0f};
            double ref = cinit[i];
            for (int kk = 0; kk < 16; kk++) ref += (double)h2f_bits(A[r * 16 + kk], bf16) * h2f_bits(B[kk * 8 + n], bf16);
            double got = D[r * 8 + n];
            if (!(fabs(got - ref) <= 1e-5 * (1 + fabs(ref))))
                fail_msg("mma %s: D[%d][%d] = %.8g, expected %.8g (seed %llu)", bf16 ? "bf16" : "f16", r, n, got, ref,
                         (unsigned long long)g_seed);
        }
    cudaFree(dA);
    cudaFree(dB);
    cudaFree(dD);
}
static void test_mma_f16(void **state) { (void)state; check_mma(0); }
static void test_mma_bf16(void **state) { (void)state; check_mma(1); }

/* ---- mma.sp.m16n8k32 ------------------------------------------------------- */
/* A is given dense 16x32 with exactly two nonzeros per chunk of 4; the kernel
 * compresses it per lane with the metadata layout and runs mma.sp. */
template <int Sel> __global__ void mma_sp_kernel(const uint16_t *A, const uint16_t *B, float *D, int bf16)
{
    int lane = threadIdx.x;
    uint16_t ah[8], bh[8];
    for (int i = 0; i < 8; i++) {
        int r, kc;
        tsr_frag_sp_m16n8k32_a(lane, i, &r, &kc);
        /* kept value kc%2 of chunk kc/2: scan the chunk for nonzeros */
        int seen = 0;
        ah[i] = 0;
        for (int e = 0; e < 4; e++) {
            uint16_t v = ld_global(A + r * 32 + 4 * (kc / 2) + e);
            if ((v & 0x7fff) != 0) {
                if (seen == kc % 2) ah[i] = v;
                seen++;
            }
        }
    }
    for (int i = 0; i < 8; i++) {
        int r, c;
        tsr_frag_sp_m16n8k32_b(lane, i, &r, &c);
        bh[i] = ld_global(B + r * 8 + c);
    }
    uint32_t meta = 0;
    for (int nib = 0; nib < 8; nib++) {
        int r, chunk;
        if (!tsr_frag_sp_m16n8k32_meta(lane, Sel, nib, &r, &chunk)) continue;
        unsigned idx[2] = {0, 0}, seen = 0;
        for (int e = 0; e < 4; e++)
            if ((ld_global(A + r * 32 + 4 * chunk + e) & 0x7fff) != 0 && seen < 2) idx[seen++] = (unsigned)e;
        meta |= (idx[0] | (idx[1] << 2)) << (4 * nib);
    }
    uint32_t a[4], b[4];
    for (int i = 0; i < 4; i++) a[i] = ah[2 * i] | ((uint32_t)ah[2 * i + 1] << 16);
    for (int i = 0; i < 4; i++) b[i] = bh[2 * i] | ((uint32_t)bh[2 * i + 1] << 16);
    float c[4] = {0, 0, 0, 0};
    if (bf16) mma_sp_m16n8k32_bf16<Sel>(c, a, b, meta);
    else mma_sp_m16n8k32_f16<Sel>(c, a, b, meta);
    for (int i = 0; i < 4; i++) {
        int r, cc;
        tsr_frag_m16n8k16_c(lane, i, &r, &cc);
        st_global(D + r * 8 + cc, c[i]);
    }
}

static void check_mma_sp(int bf16, int sel)
{
    uint64_t st = g_seed ^ (0x22u + (unsigned)bf16 * 2 + (unsigned)sel);
    uint16_t A[16 * 32], B[32 * 8];
    float D[128];
    for (int r = 0; r < 16; r++)
        for (int ch = 0; ch < 8; ch++) {
            /* pick 2 of 4 positions at random, values nonzero */
            int p0 = (int)(tsr_test_rand_u64(&st) % 4), p1 = (int)(tsr_test_rand_u64(&st) % 3);
            if (p1 >= p0) p1++;
            for (int e = 0; e < 4; e++) {
                float v = 0;
                if (e == p0 || e == p1) v = 0.25f + 0.75f * (float)fabs(tsr_test_rand_unit(&st));
                A[r * 32 + 4 * ch + e] = f2h_bits(v, bf16);
            }
        }
    for (int i = 0; i < 256; i++) B[i] = f2h_bits((float)tsr_test_rand_unit(&st), bf16);
    uint16_t *dA = dev_alloc<uint16_t>(512), *dB = dev_alloc<uint16_t>(256);
    float *dD = dev_alloc<float>(128);
    to_dev(dA, A, 512);
    to_dev(dB, B, 256);
    if (sel == 0) {
        auto k = mma_sp_kernel<0>;
        TSR_TEST_CUDA(TSR_LAUNCH(k, dim3(1), dim3(32), 0, 0, dA, dB, dD, bf16));
    } else {
        auto k = mma_sp_kernel<1>;
        TSR_TEST_CUDA(TSR_LAUNCH(k, dim3(1), dim3(32), 0, 0, dA, dB, dD, bf16));
    }
    TSR_TEST_CUDA(cudaDeviceSynchronize());
    to_host(D, dD, 128);
    for (int r = 0; r < 16; r++)
        for (int n = 0; n < 8; n++) {
            double ref = 0;
            for (int kk = 0; kk < 32; kk++) ref += (double)h2f_bits(A[r * 32 + kk], bf16) * h2f_bits(B[kk * 8 + n], bf16);
            double got = D[r * 8 + n];
            if (!(fabs(got - ref) <= 1e-5 * (1 + fabs(ref))))
                fail_msg("mma.sp %s sel %d: D[%d][%d] = %.8g, expected %.8g (seed %llu)", bf16 ? "bf16" : "f16", sel, r,
                         n, got, ref, (unsigned long long)g_seed);
        }
    cudaFree(dA);
    cudaFree(dB);
    cudaFree(dD);
}
static void test_mma_sp(void **state)
{
    (void)state;
    for (int bf16 = 0; bf16 < 2; bf16++)
        for (int sel = 0; sel < 2; sel++) check_mma_sp(bf16, sel);
}

/* ---- ldmatrix x1/x2/x4, plain and .trans ----------------------------------- */
/* Shared memory holds four 8x8 b16 matrices, element (j, r, c) = 256j + 8r + c
 * (distinct 16-bit values), matrix j's row r stored at row 8j+r of a
 * 64-byte-wide... here simply 16 bytes apart. Every lane writes out what it got. */
__global__ void ldmatrix_kernel(uint32_t *out)
{
    TSR_STATIC_SMEM(uint16_t, tile, 4 * 64);
    int lane = threadIdx.x;
    for (int i = lane; i < 256; i += 32) st_shared(&tile[i], (uint16_t)(256 * (i / 64) + (i % 64)));
    __syncwarp();
    uint32_t r4[4], r2[2], r1[1], t4[4], t2[2];
    const uint16_t *row = tile + 8 * lane; /* lane l gives row l%8 of matrix l/8 */
    ldmatrix_x4(r4, row);
    ldmatrix_x2(r2, row);
    ldmatrix_x1(r1, row);
    ldmatrix_x4_trans(t4, row);
    ldmatrix_x2_trans(t2, row);
    uint32_t *o = out + lane * 13;
    for (int j = 0; j < 4; j++) st_global(o + j, r4[j]);
    for (int j = 0; j < 2; j++) st_global(o + 4 + j, r2[j]);
    st_global(o + 6, r1[0]);
    for (int j = 0; j < 4; j++) st_global(o + 7 + j, t4[j]);
    for (int j = 0; j < 2; j++) st_global(o + 11 + j, t2[j]);
}

static void test_ldmatrix(void **state)
{
    (void)state;
    uint32_t *d = dev_alloc<uint32_t>(32 * 13), h[32 * 13];
    auto k = ldmatrix_kernel;
    TSR_TEST_CUDA(TSR_LAUNCH(k, dim3(1), dim3(32), 0, 0, d));
    TSR_TEST_CUDA(cudaDeviceSynchronize());
    to_host(h, d, 32 * 13);
    /* PTX ISA, ldmatrix: "each thread receives ... row = laneid/4, elements
     * 2*(laneid%4) and 2*(laneid%4)+1"; .trans swaps row and column. */
    for (int lane = 0; lane < 32; lane++) {
        for (int j = 0; j < 4; j++) {
            unsigned r = (unsigned)lane / 4, c = 2u * ((unsigned)lane % 4);
            uint32_t plain = (256u * j + 8 * r + c) | ((256u * j + 8 * r + c + 1) << 16);
            uint32_t trans = (256u * j + 8 * c + r) | ((256u * j + 8 * (c + 1) + r) << 16);
            const uint32_t *o = h + lane * 13;
            if (o[j] != plain) fail_msg("ldmatrix.x4 lane %d reg %d: 0x%08x, expected 0x%08x", lane, j, o[j], plain);
            if (j < 2 && o[4 + j] != plain) fail_msg("ldmatrix.x2 lane %d reg %d: 0x%08x, expected 0x%08x", lane, j, o[4 + j], plain);
            if (j < 1 && o[6] != plain) fail_msg("ldmatrix.x1 lane %d: 0x%08x, expected 0x%08x", lane, o[6], plain);
            if (o[7 + j] != trans) fail_msg("ldmatrix.x4.trans lane %d reg %d: 0x%08x, expected 0x%08x", lane, j, o[7 + j], trans);
            if (j < 2 && o[11 + j] != trans) fail_msg("ldmatrix.x2.trans lane %d reg %d: 0x%08x, expected 0x%08x", lane, j, o[11 + j], trans);
        }
    }
    /* Worked by hand: lane 5 (row 1, cols 2,3) gets 0x000b000a from matrix 0,
     * and from .trans (col 1, rows 2,3) 0x00190011. */
    assert_int_equal(h[5 * 13 + 0], 0x000b000au);
    assert_int_equal(h[5 * 13 + 7], 0x00190011u);
    cudaFree(d);
}

/* ---- shuffles, votes, popc/clz, lop3, prmt ---------------------------------- */
__global__ void warp_ops_kernel(int *out)
{
    int lane = threadIdx.x;
    int v = lane * 10 + 1;
    int *o = out + lane * 10;
    st_global(o + 0, __shfl_sync(0xffffffffu, v, 7));
    st_global(o + 1, __shfl_xor_sync(0xffffffffu, v, 5));
    st_global(o + 2, __shfl_up_sync(0xffffffffu, v, 3));
    st_global(o + 3, __shfl_down_sync(0xffffffffu, v, 3));
    st_global(o + 4, __shfl_xor_sync(0xffffffffu, v, 1, 4));
    st_global(o + 5, (int)__ballot_sync(0xffffffffu, lane % 3 == 0));
    st_global(o + 6, __any_sync(0xffffffffu, lane == 31) + 2 * __all_sync(0xffffffffu, lane < 31));
    st_global(o + 7, __popc(0xF0F0u + (unsigned)lane) * 100 + __clz(lane));
    st_global(o + 8, (int)lop3<(0xF0 & 0xCC) | 0xAA>(0x12345678u + (unsigned)lane, 0x0F0F0F0Fu, 0x30000003u));
    st_global(o + 9, (int)prmt(0x33221100u + (unsigned)lane, 0x77665544u, 0x5410u));
}

static void test_warp_ops(void **state)
{
    (void)state;
    int *d = dev_alloc<int>(320), h[320];
    auto k = warp_ops_kernel;
    TSR_TEST_CUDA(TSR_LAUNCH(k, dim3(1), dim3(32), 0, 0, d));
    TSR_TEST_CUDA(cudaDeviceSynchronize());
    to_host(h, d, 320);
    unsigned ballot = 0;
    for (int l = 0; l < 32; l += 3) ballot |= 1u << l;
    for (int l = 0; l < 32; l++) {
        const int *o = h + l * 10;
        assert_int_equal(o[0], 71);
        assert_int_equal(o[1], (l ^ 5) * 10 + 1);
        assert_int_equal(o[2], (l >= 3 ? l - 3 : l) * 10 + 1);
        assert_int_equal(o[3], (l + 3 < 32 ? l + 3 : l) * 10 + 1);
        assert_int_equal(o[4], ((l & ~3) | ((l & 3) ^ 1)) * 10 + 1);
        assert_int_equal((unsigned)o[5], ballot);
        assert_int_equal(o[6], 1);
        assert_int_equal(o[7], __builtin_popcount(0xF0F0u + (unsigned)l) * 100 + (l ? __builtin_clz((unsigned)l) : 32));
        uint32_t a = 0x12345678u + (unsigned)l;
        assert_int_equal((uint32_t)o[8], (a & 0x0F0F0F0Fu) | 0x30000003u);
        /* prmt 0x5410: bytes {a0, a1, b0, b1} -> 0x5544 high, a's low half */
        assert_int_equal((uint32_t)o[9], 0x55440000u | ((0x33221100u + (unsigned)l) & 0xffffu));
    }
    cudaFree(d);
}

/* ---- cp.async: zero-fill, groups ------------------------------------------- */
__global__ void cp_async_kernel(const uint4 *src, uint4 *out)
{
    TSR_STATIC_SMEM(uint4, buf, 64);
    int t = threadIdx.x; /* 32 threads, two groups of 32 chunks */
    cp_async_16_zfill(&buf[t], &src[t], 16);
    cp_async_commit();
    /* second group: thread t reads only t%17 bytes, the rest is zero-filled */
    cp_async_16_zfill(&buf[32 + t], &src[32 + t], t % 17);
    cp_async_commit();
    cp_async_wait<1>(); /* the first group is complete, the second may not be */
    __syncthreads();
    st_global(&out[t], ld_shared<uint4>(&buf[(t + 1) % 32]));
    cp_async_wait<0>();
    __syncthreads();
    st_global(&out[32 + t], ld_shared<uint4>(&buf[32 + (t + 1) % 32]));
}

static void test_cp_async(void **state)
{
    (void)state;
    uint4 hs[64], ho[64];
    uint64_t st = g_seed ^ 0x33;
    for (int i = 0; i < 64; i++) {
        hs[i].x = (unsigned)tsr_test_rand_u64(&st);
        hs[i].y = (unsigned)tsr_test_rand_u64(&st);
        hs[i].z = (unsigned)tsr_test_rand_u64(&st);
        hs[i].w = (unsigned)tsr_test_rand_u64(&st) | 0x80808080u; /* no zero bytes at the tail */
    }
    uint4 *ds = dev_alloc<uint4>(64), *dout = dev_alloc<uint4>(64);
    to_dev(ds, hs, 64);
    auto k = cp_async_kernel;
    TSR_TEST_CUDA(TSR_LAUNCH(k, dim3(1), dim3(32), 0, 0, ds, dout));
    TSR_TEST_CUDA(cudaDeviceSynchronize());
    to_host(ho, dout, 64);
    for (int t = 0; t < 32; t++) {
        int s = (t + 1) % 32;
        assert_memory_equal(&ho[t], &hs[s], 16);
        unsigned char want[16] = {0};
        memcpy(want, &hs[32 + s], (size_t)(s % 17));
        assert_memory_equal(&ho[32 + t], want, 16);
    }
    cudaFree(ds);
    cudaFree(dout);
}

/* ---- blocks resident together: a spin on another block's release ---------- */
__global__ void flag_kernel(int *flag, int *data, int *out)
{
    if (blockIdx.x == 0) {
        if (threadIdx.x == 0) {
            st_global(data, 12345);
            fence_acq_rel_gpu();
            red_release_gpu_add(flag, 1);
        }
    } else if (threadIdx.x == 0) {
        while (ld_acquire_gpu(flag) == 0) {
        }
        st_global(out, ld_global(data) + 1);
    }
    /* and atomics from every thread of both blocks */
    atomicAdd(out + 1, 1);
}

static void test_cross_block_flag(void **state)
{
    (void)state;
    int *flag = dev_alloc<int>(1), *data = dev_alloc<int>(1), *out = dev_alloc<int>(2);
    TSR_TEST_CUDA(cudaMemset(flag, 0, 4));
    TSR_TEST_CUDA(cudaMemset(out, 0, 8));
    auto k = flag_kernel;
    /* block 1 spins first in the emulation's round-robin order only if it is
     * scheduled first: run it as block 0's successor and as its predecessor */
    TSR_TEST_CUDA(TSR_LAUNCH(k, dim3(2), dim3(64), 0, 0, flag, data, out));
    TSR_TEST_CUDA(cudaDeviceSynchronize());
    int h[2];
    to_host(h, out, 2);
    assert_int_equal(h[0], 12346);
    assert_int_equal(h[1], 128);
    cudaFree(flag);
    cudaFree(data);
    cudaFree(out);
}

/* ---- last arriver: atom.acq_rel counts, the last block reads everyone's ---- */
__global__ void last_arriver_kernel(int *count, int *parts, int *out, int *olds)
{
    TSR_STATIC_SMEM(int, last, 1);
    int b = (int)blockIdx.x, t = threadIdx.x;
    st_global(&parts[b * blockDim.x + t], b * 1000 + t);
    __syncthreads();
    if (t == 0) {
        fence_acq_rel_gpu();
        int old = atom_add_acq_rel_gpu(count, 1);
        st_global(&olds[b], old);
        st_shared<int>(last, old == (int)gridDim.x - 1);
    }
    __syncthreads();
    if (!ld_shared<int>(last)) return;
    int sum = 0; /* thread t sums column t over all blocks */
    for (int i = 0; i < (int)gridDim.x; i++) sum += ld_global(&parts[i * blockDim.x + t]);
    st_global(&out[t], sum);
}

static void test_last_arriver(void **state)
{
    (void)state;
    const int blocks = 9, threads = 64; /* more blocks than the emulation runs at once */
    int *count = dev_alloc<int>(1), *parts = dev_alloc<int>(blocks * threads), *out = dev_alloc<int>(threads),
        *olds = dev_alloc<int>(blocks);
    TSR_TEST_CUDA(cudaMemset(count, 0, 4));
    TSR_TEST_CUDA(cudaMemset(out, 0xff, threads * 4));
    auto k = last_arriver_kernel;
    TSR_TEST_CUDA(TSR_LAUNCH(k, dim3(blocks), dim3(threads), 0, 0, count, parts, out, olds));
    TSR_TEST_CUDA(cudaDeviceSynchronize());
    int h[threads], ho[blocks], seen[blocks] = {0}, c;
    to_host(h, out, threads);
    to_host(ho, olds, blocks);
    to_host(&c, count, 1);
    assert_int_equal(c, blocks);
    for (int b = 0; b < blocks; b++) { /* the old values are a permutation of 0..blocks-1 */
        assert_in_range(ho[b], 0, blocks - 1);
        seen[ho[b]]++;
    }
    for (int b = 0; b < blocks; b++) assert_int_equal(seen[b], 1);
    for (int t = 0; t < threads; t++) assert_int_equal(h[t], 1000 * blocks * (blocks - 1) / 2 + blocks * t);
    cudaFree(count);
    cudaFree(parts);
    cudaFree(out);
    cudaFree(olds);
}

/* ---- barrier: every thread sees every other thread's store ---------------- */
__global__ void barrier_kernel(int *out, int n)
{
    TSR_DYNAMIC_SMEM(int, s);
    int t = threadIdx.x;
    st_shared(&s[t], t * 3 + (int)blockIdx.x);
    __syncthreads();
    st_global(&out[blockIdx.x * n + t], ld_shared<int>(&s[n - 1 - t]));
}

static void test_barrier_and_dynamic_smem(void **state)
{
    (void)state;
    const int n = 96, blocks = 5; /* three warps; more blocks than resident */
    int *d = dev_alloc<int>(n * blocks), h[n * blocks];
    auto k = barrier_kernel;
    TSR_TEST_CUDA(TSR_LAUNCH(k, dim3(blocks), dim3(n), n * sizeof(int), 0, d, n));
    TSR_TEST_CUDA(cudaDeviceSynchronize());
    to_host(h, d, n * blocks);
    for (int b = 0; b < blocks; b++)
        for (int t = 0; t < n; t++) assert_int_equal(h[b * n + t], (n - 1 - t) * 3 + b);
    cudaFree(d);
}

/* A producer warp and two consumer warps hand a two-slot ring through named
 * barriers, as the warp-specialised W4A16 kernel does: slot s is full at
 * barrier 1 + s (the producer arrives, the consumers wait) and empty at 3 + s
 * (the consumers arrive, the producer waits before refilling it). `mode` 0 is
 * that; the others plant a mistake for the emulation to catch (emulated
 * build only): 1 the consumers arrive at "empty" before reading, 2 the
 * producer arrives at "full" before writing, 3 a named barrier with id 0
 * (at the end, so that the refused barrier leaves the hand-offs intact). */
__global__ void named_pipeline_kernel(int mode, int rounds, const float *src, float *out)
{
    TSR_STATIC_SMEM(float, ring, 2 * 64);
    const int t = threadIdx.x, n = 96;
    if (t < 32) {
        for (int r = 0; r < rounds; r++) {
            float *slot = ring + (r % 2) * 64;
            if (r >= 2) named_barrier_sync(3 + r % 2, n);
            if (mode == 2) named_barrier_arrive(1 + r % 2, n);
            st_shared(slot + t, ld_global(src + r * 64 + t));
            st_shared(slot + 32 + t, ld_global(src + r * 64 + 32 + t));
            if (mode != 2) named_barrier_arrive(1 + r % 2, n);
        }
        return;
    }
    const int c = t - 32;
    float acc = 0.f;
    for (int r = 0; r < rounds; r++) {
        const float *slot = ring + (r % 2) * 64;
        named_barrier_sync(1 + r % 2, n);
        const bool refilled = r + 2 < rounds; /* the producer waits for this slot again */
        if (mode == 1 && refilled) named_barrier_arrive(3 + r % 2, n);
        acc += ld_shared<float>(slot + c) * (float)(r + 1);
        if (mode != 1 && refilled) named_barrier_arrive(3 + r % 2, n);
    }
    st_global(out + c, acc);
    if (mode == 3) named_barrier_arrive(0, 64);
}

static void test_named_barrier_pipeline(void **state)
{
    (void)state;
    const int rounds = 9;
    float h_src[rounds * 64], h_out[64];
    uint64_t st = g_seed ^ 0x77u;
    /* multiples of 2^-12: every product and partial sum below is exact, so
     * the GPU's fused multiply-add and the host's multiply then add agree
     * bit for bit (with full-width floats they differed in the last bit) */
    for (int i = 0; i < rounds * 64; i++) h_src[i] = (float)(int)(tsr_test_rand_unit(&st) * 4096.0) / 4096.f;
    float *src = dev_alloc<float>(rounds * 64), *out = dev_alloc<float>(64); /* out poisoned */
    to_dev(src, h_src, rounds * 64);
    auto k = named_pipeline_kernel;
    TSR_TEST_CUDA(TSR_LAUNCH(k, dim3(1), dim3(96), 0, 0, 0, rounds, (const float *)src, out));
    TSR_TEST_CUDA(cudaDeviceSynchronize());
    to_host(h_out, out, 64);
    for (int c = 0; c < 64; c++) {
        float want = 0.f; /* the kernel's own float order */
        for (int r = 0; r < rounds; r++) want += h_src[r * 64 + c] * (float)(r + 1);
        if (h_out[c] != want) fail_msg("consumer %d: %g, want %g", c, h_out[c], want);
    }
#if defined(TSR_EMU)
    unsetenv("TSR_SIMT_SHUFFLE"); /* the planted races rely on the default order, as above */
    const struct {
        int mode;
        const char *says;
    } bad[] = {
        {1, "read since the last barrier"},
        {2, "wrote since the last barrier"},
        {3, "a named barrier's id is 1..15"},
    };
    for (const auto &b : bad) {
        tsr_simt_set_record_faults(1);
        (void)TSR_LAUNCH(k, dim3(1), dim3(96), 0, 0, b.mode, 3, (const float *)src, out);
        char msg[800] = {0};
        int n = tsr_simt_take_faults(msg, sizeof msg);
        tsr_simt_set_record_faults(0);
        printf("mode %d: %d fault(s), first: %s\n", b.mode, n, msg);
        assert_true(n >= 1);
        assert_non_null(strstr(msg, b.says));
    }
#endif
    cudaFree(src);
    cudaFree(out);
}

/* ---- programmatic dependent launch ------------------------------------------- */
__global__ void pdl_writer_kernel(float *out, float base)
{
    st_global(out + threadIdx.x, base + (float)threadIdx.x);
}

/* out[t] = prev[t] + other[t], read after griddep_wait. `early` plants a
 * breach of the rules before the wait: 1 reads prev (what the kernel before
 * stored), 2 stores to out, 3 lets dependents launch; 4 reads `other`, which
 * the kernel before did not store to (allowed). 0: nothing early. */
__global__ void pdl_reader_kernel(int early, const float *prev, const float *other, float *out)
{
    const int t = threadIdx.x;
    float e = 0.f;
    if (early == 1) e = ld_global(prev + t);
    if (early == 2) st_global(out + t, -1.f);
    if (early == 3) griddep_launch_dependents();
    if (early == 4) e = ld_global(other + t);
    griddep_wait();
    griddep_launch_dependents();
    st_global(out + t, ld_global(prev + t) + ld_global(other + t) + 0.f * e);
}

/* A writer, then a reader launched programmatically: the reader's sums are
 * right on any device (natively, a real overlap on sm_90); the emulation
 * reports each planted breach, and none for a read of memory the writer did
 * not store to, for an ordinary launch, or after a synchronisation. */
static void test_programmatic_launch(void **state)
{
    (void)state;
    const int n = 64;
    float *prev = dev_alloc<float>(n), *other = dev_alloc<float>(n), *out = dev_alloc<float>(n);
    std::vector<float> h(n), want(n);
    for (int i = 0; i < n; i++) h[i] = (float)(tsr_test_rand_unit(&g_seed) * 100.0);
    to_dev(other, h.data(), n);
    auto writer = pdl_writer_kernel;
    auto reader = pdl_reader_kernel;
    struct breach {
        int early, programmatic, sync_between;
        const char *says; /* NULL: no fault */
    } cases[] = {
        {0, 1, 0, NULL},
        {4, 1, 0, NULL},
        {1, 0, 0, NULL}, /* an ordinary launch: the early read is fine */
        {1, 1, 1, NULL}, /* the writer is done: a synchronisation in between */
        {1, 1, 0, "before griddepcontrol.wait in a programmatic launch, in an allocation the kernel before it"},
        {2, 1, 0, "global store at"},
        {3, 1, 0, "launch_dependents before griddepcontrol.wait"},
    };
    for (const breach &b : cases) {
#if defined(TSR_EMU)
        tsr_simt_set_record_faults(1);
#else
        if (b.says) continue; /* a breach is a race on a GPU: not run */
#endif
        const float base = (float)(b.early * 10 + b.programmatic);
        TSR_TEST_CUDA(TSR_LAUNCH(writer, dim3(1), dim3(n), 0, 0, prev, base));
        if (b.sync_between) TSR_TEST_CUDA(cudaDeviceSynchronize());
        TSR_TEST_CUDA(TSR_LAUNCH_EX(reader, dim3(1), dim3(n), 0, 0, b.programmatic, b.early, (const float *)prev,
                                    (const float *)other, out));
        TSR_TEST_CUDA(cudaDeviceSynchronize());
#if defined(TSR_EMU)
        char msg[800] = {0};
        int faults = tsr_simt_take_faults(msg, sizeof msg);
        tsr_simt_set_record_faults(0);
        printf("early %d programmatic %d sync %d: %d fault(s)%s%s\n", b.early, b.programmatic, b.sync_between, faults,
               faults ? ", first: " : "", msg);
        if (b.says) {
            assert_true(faults >= 1);
            assert_non_null(strstr(msg, b.says));
            continue;
        }
        assert_int_equal(faults, 0);
#endif
        std::vector<float> got(n);
        to_host(got.data(), out, n);
        for (int i = 0; i < n; i++)
            if (got[i] != base + (float)i + h[i]) fail_msg("early %d: out[%d] = %g, want %g", b.early, i, got[i], base + i + h[i]);
    }
    cudaFree(prev);
    cudaFree(other);
    cudaFree(out);
}

#if defined(TSR_EMU)
/* ---- the safety nets a GPU does not give ----------------------------------- */
__global__ void oob_kernel(const float *p, int n, float *out)
{
    int t = threadIdx.x;
    st_global(out + t, ld_global(p + t + (t == 3 ? n + 8 : 0))); /* thread 3 reads p[n+11] */
}

static void test_emu_reports_global_oob(void **state)
{
    (void)state;
    float *p = dev_alloc<float>(32), *out = dev_alloc<float>(32);
    tsr_simt_set_record_faults(1);
    auto k = oob_kernel;
    TSR_TEST_CUDA(TSR_LAUNCH(k, dim3(1), dim3(8), 0, 0, (const float *)p, 32, out));
    char msg[800];
    int n = tsr_simt_take_faults(msg, sizeof msg);
    tsr_simt_set_record_faults(0);
    assert_int_equal(n, 1);
    printf("caught: %s\n", msg);
    assert_non_null(strstr(msg, "kernel k"));
    assert_non_null(strstr(msg, "thread (3,0,0)"));
    assert_non_null(strstr(msg, "outside every emulated allocation"));
    cudaFree(p);
    cudaFree(out);
}

__global__ void unwritten_smem_kernel(float *out)
{
    TSR_STATIC_SMEM(float, s, 64);
    int t = threadIdx.x;
    if (t != 5) st_shared(&s[t], 1.0f); /* thread 5 forgets its element */
    __syncthreads();
    st_global(out + t, ld_shared<float>(&s[63 - t]));
}

static void test_emu_reports_unwritten_smem(void **state)
{
    (void)state;
    float *out = dev_alloc<float>(64);
    tsr_simt_set_record_faults(1);
    auto k = unwritten_smem_kernel;
    TSR_TEST_CUDA(TSR_LAUNCH(k, dim3(1), dim3(64), 0, 0, out));
    char msg[800];
    int n = tsr_simt_take_faults(msg, sizeof msg);
    tsr_simt_set_record_faults(0);
    assert_int_equal(n, 1);
    printf("caught: %s\n", msg);
    assert_non_null(strstr(msg, "thread (58,0,0)"));
    assert_non_null(strstr(msg, "no thread of the block has written"));
    cudaFree(out);
}

/* Shared-memory races: each kernel below has one on purpose, except the
 * `mode` 0 controls, which synchronise where the others do not. */
__global__ void smem_race_kernel(int mode, float *out, const float *src)
{
    TSR_STATIC_SMEM(float, s, 64);
    int t = threadIdx.x;
    if (mode == 0 || mode == 1) { /* read-after-write across warps; mode 0 with the barrier */
        st_shared(&s[t], (float)t);
        if (mode == 0) __syncthreads();
        st_global(out + t, ld_shared<float>(&s[t >= 32 ? t - 32 : t])); /* warp 1 reads warp 0's */
    } else if (mode == 2) { /* write-after-read: warp 1 overwrites what warp 0 read */
        st_shared(&s[t], (float)t);
        __syncthreads();
        /* thread 63, the last at the barrier, runs on first in the emulation:
         * it stays out, so that every read below comes before its write */
        if (t < 32) st_global(out + t, ld_shared<float>(&s[t + 32]));
        else if (t < 63) st_shared(&s[t], -1.f);
    } else if (mode == 3) { /* cp.async landed for its thread only: read before wait_group */
        if (t < 16) cp_async_16_zfill(&s[4 * t], src + 4 * t, 16);
        cp_async_commit();
        __syncthreads();
        st_global(out + t, ld_shared<float>(&s[63 - t]));
        cp_async_wait<0>();
    } else { /* mode 4: within one warp, __syncwarp orders a lane's store and another's load */
        st_shared(&s[t], (float)t);
        __syncwarp();
        st_global(out + t, ld_shared<float>(&s[t ^ 1]));
    }
}

static void test_emu_reports_smem_races(void **state)
{
    (void)state;
    /* the planted races rely on the emulation's default order (a writer
     * before its reader in the same round): no shuffled scheduling here */
    unsetenv("TSR_SIMT_SHUFFLE");
    float *out = dev_alloc<float>(64), *src = dev_alloc<float>(64);
    TSR_TEST_CUDA(cudaMemset(src, 0, 64 * sizeof(float)));
    const struct {
        int mode, threads, faults;
        const char *says;
    } cases[] = {
        {0, 64, 0, NULL},
        {1, 64, 1, "wrote since the last barrier"},
        {2, 64, 1, "read since the last barrier"},
        {3, 64, 1, "cp.async into it is in flight"},
        {4, 32, 0, NULL},
    };
    auto k = smem_race_kernel;
    for (const auto &c : cases) {
        tsr_simt_set_record_faults(1);
        TSR_TEST_CUDA(TSR_LAUNCH(k, dim3(1), dim3(c.threads), 0, 0, c.mode, out, (const float *)src));
        char msg[800] = {0};
        int n = tsr_simt_take_faults(msg, sizeof msg);
        tsr_simt_set_record_faults(0);
        printf("mode %d: %d fault(s)%s%s\n", c.mode, n, n ? ", first: " : "", msg);
        if (c.faults == 0) {
            assert_int_equal(n, 0);
        } else {
            assert_true(n >= 1);
            assert_non_null(strstr(msg, c.says));
        }
    }
    cudaFree(out);
    cudaFree(src);
}

__global__ void bad_meta_kernel(float *out)
{
    uint32_t a[4] = {0x3c003c00u, 0x3c003c00u, 0x3c003c00u, 0x3c003c00u}, b[4] = {0, 0, 0, 0};
    float c[4] = {0, 0, 0, 0};
    mma_sp_m16n8k32_f16<0>(c, a, b, 0x55555555u); /* 0b0101: both indices 1 */
    st_global(out + threadIdx.x, c[0]);
}

static void test_emu_rejects_undefined_metadata(void **state)
{
    (void)state;
    float *out = dev_alloc<float>(32);
    tsr_simt_set_record_faults(1);
    auto k = bad_meta_kernel;
    TSR_TEST_CUDA(TSR_LAUNCH(k, dim3(1), dim3(32), 0, 0, out));
    char msg[800];
    int n = tsr_simt_take_faults(msg, sizeof msg);
    tsr_simt_set_record_faults(0);
    assert_true(n > 0);
    assert_non_null(strstr(msg, "undefined codes"));
    cudaFree(out);
}

/* A raw pointer overrun (no wrapper) lands in the guard page after the buffer:
 * run it in a child process and check the report. */
__global__ void raw_overrun_kernel(float *p) { p[threadIdx.x * 1024] = 1.0f; }

static void test_emu_guard_page(void **state)
{
    (void)state;
    fflush(stdout);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        float *p = NULL;
        cudaMalloc((void **)&p, 256 * sizeof(float));
        auto k = raw_overrun_kernel;
        TSR_LAUNCH(k, dim3(1), dim3(4), 0, 0, p);
        _exit(0);
    }
    close(fds[1]);
    char buf[1024] = {0};
    ssize_t got = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    printf("child said: %s", got > 0 ? buf : "(nothing)\n");
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    assert_non_null(strstr(buf, "kernel k block (0,0,0) thread (1,0,0): invalid memory access"));
}
#endif

int main(void)
{
#if !defined(TSR_EMU)
    if (!tsr_test_device_or_skip()) return 77;
#endif
    g_seed = tsr_test_seed("simt");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mma_f16),
        cmocka_unit_test(test_mma_bf16),
        cmocka_unit_test(test_mma_sp),
        cmocka_unit_test(test_ldmatrix),
        cmocka_unit_test(test_warp_ops),
        cmocka_unit_test(test_cp_async),
        cmocka_unit_test(test_cross_block_flag),
        cmocka_unit_test(test_last_arriver),
        cmocka_unit_test(test_barrier_and_dynamic_smem),
        cmocka_unit_test(test_named_barrier_pipeline),
        cmocka_unit_test(test_programmatic_launch),
#if defined(TSR_EMU)
        cmocka_unit_test(test_emu_reports_global_oob),
        cmocka_unit_test(test_emu_reports_unwritten_smem),
        cmocka_unit_test(test_emu_reports_smem_races),
        cmocka_unit_test(test_emu_rejects_undefined_metadata),
        cmocka_unit_test(test_emu_guard_page),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
