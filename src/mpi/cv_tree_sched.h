/* SPDX-License-Identifier: BSD-3-Clause
 * cv_tree_sched.h: who makes the nodes of a downsample tree stage. At the start of each stage
 * every rank gathers the same per-rank figures (its measured throughput so far, and where the
 * stage's child states it holds point to) and computes the same owner table: each rank gets a
 * number of the stage's unfinished nodes in proportion to its throughput (a slow rank gets
 * fewer), at most `cap`, as one contiguous range of node indices; the ranges are laid out in
 * the order of the mean parent index of the states each rank holds, so a rank tends to make the
 * nodes whose children it made. The table is O(ranks), whatever the number of nodes. */
#ifndef CV_TREE_SCHED_H
#define CV_TREE_SCHED_H

#include "base/cv_internal.h"

/* One rank's figures, gathered from every rank. */
typedef struct cv_tree_figures {
    double seconds; /* time spent making tasks and nodes so far */
    double bytes;   /* their input bytes (source voxels, child states) */
    double held;    /* bytes of the stage's child states this rank holds (sends) */
    double held_at; /* sum over those of parent index x bytes */
} cv_tree_figures;

/* From every rank's figures, the order of the ranks along the node indices (order[slot] is a
 * rank) and how many of `undone` unfinished nodes each slot gets (count[slot], each at most
 * `cap` unless cap * ranks < undone). Deterministic: the same figures give the same table. */
void cv_tree_sched_plan(const cv_tree_figures *f, int ranks, uint64_t undone, uint64_t cap,
                        int *order, uint64_t *count);

#endif
