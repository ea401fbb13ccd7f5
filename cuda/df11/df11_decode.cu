/* DFloat11 GPU decoder: one launch turns a whole container's stream back into
 * bf16. Each warp decodes one chunk of 32768 elements; lane L owns its own
 * substream of codes and, at step s, the 8 elements from 8*(32s + L), so the
 * warp's stores are 512 contiguous bytes written with 16-byte stores. The code
 * table lives in shared memory; one lookup decodes one exponent (codes are at
 * most 12 bits). Every read is bounded by the lane's substream, every write by
 * its destination; a bad stream raises the status word instead. */
#include "common/device.cuh"

extern "C" {
#include "df11_format.h"
#include "df11_internal.h"
}

#define TSR_DF11_WARPS 8

TSR_DEVICE void df11_report(unsigned int *status, unsigned int chunk, unsigned int lane)
{
    if (atomicCAS(status, 0u, 1u) == 0u) {
        st_global(status + 1, chunk);
        st_global(status + 2, lane);
    }
}

/* Destination t: from the kernel parameters when they hold the table, else
 * from the workspace copy. */
TSR_DEVICE tsr_df11_dest_t df11_dest(const tsr_df11_launch_args_t &a, int t)
{
    if (a.tensors <= TSR_DF11_INLINE_DESTS) return a.inline_dests[t];
    return ld_global(a.dests + t);
}

/* Advances *t to the tensor holding element p (positions only grow) and
 * returns it in *d; 0 when p lies past every tensor. */
TSR_DEVICE int df11_find(const tsr_df11_launch_args_t &a, int *t, uint64_t p, tsr_df11_dest_t *d)
{
    while (*t < a.tensors) {
        *d = df11_dest(a, *t);
        if (p < d->offset + d->count) return 1;
        (*t)++;
    }
    return 0;
}

TSR_DEVICE void df11_store_one(const tsr_df11_launch_args_t &a, int *t, uint64_t p, uint16_t v)
{
    tsr_df11_dest_t d;
    if (df11_find(a, t, p, &d) && d.ptr) st_global(d.ptr + (p - d.offset), v);
}

/* Decoder 2 (TSR_DF11_DECODER=2; decoder 1, the default, is the per-code
 * reader of csrc/df11_format.h). On an H100 decoder 1 issued ~80 instructions
 * per code, most of them for the per-code refill and error branches, which
 * diverge because lanes refill at different codes (ncu, perf/results/
 * 2026-11-22-h100). Decoder 2 refills once per pair of codes (a code has at
 * most 12 bits, so 24 bits cover two), without a branch, and keeps a sticky
 * error flag that is looked at once per group of 8. Same stream, same output,
 * same errors; both stay until a GPU run says which is faster. */
typedef struct df11_pair_reader {
    uint64_t buf; /* nbits valid bits at the top */
    int nbits;
    const uint32_t *next, *end;
} df11_pair_reader_t;

TSR_DEVICE void df11_pair_refill(df11_pair_reader_t *r)
{
    const bool need = r->nbits < 24 && r->next < r->end;
    const uint32_t w = need ? ld_global(r->next) : 0u;
    r->buf |= need ? (uint64_t)w << (32 - r->nbits) : 0ull;
    r->nbits += need ? 32 : 0;
    r->next += need ? 1 : 0;
}

/* One exponent; *bad gains a bit for an invalid code or one running past the
 * substream's end (nothing past it is read either way). */
TSR_DEVICE uint32_t df11_pair_decode(df11_pair_reader_t *r, const uint16_t *lut, int code_bits, uint32_t *bad)
{
    const uint32_t e = ld_shared<uint16_t>(lut + (uint32_t)(r->buf >> (64 - code_bits)));
    const int len = (int)(e >> 8);
    *bad |= (uint32_t)(len == 0) | (uint32_t)(len > r->nbits);
    const int used = len > r->nbits ? r->nbits : len;
    r->buf <<= used;
    r->nbits -= used;
    return e & 0xffu;
}

template <int DECODER>
__global__ void __launch_bounds__(TSR_DF11_WARPS * 32) df11_decode_kernel(tsr_df11_launch_args_t a)
{
    TSR_STATIC_SMEM(uint16_t, lut, 1 << TSR_DF11_MAX_CODE_BITS);
    const int lut_size = 1 << a.code_bits;
    for (int i = threadIdx.x; i < lut_size; i += blockDim.x) st_shared(&lut[i], ld_global(a.lut + i));
    __syncthreads();

    const int lane = threadIdx.x % 32;
    const uint64_t chunk = (uint64_t)blockIdx.x * TSR_DF11_WARPS + threadIdx.x / 32;
    if (chunk >= a.chunks) return;

    /* this lane's substream: the chunk base plus the words of the lanes before it */
    uint32_t words = ld_global(a.lane_words + chunk * 32 + lane), before = words;
    for (int d = 1; d < 32; d <<= 1) {
        uint32_t v = __shfl_up_sync(0xffffffffu, before, d);
        if (lane >= d) before += v;
    }
    before -= words;
    const uint64_t start = ld_global(a.chunk_base + chunk) + before;
    if (start > a.stream_words || words > a.stream_words - start) {
        df11_report(a.status, (unsigned)chunk, (unsigned)lane);
        return;
    }
    tsr_df11_bits_t bits;
    tsr_df11_bits_init(&bits, a.stream + start, words);
    df11_pair_reader_t pr = {0, 0, a.stream + start, a.stream + start + words};
    uint32_t bad = 0;

    int t = 0;
    for (int step = 0; step < TSR_DF11_STEPS; step++) {
        const uint64_t p0 = tsr_df11_position(chunk, step, lane, 0);
        if (p0 >= a.symbols) break;
        const int m = a.symbols - p0 < TSR_DF11_GROUP ? (int)(a.symbols - p0) : TSR_DF11_GROUP;
        /* raw bytes and results live in 64-bit registers, not arrays, so that
         * a partial group's run-time index does not move them to local memory */
        uint64_t raw = 0, lo = 0, hi = 0;
        if (m == TSR_DF11_GROUP) {
            raw = ld_global((const unsigned long long *)(a.raw + p0)); /* p0 % 8 == 0, section 16-byte aligned */
        } else {
            for (int j = 0; j < m; j++) raw |= (uint64_t)ld_global(a.raw + p0 + j) << (8 * j);
        }
#pragma unroll
        for (int j = 0; j < TSR_DF11_GROUP; j++) {
            if (j >= m) break;
            int e;
            if (DECODER == 2) {
                if (j % 2 == 0) df11_pair_refill(&pr);
                e = (int)df11_pair_decode(&pr, lut, a.code_bits, &bad);
            } else {
                e = tsr_df11_decode_symbol(&bits, lut, a.code_bits);
                bad |= e < 0;
            }
            if (DECODER == 1 && bad) break;
            uint64_t v = tsr_df11_join((uint8_t)(raw >> (8 * j)), (uint8_t)e);
            if (j < 4) lo |= v << (16 * j);
            else hi |= v << (16 * (j - 4));
        }
        if (bad) {
            df11_report(a.status, (unsigned)chunk, (unsigned)lane);
            return;
        }
        /* the common case: 8 elements inside one tensor at a 16-byte-aligned address */
        tsr_df11_dest_t d;
        int found = df11_find(a, &t, p0, &d);
        uint16_t *dst = found && d.ptr ? d.ptr + (p0 - d.offset) : NULL;
        if (m == TSR_DF11_GROUP && dst && p0 + 8 <= d.offset + d.count && (uintptr_t)dst % 16 == 0) {
            st_global((uint4 *)dst, make_uint4((unsigned)lo, (unsigned)(lo >> 32), (unsigned)hi, (unsigned)(hi >> 32)));
        } else {
            for (int j = 0; j < m; j++)
                df11_store_one(a, &t, p0 + j, (uint16_t)(j < 4 ? lo >> (16 * j) : hi >> (16 * (j - 4))));
        }
    }
}

extern "C" cudaError_t tsr_df11_launch_decode(const tsr_df11_launch_args_t *a, cudaStream_t stream)
{
    dim3 grid((a->chunks + TSR_DF11_WARPS - 1) / TSR_DF11_WARPS), block(TSR_DF11_WARPS * 32);
    if (a->decoder == 2) {
        auto df11_decode_pairs = df11_decode_kernel<2>;
        return TSR_LAUNCH(df11_decode_pairs, grid, block, 0, stream, *a);
    }
    auto df11_decode = df11_decode_kernel<1>;
    return TSR_LAUNCH(df11_decode, grid, block, 0, stream, *a);
}
