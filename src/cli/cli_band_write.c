/* SPDX-License-Identifier: BSD-3-Clause
 * cli_band_write.c: `write -i` of raw and x-fastest .npy input, band by band (cli_band.h): each
 * band of whole chunk cells is read into one of two kept buffers while the previous one is
 * written, so each chunk is written once and memory is two bands, not the box. A regular file
 * is read at the band's places (pread); a stream (standard input, FIFO, device) in order, so
 * its bands are whole z-slices of the box (one channel only). CVMPI_TEST_WRITE_BAND sets the
 * band's bytes. */
#include "cli/cli_band_write.h"
#include "cli/cli_band.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One band's read from the input (on a thread of its own, while the band before is written). */
typedef struct band_read {
    cli_band_input *in;
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
    cli_band_input *in = r->in;
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

static cv_status pread_full(const cli_band_input *in, uint8_t *dst, size_t len, uint64_t off)
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

static cv_status read_run(void *arg, size_t in_band, uint64_t in_box, size_t len)
{
    band_read *r = arg;
    return pread_full(r->in, r->buf + in_band, len, r->in->base + in_box);
}

/* One band's bytes, x fastest, channel slowest, from their places in the input. */
static cv_status read_band(band_read *r)
{
    if (r->in->stream) {
        return read_stream_band(r, (size_t)cv_bbox_voxels(r->band) * (size_t)r->channels * r->es);
    }
    return cli_band_runs(r->band, r->box, r->channels, r->es, read_run, r);
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

cv_status cli_band_write(cv_volume *v, int mip, cv_bbox box, cli_band_input *in)
{
    const cv_info *info = cv_volume_info(v);
    cv_grid grid = cv_info_grid(info, mip);
    size_t es = cv_dtype_size(info->dtype), voxel_bytes = es * (size_t)info->num_channels;
    int64_t cmin[3], cmax[3], cells[3], per[3];
    cv_grid_cells(&grid, box, cmin, cmax);
    for (int d = 0; d < 3; d++) {
        cells[d] = cmax[d] - cmin[d];
    }
    size_t band_bytes = cli_band_bytes("CVMPI_TEST_WRITE_BAND");
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
    size_t n_bands = cli_band_count(cells, per);
    size_t total = (size_t)(cells[0] * cells[1] * cells[2]), before = 0;
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
                       .band = cli_band_at(&grid, box, cmin, cmax, per, 0, &cells_of[0]),
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
            r[k ^ 1].band = cli_band_at(&grid, box, cmin, cmax, per, i + 1, &cells_of[k ^ 1]);
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

cv_status cli_band_input_open(const char *input, cli_array_format fmt, const cv_info *info,
                              cv_bbox box, bool zyx, size_t nbytes, cli_band_input *in,
                              bool *banded)
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
    *in = (cli_band_input){
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
        size_t max = nbytes + CLI_NPY_HEADER_MAX; /* the caller checked this fits */
        if (size > max) {
            rc = CV_FAIL(CV_ERR_ARG,
                         "`%s' has %llu bytes, more than the %zu bytes a .npy of the box can have",
                         shown, (unsigned long long)size, max);
        } else {
            size_t plen = size < CLI_NPY_HEADER_MAX ? (size_t)size : CLI_NPY_HEADER_MAX;
            uint8_t *head = cv_malloc(plen ? plen : 1);
            cv_npy h;
            rc = head ? pread_full(in, head, plen, in->base)
                      : CV_FAIL(CV_ERR_NOMEM, "read `%s': %zu bytes", shown, plen);
            if (rc == CV_OK) {
                rc = cli_npy_check(input, head, plen, (size_t)size, info, box, zyx, nbytes, &h);
            }
            cv_free(head);
            if (rc == CV_OK && !cli_npy_is_xfast(&h, zyx, info->num_channels)) {
                goto whole;
            }
            in->base += h.data_offset;
        }
    }
    if (rc != CV_OK) {
        cli_band_input_close(in);
    }
    *banded = rc == CV_OK;
    return rc;
whole:
    cli_band_input_close(in);
    return CV_OK;
}

void cli_band_input_close(cli_band_input *in)
{
    if (in->fd != STDIN_FILENO) {
        close(in->fd);
    }
}
