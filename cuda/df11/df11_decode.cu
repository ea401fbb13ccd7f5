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
 * 2026-11-22-h100). Decoder 2:
 * - refills once per pair of codes (a code has at most 12 bits, so 24 bits
 *   cover two), with no branch;
 * - keeps its table in shared memory as length << 16 | exponent << 7, so a
 *   code's exponent drops into place in a bf16 pair with one operation;
 * - turns invalid codes (length 0 in the container) into length 63: that
 *   drives nbits negative, where no refill brings it back ((unsigned)nbits <
 *   24 fails), as does running past the substream's end, so one look at nbits
 *   per group of 8 finds every error;
 * - spreads sign and mantissa bytes two at a time with one byte permute;
 * - prefetches each lane's next line of codes into L1.
 * Same stream, same output, same errors as decoder 1; both stay until a GPU
 * run says which is faster. */
typedef struct df11_pair_reader {
    uint64_t buf; /* nbits valid bits at the top */
    int nbits;
    uint32_t pos, words; /* next word, and the substream's length */
    const uint32_t *base;
} df11_pair_reader_t;

TSR_DEVICE uint32_t df11_pair_entry(uint16_t e)
{
    const uint32_t len = e >> 8;
    return (len ? len : 63u) << 16 | (uint32_t)(e & 0xff) << 7;
}

TSR_DEVICE void df11_pair_refill(df11_pair_reader_t *r)
{
    const bool need = (unsigned)r->nbits < 24u && r->pos < r->words;
    /* a lane's words are its own 128-byte lines, each first touched by one
     * lane's load that every lane then waits for: ask for the line after
     * this one early (32 words = some 60 codes ahead) */
    if (need && r->pos + 32 < r->words) prefetch_global_l1(r->base + r->pos + 32);
    const uint32_t w = need ? ld_global(r->base + r->pos) : 0u;
    /* w is 0 unless needed, and then 32 - nbits is 9..32: no select, and the
     * mask keeps the shift defined when not needed */
    r->buf |= (uint64_t)w << ((32 - r->nbits) & 63);
    r->nbits += need ? 32 : 0;
    r->pos += need ? 1u : 0u;
}

/* Consumes one code; returns its table entry. */
TSR_DEVICE uint32_t df11_pair_code(df11_pair_reader_t *r, const uint32_t *lut, int code_bits)
{
    const uint32_t e = ld_shared<uint32_t>(lut + (uint32_t)(r->buf >> (64 - code_bits)));
    const int len = (int)(e >> 16);
    r->buf <<= len;
    r->nbits -= len;
    return e;
}

/* The group's m (FULL: 8) elements as four bf16 pairs, element 2p in the low
 * half of out[p]: sign bit 15, exponent bits 14..7, mantissa 6..0. */
template <int FULL>
TSR_DEVICE void df11_pair_group(df11_pair_reader_t *r, const uint32_t *lut, int code_bits, uint64_t raw, int m,
                                uint32_t out[4])
{
#pragma unroll
    for (int p = 0; p < 4; p++) {
        out[p] = 0;
        if (!FULL && 2 * p >= m) continue;
        /* raw bytes 2p and 2p+1 to bits 0..7 and 16..23 */
        const uint32_t x = prmt((uint32_t)(raw >> (32 * (p / 2))), 0, p % 2 ? 0x4342u : 0x4140u);
        uint32_t w = ((x & 0x00800080u) << 8) | (x & 0x007f007fu);
        df11_pair_refill(r);
        w |= df11_pair_code(r, lut, code_bits) & 0x7f80u;
        if (FULL || 2 * p + 1 < m) w |= df11_pair_code(r, lut, code_bits) << 16;
        out[p] = w;
    }
}

/* Decoder 2 held to 40 registers on sm_90, 6 blocks (48 warps) per SM instead
 * of 5: a Llama-3-8B block is 6650 warps, 1.26 waves of 40 warps per SM on an
 * H100 but 1.05 of 48 (8 blocks would need 32 registers, and spill; on sm_80
 * 40 spill too). 0 leaves decoder 1 as it was measured. */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define TSR_DF11_MIN_BLOCKS(decoder) ((decoder) == 2 ? 6 : 0)
#else
#define TSR_DF11_MIN_BLOCKS(decoder) 0
#endif

template <int DECODER>
__global__ void __launch_bounds__(TSR_DF11_WARPS * 32, TSR_DF11_MIN_BLOCKS(DECODER)) df11_decode_kernel(tsr_df11_launch_args_t a)
{
    TSR_STATIC_SMEM(uint16_t, lut, DECODER == 1 ? 1 << TSR_DF11_MAX_CODE_BITS : 1);
    TSR_STATIC_SMEM(uint32_t, lut2, DECODER == 2 ? 1 << TSR_DF11_MAX_CODE_BITS : 1);
    const int lut_size = 1 << a.code_bits;
    for (int i = threadIdx.x; i < lut_size; i += blockDim.x) {
        if (DECODER == 2) st_shared(&lut2[i], df11_pair_entry(ld_global(a.lut + i)));
        else st_shared(&lut[i], ld_global(a.lut + i));
    }
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
    df11_pair_reader_t pr = {0, 0, 0, words, a.stream + start};

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
        bool bad = false;
        if (DECODER == 2) {
            uint32_t w[4];
            if (m == TSR_DF11_GROUP) df11_pair_group<1>(&pr, lut2, a.code_bits, raw, m, w);
            else df11_pair_group<0>(&pr, lut2, a.code_bits, raw, m, w);
            bad = pr.nbits < 0;
            lo = w[0] | (uint64_t)w[1] << 32;
            hi = w[2] | (uint64_t)w[3] << 32;
        } else {
#pragma unroll
            for (int j = 0; j < TSR_DF11_GROUP; j++) {
                if (j >= m) break;
                int e = tsr_df11_decode_symbol(&bits, lut, a.code_bits);
                if (e < 0) {
                    bad = true;
                    break;
                }
                uint64_t v = tsr_df11_join((uint8_t)(raw >> (8 * j)), (uint8_t)e);
                if (j < 4) lo |= v << (16 * j);
                else hi |= v << (16 * (j - 4));
            }
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
