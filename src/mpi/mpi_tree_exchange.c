/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_tree_exchange.c: bounded rounds of node states between ranks (see cv_tree_exchange.h).
 * On the wire a record is its node index and byte count (8 bytes each) and its data. */
#include "mpi/cv_tree_exchange.h"

#include "mpi/cv_collective.h"
#include "mpi/cv_mpi.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WIRE_HEADER 16
#define MAX_ROUND_BYTES ((size_t)1 << 30)

size_t cv_tree_wire_bytes(size_t bytes)
{
    return WIRE_HEADER + bytes;
}

static int by_dest(const void *a, const void *b)
{
    const cv_tree_send *x = a, *y = b;
    if (x->dest != y->dest) {
        return x->dest < y->dest ? -1 : 1;
    }
    if (x->rec.file != y->rec.file) {
        return x->rec.file < y->rec.file ? -1 : 1;
    }
    return x->rec.offset < y->rec.offset ? -1 : x->rec.offset > y->rec.offset;
}

static int by_idx(const void *a, const void *b)
{
    const cv_state_rec *x = a, *y = b;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Share `cap` among the ranks with avail[q] > 0: an equal share each (at least one), starting
 * at rank `first` so a cap smaller than the rank count reaches every rank over the rounds, then
 * what is left to whoever still has more. */
static void fair_share(const int64_t *avail, int size, int64_t cap, int first, int64_t *out)
{
    int64_t wanting = 0;
    for (int q = 0; q < size; q++) {
        out[q] = 0;
        wanting += avail[q] > 0;
    }
    if (!wanting) {
        return;
    }
    int64_t share = cap / wanting > 0 ? cap / wanting : 1, left = cap;
    for (int pass = 0; pass < 2 && left > 0; pass++) {
        for (int i = 0; i < size && left > 0; i++) {
            int q = (first + i) % size;
            int64_t want = avail[q] - out[q], give = pass == 0 && want > share ? share : want;
            give = give < left ? give : left;
            out[q] += give;
            left -= give;
        }
    }
}

static void alltoall_i64(const int64_t *send, int64_t *recv, int size)
{
    if (cv_mpi_active()) {
        cv_coll_alltoall(send, 1, MPI_INT64_T, recv, 1, MPI_INT64_T,
                         "the tree exchange's byte counts");
    } else {
        memcpy(recv, send, (size_t)size * sizeof *recv);
    }
}

/* Collective: whether any rank failed, and whether any still has records to send. */
static void agree_round(cv_status rc, int64_t pending, bool *failed, bool *more)
{
    int64_t mine[2] = {rc != CV_OK, pending}, all[2] = {mine[0], mine[1]};
    if (cv_mpi_active()) {
        cv_coll_allreduce(mine, all, 2, MPI_INT64_T, MPI_MAX,
                          "the outcome of the tree exchange round");
    }
    *failed = all[0] != 0;
    *more = all[1] != 0;
}

typedef struct round_bufs {
    int64_t *pending, *offer, *offered, *grant, *granted, *sbytes, *rbytes;
    int *sc, *sd, *rc, *rd;
    size_t *next; /* the next record to send to each rank, an index into sends */
    uint8_t *sbuf, *rbuf;
} round_bufs;

static void free_bufs(round_bufs *b)
{
    void *all[] = {b->pending, b->offer, b->offered, b->grant, b->granted, b->sbytes, b->rbytes,
                   b->sc,      b->sd,    b->rc,      b->rd,    b->next,    b->sbuf,   b->rbuf};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        cv_free(all[i]);
    }
}

static bool alloc_bufs(round_bufs *b, int size, size_t round_bytes)
{
    size_t n = (size_t)size;
    int64_t **i64[] = {&b->pending, &b->offer,  &b->offered, &b->grant,
                       &b->granted, &b->sbytes, &b->rbytes};
    bool ok = true;
    for (size_t i = 0; i < sizeof i64 / sizeof *i64; i++) {
        ok = (*i64[i] = cv_calloc(n, sizeof(int64_t))) != NULL && ok;
    }
    int **ints[] = {&b->sc, &b->sd, &b->rc, &b->rd};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        ok = (*ints[i] = cv_calloc(n, sizeof(int))) != NULL && ok;
    }
    ok = (b->next = cv_calloc(n, sizeof *b->next)) != NULL && ok;
    ok = (b->sbuf = cv_malloc(round_bytes)) != NULL && ok;
    ok = (b->rbuf = cv_malloc(round_bytes)) != NULL && ok;
    return ok;
}

/* Read the granted records into the send buffer, by destination. */
static cv_status pack(round_bufs *b, const cv_tree_send *sends, char *const *paths, const int *fds,
                      int size)
{
    cv_status rc = CV_OK;
    int64_t at = 0;
    for (int q = 0; q < size; q++) {
        b->sd[q] = (int)at;
        for (int64_t k = 0; k < b->granted[q]; k++) {
            const cv_state_rec *rec = &sends[b->next[q]++].rec;
            uint8_t *p = b->sbuf + at;
            memcpy(p, &rec->idx, 8);
            memcpy(p + 8, &rec->bytes, 8);
            if (rc == CV_OK) {
                rc = cv_state_read(fds[rec->file], paths[rec->file], rec, p + WIRE_HEADER);
            }
            at += (int64_t)cv_tree_wire_bytes((size_t)rec->bytes);
        }
        b->sbytes[q] = at - b->sd[q];
        b->sc[q] = (int)b->sbytes[q];
        b->pending[q] -= b->granted[q];
    }
    return rc;
}

/* Append what arrived to the inbox and note where each record went. */
static cv_status unpack(const round_bufs *b, int size, cv_state_file *inbox, cv_state_rec *got,
                        size_t *n_got, size_t got_cap)
{
    int64_t total = 0;
    for (int q = 0; q < size; q++) {
        total += b->rbytes[q];
    }
    for (int64_t at = 0; at < total;) {
        uint64_t idx, bytes;
        if (total - at < WIRE_HEADER) {
            return CV_FAIL(CV_ERR_MPI, "tree exchange: a record cut short");
        }
        memcpy(&idx, b->rbuf + at, 8);
        memcpy(&bytes, b->rbuf + at + 8, 8);
        if (bytes > (uint64_t)(total - at - WIRE_HEADER) || *n_got == got_cap) {
            return CV_FAIL(CV_ERR_MPI, "tree exchange: a record of %" PRIu64 " bytes overruns",
                           bytes);
        }
        CV_TRY(cv_state_append(inbox, idx, b->rbuf + at + WIRE_HEADER, (size_t)bytes,
                               &got[(*n_got)++]));
        at += (int64_t)cv_tree_wire_bytes((size_t)bytes);
    }
    return CV_OK;
}

static void swap_bytes(round_bufs *b, int size)
{
    alltoall_i64(b->sbytes, b->rbytes, size);
    int64_t at = 0;
    for (int q = 0; q < size; q++) {
        b->rd[q] = (int)at;
        b->rc[q] = (int)b->rbytes[q];
        at += b->rbytes[q];
    }
    if (cv_mpi_active()) {
        cv_coll_alltoallv(b->sbuf, b->sc, b->sd, MPI_BYTE, b->rbuf, b->rc, b->rd, MPI_BYTE,
                          "the tree exchange of node states");
    } else {
        memcpy(b->rbuf, b->sbuf, (size_t)b->sbytes[0]);
    }
}

cv_status cv_tree_exchange(cv_tree_send *sends, size_t n_sends, char *const *paths, size_t n_paths,
                           size_t max_bytes, size_t round_bytes, cv_state_file *inbox,
                           cv_state_rec **got, size_t *n_got)
{
    int size = cv_mpi_size();
    *got = NULL;
    *n_got = 0;
    if (round_bytes > MAX_ROUND_BYTES) {
        round_bytes = MAX_ROUND_BYTES;
    }
    int64_t cap = (int64_t)(round_bytes / cv_tree_wire_bytes(max_bytes));
    round_bufs b = {0};
    int *fds = cv_calloc(n_paths ? n_paths : 1, sizeof *fds);
    cv_state_rec *in = NULL;
    size_t in_cap = 0, n_in = 0;
    cv_status rc = CV_OK;
    if (!inbox) {
        rc = CV_FAIL(CV_ERR_ARG, "tree exchange: no inbox to receive into");
    } else if (cap < 1) {
        rc = CV_FAIL(CV_ERR_ARG, "tree exchange: rounds of %zu bytes cannot hold a state of %zu",
                     round_bytes, max_bytes);
    } else if (!fds || !alloc_bufs(&b, size, round_bytes)) {
        rc = CV_FAIL(CV_ERR_NOMEM, "tree exchange: round buffers of %zu bytes", round_bytes);
    }
    for (size_t i = 0; fds && i < n_paths; i++) {
        fds[i] = open(paths[i], O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0 && rc == CV_OK) {
            /* a file with no records to send is never read */
            bool used = false;
            for (size_t k = 0; k < n_sends && !used; k++) {
                used = sends[k].rec.file == i;
            }
            if (used) {
                rc = CV_FAIL(CV_ERR_IO, "open `%s': %s", paths[i], strerror(errno));
            }
        }
    }
    if (n_sends) {
        qsort(sends, n_sends, sizeof *sends, by_dest);
    }
    for (size_t k = 0; rc == CV_OK && k < n_sends; k++) {
        if (sends[k].dest < 0 || sends[k].dest >= size) {
            rc = CV_FAIL(CV_ERR_ARG, "tree exchange: no rank %d", sends[k].dest);
            break;
        }
        if (b.pending[sends[k].dest]++ == 0) {
            b.next[sends[k].dest] = k;
        }
    }
    int64_t pending = (int64_t)n_sends;
    for (int round = 0;; round++) {
        bool failed, more;
        agree_round(rc, pending, &failed, &more);
        if (failed) {
            if (rc == CV_OK) {
                rc = CV_FAIL(CV_ERR_MPI, "tree exchange: another rank failed");
            }
            break;
        }
        if (!more) {
            break;
        }
        int first = (cv_mpi_rank() + round) % size;
        fair_share(b.pending, size, cap, first, b.offer);
        alltoall_i64(b.offer, b.offered, size);
        fair_share(b.offered, size, cap, first, b.grant);
        alltoall_i64(b.grant, b.granted, size);
        int64_t incoming = 0;
        for (int q = 0; q < size; q++) {
            incoming += b.grant[q];
            pending -= b.granted[q];
        }
        if (n_in + (size_t)incoming > in_cap) {
            size_t want = (n_in + (size_t)incoming) * 2;
            cv_state_rec *grown = cv_realloc(in, want * sizeof *grown);
            if (grown) {
                in = grown;
                in_cap = want;
            } else if (rc == CV_OK) {
                rc = CV_FAIL(CV_ERR_NOMEM, "tree exchange: index of %zu records", want);
            }
        }
        cv_status packed = pack(&b, sends, paths, fds, size);
        rc = rc == CV_OK ? packed : rc;
        swap_bytes(&b, size);
        if (rc == CV_OK) {
            rc = unpack(&b, size, inbox, in, &n_in, in_cap);
        }
    }
    for (size_t i = 0; fds && i < n_paths; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    cv_free(fds);
    free_bufs(&b);
    if (rc != CV_OK) {
        cv_free(in);
        return rc;
    }
    if (n_in) {
        qsort(in, n_in, sizeof *in, by_idx);
    }
    *got = in;
    *n_got = n_in;
    return CV_OK;
}
