/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_h5.c: `cvmpi import` and `cvmpi export` with parallel HDF5 (the MPI-IO driver), and
 * `cvmpi read -o FILE.h5:/DATASET`; the only file that includes <hdf5.h>. Import: every rank
 * opens the source (one file, or a stack of files along z), derives the same info from it
 * (dtype, shape, channels, resolution attributes; files of a stack must agree but in z), rank
 * 0 creates the layer, and tasks (whole chunks, or whole shards) are done in rounds: the ranks
 * read the round's box as slabs with one collective H5Dread per file and trade the pieces
 * (mpi_slab.c) so each task is assembled on its owner, which writes it. --independent reads
 * each task's box on its own instead. Export: rank 0 decides whether the file exists, the
 * dataset and its attributes are created collectively, and tasks go round-robin so every rank
 * makes the same number of collective H5Dwrite calls (needed for gzip-filtered datasets). */
#include "mpi/cv_collective.h"
#include "mpi/cv_compress.h"
#include "mpi/cv_h5.h"

#include "base/checked.h"
#include "base/filelist.h"

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
#include <hdf5.h>
#include <inttypes.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

enum { AX_X = CV_AX_X, AX_Y = CV_AX_Y, AX_Z = CV_AX_Z, AX_C = CV_AX_C };

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

static herr_t innermost(unsigned n, const H5E_error2_t *e, void *data)
{
    if (n == 0 && e->desc && *e->desc) {
        snprintf(data, 160, ": %s", e->desc);
    }
    return 0;
}

/* ": <HDF5's own words>" for the failure just reported on this thread's error stack (the
 * innermost record, e.g. a filter that could not inflate a chunk), or "". */
static const char *h5_cause(char buf[160])
{
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, buf);
    return buf;
}

static void sum_u64(uint64_t *v, int n)
{
    if (cv_mpi_active()) {
        cv_coll_allreduce(MPI_IN_PLACE, v, n, MPI_UINT64_T, MPI_SUM, "the job's totals");
    }
}

/* ---- import ----------------------------------------------------------------------------- */

/* One file of the source; a stack has several, one after another along z. */
typedef struct h5_part {
    const char *path;
    hid_t fid, did;
    int64_t z0, nz; /* z range in the stack, from 0 */
} h5_part;

typedef struct import_job {
    const cv_import_params *p;
    char **paths;
    size_t n_files;
    char *dset_name;
    h5_part *files;
    hid_t did; /* the first file's dataset (attributes) */
    int rank, ax[4];
    int zdim;        /* index of z among the dataset's dimensions */
    hsize_t dims[4]; /* of the whole stack */
    cv_dtype dtype;
    int64_t channels;
    cv_slab_layout layout;
    cv_info *info; /* derived from the dataset */
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
    /* One file, a contiguous dataset stored as its native type, x fastest: the dataset's bytes
     * are read with pread(2) from `direct_fd` (direct_source), the box of a rank's tasks of a
     * round at a time into `direct_buf`, and chunks are cut straight from it with no HDF5
     * read, no slab and no exchange; direct_fd is -1 otherwise. */
    int direct_fd;
    uint64_t direct_addr; /* the dataset's first byte in the file */
    uint8_t *direct_buf;
    size_t direct_cap;
    /* The source's HDF5 chunks along x,y,z,c (the largest of a stack's files; 0 = contiguous)
     * and whether they are filtered (compressed): HDF5 then decompresses every chunk a read
     * touches into buffers of its own. */
    int64_t h5_chunk[4];
    bool h5_filtered;
    int ranks;            /* the ranks sharing each round (1 with --independent) */
    uint64_t round_tasks; /* tasks in a round, at most (spread over the ranks) */
    int cut_axis;         /* the volume axis rounds are cut along into slabs (round_box) */
} import_job;

static const char *dims_text(int rank, const hsize_t *dims, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < rank && n < cap; i++) {
        n +=
            (size_t)snprintf(buf + n, cap - n, "%s%llu", i ? "x" : "", (unsigned long long)dims[i]);
    }
    return buf;
}

/* Open file i of the source and its dataset. Collective (MPI-IO open). */
static cv_status open_part(import_job *j, size_t i)
{
    h5_part *f = &j->files[i];
    f->path = j->paths[i];
    if (access(f->path, R_OK) != 0) {
        return CV_FAIL(CV_ERR_NOTFOUND, "import: cannot read %s: no such file", f->path);
    }
    hid_t fapl = file_access(false);
    f->fid = H5Fopen(f->path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f->fid < 0) {
        return CV_FAIL(CV_ERR_HDF5, "import: %s is not an HDF5 file HDF5 can open", f->path);
    }
    f->did = H5Dopen2(f->fid, j->dset_name, H5P_DEFAULT);
    if (f->did < 0) {
        return CV_FAIL(CV_ERR_NOTFOUND, "import: %s has no dataset %s", f->path, j->dset_name);
    }
    return CV_OK;
}

/* Expand FILE.h5, FILE_*.h5 or @list.txt, then open every file. */
static cv_status open_dataset(import_job *j)
{
    char *pattern = NULL;
    CV_TRY(split_spec(j->p->src, &pattern, &j->dset_name));
    cv_status rc = cv__filelist_expand(pattern, &j->paths, &j->n_files);
    if (rc != CV_OK) {
        cv__err_wrap("import %s", j->p->src);
    }
    cv_free(pattern);
    CV_TRY(rc);
    /* Every file stays open for the whole import: make room for long stacks. */
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max &&
        lim.rlim_cur < (rlim_t)j->n_files + 256) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    j->files = cv_malloc(j->n_files * sizeof *j->files);
    if (!j->files) {
        return CV_FAIL(CV_ERR_NOMEM, "import: %zu files", j->n_files);
    }
    for (size_t i = 0; i < j->n_files; i++) {
        j->files[i].fid = j->files[i].did = H5I_INVALID_HID;
    }
    /* Every rank opens every file: an error on one is an error on all, so the same collective
     * opens happen everywhere. */
    for (size_t i = 0; i < j->n_files; i++) {
        CV_TRY(open_part(j, i));
    }
    j->did = j->files[0].did;
    return CV_OK;
}

/* Dimensions and dtype of file i, checked against the first file's (all but z). */
static cv_status check_part(import_job *j, size_t i, hsize_t dims[4])
{
    h5_part *f = &j->files[i];
    hid_t sp = H5Dget_space(f->did);
    int rank = H5Sget_simple_extent_ndims(sp);
    if (rank == j->rank) {
        H5Sget_simple_extent_dims(sp, dims, NULL);
    }
    H5Sclose(sp);
    if (rank != j->rank) {
        return CV_FAIL(CV_ERR_ARG,
                       "import: stack file %s: dataset %s has %d dimensions, %s has %d; the "
                       "files of a stack must agree in everything but z",
                       f->path, j->dset_name, rank, j->files[0].path, j->rank);
    }
    hid_t t = H5Dget_type(f->did);
    cv_dtype dt;
    cv_status rc = dtype_of(t, j->dset_name, &dt);
    H5Tclose(t);
    if (rc != CV_OK) {
        cv__err_wrap("import: stack file %s", f->path);
        return rc;
    }
    char a[96], b[96];
    bool same = dt == j->dtype;
    for (int d = 0; d < j->rank; d++) {
        same = same && (d == j->zdim || dims[d] == j->dims[d]);
    }
    if (!same) {
        return CV_FAIL(CV_ERR_ARG,
                       "import: stack file %s: dataset %s is %s %s, %s is %s %s; the files of a "
                       "stack must agree in everything but z",
                       f->path, j->dset_name, cv_dtype_name(dt), dims_text(j->rank, dims, a, 96),
                       j->files[0].path, cv_dtype_name(j->dtype),
                       dims_text(j->rank, j->dims, b, 96));
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

/* The text of a scalar string attribute (fixed or variable length) into out. */
static bool read_string_attr(hid_t a, hid_t t, char *out, size_t cap)
{
    hid_t sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    if (n != 1) {
        return false;
    }
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mt, H5Tget_cset(t)); /* h5py writes UTF-8; no conversion between sets */
    bool ok = false;
    if (H5Tis_variable_str(t) > 0) {
        char *p = NULL;
        H5Tset_size(mt, H5T_VARIABLE);
        if (H5Aread(a, mt, &p) >= 0 && p) {
            snprintf(out, cap, "%s", p);
            ok = true;
        }
        H5free_memory(p);
    } else {
        size_t size = H5Tget_size(t);
        char *buf = size < 4096 ? cv_calloc(1, size + 1) : NULL;
        H5Tset_size(mt, size + 1);
        if (buf && H5Aread(a, mt, buf) >= 0) {
            snprintf(out, cap, "%s", buf);
            ok = true;
        }
        cv_free(buf);
    }
    H5Tclose(mt);
    return ok;
}

/* The `resolution` attribute (x,y,z nm): 3 numbers, or a string of 3 numbers ("4,4,40",
 * "[4, 4, 40]"). *found is false if there is none; anything else is refused, not ignored. */
static cv_status resolution_attr(hid_t did, const char *dset, double res[3], bool *found)
{
    *found = false;
    if (H5Aexists(did, "resolution") <= 0) {
        return CV_OK;
    }
    double v[8];
    int n = read_attr(did, "resolution", v, 8);
    if (n == 3) {
        memcpy(res, v, 3 * sizeof v[0]);
        *found = true;
        return CV_OK;
    }
    hid_t a = H5Aopen(did, "resolution", H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    char text[256] = "";
    bool is_text = cls == H5T_STRING && read_string_attr(a, t, text, sizeof text);
    if (t >= 0) {
        H5Tclose(t);
    }
    if (a >= 0) {
        H5Aclose(a);
    }
    if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
        return CV_FAIL(CV_ERR_ARG,
                       "import: the resolution attribute of %s does not hold 3 numbers (x,y,z nm)",
                       dset);
    }
    if (!is_text) {
        return CV_FAIL(CV_ERR_ARG,
                       "import: the resolution attribute of %s is of class %s, want 3 numbers "
                       "(x,y,z nm)",
                       dset, cls == H5T_STRING ? "string (unreadable)" : class_name(cls));
    }
    const char *p = text;
    int got = 0;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '[' || *p == ']' || *p == '(' || *p == ')') {
            p++;
        }
        if (!*p) {
            break;
        }
        char *end;
        double d = strtod(p, &end);
        if (end == p || got == 3 || !(d > 0) || d > 1e12) {
            got = -1;
            break;
        }
        v[got++] = d;
        p = end;
    }
    if (got != 3) {
        return CV_FAIL(CV_ERR_ARG,
                       "import: the resolution attribute of %s is the string `%.80s', not 3 "
                       "positive numbers (x,y,z nm)",
                       dset, text);
    }
    memcpy(res, v, 3 * sizeof v[0]);
    *found = true;
    return CV_OK;
}

/* The resolution: the option (an explicit flag wins), else the `resolution` (x,y,z nm) or
 * `element_size_um` (dataset order, um) attribute; neither is an error, never a silent 1,1,1. */
static cv_status find_resolution(import_job *j, double res[3], bool *is_float)
{
    const cv_import_params *p = j->p;
    double v[8];
    const char *from = NULL;
    int n;
    bool found;
    CV_TRY(resolution_attr(j->did, j->dset_name, v, &found));
    if (found) {
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
    }
    if (p->has_resolution) {
        if (from && memcmp(res, p->resolution, 3 * sizeof res[0]) != 0) {
            CV_LOG(CV_LOG_INFO, "import: --resolution %g,%g,%g used instead of %s of %s (%g,%g,%g)",
                   p->resolution[0], p->resolution[1], p->resolution[2], from, j->dset_name, res[0],
                   res[1], res[2]);
        }
        memcpy(res, p->resolution, 3 * sizeof res[0]);
        from = NULL;
    } else if (!from) {
        return CV_FAIL(CV_ERR_ARG,
                       "import: dataset %s of %s has no resolution attribute (`resolution', x,y,z "
                       "nm, or `element_size_um'); give --resolution X,Y,Z in nm",
                       j->dset_name, j->files[0].path);
    }
    *is_float = p->has_resolution ? p->resolution_is_float : false;
    for (int d = 0; d < 3; d++) {
        *is_float = *is_float || res[d] != floor(res[d]);
    }
    return CV_OK;
}

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

/* Every rank derives the same info from the dataset (the stack's files checked first). */
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
                       "import: dataset %s of %s has %d dimensions; want 3 (z,y,x) or 4 (with "
                       "channels)",
                       j->dset_name, j->files[0].path, j->rank);
    }
    hid_t t = H5Dget_type(j->did);
    cv_status rc = dtype_of(t, j->dset_name, &j->dtype);
    H5Tclose(t);
    if (rc != CV_OK) {
        cv__err_wrap("import %s", j->files[0].path);
        return rc;
    }
    const char *axes = p->axes ? p->axes : j->rank == 3 ? "zyx" : "zyxc";
    CV_TRY(parse_axes(axes, j->rank, j->dset_name, j->ax));
    for (int i = 0; i < j->rank; i++) {
        if (j->ax[i] == AX_Z) {
            j->zdim = i;
        }
    }
    /* A stack: the files follow one another along z. */
    j->files[0].z0 = 0;
    j->files[0].nz = (int64_t)j->dims[j->zdim];
    for (size_t i = 1; i < j->n_files; i++) {
        hsize_t dims[4];
        CV_TRY(check_part(j, i, dims));
        uint64_t z0;
        /* A hostile stack could sum past 2^63: the info check then sees a wrapped size. */
        if (!cv__add_u64((uint64_t)j->files[i - 1].z0, (uint64_t)j->files[i - 1].nz, &z0) ||
            z0 > (uint64_t)INT64_MAX || dims[j->zdim] > (hsize_t)INT64_MAX) {
            return CV_FAIL(CV_ERR_ARG, "import: the stack of %s is more than 2^63 - 1 planes deep",
                           j->dset_name);
        }
        j->files[i].z0 = (int64_t)z0;
        j->files[i].nz = (int64_t)dims[j->zdim];
    }
    uint64_t depth;
    if (!cv__add_u64((uint64_t)j->files[j->n_files - 1].z0, (uint64_t)j->files[j->n_files - 1].nz,
                     &depth) ||
        depth > (uint64_t)INT64_MAX) {
        return CV_FAIL(CV_ERR_ARG, "import: the stack of %s is more than 2^63 - 1 planes deep",
                       j->dset_name);
    }
    j->dims[j->zdim] = (hsize_t)depth;
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
        return CV_FAIL(CV_ERR_ARG, "import: dataset %s has no channels", j->dset_name);
    }
    for (int d = 0; d < 3; d++) {
        if (ip.size[d] < 1) {
            return CV_FAIL(CV_ERR_ARG, "import: dataset %s is empty", j->dset_name);
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
    CV_TRY(find_resolution(j, ip.resolution, &ip.resolution_is_float));
    memcpy(ip.voxel_offset, p->offset, sizeof ip.voxel_offset);
    memcpy(ip.chunk_size, p->chunk_size, sizeof ip.chunk_size);
    rc = cv_info_create(&ip, &j->info);
    if (rc != CV_OK) {
        cv__err_wrap("import: dataset %s", j->dset_name);
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

/* Each exchanged piece must fit MPI's int counts: tasks and rounds stay below this. */
#define ROUND_BYTES_MAX ((size_t)1 << 30)

static void source_chunking(import_job *j)
{
    memset(j->h5_chunk, 0, sizeof j->h5_chunk);
    j->h5_filtered = false;
    for (size_t f = 0; f < j->n_files; f++) {
        hid_t dcpl = H5Dget_create_plist(j->files[f].did);
        if (dcpl < 0) {
            continue;
        }
        hsize_t c[4];
        if (H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, j->rank, c) == j->rank) {
            for (int i = 0; i < j->rank; i++) {
                int64_t ci = (int64_t)c[i];
                j->h5_chunk[j->ax[i]] = ci > j->h5_chunk[j->ax[i]] ? ci : j->h5_chunk[j->ax[i]];
            }
            j->h5_filtered = j->h5_filtered || H5Pget_nfilters(dcpl) > 0;
        }
        H5Pclose(dcpl);
    }
}

static int64_t gcd_i64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Bytes of the filtered HDF5 chunks a read of `n` voxels (x,y,z) touches, decompressed, plus
 * one chunk being decompressed; 0 for unfiltered sources. Along an axis where the read starts
 * on the task lattice (step[d] > 0, a multiple of it from the dataset's origin) it starts at
 * most c - gcd(step, c) into a chunk, elsewhere c - 1; each file of a stack it crosses along z
 * may add a chunk. */
static double h5_chunk_bytes(const import_job *j, const int64_t n[3], const int64_t step[3])
{
    if (!j->h5_filtered) {
        return 0;
    }
    double touched = (double)cv_dtype_size(j->dtype), one = touched;
    for (int d = 0; d < 3; d++) {
        int64_t c = j->h5_chunk[d] > 0 ? j->h5_chunk[d] : 1;
        bool stack = d == AX_Z && j->n_files > 1;
        int64_t off = c - (step[d] > 0 && !stack ? gcd_i64(step[d], c) : 1);
        int64_t cells = (off + n[d] - 1) / c + 1;
        if (stack) {
            cells += (n[d] < (int64_t)j->n_files ? n[d] : (int64_t)j->n_files) - 1;
        } else {
            int64_t whole = ((int64_t)j->info->scales[0].size[d] + c - 1) / c;
            cells = cells < whole ? cells : whole;
        }
        touched *= (double)(cells * c);
        one *= (double)c;
    }
    int64_t cc = j->h5_chunk[AX_C] > 0 ? j->h5_chunk[AX_C] : 1;
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
    double threads = j->p->threads > 0 ? (double)j->p->threads : 4;
    double workers = chunks < threads ? chunks : threads;
    /* raw chunks go out as cut from the task: no encoded copy */
    const cv_scale *s0 = &j->dst_info->scales[0];
    double per_chunk = strcmp(s0->encoding, "raw") == 0 ? 2 : 3;
    double bytes = workers * per_chunk * chunk + (pp->align[1][0] > 0 ? task : 0);
    int64_t step[3] = {shape[0], shape[1], shape[2]};
    if (j->p->is_independent) {
        return bytes + 2 * task + h5_chunk_bytes(j, held, step);
    }
    uint64_t owned = (group + (uint64_t)ranks - 1) / (uint64_t)ranks;
    int C = round_box(j, shape, group, ranks, piece);
    piece[C] = (piece[C] + ranks - 1) / ranks;
    step[C] = ranks == 1 && !s_anywhere ? step[C] : 0; /* pieces cut N ways start anywhere */
    double slab =
        (double)pp->bytes_per_voxel * (double)piece[0] * (double)piece[1] * (double)piece[2];
    return bytes + 2 * slab + 2 * (double)owned * task + h5_chunk_bytes(j, piece, step);
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
    if (j->h5_filtered) {
        snprintf(chunks, sizeof chunks,
                 " and the %" PRId64 "x%" PRId64 "x%" PRId64 " compressed HDF5 chunks its slab "
                 "touches",
                 j->h5_chunk[0], j->h5_chunk[1], j->h5_chunk[2]);
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
    source_chunking(j);
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

/* Read `piece` (volume coordinates, all channels) into buf, laid out as the dataset (C order of
 * the dataset's axes over the piece's extents). Each file of the stack that `span` touches gets
 * one H5Dread, with an empty selection where the piece misses it, so with a collective dxpl
 * every rank makes the same calls when all pass the same span. buf == NULL (no memory) still
 * takes part, with empty selections, and fails afterwards. */
static cv_status read_piece(import_job *j, cv_bbox span, cv_bbox piece, hid_t dxpl, uint8_t *buf)
{
    const int64_t *off = j->info->scales[0].voxel_offset;
    bool has_piece = !cv_bbox_is_empty(piece) && buf;
    int64_t n[4] = {piece.max[0] - piece.min[0], piece.max[1] - piece.min[1],
                    piece.max[2] - piece.min[2], j->channels};
    hsize_t mdims[4], one = 1;
    for (int i = 0; i < j->rank; i++) {
        mdims[i] = has_piece ? (hsize_t)n[j->ax[i]] : 1;
    }
    bool failed = false;
    uint8_t dummy[8];
    for (size_t f = 0; f < j->n_files; f++) {
        const h5_part *part = &j->files[f];
        int64_t z0 = off[2] + part->z0, z1 = z0 + part->nz;
        if (span.max[2] <= z0 || span.min[2] >= z1) {
            continue;
        }
        int64_t lo = piece.min[2] > z0 ? piece.min[2] : z0;
        int64_t hi = piece.max[2] < z1 ? piece.max[2] : z1;
        bool has_part = has_piece && lo < hi;
        hid_t fs = H5Dget_space(part->did);
        hid_t ms =
            has_part ? H5Screate_simple(j->rank, mdims, NULL) : H5Screate_simple(1, &one, NULL);
        herr_t e = 0;
        if (has_part) {
            hsize_t fstart[4], mstart[4], count[4];
            for (int i = 0; i < j->rank; i++) {
                int a = j->ax[i];
                if (a == AX_C) {
                    fstart[i] = mstart[i] = 0;
                    count[i] = (hsize_t)j->channels;
                } else if (a == AX_Z) {
                    fstart[i] = (hsize_t)(lo - z0);
                    mstart[i] = (hsize_t)(lo - piece.min[2]);
                    count[i] = (hsize_t)(hi - lo);
                } else {
                    fstart[i] = (hsize_t)(piece.min[a] - off[a]);
                    mstart[i] = 0;
                    count[i] = (hsize_t)n[a];
                }
            }
            e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, fstart, NULL, count, NULL);
            if (e >= 0) {
                e = H5Sselect_hyperslab(ms, H5S_SELECT_SET, mstart, NULL, count, NULL);
            }
        } else {
            H5Sselect_none(ms);
            H5Sselect_none(fs);
        }
        if (e >= 0) {
            e = H5Dread(part->did, native_type(j->dtype), ms, fs, dxpl, has_part ? buf : dummy);
        }
        if (e < 0 && !failed) {
            failed = true;
            char box[160], cause[160];
            cv_bbox_format(piece, box, sizeof box);
            CV_FAIL(CV_ERR_HDF5, "import: reading %s of %s (box %s) failed%s", j->dset_name,
                    part->path, box, h5_cause(cause));
        }
        H5Sclose(ms);
        H5Sclose(fs);
    }
    if (failed) {
        return cv_err_last()->code;
    }
    if (!buf && !cv_bbox_is_empty(piece)) {
        return CV_FAIL(CV_ERR_NOMEM, "import: slab buffer of %zu bytes",
                       (size_t)cv_bbox_voxels(piece) * (size_t)j->channels *
                           cv_dtype_size(j->dtype));
    }
    return CV_OK;
}

/* The file opened for direct reads (see import_job.direct_fd), or -1 when any condition
 * fails or the file does not hold the dataset's bytes (HDF5's read then names the problem). */
static int direct_open(import_job *j)
{
    if (j->n_files != 1 || !cv__slab_is_xfast(&j->layout) || getenv("CV_IMPORT_NO_DIRECT")) {
        return -1;
    }
    const h5_part *part = &j->files[0];
    haddr_t addr = H5Dget_offset(part->did);
    hid_t ftype = H5Dget_type(part->did), plist = H5Fget_create_plist(part->fid);
    hsize_t userblock = 1;
    bool same = ftype >= 0 && H5Tequal(ftype, native_type(j->dtype)) > 0;
    if (plist >= 0 && H5Pget_userblock(plist, &userblock) < 0) {
        userblock = 1;
    }
    if (ftype >= 0) {
        H5Tclose(ftype);
    }
    if (plist >= 0) {
        H5Pclose(plist);
    }
    uint64_t bytes = cv_dtype_size(j->dtype); /* dims include the channel axis, if any */
    bool fits = true;
    for (int i = 0; i < j->rank; i++) {
        fits = fits && cv__mul_u64(bytes, (uint64_t)j->dims[i], &bytes);
    }
    if (addr == HADDR_UNDEF || !same || userblock != 0 || bytes == 0 || !fits) {
        return -1;
    }
    int fd = open(part->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        return -1;
    }
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < (uint64_t)addr + bytes) {
        close(fd);
        return -1;
    }
    j->direct_addr = (uint64_t)addr;
    CV_LOG(CV_LOG_INFO, "import: %s of %s read directly (%llu bytes at offset %llu)", j->dset_name,
           part->path, (unsigned long long)bytes, (unsigned long long)addr);
    return fd;
}

/* Direct reads when every rank can make them (the slab round is then skipped altogether: each
 * rank reads the box of its own tasks); else direct_fd stays -1 on every rank and the slab
 * path runs. */
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
    const char *path = j->files[0].path;
    while (len > 0) {
        ssize_t got = pread(j->direct_fd, dst, len, (off_t)off);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            return CV_FAIL(CV_ERR_IO, "import: reading %s of %s at byte %llu: %s", j->dset_name,
                           path, (unsigned long long)off, strerror(errno));
        }
        if (got == 0) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           "import: %s ends at byte %llu, inside dataset %s: the file was cut "
                           "short during the import",
                           path, (unsigned long long)off, j->dset_name);
        }
        dst += got;
        off += (uint64_t)got;
        len -= (size_t)got;
    }
    return CV_OK;
}

/* The runs of bytes of a direct read (see direct_read): run r is the r-th combination of the
 * indices of axes 0..k-1 between lo and hi (axis k-1 fastest), each `run` bytes from
 * axis k's lo on; pieces of at most DIRECT_PIECE bytes (several runs, or part of one) are
 * read on the chunk threads. */
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
    const hsize_t *dims = d->j->dims;
    uint64_t lin = 0;
    for (int i = 0; i < d->k; i++) {
        lin = lin * (uint64_t)dims[i] + idx[i];
    }
    lin = lin * (uint64_t)dims[d->k] + d->lo[d->k];
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
            return CV_FAIL(CV_ERR_NOMEM, "import: %zu bytes to read %s", total, j->dset_name);
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
    int threads = j->p->threads > 0 ? j->p->threads : 4;
    return cv__parallel_for(pieces, threads, read_direct_piece, &d);
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
    CV_TRY(read_piece(j, box, box, H5P_DEFAULT, slab));
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

/* One round: read the group box as slabs along `axis` (collective H5Dread), trade the pieces,
 * write the owned tasks. Every rank calls this with the same tasks. */
static void slab_round(import_job *j, const round_tasks *rt, int axis, hid_t dxpl,
                       cv_slab_scratch *sc)
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
    cv_bbox piece = cv__slab_piece(round.group, axis, rank, size);
    size_t slab_bytes =
        (size_t)cv_bbox_voxels(piece) * (size_t)j->channels * cv_dtype_size(j->dtype);
    uint8_t *slab = cv__slab_reserve(&sc->slab, &sc->slab_cap, slab_bytes) ? sc->slab : NULL;
    cv_status rc = cv_mpi_agree(read_piece(j, round.group, piece, dxpl, slab));
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
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (cv_mpi_active()) {
        H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    }
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
                    slab_round(j, &rt, j->cut_axis, dxpl, &scratch);
                }
                test_delay();
            }
        }
    }
out:
    cv__slab_scratch_fini(&scratch);
    H5Pclose(dxpl);
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
    int n_ranks = cv_mpi_plan_ranks();
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
               "%s per task, expected peak %.1f MB per rank (budget %.1f MB), %d rank%s\n",
               size_text(all, b[0]), size_text(task, b[1]), peak / 1e6, (double)pp->memory / 1e6,
               n_ranks, n_ranks == 1 ? "" : "s");
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
           "(budget %.1f MB), %d rank%s\n",
           g.rounds, group, axis_name[j->cut_axis], j->ranks, size_text(all, b[0]),
           size_text(task, b[1]), peak / 1e6, (double)pp->memory / 1e6, j->ranks,
           j->ranks == 1 ? "" : "s");
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
    j.did = H5I_INVALID_HID;
    cv_failures_init(&j.fail);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    cv_opts o = cv_opts_default();
    o.threads = p->threads > 0 ? p->threads : 4;
    o.compress = p->compress;
    o.compress_level = p->has_level ? p->level : -1;
    o.fill_missing = true;

    cv_status rc = cv_mpi_agree(open_dataset(&j));
    if (rc == CV_OK) {
        rc = cv_mpi_agree(describe_dataset(&j));
    }
    if (rc == CV_OK) {
        const cv_scale *s0 = &j.info->scales[0];
        rc = cv_mpi_agree(
            cv_mpi_check_level(p->compress, p->has_level, p->level, s0->encoding, s0->key));
        if (rc != CV_OK && p->conflict) {
            *p->conflict = true;
        }
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
    /* Closing is collective: every rank opened the same files and closes them here. */
    for (size_t i = 0; j.files && i < j.n_files; i++) {
        if (j.files[i].did >= 0) {
            H5Dclose(j.files[i].did);
        }
        if (j.files[i].fid >= 0) {
            H5Fclose(j.files[i].fid);
        }
    }
    cv_free(j.files);
    cv__filelist_free(j.paths, j.n_files);
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

/* The attributes export and `read -o FILE.h5:/D` give a dataset: resolution (nm, x,y,z),
 * voxel_offset (x,y,z of the box) and source (the layer's URL). */
static cv_status write_attrs(hid_t did, const double res[3], const int64_t offset[3],
                             const char *url, const char *dset_name)
{
    hsize_t three = 3;
    hid_t sp = H5Screate_simple(1, &three, NULL);
    hid_t a = H5Acreate2(did, "resolution", H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a >= 0 ? H5Awrite(a, H5T_NATIVE_DOUBLE, res) : -1;
    if (a >= 0) {
        H5Aclose(a);
    }
    a = H5Acreate2(did, "voxel_offset", H5T_NATIVE_INT64, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (e >= 0) {
        e = a >= 0 ? H5Awrite(a, H5T_NATIVE_INT64, offset) : -1;
    }
    if (a >= 0) {
        H5Aclose(a);
    }
    H5Sclose(sp);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, H5T_VARIABLE);
    H5Tset_cset(st, H5T_CSET_UTF8);
    sp = H5Screate(H5S_SCALAR);
    a = H5Acreate2(did, "source", st, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (e >= 0) {
        e = a >= 0 ? H5Awrite(a, st, &url) : -1;
    }
    if (a >= 0) {
        H5Aclose(a);
    }
    H5Sclose(sp);
    H5Tclose(st);
    if (e < 0) {
        return CV_FAIL(CV_ERR_HDF5, "writing the attributes of %s failed", dset_name);
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
        cv_coll_bcast(&exists, 1, MPI_INT, 0, "the check whether the file exists");
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
    return write_attrs(j->did, si->scales[j->mip].resolution, j->box.min, cv_volume_url(j->src),
                       j->dset_name);
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
    cv__slab_xfast_strides(n, ss);
    cv_slab_layout l = {.ndims = j->rank, .channels = j->channels};
    memcpy(l.ax, j->ax, sizeof l.ax);
    cv__slab_strides(&l, n, ds);
    cv__slab_permute(buf, ss, slab, ds, n, cv_dtype_size(cv_volume_info(j->src)->dtype));
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
            cv_coll_task(id);
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
        cv_coll_task(UINT64_MAX);
        if (cv_mpi_active()) { /* the collective H5Dwrite has no deadline: meet here first */
            cv_coll_barrier("the round's HDF5 write");
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

/* ---- cutouts (`cvmpi read -o FILE.h5:/DATASET`) ----------------------------------------- */

bool cv_h5_is_spec(const char *s)
{
    const char *sep = NULL;
    for (const char *p = strstr(s, ":/"); p; p = strstr(p + 1, ":/")) {
        sep = p;
    }
    if (!sep || !sep[2]) {
        return false;
    }
    static const char *const exts[] = {".h5", ".hdf5", ".hdf", ".he5"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t n = strlen(exts[i]);
        if ((size_t)(sep - s) > n && strncasecmp(sep - n, exts[i], n) == 0) {
            return true;
        }
    }
    return false;
}

/* Create the dataset in an open file and write the whole cutout (dataset order) into it. */
static cv_status write_cutout_dataset(hid_t fid, const char *dset, const char *file,
                                      const cv_h5_cutout *c, const int ax[4], int rank,
                                      const uint8_t *slab)
{
    int64_t n[4] = {c->box.max[0] - c->box.min[0], c->box.max[1] - c->box.min[1],
                    c->box.max[2] - c->box.min[2], c->channels};
    hsize_t dims[4];
    for (int i = 0; i < rank; i++) {
        dims[i] = (hsize_t)n[ax[i]];
    }
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t did = H5Dcreate2(fid, dset, native_type(c->dtype), sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    H5Sclose(sp);
    if (did < 0) {
        return CV_FAIL(CV_ERR_HDF5, "read: cannot create dataset %s in %s", dset, file);
    }
    cv_status rc = CV_OK;
    if (H5Dwrite(did, native_type(c->dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, slab) < 0) {
        rc = CV_FAIL(CV_ERR_HDF5, "read: writing %s of %s failed", dset, file);
    }
    if (rc == CV_OK) {
        rc = write_attrs(did, c->resolution, c->box.min, c->source, dset);
    }
    if (H5Dclose(did) < 0 && rc == CV_OK) {
        rc = CV_FAIL(CV_ERR_HDF5, "read: closing %s of %s failed", dset, file);
    }
    return rc;
}

cv_status cv_h5_write_cutout(const char *spec, const cv_h5_cutout *c, const void *data)
{
    char *file = NULL, *dset = NULL;
    CV_TRY(split_spec(spec, &file, &dset));
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int ax[4], rank = c->channels > 1 ? 4 : 3;
    cv_status rc = parse_axes(rank == 4 ? "zyxc" : "zyx", rank, dset, ax);
    int64_t n[4] = {c->box.max[0] - c->box.min[0], c->box.max[1] - c->box.min[1],
                    c->box.max[2] - c->box.min[2], c->channels};
    size_t es = cv_dtype_size(c->dtype);
    size_t bytes = (size_t)cv_bbox_voxels(c->box) * (size_t)c->channels * es;
    uint8_t *slab = NULL;
    if (rc == CV_OK) {
        slab = cv_malloc(bytes ? bytes : 1);
        rc = slab ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "read: %zu bytes for %s", bytes, spec);
    }
    if (rc == CV_OK) {
        cv_slab_layout l = {.ndims = rank, .channels = c->channels, .elem_size = es};
        memcpy(l.ax, ax, sizeof l.ax);
        int64_t ss[4], ds[4];
        cv__slab_xfast_strides(n, ss);
        cv__slab_strides(&l, n, ds);
        cv__slab_permute(data, ss, slab, ds, n, es);
    }
    if (rc == CV_OK && access(file, F_OK) == 0) {
        /* Add to an existing file; a failed dataset is unlinked again. */
        hid_t fid = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
        if (fid < 0) {
            rc = CV_FAIL(CV_ERR_HDF5, "read: cannot open %s as HDF5 for writing", file);
        } else if (H5Lexists(fid, dset, H5P_DEFAULT) > 0) {
            rc = CV_FAIL(CV_ERR_ARG, "read: %s already has %s", file, dset);
        } else {
            rc = write_cutout_dataset(fid, dset, file, c, ax, rank, slab);
            if (rc != CV_OK && H5Lexists(fid, dset, H5P_DEFAULT) > 0) {
                H5Ldelete(fid, dset, H5P_DEFAULT);
            }
        }
        if (fid >= 0 && H5Fclose(fid) < 0 && rc == CV_OK) {
            rc = CV_FAIL(CV_ERR_HDF5, "read: closing %s failed", file);
        }
    } else if (rc == CV_OK) {
        /* A new file appears whole or not at all: written beside it, then renamed. */
        char *tmp = cv__asprintf("%s.tmp-%ld", file, (long)getpid());
        hid_t fid = tmp ? H5Fcreate(tmp, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT) : -1;
        if (!tmp) {
            rc = CV_FAIL(CV_ERR_NOMEM, "read: %s", file);
        } else if (fid < 0) {
            rc = CV_FAIL(CV_ERR_IO, "read: cannot create %s (written as %s, then renamed)", file,
                         tmp);
        } else {
            rc = write_cutout_dataset(fid, dset, file, c, ax, rank, slab);
            if (H5Fclose(fid) < 0 && rc == CV_OK) {
                rc = CV_FAIL(CV_ERR_HDF5, "read: closing %s failed", tmp);
            }
            if (rc == CV_OK && rename(tmp, file) != 0) {
                rc =
                    CV_FAIL(CV_ERR_IO, "read: rename `%s' to `%s': %s", tmp, file, strerror(errno));
            }
            if (rc != CV_OK) {
                unlink(tmp);
            }
        }
        cv_free(tmp);
    }
    cv_free(slab);
    cv_free(file);
    cv_free(dset);
    return rc;
}

/* ---- cutouts in (`cvmpi write -i FILE.h5:/DATASET`) ------------------------------------- */

/* "(A, B, C)" of n dims. */
static void dims_list(int n, const hsize_t *d, char *out, size_t cap)
{
    size_t k = (size_t)snprintf(out, cap, "(");
    for (int i = 0; i < n && k < cap; i++) {
        k += (size_t)snprintf(out + k, cap - k, "%s%llu", i ? ", " : "", (unsigned long long)d[i]);
    }
    if (k < cap) {
        snprintf(out + k, cap - k, ")");
    }
}

static cv_status read_cutout_dataset(hid_t did, const char *spec, cv_dtype dtype, int64_t channels,
                                     const int64_t shape[3], const char *axes, void *data)
{
    hid_t t = H5Dget_type(did);
    cv_dtype have;
    cv_status rc = dtype_of(t, spec, &have);
    H5Tclose(t);
    CV_TRY(rc);
    if (have != dtype) {
        return CV_FAIL(CV_ERR_ARG, "`%s' holds %s, the layer is %s", spec, cv_dtype_name(have),
                       cv_dtype_name(dtype));
    }
    hid_t sp = H5Dget_space(did);
    int rank = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[4] = {0, 0, 0, 0};
    if (rank >= 1 && rank <= 4) {
        H5Sget_simple_extent_dims(sp, dims, NULL);
    }
    H5Sclose(sp);
    int want_rank = channels > 1 ? 4 : 3;
    bool zyx = !axes || strcmp(axes, "zyx") == 0;
    int ax[4] = {zyx ? AX_Z : AX_X, AX_Y, zyx ? AX_X : AX_Z, AX_C};
    int64_t n[4] = {shape[0], shape[1], shape[2], channels};
    bool same = rank == want_rank || (rank == 4 && channels == 1);
    bool transposed = same;
    for (int i = 0; i < 4 && i < rank; i++) {
        int other = ax[i] == AX_X ? AX_Z : ax[i] == AX_Z ? AX_X : ax[i];
        same = same && (int64_t)dims[i] == n[ax[i]];
        transposed = transposed && (int64_t)dims[i] == n[other];
    }
    if (!same) {
        char have_t[128], want_t[128];
        hsize_t want[4];
        for (int i = 0; i < 4; i++) {
            want[i] = (hsize_t)n[ax[i]];
        }
        dims_list(rank, dims, have_t, sizeof have_t);
        dims_list(want_rank, want, want_t, sizeof want_t);
        if (transposed) {
            return CV_FAIL(CV_ERR_ARG,
                           "`%s' has dims %s, the box transposed: the box needs %s in axis order "
                           "%s; if the dataset is stored %s slowest first, pass --axes %s",
                           spec, have_t, want_t, zyx ? "z,y,x" : "x,y,z", zyx ? "x,y,z" : "z,y,x",
                           zyx ? "xyz" : "zyx");
        }
        return CV_FAIL(CV_ERR_ARG, "`%s' has dims %s, the box needs %s (axis order %s)", spec,
                       have_t, want_t, zyx ? "z,y,x" : "x,y,z");
    }
    size_t es = cv_dtype_size(dtype);
    size_t bytes = (size_t)(n[0] * n[1] * n[2] * n[3]) * es;
    uint8_t *slab = cv_malloc(bytes ? bytes : 1);
    if (!slab) {
        return CV_FAIL(CV_ERR_NOMEM, "write: %zu bytes for %s", bytes, spec);
    }
    rc = CV_OK;
    if (H5Dread(did, native_type(dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, slab) < 0) {
        rc = CV_FAIL(CV_ERR_HDF5, "write: reading %s failed", spec);
    } else {
        cv_slab_layout l = {.ndims = rank, .channels = channels, .elem_size = es};
        memcpy(l.ax, ax, sizeof l.ax);
        int64_t ss[4], ds[4];
        cv__slab_strides(&l, n, ss);
        cv__slab_xfast_strides(n, ds);
        cv__slab_permute(slab, ss, data, ds, n, es);
    }
    cv_free(slab);
    return rc;
}

cv_status cv_h5_read_cutout(const char *spec, cv_dtype dtype, int64_t channels,
                            const int64_t shape[3], const char *axes, void *data)
{
    char *file = NULL, *dset = NULL;
    CV_TRY(split_spec(spec, &file, &dset));
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    cv_status rc = CV_OK;
    hid_t fid = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t did = H5I_INVALID_HID;
    if (fid < 0) {
        rc = CV_FAIL(CV_ERR_HDF5, "write: cannot open `%s' as HDF5", file);
    } else if (H5Lexists(fid, dset, H5P_DEFAULT) <= 0 ||
               (did = H5Dopen2(fid, dset, H5P_DEFAULT)) < 0) {
        rc = CV_FAIL(CV_ERR_ARG, "write: `%s' has no dataset %s", file, dset);
    } else {
        rc = read_cutout_dataset(did, spec, dtype, channels, shape, axes, data);
    }
    if (did >= 0) {
        H5Dclose(did);
    }
    if (fid >= 0) {
        H5Fclose(fid);
    }
    cv_free(file);
    cv_free(dset);
    return rc;
}
