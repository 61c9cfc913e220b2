/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_h5.c: HDF5 with parallel HDF5 (the MPI-IO driver): the import source of `cvmpi import`
 * (cv_import_source.h; mpi_import.c runs the job), `cvmpi export`, and `cvmpi read -o
 * FILE.h5:/DATASET` / `write -i`; the only file that includes <hdf5.h>. Import: every rank
 * opens the source (one file, or a stack of files along z) and describes it (dtype, shape,
 * channels, resolution attributes; files of a stack must agree but in z); the import's rounds
 * read their slabs with one collective H5Dread per file. Export: rank 0 decides whether the
 * file exists, the dataset and its attributes are created collectively, and tasks go
 * round-robin so every rank makes the same number of collective H5Dwrite calls (needed for
 * gzip-filtered datasets). */
#include "mpi/cv_collective.h"
#include "mpi/cv_source_cache.h"
#include "mpi/cv_h5.h"
#include "mpi/cv_import_source.h"

#include "base/checked.h"
#include "base/filelist.h"
#include "volume/volume.h"

#include "mpi/cv_failures.h"
#include "mpi/cv_plan.h"
#include "mpi/cv_progress.h"
#include "mpi/cv_slab.h"

#include <errno.h>
#include <hdf5.h>
#include <inttypes.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
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

/* ---- import source ----------------------------------------------------------------------- */

/* One file of the source; a stack has several, one after another along z. */
/* One file of the source; a stack has several, one after another along z. */
typedef struct h5_part {
    const char *path;
    hid_t fid, did;
    int64_t z0, nz; /* z range in the stack, from 0 */
} h5_part;

/* The HDF5 import source: every file of a stack stays open for the whole import. */
typedef struct h5_source {
    cv_import_source base;
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
    hid_t dxpl; /* collective transfers (independent without MPI) */
} h5_source;

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
static cv_status open_part(h5_source *j, size_t i)
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
static cv_status open_dataset(h5_source *j)
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
static cv_status check_part(h5_source *j, size_t i, hsize_t dims[4])
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
static cv_status h5_resolution(cv_import_source *s, const cv_import_params *p, double res[3],
                               bool *is_float)
{
    h5_source *j = s->state;
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

/* The source's HDF5 chunks along x,y,z,c (the largest of a stack's files; 0 = contiguous) and
 * whether they are filtered (compressed): HDF5 then decompresses every chunk a read touches
 * into buffers of its own. */
static void source_chunking(h5_source *j)
{
    memset(j->base.chunk, 0, sizeof j->base.chunk);
    j->base.chunk_filtered = false;
    for (size_t f = 0; f < j->n_files; f++) {
        hid_t dcpl = H5Dget_create_plist(j->files[f].did);
        if (dcpl < 0) {
            continue;
        }
        hsize_t c[4];
        if (H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, j->rank, c) == j->rank) {
            for (int i = 0; i < j->rank; i++) {
                int64_t ci = (int64_t)c[i];
                j->base.chunk[j->ax[i]] =
                    ci > j->base.chunk[j->ax[i]] ? ci : j->base.chunk[j->ax[i]];
            }
            j->base.chunk_filtered = j->base.chunk_filtered || H5Pget_nfilters(dcpl) > 0;
        }
        H5Pclose(dcpl);
    }
}

/* Read `piece` (volume coordinates, all channels) into buf, laid out as the dataset (C order of
 * the dataset's axes over the piece's extents). Each file of the stack that `span` touches gets
 * one H5Dread, with an empty selection where the piece misses it, so with a collective dxpl
 * every rank makes the same calls when all pass the same span. buf == NULL (no memory) still
 * takes part, with empty selections, and fails afterwards. */
static cv_status h5_read(cv_import_source *s, cv_bbox span, cv_bbox piece, bool collective,
                         uint8_t *buf)
{
    h5_source *j = s->state;
    const int64_t *off = s->voxel_offset;
    hid_t dxpl = collective ? j->dxpl : H5P_DEFAULT;
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

/* A direct read is possible when the one file holds the dataset contiguous, as its native
 * type, with no user block. */
static bool h5_direct(cv_import_source *s, uint64_t *addr_out, const char **path)
{
    h5_source *j = s->state;
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
    if (addr == HADDR_UNDEF || !same || userblock != 0) {
        return false;
    }
    *addr_out = (uint64_t)addr;
    *path = part->path;
    return true;
}

/* Closing is collective: every rank opened the same files and closes them here. */
static void h5_close(cv_import_source *s)
{
    h5_source *j = s->state;
    for (size_t i = 0; j->files && i < j->n_files; i++) {
        if (j->files[i].did >= 0) {
            H5Dclose(j->files[i].did);
        }
        if (j->files[i].fid >= 0) {
            H5Fclose(j->files[i].fid);
        }
    }
    if (j->dxpl >= 0) {
        H5Pclose(j->dxpl);
    }
    cv_free(j->files);
    cv__filelist_free(j->paths, j->n_files);
    cv_free(j->dset_name);
    cv_free(j);
}

/* The dataset's shape, dtype and axes; a stack's files checked against the first. */
static cv_status h5_describe(cv_import_source *s, const cv_import_params *p)
{
    h5_source *j = s->state;
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
    CV_TRY(cv__import_parse_axes(axes, j->rank, j->dset_name, j->ax));
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
    source_chunking(j);
    s->ndims = j->rank;
    memcpy(s->ax, j->ax, sizeof s->ax);
    s->zdim = j->zdim;
    for (int i = 0; i < j->rank; i++) {
        s->dims[i] = (uint64_t)j->dims[i];
    }
    s->dtype = j->dtype;
    s->n_parts = j->n_files;
    j->channels = 1;
    for (int i = 0; i < j->rank; i++) {
        j->channels = j->ax[i] == AX_C ? (int64_t)j->dims[i] : j->channels;
    }
    return CV_OK;
}

static const cv_import_source_ops h5_ops = {
    .describe = h5_describe,
    .resolution = h5_resolution,
    .read = h5_read,
    .direct = h5_direct,
    .close = h5_close,
};

cv_status cv__h5_source_open(const cv_import_params *p, cv_import_source **out)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    h5_source *j = cv_calloc(1, sizeof *j);
    if (!j) {
        return CV_FAIL(CV_ERR_NOMEM, "import");
    }
    j->p = p;
    j->did = H5I_INVALID_HID;
    j->base.ops = &h5_ops;
    j->base.state = j;
    j->base.chunk_noun = "compressed HDF5 chunks";
    j->dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (j->dxpl >= 0 && cv_mpi_active()) {
        H5Pset_dxpl_mpio(j->dxpl, H5FD_MPIO_COLLECTIVE);
    }
    *out = &j->base;
    CV_TRY(open_dataset(j));
    j->base.name = j->dset_name;
    return CV_OK;
}

/* ---- export ----------------------------------------------------------------------------- */

/* The job took as long as its slowest rank. Collective. */
static double slowest(double seconds)
{
    if (cv_mpi_active()) {
        cv_coll_allreduce(MPI_IN_PLACE, &seconds, 1, MPI_DOUBLE, MPI_MAX, "the job's wall time");
    }
    return seconds;
}

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
    CV_TRY(cv__volume_select_box(j->src, p->mip_text, p->bbox_text, &j->mip, &j->box));
    j->channels = si->num_channels;
    char axes[5];
    snprintf(axes, sizeof axes, "%s", p->axes ? p->axes : "zyx");
    if (strlen(axes) == 3 && j->channels > 1) {
        strcat(axes, "c");
    }
    j->rank = (int)strlen(axes);
    CV_TRY(cv__import_parse_axes(axes, j->rank, j->dset_name, j->ax));
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
    cv_mpi_source_cache(&o);

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
    cv_status rc = cv__import_parse_axes(rank == 4 ? "zyxc" : "zyx", rank, dset, ax);
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
