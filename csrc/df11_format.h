/* The DFloat11 container and stream as code: constants, the element order of
 * the parallel decoder, and the bit reader with its table-driven symbol
 * decode, shared by the encoder, the CPU decoder and (constants and element
 * order) the GPU kernel, whose reader does the same work a pair of codes at a
 * time (cuda/df11). docs/formats/df11.md says it in words.
 * Plain C, valid C++/CUDA. */
#ifndef TESSERA_CSRC_DF11_FORMAT_H
#define TESSERA_CSRC_DF11_FORMAT_H

#include <stdint.h>

#include "layout.h" /* TSR_HD */

#define TSR_DF11_VERSION 3u
#define TSR_DF11_HEADER_FIXED 184u /* bytes before the tensor table */
#define TSR_DF11_SECTIONS 5        /* raw, lengths, chunks, lane_bits, stream */
#define TSR_DF11_MAX_CODE_BITS 12  /* codes are length-limited so one lookup decodes */
/* The code section: one byte per exponent, its code length (0: absent); the
 * decoders rebuild the canonical code and its lookup table from it. */
#define TSR_DF11_LENGTHS_BYTES 256u

/* A warp decodes one chunk: 32 lanes x `steps` steps x 8 symbols. Lane L's
 * step s covers the 8 consecutive elements starting at 8*(32 s + L), so at
 * every step the warp writes 512 contiguous bytes of bf16 with 16-byte
 * stores, while each lane reads its own codes from its own substream. steps
 * is a power of two in 1..128 chosen by the encoder (the container's header
 * says which): shorter chunks give more warps for small streams, at 1 byte of
 * lane length per 8 * steps codes. */
#define TSR_DF11_LANES 32
#define TSR_DF11_GROUP 8
/* A chunk record: its first stream bit in bits 0..47, the shortest of its
 * lanes in bits (the base the lane table's entries add to) in bits 48..63. */
#define TSR_DF11_CHUNK_BIT_MASK ((UINT64_C(1) << 48) - 1)

/* Element index of symbol j of lane `lane` at step `step` of chunk `chunk`. */
TSR_HD uint64_t tsr_df11_position(uint64_t chunk, int steps, int step, int lane, int j)
{
    return (chunk * (uint64_t)steps + (uint64_t)step) * (TSR_DF11_LANES * TSR_DF11_GROUP) + (uint64_t)lane * TSR_DF11_GROUP + (uint64_t)j;
}

/* bf16 = sign | 8-bit exponent | 7-bit mantissa. The raw byte keeps sign and
 * mantissa (sign in bit 7), the code stream the exponent. */
TSR_HD uint8_t tsr_df11_raw_byte(uint16_t v) { return (uint8_t)(((v >> 8) & 0x80) | (v & 0x7f)); }
TSR_HD uint8_t tsr_df11_exponent(uint16_t v) { return (uint8_t)((v >> 7) & 0xff); }
TSR_HD uint16_t tsr_df11_join(uint8_t raw, uint8_t exponent)
{
    return (uint16_t)(((uint16_t)(raw & 0x80) << 8) | ((uint16_t)exponent << 7) | (raw & 0x7f));
}

/* The stream: one sequence of codes, most significant bit first, packed into
 * u32 word values from the top bit down; lane after lane, chunk after chunk,
 * with no padding between lanes. A lane's substream is `bits` bits from bit
 * `start`. The reader holds nbits valid bits at the top of buf and never
 * loads a word outside the lane's [start >> 5, (start + bits + 31) >> 5). */
typedef struct tsr_df11_bits {
    uint64_t buf;
    int nbits;
    uint32_t left; /* the lane's bits not yet consumed */
    const uint32_t *next, *end;
} tsr_df11_bits_t;

TSR_HD void tsr_df11_bits_init(tsr_df11_bits_t *b, const uint32_t *stream, uint64_t start, uint32_t bits)
{
    b->buf = 0;
    b->nbits = 0;
    b->left = bits;
    b->next = stream + (start >> 5);
    b->end = stream + ((start + bits + 31) >> 5);
    if (b->next < b->end && (start & 31)) { /* the first word starts inside the lane before */
        b->buf = (uint64_t)(*b->next++) << (32 + (start & 31));
        b->nbits = 32 - (int)(start & 31);
    }
}

/* Decodes one exponent through the lookup table: entry = symbol | length << 8
 * for every index whose top `length` bits are the symbol's code; 0 marks an
 * index no code starts. Returns the exponent, or -1 for an invalid code or a
 * code running past the lane's end (never reads past it). */
TSR_HD int tsr_df11_decode_symbol(tsr_df11_bits_t *b, const uint16_t *lut, int code_bits)
{
    while (b->nbits <= 32 && b->next < b->end) {
        b->buf |= (uint64_t)(*b->next++) << (32 - b->nbits);
        b->nbits += 32;
    }
    uint16_t e = lut[b->buf >> (64 - code_bits)];
    uint32_t len = e >> 8;
    if (len == 0 || len > b->left) return -1;
    b->buf <<= len;
    b->nbits -= (int)len;
    b->left -= len;
    return e & 0xff;
}

#endif
