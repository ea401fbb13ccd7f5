/* The benchmark harness every tessera benchmark uses: CUDA-event timing of
 * single launches after a warm-up, medians, the copy bandwidth measured in
 * the same run as the roofline, cuBLAS as the dense baseline, NVTX ranges,
 * and results as a markdown table plus JSON with the device description. */
#ifndef TESSERA_PERF_HARNESS_H
#define TESSERA_PERF_HARNESS_H

#include <stddef.h>
#include <stdio.h>

#include <cuda_runtime_api.h>

#include "tessera/tessera.h"

/* One timed operation: `run(ctx, i)` enqueues the i-th call (rotate buffers by
 * i) on `stream`. */
typedef int (*bench_fn)(void *ctx, int i, cudaStream_t stream);

typedef struct bench_stats {
    double median_us, min_us, max_us;
    int samples;
} bench_stats_t;

/* Warm-up calls, then `samples` launches each between its own pair of events;
 * returns 0 on success. The NVTX range `label` wraps the timed part. */
int bench_time(const char *label, bench_fn fn, void *ctx, int warmup, int samples, cudaStream_t stream,
               bench_stats_t *out);

/* Back to back: `batches` pairs of events, each around `per_batch` calls
 * enqueued with nothing between them (as a decode loop or a CUDA graph runs
 * them, so one call's launch overlaps the previous one's tail); the stats are
 * of the per-call time of each batch (its time / per_batch). Compared with
 * bench_time, the difference is what a call costs only when it runs alone. */
int bench_time_back_to_back(const char *label, bench_fn fn, void *ctx, int warmup, int batches, int per_batch,
                            cudaStream_t stream, bench_stats_t *out);

/* Device-to-device copy of a large buffer: bytes read + written per second, GB/s. */
double bench_copy_bandwidth_gbs(cudaStream_t stream);

/* How many copies of a buffer of `bytes` make at least 2x the L2 cache. */
int bench_rotation(size_t bytes, int l2_bytes);

/* Fresh uniform [-1, 1) 16-bit floats on the device (f16 or bf16), from a seed. */
int bench_fill_random_b16(void *dev, size_t count, int bf16, unsigned long long seed);

/* A result row. Fields not measured are negative. */
typedef struct bench_row {
    char op[32], shape[64], dtype[8], config[32], peer[32];
    double median_us, min_us, max_us;
    double bytes, flops;
    double peer_us; /* the peer's median in the same run */
} bench_row_t;

typedef struct bench_report {
    tsr_device_info_t device;
    double copy_gbs;
    char commit[64], date[32];
    bench_row_t *rows;
    int count, cap;
} bench_report_t;

int bench_report_init(bench_report_t *r, tsr_handle_t h, double copy_gbs);
void bench_report_add(bench_report_t *r, const bench_row_t *row);
void bench_report_markdown(const bench_report_t *r, FILE *f);
int bench_report_json(const bench_report_t *r, const char *path);
void bench_report_free(bench_report_t *r);

#endif
