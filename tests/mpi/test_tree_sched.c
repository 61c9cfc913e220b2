/* SPDX-License-Identifier: BSD-3-Clause
 * test_tree_sched.c: the owner table of a downsample tree stage (cv_tree_sched.h), exact counts
 * for fixed figures: shares follow throughput (a 10x slower rank gets a tenth as many nodes),
 * no rank passes the cap (the rest goes to the others), the ranges follow where the ranks'
 * states are, ranks without a measurement count as the mean, and the counts always add up. */
#include "mpi/cv_tree_sched.h"
#include "testlib.h"

static void test_shares_follow_throughput(void)
{
    /* rank 1 makes a tenth of the bytes per second of the others; nobody holds states */
    cv_tree_figures f[3] = {{1, 100, 0, 0}, {1, 10, 0, 0}, {1, 100, 0, 0}};
    int order[3];
    uint64_t count[3];
    cv_tree_sched_plan(f, 3, 210, 1000, order, count);
    ASSERT_EQ(order[0], 0);
    ASSERT_EQ(order[1], 1);
    ASSERT_EQ(order[2], 2);
    ASSERT_EQ(count[0], 100);
    ASSERT_EQ(count[1], 10);
    ASSERT_EQ(count[2], 100);
    /* 7 nodes: shares 3.33, 0.33, 3.33: the remainder goes to the first of the largest */
    cv_tree_sched_plan(f, 3, 7, 1000, order, count);
    ASSERT_EQ(count[0], 4);
    ASSERT_EQ(count[1], 0);
    ASSERT_EQ(count[2], 3);
}

static void test_cap_moves_the_rest(void)
{
    /* rank 0 is 8x faster, but may make at most 4 of 10 */
    cv_tree_figures f[3] = {{1, 80, 0, 0}, {1, 10, 0, 0}, {1, 10, 0, 0}};
    int order[3];
    uint64_t count[3];
    cv_tree_sched_plan(f, 3, 10, 4, order, count);
    ASSERT_EQ(count[0], 4);
    ASSERT_EQ(count[1], 3);
    ASSERT_EQ(count[2], 3);
}

static void test_ranges_follow_the_states(void)
{
    /* rank 2 holds states of parents around 1, rank 0 around 5, rank 1 around 9 */
    cv_tree_figures f[3] = {{1, 1, 100, 500}, {1, 1, 50, 450}, {1, 1, 10, 10}};
    int order[3];
    uint64_t count[3];
    cv_tree_sched_plan(f, 3, 12, 12, order, count);
    ASSERT_EQ(order[0], 2);
    ASSERT_EQ(order[1], 0);
    ASSERT_EQ(order[2], 1);
    ASSERT_EQ(count[0] + count[1] + count[2], 12);
    ASSERT_EQ(count[0], 4);
}

static void test_unmeasured_rank_counts_as_the_mean(void)
{
    /* rank 1 made nothing yet: it counts as the mean of 30 and 10 bytes per second */
    cv_tree_figures f[3] = {{1, 30, 0, 0}, {0, 0, 0, 0}, {1, 10, 0, 0}};
    int order[3];
    uint64_t count[3];
    cv_tree_sched_plan(f, 3, 60, 100, order, count);
    ASSERT_EQ(count[0], 30);
    ASSERT_EQ(count[1], 20);
    ASSERT_EQ(count[2], 10);
    /* nothing measured anywhere: equal shares */
    cv_tree_figures none[4] = {{0}};
    int order4[4];
    uint64_t count4[4];
    cv_tree_sched_plan(none, 4, 10, 10, order4, count4);
    ASSERT_EQ(count4[0], 3);
    ASSERT_EQ(count4[1], 3);
    ASSERT_EQ(count4[2], 2);
    ASSERT_EQ(count4[3], 2);
}

static void test_counts_add_up(void)
{
    /* many ranks of scattered speeds, caps and node counts: always every node, none over cap */
    enum { R = 37 };
    cv_tree_figures f[R];
    int order[R];
    uint64_t count[R];
    for (int r = 0; r < R; r++) {
        f[r] = (cv_tree_figures){1 + r % 5, 1 + (r * 7919) % 101, r % 3 ? 1 : 0, (double)r};
    }
    for (uint64_t n = 0; n < 2000; n += 37) {
        uint64_t cap = n / R + 1 + n % 5;
        cv_tree_sched_plan(f, R, n, cap, order, count);
        uint64_t sum = 0, most = 0;
        for (int k = 0; k < R; k++) {
            sum += count[k];
            most = count[k] > most ? count[k] : most;
        }
        ASSERT_EQ(sum, n);
        ASSERT_TRUE(most <= cap);
    }
}

TEST_MAIN(test_shares_follow_throughput, test_cap_moves_the_rest, test_ranges_follow_the_states,
          test_unmeasured_rank_counts_as_the_mean, test_counts_add_up)
