/* libFuzzer target: any bytes as a DFloat11 container. The parser must reject
 * what is not valid (TSR_STATUS_CORRUPT_DATA) and accept only what the CPU
 * decoder then decodes without reading or writing out of bounds (ASan/UBSan
 * watch every access). Run by ctest for a bounded time over tests/fuzz/corpus. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/df11.h"
#include "../ref/df11_ref.h" /* ref_df11_reseal */

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
    /* again with the checksums made to agree, so that mutations reach the
     * structural checks and the decoder instead of stopping at a checksum */
    ref_df11_reseal(buf, size);
    run_one(buf, size);
    free(buf);
    return 0;
}
