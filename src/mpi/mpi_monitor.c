/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_monitor.c: the progress and stall watcher of rank 0 (see cv_monitor.h). A rank is
 * stalled when rank 0 has seen it on the same task for stall_seconds (rank 0's own clock, so
 * clocks of other nodes do not matter) and not waiting in a collective for another rank. */
#include "mpi/cv_monitor.h"

#include "mpi/cv_collective.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

struct cv_monitor {
    cv_progress *progress;
    const cv_sched *sched;
    double stall_seconds;
    void (*describe)(uint64_t id, char *buf, size_t cap, void *arg);
    void *arg;
    /* stop is set under `lock` and signalled on `wake`, so a stopping job does not wait out
     * the watcher's nap (it used to add up to 250 ms to every job's end) */
    bool stop;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int n_ranks;
    uint64_t *task; /* last task seen per rank */
    double *since;  /* when it was first seen */
    bool *warned;
};

/* Wait up to 250 ms for a stop; true when stopped. */
static bool nap_or_stop(cv_monitor *m)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += 250 * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->lock);
    while (!m->stop && pthread_cond_timedwait(&m->wake, &m->lock, &until) == 0) {
    }
    bool stop = m->stop;
    pthread_mutex_unlock(&m->lock);
    return stop;
}

static void *watch(void *p)
{
    cv_monitor *m = p;
    while (!nap_or_stop(m)) {
        double now = cv_now();
        cv_progress_update(m->progress, cv_sched_peek_finished(m->sched), false);
        for (int r = 0; r < m->n_ranks; r++) {
            /* A rank waiting in a collective is held up by another, not stuck on its task
             * (in an exchange round every rank is on the same one). */
            uint64_t t = cv_coll_peek_waiting(r) ? UINT64_MAX : cv_sched_peek_task(m->sched, r);
            if (t != m->task[r]) {
                m->task[r] = t;
                m->since[r] = now;
                m->warned[r] = false;
            } else if (t != UINT64_MAX && !m->warned[r] && now - m->since[r] >= m->stall_seconds) {
                char box[160] = "";
                m->describe(t, box, sizeof box, m->arg);
                CV_LOG(CV_LOG_WARN, "rank %d has been on task %" PRIu64 " (box %s) for %.0f s", r,
                       t, box, now - m->since[r]);
                m->warned[r] = true;
            }
        }
    }
    return NULL;
}

/* The lock, a condition timed on CLOCK_MONOTONIC (naps unaffected by clock changes) and the
 * thread; false (nothing left to undo) on failure. */
static bool wake_init(cv_monitor *m)
{
    pthread_condattr_t a;
    if (pthread_condattr_init(&a) != 0) {
        return false;
    }
    bool ok =
        pthread_condattr_setclock(&a, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&m->wake, &a) == 0;
    pthread_condattr_destroy(&a);
    if (!ok) {
        return false;
    }
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        pthread_cond_destroy(&m->wake);
        return false;
    }
    if (pthread_create(&m->thread, NULL, watch, m) != 0) {
        pthread_mutex_destroy(&m->lock);
        pthread_cond_destroy(&m->wake);
        return false;
    }
    return true;
}

cv_monitor *cv_monitor_start(cv_progress *progress, const cv_sched *sched, double stall_seconds,
                             void (*describe)(uint64_t id, char *buf, size_t cap, void *arg),
                             void *arg)
{
    cv_monitor *m = cv_calloc(1, sizeof *m);
    if (!m) {
        return NULL;
    }
    m->progress = progress;
    m->sched = sched;
    m->stall_seconds = stall_seconds;
    m->describe = describe;
    m->arg = arg;
    m->n_ranks = cv_mpi_size();
    m->task = cv_calloc((size_t)m->n_ranks, sizeof *m->task);
    m->since = cv_calloc((size_t)m->n_ranks, sizeof *m->since);
    m->warned = cv_calloc((size_t)m->n_ranks, sizeof *m->warned);
    for (int r = 0; m->task && r < m->n_ranks; r++) {
        m->task[r] = UINT64_MAX;
    }
    if (!m->task || !m->since || !m->warned || !wake_init(m)) {
        cv_free(m->task);
        cv_free(m->since);
        cv_free(m->warned);
        cv_free(m);
        return NULL;
    }
    return m;
}

void cv_monitor_stop(cv_monitor *m)
{
    if (!m) {
        return;
    }
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lock);
    cv_free(m->task);
    cv_free(m->since);
    cv_free(m->warned);
    cv_free(m);
}
