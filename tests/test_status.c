/* Host suite: status strings, the last-error message, dtypes, versions, and
 * tsr_create's behaviour on this machine (a clear NO_DEVICE where there is no
 * GPU, a described device where there is one). */
#include <string.h>

#include "support.h"
#include "tessera/tessera.h"
#include "internal.h"

static void test_every_status_has_a_distinct_string(void **state)
{
    (void)state;
    const char *seen[TSR_STATUS_NOT_SUPPORTED + 1];
    for (int s = TSR_STATUS_SUCCESS; s <= TSR_STATUS_NOT_SUPPORTED; s++) {
        const char *str = tsr_status_string((tsr_status_t)s);
        assert_non_null(str);
        assert_int_equal(strncmp(str, "TSR_STATUS_", 11), 0);
        assert_null(strstr(str, "UNKNOWN"));
        for (int t = 0; t < s; t++) assert_string_not_equal(str, seen[t]);
        seen[s] = str;
    }
    assert_non_null(strstr(tsr_status_string((tsr_status_t)999), "UNKNOWN"));
}

static void test_pinned_status_values(void **state)
{
    (void)state;
    /* These numbers are ABI: a change here breaks every caller. */
    assert_int_equal(TSR_STATUS_SUCCESS, 0);
    assert_int_equal(TSR_STATUS_INVALID_VALUE, 1);
    assert_int_equal(TSR_STATUS_MISALIGNED_POINTER, 2);
    assert_int_equal(TSR_STATUS_UNSUPPORTED_SHAPE, 3);
    assert_int_equal(TSR_STATUS_UNSUPPORTED_DTYPE, 4);
    assert_int_equal(TSR_STATUS_UNSUPPORTED_ARCH, 5);
    assert_int_equal(TSR_STATUS_NO_DEVICE, 6);
    assert_int_equal(TSR_STATUS_WORKSPACE_TOO_SMALL, 7);
    assert_int_equal(TSR_STATUS_CORRUPT_DATA, 8);
    assert_int_equal(TSR_STATUS_CUDA_ERROR, 9);
    assert_int_equal(TSR_STATUS_OUT_OF_MEMORY, 10);
    assert_int_equal(TSR_STATUS_IO_ERROR, 11);
    assert_int_equal(TSR_STATUS_NOT_SUPPORTED, 12);
}

static void test_last_error_names_argument_value_and_rule(void **state)
{
    (void)state;
    tsr_status_t s = tsr_create(NULL);
    assert_int_equal(s, TSR_STATUS_INVALID_VALUE);
    assert_non_null(strstr(tsr_last_error(), "handle is NULL"));
    s = tsr_fail(TSR_STATUS_UNSUPPORTED_SHAPE, "w4a16: k=%d must be a multiple of group_size=%d", 4100, 128);
    assert_int_equal(s, TSR_STATUS_UNSUPPORTED_SHAPE);
    assert_string_equal(tsr_last_error(), "w4a16: k=4100 must be a multiple of group_size=128");
    tsr_clear_error();
    assert_string_equal(tsr_last_error(), "");
    /* a very long message is truncated, never overflows */
    char big[4000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    tsr_fail(TSR_STATUS_INVALID_VALUE, "%s", big);
    assert_true(strlen(tsr_last_error()) < sizeof big - 1);
}

static void test_dtypes_and_version(void **state)
{
    (void)state;
    assert_string_equal(tsr_dtype_name(TSR_DTYPE_BF16), "bf16");
    assert_string_equal(tsr_dtype_name((tsr_dtype_t)77), "?");
    assert_int_equal(tsr_dtype_bits(TSR_DTYPE_INT4), 4);
    assert_int_equal(tsr_dtype_bits(TSR_DTYPE_F16), 16);
    assert_int_equal(tsr_dtype_bits((tsr_dtype_t)77), 0);
    assert_int_equal(tsr_version(), TSR_VERSION);
    assert_true(tsr_version() >= 100);
}

static void test_create_on_this_machine(void **state)
{
    (void)state;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    (void)cudaGetLastError();
    tsr_handle_t h = (tsr_handle_t)0x1;
    tsr_status_t s = tsr_create(&h);
    if (e != cudaSuccess || n == 0) {
        assert_int_equal(s, TSR_STATUS_NO_DEVICE);
        assert_null(h);
        assert_true(strlen(tsr_last_error()) > 20);
        printf("without a device: %s | %s\n", tsr_status_string(s), tsr_last_error());
        assert_int_equal(tsr_get_device_info(h, NULL), TSR_STATUS_INVALID_VALUE);
    } else if (s == TSR_STATUS_UNSUPPORTED_ARCH) {
        assert_non_null(strstr(tsr_last_error(), "compute capability"));
    } else {
        assert_int_equal(s, TSR_STATUS_SUCCESS);
        tsr_device_info_t info;
        assert_int_equal(tsr_get_device_info(h, &info), TSR_STATUS_SUCCESS);
        assert_true(info.cc_major >= 8);
        assert_true(info.sm_count > 0);
        assert_true(info.l2_bytes > 0);
        printf("device: %s cc %d.%d, %d SMs\n", info.name, info.cc_major, info.cc_minor, info.sm_count);
    }
    assert_int_equal(tsr_destroy(h), TSR_STATUS_SUCCESS);
    assert_int_equal(tsr_destroy(NULL), TSR_STATUS_SUCCESS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_status_has_a_distinct_string),
        cmocka_unit_test(test_pinned_status_values),
        cmocka_unit_test(test_last_error_names_argument_value_and_rule),
        cmocka_unit_test(test_dtypes_and_version),
        cmocka_unit_test(test_create_on_this_machine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
