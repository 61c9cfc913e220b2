/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_export_zarr.c: `cvmpi export SRC zarr://OUT`, one mip (or a box) of a layer as a zarr v2
 * array: numpy's (z, y, x), or (z, y, x, c) with channels, C order, chunks the layer's chunk
 * size at that mip (all channels in one chunk), fill_value 0, chunk keys "iz.iy.ix", so that
 * `cvmpi import zarr://OUT` (axes zyx, zyxc) restores the layer. Tasks are boxes of whole zarr
 * chunks on the array's own lattice (from the box's corner): no two ranks write one chunk.
 * Ranks claim tasks from the dynamic schedule, read each task's box from the layer, and encode
 * its chunks on the chunk threads (gzip, blosc or none); finished tasks are journaled, so
 * --resume skips them. The .zarray is written last, by rank 0, once every chunk is: a failed
 * export is not an array. Collective over MPI_COMM_WORLD; every rank returns the same status. */
#include "mpi/cv_collective.h"
#include "mpi/cv_failures.h"
#include "mpi/cv_h5.h"
#include "mpi/cv_journal.h"
#include "mpi/cv_plan.h"
#include "mpi/cv_progress.h"
#include "mpi/cv_sched.h"
#include "mpi/cv_slab.h"
#include "mpi/cv_transfer.h"

#include "base/checked.h"
#include "base/json_py.h"
#include "io/store.h"
#include "volume/volume.h"

#include <inttypes.h>
#include <libdeflate.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef CV_HAVE_BLOSC
#include <blosc.h>
#endif

/* The largest decoded chunk `cvmpi import zarr://` reads (cv_zarr.h's CV_ZARR_CHUNK_MAX). */
#define CHUNK_MAX ((uint64_t)1 << 31)

bool cv__zarr_is_output(const char *dst)
{
    return strncmp(dst, "zarr://", 7) == 0;
}

typedef enum { ZC_GZIP, ZC_BLOSC, ZC_RAW } zarr_codec;

typedef struct zjob {
    const cv_export_params *p;
    cv_volume *src;
    cv_store *out;
    int mip;
    cv_bbox box;
    int64_t channels;
    size_t es;
    int64_t chunk[3];   /* x, y, z */
    uint64_t grid[3];   /* zarr chunks along x, y, z */
    size_t chunk_bytes; /* one decoded chunk, all channels */
    size_t stored_cap;  /* its encoded bytes, at most */
    zarr_codec codec;
    int level;
    int threads;
    cv_plan plan;
    cv_plan_params pp;
    /* per task */
    uint8_t *task;
    cv_bbox task_box;
    uint8_t *scratch; /* per thread: one chunk, then its encoded bytes */
    uint64_t chunks_written, stored_bytes;
} zjob;

/* The destination's store URL: zarr://PATH (relative or absolute), zarr://file://PATH, or a
 * remote zarr://s3://..., zarr://gs://... (http(s) is read-only). */
static const char *store_url(const char *dst)
{
    return dst + 7;
}

static const char *dtype_code(cv_dtype t)
{
    static const char *const codes[] = {"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8"};
    static const cv_dtype types[] = {CV_UINT8, CV_INT8,   CV_UINT16, CV_INT16,   CV_UINT32,
                                     CV_INT32, CV_UINT64, CV_INT64,  CV_FLOAT32, CV_FLOAT64};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (types[i] == t) {
            return codes[i];
        }
    }
    return NULL;
}

static bool host_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* A JSON array of the x,y,z values `v` in numpy's order (z, y, x), then `c` when > 0. */
static cJSON *zyx_array(const int64_t v[3], int64_t c)
{
    cJSON *a = cJSON_CreateArray();
    for (int d = 2; a && d >= 0; d--) {
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[d]));
    }
    if (a && c > 0) {
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)c));
    }
    return a;
}

/* The .zarray (keys sorted, as Python's json.dumps writes them). */
static cv_status zarray_text(const zjob *j, char **out, size_t *len)
{
    char dtype[8];
    snprintf(dtype, sizeof dtype, "%c%s",
             j->es == 1             ? '|'
             : host_little_endian() ? '<'
                                    : '>',
             dtype_code(cv_volume_info(j->src)->dtype));
    int64_t n[3];
    for (int d = 0; d < 3; d++) {
        n[d] = j->box.max[d] - j->box.min[d];
    }
    int64_t c = j->channels > 1 ? j->channels : 0;
    cJSON *root = cJSON_CreateObject();
    cJSON *comp = j->codec == ZC_RAW ? cJSON_CreateNull() : cJSON_CreateObject();
    if (comp && j->codec == ZC_GZIP) {
        cJSON_AddStringToObject(comp, "id", "gzip");
        cJSON_AddNumberToObject(comp, "level", j->level);
    } else if (comp && j->codec == ZC_BLOSC) {
        cJSON_AddStringToObject(comp, "id", "blosc");
        cJSON_AddStringToObject(comp, "cname", "lz4");
        cJSON_AddNumberToObject(comp, "clevel", 5);
        cJSON_AddNumberToObject(comp, "shuffle", 1);
        cJSON_AddNumberToObject(comp, "blocksize", 0);
    }
    cJSON_AddItemToObject(root, "chunks", zyx_array(j->chunk, c));
    cJSON_AddItemToObject(root, "compressor", comp);
    cJSON_AddStringToObject(root, "dimension_separator", ".");
    cJSON_AddStringToObject(root, "dtype", dtype);
    cJSON_AddNumberToObject(root, "fill_value", 0);
    cJSON_AddNullToObject(root, "filters");
    cJSON_AddStringToObject(root, "order", "C");
    cJSON_AddItemToObject(root, "shape", zyx_array(n, c));
    cJSON_AddNumberToObject(root, "zarr_format", 2);
    cv_status rc = root ? cv__json_dump_py(root, out, len) : CV_FAIL(CV_ERR_NOMEM, "export");
    cJSON_Delete(root);
    return rc;
}

/* .zattrs: the axis names (xarray's convention) and where the array came from: resolution
 * (nm) and voxel_offset of its first voxel, both x,y,z as in the layer's info. */
static cv_status zattrs_text(const zjob *j, char **out, size_t *len)
{
    const double *r = cv_volume_info(j->src)->scales[j->mip].resolution;
    cJSON *root = cJSON_CreateObject();
    cJSON *dims = cJSON_CreateArray();
    const char *names[] = {"z", "y", "x", "c"};
    for (int i = 0; dims && i < (j->channels > 1 ? 4 : 3); i++) {
        cJSON_AddItemToArray(dims, cJSON_CreateString(names[i]));
    }
    cJSON_AddItemToObject(root, "_ARRAY_DIMENSIONS", dims);
    cJSON_AddItemToObject(root, "resolution", cJSON_CreateDoubleArray(r, 3));
    cJSON_AddStringToObject(root, "source", cv_volume_url(j->src));
    cJSON *off = cJSON_CreateArray();
    for (int d = 0; off && d < 3; d++) {
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)j->box.min[d]));
    }
    cJSON_AddItemToObject(root, "voxel_offset", off);
    cv_status rc = root ? cv__json_dump_py(root, out, len) : CV_FAIL(CV_ERR_NOMEM, "export");
    cJSON_Delete(root);
    return rc;
}

/* Chunk bytes `src` encoded into `dst` (j->stored_cap bytes): *len. */
static cv_status encode_chunk(const zjob *j, const uint8_t *src, uint8_t *dst, size_t *len,
                              const char *key)
{
    if (j->codec == ZC_RAW) {
        memcpy(dst, src, j->chunk_bytes);
        *len = j->chunk_bytes;
        return CV_OK;
    }
    if (j->codec == ZC_GZIP) {
        struct libdeflate_compressor *c = libdeflate_alloc_compressor(j->level);
        if (!c) {
            return CV_FAIL(CV_ERR_NOMEM, "export: a gzip compressor for chunk %s", key);
        }
        *len = libdeflate_gzip_compress(c, src, j->chunk_bytes, dst, j->stored_cap);
        libdeflate_free_compressor(c);
        return *len ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "export: chunk %s does not compress", key);
    }
#ifdef CV_HAVE_BLOSC
    int n = blosc_compress_ctx(5, BLOSC_SHUFFLE, j->es, j->chunk_bytes, src, dst, j->stored_cap,
                               "lz4", 0, 1);
    if (n <= 0) {
        return CV_FAIL(CV_ERR_IO, "export: blosc failed on chunk %s (%d)", key, n);
    }
    *len = (size_t)n;
    return CV_OK;
#else
    return CV_FAIL(CV_ERR_ARG, "export: blosc is not in this build");
#endif
}

/* Chunk `i` of the current task (x fastest among the task's chunks): cut from the task's box
 * (x fastest, channel slowest) into C order (z, y, x, c), the parts past the array 0,
 * encoded and stored under "iz.iy.ix" (".0" for the channel axis). */
static cv_status write_chunk(size_t i, int tid, void *arg)
{
    zjob *j = arg;
    cv_bbox t = j->task_box;
    int64_t per[3], idx[3], n[4], tn[4] = {0, 0, 0, j->channels};
    for (int d = 0; d < 3; d++) {
        per[d] = (t.max[d] - t.min[d] + j->chunk[d] - 1) / j->chunk[d];
        tn[d] = t.max[d] - t.min[d];
    }
    idx[0] = (int64_t)i % per[0];
    idx[1] = (int64_t)i / per[0] % per[1];
    idx[2] = (int64_t)i / per[0] / per[1];
    int64_t lo[3];
    for (int d = 0; d < 3; d++) {
        lo[d] = t.min[d] + idx[d] * j->chunk[d];
        int64_t hi = lo[d] + j->chunk[d] < t.max[d] ? lo[d] + j->chunk[d] : t.max[d];
        n[d] = hi - lo[d];
    }
    n[3] = j->channels;
    uint8_t *chunk = j->scratch + (size_t)tid * (j->chunk_bytes + j->stored_cap);
    uint8_t *stored = chunk + j->chunk_bytes;
    bool partial = n[0] < j->chunk[0] || n[1] < j->chunk[1] || n[2] < j->chunk[2];
    if (partial) {
        memset(chunk, 0, j->chunk_bytes);
    }
    int64_t ss[4], ds[4];
    cv__slab_xfast_strides(tn, ss);
    ds[3] = 1;
    ds[0] = j->channels;
    ds[1] = ds[0] * j->chunk[0];
    ds[2] = ds[1] * j->chunk[1];
    size_t off = (size_t)((lo[0] - t.min[0]) * ss[0] + (lo[1] - t.min[1]) * ss[1] +
                          (lo[2] - t.min[2]) * ss[2]) *
                 j->es;
    cv__slab_permute(j->task + off, ss, chunk, ds, n, j->es);
    char key[96];
    uint64_t k[3];
    for (int d = 0; d < 3; d++) {
        k[d] = (uint64_t)((lo[d] - j->box.min[d]) / j->chunk[d]);
    }
    snprintf(key, sizeof key, "%" PRIu64 ".%" PRIu64 ".%" PRIu64 "%s", k[2], k[1], k[0],
             j->channels > 1 ? ".0" : "");
    size_t len = 0;
    CV_TRY(encode_chunk(j, chunk, stored, &len, key));
    cv_status rc = cv_store_put(j->out, key, stored, len, NULL, -1, "application/octet-stream");
    if (rc != CV_OK) {
        cv__err_wrap("export: chunk %s", key);
        return rc;
    }
    __atomic_add_fetch(&j->chunks_written, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&j->stored_bytes, (uint64_t)len, __ATOMIC_RELAXED);
    return CV_OK;
}

/* One task: its box read from the layer, then its chunks written on the chunk threads. */
static cv_status export_task(zjob *j, uint64_t id, size_t cap, uint64_t *bytes)
{
    j->task_box = cv_plan_task_box(&j->plan, id);
    size_t n = cv_volume_box_bytes(j->src, j->task_box);
    if (!j->task || !j->scratch) {
        return CV_FAIL(CV_ERR_NOMEM, "export: task buffers of %zu bytes", cap);
    }
    CV_TRY(cv_volume_read(j->src, j->mip, j->task_box, j->task, n));
    size_t chunks = 1;
    for (int d = 0; d < 3; d++) {
        int64_t e = j->task_box.max[d] - j->task_box.min[d];
        chunks *= (size_t)((e + j->chunk[d] - 1) / j->chunk[d]);
    }
    CV_TRY(cv__parallel_for(chunks, j->threads, write_chunk, j));
    *bytes += n;
    return CV_OK;
}

/* The mip, box, chunk shape, codec and plan; the destination checked (no .zarray yet). */
static cv_status zarr_setup(zjob *j)
{
    const cv_export_params *p = j->p;
    const cv_info *si = cv_volume_info(j->src);
    CV_TRY(cv__volume_select_box(j->src, p->mip_text, p->bbox_text, &j->mip, &j->box));
    j->channels = si->num_channels;
    j->es = cv_dtype_size(si->dtype);
    if (!dtype_code(si->dtype)) {
        return CV_FAIL(CV_ERR_ARG, "export: zarr has no dtype for %s", cv_dtype_name(si->dtype));
    }
    cv_grid grid = cv_info_grid(si, j->mip);
    uint64_t bytes = j->es;
    for (int d = 0; d < 3; d++) {
        j->chunk[d] = grid.chunk[d];
        int64_t e = j->box.max[d] - j->box.min[d];
        j->grid[d] = (uint64_t)((e + j->chunk[d] - 1) / j->chunk[d]);
        if (!cv__mul_u64(bytes, (uint64_t)j->chunk[d], &bytes)) {
            bytes = UINT64_MAX;
        }
    }
    if (!cv__mul_u64(bytes, (uint64_t)j->channels, &bytes) || bytes > CHUNK_MAX) {
        return CV_FAIL(CV_ERR_ARG,
                       "export: a chunk of %" PRId64 "x%" PRId64 "x%" PRId64 " voxels and %" PRId64
                       " channels is over the 2 GiB a zarr chunk may hold here",
                       j->chunk[0], j->chunk[1], j->chunk[2], j->channels);
    }
    j->chunk_bytes = (size_t)bytes;
    const char *comp = p->compressor ? p->compressor : "gzip";
    j->codec = strcmp(comp, "gzip") == 0 ? ZC_GZIP : strcmp(comp, "blosc") == 0 ? ZC_BLOSC : ZC_RAW;
#ifndef CV_HAVE_BLOSC
    if (j->codec == ZC_BLOSC) {
        return CV_FAIL(CV_ERR_ARG,
                       "export: --compressor blosc needs libblosc, which this build of cvmpi "
                       "lacks (rebuild with libblosc-dev)");
    }
#endif
    j->level = p->gzip > 0 ? p->gzip : 5;
    /* gzip's and blosc's worst cases are a little over the input */
    j->stored_cap = j->chunk_bytes + j->chunk_bytes / 8 + 65536;
    j->threads = p->threads > 0 ? p->threads : 4;
    j->threads = j->threads > CV_MAX_THREADS ? CV_MAX_THREADS : j->threads;
    cv_plan_params *pp = &j->pp;
    memset(pp, 0, sizeof *pp);
    pp->region = j->box;
    memcpy(pp->origin, j->box.min, sizeof pp->origin);
    memcpy(pp->align[0], j->chunk, sizeof pp->align[0]);
    memcpy(pp->align[1], j->chunk, sizeof pp->align[1]);
    pp->bytes_per_voxel = j->es * (size_t)j->channels;
    const char *source = "--memory";
    pp->memory = p->memory ? p->memory : cv_mpi_default_memory(&source);
    /* the task's box; the volume read's fetched, unpacked and decoded chunks per thread, then
     * each chunk thread's chunk and its encoded bytes */
    pp->overhead = 1.0;
    pp->threads = j->threads;
    pp->scratch[0] = 3.0;
    pp->scratch[1] = 2.2;
    pp->clip = true;
    pp->min_tasks = 64;
    cv_status rc = cv_plan_make(pp, &j->plan);
    if (rc == CV_ERR_ARG) {
        cv_err_clear();
        int64_t unit[3];
        cv_plan_unit(pp, unit);
        return CV_FAIL(CV_ERR_ARG,
                       "export: a task of one %" PRId64 "x%" PRId64 "x%" PRId64
                       " chunk needs about %.2f MB (the chunk read, its copy and encoding on "
                       "each chunk thread), more than the %.2f MB memory budget (raise --memory)",
                       unit[0], unit[1], unit[2], cv_plan_shape_bytes(pp, unit) / 1e6,
                       (double)pp->memory / 1e6);
    }
    CV_TRY(rc);
    CV_TRY(cv_store_open(store_url(p->dst), &j->out));
    bool exists = false;
    if (cv_mpi_rank() == 0) {
        CV_TRY(cv_store_exists(j->out, ".zarray", &exists));
    }
    if (exists) {
        return CV_FAIL(CV_ERR_ARG,
                       "export: %s already holds a zarr array (.zarray); remove it or "
                       "export elsewhere",
                       p->dst);
    }
    return CV_OK;
}

/* Rank 0, once every chunk is written: .zattrs, then .zarray. */
static cv_status write_metadata(zjob *j)
{
    char *text = NULL;
    size_t len = 0;
    cv_status rc = zattrs_text(j, &text, &len);
    if (rc == CV_OK) {
        rc = cv_store_put(j->out, ".zattrs", text, len, NULL, -1, "application/json");
    }
    cv_free(text);
    text = NULL;
    if (rc == CV_OK) {
        rc = zarray_text(j, &text, &len);
    }
    if (rc == CV_OK) {
        rc = cv_store_put(j->out, ".zarray", text, len, NULL, -1, "application/json");
    }
    cv_free(text);
    if (rc != CV_OK) {
        cv__err_wrap("export %s", j->p->dst);
    }
    return rc;
}

static cv_status zarr_journal(zjob *j, cv_journal **journal, char *dir, size_t cap)
{
    char signature[1024], region[160];
    cv_bbox_format(j->box, region, sizeof region);
    snprintf(signature, sizeof signature,
             "export-zarr src=%s mip=%d box=%s dst=%s compressor=%d level=%d task=%" PRId64
             ",%" PRId64 ",%" PRId64,
             cv_volume_url(j->src), j->mip, region, cv_store_url(j->out), (int)j->codec, j->level,
             j->plan.task_shape[0], j->plan.task_shape[1], j->plan.task_shape[2]);
    CV_TRY(
        cv_mpi_agree(cv_journal_dir(j->p->journal_dir, cv_store_url(j->out), signature, dir, cap)));
    return cv_journal_begin(dir, signature, j->p->resume, j->plan.n_tasks, journal);
}

cv_status cv_mpi_export_zarr(const cv_export_params *p)
{
    zjob j;
    memset(&j, 0, sizeof j);
    j.p = p;
    cv_opts o = cv_opts_default();
    o.threads = p->threads > 0 ? p->threads : 4;
    o.fill_missing = p->fill_missing;
    cv_status rc = cv_volume_open(p->src, &o, &j.src);
    if (rc == CV_OK) {
        rc = zarr_setup(&j);
    }
    rc = cv_mpi_agree(rc);
    cv_journal *journal = NULL;
    char dir[4096];
    if (rc == CV_OK) {
        rc = zarr_journal(&j, &journal, dir, sizeof dir);
    }
    if (rc == CV_OK && p->resume && cv_mpi_rank() == 0) {
        size_t removed = 0; /* no rank writes yet: every temporary is a stopped run's */
        rc = cv__store_remove_stale_temps(j.out, "", 0, NULL, NULL, &removed);
    }
    rc = cv_mpi_agree(rc);
    cv_sched *sched = NULL;
    if (rc == CV_OK) {
        rc = cv_mpi_agree(cv_sched_open(j.plan.n_tasks, false, &sched));
    }
    uint64_t done = 0, skipped = 0, bytes = 0;
    cv_failures fail;
    cv_failures_init(&fail);
    double seconds = 0;
    if (rc == CV_OK) {
        int64_t held[3];
        cv_plan_held(&j.pp, j.plan.task_shape, held);
        size_t cap = (size_t)held[0] * (size_t)held[1] * (size_t)held[2] * j.pp.bytes_per_voxel;
        j.task = cv_malloc(cap ? cap : 1);
        j.scratch = cv_malloc((size_t)j.threads * (j.chunk_bytes + j.stored_cap));
        cv_progress prog;
        cv_progress_init(&prog, "export", j.plan.n_tasks, cap,
                         cv_mpi_rank() == 0 && cv__log_level() >= CV_LOG_WARN);
        double t0 = cv_now();
        uint64_t id;
        while (!cv_mpi_terminated() && cv_sched_next(sched, &id)) {
            if (cv_journal_is_done(journal, id)) {
                skipped++;
                cv_sched_done(sched);
                continue;
            }
            cv_err_clear();
            cv_sched_working_on(sched, id);
            cv_status trc = export_task(&j, id, cap, &bytes);
            cv_sched_working_on(sched, UINT64_MAX);
            if (trc == CV_OK) {
                trc = cv_journal_record(journal, id);
            }
            if (trc == CV_OK) {
                done++;
            } else {
                cv_failures_note(&fail, id, cv_plan_task_box(&j.plan, id), cv_err_last()->what);
                CV_LOG(CV_LOG_ERROR, "task %" PRIu64 " failed: %s", id, cv_err_last()->what);
            }
            cv_sched_done(sched);
            const char *delay = getenv("CVMPI_TEST_TASK_DELAY_MS"); /* tests interrupt jobs */
            if (delay && *delay) {
                usleep((useconds_t)atoi(delay) * 1000);
            }
        }
        if (cv_mpi_terminated()) {
            cv_sched_abort(sched);
        }
        seconds = cv_now() - t0;
        cv_free(j.task);
        cv_free(j.scratch);
        uint64_t total[5] = {done, skipped, bytes, j.chunks_written, j.stored_bytes};
        int stop = cv_mpi_terminated();
        if (cv_mpi_active()) {
            cv_coll_allreduce(MPI_IN_PLACE, total, 5, MPI_UINT64_T, MPI_SUM, "the job's totals");
            cv_coll_allreduce(MPI_IN_PLACE, &seconds, 1, MPI_DOUBLE, MPI_MAX,
                              "the job's wall time");
            cv_coll_allreduce(MPI_IN_PLACE, &stop, 1, MPI_INT, MPI_MAX,
                              "the check for an interruption");
        }
        uint64_t n_failed;
        char *text = cv_failures_gather(&fail, &n_failed);
        cv_err_clear();
        rc = CV_OK;
        if (stop) {
            rc = CV_FAIL(CV_ERR_IO,
                         "export interrupted: %" PRIu64 " of %" PRIu64
                         " tasks done; run the same command with --resume to finish",
                         total[0] + total[1], j.plan.n_tasks);
        } else if (n_failed) {
            rc = CV_FAIL(CV_ERR_IO,
                         "export: %" PRIu64 " of %" PRIu64
                         " tasks failed (listed above); fix the cause and rerun with --resume",
                         n_failed, j.plan.n_tasks);
        } else if (cv_mpi_rank() == 0) {
            rc = write_metadata(&j);
        }
        if (cv_mpi_rank() == 0) {
            cv_progress_final(&prog, total[0] + total[1] + n_failed, total[2], seconds);
            cv_progress_finish(&prog);
            printf("export: %" PRIu64 " tasks written, %" PRIu64 " skipped, %" PRIu64
                   " failed of %" PRIu64 " (%" PRIu64 " zarr chunks, %.1f MB stored) to %s; "
                   "%.1f MB in %.2f s (%.1f MB/s) on %d rank%s\n",
                   total[0], total[1], n_failed, j.plan.n_tasks, total[3], (double)total[4] / 1e6,
                   p->dst, (double)total[2] / 1e6, seconds,
                   seconds > 0 ? (double)total[2] / 1e6 / seconds : 0, cv_mpi_size(),
                   cv_mpi_size() == 1 ? "" : "s");
            if (n_failed) {
                fprintf(stderr, "cvmpi: export: %" PRIu64 " task%s failed:\n%s", n_failed,
                        n_failed == 1 ? "" : "s", text ? text : "");
            }
        }
        cv_free(text);
        rc = cv_mpi_agree(rc);
    }
    cv_failures_fini(&fail);
    cv_sched_close(sched);
    cv_journal_end(journal, journal ? dir : NULL, rc, p->keep_journal);
    if (j.out) {
        cv_store_close(j.out);
    }
    cv_volume_close(j.src);
    return rc;
}
