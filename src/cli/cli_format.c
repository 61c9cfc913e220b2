/* SPDX-License-Identifier: BSD-3-Clause
 * cli_format.c: which array format a `read -o` or `write -i` file has, from --format or the
 * file's extension, so an unknown name is refused instead of silently meaning raw bytes; and
 * whether a `write -i` .npy header fits the box. */
#include "cli/cli.h"

#include "mpi/cv_h5.h"

#include <inttypes.h>
#include <string.h>
#include <strings.h>

static bool ends_with_ci(const char *s, const char *ext)
{
    size_t n = strlen(s), e = strlen(ext);
    return n > e && strcasecmp(s + n - e, ext) == 0;
}

static bool is_h5_name(const char *s)
{
    return ends_with_ci(s, ".h5") || ends_with_ci(s, ".hdf5") || ends_with_ci(s, ".hdf") ||
           ends_with_ci(s, ".he5");
}

int cli_array_format_of(const char *cmd, const char *path, const char *format, bool is_input,
                        cli_array_format *fmt, char **h5_spec)
{
    *h5_spec = NULL;
    const char *flag = is_input ? "-i" : "-o";
    if (format && strcmp(format, "raw") == 0) {
        *fmt = CLI_FMT_RAW;
        return CLI_OK;
    }
    if (format && strcmp(format, "npy") == 0) {
        *fmt = CLI_FMT_NPY;
        return CLI_OK;
    }
    if (format && strcmp(format, "tiff") == 0 && !is_input) {
        *fmt = CLI_FMT_TIFF;
        return CLI_OK;
    }
    if (format && strcmp(format, "h5") != 0) {
        return cli_usage(cmd, "bad --format `%s': want raw, npy or h5%s", format,
                         is_input ? "" : " (or tiff)");
    }
    if (cv_h5_is_spec(path)) {
        *fmt = CLI_FMT_H5;
        *h5_spec = cv__strdup(path);
    } else if (format || is_h5_name(path)) {
        *fmt = CLI_FMT_H5;
        *h5_spec = cv__asprintf("%s:%s", path, CLI_H5_DEFAULT_DATASET);
    } else if (ends_with_ci(path, ".npy")) {
        *fmt = CLI_FMT_NPY;
        return CLI_OK;
    } else if (ends_with_ci(path, ".raw") || ends_with_ci(path, ".bin") || strcmp(path, "-") == 0 ||
               cli_is_stream_path(path)) {
        *fmt = CLI_FMT_RAW;
        return CLI_OK;
    } else if ((ends_with_ci(path, ".tif") || ends_with_ci(path, ".tiff")) && !is_input) {
        *fmt = CLI_FMT_TIFF;
        return CLI_OK;
    } else if (ends_with_ci(path, ".tif") || ends_with_ci(path, ".tiff")) {
        return cli_usage(cmd,
                         "%s `%s': TIFF input is not supported yet; use .npy, .h5 or --format raw",
                         flag, path);
    } else {
        return cli_usage(cmd,
                         "%s `%s': unknown file type; use .npy, .h5[:/DATASET], .raw or .bin, or "
                         "--format raw",
                         flag, path);
    }
    if (!*h5_spec) {
        fprintf(stderr, "cvmpi %s: out of memory\n", cmd);
        return CLI_FAIL;
    }
    return CLI_OK;
}

static void shape_text(const int64_t s[4], char *out, size_t cap)
{
    snprintf(out, cap, "(%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 ")", s[0], s[1], s[2],
             s[3]);
}

cv_status cli_npy_check(const char *input, const uint8_t *file, size_t plen, size_t flen,
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

bool cli_npy_is_xfast(const cv_npy *h, bool zyx, int64_t channels)
{
    return zyx ? !h->fortran_order && channels == 1 : h->fortran_order;
}
