/* SPDX-License-Identifier: BSD-3-Clause
 * pool.c: a parallel-for over chunk indices with pthreads. Work is claimed one index at a
 * time from an atomic counter, so slow chunks do not stall the others. */
#include "base/cv_internal.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct job {
    size_t n;
    cv_status (*fn)(size_t i, int tid, void *arg);
    void *arg;
    atomic_int next_tid;
    atomic_size_t next, done;
    atomic_int failed;
    pthread_mutex_t lock;
    cv_status rc;
    cv_err err; /* the first failing worker's record */
} job;

static void (*_Atomic progress)(size_t done, size_t total);

void cv__set_progress(void (*fn)(size_t done, size_t total))
{
    atomic_store(&progress, fn);
}

static void *worker(void *p)
{
    job *j = p;
    int tid = atomic_fetch_add(&j->next_tid, 1);
    cv_err_clear();
    for (;;) {
        if (atomic_load(&j->failed)) {
            break;
        }
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n) {
            break;
        }
        cv_status rc = j->fn(i, tid, j->arg);
        void (*report)(size_t, size_t) = atomic_load(&progress);
        if (rc == CV_OK && report) {
            report(atomic_fetch_add(&j->done, 1) + 1, j->n);
        }
        if (rc != CV_OK) {
            pthread_mutex_lock(&j->lock);
            if (j->rc == CV_OK) {
                j->rc = rc;
                j->err = *cv_err_last();
            }
            pthread_mutex_unlock(&j->lock);
            atomic_store(&j->failed, 1);
            break;
        }
    }
    return NULL;
}

cv_status cv__parallel_for(size_t n, int threads, cv_status (*fn)(size_t i, int tid, void *arg),
                           void *arg)
{
    if (threads <= 1 || n <= 1) {
        for (size_t i = 0; i < n; i++) {
            CV_TRY(fn(i, 0, arg));
            void (*report)(size_t, size_t) = atomic_load(&progress);
            if (report) {
                report(i + 1, n);
            }
        }
        return CV_OK;
    }
    if ((size_t)threads > n) {
        threads = (int)n;
    }
    job j = {.n = n, .fn = fn, .arg = arg, .rc = CV_OK};
    atomic_init(&j.next, 0);
    atomic_init(&j.done, 0);
    atomic_init(&j.failed, 0);
    atomic_init(&j.next_tid, 0);
    pthread_mutex_init(&j.lock, NULL);
    pthread_t tids[CV_MAX_THREADS];
    if (threads > CV_MAX_THREADS) {
        threads = CV_MAX_THREADS;
    }
    int started = 0;
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&tids[started], NULL, worker, &j) == 0) {
            started++;
        }
    }
    /* The calling thread works too; its own record is restored from j.err if it fails. */
    cv_err saved = *cv_err_last();
    worker(&j);
    for (int t = 0; t < started; t++) {
        pthread_join(tids[t], NULL);
    }
    pthread_mutex_destroy(&j.lock);
    if (j.rc != CV_OK) {
        cv__err_set(&j.err);
        return j.rc;
    }
    cv__err_set(&saved);
    return CV_OK;
}
