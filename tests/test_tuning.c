/* Host suite: the tuning cache file. Round trips, replacement by key, M
 * buckets, the path rules, corrupt and truncated files (detected, moved aside,
 * the run goes on), and concurrent writers in separate processes losing nothing. */
#include <dirent.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tessera/tuning.h" /* before support.h: its tuning helper needs it */
#include "support.h"

static char g_dir[256], g_path[512];

static int setup(void **state)
{
    (void)state;
    if (tsr_test_make_tmpdir(g_dir, sizeof g_dir, "tsr_tuning")) return -1;
    snprintf(g_path, sizeof g_path, "%s/sub/dir/tuning.txt", g_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tsr_test_remove_dir(g_dir);
}

static tsr_tuning_entry_t entry(const char *dev, int n, int k, int m, int config)
{
    tsr_tuning_entry_t e;
    memset(&e, 0, sizeof e);
    snprintf(e.device, sizeof e.device, "%s", dev);
    e.cc_major = 9;
    e.sm_count = 132;
    e.runtime_version = 13000;
    e.driver_version = 13000;
    e.tessera_version = 100;
    tsr_test_w4a16_key(&e, n, k, m, config);
    e.time_us = 12.5 + config;
    return e;
}

static int find(const tsr_tuning_entry_t *v, int n, const tsr_tuning_entry_t *want)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i].device, want->device) && v[i].n == want->n && v[i].k == want->k &&
            v[i].m_bucket == want->m_bucket && v[i].config == want->config)
            return 1;
    return 0;
}

static void test_m_buckets(void **state)
{
    (void)state;
    const int m[] = {-3, 0, 1, 2, 3, 4, 5, 16, 17, 1000, 1024, 1025, 4096};
    const int b[] = {0, 0, 1, 2, 4, 4, 8, 16, 32, 1024, 1024, 2048, 4096};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) assert_int_equal(tsr_tuning_m_bucket(m[i]), b[i]);
}

static void test_cache_path_rules(void **state)
{
    (void)state;
    char p[512];
    setenv("TESSERA_CACHE_DIR", "/x/y", 1);
    assert_int_equal(tsr_tuning_cache_path(p, sizeof p), 0);
    assert_string_equal(p, "/x/y/tuning.txt");
    unsetenv("TESSERA_CACHE_DIR");
    setenv("XDG_CACHE_HOME", "/c", 1);
    assert_int_equal(tsr_tuning_cache_path(p, sizeof p), 0);
    assert_string_equal(p, "/c/tessera/tuning.txt");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/u", 1);
    assert_int_equal(tsr_tuning_cache_path(p, sizeof p), 0);
    assert_string_equal(p, "/home/u/.cache/tessera/tuning.txt");
    assert_int_equal(tsr_tuning_cache_path(p, 8), TSR_STATUS_INVALID_VALUE);
    assert_non_null(strstr(tsr_last_error(), "cap=8"));
}

static void test_round_trip_and_replace(void **state)
{
    (void)state;
    /* config -1: W4A16's dense route (TSR_W4A16_ROUTE_DENSE), as ktune records it */
    tsr_tuning_entry_t v[3] = {entry("NVIDIA H100 80GB HBM3", 4096, 4096, 1, 0), entry("NVIDIA H100 80GB HBM3", 4096, 4096, 16, 3),
                               entry("Other\tGPU", 8192, 8192, 3, -1)};
    assert_int_equal(tsr_tuning_merge(g_path, v, 3), 0);
    tsr_tuning_entry_t *r;
    int n;
    assert_int_equal(tsr_tuning_read(g_path, &r, &n), 0);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        tsr_tuning_entry_t want = v[i];
        if (i == 2) snprintf(want.device, sizeof want.device, "Other GPU"); /* tabs become spaces */
        assert_true(find(r, n, &want));
    }
    assert_int_equal(r[2].m_bucket, 4);
    assert_true(r[0].time_us == 12.5);
    free(r);
    /* same key, new config: replaced; the others stay */
    tsr_tuning_entry_t upd = entry("NVIDIA H100 80GB HBM3", 4096, 4096, 9, 4); /* bucket 16 */
    assert_int_equal(tsr_tuning_merge(g_path, &upd, 1), 0);
    assert_int_equal(tsr_tuning_read(g_path, &r, &n), 0);
    assert_int_equal(n, 3);
    assert_true(find(r, n, &upd));
    assert_false(find(r, n, &v[1]));
    free(r);
    assert_int_equal(tsr_tuning_clear(g_path), 0);
    assert_int_equal(tsr_tuning_read(g_path, &r, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(tsr_tuning_clear(g_path), 0); /* missing file: fine */
}

static void write_file(const char *text)
{
    FILE *f = fopen(g_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int count_corrupt_copies(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/sub/dir", g_dir);
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, "tuning.txt.corrupt-") != NULL;
    if (d) closedir(d);
    return n;
}

static void test_corrupt_and_truncated_files(void **state)
{
    (void)state;
    tsr_tuning_entry_t v[2] = {entry("GPU", 1024, 1024, 1, 1), entry("GPU", 1024, 2048, 1, 2)};
    assert_int_equal(tsr_tuning_merge(g_path, v, 2), 0);
    FILE *f = fopen(g_path, "r");
    char good[4096];
    size_t len = fread(good, 1, sizeof good - 1, f);
    good[len] = 0;
    fclose(f);

    tsr_tuning_entry_t *r;
    int n;
    const char *cases[6];
    char truncated[4096], edited[4096], noend[4096];
    memcpy(truncated, good, len / 2);
    truncated[len / 2] = 0; /* cut mid-line */
    snprintf(edited, sizeof edited, "%s", good);
    char *p = strstr(edited, "\t1024\t1024\t");
    p[1] = '2'; /* n 1024 -> 2024: the checksum disagrees */
    snprintf(noend, sizeof noend, "%s", good);
    *strstr(noend, "end ") = 0; /* whole lines, no end line */
    cases[0] = truncated;
    cases[1] = edited;
    cases[2] = noend;
    cases[3] = "not a tuning cache\n";
    cases[4] = "tessera-tuning-cache v1\nGPU\t9.0\t132\n";
    cases[5] = "tessera-tuning-cache v1\nend 0 cbf29ce484222325\nextra\n";
    for (int i = 0; i < 6; i++) {
        write_file(cases[i]);
        tsr_status_t st = tsr_tuning_read(g_path, &r, &n);
        if (st != TSR_STATUS_CORRUPT_DATA) fail_msg("case %d: %s, want CORRUPT_DATA", i, tsr_status_string(st));
        assert_null(r);
        assert_int_equal(n, 0);
        printf("case %d: %s\n", i, tsr_last_error());
    }
    /* a writer moves the corrupt file aside and carries on */
    int before = count_corrupt_copies();
    tsr_tuning_entry_t e = entry("GPU", 64, 64, 2, 3);
    assert_int_equal(tsr_tuning_merge(g_path, &e, 1), 0);
    assert_int_equal(count_corrupt_copies(), before + 1);
    assert_int_equal(tsr_tuning_read(g_path, &r, &n), 0);
    assert_int_equal(n, 1);
    assert_true(find(r, n, &e));
    free(r);
    /* an empty, valid file */
    write_file("tessera-tuning-cache v1\nend 0 cbf29ce484222325\n");
    assert_int_equal(tsr_tuning_read(g_path, &r, &n), 0);
    assert_int_equal(n, 0);
    free(r);
}

/* Eight processes merge 25 entries each, one merge at a time, all at once. */
static void test_concurrent_writers_lose_nothing(void **state)
{
    (void)state;
    tsr_tuning_clear(g_path);
    const int procs = 8, each = 25;
    pid_t pid[8];
    for (int p = 0; p < procs; p++) {
        pid[p] = fork();
        if (pid[p] == 0) {
            for (int i = 0; i < each; i++) {
                tsr_tuning_entry_t e = entry("GPU", 1000 + p, 2000 + i, 1, p);
                if (tsr_tuning_merge(g_path, &e, 1) != 0) _exit(1);
            }
            _exit(0);
        }
    }
    for (int p = 0; p < procs; p++) {
        int status;
        waitpid(pid[p], &status, 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    tsr_tuning_entry_t *r;
    int n;
    assert_int_equal(tsr_tuning_read(g_path, &r, &n), 0);
    assert_int_equal(n, procs * each);
    for (int p = 0; p < procs; p++)
        for (int i = 0; i < each; i++) {
            tsr_tuning_entry_t e = entry("GPU", 1000 + p, 2000 + i, 1, p);
            if (!find(r, n, &e)) fail_msg("entry of process %d #%d lost", p, i);
        }
    free(r);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    tsr_tuning_entry_t *r;
    int n;
    assert_int_equal(tsr_tuning_read(NULL, &r, &n), TSR_STATUS_INVALID_VALUE);
    assert_int_equal(tsr_tuning_merge(g_path, NULL, 2), TSR_STATUS_INVALID_VALUE);
    assert_non_null(strstr(tsr_last_error(), "count=2"));
    assert_int_equal(tsr_tuning_lookup(NULL, "w4a16", TSR_DTYPE_F16, 128, 1, 1, 1, &n, &n), TSR_STATUS_INVALID_VALUE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_m_buckets),
        cmocka_unit_test(test_cache_path_rules),
        cmocka_unit_test(test_round_trip_and_replace),
        cmocka_unit_test(test_corrupt_and_truncated_files),
        cmocka_unit_test(test_concurrent_writers_lose_nothing),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
