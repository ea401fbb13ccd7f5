/* DFloat11 encoder speed on one CPU core: MB/s of bf16 input (1 MB = 1e6 bytes),
 * median of 5 runs over 128M bytes of trained-looking (Gaussian) weights, plus
 * the CPU decoder for reference. Needs no GPU.
 *   bench_df11_encode [--mb N] [--input FILE] [--steps S]
 * --input takes the weights from a raw little-endian bf16 file instead (the
 * tensors bench_df11 --dump writes), so that sizes can be compared with the
 * dfloat11 package's on the same tensors (bench_df11_peer.py --sizes-only).
 * --steps sets the chunk length (tsr_df11_encode_options_t; 0 = automatic, 32 or
 * 64 steps: the table says which). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_timer.h"
#include "tessera/df11.h"

int main(int argc, char **argv)
{
    size_t mb = 128;
    const char *input = NULL;
    tsr_df11_encode_options_t opt = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = (size_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) opt.chunk_steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--input") && i + 1 < argc) input = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--mb N] [--input FILE] [--steps S]\n", argv[0]);
            return 2;
        }
    }
    size_t n = mb * 1000000 / 2;
    FILE *f = NULL;
    if (input) {
        f = fopen(input, "rb");
        if (!f || fseek(f, 0, SEEK_END)) {
            fprintf(stderr, "bench_df11_encode: cannot read %s\n", input);
            return 1;
        }
        n = (size_t)ftell(f) / 2;
        rewind(f);
        mb = n * 2 / 1000000;
    }
    uint16_t *v = malloc(n * 2 + 2), *out = malloc(n * 2 + 2);
    if (!v || !out) return 1;
    if (f) {
        int bad = fread(v, 2, n, f) != n;
        fclose(f);
        if (bad) return 1;
    }
    unsigned long long s = 12345;
    for (size_t i = 0; !input && i < n; i++) { /* N(0, 0.02) by Box-Muller, rounded to bf16 */
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u1 = ((s >> 11) + 1.0) / 9007199254740993.0;
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u2 = (s >> 11) / 9007199254740992.0;
        float f = (float)(0.02 * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
        uint32_t u;
        memcpy(&u, &f, 4);
        v[i] = (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
    }
    tsr_df11_tensor_t t = {"w", v, 1, {(int64_t)n}};
    double enc[5], dec[5];
    size_t bytes = 0;
    unsigned steps = 0; /* the chunk length the encoder took */
    for (int r = 0; r < 5; r++) {
        void *c;
        double t0 = host_now_s();
        if (tsr_df11_encode_with(&t, 1, &opt, &c, &bytes)) {
            fprintf(stderr, "encode: %s\n", tsr_last_error());
            return 1;
        }
        enc[r] = host_now_s() - t0;
        tsr_df11_info_t info;
        uint16_t *d[1] = {out};
        t0 = host_now_s();
        if (tsr_df11_parse(c, bytes, &info) || tsr_df11_decode_host(c, &info, d)) return 1;
        dec[r] = host_now_s() - t0;
        steps = info.chunk_steps;
        if (memcmp(out, v, n * 2)) {
            fprintf(stderr, "round trip differs\n");
            return 1;
        }
        tsr_df11_info_free(&info);
        free(c);
    }
    const double enc_s = host_median(enc, 5), dec_s = host_median(dec, 5);
    const char *what = input ? input : "N(0,0.02)";
    printf("| op | input | weights | median s | MB/s of bf16 | stored, %% of bf16 |\n|---|---|---|---|---|---|\n");
    printf("| df11 encode (1 core, %u steps) | %s, %zu MB | %zu | %.3f | %.0f | %.2f%% |\n", steps, what, mb, n, enc_s,
           n * 2 / enc_s / 1e6, 100.0 * bytes / (n * 2.0));
    printf("| df11 parse + CPU decode (1 core) | %s, %zu MB | %zu | %.3f | %.0f | |\n", what, mb, n, dec_s, n * 2 / dec_s / 1e6);
    free(v);
    free(out);
    return 0;
}
