/* The emulated CUDA runtime: the subset of the CUDA runtime API that tessera and
 * its tests call, implemented on the host for builds linked against the SIMT
 * emulation instead of libcudart. One fake device (sm_80 unless TSR_SIMT_CC
 * says e.g. 90; TSR_SIMT_SMS multiprocessors, default 4). Test support only. */
#include <cuda_runtime_api.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

#include "simt_alloc.h"

namespace {
struct Mapping {
    void *base;
    size_t len;
    size_t size;
};
std::map<uintptr_t, Mapping> g_allocs; /* keyed by user pointer */
std::mutex g_mu;
cudaError_t g_last = cudaSuccess;
/* the open stream capture's operations (non-null while one is open) */
std::vector<std::function<void()>> *g_capture;

size_t page() { return (size_t)sysconf(_SC_PAGESIZE); }

int env_int(const char *name, int dflt)
{
    const char *e = getenv(name);
    return e && atoi(e) > 0 ? atoi(e) : dflt;
}

cudaError_t ret(cudaError_t e)
{
    if (e != cudaSuccess) g_last = e;
    return e;
}

const Mapping *find(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    auto it = g_allocs.upper_bound(a);
    if (it == g_allocs.begin()) return nullptr;
    --it;
    if (a >= it->first && a < it->first + (it->second.size ? it->second.size : 1)) return &it->second;
    return nullptr;
}
} // namespace

/* The capture hooks simt.h declares (C++ linkage; simt.h itself is for
 * kernel sources and clashes with the runtime's headers here). */
bool tsr_simt_capturing(void) { return g_capture != nullptr; }
void tsr_simt_capture_add(std::function<void()> op) { g_capture->push_back(std::move(op)); }

const void *tsr_simt_alloc_base(const void *p, size_t *bytes)
{
    std::lock_guard<std::mutex> lk(g_mu);
    uintptr_t a = (uintptr_t)p;
    auto it = g_allocs.upper_bound(a);
    if (it == g_allocs.begin()) return nullptr;
    --it;
    if (a >= it->first + (it->second.size ? it->second.size : 1)) return nullptr;
    *bytes = it->second.size;
    return (const void *)it->first;
}

/* simt.cpp's: a synchronisation, or a copy or set on the stream, ends the
 * overlap of programmatic launches */
void tsr_simt_end_overlap(void);

int tsr_simt_alloc_contains(const void *p, size_t bytes)
{
    std::lock_guard<std::mutex> lk(g_mu);
    uintptr_t a = (uintptr_t)p;
    auto it = g_allocs.upper_bound(a);
    if (it == g_allocs.begin()) return 0;
    --it;
    return a >= it->first && a + bytes <= it->first + it->second.size;
}

extern "C" {

cudaError_t CUDARTAPI cudaMalloc(void **devPtr, size_t size)
{
    if (!devPtr) return ret(cudaErrorInvalidValue);
    if (g_capture) return ret(cudaErrorStreamCaptureUnsupported); /* not capturable in this thread */
    /* The buffer ends at a PROT_NONE page, 16-byte aligned (CUDA gives 256), so
     * that overruns fault and kernels that assume more than 16 show up here. */
    size_t pg = page(), rounded = (size + 15) / 16 * 16;
    size_t data_pages = (rounded + pg - 1) / pg;
    size_t len = (data_pages + 2) * pg;
    unsigned char *base = (unsigned char *)mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return ret(cudaErrorMemoryAllocation);
    mprotect(base, pg, PROT_NONE);
    mprotect(base + (data_pages + 1) * pg, pg, PROT_NONE);
    unsigned char *user = base + (data_pages + 1) * pg - rounded;
    memset(user, 0xA5, rounded); /* cudaMalloc'd memory is not zeroed: never let tests rely on it */
    std::lock_guard<std::mutex> lk(g_mu);
    g_allocs[(uintptr_t)user] = Mapping{base, len, size};
    *devPtr = user;
    return cudaSuccess;
}

cudaError_t CUDARTAPI cudaFree(void *devPtr)
{
    if (!devPtr) return cudaSuccess;
    std::lock_guard<std::mutex> lk(g_mu);
    auto it = g_allocs.find((uintptr_t)devPtr);
    if (it == g_allocs.end()) return ret(cudaErrorInvalidValue);
    munmap(it->second.base, it->second.len);
    g_allocs.erase(it);
    return cudaSuccess;
}

cudaError_t CUDARTAPI cudaMallocHost(void **ptr, size_t size)
{
    if (!ptr) return ret(cudaErrorInvalidValue);
    *ptr = malloc(size ? size : 1);
    return *ptr ? cudaSuccess : ret(cudaErrorMemoryAllocation);
}

cudaError_t CUDARTAPI cudaFreeHost(void *ptr)
{
    free(ptr);
    return cudaSuccess;
}

static cudaError_t check_range(const void *p, size_t n, bool device)
{
    if (!device || n == 0) return cudaSuccess;
    return tsr_simt_alloc_contains(p, n) ? cudaSuccess : ret(cudaErrorInvalidValue);
}

/* ---- stream capture: an open capture's operations, and graphs of them ---- */
struct EmuGraph {
    std::vector<std::function<void()>> ops;
};

/* What a real capture refuses in this thread: work that is not stream work
 * (synchronous copies and sets, synchronising, allocating). */
static cudaError_t refuse_under_capture(void) { return ret(cudaErrorStreamCaptureUnsupported); }

/* The device ends of a copy lie inside allocations. */
static cudaError_t check_copy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind)
{
    bool dd = kind == cudaMemcpyDeviceToDevice || kind == cudaMemcpyHostToDevice;
    bool sd = kind == cudaMemcpyDeviceToDevice || kind == cudaMemcpyDeviceToHost;
    if (kind == cudaMemcpyDefault) {
        dd = find(dst) != nullptr;
        sd = find(src) != nullptr;
    }
    if (check_range(dst, count, dd) || check_range(src, count, sd)) return g_last;
    return cudaSuccess;
}

static cudaError_t copy_now(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind)
{
    if (check_copy(dst, src, count, kind)) return g_last;
    tsr_simt_end_overlap(); /* a kernel after it waits for it, and it for the kernel before */
    if (count) memmove(dst, src, count);
    return cudaSuccess;
}

cudaError_t CUDARTAPI cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind)
{
    if (g_capture) return refuse_under_capture();
    return copy_now(dst, src, count, kind);
}

cudaError_t CUDARTAPI cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind, cudaStream_t)
{
    if (!g_capture) return copy_now(dst, src, count, kind);
    if (check_copy(dst, src, count, kind)) return g_last;
    g_capture->push_back([=] { (void)copy_now(dst, src, count, kind); });
    return cudaSuccess;
}

static cudaError_t set_now(void *devPtr, int value, size_t count)
{
    if (check_range(devPtr, count, true)) return g_last;
    tsr_simt_end_overlap();
    if (count) memset(devPtr, value, count);
    return cudaSuccess;
}

cudaError_t CUDARTAPI cudaMemset(void *devPtr, int value, size_t count)
{
    if (g_capture) return refuse_under_capture();
    return set_now(devPtr, value, count);
}

cudaError_t CUDARTAPI cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t)
{
    if (!g_capture) return set_now(devPtr, value, count);
    if (check_range(devPtr, count, true)) return g_last;
    g_capture->push_back([=] { (void)set_now(devPtr, value, count); });
    return cudaSuccess;
}

cudaError_t CUDARTAPI cudaMemGetInfo(size_t *free_b, size_t *total)
{
    if (free_b) *free_b = (size_t)8 << 30;
    if (total) *total = (size_t)8 << 30;
    return cudaSuccess;
}

cudaError_t CUDARTAPI cudaDeviceSynchronize(void)
{
    if (g_capture) return refuse_under_capture();
    tsr_simt_end_overlap();
    return cudaSuccess;
}
cudaError_t CUDARTAPI cudaStreamSynchronize(cudaStream_t)
{
    if (g_capture) return refuse_under_capture();
    tsr_simt_end_overlap();
    return cudaSuccess;
}
cudaError_t CUDARTAPI cudaStreamCreate(cudaStream_t *s)
{
    static int dummy;
    if (!s) return ret(cudaErrorInvalidValue);
    *s = (cudaStream_t)&dummy;
    return cudaSuccess;
}
cudaError_t CUDARTAPI cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
cudaError_t CUDARTAPI cudaStreamIsCapturing(cudaStream_t, enum cudaStreamCaptureStatus *status)
{
    if (!status) return ret(cudaErrorInvalidValue);
    *status = g_capture ? cudaStreamCaptureStatusActive : cudaStreamCaptureStatusNone;
    return cudaSuccess;
}
cudaError_t CUDARTAPI cudaStreamBeginCapture(cudaStream_t, enum cudaStreamCaptureMode)
{
    if (g_capture) return ret(cudaErrorIllegalState);
    g_capture = new std::vector<std::function<void()>>();
    return cudaSuccess;
}
cudaError_t CUDARTAPI cudaStreamEndCapture(cudaStream_t, cudaGraph_t *graph)
{
    if (!g_capture) return ret(cudaErrorIllegalState);
    EmuGraph *g = new EmuGraph{std::move(*g_capture)};
    delete g_capture;
    g_capture = nullptr;
    if (!graph) {
        delete g;
        return ret(cudaErrorInvalidValue);
    }
    *graph = (cudaGraph_t)g;
    return cudaSuccess;
}
cudaError_t CUDARTAPI cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long)
{
    if (!exec || !graph) return ret(cudaErrorInvalidValue);
    *exec = (cudaGraphExec_t) new EmuGraph(*(EmuGraph *)graph);
    return cudaSuccess;
}
/* runs the graph's operations in capture order, now */
cudaError_t CUDARTAPI cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t)
{
    if (!exec) return ret(cudaErrorInvalidValue);
    if (g_capture) return refuse_under_capture();
    for (const auto &op : ((EmuGraph *)exec)->ops) op();
    return cudaSuccess;
}
cudaError_t CUDARTAPI cudaGraphExecDestroy(cudaGraphExec_t exec)
{
    delete (EmuGraph *)exec;
    return cudaSuccess;
}
cudaError_t CUDARTAPI cudaGraphDestroy(cudaGraph_t graph)
{
    delete (EmuGraph *)graph;
    return cudaSuccess;
}

cudaError_t CUDARTAPI cudaGetLastError(void)
{
    cudaError_t e = g_last;
    g_last = cudaSuccess;
    return e;
}
cudaError_t CUDARTAPI cudaPeekAtLastError(void) { return g_last; }

const char *CUDARTAPI cudaGetErrorName(cudaError_t error)
{
    switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
    }
}
const char *CUDARTAPI cudaGetErrorString(cudaError_t error)
{
    return error == cudaSuccess ? "no error" : "error reported by the SIMT emulation's CUDA runtime";
}

cudaError_t CUDARTAPI cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr, int value)
{
    (void)attr;
    if (!func || value < 0) return ret(cudaErrorInvalidValue);
    return cudaSuccess;
}

/* The emulation models no SM resources: TSR_SIMT_BLOCKS_PER_SM blocks of any
 * kernel fit on one SM (default 2, so that grids planned from it exceed one
 * block per SM as they do on a GPU). */
cudaError_t CUDARTAPI cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *num_blocks, const void *func, int block_size,
                                                                    size_t dynamic_smem)
{
    (void)dynamic_smem;
    if (!num_blocks || !func || block_size <= 0) return ret(cudaErrorInvalidValue);
    *num_blocks = env_int("TSR_SIMT_BLOCKS_PER_SM", 2);
    return cudaSuccess;
}

cudaError_t CUDARTAPI cudaGetDevice(int *device)
{
    if (!device) return ret(cudaErrorInvalidValue);
    *device = 0;
    return cudaSuccess;
}
cudaError_t CUDARTAPI cudaSetDevice(int device) { return device == 0 ? cudaSuccess : ret(cudaErrorInvalidDevice); }
cudaError_t CUDARTAPI cudaGetDeviceCount(int *count)
{
    if (!count) return ret(cudaErrorInvalidValue);
    *count = 1;
    return cudaSuccess;
}

cudaError_t CUDARTAPI cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device)
{
    if (!value || device != 0) return ret(cudaErrorInvalidValue);
    int cc = env_int("TSR_SIMT_CC", 80);
    switch (attr) {
    case cudaDevAttrComputeCapabilityMajor: *value = cc / 10; break;
    case cudaDevAttrComputeCapabilityMinor: *value = cc % 10; break;
    case cudaDevAttrMultiProcessorCount: *value = env_int("TSR_SIMT_SMS", 4); break;
    case cudaDevAttrL2CacheSize: *value = 4 << 20; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = cc >= 90 ? 232448 : 166912; break;
    case cudaDevAttrClockRate: *value = 1000000; break;
    case cudaDevAttrMemoryClockRate: *value = 1000000; break;
    case cudaDevAttrGlobalMemoryBusWidth: *value = 5120; break;
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    default: *value = 0; break;
    }
    return cudaSuccess;
}

cudaError_t CUDARTAPI cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device)
{
    if (!prop || device != 0) return ret(cudaErrorInvalidValue);
    memset(prop, 0, sizeof *prop);
    int v;
    cudaDeviceGetAttribute(&v, cudaDevAttrComputeCapabilityMajor, 0);
    prop->major = v;
    cudaDeviceGetAttribute(&v, cudaDevAttrComputeCapabilityMinor, 0);
    prop->minor = v;
    snprintf(prop->name, sizeof prop->name, "tessera SIMT emulation (sm_%d%d)", prop->major, prop->minor);
    cudaDeviceGetAttribute(&prop->multiProcessorCount, cudaDevAttrMultiProcessorCount, 0);
    cudaDeviceGetAttribute(&prop->l2CacheSize, cudaDevAttrL2CacheSize, 0);
    cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0);
    prop->sharedMemPerBlockOptin = (size_t)v;
    prop->sharedMemPerBlock = 48 * 1024;
    prop->memoryBusWidth = 5120;
    prop->maxThreadsPerBlock = 1024;
    prop->warpSize = 32;
    prop->totalGlobalMem = (size_t)8 << 30;
    return cudaSuccess;
}

cudaError_t CUDARTAPI cudaDriverGetVersion(int *v)
{
    if (!v) return ret(cudaErrorInvalidValue);
    *v = CUDART_VERSION;
    return cudaSuccess;
}
cudaError_t CUDARTAPI cudaRuntimeGetVersion(int *v)
{
    if (!v) return ret(cudaErrorInvalidValue);
    *v = CUDART_VERSION;
    return cudaSuccess;
}

/* Events time the host clock: the emulation runs kernels synchronously. */
struct EmuEvent {
    std::chrono::steady_clock::time_point t;
};
cudaError_t CUDARTAPI cudaEventCreate(cudaEvent_t *event)
{
    if (!event) return ret(cudaErrorInvalidValue);
    *event = (cudaEvent_t) new EmuEvent();
    return cudaSuccess;
}
cudaError_t CUDARTAPI cudaEventRecord(cudaEvent_t event, cudaStream_t)
{
    if (!event) return ret(cudaErrorInvalidValue);
    EmuEvent *e = (EmuEvent *)event;
    if (g_capture) g_capture->push_back([e] { e->t = std::chrono::steady_clock::now(); });
    else e->t = std::chrono::steady_clock::now();
    return cudaSuccess;
}
cudaError_t CUDARTAPI cudaEventSynchronize(cudaEvent_t)
{
    tsr_simt_end_overlap();
    return cudaSuccess;
}
cudaError_t CUDARTAPI cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
{
    if (!ms || !start || !end) return ret(cudaErrorInvalidValue);
    *ms = std::chrono::duration<float, std::milli>(((EmuEvent *)end)->t - ((EmuEvent *)start)->t).count();
    return cudaSuccess;
}
cudaError_t CUDARTAPI cudaEventDestroy(cudaEvent_t event)
{
    delete (EmuEvent *)event;
    return cudaSuccess;
}

} // extern "C"
