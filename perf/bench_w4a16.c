#define _POSIX_C_SOURCE 200809L /* setenv */
/* W4A16 benchmark: tsr_w4a16_gemm against cuBLAS fp16/bf16 GEMM on the same
 * GPU in the same run, on Llama-3 8B and 70B layer shapes, group 128.
 *   bench_w4a16 [--dtype f16|bf16] [--m 1,2,...] [--models 8b,70b] [--shape K,N] [--config ID] [--json FILE]
 *               [--quick] [--dequant-from M] [--b2b] [--pdl]
 * --config forces a row of the configuration table (csrc/w4a16_format.h).
 * --shape times one layer of K x N instead of the Llama-3 ones (CI runs a
 * small one on the CPU emulation, bench_w4a16_emu, to keep this file working).
 * Every (layer, m) is first checked against cuBLAS on the dequantised weight.
 * For m >= --dequant-from (default 128; 0 turns it off) a second row times the
 * other way to run prefill: tsr_w4a16_dequantize to a dense weight, then the
 * same cuBLAS GEMM, against cuBLAS alone; and (unless 0) one row per layer
 * times tsr_w4a16_dequantize by itself (bytes: packed weight in, dense out).
 * --b2b adds, for each (layer, m), a row of tessera and cuBLAS timed back to
 * back (20 calls between two events, as a decode loop runs them; the
 * per-call row minus this is the cost of running alone). --pdl (sm_90; with
 * --b2b) adds a third such row with tsr_w4a16_set_programmatic_launch on,
 * "w4a16 b2b-pdl": each call's blocks start while the previous call ends.
 * Speed lives here, never in the tests. Without a GPU: says so, exits 2. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>

#include "half.h" /* csrc/: host f16/bf16 conversions */
#include "harness.h"
#include "tessera/w4a16.h"

static double b16_to_double(uint16_t v, int bf16) { return bf16 ? tsr_bf16_to_f32(v) : tsr_f16_to_f32(v); }

typedef struct layer_shape {
    const char *model, *name;
    int k, n;
} layer_shape_t;

/* Llama-3 linear layers as (k, n): fused qkv, o, fused gate+up, down. */
static layer_shape_t k_shapes[] = {
    {"8b", "qkv", 4096, 6144},  {"8b", "o", 4096, 4096},    {"8b", "gate_up", 4096, 28672},  {"8b", "down", 14336, 4096},
    {"70b", "qkv", 8192, 10240}, {"70b", "o", 8192, 8192}, {"70b", "gate_up", 8192, 57344}, {"70b", "down", 28672, 8192},
    {"custom", "layer", 0, 0}, /* --shape K,N */
};

typedef struct w4_ctx {
    tsr_handle_t h;
    tsr_w4a16_layout_t l;
    int m, rot;
    void **blobs, **a, **c;
    void *ws;
    size_t ws_bytes;
} w4_ctx_t;

static int run_w4(void *p, int i, cudaStream_t s)
{
    w4_ctx_t *c = p;
    int r = i % c->rot;
    tsr_status_t st = tsr_w4a16_gemm(c->h, &c->l, c->m, c->a[r], c->blobs[r], NULL, c->c[r], c->ws, c->ws_bytes, s);
    if (st) fprintf(stderr, "tsr_w4a16_gemm: %s\n", tsr_last_error());
    return st != TSR_STATUS_SUCCESS;
}

typedef struct blas_ctx {
    cublasHandle_t h;
    int m, n, k, rot;
    cudaDataType_t type;
    void **w, **a, **c;
} blas_ctx_t;

static int run_blas(void *p, int i, cudaStream_t s)
{
    blas_ctx_t *c = p;
    int r = i % c->rot;
    float one = 1.f, zero = 0.f;
    cublasSetStream(c->h, s);
    /* row-major C[m][n] = A[m][k] W[k][n] is column-major C^T = W^T A^T */
    cublasStatus_t st = cublasGemmEx(c->h, CUBLAS_OP_N, CUBLAS_OP_N, c->n, c->m, c->k, &one, c->w[r], c->type, c->n,
                                     c->a[r], c->type, c->k, &zero, c->c[r], c->type, c->n, CUBLAS_COMPUTE_32F,
                                     CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS) fprintf(stderr, "cublasGemmEx: status %d\n", (int)st);
    return st != CUBLAS_STATUS_SUCCESS;
}

/* Prefill the other way: the packed weight dequantised to dense, then cuBLAS. */
typedef struct dq_ctx {
    w4_ctx_t *w;
    blas_ctx_t blas;  /* the dense run's, with every weight slot at `dense` */
    void *dense;
    void **dense_set; /* blas.rot entries, all `dense`: A and C still rotate */
} dq_ctx_t;

static int run_dequantize(void *p, int i, cudaStream_t s)
{
    dq_ctx_t *c = p;
    if (tsr_w4a16_dequantize(c->w->h, &c->w->l, c->w->blobs[i % c->w->rot], c->dense, s)) {
        fprintf(stderr, "tsr_w4a16_dequantize: %s\n", tsr_last_error());
        return 1;
    }
    return 0;
}

static int run_dq(void *p, int i, cudaStream_t s)
{
    dq_ctx_t *c = p;
    return run_dequantize(p, i, s) || run_blas(&c->blas, i, s);
}

/* Before anything is timed: tessera's C for this m against cuBLAS on the
 * weight tsr_w4a16_dequantize writes (the same values the kernels feed the
 * tensor cores), over the first CHECK_ROWS rows (they span several row tiles
 * of every configuration). The difference is the order of fp32 sums and the
 * final rounding; a wrong tile layout, lost partial or unwritten element
 * shows as an error of the order of the outputs themselves. C is poisoned
 * (NaN) first. `dense`: the layer's weight as tsr_w4a16_dequantize wrote it
 * (once per layer, by the caller). 0 when every checked element is within 1%
 * of the largest reference output. */
#define CHECK_ROWS 256
static int check_against_dense(w4_ctx_t *w, const blas_ctx_t *b, void *dense, int bf16, cudaStream_t s, const char *what)
{
    const int rows = w->m < CHECK_ROWS ? w->m : CHECK_ROWS, n = w->l.n;
    const size_t cbytes = (size_t)w->m * n * 2;
    void *ref = NULL;
    if (cudaMalloc(&ref, cbytes)) {
        fprintf(stderr, "%s: no device memory for the check\n", what);
        return 1;
    }
    blas_ctx_t rb = *b;
    void *wset[1] = {dense}, *aset[1] = {w->a[0]}, *cset[1] = {ref};
    rb.rot = 1;
    rb.w = wset;
    rb.a = aset;
    rb.c = cset;
    cudaMemsetAsync(w->c[0], 0xff, cbytes, s); /* NaN in f16 and bf16 */
    int bad = run_blas(&rb, 0, s) || run_w4(w, 0, s) || cudaStreamSynchronize(s) != cudaSuccess;
    uint16_t *got = malloc((size_t)rows * n * 2), *want = malloc((size_t)rows * n * 2);
    if (!bad && got && want) {
        cudaMemcpy(got, w->c[0], (size_t)rows * n * 2, cudaMemcpyDeviceToHost);
        cudaMemcpy(want, ref, (size_t)rows * n * 2, cudaMemcpyDeviceToHost);
        double most = 0, worst = 0;
        size_t at = 0;
        for (size_t i = 0; i < (size_t)rows * n; i++) {
            const double r = b16_to_double(want[i], bf16);
            if (fabs(r) > most) most = fabs(r);
        }
        for (size_t i = 0; i < (size_t)rows * n; i++) {
            const double d = fabs(b16_to_double(got[i], bf16) - b16_to_double(want[i], bf16));
            if (!(d <= worst)) { /* NaN counts as the worst */
                worst = d;
                at = i;
                if (d != d) break;
            }
        }
        bad = !(worst <= 0.01 * most);
        fprintf(stderr, "%s: checked %d rows against dequantize+cublas: largest difference %.3g (row %zu col %zu), "
                "largest output %.3g: %s\n", what, rows, worst, at / (size_t)n, at % (size_t)n, most, bad ? "WRONG" : "ok");
    } else {
        fprintf(stderr, "%s: the check could not run: %s\n", what, tsr_last_error());
        bad = 1;
    }
    free(got);
    free(want);
    cudaFree(ref);
    return bad;
}

static void **alloc_set(int rot, size_t bytes)
{
    void **v = calloc((size_t)rot, sizeof *v);
    for (int i = 0; i < rot; i++)
        if (cudaMalloc(&v[i], bytes) != cudaSuccess) {
            fprintf(stderr, "cudaMalloc of %zu bytes failed\n", bytes);
            exit(1);
        }
    return v;
}
static void free_set(void **v, int rot)
{
    for (int i = 0; i < rot; i++) cudaFree(v[i]);
    free(v);
}

int main(int argc, char **argv)
{
    const char *json = NULL, *models = "8b,70b";
    int bf16 = 0, quick = 0, dequant_from = 128, b2b = 0, pdl = 0;
    int ms[32] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 2048, 4096}, nm = 12;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--dtype") && i + 1 < argc) bf16 = !strcmp(argv[++i], "bf16");
        else if (!strcmp(argv[i], "--models") && i + 1 < argc) models = argv[++i];
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--b2b")) b2b = 1;
        else if (!strcmp(argv[i], "--pdl")) pdl = b2b = 1;
        else if (!strcmp(argv[i], "--dequant-from") && i + 1 < argc) dequant_from = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--config") && i + 1 < argc) setenv("TSR_W4A16_CONFIG", argv[++i], 1);
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
            layer_shape_t *c = &k_shapes[sizeof k_shapes / sizeof k_shapes[0] - 1];
            if (sscanf(argv[++i], "%d,%d", &c->k, &c->n) != 2 || c->k <= 0 || c->n <= 0) {
                fprintf(stderr, "--shape takes K,N\n");
                return 2;
            }
            models = "custom";
        }
        else if (!strcmp(argv[i], "--m") && i + 1 < argc) {
            nm = 0;
            for (char *t = strtok(argv[++i], ","); t && nm < 32; t = strtok(NULL, ",")) ms[nm++] = atoi(t);
        } else {
            fprintf(stderr, "usage: %s [--dtype f16|bf16] [--m 1,16,...] [--models 8b,70b] [--shape K,N] [--config ID] [--json FILE] "
                            "[--quick] [--dequant-from M] [--b2b] [--pdl]\n", argv[0]);
            return 2;
        }
    }
    tsr_handle_t h;
    tsr_status_t st = tsr_create(&h);
    if (st) {
        printf("bench_w4a16: no usable GPU (%s): nothing to time\n", tsr_last_error());
        return 2;
    }
    cudaStream_t s;
    cudaStreamCreate(&s);
    cublasHandle_t blas;
    if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS) return 1;
    double copy = bench_copy_bandwidth_gbs(s);
    bench_report_t rep;
    bench_report_init(&rep, h, copy);
    tsr_dtype_t dt = bf16 ? TSR_DTYPE_BF16 : TSR_DTYPE_F16;
    const int group = 128, samples = quick ? 10 : 30;

    for (size_t si = 0; si < sizeof k_shapes / sizeof k_shapes[0]; si++) {
        const layer_shape_t *L = &k_shapes[si];
        if (!strstr(models, L->model)) continue;
        w4_ctx_t w;
        memset(&w, 0, sizeof w);
        w.h = h;
        tsr_w4a16_layout(L->k, L->n, group, dt, 0, 0, &w.l);
        w.rot = bench_rotation(w.l.total_bytes, rep.device.l2_bytes);
        /* random GPTQ words are valid weights; pack once on the GPU, copy for rotation */
        void *qw, *sc;
        size_t qbytes = (size_t)L->k / 8 * L->n * 4, sbytes = (size_t)(L->k / group) * L->n * 2;
        cudaMalloc(&qw, qbytes);
        cudaMalloc(&sc, sbytes);
        bench_fill_random_b16(qw, qbytes / 2, 0, 1000 + si);
        bench_fill_random_b16(sc, sbytes / 2, 0, 2000 + si); /* scales in [-1, 1): any finite value times */
        tsr_w4a16_source_t src;
        tsr_w4a16_source_init(&src);
        src.format = TSR_W4A16_FORMAT_GPTQ;
        src.k = L->k;
        src.n = L->n;
        src.group_size = group;
        src.qweight = qw;
        src.scales = sc;
        src.scales_dtype = TSR_DTYPE_F16;
        w.blobs = alloc_set(w.rot, w.l.total_bytes);
        if (tsr_w4a16_pack_device(h, &src, &w.l, w.blobs[0], s)) {
            fprintf(stderr, "pack: %s\n", tsr_last_error());
            return 1;
        }
        for (int r = 1; r < w.rot; r++) cudaMemcpyAsync(w.blobs[r], w.blobs[0], w.l.total_bytes, cudaMemcpyDeviceToDevice, s);
        cudaFree(qw);
        cudaFree(sc);

        blas_ctx_t b;
        memset(&b, 0, sizeof b);
        b.h = blas;
        b.k = L->k;
        b.n = L->n;
        b.type = bf16 ? CUDA_R_16BF : CUDA_R_16F;
        size_t wbytes = (size_t)L->k * L->n * 2;
        b.rot = bench_rotation(wbytes, rep.device.l2_bytes);
        b.w = alloc_set(b.rot, wbytes);
        for (int r = 0; r < b.rot; r++) bench_fill_random_b16(b.w[r], wbytes / 2, bf16, 3000 + r);
        /* the layer's dequantised weight: the reference of every check, and
         * what the dequantise + cuBLAS rows write into while they are timed */
        void *dense;
        if (cudaMalloc(&dense, wbytes) != cudaSuccess || tsr_w4a16_dequantize(h, &w.l, w.blobs[0], dense, s)) {
            fprintf(stderr, "dequantize %s.%s: %s\n", L->model, L->name, tsr_last_error());
            return 1;
        }

        if (dequant_from > 0) {
            /* the dense route's first half alone: 4.1 bits read and 16 written
             * per weight, so its % of the copy bandwidth is the figure */
            dq_ctx_t dq = {&w, b, dense, NULL};
            bench_stats_t td;
            char label[128];
            snprintf(label, sizeof label, "tessera dequantize %s %s", L->model, L->name);
            if (bench_time(label, run_dequantize, &dq, 5, samples, s, &td)) return 1;
            bench_row_t row;
            memset(&row, 0, sizeof row);
            snprintf(row.op, sizeof row.op, "dequantize %s.%s", L->model, L->name);
            snprintf(row.shape, sizeof row.shape, "0,%d,%d", L->n, L->k);
            snprintf(row.dtype, sizeof row.dtype, "%s", bf16 ? "bf16" : "f16");
            snprintf(row.config, sizeof row.config, "g%d", group);
            row.median_us = td.median_us;
            row.min_us = td.min_us;
            row.max_us = td.max_us;
            row.bytes = (double)w.l.qweight_bytes + (double)w.l.scales_bytes + (double)wbytes;
            bench_report_add(&rep, &row);
            fprintf(stderr, "%s: %.2f us\n", row.op, td.median_us);
        }

        for (int mi = 0; mi < nm; mi++) {
            int m = ms[mi];
            size_t abytes = (size_t)m * L->k * 2, cbytes = (size_t)m * L->n * 2;
            int arot = w.rot > b.rot ? w.rot : b.rot;
            void **a = alloc_set(arot, abytes), **c = alloc_set(arot, cbytes);
            for (int r = 0; r < arot; r++) bench_fill_random_b16(a[r], abytes / 2, bf16, 4000 + r);
            w.m = m;
            w.a = a;
            w.c = c;
            tsr_w4a16_workspace_size(h, &w.l, m, &w.ws_bytes);
            cudaMalloc(&w.ws, w.ws_bytes ? w.ws_bytes : 16);
            cudaMemset(w.ws, 0, w.ws_bytes ? w.ws_bytes : 16);
            b.m = m;
            b.a = a;
            b.c = c;
            char label[128];
            bench_stats_t tw, tb;
            snprintf(label, sizeof label, "cublas %s %s m=%d", L->model, L->name, m);
            if (bench_time(label, run_blas, &b, 5, samples, s, &tb)) return 1;
            snprintf(label, sizeof label, "tessera w4a16 %s %s m=%d", L->model, L->name, m);
            if (check_against_dense(&w, &b, dense, bf16, s, label)) return 1;
            if (bench_time(label, run_w4, &w, 5, samples, s, &tw)) return 1;
            bench_row_t row;
            memset(&row, 0, sizeof row);
            snprintf(row.op, sizeof row.op, "w4a16 %s.%s", L->model, L->name);
            snprintf(row.shape, sizeof row.shape, "%d,%d,%d", m, L->n, L->k);
            snprintf(row.dtype, sizeof row.dtype, "%s", bf16 ? "bf16" : "f16");
            int chosen = -1;
            tsr_w4a16_query_config(h, &w.l, m, &chosen);
            if (chosen == TSR_W4A16_ROUTE_DENSE) snprintf(row.config, sizeof row.config, "g%d dense route", group);
            else snprintf(row.config, sizeof row.config, "g%d cfg %d%s", group, chosen, getenv("TSR_W4A16_CONFIG") ? " forced" : "");
            snprintf(row.peer, sizeof row.peer, "cublas %s", bf16 ? "bf16" : "f16");
            row.median_us = tw.median_us;
            row.min_us = tw.min_us;
            row.max_us = tw.max_us;
            row.bytes = (double)w.l.qweight_bytes + (double)w.l.scales_bytes + (double)abytes + (double)cbytes;
            row.flops = 2.0 * m * (double)L->n * L->k;
            row.peer_us = tb.median_us;
            bench_report_add(&rep, &row);
            if (b2b) {
                bench_stats_t bw, bb;
                snprintf(label, sizeof label, "tessera w4a16 back to back %s %s m=%d", L->model, L->name, m);
                if (bench_time_back_to_back(label, run_w4, &w, 5, samples, 20, s, &bw)) return 1;
                snprintf(label, sizeof label, "cublas back to back %s %s m=%d", L->model, L->name, m);
                if (bench_time_back_to_back(label, run_blas, &b, 5, samples, 20, s, &bb)) return 1;
                bench_row_t r2 = row;
                snprintf(r2.op, sizeof r2.op, "w4a16 b2b %s.%s", L->model, L->name);
                snprintf(r2.peer, sizeof r2.peer, "cublas %s b2b", bf16 ? "bf16" : "f16");
                r2.median_us = bw.median_us;
                r2.min_us = bw.min_us;
                r2.max_us = bw.max_us;
                r2.peer_us = bb.median_us;
                bench_report_add(&rep, &r2);
                if (pdl) {
                    if (tsr_w4a16_set_programmatic_launch(h, 1)) {
                        fprintf(stderr, "--pdl: %s\n", tsr_last_error());
                        return 1;
                    }
                    snprintf(label, sizeof label, "tessera w4a16 back to back, programmatic %s %s m=%d", L->model, L->name, m);
                    /* checked as launched: programmatically, after cuBLAS's kernel */
                    int bad = check_against_dense(&w, &b, dense, bf16, s, label) ||
                              bench_time_back_to_back(label, run_w4, &w, 5, samples, 20, s, &bw);
                    tsr_w4a16_set_programmatic_launch(h, 0);
                    if (bad) return 1;
                    snprintf(r2.op, sizeof r2.op, "w4a16 b2b-pdl %s.%s", L->model, L->name);
                    r2.median_us = bw.median_us;
                    r2.min_us = bw.min_us;
                    r2.max_us = bw.max_us;
                    bench_report_add(&rep, &r2);
                }
            }
            if (dequant_from > 0 && m >= dequant_from) {
                dq_ctx_t dq = {&w, b, dense, NULL};
                bench_stats_t td;
                dq.dense_set = calloc((size_t)b.rot, sizeof *dq.dense_set);
                for (int r = 0; r < b.rot; r++) dq.dense_set[r] = dq.dense;
                dq.blas.w = dq.dense_set;
                snprintf(label, sizeof label, "tessera dequantize+cublas %s %s m=%d", L->model, L->name, m);
                if (bench_time(label, run_dq, &dq, 5, samples, s, &td)) return 1;
                free(dq.dense_set);
                snprintf(row.op, sizeof row.op, "dq+cublas %s.%s", L->model, L->name);
                snprintf(row.config, sizeof row.config, "g%d dequantize", group);
                row.median_us = td.median_us;
                row.min_us = td.min_us;
                row.max_us = td.max_us;
                /* packed weight read, dense written and read back, A, C */
                row.bytes = (double)w.l.qweight_bytes + (double)w.l.scales_bytes + 2.0 * wbytes + (double)abytes + (double)cbytes;
                bench_report_add(&rep, &row);
                fprintf(stderr, "%s m=%d: dequantize+cublas %.2f us\n", row.op, m, td.median_us);
            }
            cudaFree(w.ws);
            free_set(a, arot);
            free_set(c, arot);
            fprintf(stderr, "%s m=%d: tessera %.2f us, cublas %.2f us\n", row.op, m, tw.median_us, tb.median_us);
        }
        free_set(w.blobs, w.rot);
        free_set(b.w, b.rot);
        cudaFree(dense);
    }
    bench_report_markdown(&rep, stdout);
    if (json && bench_report_json(&rep, json)) fprintf(stderr, "cannot write %s\n", json);
    bench_report_free(&rep);
    cublasDestroy(blas);
    tsr_destroy(h);
    return 0;
}
