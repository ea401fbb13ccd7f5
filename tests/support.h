/* Test support shared by the suites: seeded random numbers, device buffers,
 * poisoning, and the rule that a gpu-labelled suite skips (77) with no device. */
#ifndef TESSERA_TESTS_SUPPORT_H
#define TESSERA_TESTS_SUPPORT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <setjmp.h>
#include <math.h>
#ifdef __cplusplus
extern "C" {
#endif
#include <cmocka.h>
#ifdef __cplusplus
}
#endif
#include <cuda_runtime_api.h>

/* splitmix64: small, seedable, and the same on every platform. */
static inline uint64_t tsr_test_rand_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* Uniform in [-1, 1). */
static inline double tsr_test_rand_unit(uint64_t *state)
{
    return (double)(tsr_test_rand_u64(state) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* The seed: TSR_TEST_SEED if set, otherwise from the clock; always printed so a
 * failure can be replayed. */
static inline uint64_t tsr_test_seed(const char *suite)
{
    const char *e = getenv("TSR_TEST_SEED");
    uint64_t s = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL);
    printf("[%s] seed %llu (replay with TSR_TEST_SEED=%llu)\n", suite, (unsigned long long)s, (unsigned long long)s);
    return s;
}

#define TSR_TEST_CUDA(call)                                                                        \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) fail_msg("%s failed: %s", #call, cudaGetErrorName(e_));             \
    } while (0)

/* Exit code 77 is ctest's SKIP_RETURN_CODE for the gpu label. */
static inline int tsr_test_device_or_skip(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        (void)cudaGetLastError();
        printf("no CUDA device: skipping this gpu suite\n");
        return 0;
    }
    return 1;
}

#endif
