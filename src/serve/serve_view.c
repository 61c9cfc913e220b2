/* SPDX-License-Identifier: BSD-3-Clause
 * serve_view.c: the data behind the built-in slice viewer (/view, view.html embedded at build
 * time): GET /view/slice?mip=M&z=Z answers one whole xy slice of the layer, decoded by cvmpi
 * (so every encoding cvmpi reads can be viewed), as raw little-endian voxels, x fastest, then
 * y, channel slowest. Missing chunks read as the background. No MPI here. */
#include "serve/serve.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

cv_status cv__serve_slice(cv_volume *v, const char *mip_text, const char *z_text, size_t max_bytes,
                          uint8_t **data, size_t *len, int64_t shape[3])
{
    const cv_info *info = cv_volume_info(v);
    int mip;
    CV_TRY(cv_info_select_mip(info, mip_text && *mip_text ? mip_text : "0", &mip));
    cv_bbox box = cv_info_bounds(info, mip);
    if (!z_text || !*z_text) {
        return CV_FAIL(CV_ERR_ARG, "missing parameter z (?mip=M&z=Z)");
    }
    char *end;
    long long z = strtoll(z_text, &end, 10);
    if (*end != '\0' || end == z_text) {
        return CV_FAIL(CV_ERR_ARG, "z `%.40s' is not an integer", z_text);
    }
    if (z < box.min[2] || z >= box.max[2]) {
        return CV_FAIL(CV_ERR_BOUNDS, "z %lld is outside [%" PRId64 ", %" PRId64 ") at mip %d", z,
                       box.min[2], box.max[2], mip);
    }
    box.min[2] = z;
    box.max[2] = z + 1;
    size_t n;
    CV_TRY(cv_volume_check_box(v, box, &n));
    if (n > max_bytes) {
        return CV_FAIL(CV_ERR_ARG,
                       "a slice at mip %d is %zu bytes, more than %zu: choose a "
                       "coarser mip",
                       mip, n, max_bytes);
    }
    uint8_t *buf = cv_malloc(n);
    if (!buf) {
        return CV_FAIL(CV_ERR_NOMEM, "slice: out of memory (%zu bytes)", n);
    }
    cv_status rc = cv_volume_read(v, mip, box, buf, n);
    if (rc != CV_OK) {
        cv_free(buf);
        return rc;
    }
    shape[0] = box.max[0] - box.min[0];
    shape[1] = box.max[1] - box.min[1];
    shape[2] = info->num_channels;
    *data = buf;
    *len = n;
    return CV_OK;
}
