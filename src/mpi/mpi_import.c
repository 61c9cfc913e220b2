/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_import.c: `cvmpi import`, a source into a new layer across ranks. Every rank opens the
 * source (cv_import_source.h: the format's shape, dtype, channels and resolution; a stack's
 * files must agree but in z) and derives the same info from it, rank 0 creates the layer, and
 * tasks (whole chunks, or whole shards) are done in rounds: the ranks read the round's box as
 * slabs with collective reads and trade the pieces (mpi_slab.c) so each task is assembled on
 * its owner, which writes it. --independent reads each task's box on its own instead. */
#include "mpi/cv_collective.h"
#include "mpi/cv_compress.h"
#include "mpi/cv_import_source.h"

#include "base/checked.h"
#include "base/intmath.h"
#include "shard/shard.h"

#include "mpi/cv_failures.h"
#include "mpi/cv_journal.h"
#include "mpi/cv_monitor.h"
#include "mpi/cv_plan.h"
#include "mpi/cv_progress.h"
#include "mpi/cv_sched.h"
#include "mpi/cv_slab.h"
#include "mpi/cv_stale_temps.h"
#include "mpi/cv_transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { AX_X = CV_AX_X, AX_Y = CV_AX_Y, AX_Z = CV_AX_Z, AX_C = CV_AX_C };

static void sum_u64(uint64_t *v, int n)
{
    if (cv_mpi_active()) {
        cv_coll_allreduce(MPI_IN_PLACE, v, n, MPI_UINT64_T, MPI_SUM, "the job's totals");
    }
}

typedef struct import_job {
    const cv_import_params *p;
    cv_import_source *src;
    int rank, ax[4]; /* the source's dimensions and axes, slowest first (src->ndims, src->ax) */
    uint64_t dims[4];
    cv_dtype dtype;
    int64_t channels;
    cv_slab_layout layout;
    cv_info *info; /* derived from the source */
    cv_volume *dst;
    const cv_info *dst_info; /* DST's, or `info` for a dry run into a DST that does not exist */
    cv_plan plan;
    cv_plan_params plan_params;
    cv_journal *journal;
    char journal_dir[4096];
    cv_sched *sched;
    cv_progress progress;
    cv_failures fail;
    uint64_t tasks_done, tasks_skipped, bytes;
    /* A source stored as one array of its dtype, x fastest (src->ops->direct): its bytes are
     * read with pread(2) from `direct_fd` (direct_source), the box of a rank's tasks of a round
     * at a time into `direct_buf`, and chunks are cut straight from it with no format read, no
     * slab and no exchange; direct_fd is -1 otherwise. */
    int direct_fd;
    const char *direct_path;
    uint64_t direct_addr; /* the source's first byte in the file */
    uint8_t *direct_buf;
    size_t direct_cap;
    int ranks;            /* the ranks sharing each round (1 with --independent) */
    uint64_t round_tasks; /* tasks in a round, at most (spread over the ranks) */
    int cut_axis;         /* the volume axis rounds are cut along into slabs (round_box) */
} import_job;

/* --sharded: scale 0 sharded as CloudVolume shards images. */
static cv_status shard_info(cv_info *info, size_t shard_bytes)
{
    cv_scale *s = &info->scales[0];
    cv_shard_spec spec;
    size_t len;
    CV_TRY(cv_shard_params_for_image(s->size, s->chunk_sizes[0], s->encoding, info->dtype,
                                     shard_bytes, &spec));
    cv_free(s->sharding_json);
    s->sharding_json = NULL;
    CV_TRY(cv_shard_spec_to_json(&spec, &s->sharding_json, &len));
    return cv_info_validate(info);
}

/* Every rank derives the same info from the source (a stack's parts checked first). */
static cv_status describe_source(import_job *j)
{
    const cv_import_params *p = j->p;
    cv_import_source *s = j->src;
    CV_TRY(s->ops->describe(s, p));
    j->rank = s->ndims;
    memcpy(j->ax, s->ax, sizeof j->ax);
    memcpy(j->dims, s->dims, sizeof j->dims);
    j->dtype = s->dtype;
    cv_info_params ip;
    memset(&ip, 0, sizeof ip);
    j->channels = 1;
    for (int i = 0; i < j->rank; i++) {
        if (j->ax[i] == AX_C) {
            j->channels = (int64_t)j->dims[i];
        } else {
            ip.size[j->ax[i]] = (int64_t)j->dims[i];
        }
    }
    if (j->rank == 4 && j->channels < 1) {
        return CV_FAIL(CV_ERR_ARG, "import: dataset %s has no channels", j->src->name);
    }
    for (int d = 0; d < 3; d++) {
        if (ip.size[d] < 1) {
            return CV_FAIL(CV_ERR_ARG, "import: dataset %s is empty", j->src->name);
        }
    }
    j->layout.ndims = j->rank;
    memcpy(j->layout.ax, j->ax, sizeof j->layout.ax);
    j->layout.channels = j->channels;
    j->layout.elem_size = cv_dtype_size(j->dtype);
    ip.type = p->type                                            ? p->type
              : (j->dtype == CV_UINT32 || j->dtype == CV_UINT64) ? "segmentation"
                                                                 : "image";
    ip.dtype = j->dtype;
    ip.num_channels = j->channels;
    ip.encoding = p->encoding;
    CV_TRY(s->ops->resolution(s, p, ip.resolution, &ip.resolution_is_float));
    memcpy(ip.voxel_offset, p->offset, sizeof ip.voxel_offset);
    memcpy(ip.chunk_size, p->chunk_size, sizeof ip.chunk_size);
    cv_status rc = cv_info_create(&ip, &j->info);
    if (rc != CV_OK) {
        cv__err_wrap("import: dataset %s", s->name);
        return rc;
    }
    rc = cv_info_validate(j->info);
    if (rc == CV_OK && p->sharded) {
        rc = shard_info(j->info, p->shard_bytes);
    }
    if (rc != CV_OK) {
        cv__err_wrap("import %s", p->src);
    }
    return rc;
}

/* An option given for an existing layer must match its scale 0 (`have`; `want` is what the
 * options and the dataset make): the import writes into that scale and never changes it. */
static cv_status check_import_options(const cv_import_params *p, const cv_scale *have,
                                      const cv_scale *want, const char *url)
{
    if (p->encoding && strcmp(want->encoding, have->encoding) != 0) {
        return CV_FAIL(CV_ERR_ARG,
                       "import: --encoding %s conflicts with scale %s of %s, which has encoding %s",
                       p->encoding, have->key, url, have->encoding);
    }
    if (p->chunk_size[0] &&
        memcmp(want->chunk_sizes[0], have->chunk_sizes[0], sizeof want->chunk_sizes[0]) != 0) {
        return CV_FAIL(CV_ERR_ARG,
                       "import: --chunk %" PRId64 ",%" PRId64 ",%" PRId64
                       " conflicts with scale %s of %s, which has chunk size %" PRId64 ",%" PRId64
                       ",%" PRId64,
                       p->chunk_size[0], p->chunk_size[1], p->chunk_size[2], have->key, url,
                       have->chunk_sizes[0][0], have->chunk_sizes[0][1], have->chunk_sizes[0][2]);
    }
    if (p->has_resolution && memcmp(want->resolution, have->resolution, sizeof want->resolution)) {
        return CV_FAIL(CV_ERR_ARG,
                       "import: --resolution %g,%g,%g conflicts with scale %s of %s, which has "
                       "resolution %g,%g,%g",
                       p->resolution[0], p->resolution[1], p->resolution[2], have->key, url,
                       have->resolution[0], have->resolution[1], have->resolution[2]);
    }
    if (p->sharded && !have->sharding_json) {
        return CV_FAIL(CV_ERR_ARG,
                       "import: --sharded conflicts with scale %s of %s, which is unsharded",
                       have->key, url);
    }
    return CV_OK;
}

/* Rank 0 creates the layer (or checks an existing one); then every rank opens it. */
static cv_status open_import_dst(import_job *j, const cv_opts *o)
{
    cv_status rc = CV_OK;
    if (cv_mpi_rank() == 0 && !j->p->dry_run) {
        cv_volume *v = NULL;
        rc = cv_volume_open(j->p->dst, o, &v);
        if (rc == CV_ERR_NOTFOUND) {
            cv_err_clear();
            rc = cv_volume_create(j->p->dst, j->info, false, o, &v);
        }
        cv_volume_close(v);
    }
    CV_TRY(cv_mpi_agree(rc));
    rc = cv_volume_open(j->p->dst, o, &j->dst);
    if (rc == CV_ERR_NOTFOUND && j->p->dry_run) {
        /* A dry run plans the layer the import would create, and creates nothing. */
        cv_err_clear();
        j->dst_info = j->info;
        return cv_mpi_agree(CV_OK);
    }
    if (rc == CV_OK) {
        j->dst_info = cv_volume_info(j->dst);
        const cv_info *a = cv_volume_info(j->dst), *b = j->info;
        if (a->dtype != b->dtype || a->num_channels != b->num_channels ||
            memcmp(a->scales[0].size, b->scales[0].size, sizeof a->scales[0].size) != 0 ||
            memcmp(a->scales[0].voxel_offset, b->scales[0].voxel_offset,
                   sizeof a->scales[0].voxel_offset) != 0) {
            rc = CV_FAIL(CV_ERR_ARG,
                         "import: %s exists and differs from the dataset (dtype, channels, size "
                         "or offset); delete it or import elsewhere",
                         j->p->dst);
        }
        if (rc == CV_OK) {
            rc = check_import_options(j->p, &a->scales[0], &b->scales[0], cv_volume_url(j->dst));
            if (rc != CV_OK && j->p->conflict) {
                *j->p->conflict = true; /* the same answer on every rank: the same info */
            }
        }
    }
    return cv_mpi_agree(rc);
}

#define ROUND_BYTES_MAX ((size_t)1 << 30)

/* Chunk workers per rank: the job's --threads (the command line's default when not given). */
static int job_threads(const import_job *j)
{
    return j->p->threads > 0 ? j->p->threads : 4;
}

/* Bytes the source holds beyond the slab for a read of `n` voxels (x,y,z): the format's own
 * model, else its filtered chunks the read touches, decompressed, plus one chunk being
 * decompressed (0 for unfiltered sources; HDF5 keeps them so). Along an axis where the read
 * starts on the task lattice (step[d] > 0, a multiple of it from the source's origin) it starts
 * at most c - gcd(step, c) into a chunk, elsewhere c - 1; each part of a stack it crosses along
 * z may add a chunk. */
static double source_chunk_bytes(const import_job *j, const int64_t n[3], const int64_t step[3])
{
    const cv_import_source *s = j->src;
    if (s->ops->held_bytes) {
        return s->ops->held_bytes(s, n, step);
    }
    if (!s->chunk_filtered) {
        return 0;
    }
    double touched = (double)cv_dtype_size(j->dtype), one = touched;
    for (int d = 0; d < 3; d++) {
        int64_t c = s->chunk[d] > 0 ? s->chunk[d] : 1;
        bool stack = d == AX_Z && s->n_parts > 1;
        int64_t off = c - (step[d] > 0 && !stack ? cv__gcd_i64(step[d], c) : 1);
        int64_t cells = (off + n[d] - 1) / c + 1;
        if (stack) {
            cells += (n[d] < (int64_t)s->n_parts ? n[d] : (int64_t)s->n_parts) - 1;
        } else {
            int64_t whole = ((int64_t)j->info->scales[0].size[d] + c - 1) / c;
            cells = cells < whole ? cells : whole;
        }
        touched *= (double)(cells * c);
        one *= (double)c;
    }
    int64_t cc = s->chunk[AX_C] > 0 ? s->chunk[AX_C] : 1;
    touched *= (double)((j->channels + cc - 1) / cc * cc);
    one *= (double)cc;
    return touched + one;
}

/* The dataset's spatial axes, slowest first (S, M, F). */
static void spatial_order(const import_job *j, int order[3])
{
    int k = 0;
    for (int i = 0; i < j->rank; i++) {
        if (j->ax[i] != AX_C) {
            order[k++] = j->ax[i];
        }
    }
}

/* The box of a full round of `group` tasks of `shape` as work_slabs groups them (F-rows of one
 * S-layer, or a run of a row), clipped to the region, into box[]; returns the axis it is cut
 * along into one slab per rank: the slowest axis S (each slab one contiguous run of the file)
 * unless the box is fewer planes deep along S than there are ranks and deeper along M (then
 * only as many ranks as planes would read, each a whole plane). Pure. */
static int round_box(const import_job *j, const int64_t shape[3], uint64_t group, int ranks,
                     int64_t box[3])
{
    const cv_bbox *region = &j->plan_params.region;
    int order[3];
    spatial_order(j, order);
    int S = order[0], M = order[1], F = order[2];
    int64_t extent[3];
    for (int d = 0; d < 3; d++) {
        extent[d] = region->max[d] - region->min[d];
    }
    uint64_t row = (uint64_t)((extent[F] + shape[F] - 1) / shape[F]);
    uint64_t along[3];
    along[S] = 1;
    along[F] = row < group ? row : group;
    along[M] = row < group ? group / row : 1;
    for (int d = 0; d < 3; d++) {
        double all = (double)along[d] * (double)shape[d];
        box[d] = all < (double)extent[d] ? (int64_t)all : extent[d];
    }
    return ranks > box[S] && box[M] > box[S] ? M : S;
}

/* What a rank holds in a round of up to `group` tasks of `shape` shared by `ranks` ranks
 * (tests/hostile/memory_plan_verify_import.sh measures the peak against it): its slab, a
 * 1/ranks cut of the round's box along round_box's axis, and what it sends (at most
 * the slab); what it receives and its task buffers (at most its ceil(group / ranks) tasks
 * each); the chunk threads' buffers, kept from task to task (the chunk cut from the task, its
 * encoding unless raw, its compressed bytes); a sharded task's shard file; the filtered HDF5
 * chunks the slab touches. A round of one task never needs more at any rank count than on one
 * rank with its slab starting anywhere along that axis. --independent: the task read in the
 * dataset's order and transposed. */
static double round_bytes(const import_job *j, const int64_t shape[3], uint64_t group, int ranks,
                          bool s_anywhere)
{
    const cv_plan_params *pp = &j->plan_params;
    int64_t extent[3], held[3], piece[3];
    double task = (double)pp->bytes_per_voxel, chunk = task, chunks = 1;
    for (int d = 0; d < 3; d++) {
        extent[d] = pp->region.max[d] - pp->region.min[d];
        held[d] = shape[d] < extent[d] ? shape[d] : extent[d];
        task *= (double)held[d];
        chunk *= (double)pp->align[0][d];
        chunks *= (double)((held[d] + pp->align[0][d] - 1) / pp->align[0][d]);
    }
    double threads = job_threads(j);
    double workers = chunks < threads ? chunks : threads;
    /* raw chunks go out as cut from the task: no encoded copy */
    const cv_scale *s0 = &j->dst_info->scales[0];
    double per_chunk = strcmp(s0->encoding, "raw") == 0 ? 2 : 3;
    double bytes = workers * per_chunk * chunk + (pp->align[1][0] > 0 ? task : 0);
    int64_t step[3] = {shape[0], shape[1], shape[2]};
    if (j->p->is_independent) {
        return bytes + 2 * task + source_chunk_bytes(j, held, step);
    }
    uint64_t owned = (group + (uint64_t)ranks - 1) / (uint64_t)ranks;
    int C = round_box(j, shape, group, ranks, piece);
    double whole_box = (double)piece[0] * (double)piece[1] * (double)piece[2], aligned = 0;
    for (int d = 0; j->src->align_reads && ranks > 1 && d < 3; d++) {
        /* align_round may cut along any axis at chunk boundaries: the largest such slab */
        int64_t c = j->src->chunk[d] > 1 ? j->src->chunk[d] : 1;
        int64_t cells = (piece[d] + c - 2) / c + 1, cut = (cells + ranks - 1) / ranks * c;
        cut = cut < piece[d] ? cut : piece[d];
        double v = whole_box / (double)piece[d] * (double)cut;
        aligned = v > aligned ? v : aligned;
        step[d] = 0;
    }
    piece[C] = (piece[C] + ranks - 1) / ranks;
    step[C] = ranks == 1 && !s_anywhere ? step[C] : 0; /* pieces cut N ways start anywhere */
    double slab = (double)piece[0] * (double)piece[1] * (double)piece[2];
    slab = (double)pp->bytes_per_voxel * (aligned > slab ? aligned : slab);
    return bytes + 2 * slab + 2 * (double)owned * task + source_chunk_bytes(j, piece, step);
}

/* The plan's task model: a round of one task, on one rank. The task shape (and so the journal
 * a resumed job finds) must not depend on the rank count; plan_import checks the job's own
 * rank count afterwards (slabs cut N ways touch more compressed HDF5 chunks). */
static double task_model(const int64_t shape[3], void *arg)
{
    return round_bytes(arg, shape, 1, 1, true);
}

/* A job whose smallest round does not fit: what a round of one task needs. */
static cv_status refuse_round(import_job *j, const int64_t shape[3])
{
    char chunks[160] = "";
    const cv_import_source *s = j->src;
    if (s->chunk_filtered) {
        snprintf(chunks, sizeof chunks,
                 " and the %" PRId64 "x%" PRId64 "x%" PRId64 " %s its slab touches", s->chunk[0],
                 s->chunk[1], s->chunk[2], s->chunk_noun);
    }
    double need = round_bytes(j, shape, 1, j->ranks, false);
    need = need > task_model(shape, j) ? need : task_model(shape, j);
    cv_err_clear();
    return CV_FAIL(CV_ERR_ARG,
                   "import: a round of one %" PRId64 "x%" PRId64 "x%" PRId64
                   " task needs about %.2f MB per rank (slab, exchange and chunk buffers%s), "
                   "more than the %.2f MB memory budget (raise --memory)",
                   shape[0], shape[1], shape[2], need / 1e6, chunks,
                   (double)j->plan_params.memory / 1e6);
}

static cv_status plan_import(import_job *j)
{
    const cv_info *di = j->dst_info;
    cv_grid grid = cv_info_grid(di, 0);
    cv_plan_params *pp = &j->plan_params;
    memset(pp, 0, sizeof *pp);
    pp->region = grid.bounds;
    memcpy(pp->origin, grid.bounds.min, sizeof pp->origin);
    memcpy(pp->align[0], grid.chunk, sizeof pp->align[0]);
    const cv_scale *ds = &di->scales[0];
    if (ds->sharding_json) {
        /* Tasks are whole shards: each shard file is written once, by the rank owning it. */
        cv_shard_spec spec;
        int64_t shape[3], mini[3], shard[3];
        cv_grid_shape(&grid, shape);
        cv_status rc =
            cv_shard_spec_parse(ds->sharding_json, strlen(ds->sharding_json), ds->key, &spec);
        if (rc == CV_OK) {
            char what[4200];
            snprintf(what, sizeof what, "import: %s scale %s", j->p->dst, ds->key);
            CV_TRY(cv__shard_check_write_index(&spec, what, 0, NULL));
            rc = cv_shard_image_shape(&spec, shape, mini, shard);
        }
        if (rc != CV_OK) {
            cv__err_wrap("import to sharded %s: hashed shards are not supported", ds->key);
            return rc;
        }
        for (int d = 0; d < 3; d++) {
            pp->align[1][d] = shard[d] * grid.chunk[d];
        }
    }
    pp->bytes_per_voxel = cv_dtype_size(di->dtype) * (size_t)di->num_channels;
    const char *source = "--memory";
    pp->memory = j->p->memory ? j->p->memory : cv_mpi_default_memory(&source);
    /* A round's buffers are about four times a rank's tasks: past this, rounds stop growing. */
    if (!ds->sharding_json && pp->memory > 4.5 * (double)ROUND_BYTES_MAX) {
        pp->memory = (size_t)(4.5 * (double)ROUND_BYTES_MAX);
    }
    /* the rank count, or the one a dry run plans for (--ranks) */
    j->ranks = j->p->is_independent ? 1 : cv_mpi_plan_ranks();
    pp->task_bytes = task_model;
    pp->task_bytes_arg = j;
    pp->min_tasks = 64; /* spread over ranks; independent of the rank count */
    cv_status rc = cv_plan_make(pp, &j->plan);
    if (rc == CV_ERR_ARG) {
        int64_t unit[3];
        cv_plan_unit(pp, unit);
        return refuse_round(j, unit);
    }
    CV_TRY(rc);
    /* As many tasks in a round as fit (each rank's share within MPI's int counts); a round of
     * one task fits whenever the plan does. */
    double task = (double)pp->bytes_per_voxel * (double)j->plan.task_shape[0] *
                  (double)j->plan.task_shape[1] * (double)j->plan.task_shape[2];
    uint64_t lo = 1, hi = (uint64_t)j->ranks * (uint64_t)((double)ROUND_BYTES_MAX / task);
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if (round_bytes(j, j->plan.task_shape, mid, j->ranks, false) <= (double)pp->memory) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    j->round_tasks = lo;
    int64_t box[3];
    j->cut_axis = round_box(j, j->plan.task_shape, lo, j->ranks, box);
    if (round_bytes(j, j->plan.task_shape, 1, j->ranks, false) > (double)pp->memory) {
        return refuse_round(j, j->plan.task_shape);
    }
    if (cv_mpi_rank() == 0 && !j->p->dry_run) {
        CV_LOG(CV_LOG_INFO,
               "memory budget %.0f MB per rank (from %s); rounds of %" PRIu64
               " tasks, expected peak %.1f MB per rank",
               (double)pp->memory / 1e6, source, j->round_tasks,
               round_bytes(j, j->plan.task_shape, j->round_tasks, j->ranks, false) / 1e6);
    }
    return rc;
}

/* The file opened for direct reads (see import_job.direct_fd), or -1 when any condition fails
 * or the file does not hold the source's bytes (the format's read then names the problem). */
static int direct_open(import_job *j)
{
    cv_import_source *s = j->src;
    if (s->n_parts != 1 || !cv__slab_is_xfast(&j->layout) || getenv("CV_IMPORT_NO_DIRECT") ||
        !s->ops->direct) {
        return -1;
    }
    uint64_t addr;
    const char *path;
    if (!s->ops->direct(s, &addr, &path)) {
        return -1;
    }
    uint64_t bytes = cv_dtype_size(j->dtype); /* dims include the channel axis, if any */
    bool fits = true;
    for (int i = 0; i < j->rank; i++) {
        fits = fits && cv__mul_u64(bytes, (uint64_t)j->dims[i], &bytes);
    }
    if (bytes == 0 || !fits) {
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        return -1;
    }
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < addr + bytes) {
        close(fd);
        return -1;
    }
    j->direct_path = path;
    j->direct_addr = addr;
    CV_LOG(CV_LOG_INFO, "import: %s of %s read directly (%llu bytes at offset %llu)", s->name, path,
           (unsigned long long)bytes, (unsigned long long)addr);
    return fd;
}

/* Direct reads when every rank can make them (the slab round is then skipped altogether: each
 * rank reads the box of its own tasks); else direct_fd stays -1 on every rank and the slab path
 * runs. */
static void direct_source(import_job *j)
{
    int fd = direct_open(j);
    int all = fd >= 0;
    if (cv_mpi_active()) {
        cv_coll_allreduce(MPI_IN_PLACE, &all, 1, MPI_INT, MPI_MIN, "the check for direct reads");
    }
    if (!all && fd >= 0) {
        close(fd);
        fd = -1;
    }
    j->direct_fd = fd;
}

/* `len` bytes at `off` of the source file, retrying short reads and EINTR; a file that ends
 * first (cut short while the import runs) or a read error is named. */
static cv_status direct_pread(import_job *j, uint8_t *dst, size_t len, uint64_t off)
{
    const char *path = j->direct_path;
    while (len > 0) {
        ssize_t got = pread(j->direct_fd, dst, len, (off_t)off);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            return CV_FAIL(CV_ERR_IO, "import: reading %s of %s at byte %llu: %s", j->src->name,
                           path, (unsigned long long)off, strerror(errno));
        }
        if (got == 0) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           "import: %s ends at byte %llu, inside dataset %s: the file was cut "
                           "short during the import",
                           path, (unsigned long long)off, j->src->name);
        }
        dst += got;
        off += (uint64_t)got;
        len -= (size_t)got;
    }
    return CV_OK;
}

/* The runs of bytes of a direct read (see direct_read): run r is the r-th combination of the
 * indices of axes 0..k-1 between lo and hi (axis k-1 fastest), each `run` bytes from axis k's
 * lo on; pieces of at most DIRECT_PIECE bytes (several runs, or part of one) are read on the
 * chunk threads. */
#define DIRECT_PIECE ((size_t)4 << 20)
typedef struct direct_runs {
    import_job *j;
    int k;
    uint64_t lo[4], hi[4], inner;
    size_t run, n_runs;
    size_t runs_per_piece, pieces_per_run; /* one of them is 1 */
} direct_runs;

/* Run r's byte offset in the file. */
static uint64_t run_offset(const direct_runs *d, size_t r)
{
    uint64_t idx[4] = {0};
    for (int i = d->k - 1; i >= 0; i--) {
        uint64_t span = d->hi[i] - d->lo[i];
        idx[i] = d->lo[i] + r % span;
        r /= span;
    }
    const uint64_t *dims = d->j->dims;
    uint64_t lin = 0;
    for (int i = 0; i < d->k; i++) {
        lin = lin * dims[i] + idx[i];
    }
    lin = lin * dims[d->k] + d->lo[d->k];
    return d->j->direct_addr + lin * d->inner;
}

static cv_status read_direct_piece(size_t t, int tid, void *arg)
{
    (void)tid;
    const direct_runs *d = arg;
    if (d->pieces_per_run > 1) {
        size_t r = t / d->pieces_per_run, at = t % d->pieces_per_run * DIRECT_PIECE;
        size_t len = d->run - at < DIRECT_PIECE ? d->run - at : DIRECT_PIECE;
        return direct_pread(d->j, d->j->direct_buf + r * d->run + at, len, run_offset(d, r) + at);
    }
    size_t end = (t + 1) * d->runs_per_piece < d->n_runs ? (t + 1) * d->runs_per_piece : d->n_runs;
    for (size_t r = t * d->runs_per_piece; r < end; r++) {
        CV_TRY(direct_pread(d->j, d->j->direct_buf + r * d->run, d->run, run_offset(d, r)));
    }
    return CV_OK;
}

/* The dataset's voxels in `frame` (inside the dataset), in the dataset's own order (x fastest)
 * into j->direct_buf: one pread per run of bytes contiguous in the file (long runs in pieces),
 * spread over the chunk threads, since copying out of the page cache is CPU work too. */
static cv_status direct_read(import_job *j, cv_bbox frame)
{
    const int64_t *voff = j->info->scales[0].voxel_offset;
    int n = j->rank;
    direct_runs d = {.j = j};
    size_t total = cv_dtype_size(j->dtype);
    for (int i = 0; i < n; i++) {
        int a = j->ax[i];
        d.lo[i] = a == AX_C ? 0 : (uint64_t)(frame.min[a] - voff[a]);
        d.hi[i] = a == AX_C ? (uint64_t)j->dims[i] : (uint64_t)(frame.max[a] - voff[a]);
        total *= (size_t)(d.hi[i] - d.lo[i]);
    }
    if (total > j->direct_cap) {
        uint8_t *buf = cv_malloc(total);
        if (!buf) {
            return CV_FAIL(CV_ERR_NOMEM, "import: %zu bytes to read %s", total, j->src->name);
        }
        cv_free(j->direct_buf);
        j->direct_buf = buf;
        j->direct_cap = total;
    }
    /* k: the slowest axis whose faster axes are all whole; one run spans its range. */
    d.k = n - 1;
    while (d.k > 0 && d.lo[d.k] == 0 && d.hi[d.k] == (uint64_t)j->dims[d.k]) {
        d.k--;
    }
    d.inner = cv_dtype_size(j->dtype);
    for (int i = d.k + 1; i < n; i++) {
        d.inner *= (uint64_t)j->dims[i];
    }
    d.run = (size_t)((d.hi[d.k] - d.lo[d.k]) * d.inner);
    d.n_runs = total / d.run;
    d.pieces_per_run = (d.run + DIRECT_PIECE - 1) / DIRECT_PIECE;
    d.runs_per_piece = d.pieces_per_run > 1 ? 1 : DIRECT_PIECE / d.run;
    size_t pieces = d.pieces_per_run > 1 ? d.n_runs * d.pieces_per_run
                                         : (d.n_runs + d.runs_per_piece - 1) / d.runs_per_piece;
    return cv__parallel_for(pieces, job_threads(j), read_direct_piece, &d);
}

/* --independent: read task `id`'s box on its own, transpose it to x fastest and write it. */
static cv_status import_task(import_job *j, uint64_t id, uint8_t *slab, uint8_t *buf, size_t cap)
{
    cv_bbox box = cv_plan_task_box(&j->plan, id);
    int64_t n[4] = {box.max[0] - box.min[0], box.max[1] - box.min[1], box.max[2] - box.min[2],
                    j->channels};
    size_t es = cv_dtype_size(j->dtype);
    size_t bytes = (size_t)(n[0] * n[1] * n[2] * n[3]) * es;
    if (!slab || !buf) {
        return CV_FAIL(CV_ERR_NOMEM, "import: task buffers of %zu bytes", 2 * cap);
    }
    if (bytes > cap) {
        return CV_FAIL(CV_ERR_ARG, "task %" PRIu64 " needs %zu bytes, the buffer has %zu", id,
                       bytes, cap);
    }
    CV_TRY(j->src->ops->read(j->src, box, box, false, slab));
    int64_t ss[4], ds[4];
    cv__slab_strides(&j->layout, n, ss);
    cv__slab_xfast_strides(n, ds);
    cv__slab_permute(slab, ss, buf, ds, n, es);
    CV_TRY(cv_volume_write(j->dst, 0, box, buf, bytes));
    j->bytes += bytes;
    return CV_OK;
}

/* A finished task into the journal and the counts; a failed one into the failure list. */
static void task_finished(import_job *j, uint64_t id, cv_status rc)
{
    if (rc == CV_OK) {
        rc = cv_journal_record(j->journal, id);
    }
    if (rc == CV_OK) {
        j->tasks_done++;
    } else {
        cv_failures_note(&j->fail, id, cv_plan_task_box(&j->plan, id), cv_err_last()->what);
        CV_LOG(CV_LOG_ERROR, "task %" PRIu64 " failed: %s", id, cv_err_last()->what);
    }
    cv_sched_done(j->sched);
}

/* Tests slow tasks down to interrupt a job in the middle. */
static void test_delay(void)
{
    const char *delay = getenv("CVMPI_TEST_TASK_DELAY_MS");
    if (delay && *delay) {
        usleep((useconds_t)atoi(delay) * 1000);
    }
}

/* Independent reads: tasks claimed from the dynamic scheduler. */
static void work_independent(import_job *j)
{
    size_t cap = (size_t)j->plan.task_shape[0] * (size_t)j->plan.task_shape[1] *
                 (size_t)j->plan.task_shape[2] * j->plan_params.bytes_per_voxel;
    uint8_t *slab = cv_malloc(cap), *buf = cv_malloc(cap);
    uint64_t id;
    while (!cv_mpi_terminated() && cv_sched_next(j->sched, &id)) {
        if (j->journal && cv_journal_is_done(j->journal, id)) {
            j->tasks_skipped++;
            cv_sched_done(j->sched);
            continue;
        }
        cv_err_clear();
        cv_sched_working_on(j->sched, id);
        cv_status rc = import_task(j, id, slab, buf, cap);
        cv_sched_working_on(j->sched, UINT64_MAX);
        task_finished(j, id, rc);
        test_delay();
    }
    if (cv_mpi_terminated()) {
        cv_sched_abort(j->sched);
    }
    cv_free(slab);
    cv_free(buf);
}

/* How work_slabs groups the task lattice into rounds: the dataset's spatial axes slowest
 * first (S, M, F), whole F-rows of one S-layer per round or runs of a row. */
typedef struct slab_groups {
    int order[3];
    uint64_t row, rows_per_group, runs_per_row;
    uint64_t rounds; /* with no task skipped */
} slab_groups;

static void group_rounds(const import_job *j, slab_groups *g)
{
    int k = 0;
    for (int i = 0; i < j->rank; i++) {
        if (j->ax[i] != AX_C) {
            g->order[k++] = j->ax[i];
        }
    }
    const int64_t *counts = j->plan.counts;
    uint64_t group_max = j->round_tasks;
    g->row = (uint64_t)counts[g->order[2]];
    g->rows_per_group = g->row >= group_max ? 1 : group_max / g->row;
    g->runs_per_row = g->row >= group_max ? (g->row + group_max - 1) / group_max : 1;
    uint64_t m = (uint64_t)counts[g->order[1]];
    g->rounds = (uint64_t)counts[g->order[0]] * ((m + g->rows_per_group - 1) / g->rows_per_group) *
                g->runs_per_row;
}

/* The tasks of one round, in plan order, with their boxes and owners. */
typedef struct round_tasks {
    uint64_t *ids;
    cv_bbox *boxes;
    int *owner;
    size_t n, cap;
} round_tasks;

/* Direct rounds deal each rank a compact part of the round (see direct_round): whole F-rows
 * when the round holds at least as many rows as there are ranks, else a run of tasks. */
static void direct_owners(round_tasks *rt, int row_axis, int size)
{
    size_t rows = 0;
    for (size_t i = 0; i < rt->n; i++) {
        rows += i == 0 || rt->boxes[i].min[row_axis] != rt->boxes[i - 1].min[row_axis];
    }
    size_t row = 0;
    for (size_t i = 0; i < rt->n; i++) {
        if (i > 0 && rt->boxes[i].min[row_axis] != rt->boxes[i - 1].min[row_axis]) {
            row++;
        }
        rt->owner[i] = rows >= (size_t)size ? (int)(row * (size_t)size / rows)
                                            : (int)(i * (size_t)size / rt->n);
    }
}

/* A direct round: the box around this rank's tasks of the round read from the file, each of
 * them written from it; if the read fails, each of them fails with its error. No rank waits
 * for another. */
static void direct_round(import_job *j, const round_tasks *rt)
{
    int rank = cv_mpi_rank();
    cv_bbox frame;
    bool any = false;
    for (size_t i = 0; i < rt->n; i++) {
        if (rt->owner[i] != rank) {
            continue;
        }
        if (!any) {
            frame = rt->boxes[i];
            any = true;
        }
        for (int d = 0; d < 3; d++) {
            frame.min[d] = rt->boxes[i].min[d] < frame.min[d] ? rt->boxes[i].min[d] : frame.min[d];
            frame.max[d] = rt->boxes[i].max[d] > frame.max[d] ? rt->boxes[i].max[d] : frame.max[d];
        }
    }
    if (!any) {
        return;
    }
    cv_err_clear();
    cv_status rrc = direct_read(j, frame);
    for (size_t i = 0; i < rt->n; i++) {
        if (rt->owner[i] != rank) {
            continue;
        }
        cv_sched_working_on(j->sched, rt->ids[i]);
        cv_status trc = rrc;
        if (rrc == CV_OK) {
            cv_err_clear();
            size_t bytes = cv_volume_box_bytes(j->dst, rt->boxes[i]);
            trc = cv__volume_write_frame(j->dst, 0, rt->boxes[i], j->direct_buf, frame);
            if (trc == CV_OK) {
                j->bytes += bytes;
            }
        }
        task_finished(j, rt->ids[i], trc);
    }
    cv_sched_working_on(j->sched, UINT64_MAX);
}

/* Source chunks the group spans along volume axis d. */
static int64_t group_cells(const import_job *j, cv_bbox g, int d)
{
    int64_t c = j->src->chunk[d] > 0 ? j->src->chunk[d] : 1, o = j->src->voxel_offset[d];
    return (g.max[d] - 1 - o) / c - (g.min[d] - o) / c + 1; /* g lies at or past o */
}

/* A source whose chunks are decoded whole (align_reads): cut the round at chunk boundaries
 * along the first of its axis and the spatial axes (slowest first) that spans a chunk per
 * rank, so that no chunk is read by two ranks; else the round's own cut. */
static void align_round(const import_job *j, cv_slab_round *round, int size)
{
    int order[4];
    order[0] = round->axis;
    spatial_order(j, order + 1);
    for (int k = 0; k < 4; k++) {
        int d = order[k];
        if (j->src->chunk[d] > 1 && group_cells(j, round->group, d) >= size) {
            round->axis = d;
            round->align_origin = j->src->voxel_offset[d];
            round->align_step = j->src->chunk[d];
            return;
        }
    }
}

/* One round: read the group box as slabs along `axis` (collective reads), trade the pieces,
 * write the owned tasks. Every rank calls this with the same tasks. */
static void slab_round(import_job *j, const round_tasks *rt, int axis, cv_slab_scratch *sc)
{
    int rank = cv_mpi_rank(), size = cv_mpi_active() ? cv_mpi_size() : 1;
    cv_slab_round round = {.axis = axis, .boxes = rt->boxes, .owner = rt->owner, .n = rt->n};
    round.group = rt->boxes[0];
    for (size_t i = 1; i < rt->n; i++) {
        for (int d = 0; d < 3; d++) {
            if (rt->boxes[i].min[d] < round.group.min[d]) {
                round.group.min[d] = rt->boxes[i].min[d];
            }
            if (rt->boxes[i].max[d] > round.group.max[d]) {
                round.group.max[d] = rt->boxes[i].max[d];
            }
        }
    }
    for (size_t i = 0; i < rt->n; i++) {
        if (rt->owner[i] == rank) {
            cv_sched_working_on(j->sched, rt->ids[i]);
            break;
        }
    }
    cv_err_clear();
    if (j->src->align_reads) {
        align_round(j, &round, size);
    }
    cv_bbox piece = cv__slab_round_piece(&round, rank, size);
    size_t slab_bytes =
        (size_t)cv_bbox_voxels(piece) * (size_t)j->channels * cv_dtype_size(j->dtype);
    uint8_t *slab = cv__slab_reserve(&sc->slab, &sc->slab_cap, slab_bytes) ? sc->slab : NULL;
    cv_status rc =
        cv_mpi_agree(j->src->ops->read(j->src, round.group, piece, cv_mpi_active(), slab));
    uint8_t **bufs = cv_malloc((rt->n ? rt->n : 1) * sizeof *bufs);
    bool *in_slab = cv_malloc(rt->n ? rt->n : 1);
    if (rc == CV_OK && (!bufs || !in_slab)) {
        rc = CV_FAIL(CV_ERR_NOMEM, "import: %zu task buffers", rt->n);
    }
    rc = cv_mpi_agree(rc);
    if (rc == CV_OK) {
        /* A task inside this rank's own piece of an x-fastest slab is written from the slab. */
        bool xfast = cv__slab_is_xfast(&j->layout);
        for (size_t i = 0; i < rt->n; i++) {
            in_slab[i] = xfast && rt->owner[i] == rank && cv_bbox_contains(piece, rt->boxes[i]);
        }
        round.in_slab = in_slab;
        rc = cv__slab_exchange(&j->layout, &round, sc, bufs);
    }
    cv_err save = *cv_err_last();
    for (size_t i = 0; i < rt->n; i++) {
        if (rt->owner[i] != rank) {
            continue;
        }
        cv_status trc = rc;
        if (rc == CV_OK) {
            cv_err_clear();
            cv_sched_working_on(j->sched, rt->ids[i]);
            size_t bytes = cv_volume_box_bytes(j->dst, rt->boxes[i]);
            trc = in_slab[i] ? cv__volume_write_frame(j->dst, 0, rt->boxes[i], slab, piece)
                             : cv_volume_write(j->dst, 0, rt->boxes[i], bufs[i], bytes);
            if (trc == CV_OK) {
                j->bytes += bytes;
            }
        } else {
            cv__err_set(&save);
        }
        task_finished(j, rt->ids[i], trc);
    }
    cv_sched_working_on(j->sched, UINT64_MAX);
    cv_free(bufs);
    cv_free(in_slab);
}

static cv_status round_push(round_tasks *rt, uint64_t id, cv_bbox box)
{
    if (rt->n == rt->cap) {
        size_t cap = rt->cap ? 2 * rt->cap : 64;
        uint64_t *ids = cv_malloc(cap * sizeof *ids);
        cv_bbox *boxes = cv_malloc(cap * sizeof *boxes);
        int *owner = cv_malloc(cap * sizeof *owner);
        if (!ids || !boxes || !owner) {
            cv_free(ids);
            cv_free(boxes);
            cv_free(owner);
            return CV_FAIL(CV_ERR_NOMEM, "import: round of %zu tasks", cap);
        }
        if (rt->n) {
            memcpy(ids, rt->ids, rt->n * sizeof *ids);
            memcpy(boxes, rt->boxes, rt->n * sizeof *boxes);
            memcpy(owner, rt->owner, rt->n * sizeof *owner);
        }
        cv_free(rt->ids);
        cv_free(rt->boxes);
        cv_free(rt->owner);
        rt->ids = ids;
        rt->boxes = boxes;
        rt->owner = owner;
        rt->cap = cap;
    }
    rt->ids[rt->n] = id;
    rt->boxes[rt->n] = box;
    rt->n++;
    return CV_OK;
}

/* The default: rounds of tasks read as slabs and traded (see cv_slab.h). Groups follow the
 * dataset's own order, so a group is one box whose slabs are long runs of the file: the task
 * lattice is walked with the dataset's slowest spatial axis S outermost, then M, then F; a
 * group is whole F-rows of one S-layer, or a run within one row when a row is too large.
 * Tasks a previous run finished (--resume) drop out of their group. A round holds up to
 * round_tasks tasks, as many as round_bytes fits in the budget, dealt round-robin. */
static void work_slabs(import_job *j)
{
    int size = cv_mpi_active() ? cv_mpi_size() : 1;
    slab_groups g;
    group_rounds(j, &g);
    int S = g.order[0], M = g.order[1];
    const int64_t *counts = j->plan.counts;
    uint64_t group_max = j->round_tasks, row = g.row;
    uint64_t rows_per_group = g.rows_per_group, runs_per_row = g.runs_per_row;
    round_tasks rt;
    memset(&rt, 0, sizeof rt);
    cv_slab_scratch scratch;
    memset(&scratch, 0, sizeof scratch);
    uint64_t rotate = 0;
    for (int64_t s = 0; s < counts[S]; s++) {
        for (int64_t m0 = 0; m0 < counts[M]; m0 += (int64_t)rows_per_group) {
            for (uint64_t run = 0; run < runs_per_row; run++) {
                int stop = cv_mpi_terminated();
                if (cv_mpi_active()) {
                    cv_coll_allreduce(MPI_IN_PLACE, &stop, 1, MPI_INT, MPI_MAX,
                                      "the check for an interruption");
                }
                if (stop) {
                    goto out;
                }
                rt.n = 0;
                int64_t m1 = m0 + (int64_t)rows_per_group;
                uint64_t f0 = run * group_max, f1 = f0 + group_max;
                cv_status rc = CV_OK;
                for (int64_t m = m0; rc == CV_OK && m < m1 && m < counts[M]; m++) {
                    for (uint64_t f = f0; rc == CV_OK && f < f1 && f < row; f++) {
                        int64_t cell[3];
                        cell[S] = s;
                        cell[M] = m;
                        cell[g.order[2]] = (int64_t)f;
                        uint64_t id =
                            (uint64_t)cell[0] +
                            (uint64_t)counts[0] *
                                ((uint64_t)cell[1] + (uint64_t)counts[1] * (uint64_t)cell[2]);
                        if (j->journal && cv_journal_is_done(j->journal, id)) {
                            if (cv_mpi_rank() == 0) {
                                j->tasks_skipped++;
                                cv_sched_done(j->sched);
                            }
                            continue;
                        }
                        rc = round_push(&rt, id, cv_plan_task_box(&j->plan, id));
                    }
                }
                if (cv_mpi_agree(rc) != CV_OK) {
                    /* Out of memory for a few ids: stop, and say so (exit 1, --resume). */
                    if (cv_mpi_rank() == 0) {
                        cv_failures_note(&j->fail, rt.n ? rt.ids[0] : 0,
                                         rt.n ? rt.boxes[0] : j->plan.region, cv_err_last()->what);
                    }
                    goto out;
                }
                if (rt.n == 0) {
                    continue;
                }
                if (j->direct_fd >= 0) {
                    direct_owners(&rt, M, size);
                    direct_round(j, &rt);
                } else {
                    for (size_t i = 0; i < rt.n; i++) {
                        rt.owner[i] = (int)((i + rotate) % (uint64_t)size);
                    }
                    rotate += rt.n;
                    slab_round(j, &rt, j->cut_axis, &scratch);
                }
                test_delay();
            }
        }
    }
out:
    cv__slab_scratch_fini(&scratch);
    cv_free(rt.ids);
    cv_free(rt.boxes);
    cv_free(rt.owner);
}

static void import_work(import_job *j)
{
    if (j->p->is_independent) {
        work_independent(j);
    } else {
        direct_source(j);
        work_slabs(j);
        if (j->direct_fd >= 0) {
            close(j->direct_fd);
            j->direct_fd = -1;
        }
        cv_free(j->direct_buf);
        j->direct_buf = NULL;
        j->direct_cap = 0;
    }
}

/* Bytes as "12.3 MB" or, from 1 GB on, "12.3 GB". */
static const char *size_text(double bytes, char buf[32])
{
    snprintf(buf, 32, "%.1f %s", bytes >= 1e9 ? bytes / 1e9 : bytes / 1e6,
             bytes >= 1e9 ? "GB" : "MB");
    return buf;
}

/* --dry-run: the plan and what each of the planned ranks does, for sizing a cluster run
 * (`--ranks N`). A rank's slab is its 1/N cut of a round's box along the slowest axis; it
 * sends what of its slab other ranks own and receives the rest of its own tasks. */
static void print_import_plan(const import_job *j)
{
    const cv_plan *pl = &j->plan;
    const cv_plan_params *pp = &j->plan_params;
    int n_ranks = cv_mpi_plan_ranks(), threads = job_threads(j);
    double bpv = (double)pp->bytes_per_voxel, all = (double)cv_bbox_voxels(pl->region) * bpv;
    double task =
        bpv * (double)pl->task_shape[0] * (double)pl->task_shape[1] * (double)pl->task_shape[2];
    double tasks = ceil((double)pl->n_tasks / (double)n_ranks);
    char region[160], b[4][32];
    cv_bbox_format(pl->region, region, sizeof region);
    printf("plan: %" PRIu64 " tasks of %" PRId64 "x%" PRId64 "x%" PRId64 " voxels (%" PRId64
           "x%" PRId64 "x%" PRId64 " tasks) over %s at mip 0\n",
           pl->n_tasks, pl->task_shape[0], pl->task_shape[1], pl->task_shape[2], pl->counts[0],
           pl->counts[1], pl->counts[2], region);
    if (j->p->is_independent) {
        double peak = round_bytes(j, pl->task_shape, 1, 1, false);
        printf("plan: --independent: each rank reads its own tasks' boxes; %s of voxels in all, "
               "%s per task, expected peak %.1f MB per rank (budget %.1f MB), %d rank%s of %d "
               "chunk thread%s\n",
               size_text(all, b[0]), size_text(task, b[1]), peak / 1e6, (double)pp->memory / 1e6,
               n_ranks, n_ranks == 1 ? "" : "s", threads, threads == 1 ? "" : "s");
        printf("plan: per rank: about %.0f tasks, %s read from the dataset, no exchange; "
               "journal %.1f MB in all (30 bytes per finished task)\n",
               tasks, size_text(tasks * task, b[0]), (double)pl->n_tasks * 30.0 / 1e6);
        return;
    }
    slab_groups g;
    group_rounds(j, &g);
    int M = g.order[1];
    /* The largest round work_slabs makes (round_tasks may exceed what the lattice holds). */
    uint64_t rows =
        g.rows_per_group < (uint64_t)pl->counts[M] ? g.rows_per_group : (uint64_t)pl->counts[M];
    uint64_t group = g.row < j->round_tasks ? g.row * rows : j->round_tasks;
    double peak = round_bytes(j, pl->task_shape, group, j->ranks, false);
    static const char axis_name[] = "xyz";
    printf("plan: %" PRIu64 " rounds of up to %" PRIu64 " tasks, each round's box cut along %c "
           "into %d slabs; %s of voxels in all, %s per task, expected peak %.1f MB per rank "
           "(budget %.1f MB), %d rank%s of %d chunk thread%s\n",
           g.rounds, group, axis_name[j->cut_axis], j->ranks, size_text(all, b[0]),
           size_text(task, b[1]), peak / 1e6, (double)pp->memory / 1e6, j->ranks,
           j->ranks == 1 ? "" : "s", threads, threads == 1 ? "" : "s");
    /* The largest slab a rank reads in a round: the round's box cut N ways, rounded up
     * (cv__slab_piece); ranks past the box's depth along that axis read nothing. */
    int64_t box[3];
    round_box(j, pl->task_shape, group, j->ranks, box);
    double slab = bpv;
    for (int d = 0; d < 3; d++) {
        slab *= d == j->cut_axis ? ceil((double)box[d] / (double)j->ranks) : (double)box[d];
    }
    double read_max = slab * (double)g.rounds;
    read_max = read_max < all ? read_max : all;
    double sent = j->ranks == 1 ? 0 : read_max, received = j->ranks == 1 ? 0 : tasks * task;
    printf("plan: per rank: about %.0f tasks in %" PRIu64 " rounds, %s read from the dataset "
           "(at most %s), exchange up to %s sent and %s received; journal %.1f MB in all (30 "
           "bytes per finished task)\n",
           tasks, g.rounds, size_text(all / (double)j->ranks, b[0]), size_text(read_max, b[1]),
           size_text(sent, b[2]), size_text(received, b[3]), (double)pl->n_tasks * 30.0 / 1e6);
}

static void describe_task(uint64_t id, char *buf, size_t cap, void *arg)
{
    const import_job *j = arg;
    cv_bbox_format(cv_plan_task_box(&j->plan, id), buf, cap);
}

/* The job took as long as its slowest rank. Collective. */
static double slowest(double seconds)
{
    if (cv_mpi_active()) {
        cv_coll_allreduce(MPI_IN_PLACE, &seconds, 1, MPI_DOUBLE, MPI_MAX, "the job's wall time");
    }
    return seconds;
}

static void import_summary(import_job *j, double seconds)
{
    uint64_t total[3] = {j->tasks_done, j->tasks_skipped, j->bytes};
    sum_u64(total, 3);
    uint64_t n_failed;
    char *text = cv_failures_gather(&j->fail, &n_failed);
    int t_all = cv_mpi_terminated();
    if (cv_mpi_active()) {
        cv_coll_allreduce(MPI_IN_PLACE, &t_all, 1, MPI_INT, MPI_MAX,
                          "the check for an interruption");
    }
    if (cv_mpi_rank() == 0) {
        cv_progress_final(&j->progress, total[0] + total[1] + n_failed, total[2], seconds);
        cv_progress_finish(&j->progress);
        char comp[64];
        cv_mpi_describe_compress(j->p->compress, j->p->has_level ? j->p->level : -1,
                                 cv_volume_info(j->dst)->scales[0].encoding, comp, sizeof comp);
        printf("import: %" PRIu64 " tasks written, %" PRIu64 " skipped, %" PRIu64
               " failed of %" PRIu64 "; %.1f MB in %.2f s (%.1f MB/s) on %d rank%s; %s\n",
               total[0], total[1], n_failed, j->plan.n_tasks, (double)total[2] / 1e6, seconds,
               seconds > 0 ? (double)total[2] / 1e6 / seconds : 0, cv_mpi_size(),
               cv_mpi_size() == 1 ? "" : "s", comp);
        if (n_failed) {
            fprintf(stderr, "cvmpi: import: %" PRIu64 " task%s failed:\n%s", n_failed,
                    n_failed == 1 ? "" : "s", text ? text : "");
        }
    }
    cv_free(text);
    if (t_all) {
        CV_FAIL(CV_ERR_IO,
                "import interrupted: %" PRIu64 " of %" PRIu64
                " tasks done; run the same command with --resume to finish",
                total[0] + total[1], j->plan.n_tasks);
    } else if (n_failed) {
        CV_FAIL(CV_ERR_IO,
                "import: %" PRIu64 " of %" PRIu64
                " tasks failed (listed above); fix the cause and rerun with --resume",
                n_failed, j->plan.n_tasks);
    }
}

static cv_status import_journal(import_job *j)
{
    const cv_import_params *p = j->p;
    char signature[512];
    snprintf(signature, sizeof signature,
             "import src=%s dst=%s task=%" PRId64 ",%" PRId64 ",%" PRId64, p->src,
             cv_volume_url(j->dst), j->plan.task_shape[0], j->plan.task_shape[1],
             j->plan.task_shape[2]);
    CV_TRY(cv_mpi_agree(cv_journal_dir(p->journal_dir, cv_volume_url(j->dst), signature,
                                       j->journal_dir, sizeof j->journal_dir)));
    return cv_journal_begin(j->journal_dir, signature, p->resume, j->plan.n_tasks, &j->journal);
}

cv_status cv_mpi_import(const cv_import_params *p)
{
    import_job j;
    memset(&j, 0, sizeof j);
    j.p = p;
    cv_failures_init(&j.fail);
    cv_opts o = cv_opts_default();
    o.threads = p->threads > 0 ? p->threads : 4;
    o.compress = p->compress;
    o.compress_level = p->has_level ? p->level : -1;
    o.fill_missing = true;

    cv_status rc = cv_mpi_agree(cv__zarr_is_spec(p->src)   ? cv__zarr_source_open(p, &j.src)
                                : cv__tiff_is_spec(p->src) ? cv__tiff_source_open(p, &j.src)
                                                           : cv__h5_source_open(p, &j.src));
    if (rc == CV_OK) {
        rc = cv_mpi_agree(describe_source(&j));
    }
    if (rc == CV_OK) {
        memcpy(j.src->voxel_offset, j.info->scales[0].voxel_offset, sizeof j.src->voxel_offset);
    }
    if (rc == CV_OK) {
        const cv_scale *s0 = &j.info->scales[0];
        rc = cv_mpi_agree(
            cv_mpi_check_level(p->compress, p->has_level, p->level, s0->encoding, s0->key));
        if (rc != CV_OK && p->conflict) {
            *p->conflict = true;
        }
    }
    if (rc == CV_OK && !p->dry_run && p->before_write) {
        rc = cv_mpi_agree(p->before_write(j.info, p->before_write_arg));
    }
    if (rc == CV_OK) {
        rc = open_import_dst(&j, &o);
    }
    if (rc == CV_OK) {
        rc = cv_mpi_agree(plan_import(&j));
    }
    if (rc == CV_OK && p->dry_run) {
        if (cv_mpi_rank() == 0) {
            print_import_plan(&j);
        }
        if (p->planned_info) {
            rc = cv_mpi_agree(cv_info_copy(j.dst_info, p->planned_info));
        }
    } else if (rc == CV_OK) {
        rc = import_journal(&j);
    }
    if (rc == CV_OK && p->resume && !p->dry_run) {
        int mip0 = 0;
        rc = cv_mpi_remove_stale_temps(j.dst, &mip0, 1, NULL);
    }
    if (rc == CV_OK && !p->dry_run) {
        rc = cv_mpi_agree(cv_sched_open(j.plan.n_tasks, false, &j.sched));
    }
    if (rc == CV_OK && !p->dry_run) {
        uint64_t full = (uint64_t)j.plan.task_shape[0] * (uint64_t)j.plan.task_shape[1] *
                        (uint64_t)j.plan.task_shape[2] * j.plan_params.bytes_per_voxel;
        cv_progress_init(&j.progress, "import", j.plan.n_tasks, full,
                         cv_mpi_rank() == 0 && cv__log_level() >= CV_LOG_WARN);
        double t0 = cv_now();
        cv_monitor *mon = NULL;
        if (cv_mpi_rank() == 0) {
            mon = cv_monitor_start(&j.progress, j.sched, 300, describe_task, &j);
        }
        import_work(&j);
        double seconds = slowest(cv_now() - t0);
        if (cv_mpi_active()) {
            cv_coll_barrier("the end of the import");
        }
        cv_monitor_stop(mon);
        cv_err_clear();
        import_summary(&j, seconds);
        rc = cv_mpi_agree(cv_err_last()->code);
    }
    cv_sched_close(j.sched);
    cv_journal_end(j.journal, j.journal ? j.journal_dir : NULL, rc, p->keep_journal);
    cv_volume_close(j.dst);
    cv_info_free(j.info);
    if (j.src) {
        j.src->ops->close(j.src); /* collective: every rank opened the same source */
    }
    cv_failures_fini(&j.fail);
    return rc;
}
