/* DFloat11 GPU decode dispatcher: checks a call, writes the destination table
 * and status word into the workspace, and launches cuda/df11/. Apart from
 * df11.c so that host-only programs link without the kernels. */
#include <stdlib.h>
#include <string.h>

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
    const char *bad = tsr_df11_info_inconsistency(info);
    if (bad) return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: info %s; info must be what tsr_df11_parse filled in", fn, bad);
    for (uint32_t t = 0; t < info->tensors; t++)
        if (dests[t] && (uintptr_t)dests[t] % 2)
            return tsr_fail(TSR_STATUS_MISALIGNED_POINTER, "%s: dests[%u]=%p must be 2-byte aligned", fn, t, (void *)dests[t]);
    if (info->tensors > TSR_DF11_INLINE_DESTS) {
        /* that many destinations reach the kernel through a host-to-device
         * copy of a table this call frees: a graph would replay the copy
         * from freed memory */
        enum cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
        TSR_CUDA_TRY(cudaStreamIsCapturing(stream, &capture));
        if (capture != cudaStreamCaptureStatusNone)
            return tsr_fail(TSR_STATUS_NOT_SUPPORTED,
                            "%s: info->tensors=%u under CUDA graph capture; more than %d destinations travel by a host copy "
                            "a graph cannot hold: capture decodes of at most %d tensors",
                            fn, info->tensors, TSR_DF11_INLINE_DESTS, TSR_DF11_INLINE_DESTS);
    }
    tsr_df11_launch_args_t a;
    memset(&a, 0, sizeof a);
    const unsigned char *c = container_dev;
    unsigned char *ws = workspace;
    a.lengths = c + info->lengths_offset;
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
    a.stage_codes = h->df11_stage_codes;
    a.code_bits = (int)info->code_bits;
    a.tensors = (int)info->tensors;
    a.status = (unsigned int *)ws;
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
