/* Writes the seed corpus for df11_fuzz (run once; the outputs are committed):
 * small valid containers of several shapes and a truncated one. */
#include <stdio.h>
#include <stdlib.h>

#include "tessera/df11.h"

static void save_steps(const char *path, const tsr_df11_tensor_t *t, int n, size_t cut, int steps)
{
    void *c;
    size_t bytes;
    tsr_df11_encode_options_t opt = {steps};
    if (tsr_df11_encode_with(t, n, &opt, &c, &bytes)) exit(1);
    if (cut && cut < bytes) bytes = cut;
    if (tsr_df11_write_file(path, c, bytes)) exit(1);
    free(c);
}

static void save(const char *path, const tsr_df11_tensor_t *t, int n, size_t cut) { save_steps(path, t, n, cut, 0); }

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    char p[512];
    uint16_t v[300];
    for (int i = 0; i < 300; i++) v[i] = (uint16_t)(0x3c00 + (i * 37 % 1100) - 550);
    tsr_df11_tensor_t one = {"w", v, 2, {10, 30}};
    snprintf(p, sizeof p, "%s/one_tensor.df11", dir);
    save(p, &one, 1, 0);
    tsr_df11_tensor_t two[2] = {{"a", v, 1, {7}}, {"b.c", v + 7, 0, {0}}};
    snprintf(p, sizeof p, "%s/two_tensors.df11", dir);
    save(p, two, 2, 0);
    snprintf(p, sizeof p, "%s/empty.df11", dir);
    save(p, NULL, 0, 0);
    snprintf(p, sizeof p, "%s/truncated.df11", dir);
    save(p, &one, 1, 250);
    /* two chunks of one step; and lanes 300+ bits apart (two-byte lane entries) */
    snprintf(p, sizeof p, "%s/two_chunks.df11", dir);
    save_steps(p, &one, 1, 0, 1);
    static uint16_t w[4096];
    for (int i = 0; i < 4096; i++) w[i] = (uint16_t)((i % 256 < 8 ? (40 + i * 7 % 150) : 127) << 7 | (i & 0x7f));
    tsr_df11_tensor_t wide = {"wide", w, 1, {4096}};
    snprintf(p, sizeof p, "%s/wide_lanes.df11", dir);
    save_steps(p, &wide, 1, 0, 16);
    return 0;
}
