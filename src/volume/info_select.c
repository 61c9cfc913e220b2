/* SPDX-License-Identifier: BSD-3-Clause
 * info_select.c: choosing a mip from user text, an index ("2") or a resolution ("8,8,40"),
 * as CloudVolume accepts either. */
#include "base/cv_internal.h"

#include <errno.h>
#include <stdlib.h>

cv_status cv_info_select_mip(const cv_info *info, const char *text, int *mip)
{
    char *end;
    errno = 0;
    long idx = strtol(text, &end, 10);
    if (end != text && *end == '\0' && !errno) {
        if (idx < 0 || idx >= info->n_scales) {
            return CV_FAIL(CV_ERR_ARG, "no mip %s (the layer has mips 0..%d)", text,
                           info->n_scales - 1);
        }
        *mip = (int)idx;
        return CV_OK;
    }
    double res[3];
    const char *p = text;
    for (int d = 0; d < 3; d++) {
        errno = 0;
        res[d] = strtod(p, &end);
        if (errno || end == p || (d < 2 && *end != ',') || (d == 2 && *end != '\0')) {
            return CV_FAIL(CV_ERR_ARG, "bad mip `%s': want an index or a resolution X,Y,Z", text);
        }
        p = end + 1;
    }
    return cv_info_find_mip(info, res, mip);
}
