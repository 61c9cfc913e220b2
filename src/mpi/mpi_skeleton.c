/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_skeleton.c: bulk conversion of SWC files into a skeleton directory across ranks
 * (cv_skeleton_convert.h). Sharded output follows the house rule: encoded skeletons are sent
 * to the rank that owns their shard, which builds and writes each shard file once. */
#include "mpi/cv_collective.h"
#include "mpi/cv_mpi.h"
#include "mpi/cv_progress.h"
#include "mpi/cv_skeleton_convert.h"

#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct swc_file {
    uint64_t id;
    char *name;
} swc_file;

static int by_id(const void *a, const void *b)
{
    const swc_file *x = a, *y = b;
    return x->id < y->id ? -1 : (x->id > y->id);
}

static void free_files(swc_file *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cv_free(f[i].name);
    }
    cv_free(f);
}

/* Every "<segid>.swc" in dir, sorted by id; the same list on every rank. */
static cv_status list_swc(const char *dir, swc_file **out, size_t *n_out)
{
    DIR *d = opendir(dir);
    if (!d) {
        return CV_FAIL(CV_ERR_IO, "open directory `%s'", dir);
    }
    swc_file *files = NULL;
    size_t n = 0, cap = 0;
    cv_status rc = CV_OK;
    for (struct dirent *e; rc == CV_OK && (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        char idtext[32];
        uint64_t id;
        if (len <= 4 || len - 4 >= sizeof idtext || !cv__str_ends_with(e->d_name, ".swc")) {
            continue;
        }
        memcpy(idtext, e->d_name, len - 4);
        idtext[len - 4] = '\0';
        if (!cv__parse_segid(idtext, &id)) {
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            swc_file *grown = cv_realloc(files, cap * sizeof *files);
            if (!grown) {
                rc = CV_FAIL(CV_ERR_NOMEM, "list `%s'", dir);
                break;
            }
            files = grown;
        }
        files[n].id = id;
        files[n].name = cv__asprintf("%s/%s", dir, e->d_name);
        rc = files[n++].name ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "list `%s'", dir);
    }
    closedir(d);
    if (rc != CV_OK) {
        free_files(files, n);
        return rc;
    }
    if (n > 1) {
        qsort(files, n, sizeof *files, by_id);
    }
    *out = files;
    *n_out = n;
    return CV_OK;
}

static cv_status read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return CV_FAIL(CV_ERR_IO, "open `%s'", path);
    }
    cv_buf b;
    cv__buf_init(&b, 0);
    cv_status rc = CV_OK;
    char chunk[65536];
    for (size_t n; rc == CV_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0;) {
        rc = cv__buf_append(&b, chunk, n);
    }
    if (rc == CV_OK && ferror(f)) {
        rc = CV_FAIL(CV_ERR_IO, "read `%s'", path);
    }
    fclose(f);
    if (rc != CV_OK) {
        cv__buf_fini(&b);
        return rc;
    }
    *data = cv__buf_take(&b, len);
    return CV_OK;
}

/* Rank 0 prepares the directory (info, sharding); everyone then opens it. */
static cv_status prepare(const char *layer, bool sharded, uint64_t n_ids, uint64_t min_shards)
{
    cv_status rc = CV_OK;
    if (cv_mpi_rank() == 0) {
        cv_volume *v = NULL;
        cv_skeletons *k = NULL;
        rc = cv_volume_open(layer, NULL, &v);
        if (rc == CV_OK) {
            rc = cv_skeletons_open(v, true, &k);
        }
        if (rc == CV_OK && sharded && !cv_skeletons_is_sharded(k)) {
            cv_shard_spec spec;
            rc = cv_shard_params_for_hashed(n_ids ? n_ids : 1, min_shards ? min_shards : 1, &spec);
            if (rc == CV_OK) {
                rc = cv_skeletons_set_sharding(k, &spec);
            }
        }
        cv_skeletons_close(k);
        cv_volume_close(v);
    }
    return cv_mpi_agree(rc);
}

/* Append one record (id, length, bytes) to a send buffer. */
static cv_status pack(cv_buf *b, uint64_t id, const uint8_t *data, size_t len)
{
    uint64_t head[2] = {id, len};
    CV_TRY(cv__buf_append(b, head, sizeof head));
    return cv__buf_append(b, data, len);
}

/* Send every rank's records to their owners; the received records become shard items. */
static cv_status exchange(cv_buf *send, int size, uint8_t **recv_out, size_t *recv_len)
{
    int *scount = cv_calloc((size_t)size, sizeof *scount);
    int *rcount = cv_calloc((size_t)size, sizeof *rcount);
    int *sdisp = cv_calloc((size_t)size, sizeof *sdisp);
    int *rdisp = cv_calloc((size_t)size, sizeof *rdisp);
    uint8_t *sendbuf = NULL, *recvbuf = NULL;
    cv_status rc = scount && rcount && sdisp && rdisp ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "exchange");
    size_t total = 0;
    for (int r = 0; rc == CV_OK && r < size; r++) {
        if (send[r].len > INT_MAX || total + send[r].len > INT_MAX) {
            rc = CV_FAIL(CV_ERR_UNSUPPORTED,
                         "skeleton exchange: more than 2 GiB from one rank (use more ranks)");
        }
        scount[r] = (int)send[r].len;
        sdisp[r] = (int)total;
        total += send[r].len;
    }
    sendbuf = rc == CV_OK ? cv_malloc(total + 1) : NULL;
    if (rc == CV_OK && !sendbuf) {
        rc = CV_FAIL(CV_ERR_NOMEM, "exchange: %zu bytes", total);
    }
    for (int r = 0; rc == CV_OK && r < size; r++) {
        if (send[r].len) {
            memcpy(sendbuf + sdisp[r], send[r].data, send[r].len);
        }
    }
    rc = cv_mpi_agree(rc);
    if (rc == CV_OK && cv_coll_alltoall(scount, 1, MPI_INT, rcount, 1, MPI_INT,
                                        "the skeleton exchange's byte counts") != MPI_SUCCESS) {
        rc = CV_FAIL(CV_ERR_MPI, "MPI_Alltoall of skeleton byte counts");
    }
    size_t rtotal = 0;
    for (int r = 0; rc == CV_OK && r < size; r++) {
        if (rtotal + (size_t)rcount[r] > INT_MAX) {
            rc = CV_FAIL(CV_ERR_UNSUPPORTED, "skeleton exchange: more than 2 GiB to one rank");
        }
        rdisp[r] = (int)rtotal;
        rtotal += (size_t)rcount[r];
    }
    if (rc == CV_OK) {
        recvbuf = cv_malloc(rtotal + 1);
        rc = recvbuf ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "exchange: %zu bytes", rtotal);
    }
    rc = cv_mpi_agree(rc);
    if (rc == CV_OK && cv_coll_alltoallv(sendbuf, scount, sdisp, MPI_BYTE, recvbuf, rcount, rdisp,
                                         MPI_BYTE, "the skeleton exchange") != MPI_SUCCESS) {
        rc = CV_FAIL(CV_ERR_MPI, "MPI_Alltoallv of skeletons");
    }
    cv_free(scount);
    cv_free(rcount);
    cv_free(sdisp);
    cv_free(rdisp);
    cv_free(sendbuf);
    if (rc != CV_OK) {
        cv_free(recvbuf);
        return rc;
    }
    *recv_out = recvbuf;
    *recv_len = rtotal;
    return CV_OK;
}

static int by_key(const void *a, const void *b)
{
    const cv_shard_item *x = a, *y = b;
    return x->key < y->key ? -1 : (x->key > y->key);
}

cv_status cv_mpi_skeletons_convert(const char *layer, const char *swc_dir, bool sharded,
                                   uint64_t min_shards, cv_convert_stats *stats)
{
    double t0 = cv_now();
    int rank = cv_mpi_rank(), size = cv_mpi_size();
    swc_file *files = NULL;
    size_t n_files = 0;
    cv_status rc = cv_mpi_agree(list_swc(swc_dir, &files, &n_files));
    if (rc != CV_OK) {
        return rc;
    }
    rc = prepare(layer, sharded, n_files, min_shards);
    cv_volume *v = NULL;
    cv_skeletons *k = NULL;
    if (rc == CV_OK) {
        rc = cv_volume_open(layer, NULL, &v);
        if (rc == CV_OK) {
            rc = cv_skeletons_open(v, false, &k);
        }
        rc = cv_mpi_agree(rc);
    }
    const cv_shard_spec *spec = rc == CV_OK ? cv__skeletons_spec(k) : NULL;
    cv_buf *send = cv_calloc((size_t)size, sizeof *send);
    if (rc == CV_OK && !send) {
        rc = CV_FAIL(CV_ERR_NOMEM, "skeleton convert");
    }
    for (int r = 0; send && r < size; r++) {
        cv__buf_init(&send[r], 0);
    }
    uint64_t mine = 0, bytes = 0;
    const cv_skel_attr *attrs = NULL;
    int n_attrs = rc == CV_OK ? cv_skeletons_attrs(k, &attrs) : 0;
    for (size_t i = (size_t)rank; rc == CV_OK && i < n_files; i += (size_t)size) {
        uint8_t *text, *enc;
        size_t len, elen;
        cv_skeleton *s = NULL;
        rc = read_file(files[i].name, &text, &len);
        if (rc == CV_OK) {
            rc = cv_skeleton_from_swc((const char *)text, len, files[i].name, &s);
            cv_free(text);
        }
        if (rc != CV_OK) {
            break;
        }
        s->id = files[i].id;
        if (!spec) {
            rc = cv_skeletons_put(k, (const cv_skeleton *const[]){s}, 1);
            cv_skeleton_free(s);
            mine++;
            continue;
        }
        rc = cv_skeleton_encode(s, attrs, n_attrs, &enc, &elen);
        cv_skeleton_free(s);
        if (rc == CV_OK) {
            uint64_t shard, mini;
            cv_shard_locate(spec, files[i].id, &shard, &mini);
            rc = pack(&send[shard % (uint64_t)size], files[i].id, enc, elen);
            cv_free(enc);
            mine++;
            bytes += elen;
        }
    }
    rc = cv_mpi_agree(rc);
    uint64_t shards_written = 0;
    if (rc == CV_OK && spec) {
        uint8_t *recv = NULL;
        size_t rlen = 0;
        rc = exchange(send, size, &recv, &rlen);
        /* The received records, as items pointing into recv. */
        size_t n_items = 0, cap = 0;
        cv_shard_item *items = NULL;
        for (size_t at = 0; rc == CV_OK && at < rlen;) {
            uint64_t head[2];
            memcpy(head, recv + at, sizeof head);
            at += sizeof head;
            if (n_items == cap) {
                cap = cap ? 2 * cap : 1024;
                cv_shard_item *grown = cv_realloc(items, cap * sizeof *items);
                if (!grown) {
                    rc = CV_FAIL(CV_ERR_NOMEM, "skeleton items");
                    break;
                }
                items = grown;
            }
            items[n_items++] = (cv_shard_item){head[0], recv + at, (size_t)head[1]};
            at += (size_t)head[1];
        }
        if (rc == CV_OK && n_items) {
            qsort(items, n_items, sizeof *items, by_key);
            /* Shard files this rank writes. */
            uint64_t *sh = cv_malloc(n_items * sizeof *sh);
            if (sh) {
                size_t m = n_items;
                for (size_t i = 0; i < n_items; i++) {
                    uint64_t mini;
                    cv_shard_locate(spec, items[i].key, &sh[i], &mini);
                }
                cv__sort_ids(sh, &m);
                shards_written = m;
                cv_free(sh);
            }
            rc = cv__skeletons_write_encoded(k, items, n_items);
        }
        cv_free(items);
        cv_free(recv);
        rc = cv_mpi_agree(rc);
    }
    for (int r = 0; send && r < size; r++) {
        cv__buf_fini(&send[r]);
    }
    cv_free(send);
    cv_skeletons_close(k);
    cv_volume_close(v);
    free_files(files, n_files);
    if (rc == CV_OK && stats) {
        uint64_t local[3] = {mine, shards_written, bytes}, global[3];
        double secs = cv_now() - t0, slowest;
        cv_coll_allreduce(local, global, 3, MPI_UINT64_T, MPI_SUM, "the job's totals");
        cv_coll_allreduce(&secs, &slowest, 1, MPI_DOUBLE, MPI_MAX, "the job's wall time");
        stats->skeletons = global[0];
        stats->shards = global[1];
        stats->bytes = global[2];
        stats->seconds = slowest;
    }
    return rc;
}
