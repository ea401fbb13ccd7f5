/* W4A16 dequantisation in registers: a packed word (csrc/w4a16_format.h) to
 * four 16-bit register pairs with a few bit operations and no int->float
 * conversion. One definition for the GEMM kernels (w4a16_gemm.cu) and the
 * dense dequantisation (w4a16_pack.cu), so that both produce the same bits. */
#ifndef TSR_W4A16_DEQUANT_CUH
#define TSR_W4A16_DEQUANT_CUH

#include "common/device.cuh"

/* ---- 16-bit pair arithmetic on raw register bits ---------------------------- */
/* Applies op (0 subtract, 1 multiply) to two registers read as half2 or
 * bfloat162; memcpy is how the bits change type without aliasing trouble. */
template <typename T2, int Op> TSR_DEVICE uint32_t h2_apply(uint32_t a, uint32_t b)
{
    T2 x, y, z;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    z = Op == 0 ? __hsub2(x, y) : __hmul2(x, y);
    uint32_t r;
    memcpy(&r, &z, 4);
    return r;
}
template <int BF16> TSR_DEVICE uint32_t h2_sub(uint32_t a, uint32_t b)
{
    return BF16 ? h2_apply<__nv_bfloat162, 0>(a, b) : h2_apply<__half2, 0>(a, b);
}
template <int BF16> TSR_DEVICE uint32_t h2_mul(uint32_t a, uint32_t b)
{
    return BF16 ? h2_apply<__nv_bfloat162, 1>(a, b) : h2_apply<__half2, 1>(a, b);
}
TSR_DEVICE uint32_t h2_fma_f16(uint32_t a, uint32_t b, uint32_t c)
{
    __half2 x, y, z, w;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    memcpy(&z, &c, 4);
    w = __hfma2(x, y, z);
    uint32_t r;
    memcpy(&r, &w, 4);
    return r;
}

/* (a & b) | c in one lop3: the truth table of a=0xF0, b=0xCC, c=0xAA. */
#define TSR_LUT_AND_OR ((0xF0 & 0xCC) | 0xAA)

/* ---- dequantisation ------------------------------------------------------------
 * One packed word holds four register pairs (csrc/w4a16_format.h): pair i is
 * nibbles (i, i+4) and feeds n8 tile i/2, B register i%2.
 * fp16: OR-ing a nibble v into the mantissa of 0x6400 (1024.0, ulp 1) gives
 * exactly 1024+v; a nibble four bits up gives 1024+16v, and an FMA by 1/16
 * (0x2c00) gives 64+v. Subtracting 1024+z (or adding -(64+z)) leaves the exact
 * integer v-z, so the zero point costs no extra instruction, and one multiply
 * applies the scale. Folding the scale into the same FMA, (1024+v)*s - (1024+z)*s,
 * would cancel two large rounded terms and lose up to half a scale; so two
 * operations per pair it is.
 * bf16 has 7 mantissa bits: 0x4300 (128.0, ulp 1) takes a low nibble only, so
 * each pair is shifted down first. */
template <int BF16, int SCALE = 1>
TSR_DEVICE void dequant_word(uint32_t w, const uint32_t zlo[2], const uint32_t zhi[2], const uint32_t s[2], uint32_t b[2][2])
{
    /* v - z, exact small integers; then the scale, unless the caller applies
     * it after the mma in fp32 (SCALE = 0, configuration 6) */
    uint32_t d[2][2];
    if (BF16) {
#pragma unroll
        for (int i = 0; i < 4; i++)
            d[i >> 1][i & 1] = h2_sub<1>(lop3<TSR_LUT_AND_OR>(w >> (4 * i), 0x000f000fu, 0x43004300u), zlo[i >> 1]);
    } else {
        const uint32_t one_16th = 0x2c002c00u, w8 = w >> 8;
        d[0][0] = h2_sub<0>(lop3<TSR_LUT_AND_OR>(w, 0x000f000fu, 0x64006400u), zlo[0]);
        d[0][1] = h2_fma_f16(lop3<TSR_LUT_AND_OR>(w, 0x00f000f0u, 0x64006400u), one_16th, zhi[0]);
        d[1][0] = h2_sub<0>(lop3<TSR_LUT_AND_OR>(w8, 0x000f000fu, 0x64006400u), zlo[1]);
        d[1][1] = h2_fma_f16(lop3<TSR_LUT_AND_OR>(w8, 0x00f000f0u, 0x64006400u), one_16th, zhi[1]);
    }
#pragma unroll
    for (int i = 0; i < 4; i++) b[i >> 1][i & 1] = SCALE ? h2_mul<BF16>(d[i >> 1][i & 1], s[i >> 1]) : d[i >> 1][i & 1];
}

/* The constants a zero point z becomes, as 16-bit pairs (bit patterns, exact):
 * fp16 1024+z = 0x6400|z and -(64+z) = 0xd400|z<<4; bf16 128+z = 0x4300|z. */
template <int BF16> TSR_DEVICE void zero_constants(int z, uint32_t *zlo, uint32_t *zhi)
{
    uint32_t lo = BF16 ? (0x4300u | (uint32_t)z) : (0x6400u | (uint32_t)z);
    uint32_t hi = 0xd400u | ((uint32_t)z << 4);
    *zlo = lo | (lo << 16);
    *zhi = hi | (hi << 16);
}

#endif
