/* See df11_ref.h. */
#include "df11_ref.h"

#include <math.h>
#include <string.h>

static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint16_t ref_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

void ref_bf16_gaussian(uint16_t *out, size_t n, double sigma, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++) {
        double u1 = ((next(rng) >> 11) + 1.0) / 9007199254740993.0, u2 = (next(rng) >> 11) / 9007199254740992.0;
        out[i] = ref_f32_to_bf16((float)(sigma * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2)));
    }
}

double ref_df11_entropy_bound_bytes(const uint16_t *v, size_t n)
{
    double hist[256] = {0}, h = 0;
    for (size_t i = 0; i < n; i++) hist[(v[i] >> 7) & 0xff] += 1;
    for (int s = 0; s < 256; s++)
        if (hist[s] > 0) h -= hist[s] / n * log2(hist[s] / n);
    return n * (8 + h) / 8;
}

/* FNV-1a 64 over 8-byte little-endian words, then the tail bytes (the spec's checksum) */
static uint64_t fnv(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
    }
    for (; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Header fields per docs/formats/df11.md: sections at byte 48, 24 bytes each
 * {offset, bytes, fnv}; tensor-table checksum at 168; header checksum at 176. */
void ref_df11_reseal(unsigned char *c, size_t bytes)
{
    /* the fields may be garbage (the fuzzer reseals mutated inputs): only
     * checksums of ranges inside the buffer are recomputed */
    if (bytes < 184) return;
    uint32_t header_bytes;
    memcpy(&header_bytes, c + 12, 4);
    if (header_bytes >= 184 && header_bytes <= bytes) {
        uint64_t h = fnv(c + 184, header_bytes - 184);
        memcpy(c + 168, &h, 8);
    }
    for (int i = 0; i < 5; i++) {
        uint64_t off, len;
        memcpy(&off, c + 48 + 24 * i, 8);
        memcpy(&len, c + 56 + 24 * i, 8);
        if (off <= bytes && len <= bytes - off) {
            uint64_t h = fnv(c + off, len);
            memcpy(c + 64 + 24 * i, &h, 8);
        }
    }
    uint64_t h = fnv(c, 176);
    memcpy(c + 176, &h, 8);
}

int ref_df11_movable_lane(const unsigned char *lb)
{
    int l = 0;
    while (l < 30 && (lb[l] == 0 || lb[l] == 255 || lb[l + 1] == 0 || lb[l + 1] == 255)) l++;
    return l;
}
