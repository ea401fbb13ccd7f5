/* The tuning cache as a handle sees it: loaded once at tsr_create, only this
 * device's and versions' entries used (others kept in the file), M buckets,
 * TESSERA_TUNING=off, a corrupt file quarantined without failing tsr_create,
 * and the W4A16 dispatcher choosing a tuned configuration over its heuristic.
 * Built as test_tuning_handle_emu (emulated device) and _gpu (real one). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tessera/tuning.h" /* before support.h: its tuning helper needs it */
#include "support.h"
#include "tessera/w4a16.h"

static char g_dir[256], g_path[512];

static tsr_tuning_entry_t mine(tsr_handle_t h, int n, int k, int m, int config)
{
    tsr_tuning_entry_t e;
    assert_int_equal(tsr_tuning_entry_for(h, &e), TSR_STATUS_SUCCESS);
    tsr_test_w4a16_key(&e, n, k, m, config);
    e.time_us = 1.0;
    return e;
}

static void test_handle_uses_its_own_entries(void **state)
{
    (void)state;
    tsr_handle_t h;
    assert_int_equal(tsr_create(&h), TSR_STATUS_SUCCESS);
    assert_int_equal(tsr_tuning_count(h), 0);
    tsr_tuning_entry_t v[5];
    v[0] = mine(h, 256, 256, 1, 3);
    v[1] = mine(h, 256, 256, 16, 2);
    v[2] = mine(h, 256, 256, 1, 1);
    snprintf(v[2].device, sizeof v[2].device, "some other GPU"); /* kept, never used */
    v[3] = mine(h, 256, 256, 1, 4);
    v[3].tessera_version += 1; /* another tessera version */
    v[4] = mine(h, 256, 256, 1, 4);
    v[4].driver_version += 10; /* another driver */
    assert_int_equal(tsr_tuning_merge(g_path, v, 5), TSR_STATUS_SUCCESS);
    assert_int_equal(tsr_tuning_count(h), 0); /* loaded once: no I/O until asked */
    assert_int_equal(tsr_tuning_reload(h), TSR_STATUS_SUCCESS);
    assert_int_equal(tsr_tuning_count(h), 2);

    int cfg = -1, found = 0;
    assert_int_equal(tsr_tuning_lookup(h, "w4a16", TSR_DTYPE_F16, 128, 256, 256, 1, &cfg, &found), 0);
    assert_true(found && cfg == 3);
    tsr_tuning_lookup(h, "w4a16", TSR_DTYPE_F16, 128, 256, 256, 9, &cfg, &found); /* bucket 16 */
    assert_true(found && cfg == 2);
    tsr_tuning_lookup(h, "w4a16", TSR_DTYPE_F16, 128, 256, 256, 17, &cfg, &found);
    assert_false(found);
    tsr_tuning_lookup(h, "w4a16", TSR_DTYPE_BF16, 128, 256, 256, 1, &cfg, &found);
    assert_false(found);
    tsr_tuning_lookup(h, "w4a16", TSR_DTYPE_F16, 64, 256, 256, 1, &cfg, &found);
    assert_false(found);

    /* the dispatcher: tuned beats heuristic; untuned shapes keep the heuristic */
    tsr_w4a16_layout_t l;
    assert_int_equal(tsr_w4a16_layout(256, 256, 128, TSR_DTYPE_F16, 0, 0, &l), 0);
    assert_int_equal(tsr_w4a16_query_config(h, &l, 1, &cfg), 0);
    assert_int_equal(cfg, 3);
    assert_int_equal(tsr_w4a16_query_config(h, &l, 12, &cfg), 0);
    assert_int_equal(cfg, 2);
    int heuristic_small;
    tsr_w4a16_layout_t other;
    assert_int_equal(tsr_w4a16_layout(256, 384, 128, TSR_DTYPE_F16, 0, 0, &other), 0);
    assert_int_equal(tsr_w4a16_query_config(h, &other, 1, &heuristic_small), 0);
    assert_int_not_equal(heuristic_small, 3);

    /* a new handle loads them at creation */
    tsr_handle_t h2;
    assert_int_equal(tsr_create(&h2), TSR_STATUS_SUCCESS);
    assert_int_equal(tsr_tuning_count(h2), 2);
    assert_int_equal(tsr_w4a16_query_config(h2, &l, 1, &cfg), 0);
    assert_int_equal(cfg, 3);
    tsr_destroy(h2);

    /* the file still holds all five */
    tsr_tuning_entry_t *r;
    int n;
    assert_int_equal(tsr_tuning_read(g_path, &r, &n), 0);
    assert_int_equal(n, 5);
    free(r);
    tsr_destroy(h);

    setenv("TESSERA_TUNING", "off", 1);
    assert_int_equal(tsr_create(&h), TSR_STATUS_SUCCESS);
    unsetenv("TESSERA_TUNING");
    assert_int_equal(tsr_tuning_count(h), 0);
    assert_int_equal(tsr_w4a16_query_config(h, &l, 1, &cfg), 0);
    assert_int_equal(cfg, heuristic_small);
    tsr_destroy(h);
}

static void test_corrupt_cache_does_not_fail_create(void **state)
{
    (void)state;
    FILE *f = fopen(g_path, "w");
    fputs("tessera-tuning-cache v1\ngarbage\n", f);
    fclose(f);
    tsr_handle_t h;
    assert_int_equal(tsr_create(&h), TSR_STATUS_SUCCESS);
    assert_string_equal(tsr_last_error(), "");
    assert_int_equal(tsr_tuning_count(h), 0);
    assert_int_equal(access(g_path, F_OK), -1); /* moved aside */
    tsr_destroy(h);
}

static int setup(void **state)
{
    (void)state;
    if (tsr_test_make_tmpdir(g_dir, sizeof g_dir, "tsr_tuning_h")) return -1;
    snprintf(g_path, sizeof g_path, "%s/tuning.txt", g_dir);
    setenv("TESSERA_CACHE_DIR", g_dir, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tsr_test_remove_dir(g_dir);
}

int main(void)
{
#if !defined(TSR_EMU)
    if (!tsr_test_device_or_skip()) return 77;
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handle_uses_its_own_entries),
        cmocka_unit_test(test_corrupt_cache_does_not_fail_create),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
