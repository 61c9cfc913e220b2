/* SPDX-License-Identifier: BSD-3-Clause
 * test_slab.c: the geometry of the import slab exchange without MPI: slabs of a group box cut
 * for 1..7 ranks cover it exactly, in order, thicknesses differing by at most one (cut at
 * source chunk boundaries: every boundary on the chunk lattice, whole cells dealt evenly, the
 * plain cut when there are fewer cells than ranks); and one
 * process's exchange assembles every task box of a group (edge tasks clipped) x fastest from a
 * slab in any of the dataset axis orders, compared with a naive element-by-element copy. */
#include "mpi/cv_slab.h"
#include "testlib.h"

static void pieces_cover_the_group(void)
{
    cv_bbox g = cv_bbox_make(-5, 3, 17, 60, 9, 30);
    for (int axis = 0; axis < 3; axis++) {
        for (int size = 1; size <= 7; size++) {
            int64_t next = g.min[axis], lo = INT64_MAX, hi = 0;
            for (int r = 0; r < size; r++) {
                cv_bbox p = cv__slab_piece(g, axis, r, size);
                ASSERT_EQ(p.min[axis], next);
                next = p.max[axis];
                int64_t t = p.max[axis] - p.min[axis];
                lo = t < lo ? t : lo;
                hi = t > hi ? t : hi;
                for (int d = 0; d < 3; d++) {
                    if (d != axis) {
                        ASSERT_EQ(p.min[d], g.min[d]);
                        ASSERT_EQ(p.max[d], g.max[d]);
                    }
                }
            }
            ASSERT_EQ(next, g.max[axis]);
            ASSERT_TRUE(hi - lo <= 1);
        }
    }
    /* More ranks than planes: the last pieces are empty. */
    cv_bbox thin = cv_bbox_make(0, 0, 4, 8, 8, 6);
    ASSERT_EQ(cv__slab_piece(thin, 2, 0, 4).max[2], 5);
    ASSERT_TRUE(cv_bbox_is_empty(cv__slab_piece(thin, 2, 3, 4)));
}

static void aligned_pieces_cut_at_chunks(void)
{
    /* z 17..30 with chunks of 4 from origin 1: cells 17-21, 21-25, 25-29, 29-30 */
    cv_bbox g = cv_bbox_make(-5, 3, 17, 60, 9, 30);
    cv_slab_round rd = {.group = g, .axis = 2, .align_origin = 1, .align_step = 4};
    for (int size = 1; size <= 4; size++) {
        int64_t next = g.min[2];
        for (int r = 0; r < size; r++) {
            cv_bbox p = cv__slab_round_piece(&rd, r, size);
            ASSERT_EQ(p.min[2], next);
            ASSERT_TRUE(p.max[2] == g.max[2] || (p.max[2] - 1) % 4 == 0);
            ASSERT_EQ(p.min[0], g.min[0]);
            ASSERT_EQ(p.max[1], g.max[1]);
            next = p.max[2];
        }
        ASSERT_EQ(next, g.max[2]);
    }
    /* 3 ranks, 4 cells: 2, 1, 1 */
    ASSERT_EQ(cv__slab_round_piece(&rd, 0, 3).max[2], 25);
    ASSERT_EQ(cv__slab_round_piece(&rd, 1, 3).max[2], 29);
    ASSERT_EQ(cv__slab_round_piece(&rd, 2, 3).min[2], 29);
    /* 5 ranks, 4 cells: the plain cut */
    for (int r = 0; r < 5; r++) {
        cv_bbox a = cv__slab_round_piece(&rd, r, 5), b = cv__slab_piece(g, 2, r, 5);
        ASSERT_EQ(a.min[2], b.min[2]);
        ASSERT_EQ(a.max[2], b.max[2]);
    }
}

/* Value of voxel (x,y,z,c) of the source, as 2-byte elements. */
static uint16_t value(int64_t x, int64_t y, int64_t z, int64_t c)
{
    return (uint16_t)(x * 7 + y * 131 + z * 1031 + c * 20011);
}

static void exchange_assembles_tasks(const char *axes)
{
    cv_slab_layout l = {
        .ndims = (int)strlen(axes), .channels = strchr(axes, 'c') ? 3 : 1, .elem_size = 2};
    for (int i = 0; i < l.ndims; i++) {
        l.ax[i] = (int)(strchr("xyzc", axes[i]) - "xyzc");
    }
    cv_bbox g = cv_bbox_make(10, 20, 30, 33, 37, 41); /* 23 x 17 x 11 */
    int64_t n[4] = {23, 17, 11, l.channels}, st[4];
    cv__slab_strides(&l, n, st);
    size_t count = (size_t)(n[0] * n[1] * n[2] * n[3]);
    cv_slab_scratch sc;
    memset(&sc, 0, sizeof sc);
    ASSERT_TRUE(cv__slab_reserve(&sc.slab, &sc.slab_cap, count * 2));
    uint16_t *slab = (uint16_t *)sc.slab;
    for (int64_t c = 0; c < n[3]; c++) {
        for (int64_t z = 0; z < n[2]; z++) {
            for (int64_t y = 0; y < n[1]; y++) {
                for (int64_t x = 0; x < n[0]; x++) {
                    slab[x * st[0] + y * st[1] + z * st[2] + c * st[3]] =
                        value(x + 10, y + 20, z + 30, c);
                }
            }
        }
    }
    /* Tasks of 8 x 8 x 4 on a lattice starting at (8,16,28), clipped to the group. */
    cv_bbox boxes[64];
    int owner[64];
    size_t nt = 0;
    for (int64_t z = 28; z < 41; z += 4) {
        for (int64_t y = 16; y < 37; y += 8) {
            for (int64_t x = 8; x < 33; x += 8) {
                cv_bbox b = cv_bbox_intersect(cv_bbox_make(x, y, z, x + 8, y + 8, z + 4), g);
                if (!cv_bbox_is_empty(b)) {
                    owner[nt] = 0;
                    boxes[nt++] = b;
                }
            }
        }
    }
    cv_slab_round round = {.group = g,
                           .axis = l.ax[0] == 3 ? l.ax[1] : l.ax[0],
                           .boxes = boxes,
                           .owner = owner,
                           .n = nt};
    uint8_t *bufs[64];
    ASSERT_OK(cv__slab_exchange(&l, &round, &sc, bufs));
    for (size_t t = 0; t < nt; t++) {
        const uint16_t *b = (const uint16_t *)bufs[t];
        cv_bbox bx = boxes[t];
        size_t i = 0;
        for (int64_t c = 0; c < l.channels; c++) {
            for (int64_t z = bx.min[2]; z < bx.max[2]; z++) {
                for (int64_t y = bx.min[1]; y < bx.max[1]; y++) {
                    for (int64_t x = bx.min[0]; x < bx.max[0]; x++, i++) {
                        if (b[i] != value(x, y, z, c)) {
                            TL_FAIL_HERE("%s: task %zu voxel %" PRId64 ",%" PRId64 ",%" PRId64
                                         ",%" PRId64 ": %u != %u",
                                         axes, t, x, y, z, c, b[i], value(x, y, z, c));
                        }
                    }
                }
            }
        }
    }
    cv__slab_scratch_fini(&sc);
}

static void exchange_in_every_axis_order(void)
{
    static const char *const orders[] = {"zyx",  "xyz",  "yzx",  "zyxc",
                                         "czyx", "xyzc", "cxyz", "zcyx"};
    for (size_t i = 0; i < sizeof orders / sizeof orders[0]; i++) {
        int before = tl_failed_asserts;
        exchange_assembles_tasks(orders[i]);
        if (tl_failed_asserts != before) {
            return;
        }
    }
}

TEST_MAIN(pieces_cover_the_group, aligned_pieces_cut_at_chunks, exchange_in_every_axis_order)
