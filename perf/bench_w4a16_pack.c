/* W4A16 packing speed: how long repacking a checkpoint's GPTQ tensors into
 * tessera's layout takes, on one CPU core (tsr_w4a16_pack_host) and on the
 * GPU (tsr_w4a16_pack_device, when there is one), for the four linear layers
 * of one Llama-3 decoder layer (qkv, o, gate_up, down; group 128, asymmetric,
 * with and without act-order). The model's total is that layer's sum times
 * its layer count (80 for 70B, 32 for 8B): an estimate from one layer, which
 * the table says. Why it matters: the issue asks that packing a 70B model
 * does not take minutes; this says how far the host path is from that and
 * what the GPU path takes. Every device blob is compared byte for byte with
 * the host blob before it is timed.
 *   bench_w4a16_pack [--model 8b|70b] [--host-reps N] [--json FILE]
 * Without a GPU it times the host path only and says so in one line. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "host_timer.h"
#include "tessera/w4a16.h"

static uint64_t next_u64(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s ^ (*s >> 29);
}

/* A GPTQ checkpoint tensor of k x n in host memory: random codes and zeros,
 * scales in [2^-10, 2^-7) (f16), and for act-order a g_idx that shuffles the
 * rows' groups (every group keeps group_size rows). */
typedef struct gptq_tensor {
    int k, n, groups;
    int32_t *qweight, *qzeros, *g_idx;
    uint16_t *scales;
} gptq_tensor_t;

static int make_gptq(gptq_tensor_t *t, int k, int n, int act_order, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    t->k = k;
    t->n = n;
    t->groups = k / 128;
    t->qweight = malloc((size_t)k / 8 * n * 4);
    t->qzeros = malloc((size_t)t->groups * n / 8 * 4);
    t->scales = malloc((size_t)t->groups * n * 2);
    t->g_idx = act_order ? malloc((size_t)k * 4) : NULL;
    if (!t->qweight || !t->qzeros || !t->scales || (act_order && !t->g_idx)) return 1;
    uint64_t s = seed;
    for (size_t i = 0; i < (size_t)k / 8 * n; i++) t->qweight[i] = (int32_t)next_u64(&s);
    for (size_t i = 0; i < (size_t)t->groups * n / 8; i++) t->qzeros[i] = (int32_t)next_u64(&s);
    for (size_t i = 0; i < (size_t)t->groups * n; i++) t->scales[i] = (uint16_t)(0x1400 + next_u64(&s) % 0xc00);
    if (act_order) {
        for (int r = 0; r < k; r++) t->g_idx[r] = r / 128;
        for (int r = k - 1; r > 0; r--) { /* Fisher-Yates */
            int j = (int)(next_u64(&s) % (uint64_t)(r + 1));
            int32_t x = t->g_idx[r];
            t->g_idx[r] = t->g_idx[j];
            t->g_idx[j] = x;
        }
    }
    return 0;
}

static void free_gptq(gptq_tensor_t *t)
{
    free(t->qweight);
    free(t->qzeros);
    free(t->scales);
    free(t->g_idx);
}

static void source_of(const gptq_tensor_t *t, const void *qw, const void *qz, const void *sc, tsr_w4a16_source_t *src)
{
    tsr_w4a16_source_init(src);
    src->format = TSR_W4A16_FORMAT_GPTQ;
    src->k = t->k;
    src->n = t->n;
    src->group_size = 128;
    src->qweight = qw;
    src->qzeros = qz;
    src->scales = sc;
    src->g_idx = t->g_idx;
}

typedef struct dev_pack {
    tsr_handle_t h;
    tsr_w4a16_source_t src;
    tsr_w4a16_layout_t l;
    void *packed;
} dev_pack_t;

static int run_pack(void *p, int i, cudaStream_t s)
{
    (void)i;
    dev_pack_t *c = p;
    return tsr_w4a16_pack_device(c->h, &c->src, &c->l, c->packed, s) != TSR_STATUS_SUCCESS;
}

int main(int argc, char **argv)
{
    const char *model = "70b", *json = NULL;
    int host_reps = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--host-reps") && i + 1 < argc) host_reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--model 8b|70b] [--host-reps N] [--json FILE]\n", argv[0]);
            return 2;
        }
    }
    /* one decoder layer: (k, n) of qkv, o, gate_up, down */
    static const struct { const char *name; int k, n; } l70[4] = {{"qkv", 8192, 10240}, {"o", 8192, 8192},
                                                                  {"gate_up", 8192, 57344}, {"down", 28672, 8192}},
                                                       l8[4] = {{"qkv", 4096, 6144}, {"o", 4096, 4096},
                                                                {"gate_up", 4096, 28672}, {"down", 14336, 4096}};
    const int is70 = !strcmp(model, "70b");
    if (!is70 && strcmp(model, "8b")) {
        fprintf(stderr, "--model must be 8b or 70b\n");
        return 2;
    }
    const int layers = is70 ? 80 : 32;
    if (host_reps < 1) host_reps = 1;
    if (host_reps > 15) host_reps = 15;

    tsr_handle_t h = NULL;
    if (tsr_create(&h)) {
        printf("bench_w4a16_pack: no usable GPU (%s): timing the host path only\n", tsr_last_error());
        h = NULL;
    }
    cudaStream_t s = NULL;
    bench_report_t rep;
    memset(&rep, 0, sizeof rep);
    if (h) {
        cudaStreamCreate(&s);
        bench_report_init(&rep, h, bench_copy_bandwidth_gbs(s));
    }

    printf("\n| llama3-%s layer | act-order | weights (M) | host s (1 core) | host M weights/s | device µs | device GB/s "
           "(read + written) | device / host |\n|---|---|---|---|---|---|---|---|\n", model);
    double host_layer[2] = {0, 0}, dev_layer[2] = {0, 0};
    for (int ao = 0; ao < 2; ao++)
        for (int i = 0; i < 4; i++) {
            const int k = is70 ? l70[i].k : l8[i].k, n = is70 ? l70[i].n : l8[i].n;
            const char *name = is70 ? l70[i].name : l8[i].name;
            gptq_tensor_t t;
            if (make_gptq(&t, k, n, ao, 1000u * (unsigned)i + (unsigned)ao)) {
                fprintf(stderr, "%s: out of host memory\n", name);
                return 1;
            }
            tsr_w4a16_source_t src;
            source_of(&t, t.qweight, t.qzeros, t.scales, &src);
            tsr_w4a16_layout_t l;
            if (tsr_w4a16_layout(k, n, 128, TSR_DTYPE_F16, 1, ao, &l)) {
                fprintf(stderr, "%s: %s\n", name, tsr_last_error());
                return 1;
            }
            void *host_blob = aligned_alloc(16, (l.total_bytes + 15) / 16 * 16);
            if (!host_blob) return 1;
            double secs[15];
            for (int r = 0; r < host_reps; r++) {
                double t0 = host_now_s();
                if (tsr_w4a16_pack_host(&src, &l, host_blob)) {
                    fprintf(stderr, "%s: %s\n", name, tsr_last_error());
                    return 1;
                }
                secs[r] = host_now_s() - t0;
            }
            const double host_s = host_median(secs, host_reps), weights = (double)k * n;
            host_layer[ao] += host_s;

            char dev_us[32] = "-", dev_gbs[32] = "-", ratio[32] = "-";
            if (h) {
                const size_t qw_b = (size_t)k / 8 * n * 4, qz_b = (size_t)t.groups * n / 8 * 4, sc_b = (size_t)t.groups * n * 2;
                void *dq, *dz, *ds;
                dev_pack_t c;
                memset(&c, 0, sizeof c);
                if (cudaMalloc(&dq, qw_b) || cudaMalloc(&dz, qz_b) || cudaMalloc(&ds, sc_b) || cudaMalloc(&c.packed, l.total_bytes)) {
                    fprintf(stderr, "%s: out of device memory\n", name);
                    return 1;
                }
                cudaMemcpy(dq, t.qweight, qw_b, cudaMemcpyHostToDevice);
                cudaMemcpy(dz, t.qzeros, qz_b, cudaMemcpyHostToDevice);
                cudaMemcpy(ds, t.scales, sc_b, cudaMemcpyHostToDevice);
                c.h = h;
                c.l = l;
                source_of(&t, dq, dz, ds, &c.src);
                cudaMemset(c.packed, 0xA5, l.total_bytes); /* poison: every byte must be written */
                if (run_pack(&c, 0, s) || cudaStreamSynchronize(s)) {
                    fprintf(stderr, "%s: %s\n", name, tsr_last_error());
                    return 1;
                }
                unsigned char *back = malloc(l.total_bytes);
                if (!back) return 1;
                cudaMemcpy(back, c.packed, l.total_bytes, cudaMemcpyDeviceToHost);
                if (memcmp(back, host_blob, l.total_bytes)) {
                    fprintf(stderr, "%s: the device blob differs from the host blob\n", name);
                    return 1;
                }
                free(back);
                char label[64];
                snprintf(label, sizeof label, "pack %s %s", name, ao ? "act-order" : "");
                bench_stats_t st;
                if (bench_time(label, run_pack, &c, 2, 10, s, &st)) return 1;
                const double bytes = (double)(qw_b + qz_b + sc_b + l.total_bytes);
                dev_layer[ao] += st.median_us * 1e-6;
                snprintf(dev_us, sizeof dev_us, "%.0f", st.median_us);
                snprintf(dev_gbs, sizeof dev_gbs, "%.0f", bytes / (st.median_us * 1e-6) / 1e9);
                snprintf(ratio, sizeof ratio, "%.0fx", host_s / (st.median_us * 1e-6));
                bench_row_t row;
                memset(&row, 0, sizeof row);
                snprintf(row.op, sizeof row.op, "w4a16 pack (gptq)");
                snprintf(row.shape, sizeof row.shape, "llama3-%s %s k%d n%d", model, name, k, n);
                snprintf(row.dtype, sizeof row.dtype, "f16");
                snprintf(row.config, sizeof row.config, "g128 asym%s", ao ? " act-order" : "");
                row.median_us = st.median_us;
                row.min_us = st.min_us;
                row.max_us = st.max_us;
                row.bytes = bytes;
                row.flops = -1;
                row.peer_us = host_s * 1e6; /* the peer: this machine's host path, one core */
                snprintf(row.peer, sizeof row.peer, "pack_host (1 core)");
                bench_report_add(&rep, &row);
                cudaFree(dq);
                cudaFree(dz);
                cudaFree(ds);
                cudaFree(c.packed);
            }
            printf("| %s (k %d, n %d) | %s | %.1f | %.3f | %.0f | %s | %s | %s |\n", name, k, n, ao ? "yes" : "no",
                   weights / 1e6, host_s, weights / host_s / 1e6, dev_us, dev_gbs, ratio);
            fflush(stdout);
            free(host_blob);
            free_gptq(&t);
        }
    printf("\nWhole model, estimated as one layer's four tensors times %d layers: host (one core) %.1f min without "
           "act-order, %.1f min with it", layers, host_layer[0] * layers / 60, host_layer[1] * layers / 60);
    if (h) printf("; device %.2f s and %.2f s (packing only: reading the checkpoint and copying it to the GPU not counted)",
                  dev_layer[0] * layers, dev_layer[1] * layers);
    printf(".\n");
    if (h) {
        printf("\n");
        bench_report_markdown(&rep, stdout);
        if (json) bench_report_json(&rep, json);
        bench_report_free(&rep);
        cudaStreamDestroy(s);
        tsr_destroy(h);
    }
    return 0;
}
