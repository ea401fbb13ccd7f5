/* The tuning cache: which kernel configuration is fastest for a (device,
 * versions, op, dtype, group, n, k, m-bucket), measured once offline by `ktune`
 * and read by tsr_create, so that dispatch costs a table lookup. The file is
 * text, versioned, replaced atomically under an advisory lock, and moved aside
 * (with a warning) when corrupt. Format and operator guide: docs/tuning.md. */
#ifndef TESSERA_TUNING_H
#define TESSERA_TUNING_H

#include <stddef.h>

#include "tessera/tessera.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One entry. Strings are NUL-terminated; tabs and newlines never appear in them. */
typedef struct tsr_tuning_entry {
    char device[128];      /* device name */
    int cc_major, cc_minor, sm_count;
    int runtime_version, driver_version, tessera_version;
    char op[32];           /* kernel family, e.g. "w4a16" */
    char dtype[8];         /* "f16", "bf16" */
    int group;             /* quantisation group (0 when the op has none) */
    int n, k;              /* exact */
    int m_bucket;          /* tsr_tuning_m_bucket(m) */
    int config;            /* the chosen configuration id */
    double time_us;        /* its measured median */
} tsr_tuning_entry_t;

/* M rounded up to a power of two (1, 2, 4, ...); m <= 0 gives 0. */
int tsr_tuning_m_bucket(int m);

/* The cache file: $TESSERA_CACHE_DIR/tuning.txt, else $XDG_CACHE_HOME/tessera/,
 * else $HOME/.cache/tessera/. TSR_STATUS_INVALID_VALUE when none is set or cap is short. */
tsr_status_t tsr_tuning_cache_path(char *path, size_t cap);

/* Reads every entry of a cache file (any device). *entries is malloc'd (free it);
 * a missing file gives 0 entries. A corrupt or truncated file gives
 * TSR_STATUS_CORRUPT_DATA and no entries (the file is left where it is). */
tsr_status_t tsr_tuning_read(const char *path, tsr_tuning_entry_t **entries, int *count);

/* Merges entries into the file under the advisory lock: an entry with the same
 * key (all fields but config and time) replaces the old one, all others are
 * kept. The file is rewritten atomically (temporary file + rename). A corrupt
 * file is moved aside to path.corrupt-<time> with a warning on stderr first. */
tsr_status_t tsr_tuning_merge(const char *path, const tsr_tuning_entry_t *entries, int count);

/* Deletes the cache file (under the lock). A missing file is not an error. */
tsr_status_t tsr_tuning_clear(const char *path);

/* Fills the device and version fields of *e from the handle's device. */
tsr_status_t tsr_tuning_entry_for(tsr_handle_t handle, tsr_tuning_entry_t *e);

/* The handle's view: the entries of the cache that match its device and
 * versions, loaded once by tsr_create (unless TESSERA_TUNING=off). Lookup does
 * no I/O and no allocation. *found = 0 when no entry matches. */
tsr_status_t tsr_tuning_lookup(tsr_handle_t handle, const char *op, tsr_dtype_t dtype, int group, int n, int k, int m,
                               int *config, int *found);
/* Re-reads the cache file into the handle (after ktune wrote it, say). */
tsr_status_t tsr_tuning_reload(tsr_handle_t handle);
/* Number of entries the handle holds for its device. */
int tsr_tuning_count(tsr_handle_t handle);

#ifdef __cplusplus
}
#endif
#endif
