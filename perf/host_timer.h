/* Wall-clock timing of host code (one CPU core), for the benchmarks that time
 * the host side: a monotonic clock and the median of n runs. Header-only and
 * CUDA-free, so that a benchmark needing no GPU links no harness. */
#ifndef TESSERA_PERF_HOST_TIMER_H
#define TESSERA_PERF_HOST_TIMER_H
#include <stdlib.h>
#include <time.h>

/* Seconds on the monotonic clock (needs _POSIX_C_SOURCE >= 199309L). */
static inline double host_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static inline int host_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (n >= 1, odd for a true median); sorts v. */
static inline double host_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], host_cmp_double);
    return v[n / 2];
}
#endif
