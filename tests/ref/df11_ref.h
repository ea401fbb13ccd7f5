/* Test support for DFloat11: bf16 data generators, the exponent entropy bound,
 * and re-sealing a deliberately corrupted container's checksums (from the spec,
 * docs/formats/df11.md) so that decoders meet corruption the parser cannot see. */
#ifndef TESSERA_TESTS_REF_DF11_REF_H
#define TESSERA_TESTS_REF_DF11_REF_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

uint16_t ref_f32_to_bf16(float f); /* round to nearest even, NaN kept quiet */
/* Gaussian-like weights N(0, sigma) as bf16, from a seed. */
void ref_bf16_gaussian(uint16_t *out, size_t n, double sigma, uint64_t *rng);
/* Bytes of the bound: n * (8 + H(exponents)) / 8, H the empirical entropy. */
double ref_df11_entropy_bound_bytes(const uint16_t *v, size_t n);
/* Recomputes the table, section and header checksums in place, for the
 * ranges the header names that lie inside the buffer. */
void ref_df11_reseal(unsigned char *container, size_t bytes);
/* A lane L of chunk 0 whose one-byte lane-table entry and the next lane's can
 * both move by one bit either way (entries L and L+1 in 1..254), for tests
 * that move a bit between neighbouring lanes; lane_bits: the lane table. */
int ref_df11_movable_lane(const unsigned char *lane_bits);

#ifdef __cplusplus
}
#endif
#endif
