/* The emulated cuBLAS: the four calls of tessera's dense W4A16 prefill route
 * (csrc/w4a16.c), on the host, for builds linked against the SIMT emulation.
 * cublasGemmEx does column-major C = alpha * A * B + beta * C for
 * untransposed 16-bit operands with fp32 accumulation in k order, the way the
 * route calls it; anything else is CUBLAS_STATUS_NOT_SUPPORTED. Every matrix
 * must lie inside one emulated allocation. Under an emulated stream capture
 * the GEMM is recorded and runs with the graph; creating a handle fails, as
 * its allocation would. Test support only. */
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <stdint.h>
#include <string.h>

#include "simt.h"
#include "simt_alloc.h"

namespace {
struct blas_handle {
    cudaStream_t stream;
};

float load(const void *base, size_t i, cudaDataType_t t)
{
    uint16_t bits;
    memcpy(&bits, (const unsigned char *)base + 2 * i, 2);
    return tsr_simt_b16_to_float(bits, t == CUDA_R_16BF);
}

void store(void *base, size_t i, float v, cudaDataType_t t)
{
    uint16_t bits;
    if (t == CUDA_R_16BF) {
        __nv_bfloat16_raw r = __nv_bfloat16_raw(__float2bfloat16_rn(v));
        bits = r.x;
    } else {
        __half_raw r = __half_raw(__float2half_rn(v));
        bits = r.x;
    }
    memcpy((unsigned char *)base + 2 * i, &bits, 2);
}

/* the last element of a column-major rows x cols matrix with leading dimension ld */
bool inside(const void *p, int rows, int cols, int ld)
{
    return rows > 0 && cols > 0 && ld >= rows && tsr_simt_alloc_contains(p, 2 * ((size_t)(cols - 1) * ld + rows));
}
} // namespace

extern "C" {
cublasStatus_t CUBLASWINAPI cublasCreate_v2(cublasHandle_t *handle)
{
    if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
    /* a real handle allocates device memory, which a capture refuses */
    if (tsr_simt_capturing()) return CUBLAS_STATUS_ALLOC_FAILED;
    *handle = (cublasHandle_t) new blas_handle{nullptr};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasDestroy_v2(cublasHandle_t handle)
{
    delete (blas_handle *)handle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream)
{
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    ((blas_handle *)handle)->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const void *alpha, const void *A, cudaDataType_t Atype,
                                         int lda, const void *B, cudaDataType_t Btype, int ldb, const void *beta,
                                         void *C, cudaDataType_t Ctype, int ldc, cublasComputeType_t computeType,
                                         cublasGemmAlgo_t algo)
{
    (void)algo;
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (transa != CUBLAS_OP_N || transb != CUBLAS_OP_N || computeType != CUBLAS_COMPUTE_32F || Atype != Btype ||
        Atype != Ctype || (Atype != CUDA_R_16F && Atype != CUDA_R_16BF))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    if (m < 0 || n < 0 || k < 0 || !alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    if ((k > 0 && (!inside(A, m, k, lda) || !inside(B, k, n, ldb))) || !inside(C, m, n, ldc))
        return CUBLAS_STATUS_INVALID_VALUE;
    const float a = *(const float *)alpha, b = *(const float *)beta;
    auto gemm = [=] {
        tsr_simt_note_stream_store(C); /* a kernel on a GPU: the next may overlap it */
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                float acc = 0.f;
                for (int l = 0; l < k; l++) acc += load(A, (size_t)l * lda + i, Atype) * load(B, (size_t)j * ldb + l, Btype);
                const size_t x = (size_t)j * ldc + i;
                store(C, x, a * acc + (b != 0.f ? b * load(C, x, Ctype) : 0.f), Ctype);
            }
    };
    if (tsr_simt_capturing()) tsr_simt_capture_add(gemm); /* stream work: runs with the graph */
    else gemm();
    return CUBLAS_STATUS_SUCCESS;
}
}
