/* SPDX-License-Identifier: BSD-3-Clause
 * seg_layer.h: a uint64 raw segmentation layer of size^3 voxels in 64^3 chunks, resolution
 * xy_res,xy_res,40, created at url (mem:// in the tests); NULL on failure. */
#ifndef CV_TEST_SEG_LAYER_H
#define CV_TEST_SEG_LAYER_H

#include "cvmpi.h"

#include <string.h>

static cv_volume *make_seg_layer(const char *url, double xy_res, int64_t size)
{
    cv_info_params p;
    memset(&p, 0, sizeof p);
    p.type = "segmentation";
    p.dtype = CV_UINT64;
    p.num_channels = 1;
    p.encoding = "raw";
    for (int d = 0; d < 3; d++) {
        p.resolution[d] = d == 2 ? 40 : xy_res;
        p.size[d] = size;
        p.chunk_size[d] = 64;
    }
    cv_info *info;
    cv_volume *v = NULL;
    if (cv_info_create(&p, &info) != CV_OK) {
        return NULL;
    }
    cv_opts o = cv_opts_default();
    cv_volume_create(url, info, true, &o, &v);
    cv_info_free(info);
    return v;
}

#endif
