/* Test support shared by the suites: seeded random numbers, device buffers,
 * poisoning, and the rule that a gpu-labelled suite skips (77) with no device. */
#ifndef TESSERA_TESTS_SUPPORT_H
#define TESSERA_TESTS_SUPPORT_H

/* C suites are built with -D_DEFAULT_SOURCE (tests/CMakeLists.txt): mkdtemp,
 * setenv, popen are POSIX, not C11. */
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

/* A fresh directory under /tmp named prefix_XXXXXX, written into dir; 0 on success. */
static inline int tsr_test_make_tmpdir(char *dir, size_t cap, const char *prefix)
{
    snprintf(dir, cap, "/tmp/%s_XXXXXX", prefix);
    return mkdtemp(dir) ? 0 : -1;
}
static inline int tsr_test_remove_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A call failed with `want` and tsr_last_error() contains `needle`
 * (tessera/tessera.h must be included). */
#define TSR_EXPECT_ERROR(call, want, needle)                                                             \
    do {                                                                                                 \
        tsr_status_t got_ = (call);                                                                      \
        if (got_ != (want))                                                                              \
            fail_msg("%s: status %s, want %s (%s)", #call, tsr_status_string(got_), tsr_status_string(want), \
                     tsr_last_error());                                                                  \
        if (!strstr(tsr_last_error(), (needle))) fail_msg("%s: message '%s' lacks '%s'", #call, tsr_last_error(), (needle)); \
    } while (0)

/* Fills the key fields of a W4A16 f16 g128 tuning entry (the device fields are
 * the caller's). Used only where tessera/tuning.h is included. */
#ifdef TESSERA_TUNING_H
static inline void tsr_test_w4a16_key(tsr_tuning_entry_t *e, int n, int k, int m, int config)
{
    snprintf(e->op, sizeof e->op, "w4a16");
    snprintf(e->dtype, sizeof e->dtype, "f16");
    e->group = 128;
    e->n = n;
    e->k = k;
    e->m_bucket = tsr_tuning_m_bucket(m);
    e->config = config;
}
#endif

#endif
