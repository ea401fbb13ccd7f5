/* ktune: measures which kernel configuration is fastest on this GPU for the
 * shapes an operator will serve (and, from m = TSR_W4A16_DENSE_MIN_M, whether
 * W4A16's dense route beats them all), and keeps the choice in tessera's
 * tuning cache, which tsr_create reads. Timing follows the benchmark harness (events,
 * warm-up, weights rotated over 2x L2, median). docs/tuning.md. */
#define _DEFAULT_SOURCE /* setenv, isatty */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tessera/tuning.h"
#include "tessera/w4a16.h"

static const char *k_usage =
    "ktune: tune tessera's kernels for this GPU; the choices go to the tuning cache\n"
    "\n"
    "usage:\n"
    "  ktune tune  --op w4a16 --n N --k K --m M[,M...] [--dtype f16|bf16] [--group G] [--json]\n"
    "  ktune tune  --model NAME [--m M,...] [--dtype f16|bf16] [--json]\n"
    "              (either form: --configs ID,... times only those configurations)\n"
    "  ktune bench (the same selectors)   tuned against heuristic, speedup per shape\n"
    "  ktune show  [--json]               every entry of the cache (no GPU needed)\n"
    "  ktune ops                          what can be tuned, and the model presets\n"
    "  ktune clear                        delete the cache file\n"
    "  ktune export FILE                  write every entry to FILE\n"
    "  ktune import FILE                  merge FILE's entries into the cache\n"
    "  ktune --help\n"
    "\n"
    "examples:\n"
    "  ktune tune --op w4a16 --n 4096 --k 4096 --m 1,16,64\n"
    "  ktune tune --model llama3-70b --dtype bf16\n"
    "  ktune bench --model llama3-8b --m 1,16\n"
    "  ktune export /tmp/h100.txt && ssh other-h100 ktune import /tmp/h100.txt\n"
    "\n"
    "defaults: --dtype f16, --group 128, --m 1,2,4,8,16,32,64,128,256,1024,4096 for --model\n"
    "cache: $TESSERA_CACHE_DIR/tuning.txt, else $XDG_CACHE_HOME/tessera/, else ~/.cache/tessera/\n"
    "from m = 1024 tune also times the dense route (dequantise + cuBLAS), recorded as config -1\n"
    "exit status: 0 done, 1 failed, 2 bad usage or no GPU\n";

typedef struct preset_layer {
    const char *model;
    int k, n;
} preset_layer_t;

/* (k, n) of each quantised linear layer: fused qkv, o, fused gate+up, down. */
static const preset_layer_t k_presets[] = {
    {"llama3-8b", 4096, 6144},   {"llama3-8b", 4096, 4096},   {"llama3-8b", 4096, 28672},  {"llama3-8b", 14336, 4096},
    {"llama3-70b", 8192, 10240}, {"llama3-70b", 8192, 8192},  {"llama3-70b", 8192, 57344}, {"llama3-70b", 28672, 8192},
    {"qwen2.5-7b", 3584, 4608},  {"qwen2.5-7b", 3584, 3584},  {"qwen2.5-7b", 3584, 37888}, {"qwen2.5-7b", 18944, 3584},
    {"mistral-7b", 4096, 6144},  {"mistral-7b", 4096, 4096},  {"mistral-7b", 4096, 28672}, {"mistral-7b", 14336, 4096},
};
#define N_PRESETS (int)(sizeof k_presets / sizeof k_presets[0])

typedef struct job {
    int n, k, m;
} job_t;

typedef struct opts {
    const char *cmd, *op, *model, *file;
    int n, k, group, bf16, json;
    int ms[32], nm;
    int configs[64], nconfigs; /* --configs: the kernel configurations tune times (0: all) */
} opts_t;

static int usage_error(const char *msg)
{
    fprintf(stderr, "ktune: %s\n(ktune --help shows the usage)\n", msg);
    return 2;
}

static int parse_list(char *s, int *out, int cap)
{
    int n = 0;
    for (char *t = strtok(s, ","); t; t = strtok(NULL, ",")) {
        if (n == cap || atoi(t) <= 0) return -1;
        out[n++] = atoi(t);
    }
    return n;
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->group = 128;
    if (argc < 2) return usage_error("no command");
    o->cmd = argv[1];
    int i = 2;
    if (!strcmp(o->cmd, "export") || !strcmp(o->cmd, "import")) {
        if (argc < 3) return usage_error("export and import take a FILE");
        o->file = argv[2];
        i = 3;
    }
    for (; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--json")) o->json = 1;
        else if (!strcmp(a, "--op") && has) o->op = argv[++i];
        else if (!strcmp(a, "--model") && has) o->model = argv[++i];
        else if (!strcmp(a, "--n") && has) o->n = atoi(argv[++i]);
        else if (!strcmp(a, "--k") && has) o->k = atoi(argv[++i]);
        else if (!strcmp(a, "--group") && has) o->group = atoi(argv[++i]);
        else if (!strcmp(a, "--dtype") && has) {
            const char *d = argv[++i];
            if (strcmp(d, "f16") && strcmp(d, "bf16")) return usage_error("--dtype must be f16 or bf16");
            o->bf16 = !strcmp(d, "bf16");
        } else if (!strcmp(a, "--configs") && has) {
            for (char *t = strtok(argv[++i], ","); t; t = strtok(NULL, ",")) {
                char *end;
                long id = strtol(t, &end, 10);
                if (*end || id < 0 || id >= tsr_w4a16_config_count() || o->nconfigs == 64)
                    return usage_error("--configs takes configuration ids (ktune ops), comma-separated");
                o->configs[o->nconfigs++] = (int)id;
            }
        } else if (!strcmp(a, "--m") && has) {
            if ((o->nm = parse_list(argv[++i], o->ms, 32)) <= 0) return usage_error("--m takes positive integers, comma-separated");
        } else {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown or incomplete option '%s'", a);
            return usage_error(msg);
        }
    }
    return 0;
}

/* The shapes a tune or bench command names. */
static int make_jobs(const opts_t *o, job_t *jobs, int cap, int *count)
{
    static const int default_ms[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096};
    const int *ms = o->nm ? o->ms : default_ms;
    int nm = o->nm ? o->nm : 11, n = 0;
    if (o->model) {
        for (int p = 0; p < N_PRESETS; p++)
            if (!strcmp(k_presets[p].model, o->model))
                for (int i = 0; i < nm && n < cap; i++) jobs[n++] = (job_t){k_presets[p].n, k_presets[p].k, ms[i]};
        if (n == 0) return usage_error("unknown --model (ktune ops lists the presets)");
    } else {
        if (!o->op || strcmp(o->op, "w4a16")) return usage_error("--op w4a16 (or --model) is required; ktune ops lists the ops");
        if (o->n <= 0 || o->k <= 0 || !o->nm) return usage_error("--op w4a16 needs --n, --k and --m");
        for (int i = 0; i < nm && n < cap; i++) jobs[n++] = (job_t){o->n, o->k, ms[i]};
    }
    *count = n;
    return 0;
}

/* The cache file's path, or a message and 0. */
static int cache_path(char *path, size_t cap)
{
    if (tsr_tuning_cache_path(path, cap) == TSR_STATUS_SUCCESS) return 1;
    fprintf(stderr, "ktune: %s\n", tsr_last_error());
    return 0;
}

/* ---- timing one shape ----------------------------------------------------------- */
/* What shape_ctx_t.config may be besides a configuration id: the dense
 * route (TSR_W4A16_ROUTE_DENSE, -1, on the DENSE-mode handle); the call as
 * tsr_w4a16_gemm makes it on the context's handle (DEFAULT_CALL); nothing. */
enum { DEFAULT_CALL = -3, NO_CONFIG = -2 };

/* Is configuration id among those --configs names (all when it names none)? */
static int wanted(const opts_t *o, int id)
{
    for (int i = 0; i < o->nconfigs; i++)
        if (o->configs[i] == id) return 1;
    return o->nconfigs == 0;
}

static const char *route_note(int config) { return config == TSR_W4A16_ROUTE_DENSE ? " (dense route)" : ""; }

typedef struct shape_ctx {
    tsr_handle_t h;
    tsr_handle_t dense; /* TSR_W4A16_PREFILL_DENSE: for timing the dense route; or NULL */
    tsr_w4a16_layout_t l;
    int m, rot, config;
    void **blobs, **a, **c, *ws;
    size_t ws_bytes;
} shape_ctx_t;

static int run_shape(void *p, int i, cudaStream_t s)
{
    shape_ctx_t *c = p;
    int r = i % c->rot;
    if (c->config == TSR_W4A16_ROUTE_DENSE || c->config == DEFAULT_CALL)
        return tsr_w4a16_gemm(c->config == DEFAULT_CALL ? c->h : c->dense, &c->l, c->m, c->a[r], c->blobs[r], NULL,
                              c->c[r], c->ws, c->ws_bytes, s) != 0;
    return tsr_w4a16_gemm_config(c->h, &c->l, c->m, c->a[r], c->blobs[r], NULL, c->c[r], c->ws, c->ws_bytes, c->config, s) != 0;
}

/* The workspace is the largest that h, dense and heur (either may be NULL)
 * ask for j->m rows: a call timed on this shape may take the dense route. */
static int setup_shape(shape_ctx_t *c, tsr_handle_t h, tsr_handle_t dense, tsr_handle_t heur, const opts_t *o,
                       const job_t *j, int l2, cudaStream_t s)
{
    memset(c, 0, sizeof *c);
    c->h = h;
    c->dense = dense;
    c->m = j->m;
    if (tsr_w4a16_layout(j->k, j->n, o->group, o->bf16 ? TSR_DTYPE_BF16 : TSR_DTYPE_F16, 0, 0, &c->l)) return -1;
    c->rot = bench_rotation(c->l.total_bytes, l2);
    size_t qbytes = (size_t)j->k / 8 * j->n * 4, sbytes = (size_t)c->l.groups * j->n * 2;
    void *qw = NULL, *sc = NULL;
    if (cudaMalloc(&qw, qbytes) || cudaMalloc(&sc, sbytes)) return -1;
    bench_fill_random_b16(qw, qbytes / 2, 0, 11);
    bench_fill_random_b16(sc, sbytes / 2, 0, 12);
    tsr_w4a16_source_t src;
    tsr_w4a16_source_init(&src);
    src.k = j->k;
    src.n = j->n;
    src.group_size = o->group;
    src.qweight = qw;
    src.scales = sc;
    c->blobs = calloc((size_t)c->rot, sizeof(void *));
    c->a = calloc((size_t)c->rot, sizeof(void *));
    c->c = calloc((size_t)c->rot, sizeof(void *));
    for (int r = 0; r < c->rot; r++) {
        if (cudaMalloc(&c->blobs[r], c->l.total_bytes) || cudaMalloc(&c->a[r], (size_t)j->m * j->k * 2) ||
            cudaMalloc(&c->c[r], (size_t)j->m * j->n * 2))
            return -1;
        bench_fill_random_b16(c->a[r], (size_t)j->m * j->k, o->bf16, 100 + r);
    }
    if (tsr_w4a16_pack_device(h, &src, &c->l, c->blobs[0], s)) return -1;
    for (int r = 1; r < c->rot; r++) cudaMemcpyAsync(c->blobs[r], c->blobs[0], c->l.total_bytes, cudaMemcpyDeviceToDevice, s);
    cudaStreamSynchronize(s);
    cudaFree(qw);
    cudaFree(sc);
    tsr_w4a16_workspace_size(h, &c->l, j->m, &c->ws_bytes);
    const tsr_handle_t others[2] = {dense, heur};
    for (int i = 0; i < 2; i++) {
        size_t bytes = 0;
        if (others[i] && !tsr_w4a16_workspace_size(others[i], &c->l, j->m, &bytes) && bytes > c->ws_bytes) c->ws_bytes = bytes;
    }
    if (cudaMalloc(&c->ws, c->ws_bytes ? c->ws_bytes : 16)) return -1;
    cudaMemset(c->ws, 0, c->ws_bytes ? c->ws_bytes : 16);
    return 0;
}

static void free_shape(shape_ctx_t *c)
{
    for (int r = 0; r < c->rot; r++) {
        cudaFree(c->blobs[r]);
        cudaFree(c->a[r]);
        cudaFree(c->c[r]);
    }
    free(c->blobs);
    free(c->a);
    free(c->c);
    cudaFree(c->ws);
}

static double time_config(shape_ctx_t *c, int config, cudaStream_t s)
{
    c->config = config;
    bench_stats_t st;
    if (bench_time("ktune", run_shape, c, 3, 15, s, &st)) return -1;
    return st.median_us;
}

static void progress(int done, int total, time_t t0, const job_t *j, const char *what)
{
    double el = difftime(time(NULL), t0), eta = done ? el / done * (total - done) : 0;
    if (isatty(2)) {
        int w = 30, f = total ? done * w / total : w;
        fprintf(stderr, "\r[%.*s%.*s] %d/%d  ETA %4.0fs  %-48s", f, "##############################", w - f,
                "..............................", done, total, eta, what);
        if (done == total) fputc('\n', stderr);
    } else {
        fprintf(stderr, "ktune: %d/%d w4a16 n=%d k=%d m=%d: %s\n", done, total, j->n, j->k, j->m, what);
    }
}

/* tune: time every configuration of every shape, and from
 * TSR_W4A16_DENSE_MIN_M rows the dense route (dequantise + cuBLAS, recorded
 * as config TSR_W4A16_ROUTE_DENSE, -1), keep the fastest.
 * bench: time the heuristic's choice (the default mode's, route included)
 * and the tuned one. */
static int tune_or_bench(const opts_t *o, int bench)
{
    job_t jobs[512];
    int nj, rc = make_jobs(o, jobs, 512, &nj);
    if (rc) return rc;
    if (!bench) unsetenv("TESSERA_TUNING");
    tsr_handle_t h, heur = NULL;
    if (tsr_create(&h)) {
        fprintf(stderr, "ktune: no usable GPU: %s\n", tsr_last_error());
        return 2;
    }
    if (bench) {
        setenv("TESSERA_TUNING", "off", 1);
        tsr_create(&heur);
        unsetenv("TESSERA_TUNING");
    }
    /* tune times the dense route on a handle of its own, in DENSE mode (in
     * the default mode the cache being written would steer it); bench calls
     * tsr_w4a16_gemm on the tuned and the untuned handle, in the default
     * mode, as an application would */
    tsr_handle_t dense = NULL;
    for (int i = 0; i < nj && !dense && !bench; i++)
        if (jobs[i].m >= TSR_W4A16_DENSE_MIN_M && (tsr_create(&dense) || tsr_w4a16_set_prefill(dense, TSR_W4A16_PREFILL_DENSE))) {
            fprintf(stderr, "ktune: a handle for the dense route: %s\n", tsr_last_error());
            return 1;
        }
    tsr_device_info_t dev;
    tsr_get_device_info(h, &dev);
    char path[4096];
    if (!cache_path(path, sizeof path)) return 1;
    cudaStream_t s;
    cudaStreamCreate(&s);
    tsr_tuning_entry_t *found = calloc((size_t)nj, sizeof *found);
    double *t_heur = calloc((size_t)nj, sizeof(double)), *t_best = calloc((size_t)nj, sizeof(double));
    int *c_heur = calloc((size_t)nj, sizeof(int));
    time_t t0 = time(NULL);
    int failed = 0;
    for (int i = 0; i < nj; i++) {
        shape_ctx_t c;
        if (setup_shape(&c, h, jobs[i].m >= TSR_W4A16_DENSE_MIN_M ? dense : NULL, heur, o, &jobs[i], dev.l2_bytes, s)) {
            fprintf(stderr, "\nktune: n=%d k=%d m=%d: setup failed: %s\n", jobs[i].n, jobs[i].k, jobs[i].m, tsr_last_error());
            failed = 1;
            break;
        }
        tsr_tuning_entry_for(h, &found[i]);
        snprintf(found[i].op, sizeof found[i].op, "w4a16");
        snprintf(found[i].dtype, sizeof found[i].dtype, "%s", o->bf16 ? "bf16" : "f16");
        found[i].group = c.l.group_size;
        found[i].n = jobs[i].n;
        found[i].k = jobs[i].k;
        found[i].m_bucket = tsr_tuning_m_bucket(jobs[i].m);
        char what[96];
        if (!bench) {
            int best = NO_CONFIG;
            double best_t = 0;
            for (int cfg = c.dense ? TSR_W4A16_ROUTE_DENSE : 0; cfg < tsr_w4a16_config_count(); cfg++) {
                if (cfg >= 0 && !tsr_w4a16_config_supported(h, cfg)) continue; /* the wgmma tiles: sm_90 only */
                if (cfg >= 0 && !wanted(o, cfg)) continue;
                double t = time_config(&c, cfg, s);
                if (t > 0 && (best == NO_CONFIG || t < best_t)) best = cfg, best_t = t;
            }
            found[i].config = best;
            found[i].time_us = best_t;
            t_best[i] = best_t;
            if (best == TSR_W4A16_ROUTE_DENSE) snprintf(what, sizeof what, "dense route, %.2f us", best_t);
            else snprintf(what, sizeof what, "config %d, %.2f us", best, best_t);
            if (best == NO_CONFIG) failed = 1;
        } else {
            int tuned;
            tsr_w4a16_query_config(heur, &c.l, jobs[i].m, &c_heur[i]);
            tsr_w4a16_query_config(h, &c.l, jobs[i].m, &tuned);
            c.h = heur;
            t_heur[i] = time_config(&c, DEFAULT_CALL, s);
            c.h = h;
            t_best[i] = tuned == c_heur[i] ? t_heur[i] : time_config(&c, DEFAULT_CALL, s);
            found[i].config = tuned;
            found[i].time_us = t_best[i];
            snprintf(what, sizeof what, "heuristic %d %.2f us, tuned %d %.2f us", c_heur[i], t_heur[i], tuned, t_best[i]);
        }
        free_shape(&c);
        progress(i + 1, nj, t0, &jobs[i], what);
    }
    if (!failed && !bench && tsr_tuning_merge(path, found, nj)) {
        fprintf(stderr, "ktune: %s\n", tsr_last_error());
        failed = 1;
    }
    if (o->json) {
        printf("[\n");
        for (int i = 0; i < nj; i++) {
            printf("  {\"op\": \"w4a16\", \"dtype\": \"%s\", \"group\": %d, \"n\": %d, \"k\": %d, \"m\": %d, \"config\": %d, \"time_us\": %.3f",
                   found[i].dtype, found[i].group, jobs[i].n, jobs[i].k, jobs[i].m, found[i].config, t_best[i]);
            if (bench) printf(", \"heuristic_config\": %d, \"heuristic_us\": %.3f, \"speedup\": %.3f", c_heur[i], t_heur[i], t_best[i] > 0 ? t_heur[i] / t_best[i] : 0);
            printf("}%s\n", i + 1 < nj ? "," : "");
        }
        printf("]\n");
    } else {
        printf("%s on %s (cache %s)\n", bench ? "tuned vs heuristic" : "tuned", dev.name, path);
        for (int i = 0; i < nj; i++) {
            printf("  w4a16 %s g%d n=%-6d k=%-6d m=%-5d config %d%s  %9.2f us", found[i].dtype, found[i].group, jobs[i].n,
                   jobs[i].k, jobs[i].m, found[i].config, route_note(found[i].config), t_best[i]);
            if (bench) printf("  heuristic %d %9.2f us  speedup %.2fx", c_heur[i], t_heur[i], t_best[i] > 0 ? t_heur[i] / t_best[i] : 0);
            printf("\n");
        }
    }
    free(found);
    free(t_heur);
    free(t_best);
    free(c_heur);
    tsr_destroy(heur);
    tsr_destroy(dense);
    tsr_destroy(h);
    return failed;
}

static int show(const opts_t *o)
{
    char path[4096];
    if (!cache_path(path, sizeof path)) return 1;
    tsr_tuning_entry_t *v;
    int n;
    if (tsr_tuning_read(path, &v, &n)) {
        fprintf(stderr, "ktune: %s\n", tsr_last_error());
        return 1;
    }
    if (o->json) {
        printf("[\n");
        for (int i = 0; i < n; i++)
            printf("  {\"device\": \"%s\", \"cc\": \"%d.%d\", \"sms\": %d, \"runtime\": %d, \"driver\": %d, \"tessera\": %d, "
                   "\"op\": \"%s\", \"dtype\": \"%s\", \"group\": %d, \"n\": %d, \"k\": %d, \"m_bucket\": %d, \"config\": %d, \"time_us\": %.3f}%s\n",
                   v[i].device, v[i].cc_major, v[i].cc_minor, v[i].sm_count, v[i].runtime_version, v[i].driver_version,
                   v[i].tessera_version, v[i].op, v[i].dtype, v[i].group, v[i].n, v[i].k, v[i].m_bucket, v[i].config,
                   v[i].time_us, i + 1 < n ? "," : "");
        printf("]\n");
    } else {
        printf("%s: %d entries\n", path, n);
        for (int i = 0; i < n; i++)
            printf("  %-28s cc %d.%d  %-6s %-5s g%-4d n=%-6d k=%-6d m<=%-5d config %d%s  %.2f us\n", v[i].device,
                   v[i].cc_major, v[i].cc_minor, v[i].op, v[i].dtype, v[i].group, v[i].n, v[i].k, v[i].m_bucket,
                   v[i].config, route_note(v[i].config), v[i].time_us);
    }
    free(v);
    return 0;
}

static int export_import(const opts_t *o, int import)
{
    char path[4096];
    if (!cache_path(path, sizeof path)) return 1;
    tsr_tuning_entry_t *v;
    int n;
    const char *from = import ? o->file : path, *to = import ? path : o->file;
    if (tsr_tuning_read(from, &v, &n) || tsr_tuning_merge(to, v, n)) {
        fprintf(stderr, "ktune: %s\n", tsr_last_error());
        return 1;
    }
    printf("%s %d entries from %s to %s\n", import ? "imported" : "exported", n, from, to);
    free(v);
    return 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") || !strcmp(argv[i], "help")) {
            fputs(k_usage, stdout);
            return 0;
        }
    opts_t o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    if (!strcmp(o.cmd, "tune")) return tune_or_bench(&o, 0);
    if (!strcmp(o.cmd, "bench")) return tune_or_bench(&o, 1);
    if (!strcmp(o.cmd, "show")) return show(&o);
    if (!strcmp(o.cmd, "export")) return export_import(&o, 0);
    if (!strcmp(o.cmd, "import")) return export_import(&o, 1);
    if (!strcmp(o.cmd, "clear")) {
        char path[4096];
        if (!cache_path(path, sizeof path)) return 1;
        if (tsr_tuning_clear(path)) {
            fprintf(stderr, "ktune: %s\n", tsr_last_error());
            return 1;
        }
        printf("cleared %s\n", path);
        return 0;
    }
    if (!strcmp(o.cmd, "ops")) {
        printf("ops:\n  w4a16   4-bit weights x f16/bf16 activations; %d configurations; --group 32, 64, 128, ... or -1\n",
               tsr_w4a16_config_count());
        printf("models (--model):\n");
        for (int p = 0; p < N_PRESETS; p++)
            if (p == 0 || strcmp(k_presets[p].model, k_presets[p - 1].model))
                printf("  %s\n", k_presets[p].model);
        return 0;
    }
    char msg[128];
    snprintf(msg, sizeof msg, "unknown command '%s'", o.cmd);
    return usage_error(msg);
}
