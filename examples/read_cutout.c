/* SPDX-License-Identifier: BSD-3-Clause
 * read_cutout.c: read a box of mip 0 of a layer and print its size, the sum of its bytes and
 * their FNV-1a 64-bit hash.  Usage: read_cutout PATH X0,Y0,Z0,X1,Y1,Z1 */
#include <cvmpi.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: read_cutout PATH X0,Y0,Z0,X1,Y1,Z1\n");
        return 2;
    }
    cv_opts opts = cv_opts_default();
    cv_volume *vol = NULL;
    cv_bbox req, box;
    size_t n = 0;
    uint8_t *buf = NULL;
    cv_status rc = cv_bbox_parse(argv[2], &req);
    if (rc == CV_OK)
        rc = cv_volume_open(argv[1], &opts, &vol);
    if (rc == CV_OK)
        rc = cv_volume_resolve_box(vol, 0, req, &box); /* inside the layer? */
    if (rc == CV_OK)
        rc = cv_volume_check_box(vol, box, &n);
    if (rc == CV_OK && !(buf = malloc(n)))
        rc = CV_ERR_NOMEM;
    if (rc == CV_OK)
        rc = cv_volume_read(vol, 0, box, buf, n);
    if (rc != CV_OK) {
        const cv_err *e = cv_err_last();
        fprintf(stderr, "read_cutout: %s\n", e->code != CV_OK ? e->what : cv_strerror(rc));
        free(buf);
        cv_volume_close(vol);
        return 1;
    }
    uint64_t sum = 0, hash = 0xcbf29ce484222325u; /* FNV-1a offset basis */
    for (size_t i = 0; i < n; i++) {
        sum += buf[i];
        hash = (hash ^ buf[i]) * 0x100000001b3u;
    }
    printf("%s %s: %zu bytes, sum %" PRIu64 ", fnv1a64 %016" PRIx64 "\n", argv[2],
           cv_dtype_name(cv_volume_info(vol)->dtype), n, sum, hash);
    free(buf);
    cv_volume_close(vol);
    return 0;
}
