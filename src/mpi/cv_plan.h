/* SPDX-License-Identifier: BSD-3-Clause
 * cv_plan.h: the job plan: a region cut into chunk-aligned task boxes sized to a memory budget.
 * Pure functions, no MPI: every rank computes the same plan from the same parameters, so the
 * plan is never broadcast. */
#ifndef CV_PLAN_H
#define CV_PLAN_H

#include "base/cv_internal.h"

typedef struct cv_plan {
    cv_bbox region;        /* what the job covers (inside the volume) */
    int64_t origin[3];     /* where the task lattice starts (the grids' common origin) */
    int64_t task_shape[3]; /* a multiple of every alignment chunk */
    int64_t counts[3];     /* tasks along each axis */
    uint64_t n_tasks;
} cv_plan;

typedef struct cv_plan_params {
    cv_bbox region;
    int64_t origin[3];      /* voxel_offset of the grids */
    int64_t align[2][3];    /* chunk shapes tasks must align to (src, dst); 0,0,0 = unused */
    size_t bytes_per_voxel; /* all channels */
    size_t memory;          /* budget for one task, bytes */
    double overhead;        /* memory per task byte (buffers, codec scratch); e.g. 3 */
    uint64_t min_tasks;     /* stop growing tasks below this many (spread over ranks); 0 = 1 */
    /* Per-worker chunk buffers: each of `threads` workers handling chunks of align[a] holds
     * scratch[a] chunk-sized buffers (decoded, fetched, compressed, ...), whatever the task
     * size; a task of fewer chunks than threads keeps fewer workers busy. Reading (align[0])
     * and writing (align[1]) come one after the other, so the larger of the two counts.
     * 0 = not counted. */
    int threads;
    double scratch[2];
    /* Count a task as its box clipped to the region: a job that allocates only what a task's
     * box holds (verify) is not charged for lattice cells beyond a small region. */
    bool clip;
    /* When set, the bytes a task of `shape` needs, the job's own account of its buffers,
     * instead of the overhead and scratch figures above. */
    double (*task_bytes)(const int64_t shape[3], void *arg);
    void *task_bytes_arg;
} cv_plan_params;

/* Make the plan: the task shape starts at the least common multiple of the alignment chunks and
 * doubles, smallest axis first, while a task still fits the budget, is not larger than the
 * region, and the region still has at least min_tasks tasks. CV_ERR_ARG if even one aligned unit
 * does not fit (the message gives the bytes needed). */
cv_status cv_plan_make(const cv_plan_params *p, cv_plan *out);
/* The smallest task shape: the least common multiple of the alignment chunks. Pure. */
void cv_plan_unit(const cv_plan_params *p, int64_t unit[3]);
/* The extent a task of `shape` can hold inside the region (shape itself unless p->clip). */
void cv_plan_held(const cv_plan_params *p, const int64_t shape[3], int64_t held[3]);
/* The box of task `id`, clipped to the region. */
cv_bbox cv_plan_task_box(const cv_plan *p, uint64_t id);
/* Bytes of memory one task needs under the plan (for --dry-run): an upper bound when the
 * overhead and scratch parameters describe the job's buffers. */
size_t cv_plan_task_bytes(const cv_plan *p, const cv_plan_params *params);
/* The same for a task of any shape (e.g. cv_plan_unit's, to say what a refused job needs). */
double cv_plan_shape_bytes(const cv_plan_params *params, const int64_t shape[3]);

#endif
