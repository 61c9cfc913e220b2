/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_stale_tmp.c: removing a killed run's temporary chunk files on --resume (see
 * cv_stale_tmp.h). */
#include "mpi/cv_stale_tmp.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TMP_MARK ".cvmpi-tmp-"

/* ".cvmpi-tmp-<pid>-<n>-x0-x1_y0-y1_z0-z1[.gz|.br]": the chunk's box. */
static bool parse_temporary(const char *name, cv_bbox *box)
{
    if (strncmp(name, TMP_MARK, strlen(TMP_MARK)) != 0) {
        return false;
    }
    const char *p = name + strlen(TMP_MARK);
    for (int field = 0; field < 2; field++) {
        if (*p < '0' || *p > '9') {
            return false;
        }
        while (*p >= '0' && *p <= '9') {
            p++;
        }
        if (*p++ != '-') {
            return false;
        }
    }
    int64_t v[6];
    int used = 0;
    if (sscanf(p, "%" SCNd64 "-%" SCNd64 "_%" SCNd64 "-%" SCNd64 "_%" SCNd64 "-%" SCNd64 "%n",
               &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &used) != 6) {
        return false;
    }
    const char *rest = p + used;
    if (*rest && strcmp(rest, ".gz") != 0 && strcmp(rest, ".br") != 0) {
        return false;
    }
    for (int d = 0; d < 3; d++) {
        box->min[d] = v[2 * d];
        box->max[d] = v[2 * d + 1];
        if (box->max[d] <= box->min[d]) {
            return false;
        }
    }
    return true;
}

cv_status cv_remove_stale_chunk_temporaries(const char *dst_url, const char *scale_key,
                                            cv_chunk_redone_fn redone, void *arg,
                                            uint64_t *n_removed)
{
    *n_removed = 0;
    if (strncmp(dst_url, "file://", 7) != 0) {
        return CV_OK; /* object stores write whole objects: nothing is left behind */
    }
    char *dir = cv__asprintf("%s/%s", dst_url + 7, scale_key);
    if (!dir) {
        return CV_FAIL(CV_ERR_NOMEM, "resume");
    }
    DIR *d = opendir(dir);
    if (!d) {
        cv_status rc =
            errno == ENOENT ? CV_OK : CV_FAIL(CV_ERR_IO, "list `%s': %s", dir, strerror(errno));
        cv_free(dir);
        return rc;
    }
    cv_status rc = CV_OK;
    struct dirent *e;
    while (rc == CV_OK && (e = readdir(d)) != NULL) {
        cv_bbox box;
        if (!parse_temporary(e->d_name, &box) || !redone(box, arg)) {
            continue;
        }
        char *path = cv__asprintf("%s/%s", dir, e->d_name);
        if (!path) {
            rc = CV_FAIL(CV_ERR_NOMEM, "resume");
        } else if (unlink(path) == 0) {
            (*n_removed)++;
        } else if (errno != ENOENT) {
            rc = CV_FAIL(CV_ERR_IO, "remove stale temporary `%s': %s", path, strerror(errno));
        }
        cv_free(path);
    }
    closedir(d);
    cv_free(dir);
    return rc;
}
