/* SPDX-License-Identifier: BSD-3-Clause
 * test_geom.c: boxes, the chunk grid (edge chunks, voxel_offset) and chunk names, against the
 * spec's vectors (test-vectors §5). */
#include "testlib.h"

#include "base/checked.h"

static void grid_edges_and_offset(void)
{
    /* size 100x70x35, offset 10,-5,0, chunk 64x64x16: grid 2x2x3 */
    cv_grid g = {{64, 64, 16}, cv_bbox_make(10, -5, 0, 110, 65, 35)};
    int64_t shape[3];
    cv_grid_shape(&g, shape);
    ASSERT_EQ(shape[0], 2);
    ASSERT_EQ(shape[1], 2);
    ASSERT_EQ(shape[2], 3);
    static const struct {
        int64_t cell[3];
        const char *name;
    } want[] = {
        {{0, 0, 0}, "10-74_-5-59_0-16"},   {{1, 0, 0}, "74-110_-5-59_0-16"},
        {{0, 1, 0}, "10-74_59-65_0-16"},   {{1, 1, 0}, "74-110_59-65_0-16"},
        {{0, 0, 1}, "10-74_-5-59_16-32"},  {{1, 1, 1}, "74-110_59-65_16-32"},
        {{0, 0, 2}, "10-74_-5-59_32-35"},  {{0, 1, 2}, "10-74_59-65_32-35"},
        {{1, 0, 2}, "74-110_-5-59_32-35"}, {{1, 1, 2}, "74-110_59-65_32-35"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char name[128];
        cv_chunk_name_format(cv_grid_cell_box(&g, want[i].cell), name, sizeof name);
        ASSERT_STR_EQ(name, want[i].name);
    }
}

static void corpus_negative_offset_names(void)
{
    /* cv_img_u8_raw: size 70x50x23, offset (-5,3,7), chunk 32x32x16 */
    cv_grid g = {{32, 32, 16}, cv_bbox_make(-5, 3, 7, 65, 53, 30)};
    char name[128];
    int64_t first[3] = {0, 0, 0}, last[3] = {2, 1, 1};
    cv_chunk_name_format(cv_grid_cell_box(&g, first), name, sizeof name);
    ASSERT_STR_EQ(name, "-5-27_3-35_7-23");
    cv_bbox b = cv_grid_cell_box(&g, last);
    cv_chunk_name_format(b, name, sizeof name);
    ASSERT_STR_EQ(name, "59-65_35-53_23-30");
    ASSERT_EQ(cv_bbox_voxels(b), 756);
}

static void chunk_name_parse(void)
{
    cv_bbox b;
    ASSERT_OK(cv_chunk_name_parse("-5-27_3-35_7-23", &b));
    ASSERT_EQ(b.min[0], -5);
    ASSERT_EQ(b.max[0], 27);
    ASSERT_OK(cv_chunk_name_parse("-40--8_0-16_5-6.gz", &b));
    ASSERT_EQ(b.min[0], -40);
    ASSERT_EQ(b.max[0], -8);
    ASSERT_EQ(b.max[2], 6);
    ASSERT_OK(cv_chunk_name_parse("59-65_35-53_23-30.br", &b));
    ASSERT_EQ(b.min[1], 35);
    ASSERT_FAILS(cv_chunk_name_parse("1-2_3-4", &b), CV_ERR_ARG, "bad chunk name");
    ASSERT_FAILS(cv_chunk_name_parse("1-2_3-4_5", &b), CV_ERR_ARG, "bad chunk name");
    ASSERT_FAILS(cv_chunk_name_parse("1-2_3-4_5-6x", &b), CV_ERR_ARG, "bad chunk name");
    ASSERT_FAILS(cv_chunk_name_parse("a-2_3-4_5-6", &b), CV_ERR_ARG, "bad chunk name");
}

static void cells_expand_shrink_align(void)
{
    cv_grid g = {{64, 64, 16}, cv_bbox_make(10, -5, 0, 110, 65, 35)};
    int64_t cmin[3], cmax[3];
    cv_grid_cells(&g, cv_bbox_make(20, 0, 15, 80, 60, 17), cmin, cmax);
    ASSERT_EQ(cmin[0], 0);
    ASSERT_EQ(cmax[0], 2);
    ASSERT_EQ(cmin[1], 0);
    ASSERT_EQ(cmax[1], 2);
    ASSERT_EQ(cmin[2], 0);
    ASSERT_EQ(cmax[2], 2);
    cv_bbox e = cv_grid_expand(&g, cv_bbox_make(20, 0, 15, 80, 60, 17));
    ASSERT_TRUE(cv_bbox_equal(e, cv_bbox_make(10, -5, 0, 110, 65, 32)));
    cv_bbox s = cv_grid_shrink(&g, cv_bbox_make(20, -5, 15, 110, 65, 35));
    ASSERT_TRUE(cv_bbox_equal(s, cv_bbox_make(74, -5, 16, 110, 65, 35)));
    /* aligned: on grid lines, or ending at the volume's upper bound */
    ASSERT_TRUE(cv_grid_is_aligned(&g, cv_bbox_make(10, -5, 0, 74, 59, 16)));
    ASSERT_TRUE(cv_grid_is_aligned(&g, cv_bbox_make(74, 59, 32, 110, 65, 35)));
    ASSERT_TRUE(!cv_grid_is_aligned(&g, cv_bbox_make(11, -5, 0, 74, 59, 16)));
    ASSERT_TRUE(!cv_grid_is_aligned(&g, cv_bbox_make(10, -5, 0, 74, 59, 15)));
    /* a box missing the volume has no cells */
    cv_grid_cells(&g, cv_bbox_make(200, 0, 0, 300, 10, 10), cmin, cmax);
    ASSERT_EQ(cmax[0] - cmin[0], 0);
}

static void bbox_parse_and_ops(void)
{
    cv_bbox b;
    ASSERT_OK(cv_bbox_parse("-1,2,3,40,50,-6", &b));
    ASSERT_EQ(b.min[0], -1);
    ASSERT_EQ(b.max[2], -6);
    ASSERT_TRUE(cv_bbox_is_empty(b));
    ASSERT_FAILS(cv_bbox_parse("1,2,3,4,5", &b), CV_ERR_ARG, "bad box");
    ASSERT_FAILS(cv_bbox_parse("1,2,3,4,5,6,", &b), CV_ERR_ARG, "bad box");
    ASSERT_FAILS(cv_bbox_parse("1,2,3,4,5,x", &b), CV_ERR_ARG, "bad box");
    char text[128];
    cv_bbox_format(cv_bbox_make(0, -1, 2, 3, 4, 5), text, sizeof text);
    ASSERT_STR_EQ(text, "0,-1,2,3,4,5");
    cv_bbox i =
        cv_bbox_intersect(cv_bbox_make(0, 0, 0, 10, 10, 10), cv_bbox_make(5, -5, 8, 20, 5, 9));
    ASSERT_TRUE(cv_bbox_equal(i, cv_bbox_make(5, 0, 8, 10, 5, 9)));
    ASSERT_EQ(cv_bbox_voxels(i), 25);
}

static void checked_products(void)
{
    uint64_t r;
    ASSERT_TRUE(cv__mul_u64(UINT64_C(1) << 32, (UINT64_C(1) << 32) - 1, &r));
    ASSERT_EQ(r, UINT64_MAX - UINT32_MAX);
    ASSERT_TRUE(!cv__mul_u64(UINT64_C(1) << 32, UINT64_C(1) << 32, &r));
    ASSERT_EQ(r, UINT64_MAX);
    ASSERT_TRUE(cv__mul_u64(0, UINT64_MAX, &r));
    ASSERT_EQ(r, 0);
    ASSERT_TRUE(cv__add_u64(UINT64_MAX - 1, 1, &r));
    ASSERT_EQ(r, UINT64_MAX);
    ASSERT_TRUE(!cv__add_u64(UINT64_MAX, 1, &r));
    /* 2^22 * 2^21 * 2^21 is exactly 2^64: the case that used to wrap to 0 */
    ASSERT_TRUE(!cv__mul4_u64(UINT64_C(1) << 22, UINT64_C(1) << 21, UINT64_C(1) << 21, 1, &r));
    ASSERT_EQ(r, UINT64_MAX);
    ASSERT_TRUE(cv__mul4_u64(UINT64_C(1) << 22, UINT64_C(1) << 21, UINT64_C(1) << 20, 1, &r));
    ASSERT_EQ(r, UINT64_C(1) << 63);
    /* the last factor can overflow alone */
    ASSERT_TRUE(!cv__mul4_u64(2, 2, 2, UINT64_C(1) << 62, &r));

    ASSERT_TRUE(cv__bbox_voxels_checked(cv_bbox_make(0, 0, 0, 4194304, 2097152, 1048576), &r));
    ASSERT_EQ(r, UINT64_C(1) << 63);
    ASSERT_TRUE(!cv__bbox_voxels_checked(cv_bbox_make(0, 0, 0, 4194304, 2097152, 2097152), &r));
    ASSERT_EQ(cv_bbox_voxels(cv_bbox_make(0, 0, 0, 4194304, 2097152, 2097152)), UINT64_MAX);
    /* extents past INT64_MAX (from text) are counted as uint64 */
    ASSERT_TRUE(cv__bbox_voxels_checked(cv_bbox_make(INT64_MIN, 0, 0, INT64_MAX, 1, 1), &r));
    ASSERT_EQ(r, UINT64_MAX);
    ASSERT_TRUE(!cv__bbox_voxels_checked(cv_bbox_make(INT64_MIN, 0, 0, INT64_MAX, 2, 1), &r));
    ASSERT_TRUE(cv__bbox_voxels_checked(cv_bbox_make(5, 0, 0, 5, 1 << 30, 1 << 30), &r));
    ASSERT_EQ(r, 0);
}

TEST_MAIN(checked_products, grid_edges_and_offset, corpus_negative_offset_names, chunk_name_parse,
          cells_expand_shrink_align, bbox_parse_and_ops)
