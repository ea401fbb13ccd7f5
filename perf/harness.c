/* Benchmark harness: see harness.h. Units: µs for time, GB/s = 1e9 bytes/s,
 * TFLOP/s = 1e12 flop/s, everywhere. */
#include "harness.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nvtx3/nvToolsExt.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define BENCH_CUDA(call)                                                                    \
    do {                                                                                    \
        cudaError_t e_ = (call);                                                            \
        if (e_ != cudaSuccess) {                                                            \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            return -1;                                                                      \
        }                                                                                   \
    } while (0)

/* Sorts the n per-call times and fills out's median, min and max. */
static void stats_of(double *us, int n, bench_stats_t *out)
{
    qsort(us, (size_t)n, sizeof *us, cmp_double);
    out->samples = n;
    out->min_us = us[0];
    out->max_us = us[n - 1];
    out->median_us = n % 2 ? us[n / 2] : 0.5 * (us[n / 2 - 1] + us[n / 2]);
}

int bench_time_back_to_back(const char *label, bench_fn fn, void *ctx, int warmup, int batches, int per_batch,
                            cudaStream_t stream, bench_stats_t *out)
{
    if (batches < 1 || per_batch < 1) return -1;
    for (int i = 0; i < warmup; i++)
        if (fn(ctx, i, stream)) return -1;
    BENCH_CUDA(cudaStreamSynchronize(stream));
    cudaEvent_t *ev = malloc(sizeof *ev * 2 * (size_t)batches);
    double *us = malloc(sizeof *us * (size_t)batches);
    if (!ev || !us) return -1;
    for (int i = 0; i < 2 * batches; i++) BENCH_CUDA(cudaEventCreate(&ev[i]));
    nvtxRangePushA(label);
    for (int b = 0; b < batches; b++) {
        BENCH_CUDA(cudaEventRecord(ev[2 * b], stream));
        for (int i = 0; i < per_batch; i++)
            if (fn(ctx, warmup + b * per_batch + i, stream)) return -1;
        BENCH_CUDA(cudaEventRecord(ev[2 * b + 1], stream));
    }
    BENCH_CUDA(cudaStreamSynchronize(stream));
    nvtxRangePop();
    for (int b = 0; b < batches; b++) {
        float ms = 0;
        BENCH_CUDA(cudaEventElapsedTime(&ms, ev[2 * b], ev[2 * b + 1]));
        us[b] = ms * 1e3 / per_batch;
    }
    for (int i = 0; i < 2 * batches; i++) cudaEventDestroy(ev[i]);
    stats_of(us, batches, out);
    free(ev);
    free(us);
    return 0;
}

/* One call between each pair of events: batches of one. */
int bench_time(const char *label, bench_fn fn, void *ctx, int warmup, int samples, cudaStream_t stream,
               bench_stats_t *out)
{
    return bench_time_back_to_back(label, fn, ctx, warmup, samples, 1, stream, out);
}

typedef struct copy_ctx {
    void *src, *dst;
    size_t bytes;
} copy_ctx_t;

static int copy_once(void *p, int i, cudaStream_t s)
{
    (void)i;
    copy_ctx_t *c = p;
    return cudaMemcpyAsync(c->dst, c->src, c->bytes, cudaMemcpyDeviceToDevice, s) != cudaSuccess;
}

double bench_copy_bandwidth_gbs(cudaStream_t stream)
{
    /* TSR_BENCH_COPY_MB: a smaller buffer for runs on the CPU emulation */
    const char *mb = getenv("TSR_BENCH_COPY_MB");
    copy_ctx_t c = {NULL, NULL, (size_t)(mb && atoi(mb) > 0 ? atoi(mb) : 1024) << 20};
    if (cudaMalloc(&c.src, c.bytes) != cudaSuccess || cudaMalloc(&c.dst, c.bytes) != cudaSuccess) return -1;
    cudaMemsetAsync(c.src, 1, c.bytes, stream);
    bench_stats_t st;
    double gbs = -1;
    if (bench_time("copy bandwidth", copy_once, &c, 3, 15, stream, &st) == 0)
        gbs = 2.0 * (double)c.bytes / (st.median_us * 1e-6) / 1e9;
    cudaFree(c.src);
    cudaFree(c.dst);
    return gbs;
}

int bench_rotation(size_t bytes, int l2_bytes)
{
    size_t need = 2 * (size_t)(l2_bytes > 0 ? l2_bytes : 50 << 20);
    size_t n = (need + bytes - 1) / bytes;
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

int bench_fill_random_b16(void *dev, size_t count, int bf16, unsigned long long seed)
{
    uint16_t *h = malloc(count * 2);
    if (!h) return -1;
    unsigned long long s = seed;
    for (size_t i = 0; i < count; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        float f = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
        uint32_t u;
        memcpy(&u, &f, 4);
        if (bf16) h[i] = (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
        else { /* f in [-1,1): normal range, exponent fits; truncation is fine for test data */
            uint32_t sign = (u >> 16) & 0x8000;
            int e = (int)((u >> 23) & 0xff) - 127 + 15;
            h[i] = e <= 0 ? (uint16_t)sign : (uint16_t)(sign | ((uint32_t)e << 10) | ((u >> 13) & 0x3ff));
        }
    }
    cudaError_t e = cudaMemcpy(dev, h, count * 2, cudaMemcpyHostToDevice);
    free(h);
    return e != cudaSuccess;
}

int bench_report_init(bench_report_t *r, tsr_handle_t h, double copy_gbs)
{
    memset(r, 0, sizeof *r);
    if (tsr_get_device_info(h, &r->device)) return -1;
    r->copy_gbs = copy_gbs;
    const char *c = getenv("TSR_COMMIT");
    snprintf(r->commit, sizeof r->commit, "%s", c ? c : "unknown");
    time_t t = time(NULL);
    strftime(r->date, sizeof r->date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    return 0;
}

void bench_report_add(bench_report_t *r, const bench_row_t *row)
{
    if (r->count == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 64;
        r->rows = realloc(r->rows, sizeof *r->rows * (size_t)r->cap);
    }
    r->rows[r->count++] = *row;
}

void bench_report_markdown(const bench_report_t *r, FILE *f)
{
    fprintf(f, "device: %s (cc %d.%d, %d SMs, L2 %d MB), driver %d, runtime %d, commit %s, %s\n",
            r->device.name, r->device.cc_major, r->device.cc_minor, r->device.sm_count, r->device.l2_bytes >> 20,
            r->device.driver_version, r->device.runtime_version, r->commit, r->date);
    fprintf(f, "copy bandwidth measured in this run: %.0f GB/s (read + write)\n\n", r->copy_gbs);
    fprintf(f, "| op | shape (m,n,k) | dtype | config | median µs | min µs | max µs | GB/s | %% of copy | TFLOP/s | peer | peer µs | speedup |\n");
    fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < r->count; i++) {
        const bench_row_t *w = &r->rows[i];
        double gbs = w->bytes / (w->median_us * 1e-6) / 1e9;
        double tf = w->flops / (w->median_us * 1e-6) / 1e12;
        fprintf(f, "| %s | %s | %s | %s | %.2f | %.2f | %.2f | %.0f | %.1f | %.2f | %s | ", w->op, w->shape, w->dtype,
                w->config, w->median_us, w->min_us, w->max_us, gbs, 100.0 * gbs / r->copy_gbs, tf, w->peer);
        if (w->peer_us > 0) fprintf(f, "%.2f | %.2fx |\n", w->peer_us, w->peer_us / w->median_us);
        else fprintf(f, "- | - |\n");
    }
}

int bench_report_json(const bench_report_t *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "{\n  \"device\": {\"name\": \"%s\", \"cc\": \"%d.%d\", \"sms\": %d, \"l2_bytes\": %d, \"clock_khz\": %d, "
               "\"mem_clock_khz\": %d, \"driver\": %d, \"runtime\": %d},\n",
            r->device.name, r->device.cc_major, r->device.cc_minor, r->device.sm_count, r->device.l2_bytes,
            r->device.clock_khz, r->device.mem_clock_khz, r->device.driver_version, r->device.runtime_version);
    fprintf(f, "  \"commit\": \"%s\", \"date\": \"%s\", \"copy_gbs\": %.1f,\n  \"rows\": [\n", r->commit, r->date, r->copy_gbs);
    for (int i = 0; i < r->count; i++) {
        const bench_row_t *w = &r->rows[i];
        fprintf(f, "    {\"op\": \"%s\", \"shape\": \"%s\", \"dtype\": \"%s\", \"config\": \"%s\", \"median_us\": %.3f, "
                   "\"min_us\": %.3f, \"max_us\": %.3f, \"bytes\": %.0f, \"flops\": %.0f, \"peer\": \"%s\", \"peer_us\": %.3f}%s\n",
                w->op, w->shape, w->dtype, w->config, w->median_us, w->min_us, w->max_us, w->bytes, w->flops, w->peer,
                w->peer_us, i + 1 < r->count ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    return fclose(f);
}

void bench_report_free(bench_report_t *r) { free(r->rows); }
