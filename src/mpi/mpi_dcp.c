/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_dcp.c: `cvmpi cp -r` across threads and ranks (see cv_dcp.h). */
#include "mpi/cv_dcp.h"

#include "io/store.h"
#include "mpi/cv_collective.h"
#include "mpi/cv_progress.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The bytes of one MPI_Bcast: large lists go in pieces below INT_MAX. */
#define BCAST_PIECE ((size_t)1 << 30)

/* One object to copy: its name (in `names`) and its size at the source. */
typedef struct dcp_list {
    char *names; /* "name\0name\0..." */
    size_t names_len, names_cap;
    uint64_t *sizes;
    size_t n, cap;
} dcp_list;

static cv_status list_add(dcp_list *l, const char *name, uint64_t size)
{
    size_t len = strlen(name) + 1;
    if (l->names_len + len > l->names_cap) {
        size_t cap = l->names_cap ? l->names_cap : 4096;
        while (cap < l->names_len + len) {
            cap *= 2;
        }
        char *grown = cv_realloc(l->names, cap);
        if (!grown) {
            return CV_FAIL(CV_ERR_NOMEM, "cp -r: the listing");
        }
        l->names = grown;
        l->names_cap = cap;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        uint64_t *grown = cv_realloc(l->sizes, cap * sizeof *grown);
        if (!grown) {
            return CV_FAIL(CV_ERR_NOMEM, "cp -r: the listing");
        }
        l->sizes = grown;
        l->cap = cap;
    }
    memcpy(l->names + l->names_len, name, len);
    l->names_len += len;
    l->sizes[l->n++] = size;
    return CV_OK;
}

static void list_free(dcp_list *l)
{
    cv_free(l->names);
    cv_free(l->sizes);
    memset(l, 0, sizeof *l);
}

typedef struct src_walk {
    dcp_list *todo;
    const char *url;
} src_walk;

static cv_status take_source(const char *name, uint64_t size, void *arg)
{
    src_walk *w = arg;
    if (!cv__key_is_plain(name)) {
        return CV_FAIL(CV_ERR_ARG,
                       "cp -r: object `%s' in %s has an empty, `.' or `..' part; nothing copied",
                       name, w->url);
    }
    return list_add(w->todo, name, size);
}

static cv_status take_dest(const char *name, uint64_t size, void *arg)
{
    return list_add(arg, name, size);
}

/* Rank 0: the objects to copy, sorted; with `resume`, minus those present at the destination
 * with the same size (both listings come sorted, so one merge pass). */
static cv_status plan(cv_store *src, cv_store *dst, bool resume, dcp_list *todo, uint64_t *skipped)
{
    dcp_list all = {0};
    src_walk w = {&all, cv_store_url(src)};
    cv_status rc = cv__store_list_sizes(src, "", take_source, &w);
    if (rc == CV_OK && all.n == 0) {
        /* Most likely a mistyped SRC: say so rather than report an empty copy. */
        rc = CV_FAIL(CV_ERR_NOTFOUND, "cp -r: no objects under %s", cv_store_url(src));
    }
    dcp_list have = {0};
    if (rc == CV_OK && resume) {
        rc = cv__store_list_sizes(dst, "", take_dest, &have);
    }
    const char *a = all.names, *b = have.names;
    size_t j = 0;
    for (size_t i = 0; rc == CV_OK && i < all.n; i++) {
        int c = 1;
        while (j < have.n && (c = strcmp(b, a)) < 0) {
            b += strlen(b) + 1;
            j++;
        }
        if (j < have.n && c == 0 && have.sizes[j] == all.sizes[i]) {
            (*skipped)++;
        } else {
            rc = list_add(todo, a, all.sizes[i]);
        }
        a += strlen(a) + 1;
    }
    list_free(&all);
    list_free(&have);
    return rc;
}

/* Every rank gets rank 0's list and count of skipped objects. */
static cv_status share(dcp_list *l, uint64_t *skipped)
{
    uint64_t head[3] = {l->n, l->names_len, *skipped};
    if (cv_coll_bcast(head, 3, MPI_UINT64_T, 0, "the cp -r listing") != MPI_SUCCESS) {
        return CV_FAIL(CV_ERR_MPI, "cp -r: broadcast of the listing failed");
    }
    *skipped = head[2];
    if (cv_mpi_rank() != 0) {
        if (head[0] > SIZE_MAX / sizeof(uint64_t) || head[1] > SIZE_MAX) {
            return CV_FAIL(CV_ERR_NOMEM, "cp -r: the listing");
        }
        l->n = l->cap = (size_t)head[0];
        l->names_len = l->names_cap = (size_t)head[1];
        l->sizes = cv_malloc(l->n ? l->n * sizeof *l->sizes : 1);
        l->names = cv_malloc(l->names_len ? l->names_len : 1);
        if (!l->sizes || !l->names) {
            return CV_FAIL(CV_ERR_NOMEM, "cp -r: the listing of %zu objects", l->n);
        }
    }
    for (size_t off = 0; off < l->n * sizeof *l->sizes; off += BCAST_PIECE) {
        size_t left = l->n * sizeof *l->sizes - off;
        int n = (int)(left < BCAST_PIECE ? left : BCAST_PIECE);
        if (cv_coll_bcast((char *)l->sizes + off, n, MPI_BYTE, 0, "the cp -r listing") !=
            MPI_SUCCESS) {
            return CV_FAIL(CV_ERR_MPI, "cp -r: broadcast of the listing failed");
        }
    }
    for (size_t off = 0; off < l->names_len; off += BCAST_PIECE) {
        size_t left = l->names_len - off;
        int n = (int)(left < BCAST_PIECE ? left : BCAST_PIECE);
        if (cv_coll_bcast(l->names + off, n, MPI_BYTE, 0, "the cp -r listing") != MPI_SUCCESS) {
            return CV_FAIL(CV_ERR_MPI, "cp -r: broadcast of the listing failed");
        }
    }
    return CV_OK;
}

typedef struct dcp_job {
    const cv_dcp_opts *o;
    cv_store *src, *dst;
    const char **mine; /* this rank's names */
    uint64_t *mine_sizes;
    pthread_mutex_t lock;
    uint64_t done, bytes;
    cv_progress progress;
} dcp_job;

static cv_status copy_one(size_t i, int tid, void *arg)
{
    (void)tid;
    dcp_job *j = arg;
    const char *name = j->mine[i];
    const char *type = j->o->content_type ? j->o->content_type(name) : NULL;
    CV_TRY(cv__store_copy(j->src, name, j->dst, name, j->o->compress, j->o->level, type));
    pthread_mutex_lock(&j->lock);
    j->done++;
    j->bytes += j->mine_sizes[i];
    cv_progress_update(&j->progress, j->done, false);
    pthread_mutex_unlock(&j->lock);
    return CV_OK;
}

cv_status cv_dcp_run(const cv_dcp_opts *o, cv_dcp_result *out)
{
    memset(out, 0, sizeof *out);
    int rank = cv_mpi_rank(), ranks = cv_mpi_size();
    cv_store *src = NULL, *dst = NULL;
    cv_status rc = cv_store_open(o->src, &src);
    if (rc == CV_OK) {
        rc = cv_store_open(o->dst, &dst);
    }
    dcp_list todo = {0};
    uint64_t skipped = 0;
    if (rc == CV_OK && rank == 0) {
        rc = plan(src, dst, o->resume, &todo, &skipped);
    }
    rc = cv_mpi_agree(rc);
    if (rc == CV_OK) {
        rc = cv_mpi_agree(share(&todo, &skipped));
    }
    dcp_job j = {.o = o, .src = src, .dst = dst};
    pthread_mutex_init(&j.lock, NULL);
    size_t n_mine = rc == CV_OK && todo.n > (size_t)rank
                        ? (todo.n - (size_t)rank + (size_t)ranks - 1) / (size_t)ranks
                        : 0;
    if (n_mine) {
        j.mine = cv_malloc(n_mine * sizeof *j.mine);
        j.mine_sizes = cv_malloc(n_mine * sizeof *j.mine_sizes);
        if (!j.mine || !j.mine_sizes) {
            rc = CV_FAIL(CV_ERR_NOMEM, "cp -r: %zu objects", n_mine);
        }
    }
    size_t k = 0;
    const char *name = todo.names;
    for (size_t i = 0; rc == CV_OK && i < todo.n; i++) {
        if (i % (size_t)ranks == (size_t)rank) {
            j.mine[k] = name;
            j.mine_sizes[k++] = todo.sizes[i];
        }
        name += strlen(name) + 1;
    }
    if (rc == CV_OK) {
        /* Rank 0 shows its own share: the ranks' shares differ by one object at most. */
        cv_progress_init(&j.progress, "cp", n_mine, 0, rank == 0 && n_mine > 0);
        rc = cv__parallel_for(n_mine, o->threads, copy_one, &j);
        cv_progress_finish(&j.progress);
    }
    rc = cv_mpi_agree(rc);
    uint64_t mine[2] = {j.done, j.bytes}, all[2] = {0, 0};
    if (cv_coll_allreduce(mine, all, 2, MPI_UINT64_T, MPI_SUM, "the end of cp -r") != MPI_SUCCESS &&
        rc == CV_OK) {
        rc = CV_FAIL(CV_ERR_MPI, "cp -r: the final count failed");
    }
    out->copied = all[0];
    out->bytes = all[1];
    out->skipped = skipped;
    pthread_mutex_destroy(&j.lock);
    cv_free(j.mine);
    cv_free(j.mine_sizes);
    list_free(&todo);
    cv_store_close(src);
    cv_store_close(dst);
    return rc;
}
