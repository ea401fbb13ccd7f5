/* The handle: binds the current CUDA device and caches what dispatchers ask
 * about it (compute capability, SMs, L2, shared memory), read once at creation. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "tessera/w4a16.h"

tsr_status_t tsr_create(tsr_handle_t *handle)
{
    tsr_clear_error();
    if (handle == NULL)
        return tsr_fail(TSR_STATUS_INVALID_VALUE, "tsr_create: handle is NULL; pass the address of a tsr_handle_t");
    *handle = NULL;

    int driver = 0, count = 0, dev = 0;
    cudaError_t err = cudaDriverGetVersion(&driver);
    if (err != cudaSuccess || driver == 0)
        return tsr_fail(TSR_STATUS_NO_DEVICE, "tsr_create: no CUDA driver is installed (cudaDriverGetVersion gave %d, %s)",
                        driver, cudaGetErrorName(err));
    err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count == 0) {
        (void)cudaGetLastError(); /* clear it, so that the caller's next CUDA call starts clean */
        return tsr_fail(TSR_STATUS_NO_DEVICE, "tsr_create: no CUDA device is visible (cudaGetDeviceCount: count=%d, %s)",
                        count, cudaGetErrorName(err));
    }
    TSR_CUDA_TRY(cudaGetDevice(&dev));

    struct cudaDeviceProp prop;
    TSR_CUDA_TRY(cudaGetDeviceProperties(&prop, dev));
    if (prop.major < 8)
        return tsr_fail(TSR_STATUS_UNSUPPORTED_ARCH, "tsr_create: device %d (%s) has compute capability %d.%d; tessera needs >= 8.0",
                        dev, prop.name, prop.major, prop.minor);

    struct tsr_handle *h = calloc(1, sizeof *h);
    if (!h) return tsr_fail(TSR_STATUS_OUT_OF_MEMORY, "tsr_create: allocating %zu bytes for the handle failed", sizeof *h);
    tsr_device_info_t *d = &h->info;
    snprintf(d->name, sizeof d->name, "%s", prop.name);
    d->device = dev;
    d->cc_major = prop.major;
    d->cc_minor = prop.minor;
    d->sm_count = prop.multiProcessorCount;
    d->l2_bytes = prop.l2CacheSize;
    d->smem_per_block_optin = (int)prop.sharedMemPerBlockOptin;
    d->mem_bus_bits = prop.memoryBusWidth;
    /* clockRate left cudaDeviceProp in CUDA 13: read clocks as attributes. */
    if (cudaDeviceGetAttribute(&d->clock_khz, cudaDevAttrClockRate, dev) != cudaSuccess) d->clock_khz = 0;
    if (cudaDeviceGetAttribute(&d->mem_clock_khz, cudaDevAttrMemoryClockRate, dev) != cudaSuccess) d->mem_clock_khz = 0;
    (void)cudaGetLastError();
    d->driver_version = driver;
    const char *forced = getenv("TSR_W4A16_CONFIG");
    h->w4a16_forced_config = forced && *forced ? atoi(forced) : -1;
    const char *per_sm = getenv("TSR_W4A16_BLOCKS_PER_SM");
    h->w4a16_forced_blocks_per_sm = per_sm && *per_sm ? atoi(per_sm) : 0;
    h->w4a16_prefill = TSR_W4A16_PREFILL_AUTO;
    const char *slab = getenv("TSR_W4A16_DENSE_SLAB_COLS");
    h->w4a16_dense_slab_cols = slab && *slab ? atoi(slab) : 0;
    const char *stage = getenv("TSR_DF11_STAGE_CODES");
    h->df11_stage_codes = !(stage && *stage && atoi(stage) == 0); /* staged unless "0" */
    cudaRuntimeGetVersion(&d->runtime_version);
    /* last: the cache key needs every field above */
    tsr_tuning_load(h);
    tsr_clear_error(); /* a quarantined cache file is a warning, not this call's error */
    *handle = h;
    return TSR_STATUS_SUCCESS;
}

tsr_status_t tsr_destroy(tsr_handle_t handle)
{
    tsr_clear_error();
    if (handle) {
        free(handle->tuning);
        if (handle->blas && handle->release_blas) handle->release_blas(handle->blas);
    }
    free(handle);
    return TSR_STATUS_SUCCESS;
}

tsr_status_t tsr_get_device_info(tsr_handle_t handle, tsr_device_info_t *info)
{
    tsr_clear_error();
    TSR_CHECK_PTR("tsr_get_device_info", handle);
    TSR_CHECK_PTR("tsr_get_device_info", info);
    *info = handle->info;
    return TSR_STATUS_SUCCESS;
}
