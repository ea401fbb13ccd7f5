/* The tuning cache file (docs/tuning.md): parse, validate, merge under an
 * advisory lock, replace atomically, and quarantine corrupt files; plus the
 * handle's in-memory table that dispatchers consult without I/O. */
#define _DEFAULT_SOURCE /* flock, fsync, mkdir */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "tessera/tuning.h"

#define TSR_TUNING_MAGIC "tessera-tuning-cache v1"
#define TSR_TUNING_FIELDS 14

int tsr_tuning_m_bucket(int m)
{
    if (m <= 0) return 0;
    int b = 1;
    while (b < m && b < (1 << 30)) b <<= 1;
    return b;
}

tsr_status_t tsr_tuning_cache_path(char *path, size_t cap)
{
    const char *fn = "tsr_tuning_cache_path";
    TSR_CHECK_PTR(fn, path);
    const char *dir = getenv("TESSERA_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (dir && *dir) n = snprintf(path, cap, "%s/tuning.txt", dir);
    else if (xdg && *xdg) n = snprintf(path, cap, "%s/tessera/tuning.txt", xdg);
    else if (home && *home) n = snprintf(path, cap, "%s/.cache/tessera/tuning.txt", home);
    else return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: none of TESSERA_CACHE_DIR, XDG_CACHE_HOME, HOME is set", fn);
    if (n < 0 || (size_t)n >= cap)
        return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: cap=%zu is too short for the path (%d bytes)", fn, cap, n + 1);
    return TSR_STATUS_SUCCESS;
}

/* FNV-1a over the entry lines: a truncated or edited file fails the check. */
static unsigned long long fnv1a(unsigned long long h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

/* Copies (truncating) with tabs and line breaks turned into spaces. */
static void clean_string(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++) dst[i] = (src[i] == '\t' || src[i] == '\n' || src[i] == '\r') ? ' ' : src[i];
    dst[i] = 0;
}

static int format_entry(char *line, size_t cap, const tsr_tuning_entry_t *e)
{
    char dev[128], op[32], dt[8];
    clean_string(dev, sizeof dev, e->device);
    clean_string(op, sizeof op, e->op);
    clean_string(dt, sizeof dt, e->dtype);
    return snprintf(line, cap, "%s\t%d.%d\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%.3f\n", dev, e->cc_major,
                    e->cc_minor, e->sm_count, e->runtime_version, e->driver_version, e->tessera_version, op, dt,
                    e->group, e->n, e->k, e->m_bucket, e->config, e->time_us);
}

/* Splits a line on tabs in place; returns the field count. */
static int split_tabs(char *line, char **f, int max)
{
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p; p++)
        if (*p == '\t') {
            *p = 0;
            if (n == max) return max + 1;
            f[n++] = p + 1;
        }
    return n;
}

static int parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < -2147483647L || v > 2147483647L) return 0;
    *out = (int)v;
    return 1;
}

static int parse_entry(char *line, tsr_tuning_entry_t *e)
{
    char *f[TSR_TUNING_FIELDS];
    if (split_tabs(line, f, TSR_TUNING_FIELDS) != TSR_TUNING_FIELDS) return 0;
    memset(e, 0, sizeof *e);
    if (strlen(f[0]) >= sizeof e->device || strlen(f[6]) >= sizeof e->op || strlen(f[7]) >= sizeof e->dtype) return 0;
    strcpy(e->device, f[0]);
    char *dot = strchr(f[1], '.');
    if (!dot) return 0;
    *dot = 0;
    char *end;
    e->time_us = strtod(f[13], &end);
    if (end == f[13] || *end || !(e->time_us >= 0)) return 0;
    strcpy(e->op, f[6]);
    strcpy(e->dtype, f[7]);
    return parse_int(f[1], &e->cc_major) && parse_int(dot + 1, &e->cc_minor) && parse_int(f[2], &e->sm_count) &&
           parse_int(f[3], &e->runtime_version) && parse_int(f[4], &e->driver_version) &&
           parse_int(f[5], &e->tessera_version) && parse_int(f[8], &e->group) && parse_int(f[9], &e->n) &&
           parse_int(f[10], &e->k) && parse_int(f[11], &e->m_bucket) && parse_int(f[12], &e->config);
}

tsr_status_t tsr_tuning_read(const char *path, tsr_tuning_entry_t **entries, int *count)
{
    const char *fn = "tsr_tuning_read";
    tsr_clear_error();
    TSR_CHECK_PTR(fn, path);
    TSR_CHECK_PTR(fn, entries);
    TSR_CHECK_PTR(fn, count);
    *entries = NULL;
    *count = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return TSR_STATUS_SUCCESS;
        return tsr_fail(TSR_STATUS_IO_ERROR, "%s: cannot open %s: %s", fn, path, strerror(errno));
    }
    char line[1024];
    tsr_tuning_entry_t *v = NULL;
    int n = 0, cap = 0, lineno = 0, ended = 0;
    unsigned long long h = 0xcbf29ce484222325ull;
    tsr_status_t st = TSR_STATUS_SUCCESS;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (ended || len == 0 || line[len - 1] != '\n') {
            st = tsr_fail(TSR_STATUS_CORRUPT_DATA, "%s: %s line %d: %s", fn, path, lineno,
                          ended ? "text after the end line" : "line too long or not terminated (truncated file?)");
            break;
        }
        if (lineno == 1) {
            if (strcmp(line, TSR_TUNING_MAGIC "\n") != 0) {
                st = tsr_fail(TSR_STATUS_CORRUPT_DATA, "%s: %s does not start with '%s'", fn, path, TSR_TUNING_MAGIC);
                break;
            }
            continue;
        }
        if (line[0] == '#') continue;
        if (!strncmp(line, "end ", 4)) {
            int want;
            unsigned long long sum;
            if (sscanf(line, "end %d %llx", &want, &sum) != 2 || want != n || sum != h) {
                st = tsr_fail(TSR_STATUS_CORRUPT_DATA, "%s: %s line %d: end line disagrees with the %d entries above (edited or truncated)",
                              fn, path, lineno, n);
                break;
            }
            ended = 1;
            continue;
        }
        h = fnv1a(h, line, len);
        line[len - 1] = 0;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            tsr_tuning_entry_t *nv = realloc(v, sizeof *v * (size_t)cap);
            if (!nv) {
                st = tsr_fail(TSR_STATUS_OUT_OF_MEMORY, "%s: out of memory at %d entries", fn, n);
                break;
            }
            v = nv;
        }
        if (!parse_entry(line, &v[n])) {
            st = tsr_fail(TSR_STATUS_CORRUPT_DATA, "%s: %s line %d: not %d tab-separated fields of the right types", fn,
                          path, lineno, TSR_TUNING_FIELDS);
            break;
        }
        n++;
    }
    if (!st && !ended)
        st = tsr_fail(TSR_STATUS_CORRUPT_DATA, "%s: %s has no end line (truncated)", fn, path);
    fclose(f);
    if (st) {
        free(v);
        return st;
    }
    *entries = v;
    *count = n;
    return TSR_STATUS_SUCCESS;
}

static int same_key(const tsr_tuning_entry_t *a, const tsr_tuning_entry_t *b)
{
    return !strcmp(a->device, b->device) && a->cc_major == b->cc_major && a->cc_minor == b->cc_minor &&
           a->sm_count == b->sm_count && a->runtime_version == b->runtime_version &&
           a->driver_version == b->driver_version && a->tessera_version == b->tessera_version && !strcmp(a->op, b->op) &&
           !strcmp(a->dtype, b->dtype) && a->group == b->group && a->n == b->n && a->k == b->k &&
           a->m_bucket == b->m_bucket;
}

/* mkdir -p of the directory that holds path. */
static tsr_status_t make_parent_dirs(const char *fn, const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    char *slash = strrchr(buf, '/');
    if (!slash) return TSR_STATUS_SUCCESS;
    *slash = 0;
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0755);
            *p = '/';
        }
    if (mkdir(buf, 0755) && errno != EEXIST)
        return tsr_fail(TSR_STATUS_IO_ERROR, "%s: cannot create directory %s: %s", fn, buf, strerror(errno));
    return TSR_STATUS_SUCCESS;
}

/* The advisory lock lives in its own file, so that renames of the cache do not
 * move it from under a waiting writer. Returns the fd, or -1 with the error set. */
static int lock_cache(const char *fn, const char *path, tsr_status_t *st)
{
    char lock[4200];
    snprintf(lock, sizeof lock, "%s.lock", path);
    if ((*st = make_parent_dirs(fn, path))) return -1;
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        *st = tsr_fail(TSR_STATUS_IO_ERROR, "%s: cannot lock %s: %s", fn, lock, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

static void unlock_cache(int fd)
{
    flock(fd, LOCK_UN);
    close(fd);
}

/* Moves a corrupt file aside, keeping it for inspection. Caller holds the lock. */
static void quarantine(const char *path, const char *why)
{
    char aside[4200];
    snprintf(aside, sizeof aside, "%s.corrupt-%ld", path, (long)time(NULL));
    if (rename(path, aside) == 0)
        fprintf(stderr, "tessera: tuning cache %s is corrupt (%s); moved it to %s and carried on without it\n", path, why, aside);
    else
        fprintf(stderr, "tessera: tuning cache %s is corrupt (%s) and could not be moved aside: %s\n", path, why, strerror(errno));
}

static tsr_status_t write_atomically(const char *fn, const char *path, const tsr_tuning_entry_t *v, int n)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return tsr_fail(TSR_STATUS_IO_ERROR, "%s: cannot create %s: %s", fn, tmp, strerror(errno));
    fprintf(f, "%s\n# device\tcc\tsms\truntime\tdriver\ttessera\top\tdtype\tgroup\tn\tk\tm_bucket\tconfig\ttime_us\n",
            TSR_TUNING_MAGIC);
    unsigned long long h = 0xcbf29ce484222325ull;
    char line[1024];
    for (int i = 0; i < n; i++) {
        int len = format_entry(line, sizeof line, &v[i]);
        h = fnv1a(h, line, (size_t)len);
        fputs(line, f);
    }
    fprintf(f, "end %d %016llx\n", n, h);
    int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return tsr_fail(TSR_STATUS_IO_ERROR, "%s: writing %s failed: %s", fn, path, strerror(err));
    }
    return TSR_STATUS_SUCCESS;
}

tsr_status_t tsr_tuning_merge(const char *path, const tsr_tuning_entry_t *entries, int count)
{
    const char *fn = "tsr_tuning_merge";
    tsr_clear_error();
    TSR_CHECK_PTR(fn, path);
    if (count < 0 || (count > 0 && !entries))
        return tsr_fail(TSR_STATUS_INVALID_VALUE, "%s: count=%d with entries=%p", fn, count, (const void *)entries);
    tsr_status_t st;
    int fd = lock_cache(fn, path, &st);
    if (fd < 0) return st;
    tsr_tuning_entry_t *old = NULL;
    int n_old = 0;
    st = tsr_tuning_read(path, &old, &n_old);
    if (st == TSR_STATUS_CORRUPT_DATA) {
        quarantine(path, tsr_last_error());
        st = TSR_STATUS_SUCCESS;
    }
    if (st) {
        unlock_cache(fd);
        return st;
    }
    tsr_tuning_entry_t *all = malloc(sizeof *all * (size_t)(n_old + count + 1));
    if (!all) {
        free(old);
        unlock_cache(fd);
        return tsr_fail(TSR_STATUS_OUT_OF_MEMORY, "%s: out of memory", fn);
    }
    int n = 0;
    for (int i = 0; i < n_old; i++) {
        int replaced = 0;
        for (int j = 0; j < count && !replaced; j++) replaced = same_key(&old[i], &entries[j]);
        if (!replaced) all[n++] = old[i];
    }
    for (int j = 0; j < count; j++) {
        int dup = 0; /* the last of several equal keys in one call wins */
        for (int l = j + 1; l < count && !dup; l++) dup = same_key(&entries[j], &entries[l]);
        if (!dup) all[n++] = entries[j];
    }
    st = write_atomically(fn, path, all, n);
    free(old);
    free(all);
    unlock_cache(fd);
    return st;
}

tsr_status_t tsr_tuning_clear(const char *path)
{
    const char *fn = "tsr_tuning_clear";
    tsr_clear_error();
    TSR_CHECK_PTR(fn, path);
    tsr_status_t st;
    int fd = lock_cache(fn, path, &st);
    if (fd < 0) return st;
    if (unlink(path) != 0 && errno != ENOENT) st = tsr_fail(TSR_STATUS_IO_ERROR, "%s: cannot remove %s: %s", fn, path, strerror(errno));
    unlock_cache(fd);
    return st;
}

tsr_status_t tsr_tuning_entry_for(tsr_handle_t h, tsr_tuning_entry_t *e)
{
    const char *fn = "tsr_tuning_entry_for";
    TSR_CHECK_PTR(fn, h);
    TSR_CHECK_PTR(fn, e);
    memset(e, 0, sizeof *e);
    clean_string(e->device, sizeof e->device, h->info.name);
    e->cc_major = h->info.cc_major;
    e->cc_minor = h->info.cc_minor;
    e->sm_count = h->info.sm_count;
    e->runtime_version = h->info.runtime_version;
    e->driver_version = h->info.driver_version;
    e->tessera_version = TSR_VERSION;
    return TSR_STATUS_SUCCESS;
}

/* Loads the entries for h's device; a corrupt file is quarantined (warning)
 * and the handle carries on with none. Never fails the caller for a bad file. */
void tsr_tuning_load(struct tsr_handle *h)
{
    free(h->tuning);
    h->tuning = NULL;
    h->tuning_count = 0;
    const char *mode = getenv("TESSERA_TUNING");
    if (mode && !strcmp(mode, "off")) return;
    char path[4096];
    if (tsr_tuning_cache_path(path, sizeof path)) return;
    tsr_tuning_entry_t *v;
    int n;
    tsr_status_t st = tsr_tuning_read(path, &v, &n);
    if (st == TSR_STATUS_CORRUPT_DATA) {
        char why[1024];
        snprintf(why, sizeof why, "%s", tsr_last_error());
        tsr_status_t lst;
        int fd = lock_cache("tsr_create", path, &lst);
        if (fd >= 0) {
            /* re-check under the lock: a writer may have just replaced it */
            if (tsr_tuning_read(path, &v, &n) == TSR_STATUS_CORRUPT_DATA) quarantine(path, why);
            else free(v);
            unlock_cache(fd);
        }
        return;
    }
    if (st) return;
    tsr_tuning_entry_t me;
    tsr_tuning_entry_for(h, &me);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        const tsr_tuning_entry_t *e = &v[i];
        if (!strcmp(e->device, me.device) && e->cc_major == me.cc_major && e->cc_minor == me.cc_minor &&
            e->sm_count == me.sm_count && e->runtime_version == me.runtime_version &&
            e->driver_version == me.driver_version && e->tessera_version == me.tessera_version)
            v[kept++] = *e;
    }
    if (kept == 0) {
        free(v);
        return;
    }
    h->tuning = v;
    h->tuning_count = kept;
}

tsr_status_t tsr_tuning_reload(tsr_handle_t h)
{
    tsr_clear_error();
    TSR_CHECK_PTR("tsr_tuning_reload", h);
    tsr_tuning_load(h);
    return TSR_STATUS_SUCCESS;
}

int tsr_tuning_count(tsr_handle_t h) { return h ? h->tuning_count : 0; }

tsr_status_t tsr_tuning_lookup(tsr_handle_t h, const char *op, tsr_dtype_t dtype, int group, int n, int k, int m,
                               int *config, int *found)
{
    const char *fn = "tsr_tuning_lookup";
    TSR_CHECK_PTR(fn, h); /* no tsr_clear_error: this runs on the hot path of every dispatch */
    TSR_CHECK_PTR(fn, op);
    TSR_CHECK_PTR(fn, config);
    TSR_CHECK_PTR(fn, found);
    *found = 0;
    int bucket = tsr_tuning_m_bucket(m);
    const char *dt = tsr_dtype_name(dtype);
    for (int i = 0; i < h->tuning_count; i++) {
        const tsr_tuning_entry_t *e = &h->tuning[i];
        if (e->n == n && e->k == k && e->m_bucket == bucket && e->group == group && !strcmp(e->op, op) &&
            !strcmp(e->dtype, dt)) {
            *config = e->config;
            *found = 1;
            break;
        }
    }
    return TSR_STATUS_SUCCESS;
}
