/* DFloat11 GPU decoder: one launch turns a whole container's stream back into
 * bf16. Each warp decodes chunks of 256 * steps elements (steps from the
 * container: the encoder takes 32 or 64 unless told); lane L owns its own substream of codes and, at
 * step s, the 8 elements from 8*(32s + L), so the warp's stores are 512
 * contiguous bytes written with 16-byte stores. The code table, rebuilt from
 * the container's code lengths, lives in shared
 * memory, filled once per block: the grid is no larger than what fits the GPU
 * at once, and each warp takes every (grid*8)-th chunk. One lookup decodes one
 * exponent (codes are at most 12 bits). Every read is bounded by the lane's
 * substream, every write by its destination, and each lane must end exactly
 * where its substream does; a bad stream raises the status word instead.
 * Two instantiations: codes first staged in shared memory a chunk at a time
 * (the default, below), or read from global memory (TSR_DF11_STAGE_CODES=0).
 * A chunk inside one tensor with an aligned destination (nearly every chunk
 * of a model) takes a loop without per-element positions or checks. */
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

/* The reader. On an H100 a per-code reader (one refill check and one error
 * branch per code, as in csrc/df11_format.h) issued ~80 instructions per code,
 * most of them for branches that diverge because lanes refill at different
 * codes (ncu, perf/results/2026-11-22-h100 run 3), and ran at 0.6-0.7x of this
 * one (run 4). This one:
 * - refills once per pair of codes (a code has at most 12 bits, so 24 bits
 *   cover two), with no branch;
 * - keeps its table in shared memory as length << 16 | exponent << 7, so a
 *   code's exponent drops into place in a bf16 pair with one operation;
 * - gives indices that begin no code length 63 (df11_load_table): that
 *   drives nbits negative, where no refill brings it back ((unsigned)nbits <
 *   24 fails), as does running past the substream's end, so one look at nbits
 *   per group of 8 finds every error;
 * - builds a bf16 pair with three instructions besides the lookups: one
 *   byte permute puts the two sign/mantissa bytes in place, another the two
 *   entries' exponent halves, one masked OR joins them;
 * - asks L1 for what it will read before it reads it (df11_prefetch_*): on the
 *   64 MB stream run 4's speed followed the number of resident warps
 *   (378/584/845 GB/s at 8/16/31 warps per SM), as if a warp waited on memory
 *   every step (each step's sign and mantissa bytes are new lines, as is a
 *   lane's next line of codes). Measured (run 6): 1-6% slower up to the 218M
 *   block at 32 and 64 steps, 11-29% faster on 1-2 GB streams and at 128
 *   steps; run 7's profile put the misses on the code lines, which L1 cannot
 *   hold for 1280 lanes an SM (docs/df11.md). */
typedef struct df11_pair_reader {
    uint64_t buf; /* nbits valid bits at the top */
    int nbits;
    uint32_t pos, words;  /* next word and the words holding the lane's bits, from base */
    int past;             /* bits of the last word after the lane's end */
    const uint32_t *base; /* the word holding the lane's first bit */
} df11_pair_reader_t;

/* One word of codes. GENERIC (the staged decoder): base points into the warp's
 * staged copy in shared memory or, for a chunk too long for it, into the
 * stream, so one loop of generic loads serves both (two loops, one per space,
 * spilled 256 bytes at 48 registers); and no L1 prefetches. Else: from the
 * stream, with them. */
template <bool GENERIC> TSR_DEVICE uint32_t df11_code_word(const uint32_t *p)
{
    return GENERIC ? ld_generic(p) : ld_global(p);
}

/* The lane's substream: bits [start, start + bits) of the stream. The first
 * word's bits before start belong to the lane before: shifted out of the top.
 * The line after the first goes to L1 now; df11_pair_refill asks for each
 * later one when it starts reading the line before. */
template <bool GENERIC>
TSR_DEVICE void df11_pair_init(df11_pair_reader_t *r, const uint32_t *stream, uint64_t start, uint32_t bits)
{
    const uint32_t skip = (uint32_t)start & 31;
    r->base = stream + (start >> 5);
    r->words = (skip + bits + 31) >> 5;
    r->past = (int)(r->words * 32 - skip - bits);
    r->buf = 0;
    r->nbits = 0;
    r->pos = 0;
    const uint32_t to_next_line = 32 - (uint32_t)(((uintptr_t)r->base >> 2) & 31);
    if (!GENERIC && to_next_line < r->words) prefetch_global_l1(r->base + to_next_line);
    if (skip && r->words) {
        r->buf = (uint64_t)df11_code_word<GENERIC>(r->base) << (32 + skip);
        r->nbits = 32 - (int)skip;
        r->pos = 1;
    }
}

/* True when the lane consumed exactly its bits: what is left loaded plus the
 * words not loaded equals the bits of the last word past the lane's end. */
TSR_DEVICE bool df11_pair_done(const df11_pair_reader_t *r)
{
    return r->nbits + 32 * (int)(r->words - r->pos) == r->past;
}

template <bool GENERIC> TSR_DEVICE void df11_pair_refill(df11_pair_reader_t *r)
{
    const bool need = (unsigned)r->nbits < 24u && r->pos < r->words;
    const uint32_t *p = r->base + r->pos;
    /* a lane's words are its own 128-byte lines (some 380 bits, 19 steps of
     * codes): on its way into one, ask for the next; once per line, not per
     * refill (loads and prefetches share the LSU) */
    if (!GENERIC && need && ((uintptr_t)p & 127) == 0 && r->pos + 32 < r->words) prefetch_global_l1(p + 32);
    const uint32_t w = need ? df11_code_word<GENERIC>(p) : 0u;
    /* w goes just below the nbits valid bits: (w << 32) >> nbits, nbits 0..23
     * when needed; w is 0 otherwise, so no select (the mask keeps the shift
     * defined for a bad lane's negative nbits) */
    const int n = r->nbits & 31;
    r->buf |= (uint64_t)(w >> n) << 32 | (uint32_t)(((uint64_t)w << 32) >> n);
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
template <int FULL, bool GENERIC>
TSR_DEVICE void df11_pair_group(df11_pair_reader_t *r, const uint32_t *lut, int code_bits, uint64_t raw, int m,
                                uint32_t out[4])
{
#pragma unroll
    for (int p = 0; p < 4; p++) {
        out[p] = 0;
        if (!FULL && 2 * p >= m) continue;
        /* raw bytes 2p and 2p+1 each twice, to bytes 0-1 and 2-3: masked
         * with 0x807f807f, the copies' bit 7 (the sign) lands at bits 15 and
         * 31 and the mantissas at 0..6 and 16..22 */
        const uint32_t x = prmt((uint32_t)(raw >> (32 * (p / 2))), 0, p % 2 ? 0x3322u : 0x1100u);
        df11_pair_refill<GENERIC>(r);
        const uint32_t lo = df11_pair_code(r, lut, code_bits);
        const uint32_t hi = FULL || 2 * p + 1 < m ? df11_pair_code(r, lut, code_bits) : 0u;
        /* the entries' low halves (exponent << 7) side by side: one permute */
        out[p] = (x & 0x807f807fu) | prmt(lo, hi, 0x5410u);
    }
}

/* How many steps ahead a warp asks L1 for its sign and mantissa bytes: a step
 * takes a few hundred cycles when nothing waits, a DRAM round trip about a
 * thousand (4 steps x 256 bytes = 1 KB a warp, 40 KB at 40 warps an SM) */
#define TSR_DF11_PREFETCH_STEPS 4

/* Asks L1 for the sign and mantissa bytes lane `lane` reads at (chunk, step):
 * the step's 256 bytes, one request per 128-byte line they touch. */
TSR_DEVICE void df11_prefetch_raw(const tsr_df11_launch_args_t &a, uint64_t chunk, int step, int lane)
{
    const uint64_t p = tsr_df11_position(chunk, a.steps, step, lane, 0);
    if (p < a.symbols && (lane == 0 || ((uintptr_t)(a.raw + p) & 127) == 0)) prefetch_global_l1(a.raw + p);
}

/* Asks L1 for what starting chunk `chunk` reads first: its record and lane
 * lengths, which the first code load waits on. */
TSR_DEVICE void df11_prefetch_chunk_head(const tsr_df11_launch_args_t &a, uint64_t chunk, int lane)
{
    if (chunk >= a.chunks) return;
    if (lane == 0) prefetch_global_l1(a.chunk_base + chunk);
    const unsigned char *lb = (const unsigned char *)a.lane_bits + chunk * 32 * a.lane_bytes;
    if (lane == 1) prefetch_global_l1(lb);
    if (lane == 2) prefetch_global_l1(lb + 32 * a.lane_bytes - 1); /* the entries may cross a line */
}

/* 5 blocks (40 warps) per SM: at most 48 registers, what the decoder needs
 * without spilling (at 40 registers, for 6 blocks, it spilled once it learnt
 * bit-granular lanes and the chunk loop). */
#define TSR_DF11_MIN_BLOCKS 5

/* Shared memory the table build needs besides the table: each exponent's
 * length, the exponents in code order, and per length its code count, first
 * code, first place in that order and the end of its codes in table indices. */
typedef struct df11_table_scratch {
    uint32_t len[256], sorted[256];
    uint32_t count[16], first[16], offset[16], limit[16];
} df11_table_scratch_t;

/* The canonical code's lookup table, rebuilt in shared memory from the 256
 * code lengths the container stores (format version 3), as pair entries
 * (length << 16 | exponent << 7; invalid: 63 << 16). The block's 256 threads
 * take one exponent each: count the codes of each length, place every
 * exponent in code order (by length, then exponent), then fill the table, 16
 * entries a thread, index i belonging to the shortest length whose codes end
 * past it (canonical codes of each length follow those of the shorter ones).
 * A length past code_bits counts as absent and codes beyond the room of
 * their length are dropped (lengths from a bad info), so nothing outside
 * the table is written. Every thread of the block must call it. */
TSR_DEVICE void df11_load_table(const tsr_df11_launch_args_t &a, uint32_t *lut, df11_table_scratch_t *sc)
{
    const int t = threadIdx.x, cb = a.code_bits;
    uint32_t l = ld_global(a.lengths + t);
    if (l > (uint32_t)cb) l = 0;
    st_shared(sc->len + t, l);
    __syncthreads();
    if (t >= 1 && t <= cb) {
        uint32_t c = 0;
        for (int s = 0; s < 256; s++) c += ld_shared<uint32_t>(sc->len + s) == (uint32_t)t;
        st_shared(sc->count + t, c);
    }
    __syncthreads();
    if (t == 0) {
        uint32_t next = 0, off = 0;
        for (int L = 1; L <= cb; L++) {
            const uint32_t c = ld_shared<uint32_t>(sc->count + L), room = (1u << L) - next;
            st_shared(sc->first + L, next);
            st_shared(sc->offset + L, off);
            next += c < room ? c : room;
            st_shared(sc->limit + L, next << (cb - L));
            off += c;
            next <<= 1;
        }
    }
    __syncthreads();
    if (l) {
        uint32_t r = 0;
        for (int s = 0; s < t; s++) r += ld_shared<uint32_t>(sc->len + s) == l;
        st_shared(sc->sorted + ld_shared<uint32_t>(sc->offset + l) + r, (uint32_t)t);
    }
    __syncthreads();
    for (int i = t; i < 1 << cb; i += blockDim.x) {
        uint32_t e = 63u << 16;
        for (int L = 1; L <= cb; L++)
            if ((uint32_t)i < ld_shared<uint32_t>(sc->limit + L)) {
                const uint32_t k = ld_shared<uint32_t>(sc->offset + L) + ((uint32_t)i >> (cb - L)) - ld_shared<uint32_t>(sc->first + L);
                e = (uint32_t)L << 16 | ld_shared<uint32_t>(sc->sorted + k) << 7;
                break;
            }
        st_shared(lut + i, e);
    }
}

/* The staged decoder (the default since H100 run 13: 1.20-1.25x the global
 * reads at 32 steps; TSR_DF11_STAGE_CODES=0 at tsr_create for those). Why: the ncu profile of run 7 put 6 of every 14 cycles
 * between a warp's instructions on long-scoreboard stalls with an L1 hit rate
 * of 25%: 32 lanes each reading their own lines of codes, 1280 lanes an SM,
 * more lines than L1 holds next to the shared memory. Staged, a warp copies
 * its chunk's words (contiguous: lane after lane) into its own 3 KB of shared
 * memory with coalesced 16-byte cp.async at the start of the chunk, and its
 * lanes read them from there: each line crosses to the SM once, and nothing
 * is evicted before it is read. A 32-step chunk of trained weights' codes is
 * about 2.7 KB (8192 exponents at ~2.65 bits); a chunk that does not fit
 * (64 steps and more, or a rare long chunk) is read from global memory as
 * before. 16 KB of table, 2.3 KB for building it and 8 x 3 KB: 42.3 KB a
 * block, which keeps 5 blocks an SM. */
#define TSR_DF11_STAGE_WORDS 768

/* Copies words [w0, w0 + n) of the stream (w0 % 4 == 0, n <= STAGE_WORDS)
 * into the warp's buffer, which every lane may read when this returns. The
 * container may end with the stream, so a last unit of fewer than 4 words is
 * read a word at a time: a cp.async with src-size below 16 is a 16-byte read
 * to compute-sanitizer (run 13 stopped the kernel on one). */
TSR_DEVICE void df11_stage_words(const tsr_df11_launch_args_t &a, uint32_t *stage, uint64_t w0, uint32_t n, int lane)
{
    __syncwarp(); /* every lane is done with the previous chunk's words */
    for (uint32_t i = 4 * (uint32_t)lane; i < n; i += 128) {
        const uint64_t left = a.stream_words - (w0 + i); /* >= 1: w0 + i < w0 + n <= stream_words */
        if (left >= 4)
            cp_async_16_zfill(stage + i, a.stream + w0 + i, 16);
        else
            for (uint32_t j = 0; j < (uint32_t)left; j++) st_shared(stage + i + j, ld_global(a.stream + w0 + i + j));
    }
    cp_async_commit();
    cp_async_wait<0>();
    __syncwarp(); /* each lane's copies are visible to the others */
}

/* One step of a whole chunk (below): the lane's 8 elements, raw bytes from
 * *raw, to *dst; false, storing nothing, when its codes are bad. */
template <bool GENERIC>
TSR_DEVICE bool df11_whole_step(df11_pair_reader_t *rd, const uint32_t *lut, int code_bits, const unsigned long long *raw,
                                uint4 *dst)
{
    uint32_t w[4];
    df11_pair_group<1, GENERIC>(rd, lut, code_bits, ld_global(raw), TSR_DF11_GROUP, w);
    if (rd->nbits < 0) return false;
    st_global(dst, make_uint4(w[0], w[1], w[2], w[3]));
    return true;
}

/* Decodes chunk `chunk` with this warp; false (after reporting) when the
 * stream is bad. Every lane returns the same value. `next` is the chunk this
 * warp decodes after it (past the last: none), whose first bytes it asks L1
 * for while it finishes this one. `stage` is the warp's STAGE_WORDS words of
 * shared memory (STAGE_WORDS 0: none, every code read from global memory). */
template <int STAGE_WORDS>
TSR_DEVICE bool df11_decode_chunk(const tsr_df11_launch_args_t &a, const uint32_t *lut, uint32_t *stage, uint64_t chunk,
                                  uint64_t next)
{
    const int lane = threadIdx.x % 32;
    const int ahead = TSR_DF11_PREFETCH_STEPS < a.steps ? TSR_DF11_PREFETCH_STEPS : a.steps;
    for (int s = 0; s < ahead; s++) df11_prefetch_raw(a, chunk, s, lane); /* in L1 already unless the warp's first chunk */
    /* this lane's substream: the chunk's first bit plus the bits of the lanes before it */
    const uint64_t rec = ld_global(a.chunk_base + chunk);
    const uint64_t i = chunk * 32 + lane;
    const uint32_t bits = (uint32_t)(rec >> 48) +
                          (a.lane_bytes == 1 ? ld_global((const uint8_t *)a.lane_bits + i) : ld_global((const uint16_t *)a.lane_bits + i));
    uint32_t before = bits;
    for (int d = 1; d < 32; d <<= 1) {
        uint32_t v = __shfl_up_sync(0xffffffffu, before, d);
        if (lane >= d) before += v;
    }
    before -= bits;
    const uint64_t start = (rec & TSR_DF11_CHUNK_BIT_MASK) + before;
    bool bad = start + bits > a.stream_words * 32;
    /* where the lane reads its codes: the stream, or the warp's staged copy */
    const uint32_t *codes = a.stream;
    uint64_t from = start;
    if (STAGE_WORDS) {
        /* the chunk's words: from the 16-byte unit holding its first bit (lane
         * 0's) to the word holding its last (lane 31's); all inside the stream
         * unless some lane is bad */
        const uint64_t w0 = ((rec & TSR_DF11_CHUNK_BIT_MASK) >> 5) & ~(uint64_t)3;
        const uint64_t w1 = (__shfl_sync(0xffffffffu, start + bits, 31) + 31) >> 5;
        if (!__any_sync(0xffffffffu, bad) && w1 - w0 <= (uint64_t)STAGE_WORDS) {
            df11_stage_words(a, stage, w0, (uint32_t)(w1 - w0), lane);
            codes = stage;
            from = start - 32 * w0;
        }
    }
    df11_pair_reader_t rd = {};
    if (!bad) df11_pair_init<STAGE_WORDS != 0>(&rd, codes, from, bits);

    /* The common case: every element of the chunk exists and lies in one
     * tensor, whose destination is 16-byte aligned where the chunk starts
     * (then at every group: they are 512 bytes apart). Its steps need no
     * position arithmetic, tensor search or store checks: about 144
     * instructions a step where the general loop below issues about 255, of
     * which about 105 are not decoding (sm_90a SASS; docs/df11.md). The test
     * is the same for every lane. */
    int t = 0;
    tsr_df11_dest_t d;
    const uint64_t first = tsr_df11_position(chunk, a.steps, 0, 0, 0), count = tsr_df11_position(1, a.steps, 0, 0, 0);
    if (!bad && first + count <= a.symbols && df11_find(a, &t, first, &d) && d.ptr && first + count <= d.offset + d.count &&
        (uintptr_t)(d.ptr + (first - d.offset)) % 16 == 0) {
        uint4 *dst = (uint4 *)(d.ptr + (first - d.offset)) + lane;  /* advances 32 uint4 (256 elements) a step */
        const unsigned long long *raw = (const unsigned long long *)(a.raw + first) + lane; /* 32 a step */
        /* the lanes that ask L1 for a step's raw bytes: lane 0 and any that
         * starts a 128-byte line (the same lanes every step and chunk: steps
         * are 256 bytes apart) */
        const bool asks = lane == 0 || ((uintptr_t)raw & 127) == 0;
        /* Two loops, so that neither tests per step where it asks: step s
         * asks for step s + ahead's bytes, in the last `ahead` steps for the
         * next chunk's first ones (when that chunk exists whole; else for
         * nothing). Counted down (one register); where the first loop runs
         * at all, ahead is the constant (an immediate offset). */
        for (int left = a.steps - ahead; left > 0; left--, raw += 32, dst += 32) {
            if (asks) prefetch_global_l1(raw + 32 * TSR_DF11_PREFETCH_STEPS);
            if (!df11_whole_step<STAGE_WORDS != 0>(&rd, lut, a.code_bits, raw, dst)) {
                bad = true;
                break;
            }
        }
        if (!bad) {
            df11_prefetch_chunk_head(a, next, lane);
            const bool next_asks = asks && next < a.chunks && first + (next - chunk + 1) * count <= a.symbols;
            const unsigned long long *pf = next_asks ? (const unsigned long long *)(a.raw + first + (next - chunk) * count) + lane : raw;
            for (int left = ahead; left > 0; left--, raw += 32, dst += 32, pf += 32) {
                if (next_asks) prefetch_global_l1(pf);
                if (!df11_whole_step<STAGE_WORDS != 0>(&rd, lut, a.code_bits, raw, dst)) {
                    bad = true;
                    break;
                }
            }
        }
    } else { /* the general loop: any chunk */
        t = 0;
        for (int step = 0; step < a.steps && !bad; step++) {
            const uint64_t p0 = tsr_df11_position(chunk, a.steps, step, lane, 0);
            if (p0 >= a.symbols) break;
            /* the bytes `ahead` steps on: this chunk's, or the next chunk's first */
            if (step + ahead < a.steps) df11_prefetch_raw(a, chunk, step + ahead, lane);
            else if (next < a.chunks) df11_prefetch_raw(a, next, step + ahead - a.steps, lane);
            if (step + ahead == a.steps) df11_prefetch_chunk_head(a, next, lane);
            const int m = a.symbols - p0 < TSR_DF11_GROUP ? (int)(a.symbols - p0) : TSR_DF11_GROUP;
            /* raw bytes and results live in 64-bit registers, not arrays, so that
             * a partial group's run-time index does not move them to local memory */
            uint64_t raw = 0;
            if (m == TSR_DF11_GROUP) {
                raw = ld_global((const unsigned long long *)(a.raw + p0)); /* p0 % 8 == 0, section 16-byte aligned */
            } else {
                for (int j = 0; j < m; j++) raw |= (uint64_t)ld_global(a.raw + p0 + j) << (8 * j);
            }
            uint32_t w[4];
            if (m == TSR_DF11_GROUP) df11_pair_group<1, STAGE_WORDS != 0>(&rd, lut, a.code_bits, raw, m, w);
            else df11_pair_group<0, STAGE_WORDS != 0>(&rd, lut, a.code_bits, raw, m, w);
            bad = rd.nbits < 0;
            if (bad) break;
            const uint64_t lo = w[0] | (uint64_t)w[1] << 32, hi = w[2] | (uint64_t)w[3] << 32;
            /* 8 elements inside one tensor at a 16-byte-aligned address */
            int found = df11_find(a, &t, p0, &d);
            uint16_t *dst = found && d.ptr ? d.ptr + (p0 - d.offset) : NULL;
            if (m == TSR_DF11_GROUP && dst && p0 + 8 <= d.offset + d.count && (uintptr_t)dst % 16 == 0) {
                st_global((uint4 *)dst, make_uint4(w[0], w[1], w[2], w[3]));
            } else {
                for (int j = 0; j < m; j++)
                    df11_store_one(a, &t, p0 + j, (uint16_t)(j < 4 ? lo >> (16 * j) : hi >> (16 * (j - 4))));
            }
        }
    }
    /* a lane whose codes end before or after its substream does is as bad as an invalid code */
    if (!bad) bad = !df11_pair_done(&rd);
    if (bad) df11_report(a.status, (unsigned)chunk, (unsigned)lane);
    return !__any_sync(0xffffffffu, bad);
}

/* STAGE_WORDS: 0, or TSR_DF11_STAGE_WORDS for the staged decoder (above). */
template <int STAGE_WORDS>
__global__ void __launch_bounds__(TSR_DF11_WARPS * 32, TSR_DF11_MIN_BLOCKS) df11_decode_kernel(tsr_df11_launch_args_t a)
{
    TSR_STATIC_SMEM(uint32_t, lut, 1 << TSR_DF11_MAX_CODE_BITS);
    TSR_STATIC_SMEM(uint32_t, stage, STAGE_WORDS ? TSR_DF11_WARPS * STAGE_WORDS : 4);
    TSR_STATIC_SMEM(df11_table_scratch_t, scratch, 1);
    df11_load_table(a, lut, scratch);
    __syncthreads();
    const uint64_t stride = (uint64_t)gridDim.x * TSR_DF11_WARPS;
    uint32_t *mine = stage + (threadIdx.x / 32) * STAGE_WORDS;
    for (uint64_t chunk = (uint64_t)blockIdx.x * TSR_DF11_WARPS + threadIdx.x / 32; chunk < a.chunks; chunk += stride)
        if (!df11_decode_chunk<STAGE_WORDS>(a, lut, mine, chunk, chunk + stride)) return;
}

/* As many blocks as fit the GPU at once (every SM the same number), or fewer
 * when there are fewer chunks: chunk c goes to warp c mod (grid * 8), so each
 * SM gets the same share of every round. (Shrinking the grid to make every
 * warp's round count equal would leave some SMs a block more than others.) */
template <int STAGE_WORDS> static cudaError_t df11_launch(const tsr_df11_launch_args_t *a, cudaStream_t stream)
{
    int per_sm = 0;
    cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, (const void *)df11_decode_kernel<STAGE_WORDS>,
                                                                  TSR_DF11_WARPS * 32, 0);
    if (e != cudaSuccess) return e;
    const uint64_t need = (a->chunks + TSR_DF11_WARPS - 1) / TSR_DF11_WARPS;
    const uint64_t fit = (uint64_t)(per_sm > 0 ? per_sm : 1) * (uint64_t)(a->sm_count > 0 ? a->sm_count : 1);
    dim3 grid((unsigned)(need < fit ? need : fit)), block(TSR_DF11_WARPS * 32);
    return TSR_LAUNCH(df11_decode_kernel<STAGE_WORDS>, grid, block, 0, stream, *a);
}

extern "C" cudaError_t tsr_df11_launch_decode(const tsr_df11_launch_args_t *a, cudaStream_t stream)
{
    return a->stage_codes ? df11_launch<TSR_DF11_STAGE_WORDS>(a, stream) : df11_launch<0>(a, stream);
}
