/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_tiff.c: the TIFF reading path of `cvmpi import` (mpi/tiff_io.c over libtiff): open a
 * file from memory, describe every page (with the strip/tile bounds check), read each whole
 * page whose pixels fit 4 MiB, and parse page 0's OME-XML. Shapes come from the input. Only
 * documented codes; a described page has nonzero sizes and a known dtype; OME sizes found are
 * positive nm. */
#include "fuzz_common.h"

#include "mpi/cv_tiff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    cv_tiff *t = NULL;
    uint32_t pages = 0;
    cv_status rc = cv__tiff_open_mem(data, size, "fuzz.tif", &t, &pages);
    FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_ARG || rc == CV_ERR_CORRUPT || rc == CV_ERR_NOMEM);
    if (rc == CV_OK) {
        FUZZ_ASSERT(pages >= 1);
        double nm[3] = {0, 0, 0};
        int found = 0;
        rc = cv__tiff_ome_sizes(cv__tiff_description(t), "fuzz.tif", nm, &found);
        FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_ARG);
        for (int d = 0; rc == CV_OK && d < 3; d++) {
            FUZZ_ASSERT(!(found & (1 << d)) || (nm[d] > 0 && nm[d] <= 1e12));
        }
        for (uint32_t p = 0; p < pages && p < 16; p++) {
            cv_tiff_page d;
            cv_err_clear();
            rc = cv__tiff_page(t, p, &d);
            FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_ARG || rc == CV_ERR_CORRUPT);
            if (rc != CV_OK) {
                continue;
            }
            FUZZ_ASSERT(d.width > 0 && d.height > 0 && d.samples > 0);
            FUZZ_ASSERT(d.dtype != CV_DTYPE_INVALID && d.block_w > 0 && d.block_h > 0);
            uint64_t bytes = (uint64_t)d.width * d.height * d.samples * cv_dtype_size(d.dtype);
            if (bytes > ((uint64_t)4 << 20) || d.block_bytes > ((uint64_t)16 << 20)) {
                continue;
            }
            uint8_t *buf = malloc((size_t)bytes);
            FUZZ_ASSERT(buf);
            rc = cv__tiff_read_window(t, p, 0, 0, d.width, d.height, buf);
            FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_CORRUPT || rc == CV_ERR_NOMEM);
            /* a window inside the page reads too */
            if (rc == CV_OK && d.width > 2 && d.height > 2) {
                rc = cv__tiff_read_window(t, p, 1, 1, d.width - 1, d.height - 1, buf);
                FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_CORRUPT || rc == CV_ERR_NOMEM);
            }
            free(buf);
        }
    }
    cv__tiff_close(t);
    return 0;
}
