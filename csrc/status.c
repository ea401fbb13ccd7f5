/* Status strings and the thread-local last-error message (docs/errors.md). */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local char tsr_error_message[1024];

const char *tsr_status_string(tsr_status_t status)
{
    switch (status) {
    case TSR_STATUS_SUCCESS: return "TSR_STATUS_SUCCESS: the call succeeded";
    case TSR_STATUS_INVALID_VALUE: return "TSR_STATUS_INVALID_VALUE: an argument has an invalid value";
    case TSR_STATUS_MISALIGNED_POINTER: return "TSR_STATUS_MISALIGNED_POINTER: a pointer breaks its alignment rule";
    case TSR_STATUS_UNSUPPORTED_SHAPE: return "TSR_STATUS_UNSUPPORTED_SHAPE: no kernel implements this shape";
    case TSR_STATUS_UNSUPPORTED_DTYPE: return "TSR_STATUS_UNSUPPORTED_DTYPE: no kernel implements this dtype";
    case TSR_STATUS_UNSUPPORTED_ARCH: return "TSR_STATUS_UNSUPPORTED_ARCH: the device's compute capability is not supported";
    case TSR_STATUS_NO_DEVICE: return "TSR_STATUS_NO_DEVICE: no CUDA device or driver is available";
    case TSR_STATUS_WORKSPACE_TOO_SMALL: return "TSR_STATUS_WORKSPACE_TOO_SMALL: the workspace is smaller than the size query returned";
    case TSR_STATUS_CORRUPT_DATA: return "TSR_STATUS_CORRUPT_DATA: the data failed its integrity checks";
    case TSR_STATUS_CUDA_ERROR: return "TSR_STATUS_CUDA_ERROR: a CUDA call or kernel launch failed";
    case TSR_STATUS_OUT_OF_MEMORY: return "TSR_STATUS_OUT_OF_MEMORY: a host allocation failed";
    case TSR_STATUS_IO_ERROR: return "TSR_STATUS_IO_ERROR: reading or writing a file failed";
    case TSR_STATUS_NOT_SUPPORTED: return "TSR_STATUS_NOT_SUPPORTED: the feature is not available in this build or call";
    }
    return "TSR_STATUS_UNKNOWN: not a tsr_status_t value";
}

const char *tsr_last_error(void) { return tsr_error_message; }

void tsr_clear_error(void) { tsr_error_message[0] = '\0'; }

tsr_status_t tsr_fail(tsr_status_t status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tsr_error_message, sizeof tsr_error_message, fmt, ap);
    va_end(ap);
    return status;
}

tsr_status_t tsr_fail_cuda(cudaError_t err, const char *what)
{
    return tsr_fail(TSR_STATUS_CUDA_ERROR, "%s failed: %s (%s)", what, cudaGetErrorName(err),
                    cudaGetErrorString(err));
}

int tsr_version(void) { return TSR_VERSION; }

const char *tsr_dtype_name(tsr_dtype_t dtype)
{
    switch (dtype) {
    case TSR_DTYPE_F16: return "f16";
    case TSR_DTYPE_BF16: return "bf16";
    case TSR_DTYPE_F32: return "f32";
    case TSR_DTYPE_INT4: return "int4";
    case TSR_DTYPE_UINT4: return "uint4";
    case TSR_DTYPE_INT8: return "int8";
    case TSR_DTYPE_INT32: return "int32";
    }
    return "?";
}

int tsr_dtype_bits(tsr_dtype_t dtype)
{
    switch (dtype) {
    case TSR_DTYPE_F16: case TSR_DTYPE_BF16: return 16;
    case TSR_DTYPE_F32: case TSR_DTYPE_INT32: return 32;
    case TSR_DTYPE_INT4: case TSR_DTYPE_UINT4: return 4;
    case TSR_DTYPE_INT8: return 8;
    }
    return 0;
}
