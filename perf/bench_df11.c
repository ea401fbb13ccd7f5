/* DFloat11 GPU decode: throughput for streams of 64 MB to 2 GB of bf16
 * output, and the latency of one Llama-3-8B transformer block (218M weights in
 * 7 tensors decoded into 7 destinations), against the copy bandwidth measured
 * in the same run. Weights are Gaussian (sigma 0.02) rounded to bf16, which
 * compress like trained ones (about 66.5%). Containers rotate over copies
 * that together exceed 2x L2, so no timed decode reads its input from L2.
 * Each stream is encoded with 32 and 64 steps a chunk (the encoder's two
 * automatic choices); the
 * 64 MB stream and the block also with 16 and 128 (more warps against a
 * smaller container).
 *   bench_df11 [--quick] [--smoke] [--steps N] [--json FILE] [--dump DIR]
 * --smoke: tiny tensors (CI runs it on the CPU emulation, bench_df11_emu).
 * --steps N times only chunks of N steps (every stream; for profiling).
 * Chunks of at most 32 steps are timed with both GPU decoders, the default
 * and the staged one (TSR_DF11_STAGE_CODES; cuda/df11/), side by side.
 * --dump writes the tensors it times (raw little-endian bf16) and a manifest
 * to DIR, so that perf/bench_df11_peer.py times the dfloat11 package's decoder
 * on the same tensors in the same suite run. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tessera/df11.h"

typedef struct dec_ctx {
    tsr_handle_t h;
    void **dev; /* rot copies of the container: together at least 2x L2 */
    int rot;
    void *ws;
    size_t ws_bytes;
    tsr_df11_info_t info;
    uint16_t **dests;
} dec_ctx_t;

static int run_decode(void *p, int i, cudaStream_t s)
{
    dec_ctx_t *c = p;
    return tsr_df11_decode(c->h, c->dev[i % c->rot], &c->info, c->dests, c->ws, c->ws_bytes, s) != TSR_STATUS_SUCCESS;
}

static void gaussian_bf16(uint16_t *v, size_t n, unsigned long long seed)
{
    unsigned long long s = seed;
    for (size_t i = 0; i < n; i += 2) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u1 = ((s >> 11) + 1.0) / 9007199254740993.0;
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u2 = (s >> 11) / 9007199254740992.0, r = 0.02 * sqrt(-2 * log(u1));
        float f[2] = {(float)(r * cos(6.283185307179586 * u2)), (float)(r * sin(6.283185307179586 * u2))};
        for (int k = 0; k < 2 && i + (size_t)k < n; k++) {
            uint32_t u;
            memcpy(&u, &f[k], 4);
            v[i + (size_t)k] = (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
        }
    }
}

/* The two GPU decoders: codes read from global memory (TSR_DF11_STAGE_CODES=0
 * at tsr_create), and staged through shared memory (the default since run 13:
 * cuda/df11/). The staged one only differs on chunks of at most 32 steps
 * (longer ones do not fit its buffer), so it is timed on those. */
enum { DECODER_GLOBAL, DECODER_STAGED, DECODERS };
static const char *decoder_name[DECODERS] = {"global", "staged"};

/* Decodes once through handle h into poisoned destinations, checks it bit for
 * bit, then times it: one row, GB/s of bf16 output in *out_gbs. 0 on success. */
static int time_decoder(dec_ctx_t *c, tsr_handle_t h, int decoder, int steps, size_t bytes, const char *label,
                        const tsr_df11_tensor_t *t, int count, int samples, cudaStream_t s, bench_report_t *rep,
                        double *out_gbs)
{
    c->h = h;
    for (int i = 0; i < count; i++) cudaMemset(c->dests[i], 0xff, c->info.tensor[i].count * 2); /* poison */
    if (run_decode(c, 0, s) || tsr_df11_decode_status(c->h, c->ws, s)) {
        fprintf(stderr, "%s (%s): %s\n", label, decoder_name[decoder], tsr_last_error());
        return 1;
    }
    for (int i = 0; i < count; i++) { /* exact, before any timing counts */
        size_t n = c->info.tensor[i].count;
        uint16_t *back = malloc(n * 2);
        cudaMemcpy(back, c->dests[i], n * 2, cudaMemcpyDeviceToHost);
        if (memcmp(back, t[i].data, n * 2)) {
            fprintf(stderr, "%s (%s): tensor %d decoded wrong\n", label, decoder_name[decoder], i);
            return 1;
        }
        free(back);
    }
    bench_stats_t st;
    if (bench_time(label, run_decode, c, 3, samples, s, &st)) return 1;
    bench_row_t row;
    memset(&row, 0, sizeof row);
    snprintf(row.op, sizeof row.op, "df11 decode");
    snprintf(row.shape, sizeof row.shape, "%s", label);
    snprintf(row.dtype, sizeof row.dtype, "bf16");
    snprintf(row.config, sizeof row.config, "%d steps%s, %.2f%% of bf16", steps, decoder ? " staged" : steps <= 32 ? " global" : "",
             100.0 * bytes / (2.0 * c->info.symbols));
    row.median_us = st.median_us;
    row.min_us = st.min_us;
    row.max_us = st.max_us;
    row.bytes = (double)bytes + 2.0 * c->info.symbols; /* read the container, write bf16 */
    row.peer_us = -1;
    snprintf(row.peer, sizeof row.peer, "-");
    bench_report_add(rep, &row);
    *out_gbs = 2.0 * c->info.symbols / (st.median_us * 1e-6) / 1e9;
    fprintf(stderr, "%s, %d steps, %s decoder: %.1f us, %.0f GB/s of bf16 output\n", label, steps, decoder_name[decoder],
            st.median_us, *out_gbs);
    return 0;
}

/* Encodes the tensors in chunks of `steps`, uploads, and times each decoder
 * that has a handle (h[d] NULL: skipped): out_gbs[d]. 0 on success. */
static int measure(tsr_handle_t h[DECODERS], int steps, const char *label, const tsr_df11_tensor_t *t, int count, int samples,
                   cudaStream_t s, bench_report_t *rep, double out_gbs[DECODERS], int l2_bytes)
{
    void *host;
    size_t bytes;
    dec_ctx_t c;
    memset(&c, 0, sizeof c);
    tsr_df11_encode_options_t opt = {steps};
    if (tsr_df11_encode_with(t, count, &opt, &host, &bytes) || tsr_df11_parse(host, bytes, &c.info)) {
        fprintf(stderr, "%s: %s\n", label, tsr_last_error());
        return 1;
    }
    c.rot = bench_rotation(bytes, l2_bytes);
    c.dev = calloc((size_t)c.rot, sizeof *c.dev);
    for (int r = 0; r < c.rot; r++)
        if (cudaMalloc(&c.dev[r], bytes) || cudaMemcpy(c.dev[r], host, bytes, cudaMemcpyHostToDevice)) {
            fprintf(stderr, "%s: cannot place container copy %d of %d\n", label, r, c.rot);
            return 1;
        }
    tsr_df11_workspace_size(&c.info, &c.ws_bytes);
    cudaMalloc(&c.ws, c.ws_bytes);
    c.dests = calloc((size_t)count, sizeof *c.dests);
    for (int i = 0; i < count; i++)
        if (cudaMalloc((void **)&c.dests[i], c.info.tensor[i].count * 2 + 16)) return 1;
    for (int d = 0; d < DECODERS; d++)
        if (h[d] && time_decoder(&c, h[d], d, steps, bytes, label, t, count, samples, s, rep, &out_gbs[d])) return 1;
    for (int i = 0; i < count; i++) cudaFree(c.dests[i]);
    free(c.dests);
    for (int r = 0; r < c.rot; r++) cudaFree(c.dev[r]);
    free(c.dev);
    cudaFree(c.ws);
    tsr_df11_info_free(&c.info);
    free(host);
    return 0;
}

static int write_raw(const char *dir, const char *name, const uint16_t *v, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    int bad = !f || fwrite(v, 2, n, f) != n;
    if (f && fclose(f)) bad = 1;
    if (bad) fprintf(stderr, "bench_df11: cannot write %s\n", path);
    return bad;
}

/* stream.bf16: the largest stream (the smaller ones are its prefixes);
 * block.bf16: the block's tensors back to back; manifest.json says which. */
static int dump_tensors(const char *dir, const uint16_t *v, const size_t *mbs, int nsizes, const uint16_t *bv,
                        const tsr_df11_tensor_t *blk, int count)
{
    size_t total = 0;
    for (int i = 0; i < count; i++) total += (size_t)(blk[i].dims[0] * blk[i].dims[1]);
    if (write_raw(dir, "stream.bf16", v, mbs[nsizes - 1] << 19) || write_raw(dir, "block.bf16", bv, total)) return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    fprintf(f, "{\"streams_mb\": [");
    for (int i = 0; i < nsizes; i++) fprintf(f, "%s%zu", i ? ", " : "", mbs[i]);
    fprintf(f, "], \"stream_file\": \"stream.bf16\", \"block_file\": \"block.bf16\",\n \"block_label\": \"llama3-8b block (218M)\", \"block_tensors\": [");
    for (int i = 0; i < count; i++)
        fprintf(f, "%s{\"name\": \"%s\", \"shape\": [%lld, %lld]}", i ? ", " : "", blk[i].name,
                (long long)blk[i].dims[0], (long long)blk[i].dims[1]);
    fprintf(f, "]}\n");
    return fclose(f) != 0;
}

int main(int argc, char **argv)
{
    const char *json = NULL, *dump = NULL;
    int quick = 0, only_steps = 0, smoke = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--dump") && i + 1 < argc) dump = argv[++i];
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) only_steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--smoke")) smoke = 1;
        else {
            fprintf(stderr, "usage: %s [--quick] [--smoke] [--steps N] [--json FILE] [--dump DIR]\n", argv[0]);
            return 2;
        }
    }
    /* the tensors first: --dump needs no GPU. --smoke: one 256 KB stream and
     * the block's shapes divided by 64 each way, for the CPU emulation */
    const size_t mbs[] = {64, 256, 1024, 2048};
    int nsizes = smoke ? 1 : quick ? 2 : 4;
    size_t elems[4];
    char stream_label[4][32];
    for (int i = 0; i < 4; i++) {
        elems[i] = smoke ? (size_t)1 << 17 : mbs[i] << 19; /* elements: MB of bf16 / 2 */
        snprintf(stream_label[i], sizeof stream_label[i], smoke ? "256 KB stream" : "%zu MB stream", mbs[i]);
    }
    const char *block_label = smoke ? "llama3-8b block / 4096" : "llama3-8b block (218M)";
    size_t most = elems[nsizes - 1];
    uint16_t *v = malloc(most * 2);
    gaussian_bf16(v, most, 7);
    /* Llama-3-8B block: q, k, v, o, gate, up, down */
    int64_t shapes[7][2] = {{4096, 4096}, {1024, 4096}, {1024, 4096}, {4096, 4096}, {14336, 4096}, {14336, 4096}, {4096, 14336}};
    for (int i = 0; smoke && i < 7; i++) shapes[i][0] /= 64, shapes[i][1] /= 64;
    const char *names[7] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    tsr_df11_tensor_t blk[7];
    size_t total = 0;
    for (int i = 0; i < 7; i++) total += (size_t)(shapes[i][0] * shapes[i][1]);
    uint16_t *bv = total <= most ? v : malloc(total * 2);
    if (!v || !bv) return 1;
    if (bv != v) gaussian_bf16(bv, total, 8);
    size_t off = 0;
    for (int i = 0; i < 7; i++) {
        blk[i] = (tsr_df11_tensor_t){names[i], bv + off, 2, {shapes[i][0], shapes[i][1]}};
        off += (size_t)(shapes[i][0] * shapes[i][1]);
    }
    if (dump && !smoke && dump_tensors(dump, v, mbs, nsizes, bv, blk, 7)) return 1;

    /* h: the global-memory decoder, hs: the staged one (the switch is read at
     * creation; set both ways so that the caller's environment does not count) */
    tsr_handle_t h, hs;
    setenv("TSR_DF11_STAGE_CODES", "0", 1);
    if (tsr_create(&h)) {
        printf("bench_df11: no usable GPU (%s): nothing to time\n", tsr_last_error());
        return 2;
    }
    setenv("TSR_DF11_STAGE_CODES", "1", 1);
    if (tsr_create(&hs)) {
        fprintf(stderr, "bench_df11: %s\n", tsr_last_error());
        return 1;
    }
    unsetenv("TSR_DF11_STAGE_CODES");
    cudaStream_t s;
    cudaStreamCreate(&s);
    bench_report_t rep;
    bench_report_init(&rep, h, bench_copy_bandwidth_gbs(s));
    /* gbs[k][i]: chunk length steps[k], stream i (the block last); 0 where not
     * timed. 32 and 64 steps (the automatic choices) on every stream, 16 and 128 on the
     * 64 MB stream and the block */
    int steps[4] = {16, 32, 64, 128}, nsteps = 4;
    if (only_steps) {
        steps[0] = only_steps;
        nsteps = 1;
    }
    double gbs[4][5][DECODERS];
    memset(gbs, 0, sizeof gbs);
    const int samples = smoke ? 2 : quick ? 10 : 20;
    for (int k = 0; k < nsteps; k++) {
        tsr_handle_t hk[DECODERS] = {h, steps[k] <= 32 ? hs : NULL};
        for (int i = 0; i < nsizes; i++) {
            if (!only_steps && (steps[k] == 16 || steps[k] == 128) && i != 0) continue;
            tsr_df11_tensor_t t = {"w", v, 1, {(int64_t)elems[i]}};
            if (measure(hk, steps[k], stream_label[i], &t, 1, samples, s, &rep, gbs[k][i], rep.device.l2_bytes)) return 1;
        }
        if (measure(hk, steps[k], block_label, blk, 7, samples, s, &rep, gbs[k][4], rep.device.l2_bytes)) return 1;
    }
    bench_report_markdown(&rep, stdout);
    printf("\n| stream | chunk steps | decoder | bf16 output GB/s | staged / global | target 1300 GB/s |\n"
           "|---|---|---|---|---|---|\n");
    for (int i = 0; i < 5; i++) {
        if (i >= nsizes && i < 4) continue;
        for (int k = 0; k < nsteps; k++)
            for (int d = 0; d < DECODERS; d++) {
                const double g = gbs[k][i][d];
                if (g == 0) continue;
                printf("| %s ", i < 4 ? stream_label[i] : block_label);
                char ratio[16] = "";
                if (d == DECODER_STAGED && gbs[k][i][DECODER_GLOBAL] > 0)
                    snprintf(ratio, sizeof ratio, "%.2fx", g / gbs[k][i][DECODER_GLOBAL]);
                printf("| %d | %s | %.0f | %s | %s |\n", steps[k], decoder_name[d], g, ratio, g >= 1300 ? "met" : "not met");
            }
    }
    if (json) bench_report_json(&rep, json);
    bench_report_free(&rep);
    if (bv != v) free(bv);
    free(v);
    tsr_destroy(hs);
    tsr_destroy(h);
    return 0;
}
