/* libFuzzer target: any bytes as a DFloat11 container. The parser must reject
 * what is not valid (TSR_STATUS_CORRUPT_DATA) and accept only what the CPU
 * decoder then decodes without reading or writing out of bounds (ASan/UBSan
 * watch every access). Run by ctest for a bounded time over tests/fuzz/corpus. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/df11.h"

/* FNV-1a 64 over 8-byte little-endian words, then the tail bytes (the spec's checksum) */
static uint64_t fnv(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
    }
    for (; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Recomputes the checksums the input's own header points at (where they lie
 * inside it), so that mutations reach the structural checks and the decoder
 * instead of stopping at a checksum. Layout: docs/formats/df11.md. */
static void reseal(unsigned char *c, size_t size)
{
    if (size < 184) return;
    uint32_t header_bytes;
    memcpy(&header_bytes, c + 12, 4);
    if (header_bytes >= 184 && header_bytes <= size) {
        uint64_t h = fnv(c + 184, header_bytes - 184);
        memcpy(c + 168, &h, 8);
    }
    for (int i = 0; i < 5; i++) {
        uint64_t off, len;
        memcpy(&off, c + 48 + 24 * i, 8);
        memcpy(&len, c + 56 + 24 * i, 8);
        if (off <= size && len <= size - off) {
            uint64_t h = fnv(c + off, len);
            memcpy(c + 64 + 24 * i, &h, 8);
        }
    }
    uint64_t h = fnv(c, 176);
    memcpy(c + 176, &h, 8);
}

static void run_one(unsigned char *buf, size_t size)
{
    tsr_df11_info_t info;
    if (tsr_df11_parse(buf, size, &info) == TSR_STATUS_SUCCESS) {
        uint16_t **dests = calloc(info.tensors + 1, sizeof *dests);
        for (uint32_t t = 0; t < info.tensors; t++) dests[t] = malloc(info.tensor[t].count * 2 + 1);
        (void)tsr_df11_decode_host(buf, &info, dests);
        for (uint32_t t = 0; t < info.tensors; t++) free(dests[t]);
        free(dests);
        tsr_df11_info_free(&info);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* exactly size bytes, 16-byte aligned as the decoder requires */
    unsigned char *buf = aligned_alloc(16, (size + 15) / 16 * 16 + 16);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    run_one(buf, size);
    reseal(buf, size);
    run_one(buf, size);
    free(buf);
    return 0;
}
