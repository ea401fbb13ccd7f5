/* DFloat11 GPU decode dispatcher: checks a call, writes the destination table
 * and status word into the workspace, and launches cuda/df11/. Apart from
 * df11.c so that host-only programs link without the kernels. */
#include <stdlib.h>
#include <string.h>

#include "df11_format.h"
#include "df11_internal.h"
#include "internal.h"
#include "tessera/df11.h"

/* ---- GPU decoder dispatch -------------------------------------------------------- */
static size_t dest_table_bytes(const tsr_df11_info_t *info)
{
    return (size_t)info->tensors * sizeof(tsr_df11_dest_t);
}

/* The workspace: the status word (16 bytes), then the destination table when
 * it does not fit the kernel's parameters. */
static size_t workspace_bytes_for(const tsr_df11_info_t *info)
{
    return 16 + (info->tensors > TSR_DF11_INLINE_DESTS ? dest_table_bytes(info) : 0);
}

/* The kernel trusts info's offsets and counts (tsr_df11_parse checked them
 * against the bytes): a hand-made or stale info must not send it outside the
 * container. NULL when consistent, else which rule failed. */
static const char *info_inconsistency(const tsr_df11_info_t *info)
{
    const uint64_t steps = info->chunk_steps, n = info->bytes;
    if (steps < 1 || steps > TSR_DF11_MAX_CHUNK_STEPS || (steps & (steps - 1))) return "chunk_steps is not a power of two in 1..128";
    if (info->lane_bytes != 1 && info->lane_bytes != 2) return "lane_bytes is not 1 or 2";
    if (info->code_bits < 1 || info->code_bits > TSR_DF11_MAX_CODE_BITS) return "code_bits is not in 1..12";
    if (info->tensors && !info->tensor) return "has no tensor table";
    if (info->symbols > (UINT64_C(1) << 40) || info->chunks != (info->symbols + 256 * steps - 1) / (256 * steps))
        return "chunks does not match symbols and chunk_steps";
    const struct {
        uint64_t offset, bytes;
    } sec[5] = {{info->raw_offset, info->symbols},
                {info->lut_offset, (uint64_t)2 << info->code_bits},
                {info->chunk_base_offset, (uint64_t)info->chunks * 8},
                {info->lane_bits_offset, (uint64_t)info->chunks * 32 * info->lane_bytes},
                {info->stream_offset, info->stream_words * 4}};
    for (int i = 0; i < 5; i++)
        if (sec[i].offset % 16 || sec[i].offset > n || sec[i].bytes > n - sec[i].offset) return "has a section outside its bytes";
    uint64_t end = 0;
    for (uint32_t t = 0; t < info->tensors; t++) {
        if (info->tensor[t].offset != end || info->tensor[t].count > info->symbols - end) return "has tensors that do not tile the stream";
        end += info->tensor[t].count;
    }
    return end == info->symbols ? NULL : "has tensors that do not tile the stream";
}

tsr_status_t tsr_df11_workspace_size(const tsr_df11_info_t *info, size_t *bytes)
{
    const char *fn = "tsr_df11_workspace_size";
    tsr_clear_error();
    TSR_CHECK_PTR(fn, info);
    TSR_CHECK_PTR(fn, bytes);
    *bytes = workspace_bytes_for(info);
    return TSR_STATUS_SUCCESS;
}

tsr_status_t tsr_df11_decode(tsr_handle_t h, const void *container_dev, const tsr_df11_info_t *info,
                             uint16_t *const *dests, void *workspace, size_t workspace_bytes, cudaStream_t stream)
{
    const char *fn = "tsr_df11_decode";
    tsr_clear_error();
    TSR_CHECK_PTR(fn, h);
    TSR_CHECK_PTR(fn, container_dev);
    TSR_CHECK_PTR(fn, info);
    TSR_CHECK_PTR(fn, workspace);
    if (info->tensors) TSR_CHECK_PTR(fn, dests);
    TSR_CHECK_ALIGN(fn, container_dev, 16);
    TSR_CHECK_ALIGN(fn, workspace, 16);
    size_t need = workspace_bytes_for(info);
    if (workspace_bytes < need)
        return tsr_fail(TSR_STATUS_WORKSPACE_TOO_SMALL, "%s: workspace_bytes=%zu but this container needs %zu (tsr_df11_workspace_size)",
                        fn, workspace_bytes, need);
    const char *bad = info_inconsistency(info);
    if (bad) return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: info %s; info must be what tsr_df11_parse filled in", fn, bad);
    for (uint32_t t = 0; t < info->tensors; t++)
        if (dests[t] && (uintptr_t)dests[t] % 2)
            return tsr_fail(TSR_STATUS_MISALIGNED_POINTER, "%s: dests[%u]=%p must be 2-byte aligned", fn, t, (void *)dests[t]);
    tsr_df11_launch_args_t a;
    memset(&a, 0, sizeof a);
    const unsigned char *c = container_dev;
    unsigned char *ws = workspace;
    a.lut = (const uint16_t *)(c + info->lut_offset);
    a.chunk_base = (const uint64_t *)(c + info->chunk_base_offset);
    a.lane_bits = c + info->lane_bits_offset;
    a.stream = (const uint32_t *)(c + info->stream_offset);
    a.raw = c + info->raw_offset;
    a.stream_words = info->stream_words;
    a.symbols = info->symbols;
    a.chunks = info->chunks;
    a.steps = (int)info->chunk_steps;
    a.lane_bytes = (int)info->lane_bytes;
    a.sm_count = h->info.sm_count;
    a.code_bits = (int)info->code_bits;
    a.tensors = (int)info->tensors;
    a.status = (unsigned int *)ws;
    a.decoder = h->df11_decoder;
    tsr_df11_dest_t *table = info->tensors > TSR_DF11_INLINE_DESTS ? malloc(dest_table_bytes(info)) : a.inline_dests;
    if (!table) return tsr_fail(TSR_STATUS_OUT_OF_MEMORY, "%s: %u destination records", fn, info->tensors);
    for (uint32_t t = 0; t < info->tensors; t++) {
        table[t].offset = info->tensor[t].offset;
        table[t].count = info->tensor[t].count;
        table[t].ptr = dests[t];
    }
    tsr_nvtx_push(fn);
    cudaError_t e = cudaMemsetAsync(ws, 0, 16, stream); /* the status word */
    if (e == cudaSuccess && table != a.inline_dests) {
        /* pageable source: staged before cudaMemcpyAsync returns, so it may be freed after */
        e = cudaMemcpyAsync(ws + 16, table, dest_table_bytes(info), cudaMemcpyHostToDevice, stream);
        a.dests = (const tsr_df11_dest_t *)(ws + 16);
    }
    if (e == cudaSuccess && info->chunks) e = tsr_df11_launch_decode(&a, stream);
    tsr_status_t st = e == cudaSuccess ? TSR_STATUS_SUCCESS : tsr_fail_cuda(e, fn);
    if (table != a.inline_dests) free(table);
    tsr_nvtx_pop();
    return st;
}

tsr_status_t tsr_df11_decode_status(tsr_handle_t h, void *workspace, cudaStream_t stream)
{
    const char *fn = "tsr_df11_decode_status";
    tsr_clear_error();
    TSR_CHECK_PTR(fn, h);
    TSR_CHECK_PTR(fn, workspace);
    unsigned int s[4];
    TSR_CUDA_TRY(cudaMemcpyAsync(s, workspace, sizeof s, cudaMemcpyDeviceToHost, stream));
    TSR_CUDA_TRY(cudaStreamSynchronize(stream));
    if (s[0] == 0) return TSR_STATUS_SUCCESS;
    TSR_CUDA_TRY(cudaMemsetAsync(workspace, 0, sizeof s, stream));
    return tsr_fail(TSR_STATUS_CORRUPT_DATA, "tsr_df11_decode: the device stream is corrupt (first found in chunk %u, lane %u); "
                    "outputs are incomplete", s[1], s[2]);
}
