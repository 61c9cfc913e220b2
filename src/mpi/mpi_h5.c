/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_h5.c: `cvmpi import` and `cvmpi export` with parallel HDF5 (the MPI-IO driver); the only
 * file that includes <hdf5.h>. Import: every rank opens the file, derives the same info from
 * the dataset (dtype, shape, channels, resolution attributes), rank 0 creates the layer, and the
 * plan's tasks (aligned to the layer's chunk grid) are claimed from the scheduler; each rank
 * reads its task's hyperslab independently, transposes it to x fastest and writes whole chunks.
 * Export: rank 0 decides whether the file exists, the dataset and its attributes are created
 * collectively, and tasks go round-robin so every rank makes the same number of collective
 * H5Dwrite calls (needed for gzip-filtered datasets in parallel). */
#include "cv_h5.h"

#include "cv_failures.h"
#include "cv_journal.h"
#include "cv_monitor.h"
#include "cv_plan.h"
#include "cv_progress.h"
#include "cv_sched.h"
#include "cv_transfer.h"

#include <hdf5.h>
#include <inttypes.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { AX_X = 0, AX_Y = 1, AX_Z = 2, AX_C = 3 };

/* ---- small helpers ---------------------------------------------------------------------- */

/* "FILE.h5:/DATASET" -> file and dataset (the last ":/" splits them). Free both with cv_free. */
static cv_status split_spec(const char *spec, char **file, char **dset)
{
    const char *sep = NULL;
    for (const char *s = strstr(spec, ":/"); s; s = strstr(s + 1, ":/")) {
        sep = s;
    }
    if (!sep || sep == spec || !sep[2]) {
        return CV_FAIL(CV_ERR_ARG, "`%s': want FILE.h5:/DATASET", spec);
    }
    *file = cv__strndup(spec, (size_t)(sep - spec));
    *dset = cv__strdup(sep + 1);
    if (!*file || !*dset) {
        cv_free(*file);
        cv_free(*dset);
        return CV_FAIL(CV_ERR_NOMEM, "h5");
    }
    return CV_OK;
}

/* Axis letters, slowest first, to axis ids; x, y and z exactly once, c at most once. */
static cv_status parse_axes(const char *axes, int rank, const char *dset, int ax[4])
{
    int seen[4] = {0, 0, 0, 0};
    size_t n = strlen(axes);
    if ((int)n != rank) {
        return CV_FAIL(CV_ERR_ARG, "--axes %s names %zu axes, but the dataset %s has %d dimensions",
                       axes, n, dset, rank);
    }
    for (size_t i = 0; i < n; i++) {
        const char *p = strchr("xyzc", axes[i]);
        if (!axes[i] || !p || seen[p - "xyzc"]++) {
            return CV_FAIL(CV_ERR_ARG,
                           "bad --axes `%s': want x, y, z once each and c at most once "
                           "(e.g. zyx, xyz, czyx, zyxc)",
                           axes);
        }
        ax[i] = (int)(p - "xyzc");
    }
    if (!seen[AX_X] || !seen[AX_Y] || !seen[AX_Z]) {
        return CV_FAIL(CV_ERR_ARG, "bad --axes `%s': x, y and z are required", axes);
    }
    return CV_OK;
}

static hid_t native_type(cv_dtype t)
{
    switch (t) {
    case CV_UINT8:
        return H5T_NATIVE_UINT8;
    case CV_INT8:
        return H5T_NATIVE_INT8;
    case CV_UINT16:
        return H5T_NATIVE_UINT16;
    case CV_INT16:
        return H5T_NATIVE_INT16;
    case CV_UINT32:
        return H5T_NATIVE_UINT32;
    case CV_INT32:
        return H5T_NATIVE_INT32;
    case CV_UINT64:
        return H5T_NATIVE_UINT64;
    case CV_INT64:
        return H5T_NATIVE_INT64;
    case CV_FLOAT32:
        return H5T_NATIVE_FLOAT;
    case CV_FLOAT64:
        return H5T_NATIVE_DOUBLE;
    default:
        return H5I_INVALID_HID;
    }
}

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_TIME:
        return "time";
    case H5T_STRING:
        return "string";
    case H5T_BITFIELD:
        return "bitfield";
    case H5T_OPAQUE:
        return "opaque";
    case H5T_COMPOUND:
        return "compound";
    case H5T_REFERENCE:
        return "reference";
    case H5T_ENUM:
        return "enum";
    case H5T_VLEN:
        return "variable-length";
    case H5T_ARRAY:
        return "array";
    default:
        return "unknown";
    }
}

/* The layer dtype of an HDF5 element type. */
static cv_status dtype_of(hid_t type, const char *dset, cv_dtype *out)
{
    H5T_class_t cls = H5Tget_class(type);
    size_t size = H5Tget_size(type);
    *out = CV_DTYPE_INVALID;
    if (cls == H5T_INTEGER) {
        bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
        switch (size) {
        case 1:
            *out = is_signed ? CV_INT8 : CV_UINT8;
            break;
        case 2:
            *out = is_signed ? CV_INT16 : CV_UINT16;
            break;
        case 4:
            *out = is_signed ? CV_INT32 : CV_UINT32;
            break;
        case 8:
            *out = is_signed ? CV_INT64 : CV_UINT64;
            break;
        default:
            break;
        }
    } else if (cls == H5T_FLOAT) {
        *out = size == 4 ? CV_FLOAT32 : size == 8 ? CV_FLOAT64 : CV_DTYPE_INVALID;
    }
    if (*out == CV_DTYPE_INVALID) {
        const char *what = cls == H5T_INTEGER ? "integer"
                           : cls == H5T_FLOAT ? "float"
                                              : class_name(cls);
        return CV_FAIL(CV_ERR_ARG,
                       "dataset %s: unsupported HDF5 element type (%s, %zu bytes); want "
                       "8-64 bit integers or 32/64 bit floats",
                       dset, what, size);
    }
    return CV_OK;
}

/* Strides (in elements) of each axis (x,y,z,c) in a C-order array of the dataset's axis order
 * whose extents per axis are n. Axes the dataset lacks get stride 0 (their extent is 1). */
static void dataset_strides(int rank, const int ax[4], const int64_t n[4], int64_t st[4])
{
    int64_t s = 1;
    memset(st, 0, 4 * sizeof st[0]);
    for (int i = rank - 1; i >= 0; i--) {
        st[ax[i]] = s;
        s *= n[ax[i]];
    }
}

/* Strides of the volume layout: x fastest, then y, z, channel slowest. */
static void xfast_strides(const int64_t n[4], int64_t st[4])
{
    st[0] = 1;
    st[1] = n[0];
    st[2] = n[0] * n[1];
    st[3] = n[0] * n[1] * n[2];
}

/* Copy n (x,y,z,c) elements of `es` bytes between two layouts given by their strides. */
static void permute(const uint8_t *src, const int64_t ss[4], uint8_t *dst, const int64_t ds[4],
                    const int64_t n[4], size_t es)
{
    for (int64_t c = 0; c < n[3]; c++) {
        for (int64_t z = 0; z < n[2]; z++) {
            for (int64_t y = 0; y < n[1]; y++) {
                const uint8_t *s = src + (size_t)(c * ss[3] + z * ss[2] + y * ss[1]) * es;
                uint8_t *d = dst + (size_t)(c * ds[3] + z * ds[2] + y * ds[1]) * es;
                size_t sx = (size_t)ss[0] * es, dx = (size_t)ds[0] * es;
                if (sx == es && dx == es) {
                    memcpy(d, s, (size_t)n[0] * es);
                    continue;
                }
                for (int64_t x = 0; x < n[0]; x++, s += sx, d += dx) {
                    switch (es) {
                    case 1:
                        *d = *s;
                        break;
                    case 2:
                        memcpy(d, s, 2);
                        break;
                    case 4:
                        memcpy(d, s, 4);
                        break;
                    case 8:
                        memcpy(d, s, 8);
                        break;
                    default:
                        memcpy(d, s, es);
                        break;
                    }
                }
            }
        }
    }
}

/* The MPI-IO driver. Collective metadata operations only where every rank makes the same
 * calls (export); import's independent reads look up chunk indexes on their own. */
static hid_t file_access(bool is_collective_metadata)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && cv_mpi_active()) {
        H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL);
        if (is_collective_metadata) {
            H5Pset_all_coll_metadata_ops(fapl, true);
            H5Pset_coll_metadata_write(fapl, true);
        }
    }
    return fapl;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    }
    return h;
}

static void sum_u64(uint64_t *v, int n)
{
    if (cv_mpi_active()) {
        MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    }
}

/* ---- import ----------------------------------------------------------------------------- */

typedef struct import_job {
    const cv_import_params *p;
    char *file, *dset_name;
    hid_t fid, did;
    int rank, ax[4];
    hsize_t dims[4];
    cv_dtype dtype;
    int64_t channels;
    cv_info *info; /* derived from the dataset */
    cv_volume *dst;
    cv_plan plan;
    cv_plan_params plan_params;
    cv_journal *journal;
    cv_sched *sched;
    cv_progress progress;
    cv_failures fail;
    uint64_t tasks_done, tasks_skipped, bytes;
} import_job;

static cv_status open_dataset(import_job *j)
{
    CV_TRY(split_spec(j->p->src, &j->file, &j->dset_name));
    if (access(j->file, R_OK) != 0) {
        return CV_FAIL(CV_ERR_NOTFOUND, "import: cannot read %s: no such file", j->file);
    }
    hid_t fapl = file_access(false);
    j->fid = H5Fopen(j->file, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (j->fid < 0) {
        return CV_FAIL(CV_ERR_HDF5, "import: %s is not an HDF5 file HDF5 can open", j->file);
    }
    j->did = H5Dopen2(j->fid, j->dset_name, H5P_DEFAULT);
    if (j->did < 0) {
        return CV_FAIL(CV_ERR_NOTFOUND, "import: %s has no dataset %s", j->file, j->dset_name);
    }
    return CV_OK;
}

/* Read a numeric attribute of n values into v (as doubles); false if absent or of another
 * size. */
static int read_attr(hid_t obj, const char *name, double *v, int max)
{
    if (H5Aexists(obj, name) <= 0) {
        return 0;
    }
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) {
        return 0;
    }
    hid_t sp = H5Aget_space(a), t = H5Aget_type(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    H5T_class_t cls = H5Tget_class(t);
    int got = 0;
    if (n > 0 && n <= max && (cls == H5T_INTEGER || cls == H5T_FLOAT) &&
        H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0) {
        got = (int)n;
    }
    H5Tclose(t);
    H5Sclose(sp);
    H5Aclose(a);
    return got;
}

static double round_nm(double v)
{
    return round(v * 1e6) / 1e6;
}

/* The resolution: `resolution` (x,y,z nm), `element_size_um` (dataset order, um), the option,
 * else 1,1,1. */
static void find_resolution(import_job *j, double res[3], bool *is_float)
{
    const cv_import_params *p = j->p;
    double v[8];
    const char *from = NULL;
    int n;
    if (read_attr(j->did, "resolution", v, 8) == 3) {
        memcpy(res, v, 3 * sizeof v[0]);
        from = "the resolution attribute";
    } else if ((n = read_attr(j->did, "element_size_um", v, 8)) > 0 &&
               (n == j->rank || (n == 3 && j->rank == 4))) {
        for (int i = 0, k = 0; i < j->rank; i++) {
            if (j->ax[i] == AX_C) {
                k += n == j->rank;
                continue;
            }
            res[j->ax[i]] = round_nm(v[k++] * 1000.0);
        }
        from = "element_size_um";
    } else if (p->has_resolution) {
        memcpy(res, p->resolution, 3 * sizeof res[0]);
    } else {
        res[0] = res[1] = res[2] = 1;
    }
    if (from && p->has_resolution && memcmp(res, p->resolution, 3 * sizeof res[0]) != 0) {
        CV_LOG(CV_LOG_WARN, "import: --resolution ignored: %s of %s gives %g,%g,%g", from,
               j->dset_name, res[0], res[1], res[2]);
    }
    *is_float = p->has_resolution && !from ? p->resolution_is_float : false;
    for (int d = 0; d < 3; d++) {
        *is_float = *is_float || res[d] != floor(res[d]);
    }
}

/* Every rank derives the same info from the dataset. */
static cv_status describe_dataset(import_job *j)
{
    const cv_import_params *p = j->p;
    hid_t sp = H5Dget_space(j->did);
    j->rank = H5Sget_simple_extent_ndims(sp);
    if (j->rank == 3 || j->rank == 4) {
        H5Sget_simple_extent_dims(sp, j->dims, NULL);
    }
    H5Sclose(sp);
    if (j->rank != 3 && j->rank != 4) {
        return CV_FAIL(CV_ERR_ARG,
                       "import: dataset %s has %d dimensions; want 3 (z,y,x) or 4 (with channels)",
                       j->dset_name, j->rank);
    }
    hid_t t = H5Dget_type(j->did);
    cv_status rc = dtype_of(t, j->dset_name, &j->dtype);
    H5Tclose(t);
    CV_TRY(rc);
    const char *axes = p->axes ? p->axes : j->rank == 3 ? "zyx" : "zyxc";
    CV_TRY(parse_axes(axes, j->rank, j->dset_name, j->ax));
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
    if (j->rank == 4 && (j->dims[0] == 0 || j->channels < 1)) {
        return CV_FAIL(CV_ERR_ARG, "import: dataset %s has no channels", j->dset_name);
    }
    for (int d = 0; d < 3; d++) {
        if (ip.size[d] < 1) {
            return CV_FAIL(CV_ERR_ARG, "import: dataset %s is empty", j->dset_name);
        }
    }
    ip.type = p->type                                            ? p->type
              : (j->dtype == CV_UINT32 || j->dtype == CV_UINT64) ? "segmentation"
                                                                 : "image";
    ip.dtype = j->dtype;
    ip.num_channels = j->channels;
    ip.encoding = p->encoding;
    find_resolution(j, ip.resolution, &ip.resolution_is_float);
    memcpy(ip.voxel_offset, p->offset, sizeof ip.voxel_offset);
    memcpy(ip.chunk_size, p->chunk_size, sizeof ip.chunk_size);
    CV_TRY(cv_info_create(&ip, &j->info));
    rc = cv_info_validate(j->info);
    if (rc != CV_OK) {
        cv__err_wrap("import %s", p->src);
    }
    return rc;
}

/* Rank 0 creates the layer (or checks an existing one); then every rank opens it. */
static cv_status open_import_dst(import_job *j, const cv_opts *o)
{
    cv_status rc = CV_OK;
    if (cv_mpi_rank() == 0) {
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
    if (rc == CV_OK) {
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
    }
    return cv_mpi_agree(rc);
}

static cv_status plan_import(import_job *j)
{
    const cv_info *di = cv_volume_info(j->dst);
    cv_grid grid = cv_info_grid(di, 0);
    cv_plan_params *pp = &j->plan_params;
    memset(pp, 0, sizeof *pp);
    pp->region = grid.bounds;
    memcpy(pp->origin, grid.bounds.min, sizeof pp->origin);
    memcpy(pp->align[0], grid.chunk, sizeof pp->align[0]);
    pp->bytes_per_voxel = cv_dtype_size(di->dtype) * (size_t)di->num_channels;
    const char *source = "--memory";
    pp->memory = j->p->memory ? j->p->memory : cv_mpi_default_memory(&source);
    /* The HDF5 slab, its x-fastest copy, and the chunk workers' buffers. */
    pp->overhead = 2.5;
    pp->min_tasks = 64; /* spread over ranks; independent of the rank count */
    cv_status rc = cv_plan_make(pp, &j->plan);
    if (rc == CV_OK && cv_mpi_rank() == 0) {
        CV_LOG(CV_LOG_INFO, "memory budget %.0f MB per rank (from %s)", (double)pp->memory / 1e6,
               source);
    }
    return rc;
}

/* Read task `id`'s hyperslab, transpose it to x fastest and write it. With a collective dxpl
 * every rank calls this once per round; id == UINT64_MAX (no task this round) or a task that
 * cannot be read still takes part with an empty selection. */
static cv_status import_task(import_job *j, uint64_t id, hid_t dxpl, uint8_t *slab, uint8_t *buf,
                             size_t cap)
{
    bool has_task = id != UINT64_MAX;
    cv_bbox box = has_task ? cv_plan_task_box(&j->plan, id) : cv_info_bounds(j->info, 0);
    const int64_t *off = j->info->scales[0].voxel_offset;
    int64_t n[4] = {box.max[0] - box.min[0], box.max[1] - box.min[1], box.max[2] - box.min[2],
                    j->channels};
    size_t es = cv_dtype_size(j->dtype);
    size_t bytes = (size_t)(n[0] * n[1] * n[2] * n[3]) * es;
    bool can_read = has_task && slab && buf && bytes <= cap;
    hsize_t start[4], count[4], one = 1;
    for (int i = 0; i < j->rank; i++) {
        int a = j->ax[i];
        start[i] = a == AX_C ? 0 : (hsize_t)(box.min[a] - off[a]);
        count[i] = (hsize_t)n[a];
    }
    hid_t fs = H5Dget_space(j->did);
    hid_t ms = can_read ? H5Screate_simple(j->rank, count, NULL) : H5Screate_simple(1, &one, NULL);
    herr_t e;
    if (can_read) {
        e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    } else {
        H5Sselect_none(ms);
        e = H5Sselect_none(fs);
    }
    uint8_t dummy[8];
    if (e >= 0) {
        e = H5Dread(j->did, native_type(j->dtype), ms, fs, dxpl, can_read ? slab : dummy);
    }
    H5Sclose(ms);
    H5Sclose(fs);
    if (!has_task) {
        return CV_OK;
    }
    if (!slab || !buf) {
        return CV_FAIL(CV_ERR_NOMEM, "import: task buffers of %zu bytes", 2 * cap);
    }
    if (bytes > cap) {
        return CV_FAIL(CV_ERR_ARG, "task %" PRIu64 " needs %zu bytes, the buffer has %zu", id,
                       bytes, cap);
    }
    if (e < 0) {
        return CV_FAIL(CV_ERR_HDF5, "import: reading %s of %s failed", j->dset_name, j->file);
    }
    int64_t ss[4], ds[4];
    dataset_strides(j->rank, j->ax, n, ss);
    xfast_strides(n, ds);
    permute(slab, ss, buf, ds, n, es);
    CV_TRY(cv_volume_write(j->dst, 0, box, buf, bytes));
    j->bytes += bytes;
    return CV_OK;
}

static void run_import_task(import_job *j, uint64_t id, hid_t dxpl, uint8_t *slab, uint8_t *buf,
                            size_t cap)
{
    cv_err_clear();
    cv_sched_working_on(j->sched, id);
    cv_status rc = import_task(j, id, dxpl, slab, buf, cap);
    cv_sched_working_on(j->sched, UINT64_MAX);
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

/* Independent reads: tasks claimed from the dynamic scheduler. */
static void work_independent(import_job *j, uint8_t *slab, uint8_t *buf, size_t cap)
{
    uint64_t id;
    while (!cv_mpi_terminated() && cv_sched_next(j->sched, &id)) {
        if (j->journal && cv_journal_is_done(j->journal, id)) {
            j->tasks_skipped++;
            cv_sched_done(j->sched);
            continue;
        }
        run_import_task(j, id, H5P_DEFAULT, slab, buf, cap);
    }
    if (cv_mpi_terminated()) {
        cv_sched_abort(j->sched);
    }
}

/* Collective reads (--collective): in round r rank k reads task r*size+k, so MPI-IO can merge
 * the ranks' hyperslabs into large contiguous file reads and hand each rank its pieces. Every
 * rank calls H5Dread once per round; ranks agree on SIGTERM each round. */
static void work_collective(import_job *j, uint8_t *slab, uint8_t *buf, size_t cap)
{
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    uint64_t size = (uint64_t)cv_mpi_size(), rounds = (j->plan.n_tasks + size - 1) / size;
    for (uint64_t r = 0; r < rounds; r++) {
        int stop = cv_mpi_terminated();
        MPI_Allreduce(MPI_IN_PLACE, &stop, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (stop) {
            break;
        }
        uint64_t id = r * size + (uint64_t)cv_mpi_rank();
        if (id >= j->plan.n_tasks) {
            import_task(j, UINT64_MAX, dxpl, slab, buf, cap);
        } else if (j->journal && cv_journal_is_done(j->journal, id)) {
            j->tasks_skipped++;
            import_task(j, UINT64_MAX, dxpl, slab, buf, cap);
            cv_sched_done(j->sched);
        } else {
            run_import_task(j, id, dxpl, slab, buf, cap);
        }
    }
    H5Pclose(dxpl);
}

static void import_work(import_job *j)
{
    size_t cap = (size_t)j->plan.task_shape[0] * (size_t)j->plan.task_shape[1] *
                 (size_t)j->plan.task_shape[2] * j->plan_params.bytes_per_voxel;
    uint8_t *slab = cv_malloc(cap), *buf = cv_malloc(cap);
    if (j->p->is_collective && cv_mpi_active()) {
        work_collective(j, slab, buf, cap);
    } else {
        work_independent(j, slab, buf, cap);
    }
    cv_free(slab);
    cv_free(buf);
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
        MPI_Allreduce(MPI_IN_PLACE, &seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
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
        MPI_Allreduce(MPI_IN_PLACE, &t_all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    }
    if (cv_mpi_rank() == 0) {
        cv_progress_update(&j->progress, total[0] + total[1] + n_failed, true);
        cv_progress_finish(&j->progress);
        printf("import: %" PRIu64 " tasks written, %" PRIu64 " skipped, %" PRIu64
               " failed of %" PRIu64 "; %.1f MB in %.1f s (%.1f MB/s) on %d rank%s\n",
               total[0], total[1], n_failed, j->plan.n_tasks, (double)total[2] / 1e6, seconds,
               seconds > 0 ? (double)total[2] / 1e6 / seconds : 0, cv_mpi_size(),
               cv_mpi_size() == 1 ? "" : "s");
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
    char signature[512], dir[4096];
    snprintf(signature, sizeof signature,
             "import src=%s dst=%s task=%" PRId64 ",%" PRId64 ",%" PRId64, p->src,
             cv_volume_url(j->dst), j->plan.task_shape[0], j->plan.task_shape[1],
             j->plan.task_shape[2]);
    if (p->journal_dir) {
        snprintf(dir, sizeof dir, "%s", p->journal_dir);
    } else {
        snprintf(dir, sizeof dir, ".cvmpi-journal/%016" PRIx64, fnv1a(signature));
    }
    if (cv_mpi_rank() == 0 && !p->resume) {
        cv_journal_remove(dir);
    }
    if (cv_mpi_active()) {
        MPI_Barrier(MPI_COMM_WORLD);
    }
    CV_TRY(cv_mpi_agree(
        cv_journal_open(dir, signature, cv_mpi_rank(), p->resume, j->plan.n_tasks, &j->journal)));
    if (cv_mpi_active()) {
        MPI_Barrier(MPI_COMM_WORLD);
    }
    return cv_mpi_agree(cv_journal_start(j->journal));
}

cv_status cv_mpi_import(const cv_import_params *p)
{
    import_job j;
    memset(&j, 0, sizeof j);
    j.p = p;
    j.fid = j.did = H5I_INVALID_HID;
    cv_failures_init(&j.fail);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    cv_opts o = cv_opts_default();
    o.threads = p->threads > 0 ? p->threads : 4;
    o.compress = p->compress;
    o.fill_missing = true;

    cv_status rc = cv_mpi_agree(open_dataset(&j));
    if (rc == CV_OK) {
        rc = cv_mpi_agree(describe_dataset(&j));
    }
    if (rc == CV_OK) {
        rc = open_import_dst(&j, &o);
    }
    if (rc == CV_OK) {
        rc = cv_mpi_agree(plan_import(&j));
    }
    if (rc == CV_OK) {
        rc = import_journal(&j);
    }
    if (rc == CV_OK) {
        rc = cv_mpi_agree(cv_sched_open(j.plan.n_tasks, false, &j.sched));
    }
    if (rc == CV_OK) {
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
            MPI_Barrier(MPI_COMM_WORLD);
        }
        cv_monitor_stop(mon);
        cv_err_clear();
        import_summary(&j, seconds);
        rc = cv_mpi_agree(cv_err_last()->code);
    }
    cv_sched_close(j.sched);
    cv_journal_close(j.journal);
    cv_volume_close(j.dst);
    cv_info_free(j.info);
    /* Closing is collective: every rank that opened the file closes it here. */
    if (j.did >= 0) {
        H5Dclose(j.did);
    }
    if (j.fid >= 0) {
        H5Fclose(j.fid);
    }
    cv_free(j.file);
    cv_free(j.dset_name);
    cv_failures_fini(&j.fail);
    return rc;
}

/* ---- export ----------------------------------------------------------------------------- */

typedef struct export_job {
    const cv_export_params *p;
    char *file, *dset_name;
    hid_t fid, did;
    int rank, ax[4];
    cv_volume *src;
    int mip;
    cv_bbox box;
    int64_t channels;
    cv_plan plan;
    cv_plan_params plan_params;
    cv_failures fail;
    uint64_t tasks_done, bytes;
} export_job;

static cv_status export_setup(export_job *j)
{
    const cv_export_params *p = j->p;
    const cv_info *si = cv_volume_info(j->src);
    if (p->mip_text) {
        CV_TRY(cv_info_select_mip(si, p->mip_text, &j->mip));
    }
    j->box = cv_info_bounds(si, j->mip);
    if (p->bbox_text) {
        cv_bbox b;
        CV_TRY(cv_bbox_parse(p->bbox_text, &b));
        CV_TRY(cv_volume_resolve_box(j->src, j->mip, b, &j->box));
    }
    j->channels = si->num_channels;
    char axes[5];
    snprintf(axes, sizeof axes, "%s", p->axes ? p->axes : "zyx");
    if (strlen(axes) == 3 && j->channels > 1) {
        strcat(axes, "c");
    }
    j->rank = (int)strlen(axes);
    CV_TRY(parse_axes(axes, j->rank, j->dset_name, j->ax));
    if (j->rank == 3 && j->channels > 1) {
        return CV_FAIL(CV_ERR_ARG, "export: --axes %s has no c for %" PRId64 " channels", axes,
                       j->channels);
    }
    cv_grid grid = cv_info_grid(si, j->mip);
    cv_plan_params *pp = &j->plan_params;
    memset(pp, 0, sizeof *pp);
    pp->region = j->box;
    memcpy(pp->origin, grid.bounds.min, sizeof pp->origin);
    memcpy(pp->align[0], grid.chunk, sizeof pp->align[0]);
    pp->bytes_per_voxel = cv_dtype_size(si->dtype) * (size_t)si->num_channels;
    const char *source = "--memory";
    pp->memory = p->memory ? p->memory : cv_mpi_default_memory(&source);
    pp->overhead = 2.5;
    pp->min_tasks = 64; /* spread over ranks; independent of the rank count */
    return cv_plan_make(pp, &j->plan);
}

static cv_status write_attrs(export_job *j)
{
    const cv_info *si = cv_volume_info(j->src);
    hsize_t three = 3;
    hid_t sp = H5Screate_simple(1, &three, NULL);
    hid_t a = H5Acreate2(j->did, "resolution", H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a >= 0 ? H5Awrite(a, H5T_NATIVE_DOUBLE, si->scales[j->mip].resolution) : -1;
    if (a >= 0) {
        H5Aclose(a);
    }
    a = H5Acreate2(j->did, "voxel_offset", H5T_NATIVE_INT64, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (e >= 0) {
        e = a >= 0 ? H5Awrite(a, H5T_NATIVE_INT64, j->box.min) : -1;
    }
    if (a >= 0) {
        H5Aclose(a);
    }
    H5Sclose(sp);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, H5T_VARIABLE);
    H5Tset_cset(st, H5T_CSET_UTF8);
    sp = H5Screate(H5S_SCALAR);
    a = H5Acreate2(j->did, "source", st, sp, H5P_DEFAULT, H5P_DEFAULT);
    const char *url = cv_volume_url(j->src);
    if (e >= 0) {
        e = a >= 0 ? H5Awrite(a, st, &url) : -1;
    }
    if (a >= 0) {
        H5Aclose(a);
    }
    H5Sclose(sp);
    H5Tclose(st);
    if (e < 0) {
        return CV_FAIL(CV_ERR_HDF5, "export: writing the attributes of %s failed", j->dset_name);
    }
    return CV_OK;
}

/* Create (or open) the file and create the dataset. Collective. */
static cv_status export_create(export_job *j)
{
    const cv_export_params *p = j->p;
    const cv_info *si = cv_volume_info(j->src);
    int exists = 0;
    if (cv_mpi_rank() == 0) {
        exists = access(j->file, F_OK) == 0;
    }
    if (cv_mpi_active()) {
        MPI_Bcast(&exists, 1, MPI_INT, 0, MPI_COMM_WORLD);
    }
    hid_t fapl = file_access(true);
    j->fid = exists ? H5Fopen(j->file, H5F_ACC_RDWR, fapl)
                    : H5Fcreate(j->file, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (j->fid < 0) {
        return CV_FAIL(CV_ERR_HDF5, "export: cannot %s %s as HDF5", exists ? "open" : "create",
                       j->file);
    }
    if (exists && H5Lexists(j->fid, j->dset_name, H5P_DEFAULT) > 0) {
        return CV_FAIL(CV_ERR_ARG, "export: %s already has %s", j->file, j->dset_name);
    }
    int64_t n[4] = {j->box.max[0] - j->box.min[0], j->box.max[1] - j->box.min[1],
                    j->box.max[2] - j->box.min[2], j->channels};
    hsize_t dims[4], chunk[4];
    bool is_chunked = p->chunked[0] > 0 || p->gzip > 0;
    for (int i = 0; i < j->rank; i++) {
        int a = j->ax[i];
        dims[i] = (hsize_t)n[a];
        int64_t c = a == AX_C ? n[a] : p->chunked[0] > 0 ? p->chunked[a] : 64;
        chunk[i] = (hsize_t)(c < n[a] ? c : n[a]);
    }
    hid_t sp = H5Screate_simple(j->rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    if (is_chunked) {
        H5Pset_chunk(dcpl, j->rank, chunk);
        if (p->gzip > 0) {
            H5Pset_deflate(dcpl, (unsigned)p->gzip);
        }
    }
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    j->did = H5Dcreate2(j->fid, j->dset_name, native_type(si->dtype), sp, lcpl, dcpl, H5P_DEFAULT);
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(sp);
    if (j->did < 0) {
        return CV_FAIL(CV_ERR_HDF5, "export: cannot create dataset %s in %s", j->dset_name,
                       j->file);
    }
    return write_attrs(j);
}

/* Read task `id` from the layer into slab (dataset order) and give its hyperslab. */
static cv_status export_read(export_job *j, uint64_t id, uint8_t *buf, uint8_t *slab,
                             hsize_t start[4], hsize_t count[4])
{
    cv_bbox box = cv_plan_task_box(&j->plan, id);
    int64_t n[4] = {box.max[0] - box.min[0], box.max[1] - box.min[1], box.max[2] - box.min[2],
                    j->channels};
    size_t bytes = cv_volume_box_bytes(j->src, box);
    CV_TRY(cv_volume_read(j->src, j->mip, box, buf, bytes));
    int64_t ss[4], ds[4];
    xfast_strides(n, ss);
    dataset_strides(j->rank, j->ax, n, ds);
    permute(buf, ss, slab, ds, n, cv_dtype_size(cv_volume_info(j->src)->dtype));
    for (int i = 0; i < j->rank; i++) {
        int a = j->ax[i];
        start[i] = a == AX_C ? 0 : (hsize_t)(box.min[a] - j->box.min[a]);
        count[i] = (hsize_t)n[a];
    }
    j->bytes += bytes;
    return CV_OK;
}

/* Round-robin: in round r rank k writes task r*size+k, or nothing; every H5Dwrite is
 * collective. */
static cv_status export_work(export_job *j)
{
    size_t cap = (size_t)j->plan.task_shape[0] * (size_t)j->plan.task_shape[1] *
                 (size_t)j->plan.task_shape[2] * j->plan_params.bytes_per_voxel;
    uint8_t *buf = cv_malloc(cap ? cap : 1), *slab = cv_malloc(cap ? cap : 1);
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (cv_mpi_active()) {
        H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    }
    hid_t mtype = native_type(cv_volume_info(j->src)->dtype);
    uint64_t size = (uint64_t)cv_mpi_size(), rounds = (j->plan.n_tasks + size - 1) / size;
    bool hdf5_failed = false;
    for (uint64_t r = 0; r < rounds; r++) {
        uint64_t id = r * size + (uint64_t)cv_mpi_rank();
        hsize_t start[4], count[4];
        bool has_data = false;
        if (id < j->plan.n_tasks) {
            cv_err_clear();
            cv_status rc = buf && slab
                               ? export_read(j, id, buf, slab, start, count)
                               : CV_FAIL(CV_ERR_NOMEM, "export: buffers of %zu bytes", 2 * cap);
            if (rc == CV_OK) {
                has_data = true;
            } else {
                cv_failures_note(&j->fail, id, cv_plan_task_box(&j->plan, id), cv_err_last()->what);
                CV_LOG(CV_LOG_ERROR, "task %" PRIu64 " failed: %s", id, cv_err_last()->what);
            }
        }
        hid_t fs = H5Dget_space(j->did);
        hid_t ms;
        if (has_data) {
            ms = H5Screate_simple(j->rank, count, NULL);
            H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
        } else {
            hsize_t one = 1;
            ms = H5Screate_simple(1, &one, NULL);
            H5Sselect_none(ms);
            H5Sselect_none(fs);
        }
        uint8_t dummy = 0;
        herr_t e = H5Dwrite(j->did, mtype, ms, fs, dxpl, slab ? slab : &dummy);
        H5Sclose(ms);
        H5Sclose(fs);
        if (e < 0) {
            hdf5_failed = true;
            if (has_data) {
                cv_failures_note(&j->fail, id, cv_plan_task_box(&j->plan, id), "HDF5 write failed");
            }
        } else if (has_data) {
            j->tasks_done++;
        }
    }
    H5Pclose(dxpl);
    cv_free(buf);
    cv_free(slab);
    if (hdf5_failed) {
        return CV_FAIL(CV_ERR_HDF5, "export: writing %s of %s failed", j->dset_name, j->file);
    }
    return CV_OK;
}

cv_status cv_mpi_export(const cv_export_params *p)
{
    export_job j;
    memset(&j, 0, sizeof j);
    j.p = p;
    j.fid = j.did = H5I_INVALID_HID;
    cv_failures_init(&j.fail);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    cv_opts o = cv_opts_default();
    o.threads = p->threads > 0 ? p->threads : 4;
    o.fill_missing = p->fill_missing;

    cv_status rc = split_spec(p->dst, &j.file, &j.dset_name);
    if (rc == CV_OK) {
        rc = cv_volume_open(p->src, &o, &j.src);
    }
    if (rc == CV_OK) {
        rc = export_setup(&j);
    }
    rc = cv_mpi_agree(rc);
    if (rc == CV_OK) {
        rc = cv_mpi_agree(export_create(&j));
    }
    if (rc == CV_OK) {
        double t0 = cv_now();
        cv_status wrc = export_work(&j);
        double seconds = slowest(cv_now() - t0);
        uint64_t total[2] = {j.tasks_done, j.bytes};
        sum_u64(total, 2);
        uint64_t n_failed;
        char *text = cv_failures_gather(&j.fail, &n_failed);
        if (cv_mpi_rank() == 0) {
            printf("export: %" PRIu64 " of %" PRIu64 " tasks written to %s:%s; %.1f MB in %.1f s "
                   "(%.1f MB/s) on %d rank%s\n",
                   total[0], j.plan.n_tasks, j.file, j.dset_name, (double)total[1] / 1e6, seconds,
                   seconds > 0 ? (double)total[1] / 1e6 / seconds : 0, cv_mpi_size(),
                   cv_mpi_size() == 1 ? "" : "s");
            if (n_failed) {
                fprintf(stderr, "cvmpi: export: %" PRIu64 " task%s failed:\n%s", n_failed,
                        n_failed == 1 ? "" : "s", text ? text : "");
            }
        }
        cv_free(text);
        if (wrc == CV_OK && n_failed) {
            wrc = CV_FAIL(CV_ERR_IO, "export: %" PRIu64 " of %" PRIu64 " tasks failed", n_failed,
                          j.plan.n_tasks);
        }
        rc = cv_mpi_agree(wrc);
    }
    if (j.did >= 0) {
        H5Dclose(j.did);
    }
    if (j.fid >= 0) {
        H5Fclose(j.fid);
    }
    cv_volume_close(j.src);
    cv_free(j.file);
    cv_free(j.dset_name);
    cv_failures_fini(&j.fail);
    return rc;
}
