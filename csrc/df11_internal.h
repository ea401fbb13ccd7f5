/* The DFloat11 dispatcher's interface to its kernel (cuda/df11/). Not installed. */
#ifndef TESSERA_CSRC_DF11_INTERNAL_H
#define TESSERA_CSRC_DF11_INTERNAL_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where tensor i of the stream goes: elements [offset, offset+count) -> ptr. */
typedef struct tsr_df11_dest {
    uint64_t offset, count;
    uint16_t *ptr; /* device; NULL skips the tensor */
    uint64_t pad;
} tsr_df11_dest_t;

/* Up to this many destinations travel inside the kernel's parameters: decoding
 * a transformer block (7 tensors) then needs no host-to-device copy at all. */
#define TSR_DF11_INLINE_DESTS 16

typedef struct tsr_df11_launch_args {
    const uint8_t *lengths;      /* [256]: each exponent's code length, 0 if absent */
    const uint64_t *chunk_base;  /* [chunks]: first stream bit | shortest lane's bits << 48 */
    const void *lane_bits;       /* [chunks][32] u8 or u16 (lane_bytes): a lane's bits minus the shortest */
    const uint32_t *stream;      /* [stream_words] */
    const uint8_t *raw;          /* [symbols] */
    uint64_t stream_words, symbols;
    uint32_t chunks;
    int steps, lane_bytes;       /* of a chunk; of a lane_bits entry */
    int code_bits, tensors;
    int sm_count;                /* the grid is at most the blocks that fit the GPU at once */
    int stage_codes;             /* 1: the staged decoder (the default; TSR_DF11_STAGE_CODES, cuda/df11/) */
    const tsr_df11_dest_t *dests; /* [tensors] in device memory, when tensors > TSR_DF11_INLINE_DESTS */
    tsr_df11_dest_t inline_dests[TSR_DF11_INLINE_DESTS];
    unsigned int *status;         /* [4]: error flag, chunk, lane */
} tsr_df11_launch_args_t;

cudaError_t tsr_df11_launch_decode(const tsr_df11_launch_args_t *args, cudaStream_t stream);

/* The decoders (CPU and GPU) trust info's offsets and counts (tsr_df11_parse checked them
 * against the bytes): a hand-made or stale info must not send them outside the
 * container. NULL when info is consistent, else the rule it breaks. (csrc/df11.c) */
struct tsr_df11_info;
const char *tsr_df11_info_inconsistency(const struct tsr_df11_info *info);

#ifdef __cplusplus
}
#endif
#endif
