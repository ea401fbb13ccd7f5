/* Host suite: the shared fragment layouts (csrc/layout.h) against entries
 * worked by hand from the PTX ISA's figures, plus the properties every layout
 * must have (each element held by exactly one lane and register). */
#include <string.h>

#include "support.h"
#include "layout.h"

typedef void (*frag_fn)(int lane, int i, int *row, int *col);

/* Every (row, col) of a rows x cols matrix is held exactly once. */
static void check_bijection(frag_fn f, int per_lane, int rows, int cols, const char *what)
{
    int count[32][32];
    memset(count, 0, sizeof count);
    for (int lane = 0; lane < 32; lane++)
        for (int i = 0; i < per_lane; i++) {
            int r, c;
            f(lane, i, &r, &c);
            if (r < 0 || r >= rows || c < 0 || c >= cols) fail_msg("%s: lane %d elem %d -> (%d,%d) out of range", what, lane, i, r, c);
            count[r][c]++;
        }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            if (count[r][c] != 1) fail_msg("%s: (%d,%d) held %d times", what, r, c, count[r][c]);
}

static void expect(frag_fn f, int lane, int i, int row, int col, const char *what)
{
    int r, c;
    f(lane, i, &r, &c);
    if (r != row || c != col) fail_msg("%s lane %d elem %d: (%d,%d), PTX ISA says (%d,%d)", what, lane, i, r, c, row, col);
}

static void test_m16n8k16_a(void **state)
{
    (void)state;
    check_bijection(tsr_frag_m16n8k16_a, 8, 16, 16, "A");
    /* Figure "MMA .m16n8k16 fragment layout for matrix A with .f16/.bf16":
     * T0 holds a0,a1 = (0,0),(0,1); a2,a3 = (8,0),(8,1); a4,a5 = (0,8),(0,9);
     * a6,a7 = (8,8),(8,9). T5 (group 1, tig 1): a0 = (1,2); a7 = (9,11).
     * T31 (group 7, tig 3): a0 = (7,6), a3 = (15,7), a6 = (15,14). */
    expect(tsr_frag_m16n8k16_a, 0, 0, 0, 0, "A");
    expect(tsr_frag_m16n8k16_a, 0, 1, 0, 1, "A");
    expect(tsr_frag_m16n8k16_a, 0, 2, 8, 0, "A");
    expect(tsr_frag_m16n8k16_a, 0, 3, 8, 1, "A");
    expect(tsr_frag_m16n8k16_a, 0, 4, 0, 8, "A");
    expect(tsr_frag_m16n8k16_a, 0, 7, 8, 9, "A");
    expect(tsr_frag_m16n8k16_a, 5, 0, 1, 2, "A");
    expect(tsr_frag_m16n8k16_a, 5, 7, 9, 11, "A");
    expect(tsr_frag_m16n8k16_a, 31, 0, 7, 6, "A");
    expect(tsr_frag_m16n8k16_a, 31, 3, 15, 7, "A");
    expect(tsr_frag_m16n8k16_a, 31, 6, 15, 14, "A");
}

static void test_m16n8k16_b_and_c(void **state)
{
    (void)state;
    check_bijection(tsr_frag_m16n8k16_b, 4, 16, 8, "B");
    check_bijection(tsr_frag_m16n8k16_c, 4, 16, 8, "C");
    /* B figure: T0 b0,b1 = (0,0),(1,0); b2,b3 = (8,0),(9,0); T5: b0 = (2,1);
     * T31: b3 = (15,7). C figure: T0 c0,c1 = (0,0),(0,1), c2,c3 = (8,0),(8,1);
     * T5: c0 = (1,2); T31: c3 = (15,7). */
    expect(tsr_frag_m16n8k16_b, 0, 0, 0, 0, "B");
    expect(tsr_frag_m16n8k16_b, 0, 1, 1, 0, "B");
    expect(tsr_frag_m16n8k16_b, 0, 2, 8, 0, "B");
    expect(tsr_frag_m16n8k16_b, 0, 3, 9, 0, "B");
    expect(tsr_frag_m16n8k16_b, 5, 0, 2, 1, "B");
    expect(tsr_frag_m16n8k16_b, 31, 3, 15, 7, "B");
    expect(tsr_frag_m16n8k16_c, 0, 0, 0, 0, "C");
    expect(tsr_frag_m16n8k16_c, 0, 1, 0, 1, "C");
    expect(tsr_frag_m16n8k16_c, 0, 2, 8, 0, "C");
    expect(tsr_frag_m16n8k16_c, 5, 0, 1, 2, "C");
    expect(tsr_frag_m16n8k16_c, 31, 3, 15, 7, "C");
}

static void test_sparse_m16n8k32(void **state)
{
    (void)state;
    check_bijection(tsr_frag_sp_m16n8k32_a, 8, 16, 16, "sparse A (kept values)");
    check_bijection(tsr_frag_sp_m16n8k32_b, 8, 32, 8, "sparse B");
    /* B (32x8): T0 b0..b7 = rows 0,1,8,9,16,17,24,25 of column 0; T6 (group 1,
     * tig 2): b0 = (4,1), b7 = (29,1). */
    expect(tsr_frag_sp_m16n8k32_b, 0, 4, 16, 0, "sparse B");
    expect(tsr_frag_sp_m16n8k32_b, 0, 7, 25, 0, "sparse B");
    expect(tsr_frag_sp_m16n8k32_b, 6, 0, 4, 1, "sparse B");
    expect(tsr_frag_sp_m16n8k32_b, 6, 7, 29, 1, "sparse B");
    /* metadata: each (row, chunk) of the 16x8 chunk grid covered exactly once
     * per selector, by lanes with tig 2s or 2s+1 only */
    for (int sel = 0; sel < 2; sel++) {
        int count[16][8];
        memset(count, 0, sizeof count);
        for (int lane = 0; lane < 32; lane++)
            for (int nib = 0; nib < 8; nib++) {
                int r, ch;
                if (!tsr_frag_sp_m16n8k32_meta(lane, sel, nib, &r, &ch)) continue;
                assert_true(TSR_TIG(lane) / 2 == sel);
                assert_true(r >= 0 && r < 16 && ch >= 0 && ch < 8);
                count[r][ch]++;
            }
        for (int r = 0; r < 16; r++)
            for (int ch = 0; ch < 8; ch++) assert_int_equal(count[r][ch], 1);
    }
    int r, ch;
    assert_int_equal(tsr_frag_sp_m16n8k32_meta(1, 0, 5, &r, &ch), 1); /* T1: row 8, chunk 5 */
    assert_int_equal(r, 8);
    assert_int_equal(ch, 5);
    assert_int_equal(tsr_frag_sp_m16n8k32_meta(2, 0, 0, &r, &ch), 0);
}

static void test_ldmatrix_layout(void **state)
{
    (void)state;
    int r, c;
    tsr_frag_ldmatrix(5, 1, 0, &r, &c); /* lane 5: row 1, col 3 */
    assert_int_equal(r, 1);
    assert_int_equal(c, 3);
    tsr_frag_ldmatrix(5, 1, 1, &r, &c); /* .trans: row 3, col 1 */
    assert_int_equal(r, 3);
    assert_int_equal(c, 1);
}

static void test_swizzle_is_conflict_free(void **state)
{
    (void)state;
    /* For every column chunk c, the 8 rows an ldmatrix phase reads (rows r..r+7
     * of a 128-byte-or-wider tile) must land on 8 distinct bank groups, and the
     * swizzle must stay a permutation within each row. */
    for (int row_chunks = 8; row_chunks <= 32; row_chunks *= 2)
        for (int c = 0; c < row_chunks; c++) {
            int used = 0;
            for (int r = 0; r < 8; r++) used |= 1 << tsr_bank_group(r, tsr_swizzle_chunk(r, c, row_chunks), row_chunks);
            assert_int_equal(used, 0xff);
        }
    for (int r = 0; r < 16; r++) {
        unsigned long long perm = 0;
        for (int c = 0; c < 8; c++) perm |= 1ull << tsr_swizzle_chunk(r, c, 8);
        assert_int_equal(perm, 0xffull);
    }
    /* without it, the same column conflicts 8-fold */
    int used = 0;
    for (int r = 0; r < 8; r++) used |= 1 << tsr_bank_group(r, 3, 8);
    assert_int_equal(__builtin_popcount((unsigned)used), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_m16n8k16_a),
        cmocka_unit_test(test_m16n8k16_b_and_c),
        cmocka_unit_test(test_sparse_m16n8k32),
        cmocka_unit_test(test_ldmatrix_layout),
        cmocka_unit_test(test_swizzle_is_conflict_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
