/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_verify.c: `cvmpi verify`. Tasks on a lattice aligned to both layers' chunks are claimed
 * dynamically; each reads the same box from A and B and compares the voxels; the first
 * differing voxel of each task is reported with both values. An absent chunk is a difference
 * ("missing in A/B", naming its key) unless fill_missing reads it as background. */
#include "mpi/cv_verify.h"
#include "mpi/cv_source_cache.h"

#include "mpi/cv_collective.h"
#include "mpi/cv_failures.h"
#include "mpi/cv_monitor.h"
#include "mpi/cv_plan.h"
#include "mpi/cv_progress.h"
#include "mpi/cv_sched.h"

#include <inttypes.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

static void format_value(cv_dtype t, const uint8_t *p, char *buf, size_t cap)
{
    switch (t) {
    case CV_UINT8:
        snprintf(buf, cap, "%u", (unsigned)*p);
        return;
    case CV_INT8:
        snprintf(buf, cap, "%d", (int)(int8_t)*p);
        return;
    default:
        break;
    }
    union {
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
        float f32;
        double f64;
    } v;
    memcpy(&v, p, cv_dtype_size(t));
    switch (t) {
    case CV_UINT16:
        snprintf(buf, cap, "%u", (unsigned)v.u16);
        break;
    case CV_INT16:
        snprintf(buf, cap, "%d", (int)v.i16);
        break;
    case CV_UINT32:
        snprintf(buf, cap, "%" PRIu32, v.u32);
        break;
    case CV_INT32:
        snprintf(buf, cap, "%" PRId32, v.i32);
        break;
    case CV_UINT64:
        snprintf(buf, cap, "%" PRIu64, v.u64);
        break;
    case CV_INT64:
        snprintf(buf, cap, "%" PRId64, v.i64);
        break;
    case CV_FLOAT32:
        snprintf(buf, cap, "%.9g", (double)v.f32);
        break;
    case CV_FLOAT64:
        snprintf(buf, cap, "%.17g", v.f64);
        break;
    default:
        snprintf(buf, cap, "?");
        break;
    }
}

/* The "chunk `KEY' of URL" part of a read's not-found error. */
static void missing_chunk_text(const char *what, char *out, size_t cap)
{
    const char *start = strstr(what, "chunk `");
    const char *end = start ? strstr(start, " is missing") : NULL;
    if (start && end) {
        snprintf(out, cap, "%.*s", (int)(end - start), start);
    } else {
        snprintf(out, cap, "%s", what);
    }
}

/* Compare one box; on a difference record where and return CV_ERR_CORRUPT. */
static cv_status compare_box(cv_volume *a, int mip_a, cv_volume *b, int mip_b, cv_bbox box,
                             uint8_t *bufa, uint8_t *bufb, size_t cap)
{
    size_t n = cv_volume_box_bytes(a, box);
    if (n > cap) {
        return CV_FAIL(CV_ERR_ARG, "verify: task needs %zu bytes, the buffer has %zu", n, cap);
    }
    cv_status ra = cv_volume_read(a, mip_a, box, bufa, n);
    char missing_a[4200] = "";
    if (ra == CV_ERR_NOTFOUND) {
        missing_chunk_text(cv_err_last()->what, missing_a, sizeof missing_a);
    } else {
        CV_TRY(ra);
    }
    cv_status rb = cv_volume_read(b, mip_b, box, bufb, n);
    if (rb == CV_ERR_NOTFOUND || ra == CV_ERR_NOTFOUND) {
        char missing_b[4200] = "";
        if (rb == CV_ERR_NOTFOUND) {
            missing_chunk_text(cv_err_last()->what, missing_b, sizeof missing_b);
        } else {
            CV_TRY(rb);
        }
        cv_err_clear();
        return CV_FAIL(CV_ERR_CORRUPT, "%s%s%s%s%s", ra ? "missing in A: " : "", missing_a,
                       ra && rb ? "; " : "", rb ? "missing in B: " : "", missing_b);
    }
    CV_TRY(rb);
    if (memcmp(bufa, bufb, n) == 0) {
        return CV_OK;
    }
    const cv_info *info = cv_volume_info(a);
    size_t elem = cv_dtype_size(info->dtype);
    uint64_t sx = (uint64_t)(box.max[0] - box.min[0]), sy = (uint64_t)(box.max[1] - box.min[1]),
             sz = (uint64_t)(box.max[2] - box.min[2]);
    uint64_t differing = 0, first = UINT64_MAX;
    for (uint64_t i = 0; i < n / elem; i++) {
        if (memcmp(bufa + i * elem, bufb + i * elem, elem) != 0) {
            differing++;
            if (first == UINT64_MAX) {
                first = i;
            }
        }
    }
    char va[64], vb[64];
    format_value(info->dtype, bufa + first * elem, va, sizeof va);
    format_value(info->dtype, bufb + first * elem, vb, sizeof vb);
    return CV_FAIL(CV_ERR_CORRUPT,
                   "%" PRIu64 " voxels differ; first at (%" PRId64 ",%" PRId64 ",%" PRId64
                   ") channel %" PRIu64 ": A=%s B=%s",
                   differing, box.min[0] + (int64_t)(first % sx),
                   box.min[1] + (int64_t)(first / sx % sy),
                   box.min[2] + (int64_t)(first / (sx * sy) % sz), first / (sx * sy * sz), va, vb);
}

static void describe(uint64_t id, char *buf, size_t cap, void *arg)
{
    cv_bbox_format(cv_plan_task_box(arg, id), buf, cap);
}

static cv_status open_pair(const cv_verify_params *p, cv_volume **a, cv_volume **b, int *mip_a,
                           int *mip_b)
{
    cv_opts o = cv_opts_default();
    o.fill_missing = p->fill_missing;
    o.threads = p->threads > 0 ? p->threads : 4;
    cv_mpi_source_cache(&o);
    CV_TRY(cv_volume_open(p->a, &o, a));
    cv_status rc = cv_volume_open(p->b, &o, b);
    *mip_a = 0;
    if (rc == CV_OK && p->mip_text) {
        rc = cv_info_select_mip(cv_volume_info(*a), p->mip_text, mip_a);
    }
    if (rc == CV_OK) {
        rc = cv_info_find_mip(cv_volume_info(*b), cv_volume_info(*a)->scales[*mip_a].resolution,
                              mip_b);
    }
    if (rc == CV_OK) {
        const cv_info *ia = cv_volume_info(*a), *ib = cv_volume_info(*b);
        if (ia->dtype != ib->dtype || ia->num_channels != ib->num_channels ||
            !cv_bbox_equal(cv_info_bounds(ia, *mip_a), cv_info_bounds(ib, *mip_b))) {
            rc = CV_FAIL(CV_ERR_ARG, "verify: %s and %s differ in data type, channels or bounds",
                         p->a, p->b);
        }
    }
    return rc;
}

/* A plan that does not fit, said with both layers' chunk shapes when they differ: a task
 * must hold whole chunks of both, so it can be no smaller than their common multiple. */
static cv_status refuse(const cv_plan_params *pp, const cv_verify_params *p)
{
    int64_t unit[3], held[3];
    cv_plan_unit(pp, unit);
    cv_plan_held(pp, unit, held);
    double need = cv_plan_shape_bytes(pp, unit) / 1e6, budget = (double)pp->memory / 1e6;
    const int64_t *ca = pp->align[0], *cb = pp->align[1];
    cv_err_clear();
    if (memcmp(ca, cb, sizeof pp->align[0]) == 0) {
        return CV_FAIL(CV_ERR_ARG,
                       "verify: one task of %" PRId64 "x%" PRId64 "x%" PRId64
                       " voxels needs about %.2f MB, more than the %.2f MB memory budget "
                       "(raise --memory)",
                       held[0], held[1], held[2], need, budget);
    }
    return CV_FAIL(CV_ERR_ARG,
                   "verify: %s's %" PRId64 "x%" PRId64 "x%" PRId64 " chunks and %s's %" PRId64
                   "x%" PRId64 "x%" PRId64 " chunks align every %" PRId64 "x%" PRId64 "x%" PRId64
                   " voxels; one such task (%" PRId64 "x%" PRId64 "x%" PRId64
                   " inside the region) needs about %.2f MB, more than the %.2f MB memory budget "
                   "(raise --memory)",
                   p->a, ca[0], ca[1], ca[2], p->b, cb[0], cb[1], cb[2], unit[0], unit[1], unit[2],
                   held[0], held[1], held[2], need, budget);
}

/* The task buffers: a task's box clipped to the region. */
static size_t task_cap(const cv_plan *plan, const cv_plan_params *pp)
{
    int64_t held[3];
    cv_plan_held(pp, plan->task_shape, held);
    return (size_t)held[0] * (size_t)held[1] * (size_t)held[2] * pp->bytes_per_voxel;
}

static void print_plan(const cv_plan *plan, const cv_plan_params *pp, int mip)
{
    char region[160];
    cv_bbox_format(plan->region, region, sizeof region);
    printf("plan: %" PRIu64 " tasks of %" PRId64 "x%" PRId64 "x%" PRId64 " voxels (%" PRId64
           "x%" PRId64 "x%" PRId64 " tasks) over %s at mip %d\n",
           plan->n_tasks, plan->task_shape[0], plan->task_shape[1], plan->task_shape[2],
           plan->counts[0], plan->counts[1], plan->counts[2], region, mip);
    printf("plan: %.1f MB of voxels in each layer, %.1f MB per task and layer, expected peak "
           "%.1f MB per rank (budget %.1f MB), %d rank%s\n",
           (double)cv_bbox_voxels(plan->region) * (double)pp->bytes_per_voxel / 1e6,
           (double)task_cap(plan, pp) / 1e6, (double)cv_plan_task_bytes(plan, pp) / 1e6,
           (double)pp->memory / 1e6, cv_mpi_plan_ranks(), cv_mpi_plan_ranks() == 1 ? "" : "s");
}

cv_status cv_mpi_verify(const cv_verify_params *p)
{
    cv_volume *a = NULL, *b = NULL;
    int mip_a = 0, mip_b = 0;
    cv_status rc = cv_mpi_agree(open_pair(p, &a, &b, &mip_a, &mip_b));
    cv_plan plan;
    cv_plan_params pp;
    memset(&pp, 0, sizeof pp);
    if (rc == CV_OK) {
        const cv_info *ia = cv_volume_info(a);
        cv_grid ga = cv_info_grid(ia, mip_a), gb = cv_info_grid(cv_volume_info(b), mip_b);
        pp.region = ga.bounds;
        if (p->bbox_text) {
            rc = cv_bbox_parse(p->bbox_text, &pp.region);
            pp.region = cv_bbox_intersect(pp.region, ga.bounds);
        }
        memcpy(pp.origin, ga.bounds.min, sizeof pp.origin);
        memcpy(pp.align[0], ga.chunk, sizeof pp.align[0]);
        memcpy(pp.align[1], gb.chunk, sizeof pp.align[1]);
        pp.bytes_per_voxel = cv_dtype_size(ia->dtype) * (size_t)ia->num_channels;
        pp.memory = p->memory ? p->memory : cv_mpi_default_memory(NULL);
        /* The task's box from A and from B, plus each busy chunk thread's fetched, unpacked
         * and decoded chunk while A, then B, is read (tests/hostile/
         * memory_plan_verify_import.sh measures the peak against this). */
        pp.overhead = 2.0;
        pp.threads = p->threads > 0 ? p->threads : 4;
        pp.threads = pp.threads > CV_MAX_THREADS ? CV_MAX_THREADS : pp.threads;
        pp.scratch[0] = pp.scratch[1] = 3.0;
        pp.clip = true;
        pp.min_tasks = 64;
        if (rc == CV_OK) {
            rc = cv_plan_make(&pp, &plan);
            if (rc == CV_ERR_ARG) {
                rc = refuse(&pp, p);
            }
        }
        if (rc == CV_OK && p->dry_run && cv_mpi_rank() == 0) {
            print_plan(&plan, &pp, mip_a);
        }
    }
    if (rc == CV_OK && p->dry_run) {
        cv_volume_close(a);
        cv_volume_close(b);
        return cv_mpi_agree(rc);
    }
    rc = cv_mpi_agree(rc);
    cv_sched *sched = NULL;
    if (rc == CV_OK) {
        rc = cv_mpi_agree(cv_sched_open(plan.n_tasks, false, &sched));
    }
    if (rc != CV_OK) {
        cv_volume_close(a);
        cv_volume_close(b);
        return rc;
    }
    size_t cap = task_cap(&plan, &pp);
    uint8_t *bufa = cv_malloc(cap), *bufb = cv_malloc(cap);
    cv_failures diffs, errors;
    cv_failures_init(&diffs);
    cv_failures_init(&errors);
    cv_progress prog;
    cv_progress_init(&prog, "verify", plan.n_tasks, cap, cv_mpi_rank() == 0);
    cv_monitor *mon =
        cv_mpi_rank() == 0 ? cv_monitor_start(&prog, sched, 300, describe, &plan) : NULL;
    uint64_t id;
    while (bufa && bufb && cv_sched_next(sched, &id)) {
        cv_bbox box = cv_plan_task_box(&plan, id);
        cv_err_clear();
        cv_sched_working_on(sched, id);
        cv_status t = compare_box(a, mip_a, b, mip_b, box, bufa, bufb, cap);
        cv_sched_working_on(sched, UINT64_MAX);
        if (t != CV_OK) {
            cv_failures_note(t == CV_ERR_CORRUPT && (strstr(cv_err_last()->what, "voxels differ") ||
                                                     strstr(cv_err_last()->what, "missing in "))
                                 ? &diffs
                                 : &errors,
                             id, box, cv_err_last()->what);
        }
        cv_sched_done(sched);
    }
    if (cv_mpi_active()) {
        cv_coll_barrier("the end of the comparison");
    }
    cv_monitor_stop(mon);
    if (!bufa || !bufb) {
        cv_failures_note(&errors, 0, plan.region, "out of memory for the task buffers");
    }
    cv_free(bufa);
    cv_free(bufb);
    uint64_t n_diff, n_err;
    char *dtext = cv_failures_gather(&diffs, &n_diff);
    char *etext = cv_failures_gather(&errors, &n_err);
    if (cv_mpi_rank() == 0) {
        cv_progress_finish(&prog);
        printf("verify: %" PRIu64 " tasks, %" PRIu64 " differ, %" PRIu64 " could not be read\n",
               plan.n_tasks, n_diff, n_err);
        if (n_diff) {
            printf("differences:\n%s", dtext);
        }
        if (n_err) {
            fprintf(stderr, "cvmpi: verify: errors:\n%s", etext);
        }
    }
    cv_free(dtext);
    cv_free(etext);
    cv_failures_fini(&diffs);
    cv_failures_fini(&errors);
    cv_sched_close(sched);
    cv_volume_close(a);
    cv_volume_close(b);
    cv_err_clear();
    if (n_err) {
        rc = CV_FAIL(CV_ERR_IO, "verify: %" PRIu64 " tasks could not be read", n_err);
    } else if (n_diff) {
        rc = CV_FAIL(CV_ERR_CORRUPT, "verify: %s and %s differ in %" PRIu64 " of %" PRIu64 " tasks",
                     p->a, p->b, n_diff, plan.n_tasks);
    }
    return rc;
}
