/* The DFloat11 container and stream as code: constants, the element order of
 * the parallel decoder, and the bit reader with its table-driven symbol
 * decode, shared by the encoder, the CPU decoder and the GPU kernel so that
 * both decoders are the same algorithm. docs/formats/df11.md says it in words.
 * Plain C, valid C++/CUDA. */
#ifndef TESSERA_CSRC_DF11_FORMAT_H
#define TESSERA_CSRC_DF11_FORMAT_H

#include <stdint.h>

#include "layout.h" /* TSR_HD */

#define TSR_DF11_VERSION_1 1u
#define TSR_DF11_HEADER_FIXED 184u /* bytes before the tensor table */
#define TSR_DF11_SECTIONS 5        /* raw, lut, chunk_base, lane_words, stream */
#define TSR_DF11_MAX_CODE_BITS 12  /* codes are length-limited so one lookup decodes */

/* A warp decodes one chunk: 32 lanes x 128 steps x 8 symbols. Lane L's step s
 * covers the 8 consecutive elements starting at 8*(32 s + L), so at every step
 * the warp writes 512 contiguous bytes of bf16 with 16-byte stores, while each
 * lane reads its own codes from its own substream. */
#define TSR_DF11_LANES 32
#define TSR_DF11_GROUP 8
#define TSR_DF11_STEPS 128
#define TSR_DF11_CHUNK (TSR_DF11_LANES * TSR_DF11_GROUP * TSR_DF11_STEPS)

/* Element index of symbol j of lane `lane` at step `step` of chunk `chunk`. */
TSR_HD uint64_t tsr_df11_position(uint64_t chunk, int step, int lane, int j)
{
    return chunk * (uint64_t)TSR_DF11_CHUNK + ((uint64_t)step * TSR_DF11_LANES + (uint64_t)lane) * TSR_DF11_GROUP + (uint64_t)j;
}

/* bf16 = sign | 8-bit exponent | 7-bit mantissa. The raw byte keeps sign and
 * mantissa (sign in bit 7), the code stream the exponent. */
TSR_HD uint8_t tsr_df11_raw_byte(uint16_t v) { return (uint8_t)(((v >> 8) & 0x80) | (v & 0x7f)); }
TSR_HD uint8_t tsr_df11_exponent(uint16_t v) { return (uint8_t)((v >> 7) & 0xff); }
TSR_HD uint16_t tsr_df11_join(uint8_t raw, uint8_t exponent)
{
    return (uint16_t)(((uint16_t)(raw & 0x80) << 8) | ((uint16_t)exponent << 7) | (raw & 0x7f));
}

/* A lane's substream: 32-bit words, codes MSB-first within each word value.
 * buf holds nbits valid bits at its top. */
typedef struct tsr_df11_bits {
    uint64_t buf;
    int nbits;
    const uint32_t *next, *end;
} tsr_df11_bits_t;

TSR_HD void tsr_df11_bits_init(tsr_df11_bits_t *b, const uint32_t *words, uint32_t count)
{
    b->buf = 0;
    b->nbits = 0;
    b->next = words;
    b->end = words + count;
}

/* Decodes one exponent through the lookup table: entry = symbol | length << 8
 * for every index whose top `length` bits are the symbol's code; 0 marks an
 * index no code starts. Returns the exponent, or -1 for an invalid code or a
 * code running past the substream's end (never reads past it). */
TSR_HD int tsr_df11_decode_symbol(tsr_df11_bits_t *b, const uint16_t *lut, int code_bits)
{
    while (b->nbits <= 32 && b->next < b->end) {
        b->buf |= (uint64_t)(*b->next++) << (32 - b->nbits);
        b->nbits += 32;
    }
    uint16_t e = lut[b->buf >> (64 - code_bits)];
    int len = e >> 8;
    if (len == 0 || len > b->nbits) return -1;
    b->buf <<= len;
    b->nbits -= len;
    return e & 0xff;
}

#endif
