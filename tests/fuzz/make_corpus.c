/* Writes the seed corpus for df11_fuzz (run once; the outputs are committed):
 * small valid containers of several shapes and a truncated one. */
#include <stdio.h>
#include <stdlib.h>

#include "tessera/df11.h"

static void save(const char *path, const tsr_df11_tensor_t *t, int n, size_t cut)
{
    void *c;
    size_t bytes;
    if (tsr_df11_encode(t, n, &c, &bytes)) exit(1);
    if (cut && cut < bytes) bytes = cut;
    if (tsr_df11_write_file(path, c, bytes)) exit(1);
    free(c);
}

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
    return 0;
}
