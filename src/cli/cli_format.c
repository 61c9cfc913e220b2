/* SPDX-License-Identifier: BSD-3-Clause
 * cli_format.c: which array format a `read -o` or `write -i` file has, from --format or the
 * file's extension, so an unknown name is refused instead of silently meaning raw bytes. */
#include "cli/cli.h"

#include "mpi/cv_h5.h"

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
