/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_write.c: `cvmpi write`, a .npy, HDF5 or raw file painted into a box of a layer. Raw and
 * x-fastest .npy input is read and written band by band (two buffers of at most a band); other
 * input is read once into one buffer. Input is never read beyond what the box can hold. */
#include "cli/cli.h"

#include "mpi/cv_compress.h"
#include "mpi/cv_h5.h"
#include "mpi/cv_slab.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The largest .npy header cv_npy_parse_header accepts: magic, version, length, dict. */
#define NPY_HEADER_MAX (12 + (1 << 20))

static const char help[] =
    "usage: cvmpi write PATH [--mip M] --bbox X0,Y0,Z0,X1,Y1,Z1 -i FILE [--format raw|npy|h5]\n"
    "                    [--axes xyz|zyx] [--compress gzip|br|none] [--level N]\n"
    "                    [--non-aligned] [--delete-black]\n\n"
    "Write an array into a box of a layer. The format follows FILE's name, as for `cvmpi read':\n"
    "a .npy array of shape (X,Y,Z[,C]) (either memory order); FILE.h5:/DATASET (also .hdf5,\n"
    ".hdf, .he5; a plain FILE.h5 means FILE.h5:" CLI_H5_DEFAULT_DATASET
    ") of dims (Z,Y,X[,C]), as `read -o' writes it;\n"
    "raw little-endian bytes, x fastest, channel slowest, for .raw, .bin, `-' (standard input)\n"
    "and FIFOs. Other names are refused unless --format says what FILE holds. Input longer\n"
    "than the box is refused without reading past the box's size.\n"
    "Raw input and .npy arrays already x fastest go band by band (whole chunks, at most 16 MiB\n"
    "each) into an unsharded scale, so memory is two bands, not the box; a pipe of one channel\n"
    "too, in z order: if it ends early or runs long, the bands before are written (the error\n"
    "says up to which z).\n"
    "The box must be chunk aligned (it may end at the volume edge) unless "
    "--non-aligned.\n" CLI_VOLUME_HELP "  -i, --input FILE\n"
    "  --format F       raw, npy or h5, whatever FILE is called\n"
    "  --axes A         axis order of a .npy or HDF5 array, slowest first in C order: xyz\n"
    "                   (default for .npy, shape X,Y,Z[,C]) or zyx (default for HDF5, shape\n"
    "                   Z,Y,X[,C], as h5py and NumPy C-order arrays indexed [z,y,x] are)\n"
    "  --compress C     transport compression; default as CloudVolume (gzip for raw)\n"
    "  --level N        its level: gzip 0..12 (default 9, as CloudFiles), br 0..11\n"
    "                   (default 5)\n"
    "  --non-aligned    read-modify-write the chunks the box covers partly\n"
    "  --delete-black   delete chunks that are all background instead of writing them\n";

static void shape_text(const int64_t s[4], char *out, size_t cap)
{
    snprintf(out, cap, "(%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 ")", s[0], s[1], s[2],
             s[3]);
}

/* Check a .npy header (parsed from the first `plen` of the file's `flen` bytes) against the box
 * in axis order `zyx` or not. */
static cv_status npy_check(const char *input, const uint8_t *file, size_t plen, size_t flen,
                           const cv_info *info, cv_bbox box, bool zyx, size_t nbytes, cv_npy *out)
{
    cv_npy h;
    CV_TRY(cv_npy_parse_header(file, plen, input, &h));
    if (h.dtype != info->dtype) {
        return CV_FAIL(CV_ERR_ARG, "`%s' holds %s, the layer is %s", input, cv_dtype_name(h.dtype),
                       cv_dtype_name(info->dtype));
    }
    int64_t X = box.max[0] - box.min[0], Y = box.max[1] - box.min[1], Z = box.max[2] - box.min[2];
    int64_t want[4] = {zyx ? Z : X, Y, zyx ? X : Z, info->num_channels};
    int64_t other[4] = {zyx ? X : Z, Y, zyx ? Z : X, info->num_channels};
    if (memcmp(h.shape, want, sizeof want) != 0) {
        char have_t[128], want_t[128];
        shape_text(h.shape, have_t, sizeof have_t);
        shape_text(want, want_t, sizeof want_t);
        if (memcmp(h.shape, other, sizeof other) == 0) {
            return CV_FAIL(CV_ERR_ARG,
                           "`%s' has shape %s, the box transposed: the box needs %s in axis order "
                           "%s; if the array is indexed [%s] (as h5py gives), pass --axes %s",
                           input, have_t, want_t, zyx ? "z,y,x" : "x,y,z", zyx ? "x,y,z" : "z,y,x",
                           zyx ? "xyz" : "zyx");
        }
        return CV_FAIL(CV_ERR_ARG, "`%s' has shape %s, the box needs %s", input, have_t, want_t);
    }
    if (flen - h.data_offset != nbytes) {
        return CV_FAIL(CV_ERR_ARG, "`%s' is truncated: %zu data bytes, want %zu", input,
                       flen - h.data_offset, nbytes);
    }
    *out = h;
    return CV_OK;
}

/* Whether the .npy data already is x fastest, channel slowest: (X,Y,Z,C) in Fortran order, or
 * (Z,Y,X) in C order with one channel. */
static bool npy_is_xfast(const cv_npy *h, bool zyx, int64_t channels)
{
    return zyx ? !h->fortran_order && channels == 1 : h->fortran_order;
}

/* Check a whole .npy file against the box (axis order `zyx` or not) and put its data, x
 * fastest, into *payload: the file's own bytes when they already are in that order, else
 * `data`. */
static cv_status npy_payload(const char *input, const uint8_t *file, size_t flen,
                             const cv_info *info, cv_bbox box, bool zyx, size_t nbytes,
                             uint8_t **data, const uint8_t **payload)
{
    cv_npy h;
    CV_TRY(npy_check(input, file, flen, flen, info, box, zyx, nbytes, &h));
    int64_t X = box.max[0] - box.min[0], Y = box.max[1] - box.min[1], Z = box.max[2] - box.min[2];
    if (npy_is_xfast(&h, zyx, info->num_channels)) {
        *payload = file + h.data_offset; /* already x fastest: no copy */
        return CV_OK;
    }
    *data = cv_malloc(nbytes ? nbytes : 1);
    if (!*data) {
        return CV_FAIL(CV_ERR_NOMEM, "write: %zu bytes", nbytes);
    }
    if (!zyx) {
        cv_npy_to_xyzc(&h, file + h.data_offset, *data);
    } else {
        /* Shape (Z,Y,X,C): the stride of each volume axis in the file's memory order. */
        int64_t n[4] = {X, Y, Z, info->num_channels}, ss[4], ds[4];
        int order[4] = {2, 1, 0, 3}; /* file axis i holds volume axis order[i] */
        int64_t st = 1;
        for (int k = 0; k < 4; k++) {
            int i = h.fortran_order ? k : 3 - k;
            ss[order[i]] = st;
            st *= h.shape[i];
        }
        cv__slab_xfast_strides(n, ds);
        cv__slab_permute(file + h.data_offset, ss, *data, ds, n, cv_dtype_size(info->dtype));
    }
    *payload = *data;
    return CV_OK;
}

/* Raw and x-fastest .npy input goes band by band (cli_band_cells): each band of whole chunk
 * cells is read into one of two kept buffers while the previous one is written, so each chunk
 * is written once and memory is two bands, not the box. A regular file is read at the band's
 * places (pread); a stream (standard input, FIFO, device) in order, so its bands are whole
 * z-slices of the box (one channel only). CVMPI_TEST_WRITE_BAND sets the band's bytes. */
typedef struct band_input {
    int fd;
    const char *shown; /* the input's name in messages */
    bool stream;
    uint64_t base;  /* regular file: the offset of the box's first byte */
    size_t got;     /* stream: bytes read so far */
    size_t nbytes;  /* the box's bytes */
    int64_t box_z0; /* the box's first z, for naming what a failed stream left written */
} band_input;

typedef struct band_read {
    band_input *in;
    uint8_t *buf;
    cv_bbox band, box;
    int64_t channels;
    size_t es;
    bool last;
    cv_status rc;
    cv_err err;
} band_read;

/* What a stream that failed at `band` leaves: the bands before it were written. */
static const char *written_before(const band_read *r, char *out, size_t cap)
{
    if (r->band.min[2] == r->in->box_z0) {
        return "";
    }
    snprintf(out, cap, " (the box's chunks below z=%" PRId64 " are written)", r->band.min[2]);
    return out;
}

static cv_status read_stream_band(band_read *r, size_t bytes)
{
    band_input *in = r->in;
    char note[96];
    for (size_t have = 0; have < bytes;) {
        ssize_t n = read(in->fd, r->buf + have, bytes - have);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return CV_FAIL(CV_ERR_IO, "read `%s': %s%s", in->shown, strerror(errno),
                           written_before(r, note, sizeof note));
        }
        if (n == 0) {
            return CV_FAIL(CV_ERR_ARG, "`%s' has %zu bytes, the box needs %zu%s", in->shown,
                           in->got, in->nbytes, written_before(r, note, sizeof note));
        }
        have += (size_t)n;
        in->got += (size_t)n;
    }
    /* An over-long stream is seen before the last band is written, without reading on. */
    while (r->last) {
        uint8_t extra;
        ssize_t n = read(in->fd, &extra, 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return CV_FAIL(CV_ERR_IO, "read `%s': %s%s", in->shown, strerror(errno),
                           written_before(r, note, sizeof note));
        }
        if (n > 0) {
            return CV_FAIL(CV_ERR_ARG, "`%s' has more than the %zu bytes the box needs%s",
                           in->shown, in->nbytes, written_before(r, note, sizeof note));
        }
        break;
    }
    return CV_OK;
}

static cv_status pread_full(const band_input *in, uint8_t *dst, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = pread(in->fd, dst, len, (off_t)off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return CV_FAIL(CV_ERR_IO, "read `%s': %s", in->shown, strerror(errno));
        }
        if (n == 0) {
            return CV_FAIL(CV_ERR_IO, "read `%s': the file shrank while reading", in->shown);
        }
        dst += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return CV_OK;
}

/* One band's bytes, x fastest, channel slowest, from their places in the input. */
static cv_status read_band(band_read *r)
{
    int64_t b[3], n[3];
    for (int d = 0; d < 3; d++) {
        b[d] = r->band.max[d] - r->band.min[d];
        n[d] = r->box.max[d] - r->box.min[d];
    }
    if (r->in->stream) {
        return read_stream_band(r, (size_t)(b[0] * b[1] * b[2] * r->channels) * r->es);
    }
    /* Runs contiguous in the file: the band's x-rows, or whole rows of the box (one run per
     * plane), or whole planes (one run per channel). */
    bool whole_x = b[0] == n[0], whole_xy = whole_x && b[1] == n[1];
    int64_t ny = whole_x ? 1 : b[1], nz = whole_xy ? 1 : b[2];
    size_t len = (size_t)(b[0] * (whole_x ? b[1] : 1) * (whole_xy ? b[2] : 1)) * r->es;
    int64_t x0 = r->band.min[0] - r->box.min[0], y0 = r->band.min[1] - r->box.min[1],
            z0 = r->band.min[2] - r->box.min[2];
    for (int64_t c = 0; c < r->channels; c++) {
        for (int64_t z = 0; z < nz; z++) {
            for (int64_t y = 0; y < ny; y++) {
                size_t to = (size_t)(((c * b[2] + z) * b[1] + y) * b[0]) * r->es;
                uint64_t at = (uint64_t)(((c * n[2] + z0 + z) * n[1] + y0 + y) * n[0] + x0) * r->es;
                CV_TRY(pread_full(r->in, r->buf + to, len, r->in->base + at));
            }
        }
    }
    return CV_OK;
}

static void *band_reader(void *arg)
{
    band_read *r = arg;
    r->rc = read_band(r);
    if (r->rc != CV_OK) {
        r->err = *cv_err_last();
    }
    return NULL;
}

/* Band `i` of the box: cells of `per` from cmin, cut to the box. */
static cv_bbox band_at(const cv_grid *grid, cv_bbox box, const int64_t cmin[3],
                       const int64_t cmax[3], const int64_t per[3], size_t i, size_t *cells)
{
    int64_t count[3], idx[3];
    for (int d = 0; d < 3; d++) {
        count[d] = (cmax[d] - cmin[d] + per[d] - 1) / per[d];
    }
    idx[0] = (int64_t)i % count[0];
    idx[1] = (int64_t)i / count[0] % count[1];
    idx[2] = (int64_t)i / count[0] / count[1];
    cv_bbox band;
    *cells = 1;
    for (int d = 0; d < 3; d++) {
        int64_t c0 = cmin[d] + idx[d] * per[d];
        int64_t c1 = c0 + per[d] < cmax[d] ? c0 + per[d] : cmax[d];
        int64_t lo = grid->bounds.min[d] + c0 * grid->chunk[d];
        int64_t hi = grid->bounds.min[d] + c1 * grid->chunk[d];
        band.min[d] = lo > box.min[d] ? lo : box.min[d];
        band.max[d] = hi < box.max[d] ? hi : box.max[d];
        *cells *= (size_t)(c1 - c0);
    }
    return band;
}

/* The box from `in`, band by band. The caller checked the input's size (a regular file), that
 * the box lies in the volume, is unsharded, and is aligned or --non-aligned. */
static cv_status write_banded(cv_volume *v, int mip, cv_bbox box, band_input *in)
{
    const cv_info *info = cv_volume_info(v);
    cv_grid grid = cv_info_grid(info, mip);
    size_t es = cv_dtype_size(info->dtype), voxel_bytes = es * (size_t)info->num_channels;
    int64_t cmin[3], cmax[3], cells[3], per[3];
    cv_grid_cells(&grid, box, cmin, cmax);
    for (int d = 0; d < 3; d++) {
        cells[d] = cmax[d] - cmin[d];
    }
    const char *test = getenv("CVMPI_TEST_WRITE_BAND");
    size_t band_bytes = test && *test ? (size_t)strtoull(test, NULL, 10) : CLI_BAND_BYTES;
    int64_t n[3];
    for (int d = 0; d < 3; d++) {
        n[d] = box.max[d] - box.min[d];
    }
    if (in->stream) {
        /* In stream order: whole z-slices of cells (a slice's bytes are at most the box's). */
        int64_t slice_z = grid.chunk[2] < n[2] ? grid.chunk[2] : n[2];
        size_t slice = (size_t)(n[0] * n[1] * slice_z) * voxel_bytes;
        int64_t fit = (int64_t)(band_bytes / slice);
        per[0] = cells[0];
        per[1] = cells[1];
        per[2] = fit < 1 ? 1 : fit > cells[2] ? cells[2] : fit;
    } else {
        cli_band_cells(cells, grid.chunk, voxel_bytes, band_bytes, per);
    }
    size_t n_bands = 1, total = (size_t)(cells[0] * cells[1] * cells[2]), before = 0;
    for (int d = 0; d < 3; d++) {
        n_bands *= (size_t)((cells[d] + per[d] - 1) / per[d]);
    }
    /* The largest band: per cells a side, cut to the box (so within the box's checked size). */
    size_t cap = voxel_bytes;
    for (int d = 0; d < 3; d++) {
        int64_t side = per[d] >= cells[d] || per[d] > n[d] / grid.chunk[d] + 1 ? n[d]
                       : per[d] * grid.chunk[d] < n[d] ? per[d] * grid.chunk[d]
                                                       : n[d];
        cap *= (size_t)side;
    }
    uint8_t *bufs[2] = {cv_malloc(cap), n_bands > 1 ? cv_malloc(cap) : NULL};
    if (!bufs[0] || (n_bands > 1 && !bufs[1])) {
        cv_free(bufs[0]);
        cv_free(bufs[1]);
        return CV_FAIL(CV_ERR_NOMEM, "write: %zu bytes for a band of the box", cap);
    }
    band_read r[2];
    size_t cells_of[2];
    r[0] = (band_read){.in = in,
                       .buf = bufs[0],
                       .band = band_at(&grid, box, cmin, cmax, per, 0, &cells_of[0]),
                       .box = box,
                       .channels = info->num_channels,
                       .es = es,
                       .last = n_bands == 1};
    cv_status rc = read_band(&r[0]);
    for (size_t i = 0; rc == CV_OK && i < n_bands; i++) {
        int k = (int)(i & 1);
        pthread_t reader;
        bool reading = false;
        if (i + 1 < n_bands) {
            r[k ^ 1] = r[k];
            r[k ^ 1].buf = bufs[k ^ 1];
            r[k ^ 1].band = band_at(&grid, box, cmin, cmax, per, i + 1, &cells_of[k ^ 1]);
            r[k ^ 1].last = i + 2 == n_bands;
            if (pthread_create(&reader, NULL, band_reader, &r[k ^ 1]) == 0) {
                reading = true;
            } else {
                band_reader(&r[k ^ 1]);
            }
        }
        cli_box_progress_part(before, total);
        before += cells_of[k];
        rc = cv_volume_write(v, mip, r[k].band, bufs[k],
                             (size_t)cv_bbox_voxels(r[k].band) * voxel_bytes);
        if (reading) {
            pthread_join(reader, NULL);
        }
        if (rc == CV_OK && i + 1 < n_bands && r[k ^ 1].rc != CV_OK) {
            cv__err_set(&r[k ^ 1].err);
            rc = r[k ^ 1].rc;
        }
    }
    cv_free(bufs[0]);
    cv_free(bufs[1]);
    return rc;
}

/* Open `input` for write_banded when it can go band by band: a regular file (raw, or a .npy
 * whose data is x fastest), or a raw stream of one channel. *banded false: use the whole-box
 * path (nothing was read; a stream is not opened). Errors are the whole-box path's. */
static cv_status open_banded(const char *input, cli_array_format fmt, const cv_info *info,
                             cv_bbox box, bool zyx, size_t nbytes, band_input *in, bool *banded)
{
    *banded = false;
    bool is_stdin = strcmp(input, "-") == 0;
    const char *shown = is_stdin ? "standard input" : input;
    struct stat st;
    if (is_stdin ? fstat(STDIN_FILENO, &st) != 0 : stat(input, &st) != 0) {
        return CV_OK; /* the whole-box path names the error */
    }
    bool regular = S_ISREG(st.st_mode);
    if (!regular && (S_ISDIR(st.st_mode) || fmt != CLI_FMT_RAW || info->num_channels != 1)) {
        return CV_OK;
    }
    int fd = is_stdin ? STDIN_FILENO : open(input, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return CV_OK;
    }
    *in = (band_input){
        .fd = fd, .shown = shown, .stream = !regular, .nbytes = nbytes, .box_z0 = box.min[2]};
    cv_status rc = CV_OK;
    off_t pos = 0;
    if (regular && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
                    (pos = lseek(fd, 0, SEEK_CUR)) < 0 || pos > st.st_size)) {
        goto whole; /* changed under us, or an odd standard input */
    }
    uint64_t size = regular ? (uint64_t)(st.st_size - pos) : 0;
    in->base = (uint64_t)pos;
    if (regular && fmt == CLI_FMT_RAW) {
        if (size > nbytes) {
            rc = CV_FAIL(CV_ERR_ARG, "`%s' has %llu bytes, more than the %zu bytes the box needs",
                         shown, (unsigned long long)size, nbytes);
        } else if (size != nbytes) {
            rc = CV_FAIL(CV_ERR_ARG, "`%s' has %llu bytes, the box needs %zu", shown,
                         (unsigned long long)size, nbytes);
        }
    } else if (regular) {
        size_t max = nbytes + NPY_HEADER_MAX; /* the caller checked this fits */
        if (size > max) {
            rc = CV_FAIL(CV_ERR_ARG,
                         "`%s' has %llu bytes, more than the %zu bytes a .npy of the box can have",
                         shown, (unsigned long long)size, max);
        } else {
            size_t plen = size < NPY_HEADER_MAX ? (size_t)size : NPY_HEADER_MAX;
            uint8_t *head = cv_malloc(plen ? plen : 1);
            cv_npy h;
            rc = head ? pread_full(in, head, plen, in->base)
                      : CV_FAIL(CV_ERR_NOMEM, "read `%s': %zu bytes", shown, plen);
            if (rc == CV_OK) {
                rc = npy_check(input, head, plen, (size_t)size, info, box, zyx, nbytes, &h);
            }
            cv_free(head);
            if (rc == CV_OK && !npy_is_xfast(&h, zyx, info->num_channels)) {
                goto whole;
            }
            in->base += h.data_offset;
        }
    }
    if (rc != CV_OK && fd != STDIN_FILENO) {
        close(fd);
    }
    *banded = rc == CV_OK;
    return rc;
whole:
    if (fd != STDIN_FILENO) {
        close(fd);
    }
    return CV_OK;
}

int cmd_write(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_VOLUME_OPTIONS,
        {"input", required_argument, NULL, 'i'},
        {"format", required_argument, NULL, 'F'},
        {"axes", required_argument, NULL, 'A'},
        {"compress", required_argument, NULL, 'c'},
        {"non-aligned", no_argument, NULL, 'n'},
        {"delete-black", no_argument, NULL, 'd'},
        {"level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_volume_args a;
    cli_volume_args_init(&a);
    const char *input = NULL, *format = NULL, *axes = NULL;
    for (int c; (c = cli_getopt(argc, argv, "hi:", opts)) != -1;) {
        int r = cli_volume_option(c, argv[0], &a);
        if (r < 0) {
            return CLI_USAGE;
        }
        if (r > 0) {
            continue;
        }
        switch (c) {
        case 'h':
            return cli_help(help);
        case 'i':
            input = optarg;
            break;
        case 'F':
            format = optarg;
            break;
        case 'A':
            if (strcmp(optarg, "xyz") != 0 && strcmp(optarg, "zyx") != 0) {
                return cli_usage(argv[0], "bad --axes `%s': want xyz or zyx", optarg);
            }
            axes = optarg;
            break;
        case 'c':
            if (!cli_parse_compress(optarg, &a.opts.compress)) {
                return cli_usage(argv[0], "--compress must be gzip, br or none");
            }
            break;
        case 'n':
            a.opts.non_aligned_writes = true;
            break;
        case 'd':
            a.opts.delete_black_uploads = true;
            break;
        case 'l':
            if (!cli_opt_level(argv[0], optarg, &a.opts.compress_level)) {
                return CLI_USAGE;
            }
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        return cli_usage(argv[0], "want exactly one PATH");
    }
    if (!input || !a.bbox_text) {
        return cli_usage(argv[0], "--bbox and -i FILE are required");
    }
    bool has_level = a.opts.compress_level >= 0;
    if (!cli_check_level(argv[0], has_level, a.opts.compress_level, a.opts.compress)) {
        return CLI_USAGE;
    }
    cv_bbox box;
    if (cv_bbox_parse(a.bbox_text, &box) != CV_OK) {
        return cli_usage(argv[0], "%s", cv_err_last()->what);
    }
    cli_array_format fmt;
    char *h5_spec = NULL;
    int u = cli_array_format_of(argv[0], input, format, true, &fmt, &h5_spec);
    if (u != CLI_OK) {
        return u;
    }
    if (axes && fmt == CLI_FMT_RAW) {
        cv_free(h5_spec);
        return cli_usage(argv[0], "--axes applies to .npy and HDF5 input, not raw bytes");
    }
    /* The data frame is the box as given; autocrop only narrows what is written. */
    bool autocrop = a.opts.autocrop;
    a.opts.autocrop = false;
    a.opts.bounded = false;
    cv_volume *v;
    int mip;
    cv_bbox resolved;
    if (cli_open_volume(argv[optind], &a, &v, &mip, &resolved) != CV_OK) {
        cv_free(h5_spec);
        return cli_fail();
    }
    const cv_info *info = cv_volume_info(v);
    const cv_scale *scale = &info->scales[mip];
    if (cv_mpi_check_level(a.opts.compress, has_level, a.opts.compress_level, scale->encoding,
                           scale->key) != CV_OK) {
        cv_volume_close(v);
        cv_free(h5_spec);
        return cli_fail_job(true);
    }
    uint8_t *file = NULL, *data = NULL;
    const uint8_t *payload = NULL;
    size_t flen = 0, nbytes = 0;
    cv_status rc = cv_volume_check_box(v, box, &nbytes);
    bool zyx = axes && strcmp(axes, "zyx") == 0;
    /* Band by band where chunks are whole per band and in the volume; else the whole-box path,
     * which also gives the errors of boxes outside the volume or off the chunk grid. */
    cv_grid grid = cv_info_grid(info, mip);
    if (rc == CV_OK && (fmt == CLI_FMT_RAW || fmt == CLI_FMT_NPY) &&
        nbytes <= SIZE_MAX - NPY_HEADER_MAX && !scale->sharding_json &&
        cv_bbox_contains(cv_info_bounds(info, mip), box) &&
        (a.opts.non_aligned_writes || cv_grid_is_aligned(&grid, box))) {
        band_input in;
        bool banded;
        rc = open_banded(input, fmt, info, box, zyx, nbytes, &in, &banded);
        if (rc == CV_OK && banded) {
            rc = write_banded(v, mip, box, &in);
            if (in.fd != STDIN_FILENO) {
                close(in.fd);
            }
            cv_free(h5_spec);
            cv_volume_close(v);
            return rc == CV_OK ? CLI_OK : cli_fail();
        }
    }
    /* A box whose bytes do not fit is refused before any input is read. */
    if (rc == CV_OK && fmt == CLI_FMT_H5) {
        int64_t shape[3] = {box.max[0] - box.min[0], box.max[1] - box.min[1],
                            box.max[2] - box.min[2]};
        data = cv_malloc(nbytes ? nbytes : 1);
        rc = data ? cv_h5_read_cutout(h5_spec, info->dtype, info->num_channels, shape, axes, data)
                  : CV_FAIL(CV_ERR_NOMEM, "write: %zu bytes", nbytes);
        payload = data;
    } else if (rc == CV_OK && fmt == CLI_FMT_NPY) {
        rc = nbytes > SIZE_MAX - NPY_HEADER_MAX
                 ? CV_FAIL(CV_ERR_ARG, "write: the box is too large")
                 : cli_read_input_max(input, nbytes + NPY_HEADER_MAX,
                                      "bytes a .npy of the box can have", &file, &flen);
        if (rc == CV_OK) {
            rc = npy_payload(input, file, flen, info, box, zyx, nbytes, &data, &payload);
        }
    } else if (rc == CV_OK) {
        rc = cli_read_input_max(input, nbytes, "bytes the box needs", &file, &flen);
        if (rc == CV_OK && flen != nbytes) {
            rc = CV_FAIL(CV_ERR_ARG, "`%s' has %zu bytes, the box needs %zu", input, flen, nbytes);
        }
        payload = file;
    }
    size_t plen = nbytes;
    if (rc == CV_OK) {
        /* Bounds are checked here, against the box as given. */
        cv_bbox bounds = cv_info_bounds(cv_volume_info(v), mip);
        if (!autocrop && !cv_bbox_contains(bounds, box)) {
            char rb[160], bb[160];
            cv_bbox_format(box, rb, sizeof rb);
            cv_bbox_format(bounds, bb, sizeof bb);
            rc = CV_FAIL(CV_ERR_BOUNDS, "write to %s: box %s is outside the volume bounds %s",
                         cv_volume_url(v), rb, bb);
        }
    }
    if (rc == CV_OK) {
        rc = cv_volume_write(v, mip, box, payload, plen);
    }
    cv_free(data);
    cv_free(file);
    cv_free(h5_spec);
    cv_volume_close(v);
    return rc == CV_OK ? CLI_OK : cli_fail();
}
