/* ktune's command line: help, usage errors (exit 2), no GPU (exit 2), and the
 * whole tune / show / bench / export / clear / import cycle, run by ktune_emu
 * on the emulated device against a scratch cache directory. */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

static char g_dir[256], g_out[65536];

/* Runs a shell command; returns its exit status, output (stdout+stderr) in g_out. */
static int run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(g_out, 1, sizeof g_out - 1, p);
    g_out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect(int rc, int want_rc, const char *needle)
{
    if (rc != want_rc || !strstr(g_out, needle))
        fail_msg("exit %d (want %d), output lacks '%s' or is wrong:\n%s", rc, want_rc, needle, g_out);
}

static void test_help_and_usage_errors(void **state)
{
    (void)state;
    expect(run("%s --help", KTUNE), 0, "examples:");
    assert_non_null(strstr(g_out, "ktune tune  --op w4a16"));
    expect(run("%s", KTUNE), 2, "no command");
    expect(run("%s frobnicate", KTUNE), 2, "unknown command 'frobnicate'");
    expect(run("%s tune --op w4a16 --n 256", KTUNE), 2, "needs --n, --k and --m");
    expect(run("%s tune --op gemm --n 1 --k 1 --m 1", KTUNE), 2, "--op w4a16 (or --model) is required");
    expect(run("%s tune --model nope", KTUNE), 2, "unknown --model");
    expect(run("%s tune --op w4a16 --n 64 --k 64 --m 0", KTUNE), 2, "--m takes positive integers");
    expect(run("%s tune --dtype f32", KTUNE), 2, "--dtype must be f16 or bf16");
    expect(run("%s tune --bogus", KTUNE), 2, "unknown or incomplete option '--bogus'");
    expect(run("%s export", KTUNE), 2, "take a FILE");
    expect(run("%s ops", KTUNE), 0, "w4a16");
    assert_non_null(strstr(g_out, "llama3-70b"));
    assert_non_null(strstr(g_out, "qwen2.5-7b"));
}

static void test_no_gpu_is_exit_2(void **state)
{
    (void)state;
    if (tsr_test_device_or_skip()) skip();
    expect(run("%s tune --op w4a16 --n 256 --k 256 --m 1", KTUNE), 2, "no usable GPU");
    expect(run("%s show", KTUNE), 0, "0 entries"); /* show needs no GPU */
}

/* On a GPU machine, the real ktune tunes a small shape natively. */
static void test_tune_on_gpu(void **state)
{
    (void)state;
    if (!tsr_test_device_or_skip()) skip();
    expect(run("%s tune --op w4a16 --n 256 --k 512 --m 1,16 --dtype bf16", KTUNE), 0, "tuned on");
    expect(run("%s show --json", KTUNE), 0, "\"n\": 256, \"k\": 512");
    expect(run("%s bench --op w4a16 --n 256 --k 512 --m 1,16 --dtype bf16", KTUNE), 0, "speedup");
    expect(run("%s clear", KTUNE), 0, "cleared");
}

static void test_tune_show_bench_export_clear_import(void **state)
{
    (void)state;
    expect(run("%s tune --op w4a16 --n 128 --k 64 --m 1 --json", KTUNE_EMU), 0, "\"config\":");
    assert_non_null(strstr(g_out, "ktune: 1/1 w4a16 n=128 k=64 m=1: config")); /* plain progress off a terminal */
    expect(run("%s show", KTUNE_EMU), 0, "1 entries");
    assert_non_null(strstr(g_out, "tessera SIMT emulation"));
    expect(run("%s show --json", KTUNE_EMU), 0, "\"m_bucket\": 1");
    expect(run("%s bench --op w4a16 --n 128 --k 64 --m 1 --json", KTUNE_EMU), 0, "\"speedup\":");
    expect(run("%s export %s/exported.txt", KTUNE_EMU, g_dir), 0, "exported 1 entries");
    expect(run("%s clear", KTUNE_EMU), 0, "cleared");
    expect(run("%s show", KTUNE_EMU), 0, "0 entries");
    expect(run("%s import %s/exported.txt", KTUNE_EMU, g_dir), 0, "imported 1 entries");
    expect(run("%s show", KTUNE_EMU), 0, "1 entries");
    expect(run("%s import %s/missing.txt", KTUNE_EMU, g_dir), 0, "imported 0 entries"); /* nothing to merge */
    /* from m = 1024 the dense route competes (config -1 when it wins; which
     * wins on the emulation says nothing): --configs 5 keeps it short */
    expect(run("%s tune --op w4a16 --n 128 --k 64 --m 1024 --configs 99", KTUNE_EMU), 2, "--configs takes configuration ids");
    expect(run("%s tune --op w4a16 --n 128 --k 64 --m 1024 --configs 5", KTUNE_EMU), 0, "m=1024");
    assert_true(strstr(g_out, "config 5  ") || strstr(g_out, "config -1 (dense route)"));
    expect(run("%s show", KTUNE_EMU), 0, "2 entries");
}

static int setup(void **state)
{
    (void)state;
    if (tsr_test_make_tmpdir(g_dir, sizeof g_dir, "tsr_ktune")) return -1;
    setenv("TESSERA_CACHE_DIR", g_dir, 1);
    unsetenv("TESSERA_TUNING");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tsr_test_remove_dir(g_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_usage_errors),
        cmocka_unit_test(test_no_gpu_is_exit_2),
        cmocka_unit_test(test_tune_on_gpu),
        cmocka_unit_test(test_tune_show_bench_export_clear_import),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
