/* SPDX-License-Identifier: BSD-3-Clause
 * h5_spec.c: the parts of HDF5 support that need no HDF5 library: recognising FILE.h5:/DATASET
 * and parsing --axes (zarr import uses it too). The full program has them without loading its
 * HDF5 module (mpi_h5.c). */
#include "mpi/cv_h5.h"
#include "mpi/cv_import_source.h"
#include "mpi/cv_slab.h"

#include <string.h>
#include <strings.h>

/* Axis letters, slowest first, to axis ids; x, y and z exactly once, c at most once. */
cv_status cv__import_parse_axes(const char *axes, int rank, const char *dset, int ax[4])
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
    if (!seen[CV_AX_X] || !seen[CV_AX_Y] || !seen[CV_AX_Z]) {
        return CV_FAIL(CV_ERR_ARG, "bad --axes `%s': x, y and z are required", axes);
    }
    return CV_OK;
}

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
