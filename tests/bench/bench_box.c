/* SPDX-License-Identifier: BSD-3-Clause
 * bench_box.c: the C baseline of bench_python.py. Reads (or writes back) one box of a layer
 * N times through cv_volume_read / cv_volume_write on one thread in one process, as the
 * Python binding does, and prints the best time in seconds. `read` reuses one buffer;
 * `read-new` reads into newly allocated memory each time, as the binding (which returns a new
 * array) and the cvmpi command must: fresh pages cost a fault each.
 *   bench_box LAYER X0,Y0,Z0,X1,Y1,Z1 read|read-new|write N [none|gzip|br] */
#include "cvmpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    const char *op = argc > 3 ? argv[3] : "";
    if (argc < 5 ||
        (strcmp(op, "read") != 0 && strcmp(op, "read-new") != 0 && strcmp(op, "write") != 0)) {
        fprintf(stderr, "usage: bench_box LAYER X0,Y0,Z0,X1,Y1,Z1 read|read-new|write N "
                        "[none|gzip|br]\n");
        return 2;
    }
    cv_bbox box;
    int n = atoi(argv[4]);
    if (cv_bbox_parse(argv[2], &box) != CV_OK || n < 1) {
        fprintf(stderr, "bench_box: bad box `%s' or count `%s'\n", argv[2], argv[4]);
        return 2;
    }
    cv_opts o = cv_opts_default();
    o.threads = 1;
    if (argc > 5) {
        o.compress = strcmp(argv[5], "none") == 0 ? "" : argv[5];
    }
    cv_volume *v = NULL;
    size_t bytes = 0;
    void *buf = NULL;
    if (cv_volume_open(argv[1], &o, &v) != CV_OK || cv_volume_check_box(v, box, &bytes) != CV_OK ||
        !(buf = malloc(bytes)) || cv_volume_read(v, 0, box, buf, bytes) != CV_OK) {
        fprintf(stderr, "bench_box: %s\n", buf || !v ? cv_err_last()->what : "out of memory");
        free(buf);
        cv_volume_close(v);
        return 1;
    }
    bool write = strcmp(op, "write") == 0, fresh = strcmp(op, "read-new") == 0;
    double best = 1e30;
    for (int i = 0; i < n; i++) {
        double t = now();
        cv_status rc;
        if (write) {
            rc = cv_volume_write(v, 0, box, buf, bytes);
        } else if (fresh) {
            void *dst = malloc(bytes);
            rc = dst ? cv_volume_read(v, 0, box, dst, bytes) : CV_ERR_NOMEM;
            free(dst);
        } else {
            rc = cv_volume_read(v, 0, box, buf, bytes);
        }
        t = now() - t;
        if (rc != CV_OK) {
            fprintf(stderr, "bench_box: %s\n", cv_err_last()->what);
            free(buf);
            cv_volume_close(v);
            return 1;
        }
        best = t < best ? t : best;
    }
    printf("%.6f\n", best);
    free(buf);
    cv_volume_close(v);
    return 0;
}
