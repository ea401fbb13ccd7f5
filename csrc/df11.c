/* DFloat11 host side: the encoder (length-limited canonical Huffman of the
 * exponents), the container writer and its validating parser, file I/O, the
 * CPU decoder. The GPU decoder's dispatcher is df11_gpu.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df11_format.h"
#include "df11_internal.h"
#include "internal.h"
#include "tessera/df11.h"

static const char k_magic[8] = {'T', 'S', 'R', 'D', 'F', '1', '1', 0};

/* The container's checksum: FNV-1a 64 taken over 8-byte little-endian words
 * (then the tail bytes one by one), eight times fewer multiplies than bytewise
 * FNV, which kept the encoder under its speed target. */
static uint64_t fnv1a64(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
    }
    for (; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t align16(uint64_t x) { return (x + 15) & ~(uint64_t)15; }

/* ---- code construction ------------------------------------------------------
 * Huffman code lengths for the exponent histogram, limited to
 * TSR_DF11_MAX_CODE_BITS so that one table lookup decodes any code. Lengths
 * come from a plain Huffman merge; an over-long tree is then reshaped by the
 * method of JPEG (ITU T.81, Annex K.2): repeatedly take two leaves from the
 * deepest level and hang them under a leaf moved down from a shallower level,
 * which keeps the Kraft sum at 1. Symbols then get the lengths in order of
 * falling frequency. The cost is a tiny fraction of a bit per symbol: only
 * symbols rarer than about 2^-12 are affected. */
static void code_lengths(const uint64_t hist[256], uint8_t len[256])
{
    int sym[256], n = 0;
    memset(len, 0, 256);
    for (int s = 0; s < 256; s++)
        if (hist[s]) sym[n++] = s;
    if (n == 0) return;
    if (n == 1) { /* one symbol still needs a one-bit code */
        len[sym[0]] = 1;
        return;
    }
    /* Huffman by repeated merging of the two lightest nodes (n <= 256). */
    uint64_t w[512];
    int parent[512], alive[512], nodes = n;
    for (int i = 0; i < n; i++) {
        w[i] = hist[sym[i]];
        alive[i] = 1;
        parent[i] = -1;
    }
    for (int merges = 0; merges < n - 1; merges++) {
        int a = -1, b = -1;
        for (int i = 0; i < nodes; i++) {
            if (!alive[i]) continue;
            if (a < 0 || w[i] < w[a]) {
                b = a;
                a = i;
            } else if (b < 0 || w[i] < w[b]) {
                b = i;
            }
        }
        w[nodes] = w[a] + w[b];
        alive[nodes] = 1;
        parent[nodes] = -1;
        alive[a] = alive[b] = 0;
        parent[a] = parent[b] = nodes;
        nodes++;
    }
    int count[64] = {0};
    for (int i = 0; i < n; i++) {
        int d = 0;
        for (int p = i; parent[p] >= 0; p = parent[p]) d++;
        count[d < 63 ? d : 63]++;
    }
    for (int i = 63; i > TSR_DF11_MAX_CODE_BITS; i--)
        while (count[i] > 0) {
            int j = i - 2;
            while (count[j] == 0) j--;
            count[i] -= 2;
            count[i - 1] += 1;
            count[j + 1] += 2;
            count[j] -= 1;
        }
    /* most frequent first (ties by symbol, so the result is deterministic) */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && (hist[sym[j]] > hist[sym[j - 1]] || (hist[sym[j]] == hist[sym[j - 1]] && sym[j] < sym[j - 1])); j--) {
            int t = sym[j];
            sym[j] = sym[j - 1];
            sym[j - 1] = t;
        }
    int k = 0;
    for (int l = 1; l <= TSR_DF11_MAX_CODE_BITS; l++)
        for (int c = 0; c < count[l]; c++) len[sym[k++]] = (uint8_t)l;
}

/* Canonical codes from the code lengths: by length, then by exponent, each
 * the previous plus one. Fills code[] and the lookup table lut[2^code_bits]
 * (exponent | length << 8, 0 where no code is a prefix of the index) where
 * they are not NULL. 0 when the lengths are a complete prefix code whose
 * longest code has code_bits bits (one exponent alone: a 1-bit code; none at
 * all: code_bits 1), else -1; whatever the lengths, nothing outside lut is
 * written (a length past code_bits counts as absent, a code past the last of
 * its length is dropped). The container stores only the lengths (version 3):
 * both decoders rebuild the table. */
static int canonical_codes(const uint8_t len[256], int code_bits, uint16_t code[256], uint16_t *lut)
{
    if (lut) memset(lut, 0, sizeof(uint16_t) << code_bits);
    /* the Kraft sum in units of 2^-code_bits: complete codes (Huffman's,
     * length-limited too) make it exactly 1 */
    int ok = 1, longest = 0, codes = 0;
    uint32_t kraft = 0;
    for (int s = 0; s < 256; s++) {
        if (len[s] > code_bits) {
            ok = 0;
        } else if (len[s]) {
            if (len[s] > longest) longest = len[s];
            kraft += 1u << (code_bits - len[s]);
            codes++;
        }
    }
    uint32_t next = 0;
    for (int l = 1; l <= code_bits; l++) {
        for (int s = 0; s < 256; s++) {
            if (len[s] != l) continue;
            if (next >= 1u << l) { /* Kraft sum above 1: no room for this code */
                ok = 0;
                continue;
            }
            if (code) code[s] = (uint16_t)next;
            if (lut) {
                uint32_t first = next << (code_bits - l), span = 1u << (code_bits - l);
                for (uint32_t i = 0; i < span; i++) lut[first + i] = (uint16_t)(s | (l << 8));
            }
            next++;
        }
        next <<= 1;
    }
    if (longest ? longest != code_bits : code_bits != 1) ok = 0;
    /* complete, but for one exponent alone: its 1-bit code */
    if (codes == 1 ? longest != 1 : codes > 1 && kraft != 1u << code_bits) ok = 0;
    return ok ? 0 : -1;
}

/* ---- the container header ---------------------------------------------------- */
typedef struct section {
    uint64_t offset, bytes, fnv;
} section_t;

typedef struct header {
    uint32_t version, header_bytes;
    uint64_t total_bytes, symbols;
    uint32_t tensors, code_bits, chunks;
    uint16_t steps;             /* of a chunk */
    uint8_t lane_bytes, zero;   /* lane table entries: 1 or 2 bytes */
    section_t sec[TSR_DF11_SECTIONS];
    uint64_t table_fnv, header_fnv;
} header_t;

static void put(unsigned char *base, size_t *off, const void *p, size_t n)
{
    memcpy(base + *off, p, n);
    *off += n;
}

static void write_header(unsigned char *out, const header_t *h)
{
    size_t off = 0;
    put(out, &off, k_magic, 8);
    put(out, &off, &h->version, 4);
    put(out, &off, &h->header_bytes, 4);
    put(out, &off, &h->total_bytes, 8);
    put(out, &off, &h->symbols, 8);
    put(out, &off, &h->tensors, 4);
    put(out, &off, &h->code_bits, 4);
    put(out, &off, &h->chunks, 4);
    put(out, &off, &h->steps, 2);
    put(out, &off, &h->lane_bytes, 1);
    put(out, &off, &h->zero, 1);
    for (int i = 0; i < TSR_DF11_SECTIONS; i++) {
        put(out, &off, &h->sec[i].offset, 8);
        put(out, &off, &h->sec[i].bytes, 8);
        put(out, &off, &h->sec[i].fnv, 8);
    }
    put(out, &off, &h->table_fnv, 8);
    uint64_t hf = fnv1a64(out, off);
    put(out, &off, &hf, 8);
}

/* ---- encoder -------------------------------------------------------------------- */
/* The chunk length rule and the chunk count it gives, for the encoder, the
 * parser and the check of a caller's info alike. */
static int valid_steps(uint64_t steps) { return steps >= 1 && steps <= TSR_DF11_MAX_CHUNK_STEPS && (steps & (steps - 1)) == 0; }
static uint64_t chunk_count(uint64_t symbols, uint64_t steps)
{
    const uint64_t chunk_elems = (uint64_t)TSR_DF11_LANES * TSR_DF11_GROUP * steps;
    return (symbols + chunk_elems - 1) / chunk_elems;
}

/* The sizes the header fields give sections 0..3 (raw, lengths, chunks,
 * lane_bits), for the parser and the check of a caller's info alike. */
static void section_sizes(uint64_t symbols, uint64_t chunks, uint32_t lane_bytes, uint64_t bytes[4])
{
    bytes[0] = symbols;
    bytes[1] = TSR_DF11_LENGTHS_BYTES; /* version 2 stored a lookup table of 2 << code_bits bytes */
    bytes[2] = chunks * 8;
    bytes[3] = chunks * TSR_DF11_LANES * lane_bytes;
}

/* Entry i (= 32 chunk + lane) of the lane table: the lane's bits minus its
 * chunk's shortest lane's. Any alignment. */
static uint32_t lane_entry(const unsigned char *table, uint32_t lane_bytes, uint64_t i)
{
    if (lane_bytes == 1) return table[i];
    uint16_t d;
    memcpy(&d, table + 2 * i, 2);
    return d;
}

/* Lays h's sections out after the header, in order, each on 16 bytes, with
 * the sizes h's fields give (section_sizes) and stream_bytes for the stream.
 * Returns the container's bytes. The one layout rule, for the encoder's
 * allocation, its chunk-length choice and the container it writes. */
static uint64_t place_sections(header_t *h, uint64_t stream_bytes)
{
    uint64_t sizes[TSR_DF11_SECTIONS];
    section_sizes(h->symbols, h->chunks, h->lane_bytes, sizes);
    sizes[4] = stream_bytes;
    uint64_t off = h->header_bytes;
    for (int i = 0; i < TSR_DF11_SECTIONS; i++) {
        h->sec[i].offset = off;
        h->sec[i].bytes = sizes[i];
        off = align16(off + sizes[i]);
    }
    return off;
}

/* Whether header h's chunks (the short ones) keep the container within
 * TSR_DF11_SHORT_CHUNK_MAX_OVERHEAD of the exponent-entropy bound (a raw byte
 * plus the exponent's entropy per weight), given the exponent counts and code
 * lengths. Counted with one-byte lane lengths: chunks of 32 steps rarely need
 * two (their lanes are 256 codes). */
static int short_chunks_fit(const header_t *h, const uint64_t hist[256], const uint8_t len[256])
{
    if (!h->symbols) return 0;
    double entropy_bits = 0;
    uint64_t stream_bits = 0;
    for (int e = 0; e < 256; e++) {
        if (!hist[e]) continue;
        entropy_bits -= (double)hist[e] * log2((double)hist[e] / (double)h->symbols);
        stream_bits += hist[e] * len[e];
    }
    const double bound = (double)h->symbols + entropy_bits / 8;
    header_t one_byte_lanes = *h;
    one_byte_lanes.lane_bytes = 1;
    return (double)place_sections(&one_byte_lanes, (stream_bits + 31) / 32 * 4) <= (1 + TSR_DF11_SHORT_CHUNK_MAX_OVERHEAD) * bound;
}

tsr_status_t tsr_df11_encode(const tsr_df11_tensor_t *tensors, int count, void **container, size_t *bytes)
{
    return tsr_df11_encode_with(tensors, count, NULL, container, bytes);
}

tsr_status_t tsr_df11_encode_with(const tsr_df11_tensor_t *tensors, int count, const tsr_df11_encode_options_t *options,
                                  void **container, size_t *bytes)
{
    const char *fn = "tsr_df11_encode";
    tsr_clear_error();
    TSR_CHECK_PTR(fn, container);
    TSR_CHECK_PTR(fn, bytes);
    *container = NULL;
    *bytes = 0;
    /* automatic: room for the short chunks now, the choice once the code is known */
    const int automatic = !options || !options->chunk_steps;
    uint32_t steps = automatic ? TSR_DF11_SHORT_CHUNK_STEPS : (uint32_t)options->chunk_steps;
    if (options && (options->chunk_steps < 0 || !valid_steps(steps)))
        return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: options->chunk_steps=%d must be 0 (automatic: %d or %d) or a power of two in 1..%d",
                        fn, options->chunk_steps, TSR_DF11_SHORT_CHUNK_STEPS, TSR_DF11_DEFAULT_CHUNK_STEPS, TSR_DF11_MAX_CHUNK_STEPS);
    if (count < 0 || (count > 0 && !tensors))
        return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: count=%d with tensors=%p", fn, count, (const void *)tensors);
    uint64_t symbols = 0, table_bytes = 0;
    for (int t = 0; t < count; t++) {
        const tsr_df11_tensor_t *x = &tensors[t];
        size_t nl = x->name ? strlen(x->name) : 0;
        if (nl > TSR_DF11_MAX_NAME)
            return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: tensors[%d].name is %zu bytes; at most %d", fn, t, nl, TSR_DF11_MAX_NAME);
        if (x->ndim < 0 || x->ndim > TSR_DF11_MAX_DIMS)
            return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: tensors[%d].ndim=%d must be in 0..%d", fn, t, x->ndim, TSR_DF11_MAX_DIMS);
        uint64_t c = 1;
        for (int d = 0; d < x->ndim; d++) {
            if (x->dims[d] < 0)
                return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: tensors[%d].dims[%d]=%lld is negative", fn, t, d, (long long)x->dims[d]);
            if (x->dims[d] && c > (UINT64_C(1) << 40) / (uint64_t)x->dims[d])
                return tsr_fail(TSR_STATUS_UNSUPPORTED_SHAPE, "%s: tensors[%d] has more than 2^40 elements", fn, t);
            c *= (uint64_t)x->dims[d];
        }
        if (c && !x->data) return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: tensors[%d].data is NULL", fn, t);
        symbols += c;
        table_bytes += 2 + nl + 2 + 8u * (uint64_t)x->ndim + 16;
    }
    if (symbols > (UINT64_C(1) << 40)) return tsr_fail(TSR_STATUS_UNSUPPORTED_SHAPE, "%s: more than 2^40 elements in all", fn);

    /* The container is written in place. Its size is bounded once the codes are
     * known; it is allocated for the bound (untouched pages cost nothing) and
     * trimmed at the end. The raw section comes first so that pass 1 can write
     * it directly: its offset depends only on the header. */
    header_t h;
    memset(&h, 0, sizeof h);
    h.version = TSR_DF11_VERSION;
    h.header_bytes = (uint32_t)align16(TSR_DF11_HEADER_FIXED + table_bytes);
    h.symbols = symbols;
    h.tensors = (uint32_t)count;
    uint64_t chunks = chunk_count(symbols, steps);
    if (chunks > UINT32_MAX) return tsr_fail(TSR_STATUS_UNSUPPORTED_SHAPE, "%s: %llu chunks of %u steps; at most 2^32 - 1", fn,
                                             (unsigned long long)chunks, steps);
    h.chunks = (uint32_t)chunks;
    h.steps = (uint16_t)steps;
    h.lane_bytes = 1; /* 2 when some chunk's lanes differ by more than 255 bits (below) */
    header_t most = h; /* the longest codes and two-byte lane lengths */
    most.code_bits = TSR_DF11_MAX_CODE_BITS;
    most.lane_bytes = 2;
    const uint64_t bound = place_sections(&most, (symbols * TSR_DF11_MAX_CODE_BITS + 31) / 32 * 4);
    unsigned char *out = malloc(bound);
    uint8_t *exps = malloc(symbols ? symbols : 1);
    uint16_t *lane_len = malloc(chunks ? chunks * TSR_DF11_LANES * 2 : 1); /* each lane's bits */
    if (!out || !exps || !lane_len) {
        free(out);
        free(exps);
        free(lane_len);
        return tsr_fail(TSR_STATUS_OUT_OF_MEMORY, "%s: %llu bytes for the container", fn, (unsigned long long)bound);
    }
    memset(out, 0, h.header_bytes);
    uint8_t *raw = out + h.header_bytes;

    /* Pass 1: split every element into its raw byte and exponent and count the
     * exponents, in four histograms so that runs of one exponent do not
     * serialise on a single counter. */
    uint64_t hist4[4][256], hist[256] = {0}, pos = 0;
    memset(hist4, 0, sizeof hist4);
    for (int t = 0; t < count; t++) {
        uint64_t c = 1;
        for (int d = 0; d < tensors[t].ndim; d++) c *= (uint64_t)tensors[t].dims[d];
        const uint16_t *v = tensors[t].data;
        uint64_t i = 0;
        for (; i + 4 <= c; i += 4, pos += 4)
            for (int k = 0; k < 4; k++) {
                uint16_t x = v[i + (uint64_t)k];
                uint8_t e = tsr_df11_exponent(x);
                raw[pos + (uint64_t)k] = tsr_df11_raw_byte(x);
                exps[pos + (uint64_t)k] = e;
                hist4[k][e]++;
            }
        for (; i < c; i++, pos++) {
            raw[pos] = tsr_df11_raw_byte(v[i]);
            exps[pos] = tsr_df11_exponent(v[i]);
            hist4[0][exps[pos]]++;
        }
    }
    for (int e = 0; e < 256; e++) hist[e] = hist4[0][e] + hist4[1][e] + hist4[2][e] + hist4[3][e];

    uint8_t len[256];
    uint16_t code[256] = {0};
    code_lengths(hist, len);
    int code_bits = 1;
    for (int s = 0; s < 256; s++)
        if (len[s] > code_bits) code_bits = len[s];
    h.code_bits = (uint32_t)code_bits;
    if (automatic && !short_chunks_fit(&h, hist, len)) {
        /* the longer chunks: fewer records and lane lengths (the buffers
         * were sized for the shorter ones) */
        steps = TSR_DF11_DEFAULT_CHUNK_STEPS;
        chunks = chunk_count(symbols, steps);
        h.chunks = (uint32_t)chunks;
        h.steps = (uint16_t)steps;
    }
    place_sections(&h, 0); /* one-byte lane lengths until a chunk needs two; the stream's size comes last */
    memcpy(out + h.sec[1].offset, len, TSR_DF11_LENGTHS_BYTES);
    uint64_t *chunk_rec = (uint64_t *)(out + h.sec[2].offset);
    uint32_t *stream = (uint32_t *)(out + h.sec[4].offset);
    canonical_codes(len, code_bits, code, NULL);
    uint32_t cl[256]; /* code | length << 16: one load per symbol */
    for (int e = 0; e < 256; e++) cl[e] = code[e] | ((uint32_t)len[e] << 16);

    /* Pass 2: the stream, lane after lane with no padding between them, chunk
     * by chunk (a chunk's exponents stay in cache while its lanes stride
     * through them). */
    uint64_t words = 0, acc = 0, stream_bits = 0;
    int nacc = 0;
    for (uint64_t c = 0; c < chunks; c++) {
        uint32_t shortest = UINT32_MAX, longest = 0;
        uint64_t chunk_start = stream_bits;
        for (int lane = 0; lane < TSR_DF11_LANES; lane++) {
            uint32_t lane_bits = 0;
            for (uint32_t step = 0; step < steps; step++) {
                uint64_t p0 = tsr_df11_position(c, (int)steps, (int)step, lane, 0);
                if (p0 >= symbols) break;
                int m = symbols - p0 < TSR_DF11_GROUP ? (int)(symbols - p0) : TSR_DF11_GROUP;
                const uint8_t *ex = exps + p0;
                for (int j = 0; j < m; j++) {
                    uint32_t x = cl[ex[j]];
                    int l = (int)(x >> 16);
                    acc = (acc << l) | (x & 0xffff);
                    nacc += l;
                    lane_bits += (uint32_t)l;
                    if (nacc >= 32) {
                        stream[words++] = (uint32_t)(acc >> (nacc - 32));
                        nacc -= 32;
                    }
                }
            }
            lane_len[c * TSR_DF11_LANES + (uint64_t)lane] = (uint16_t)lane_bits; /* <= 128 * 8 * 12 */
            stream_bits += lane_bits;
            if (lane_bits < shortest) shortest = lane_bits;
            if (lane_bits > longest) longest = lane_bits;
        }
        if (longest - shortest > 255) h.lane_bytes = 2;
        chunk_rec[c] = chunk_start | (uint64_t)shortest << 48;
    }
    if (nacc > 0) stream[words++] = (uint32_t)(acc << (32 - nacc));
    free(exps);
    /* the final layout; with two-byte lane lengths (rare: lanes of one chunk
     * far apart) the stream moves up */
    const uint64_t stream_at = h.sec[4].offset, off = place_sections(&h, words * 4);
    if (h.sec[4].offset != stream_at) memmove(out + h.sec[4].offset, out + stream_at, words * 4);
    for (uint64_t c = 0; c < chunks; c++) {
        uint32_t shortest = (uint32_t)(chunk_rec[c] >> 48);
        for (uint64_t i = c * TSR_DF11_LANES; i < (c + 1) * TSR_DF11_LANES; i++) {
            uint16_t d = (uint16_t)(lane_len[i] - shortest);
            if (h.lane_bytes == 1) out[h.sec[3].offset + i] = (uint8_t)d;
            else memcpy(out + h.sec[3].offset + 2 * i, &d, 2);
        }
    }
    free(lane_len);
    h.total_bytes = off;
    /* zero the alignment gaps, so that equal input gives equal bytes */
    for (int i = 0; i < TSR_DF11_SECTIONS; i++) {
        uint64_t end = h.sec[i].offset + h.sec[i].bytes, next = i + 1 < TSR_DF11_SECTIONS ? h.sec[i + 1].offset : off;
        memset(out + end, 0, next - end);
        h.sec[i].fnv = fnv1a64(out + h.sec[i].offset, h.sec[i].bytes);
    }
    size_t toff = TSR_DF11_HEADER_FIXED;
    uint64_t eoff = 0;
    for (int t = 0; t < count; t++) {
        const tsr_df11_tensor_t *x = &tensors[t];
        uint16_t nl = (uint16_t)(x->name ? strlen(x->name) : 0);
        uint8_t nd = (uint8_t)x->ndim, pad = 0;
        uint64_t c = 1;
        for (int d = 0; d < x->ndim; d++) c *= (uint64_t)x->dims[d];
        put(out, &toff, &nl, 2);
        if (nl) put(out, &toff, x->name, nl);
        put(out, &toff, &nd, 1);
        put(out, &toff, &pad, 1);
        for (int d = 0; d < x->ndim; d++) put(out, &toff, &x->dims[d], 8);
        put(out, &toff, &eoff, 8);
        put(out, &toff, &c, 8);
        eoff += c;
    }
    h.table_fnv = fnv1a64(out + TSR_DF11_HEADER_FIXED, h.header_bytes - TSR_DF11_HEADER_FIXED);
    write_header(out, &h);
    unsigned char *trimmed = realloc(out, off);
    if (trimmed) out = trimmed;
    *container = out;
    *bytes = off;
    return TSR_STATUS_SUCCESS;
}

/* ---- parser: every field is checked before anything is used ------------------- */
#define CORRUPT(...) return tsr_fail(TSR_STATUS_CORRUPT_DATA, __VA_ARGS__)

static tsr_status_t parse_impl(const unsigned char *in, size_t n, tsr_df11_info_t *info)
{
    const char *fn = "tsr_df11_parse";
    if (n < TSR_DF11_HEADER_FIXED) CORRUPT("%s: %zu bytes; a container has at least %u", fn, n, TSR_DF11_HEADER_FIXED);
    if (memcmp(in, k_magic, 8)) CORRUPT("%s: bad magic (not a tessera DFloat11 container)", fn);
    header_t h;
    size_t off = 8;
#define GET(field, sz) (memcpy(&(field), in + off, sz), off += sz)
    GET(h.version, 4);
    GET(h.header_bytes, 4);
    GET(h.total_bytes, 8);
    GET(h.symbols, 8);
    GET(h.tensors, 4);
    GET(h.code_bits, 4);
    GET(h.chunks, 4);
    GET(h.steps, 2);
    GET(h.lane_bytes, 1);
    GET(h.zero, 1);
    for (int i = 0; i < TSR_DF11_SECTIONS; i++) {
        GET(h.sec[i].offset, 8);
        GET(h.sec[i].bytes, 8);
        GET(h.sec[i].fnv, 8);
    }
    GET(h.table_fnv, 8);
    GET(h.header_fnv, 8);
#undef GET
    if (h.version != TSR_DF11_VERSION) CORRUPT("%s: version %u; this build reads version %u", fn, h.version, TSR_DF11_VERSION);
    if (fnv1a64(in, TSR_DF11_HEADER_FIXED - 8) != h.header_fnv) CORRUPT("%s: header checksum mismatch", fn);
    if (h.total_bytes != n) CORRUPT("%s: header says %llu bytes, %zu given (truncated?)", fn, (unsigned long long)h.total_bytes, n);
    if (h.header_bytes < TSR_DF11_HEADER_FIXED || h.header_bytes % 16 || h.header_bytes > n)
        CORRUPT("%s: header_bytes=%u invalid", fn, h.header_bytes);
    if (h.code_bits < 1 || h.code_bits > TSR_DF11_MAX_CODE_BITS) CORRUPT("%s: code_bits=%u not in 1..%d", fn, h.code_bits, TSR_DF11_MAX_CODE_BITS);
    if (h.symbols > (UINT64_C(1) << 40)) CORRUPT("%s: %llu symbols", fn, (unsigned long long)h.symbols);
    if (!valid_steps(h.steps)) CORRUPT("%s: steps=%u not a power of two in 1..%d", fn, h.steps, TSR_DF11_MAX_CHUNK_STEPS);
    if ((h.lane_bytes != 1 && h.lane_bytes != 2) || h.zero) CORRUPT("%s: lane_bytes=%u (1 or 2), byte 47=%u (0)", fn, h.lane_bytes, h.zero);
    if (h.chunks != chunk_count(h.symbols, h.steps))
        CORRUPT("%s: chunks=%u does not match %llu symbols in chunks of %u steps", fn, h.chunks, (unsigned long long)h.symbols,
                h.steps);
    if (fnv1a64(in + TSR_DF11_HEADER_FIXED, h.header_bytes - TSR_DF11_HEADER_FIXED) != h.table_fnv)
        CORRUPT("%s: tensor table checksum mismatch", fn);
    /* sections: in order, aligned, inside, of the sizes the header implies */
    uint64_t want[TSR_DF11_SECTIONS];
    section_sizes(h.symbols, h.chunks, h.lane_bytes, want);
    want[4] = UINT64_MAX; /* the stream: checked against the lanes below */
    uint64_t prev_end = h.header_bytes;
    for (int i = 0; i < TSR_DF11_SECTIONS; i++) {
        const section_t *s = &h.sec[i];
        if (s->offset % 16 || s->offset < prev_end || s->offset > n || s->bytes > n - s->offset)
            CORRUPT("%s: section %d (offset %llu, %llu bytes) lies outside the container or overlaps", fn, i,
                    (unsigned long long)s->offset, (unsigned long long)s->bytes);
        if (want[i] != UINT64_MAX && s->bytes != want[i])
            CORRUPT("%s: section %d has %llu bytes, expected %llu", fn, i, (unsigned long long)s->bytes, (unsigned long long)want[i]);
        if (fnv1a64(in + s->offset, s->bytes) != s->fnv) CORRUPT("%s: section %d checksum mismatch", fn, i);
        prev_end = s->offset + s->bytes;
    }
    if (h.sec[4].bytes % 4) CORRUPT("%s: stream of %llu bytes is not whole words", fn, (unsigned long long)h.sec[4].bytes);
    /* code lengths: a complete prefix code whose longest code has code_bits bits */
    if (canonical_codes(in + h.sec[1].offset, (int)h.code_bits, NULL, NULL))
        CORRUPT("%s: the code lengths are not a complete prefix code with code_bits=%u as its longest", fn, h.code_bits);
    /* substreams: each chunk starting where the lanes before it end, the
     * lanes filling the stream's words (all but at most 31 bits of the last) */
    uint64_t bits = 0, stream_words = h.sec[4].bytes / 4;
    for (uint32_t c = 0; c < h.chunks; c++) {
        uint64_t rec;
        memcpy(&rec, in + h.sec[2].offset + 8ull * c, 8);
        if ((rec & TSR_DF11_CHUNK_BIT_MASK) != bits)
            CORRUPT("%s: chunk %u starts at bit %llu, expected %llu", fn, c, (unsigned long long)(rec & TSR_DF11_CHUNK_BIT_MASK),
                    (unsigned long long)bits);
        for (int l = 0; l < TSR_DF11_LANES; l++) {
            bits += (rec >> 48) + lane_entry(in + h.sec[3].offset, h.lane_bytes, (uint64_t)c * TSR_DF11_LANES + (uint64_t)l);
        }
    }
    if ((bits + 31) / 32 != stream_words)
        CORRUPT("%s: lanes hold %llu bits, the stream %llu words", fn, (unsigned long long)bits, (unsigned long long)stream_words);

    /* tensor table */
    if (h.tensors > (h.header_bytes - TSR_DF11_HEADER_FIXED) / 4) CORRUPT("%s: %u tensors cannot fit the table", fn, h.tensors);
    memset(info, 0, sizeof *info);
    info->tensor = calloc(h.tensors ? h.tensors : 1, sizeof *info->tensor);
    if (!info->tensor) return tsr_fail(TSR_STATUS_OUT_OF_MEMORY, "%s: %u tensor records", fn, h.tensors);
    size_t t_off = TSR_DF11_HEADER_FIXED, t_end = h.header_bytes;
    uint64_t elems = 0;
    for (uint32_t t = 0; t < h.tensors; t++) {
        tsr_df11_tensor_info_t *ti = &info->tensor[t];
        uint16_t nl;
        if (t_end - t_off < 2) goto table_short;
        memcpy(&nl, in + t_off, 2);
        t_off += 2;
        if (nl > TSR_DF11_MAX_NAME || t_end - t_off < (size_t)nl + 2) goto table_short;
        memcpy(ti->name, in + t_off, nl);
        ti->name[nl] = 0;
        if (strlen(ti->name) != nl) goto table_bad;
        t_off += nl;
        ti->ndim = in[t_off];
        t_off += 2;
        if (ti->ndim > TSR_DF11_MAX_DIMS || t_end - t_off < 8u * (size_t)ti->ndim + 16) goto table_short;
        uint64_t c = 1;
        for (int d = 0; d < ti->ndim; d++) {
            memcpy(&ti->dims[d], in + t_off, 8);
            t_off += 8;
            if (ti->dims[d] < 0 || (ti->dims[d] && c > (UINT64_C(1) << 40) / (uint64_t)ti->dims[d])) goto table_bad;
            c *= (uint64_t)ti->dims[d];
        }
        memcpy(&ti->offset, in + t_off, 8);
        memcpy(&ti->count, in + t_off + 8, 8);
        t_off += 16;
        if (ti->count != c || ti->offset != elems || c > h.symbols - elems) goto table_bad;
        elems += c;
        continue;
    table_short:
        free(info->tensor);
        info->tensor = NULL;
        CORRUPT("%s: tensor table ends inside tensor %u", fn, t);
    table_bad:
        free(info->tensor);
        info->tensor = NULL;
        CORRUPT("%s: tensor %u has an invalid name, shape or position", fn, t);
    }
    if (elems != h.symbols) {
        free(info->tensor);
        info->tensor = NULL;
        CORRUPT("%s: tensors hold %llu elements, the stream %llu", fn, (unsigned long long)elems, (unsigned long long)h.symbols);
    }
    info->version = h.version;
    info->bytes = n;
    info->symbols = h.symbols;
    info->tensors = h.tensors;
    info->code_bits = h.code_bits;
    info->chunks = h.chunks;
    info->chunk_steps = h.steps;
    info->lane_bytes = h.lane_bytes;
    info->raw_offset = h.sec[0].offset;
    info->lengths_offset = h.sec[1].offset;
    info->chunk_base_offset = h.sec[2].offset;
    info->lane_bits_offset = h.sec[3].offset;
    info->stream_offset = h.sec[4].offset;
    info->stream_words = stream_words;
    return TSR_STATUS_SUCCESS;
}

tsr_status_t tsr_df11_parse(const void *container, size_t bytes, tsr_df11_info_t *info)
{
    const char *fn = "tsr_df11_parse";
    tsr_clear_error();
    TSR_CHECK_PTR(fn, info);
    memset(info, 0, sizeof *info);
    if (bytes && !container) return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: container is NULL with bytes=%zu", fn, bytes);
    return parse_impl(container, bytes, info);
}

void tsr_df11_info_free(tsr_df11_info_t *info)
{
    if (!info) return;
    free(info->tensor);
    info->tensor = NULL;
}

tsr_status_t tsr_df11_write_file(const char *path, const void *container, size_t bytes)
{
    const char *fn = "tsr_df11_write_file";
    tsr_clear_error();
    TSR_CHECK_PTR(fn, path);
    TSR_CHECK_PTR(fn, container);
    FILE *f = fopen(path, "wb");
    if (!f) return tsr_fail(TSR_STATUS_IO_ERROR, "%s: cannot create %s: %s", fn, path, strerror(errno));
    int bad = fwrite(container, 1, bytes, f) != bytes;
    bad |= fclose(f) != 0;
    if (bad) return tsr_fail(TSR_STATUS_IO_ERROR, "%s: writing %zu bytes to %s failed", fn, bytes, path);
    return TSR_STATUS_SUCCESS;
}

tsr_status_t tsr_df11_read_file(const char *path, void **container, size_t *bytes, tsr_df11_info_t *info)
{
    const char *fn = "tsr_df11_read_file";
    tsr_clear_error();
    TSR_CHECK_PTR(fn, path);
    TSR_CHECK_PTR(fn, container);
    TSR_CHECK_PTR(fn, bytes);
    TSR_CHECK_PTR(fn, info);
    *container = NULL;
    *bytes = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return tsr_fail(TSR_STATUS_IO_ERROR, "%s: cannot open %s: %s", fn, path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return tsr_fail(TSR_STATUS_IO_ERROR, "%s: cannot seek %s", fn, path);
    }
    long size = ftell(f);
    rewind(f);
    void *buf = size > 0 ? malloc((size_t)size) : NULL;
    if (size < 0 || (size > 0 && !buf) || (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size)) {
        fclose(f);
        free(buf);
        return tsr_fail(TSR_STATUS_IO_ERROR, "%s: reading %s failed", fn, path);
    }
    fclose(f);
    tsr_status_t st = tsr_df11_parse(buf, (size_t)size, info);
    if (st) {
        free(buf);
        return st;
    }
    *container = buf;
    *bytes = (size_t)size;
    return TSR_STATUS_SUCCESS;
}

/* df11_internal.h: what the CPU and GPU decoders check of an info before trusting it. */
const char *tsr_df11_info_inconsistency(const tsr_df11_info_t *info)
{
    const uint64_t steps = info->chunk_steps, n = info->bytes;
    if (!valid_steps(steps)) return "chunk_steps is not a power of two in 1..128";
    if (info->lane_bytes != 1 && info->lane_bytes != 2) return "lane_bytes is not 1 or 2";
    if (info->code_bits < 1 || info->code_bits > TSR_DF11_MAX_CODE_BITS) return "code_bits is not in 1..12";
    if (info->tensors && !info->tensor) return "has no tensor table";
    if (info->symbols > (UINT64_C(1) << 40) || info->chunks != chunk_count(info->symbols, steps))
        return "chunks does not match symbols and chunk_steps";
    const uint64_t offset[TSR_DF11_SECTIONS] = {info->raw_offset, info->lengths_offset, info->chunk_base_offset, info->lane_bits_offset,
                                                info->stream_offset};
    uint64_t bytes[TSR_DF11_SECTIONS];
    section_sizes(info->symbols, info->chunks, info->lane_bytes, bytes);
    bytes[4] = info->stream_words * 4;
    for (int i = 0; i < TSR_DF11_SECTIONS; i++)
        if (offset[i] % 16 || offset[i] > n || bytes[i] > n - offset[i]) return "has a section outside its bytes";
    uint64_t end = 0;
    for (uint32_t t = 0; t < info->tensors; t++) {
        if (info->tensor[t].offset != end || info->tensor[t].count > info->symbols - end) return "has tensors that do not tile the stream";
        end += info->tensor[t].count;
    }
    return end == info->symbols ? NULL : "has tensors that do not tile the stream";
}

/* ---- CPU decoder: the GPU kernel's algorithm, one lane at a time -------------- */
tsr_status_t tsr_df11_decode_host(const void *container, const tsr_df11_info_t *info, uint16_t *const *dests)
{
    const char *fn = "tsr_df11_decode_host";
    tsr_clear_error();
    TSR_CHECK_PTR(fn, container);
    TSR_CHECK_PTR(fn, info);
    if (info->tensors) TSR_CHECK_PTR(fn, dests);
    const unsigned char *in = container;
    const uint64_t *chunk_rec = (const uint64_t *)(in + info->chunk_base_offset);
    const unsigned char *lane_table = in + info->lane_bits_offset;
    const uint32_t *stream = (const uint32_t *)(in + info->stream_offset);
    const uint8_t *raw = in + info->raw_offset;
    const int steps = (int)info->chunk_steps;
    if ((uintptr_t)in % 16) return tsr_fail(TSR_STATUS_MISALIGNED_POINTER, "%s: container=%p must be 16-byte aligned", fn, container);
    const char *bad = tsr_df11_info_inconsistency(info);
    if (bad) return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: info %s; info must be what tsr_df11_parse filled in", fn, bad);
    uint16_t lut[1 << TSR_DF11_MAX_CODE_BITS];
    if (canonical_codes(in + info->lengths_offset, (int)info->code_bits, NULL, lut))
        return tsr_fail(TSR_STATUS_CORRUPT_DATA, "%s: the code lengths are not a complete prefix code with code_bits=%u as its longest", fn,
                        info->code_bits);
    for (uint64_t c = 0; c < info->chunks; c++) {
        uint64_t start = chunk_rec[c] & TSR_DF11_CHUNK_BIT_MASK;
        for (int lane = 0; lane < TSR_DF11_LANES; lane++) {
            uint32_t nb = (uint32_t)(chunk_rec[c] >> 48) + lane_entry(lane_table, info->lane_bytes, c * TSR_DF11_LANES + (uint64_t)lane);
            tsr_df11_bits_t b;
            tsr_df11_bits_init(&b, stream, start, nb);
            start += nb;
            uint32_t t = 0;
            for (int step = 0; step < steps; step++)
                for (int j = 0; j < TSR_DF11_GROUP; j++) {
                    uint64_t p = tsr_df11_position(c, steps, step, lane, j);
                    if (p >= info->symbols) goto lane_done;
                    int e = tsr_df11_decode_symbol(&b, lut, (int)info->code_bits);
                    if (e < 0) return tsr_fail(TSR_STATUS_CORRUPT_DATA, "%s: invalid code in chunk %llu lane %d at element %llu",
                                               fn, (unsigned long long)c, lane, (unsigned long long)p);
                    while (p >= info->tensor[t].offset + info->tensor[t].count) t++;
                    if (dests[t]) dests[t][p - info->tensor[t].offset] = tsr_df11_join(raw[p], (uint8_t)e);
                }
        lane_done:
            if (b.left)
                return tsr_fail(TSR_STATUS_CORRUPT_DATA, "%s: chunk %llu lane %d leaves %u bits of its substream unread", fn,
                                (unsigned long long)c, lane, b.left);
        }
    }
    return TSR_STATUS_SUCCESS;
}

