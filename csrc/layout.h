/* The shared tiling/packing layer: tensor-core fragment layouts, written once
 * and used by every host packer, by the CPU emulation of the instructions and
 * (through the same inline functions) by device code. Each function maps
 * (lane, element index) to (row, column) exactly as the PTX ISA's "Matrix
 * Fragments" sections state it; tests/test_layout.c checks them against
 * entries worked by hand from those figures. Plain C, also valid C++/CUDA. */
#ifndef TESSERA_CSRC_LAYOUT_H
#define TESSERA_CSRC_LAYOUT_H

#if defined(__CUDACC__)
#define TSR_HD __host__ __device__ __forceinline__
#else
#define TSR_HD static inline
#endif

/* groupID and threadID_in_group, the PTX ISA's names for lane>>2 and lane%4. */
#define TSR_GROUP(lane) ((lane) >> 2)
#define TSR_TIG(lane) ((lane) & 3)

/* mma.m16n8k16 .f16/.bf16, matrix A (16x16, row-major fragment):
 * four .f16x2 registers, elements a0..a7 (a0,a1 in register 0, low half first). */
TSR_HD void tsr_frag_m16n8k16_a(int lane, int i, int *row, int *col)
{
    *row = TSR_GROUP(lane) + (((i >> 1) & 1) ? 8 : 0);
    *col = TSR_TIG(lane) * 2 + (i & 1) + (i >= 4 ? 8 : 0);
}

/* mma.m16n8k16 matrix B (16x8, "col"): two .f16x2 registers, b0..b3. */
TSR_HD void tsr_frag_m16n8k16_b(int lane, int i, int *row, int *col)
{
    *row = TSR_TIG(lane) * 2 + (i & 1) + (i >= 2 ? 8 : 0);
    *col = TSR_GROUP(lane);
}

/* mma.m16n8k16 matrix C/D (16x8, f32): c0..c3. */
TSR_HD void tsr_frag_m16n8k16_c(int lane, int i, int *row, int *col)
{
    *row = TSR_GROUP(lane) + (i >= 2 ? 8 : 0);
    *col = TSR_TIG(lane) * 2 + (i & 1);
}

/* mma.sp m16n8k32 .f16/.bf16, matrix A: the 16x16 matrix of kept values (two of
 * every four along k) in the m16n8k16 A layout; column kc of it is the kept
 * value number kc%2 of chunk kc/2 of its row. */
TSR_HD void tsr_frag_sp_m16n8k32_a(int lane, int i, int *row, int *kept_col)
{
    tsr_frag_m16n8k16_a(lane, i, row, kept_col);
}

/* mma.sp m16n8k32 matrix B (32x8): four .f16x2 registers, b0..b7, the k16
 * layout repeated every 8 rows of k. */
TSR_HD void tsr_frag_sp_m16n8k32_b(int lane, int i, int *row, int *col)
{
    *row = TSR_TIG(lane) * 2 + (i & 1) + 8 * (i >> 1);
    *col = TSR_GROUP(lane);
}

/* mma.sp m16n8k32 metadata. Each row of A has 8 chunks of 4 along k; a chunk's
 * two kept positions (0..3, ascending) take 4 bits, first index in the low 2
 * bits. A quad (4 lanes with one groupID) covers rows g and g+8, 64 bits, so two
 * lanes of it supply metadata: sparsity selector s picks lanes 2s and 2s+1.
 * Lane 2s+j holds chunks 4j..4j+3 of row g in bits 0..15 (chunk 4j lowest) and
 * the same chunks of row g+8 in bits 16..31.
 * Returns 0 when `lane` supplies no metadata under `selector`; otherwise sets the
 * row and first chunk of nibble `nibble` (0..7). */
TSR_HD int tsr_frag_sp_m16n8k32_meta(int lane, int selector, int nibble, int *row, int *chunk)
{
    int j = TSR_TIG(lane) - 2 * selector;
    if (j < 0 || j > 1) return 0;
    *row = TSR_GROUP(lane) + (nibble >= 4 ? 8 : 0);
    *chunk = 4 * j + (nibble & 3);
    return 1;
}

/* ldmatrix .m8n8 .b16: lanes 8j..8j+7 give the row addresses of matrix j; lane
 * L receives, in register j, the b16 pair at row L/4, columns 2(L%4) and
 * 2(L%4)+1 of matrix j. With .trans it receives column L/4, rows 2(L%4), +1. */
TSR_HD void tsr_frag_ldmatrix(int lane, int half, int trans, int *row, int *col)
{
    if (!trans) {
        *row = lane >> 2;
        *col = (lane & 3) * 2 + half;
    } else {
        *row = (lane & 3) * 2 + half;
        *col = lane >> 2;
    }
}

/* XOR swizzle of 16-byte chunks in a shared-memory tile whose rows hold
 * `row_chunks` chunks (a power of two >= 8). ldmatrix reads eight 16-byte rows
 * per phase; without the swizzle, rows 128 bytes apart hit the same 4 banks and
 * serialise 8-fold. XORing the chunk index with the row's low three bits puts
 * those eight rows on eight different bank groups. */
TSR_HD int tsr_swizzle_chunk(int row, int chunk, int row_chunks)
{
    (void)row_chunks;
    return chunk ^ (row & 7);
}

/* The four shared-memory bank groups (16 bytes = 4 banks) one 16-byte chunk
 * covers start at bank 4*(chunk % 8) when a row is a multiple of 128 bytes. */
TSR_HD int tsr_bank_group(int row, int chunk, int row_chunks)
{
    return (row * row_chunks + chunk) & 7;
}

#endif
