/* Host implementations of the instructions behind cuda/common/ptx.cuh, used when
 * a kernel is compiled with -DTSR_EMU. Each follows the PTX ISA's semantics and
 * the fragment layouts of csrc/layout.h. */
#ifndef TESSERA_TESTS_EMU_SIMT_PTX_H
#define TESSERA_TESTS_EMU_SIMT_PTX_H
#include <stdint.h>

void tsr_simt_cp_async(void *dst_smem, const void *src_global, int cp_bytes, int src_bytes);
void tsr_simt_cp_async_commit(void);
void tsr_simt_cp_async_wait(int groups_in_flight);
void tsr_simt_ldmatrix(uint32_t *regs, int count, int trans, const void *row_addr);
void tsr_simt_mma_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4], int bf16);
/* wgmma.mma_async m64nNk16, A from registers (gathered at issue), B through a
 * shared-memory descriptor (128-byte swizzle, K-major only), per warp (warp w
 * of a warpgroup owns rows 16w..16w+15 of A and D); accumulate 0 is scale-d 0.
 * Computed when tsr_simt_wgmma_wait retires its commit group. */
void tsr_simt_wgmma_m64k16_rs(float *d, int n, const uint32_t a[4], uint64_t desc, int bf16, int accumulate);
void tsr_simt_wgmma_commit(void);
void tsr_simt_wgmma_wait(int groups_in_flight);
/* The offset of p in the block's shared memory, as a shared-window address. */
uint32_t tsr_simt_smem_u32(const void *smem_p);
void tsr_simt_mma_sp_m16n8k32(float d[4], const uint32_t a[4], const uint32_t b[4], const float c[4], uint32_t meta,
                              int selector, int bf16);
uint32_t tsr_simt_lop3(uint32_t a, uint32_t b, uint32_t c, unsigned lut);
uint32_t tsr_simt_prmt(uint32_t a, uint32_t b, uint32_t sel);
#endif
