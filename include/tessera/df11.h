/* DFloat11: lossless compression of bf16 weights. The 8-bit exponents are
 * Huffman-coded (a trained model's exponents carry about 2.6 bits), sign and
 * mantissa stay raw; a model shrinks to about 70% and decodes bit for bit.
 *
 *   tsr_df11_encode()          bf16 tensors -> one self-describing container (host)
 *   tsr_df11_encode_with()     the same, with options (the decoder's chunk length)
 *   tsr_df11_write_file/read_file
 *   tsr_df11_parse()           validates a container (magic, version, bounds,
 *                              checksums, tables) and describes its tensors
 *   tsr_df11_decode_host()     CPU decoder, the same output as the GPU's
 *   tsr_df11_decode()          GPU decoder: one launch, caller-given outputs
 *   tsr_df11_decode_status()   waits, then reports what the GPU decoder found
 * Byte layout: docs/formats/df11.md. */
#ifndef TESSERA_DF11_H
#define TESSERA_DF11_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "tessera/tessera.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TSR_DF11_MAX_DIMS 8
#define TSR_DF11_MAX_NAME 255
/* A chunk is what one warp of the GPU decoder decodes: 256 * steps elements,
 * steps a power of two up to 128. Shorter chunks decode faster (on an H100,
 * 32 steps ran 1.15-1.5x faster than 64, perf/results/2026-11-22-h100 run 6)
 * and cost size (32 steps: about 0.04 bits a weight more than 64). Unless
 * told (chunk_steps != 0), the encoder takes TSR_DF11_SHORT_CHUNK_STEPS when
 * that keeps the container within TSR_DF11_SHORT_CHUNK_MAX_OVERHEAD of the
 * exponent-entropy bound, else TSR_DF11_DEFAULT_CHUNK_STEPS: large streams get
 * 32 (from about 1M weights), a lone small tensor 64. */
#define TSR_DF11_DEFAULT_CHUNK_STEPS 64
#define TSR_DF11_SHORT_CHUNK_STEPS 32
#define TSR_DF11_SHORT_CHUNK_MAX_OVERHEAD 0.009
#define TSR_DF11_MAX_CHUNK_STEPS 128

/* One bf16 tensor to compress. */
typedef struct tsr_df11_tensor {
    const char *name;               /* at most TSR_DF11_MAX_NAME bytes, no NUL inside */
    const uint16_t *data;           /* host, [count] bf16 bit patterns, any alignment of 2 */
    int ndim;                       /* 0..TSR_DF11_MAX_DIMS */
    int64_t dims[TSR_DF11_MAX_DIMS]; /* count = product of dims (1 for ndim 0) */
} tsr_df11_tensor_t;

/* Compresses count tensors into one stream (a transformer block, say).
 * *container is malloc'd host memory of *bytes (free() it). */
tsr_status_t tsr_df11_encode(const tsr_df11_tensor_t *tensors, int count, void **container, size_t *bytes);

typedef struct tsr_df11_encode_options {
    int chunk_steps; /* 0: 32 or 64 by the rule above; else a power of two in 1..TSR_DF11_MAX_CHUNK_STEPS */
} tsr_df11_encode_options_t;

/* tsr_df11_encode with options (NULL: the defaults). */
tsr_status_t tsr_df11_encode_with(const tsr_df11_tensor_t *tensors, int count, const tsr_df11_encode_options_t *options,
                                  void **container, size_t *bytes);

/* A parsed, validated container: what it holds and where. Plain data. */
typedef struct tsr_df11_tensor_info {
    char name[TSR_DF11_MAX_NAME + 1];
    int ndim;
    int64_t dims[TSR_DF11_MAX_DIMS];
    uint64_t offset, count; /* elements, in the stream's order */
} tsr_df11_tensor_info_t;

typedef struct tsr_df11_info {
    uint32_t version;
    uint64_t bytes;           /* the container's size */
    uint64_t symbols;         /* bf16 elements in all */
    uint32_t tensors;
    tsr_df11_tensor_info_t *tensor; /* [tensors], owned: tsr_df11_info_free */
    uint32_t code_bits;       /* longest code: the decoders' lookup tables have 2^code_bits entries */
    uint32_t chunks;          /* warp chunks of the parallel decoder */
    uint32_t chunk_steps;     /* a chunk is 256 * chunk_steps elements */
    uint32_t lane_bytes;      /* bytes per lane-length entry: 1 or 2 */
    /* section offsets (bytes from the container's start) */
    uint64_t lengths_offset, chunk_base_offset, lane_bits_offset, stream_offset, stream_words, raw_offset;
} tsr_df11_info_t;

/* Validates bytes [container, container+bytes) completely (every offset, size,
 * count and checksum, and that the code lengths make a prefix code):
 * TSR_STATUS_CORRUPT_DATA with the first problem found. Reads nothing outside. */
tsr_status_t tsr_df11_parse(const void *container, size_t bytes, tsr_df11_info_t *info);
void tsr_df11_info_free(tsr_df11_info_t *info);

tsr_status_t tsr_df11_write_file(const char *path, const void *container, size_t bytes);
/* Reads and parses a file; *container is malloc'd. */
tsr_status_t tsr_df11_read_file(const char *path, void **container, size_t *bytes, tsr_df11_info_t *info);

/* CPU decode of a parsed container. dests[i]: host [info->tensor[i].count] bf16
 * for tensor i, or NULL to skip it. */
tsr_status_t tsr_df11_decode_host(const void *container, const tsr_df11_info_t *info, uint16_t *const *dests);

/* Bytes of device workspace for tsr_df11_decode: the status word, and the
 * destination table when the container holds more than 16 tensors. */
tsr_status_t tsr_df11_workspace_size(const tsr_df11_info_t *info, size_t *bytes);

/* GPU decode, one launch. container_dev: the container copied to device memory
 * as it is (16-byte aligned); dests: host array of [info->tensors] device
 * pointers (2-byte aligned; NULL skips a tensor); workspace: device, 16-byte
 * aligned. Asynchronous: tsr_df11_decode_status reports what the kernel found.
 * Capturable into a CUDA graph (a memset and one launch) for up to 16 tensors;
 * more go through the workspace by a host copy, and a capture of such a call
 * is refused with TSR_STATUS_NOT_SUPPORTED. */
tsr_status_t tsr_df11_decode(tsr_handle_t handle, const void *container_dev, const tsr_df11_info_t *info,
                             uint16_t *const *dests, void *workspace, size_t workspace_bytes, cudaStream_t stream);

/* Waits for stream, reads and clears the status word the decoder left in the
 * workspace: TSR_STATUS_CORRUPT_DATA (with the chunk and lane) when the device
 * copy of the stream was bad; the kernel never read or wrote out of bounds. */
tsr_status_t tsr_df11_decode_status(tsr_handle_t handle, void *workspace, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
