/* tessera: CUDA kernels for compressed LLM inference, with a plain C API.
 * This header holds the core every kernel family shares: status codes, the
 * thread-local error message, dtypes, the handle and the device description.
 * Conventions (streams, workspaces, can-implement) are in docs/api.md. */
#ifndef TESSERA_TESSERA_H
#define TESSERA_TESSERA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TSR_VERSION_MAJOR 0
#define TSR_VERSION_MINOR 2
#define TSR_VERSION_PATCH 0
/* major*10000 + minor*100 + patch, as tsr_version() returns it. */
#define TSR_VERSION (TSR_VERSION_MAJOR * 10000 + TSR_VERSION_MINOR * 100 + TSR_VERSION_PATCH)

/* Pinned values: a number never changes meaning; a removed status leaves a gap. */
typedef enum tsr_status {
    TSR_STATUS_SUCCESS = 0,
    TSR_STATUS_INVALID_VALUE = 1,       /* a NULL pointer, a negative size, a bad enum */
    TSR_STATUS_MISALIGNED_POINTER = 2,  /* a pointer breaks the alignment rule of its argument */
    TSR_STATUS_UNSUPPORTED_SHAPE = 3,   /* valid, but no kernel implements this shape */
    TSR_STATUS_UNSUPPORTED_DTYPE = 4,
    TSR_STATUS_UNSUPPORTED_ARCH = 5,    /* the device's compute capability is too low */
    TSR_STATUS_NO_DEVICE = 6,           /* no CUDA device or no driver */
    TSR_STATUS_WORKSPACE_TOO_SMALL = 7,
    TSR_STATUS_CORRUPT_DATA = 8,        /* a file, container or stream failed its checks */
    TSR_STATUS_CUDA_ERROR = 9,          /* a CUDA runtime call or a launch failed */
    TSR_STATUS_OUT_OF_MEMORY = 10,      /* host allocation failed */
    TSR_STATUS_IO_ERROR = 11,
    TSR_STATUS_NOT_SUPPORTED = 12       /* a feature this build or this call does not offer */
} tsr_status_t;

/* A name for every status ("TSR_STATUS_CORRUPT_DATA: ..."); never NULL. */
const char *tsr_status_string(tsr_status_t status);

/* The message of the last failed call on this thread: the argument, its value
 * and the rule it broke. Empty string after a successful call. Never NULL. */
const char *tsr_last_error(void);

/* tsr_version(): TSR_VERSION of the library linked in. */
int tsr_version(void);

/* Element types. Pinned values, as tsr_status_t. */
typedef enum tsr_dtype {
    TSR_DTYPE_F16 = 0,
    TSR_DTYPE_BF16 = 1,
    TSR_DTYPE_F32 = 2,
    TSR_DTYPE_INT4 = 3,   /* 4-bit integer, two per byte, low nibble first */
    TSR_DTYPE_UINT4 = 4,
    TSR_DTYPE_INT8 = 5,
    TSR_DTYPE_INT32 = 6
} tsr_dtype_t;

/* "f16", "bf16", ...; "?" for a value outside the enum. */
const char *tsr_dtype_name(tsr_dtype_t dtype);
/* Size in bits of one element (4 for the 4-bit types); 0 for a bad value. */
int tsr_dtype_bits(tsr_dtype_t dtype);

/* What tsr_create read from the device it bound. */
typedef struct tsr_device_info {
    char name[256];
    int device;               /* CUDA ordinal */
    int cc_major, cc_minor;   /* compute capability */
    int sm_count;
    int l2_bytes;
    int smem_per_block_optin; /* bytes of shared memory one block may opt into */
    int clock_khz;            /* SM clock as the runtime reports it (0 if unknown) */
    int mem_clock_khz;
    int mem_bus_bits;
    int driver_version;       /* e.g. 13000 */
    int runtime_version;
} tsr_device_info_t;

typedef struct tsr_handle *tsr_handle_t;

/* Binds the calling thread's current CUDA device. Fails with
 * TSR_STATUS_NO_DEVICE (no driver or no device) or TSR_STATUS_UNSUPPORTED_ARCH
 * (below sm_80); *handle is then NULL. */
tsr_status_t tsr_create(tsr_handle_t *handle);
/* NULL is accepted and ignored. */
tsr_status_t tsr_destroy(tsr_handle_t handle);
tsr_status_t tsr_get_device_info(tsr_handle_t handle, tsr_device_info_t *info);

#ifdef __cplusplus
}
#endif
#endif /* TESSERA_TESSERA_H */
