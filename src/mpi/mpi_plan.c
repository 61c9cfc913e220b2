/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_plan.c: cutting a job's region into tasks. Tasks sit on a lattice that starts at the
 * grids' origin and is a multiple of both the source and destination chunk shapes, so no two
 * tasks ever write the same destination chunk and no source chunk is read by two tasks. */
#include "mpi/cv_plan.h"

#include "base/intmath.h"

#include <inttypes.h>
#include <stdio.h>

static int64_t floordiv(int64_t a, int64_t d)
{
    int64_t q = a / d;
    return (a % d != 0 && a < 0) ? q - 1 : q;
}

static void lattice(const cv_plan_params *p, const int64_t shape[3], int64_t first[3],
                    int64_t counts[3])
{
    for (int d = 0; d < 3; d++) {
        first[d] = floordiv(p->region.min[d] - p->origin[d], shape[d]);
        int64_t last = floordiv(p->region.max[d] - 1 - p->origin[d], shape[d]);
        counts[d] = last - first[d] + 1;
    }
}

void cv_plan_held(const cv_plan_params *p, const int64_t shape[3], int64_t held[3])
{
    for (int d = 0; d < 3; d++) {
        int64_t extent = p->region.max[d] - p->region.min[d];
        held[d] = p->clip && extent < shape[d] ? extent : shape[d];
    }
}

static double task_bytes(const cv_plan_params *p, const int64_t shape[3])
{
    if (p->task_bytes) {
        return p->task_bytes(shape, p->task_bytes_arg);
    }
    int64_t held[3];
    cv_plan_held(p, shape, held);
    double bytes = (double)held[0] * (double)held[1] * (double)held[2] *
                   (double)p->bytes_per_voxel * (p->overhead > 0 ? p->overhead : 1);
    /* A task reads all its source chunks, then writes its destination chunks: the two sets
     * of worker buffers are never held at once. */
    double most = 0;
    for (int a = 0; a < 2 && p->threads > 0; a++) {
        if (p->scratch[a] <= 0 || p->align[a][0] <= 0) {
            continue;
        }
        double chunks = 1, chunk_bytes = (double)p->bytes_per_voxel;
        for (int d = 0; d < 3; d++) {
            int64_t c = p->align[a][d], cells = (shape[d] + c - 1) / c;
            /* A clipped extent off the lattice may touch one chunk more at each end. */
            int64_t touched = (held[d] + 2 * c - 2) / c;
            chunks *= (double)(p->clip && touched < cells ? touched : cells);
            chunk_bytes *= (double)c;
        }
        double workers = chunks < (double)p->threads ? chunks : (double)p->threads;
        double held_bytes = workers * chunk_bytes * p->scratch[a];
        most = held_bytes > most ? held_bytes : most;
    }
    return bytes + most;
}

void cv_plan_unit(const cv_plan_params *p, int64_t unit[3])
{
    for (int d = 0; d < 3; d++) {
        unit[d] = 1;
    }
    for (int a = 0; a < 2; a++) {
        for (int d = 0; d < 3; d++) {
            int64_t c = p->align[a][d];
            if (c > 0) {
                unit[d] = cv__lcm_i64(unit[d], c);
            }
        }
    }
}

cv_status cv_plan_make(const cv_plan_params *p, cv_plan *out)
{
    if (cv_bbox_is_empty(p->region)) {
        return CV_FAIL(CV_ERR_ARG, "plan: the region is empty");
    }
    int64_t unit[3];
    cv_plan_unit(p, unit);
    int64_t extent[3];
    for (int d = 0; d < 3; d++) {
        extent[d] = p->region.max[d] - p->region.min[d];
    }
    if (task_bytes(p, unit) > (double)p->memory) {
        return CV_FAIL(CV_ERR_ARG,
                       "plan: one aligned task of %" PRId64 "x%" PRId64 "x%" PRId64
                       " voxels needs about %.2f MB, more than the %.2f MB memory budget "
                       "(raise --memory)",
                       unit[0], unit[1], unit[2], task_bytes(p, unit) / 1e6,
                       (double)p->memory / 1e6);
    }
    /* Grow while it fits: double the axis whose task extent is smallest, as long as the task
     * does not already cover the region along that axis. */
    int64_t shape[3] = {unit[0], unit[1], unit[2]};
    for (;;) {
        int best = -1;
        for (int d = 0; d < 3; d++) {
            if (shape[d] >= extent[d]) {
                continue;
            }
            if (best < 0 || shape[d] < shape[best]) {
                best = d;
            }
        }
        if (best < 0) {
            break;
        }
        int64_t grown[3] = {shape[0], shape[1], shape[2]};
        grown[best] *= 2;
        if (task_bytes(p, grown) > (double)p->memory) {
            break;
        }
        int64_t first[3], counts[3];
        lattice(p, grown, first, counts);
        if ((uint64_t)counts[0] * (uint64_t)counts[1] * (uint64_t)counts[2] < p->min_tasks) {
            break;
        }
        shape[best] = grown[best];
    }
    cv_plan plan;
    plan.region = p->region;
    int64_t first[3];
    lattice(p, shape, first, plan.counts);
    plan.n_tasks = 1;
    for (int d = 0; d < 3; d++) {
        plan.task_shape[d] = shape[d];
        plan.origin[d] = p->origin[d] + first[d] * shape[d];
        plan.n_tasks *= (uint64_t)plan.counts[d];
    }
    *out = plan;
    return CV_OK;
}

cv_bbox cv_plan_task_box(const cv_plan *p, uint64_t id)
{
    int64_t cell[3] = {(int64_t)(id % (uint64_t)p->counts[0]),
                       (int64_t)(id / (uint64_t)p->counts[0] % (uint64_t)p->counts[1]),
                       (int64_t)(id / ((uint64_t)p->counts[0] * (uint64_t)p->counts[1]))};
    cv_bbox b;
    for (int d = 0; d < 3; d++) {
        b.min[d] = p->origin[d] + cell[d] * p->task_shape[d];
        b.max[d] = b.min[d] + p->task_shape[d];
    }
    return cv_bbox_intersect(b, p->region);
}

size_t cv_plan_task_bytes(const cv_plan *p, const cv_plan_params *params)
{
    return (size_t)task_bytes(params, p->task_shape);
}

double cv_plan_shape_bytes(const cv_plan_params *params, const int64_t shape[3])
{
    return task_bytes(params, shape);
}
