/* SPDX-License-Identifier: BSD-3-Clause
 * cli_band_write.h: `write -i` of raw and x-fastest .npy input, band by band. */
#ifndef CV_CLI_BAND_WRITE_H
#define CV_CLI_BAND_WRITE_H

#include "cli/cli.h"

typedef struct band_input {
    int fd;
    const char *shown; /* the input's name in messages */
    bool stream;
    uint64_t base;  /* regular file: the offset of the box's first byte */
    size_t got;     /* stream: bytes read so far */
    size_t nbytes;  /* the box's bytes */
    int64_t box_z0; /* the box's first z, for naming what a failed stream left written */
} band_input;

/* The box from `in`, band by band. The caller checked the input's size (a regular file), that
 * the box lies in the volume, is unsharded, and is aligned or --non-aligned. */
cv_status write_banded(cv_volume *v, int mip, cv_bbox box, band_input *in);
/* Open `input` for write_banded when it can go band by band: a regular file (raw, or a .npy
 * whose data is x fastest), or a raw stream of one channel. *banded false: use the whole-box
 * path (nothing was read; a stream is not opened). Errors are the whole-box path's. */
cv_status open_banded(const char *input, cli_array_format fmt, const cv_info *info, cv_bbox box,
                      bool zyx, size_t nbytes, band_input *in, bool *banded);

#endif
