/* Internal helpers shared by every dispatcher in csrc/: the error machinery,
 * CUDA call checks, NVTX ranges and the handle's layout. Not installed. */
#ifndef TESSERA_CSRC_INTERNAL_H
#define TESSERA_CSRC_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>
#include <cuda_runtime_api.h>

#include "tessera/tessera.h"
#include "tessera/tuning.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TSR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TSR_PRINTF(f, a)
#endif

/* Records "fmt..." as this thread's last error and returns status, so that a
 * check reads `return tsr_fail(TSR_STATUS_..., "w4a16: k=%d must ...", k);`. */
tsr_status_t tsr_fail(tsr_status_t status, const char *fmt, ...) TSR_PRINTF(2, 3);
/* Clears the message; every public entry point calls it first. */
void tsr_clear_error(void);
/* Turns a CUDA error into TSR_STATUS_CUDA_ERROR with "what: cudaErrorX (text)". */
tsr_status_t tsr_fail_cuda(cudaError_t err, const char *what);

/* Evaluates a CUDA runtime call; on failure returns from the enclosing function. */
#define TSR_CUDA_TRY(call)                                          \
    do {                                                            \
        cudaError_t tsr_err_ = (call);                              \
        if (tsr_err_ != cudaSuccess) return tsr_fail_cuda(tsr_err_, #call); \
    } while (0)

/* Rule checks that name the argument, its value and the rule. */
#define TSR_CHECK_PTR(fn, ptr)                                                     \
    do {                                                                           \
        if ((ptr) == NULL)                                                         \
            return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: %s is NULL; it must point to valid memory", fn, #ptr); \
    } while (0)
#define TSR_CHECK_ALIGN(fn, ptr, bytes)                                            \
    do {                                                                           \
        if (((uintptr_t)(ptr)) % (bytes) != 0)                                     \
            return tsr_fail(TSR_STATUS_MISALIGNED_POINTER, "%s: %s=%p must be aligned to %d bytes", fn, #ptr, (const void *)(ptr), (int)(bytes)); \
    } while (0)

struct tsr_handle {
    tsr_device_info_t info;
    /* TSR_W4A16_CONFIG=<id> read at creation: forces a W4A16 configuration
     * (benchmarks, and tuning until the tuning cache exists); -1 = heuristic. */
    int w4a16_forced_config;
    int w4a16_forced_blocks_per_sm; /* TSR_W4A16_BLOCKS_PER_SM at create, for measuring the grid rule; 0: the rule */
    int df11_stage_codes;           /* 1 (default): the staged DF11 decoder; TSR_DF11_STAGE_CODES=0 at create: codes from global memory */
    /* W4A16 prefill route (tsr_w4a16_set_prefill; tsr_w4a16_prefill_t,
     * AUTO at create) and the cuBLAS handle it needs, released through
     * release_blas so that this file needs no cuBLAS */
    int w4a16_prefill;
    int w4a16_dense_slab_cols; /* TSR_W4A16_DENSE_SLAB_COLS at create (tests, sweeps): the slab width; 0: the rule */
    int w4a16_programmatic;    /* tsr_w4a16_set_programmatic_launch; 0 at create */
    void *blas;
    void (*release_blas)(void *blas);
    /* The tuning cache's entries for this device and versions (csrc/tuning.c). */
    tsr_tuning_entry_t *tuning;
    int tuning_count;
};

/* (Re)loads h->tuning from the cache file; a bad file is quarantined, never fatal. */
void tsr_tuning_load(struct tsr_handle *h);

/* NVTX ranges in the "tessera" domain around every public call that launches
 * work; compiled out with TESSERA_NVTX=OFF. */
void tsr_nvtx_push(const char *name);
void tsr_nvtx_pop(void);

#ifdef __cplusplus
}
#endif
#endif
