/* SPDX-License-Identifier: BSD-3-Clause
 * cli_band_write.h: `write -i` of raw and x-fastest .npy input, band by band (memory two bands,
 * not the box). */
#ifndef CV_CLI_BAND_WRITE_H
#define CV_CLI_BAND_WRITE_H

#include "cli/cli.h"

/* The input of a banded write: a regular file read at each band's places, or a stream read in
 * order. */
typedef struct cli_band_input {
    int fd;
    const char *shown; /* the input's name in messages */
    bool stream;
    uint64_t base;  /* regular file: the offset of the box's first byte */
    size_t got;     /* stream: bytes read so far */
    size_t nbytes;  /* the box's bytes */
    int64_t box_z0; /* the box's first z, for naming what a failed stream left written */
} cli_band_input;

/* Open `input` for cli_band_write when it can go band by band: a regular file (raw, or a .npy
 * whose data is x fastest), or a raw stream of one channel. *banded false: use the whole-box
 * path (nothing was read; a stream is not opened). Errors are the whole-box path's. */
cv_status cli_band_input_open(const char *input, cli_array_format fmt, const cv_info *info,
                              cv_bbox box, bool zyx, size_t nbytes, cli_band_input *in,
                              bool *banded);
/* Close what cli_band_input_open opened (standard input stays open). */
void cli_band_input_close(cli_band_input *in);
/* The box from `in`, band by band. The caller checked the input's size (a regular file), that
 * the box lies in the volume, is unsharded, and is aligned or --non-aligned. */
cv_status cli_band_write(cv_volume *v, int mip, cv_bbox box, cli_band_input *in);

#endif
