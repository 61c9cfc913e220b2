/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_tree_sched.c: the owner table of a downsample tree stage (cv_tree_sched.h). */
#include "mpi/cv_tree_sched.h"

#include <math.h>
#include <stdlib.h>

typedef struct slot_key {
    double at; /* mean parent index of the states the rank holds; ranks holding none last */
    int rank;
} slot_key;

static int by_position(const void *a, const void *b)
{
    const slot_key *x = a, *y = b;
    if (x->at != y->at) {
        return x->at < y->at ? -1 : 1;
    }
    return (x->rank > y->rank) - (x->rank < y->rank);
}

/* Throughput of rank r in bytes per second; a rank without a measurement (it made nothing so
 * far) counts as the mean of the others, and with no measurement at all every rank is equal. */
static void speeds(const cv_tree_figures *f, int ranks, double *w)
{
    double sum = 0;
    int known = 0;
    for (int r = 0; r < ranks; r++) {
        w[r] = f[r].seconds > 0 && f[r].bytes > 0 ? f[r].bytes / f[r].seconds : 0;
        if (w[r] > 0 && isfinite(w[r])) {
            sum += w[r];
            known++;
        } else {
            w[r] = 0;
        }
    }
    double mean = known ? sum / known : 1.0;
    for (int r = 0; r < ranks; r++) {
        w[r] = w[r] > 0 ? w[r] / mean : 1.0;
    }
}

void cv_tree_sched_plan(const cv_tree_figures *f, int ranks, uint64_t undone, uint64_t cap,
                        int *order, uint64_t *count)
{
    slot_key *keys = cv_calloc((size_t)ranks, sizeof *keys);
    double *w = cv_calloc((size_t)ranks, sizeof *w);
    bool *capped = cv_calloc((size_t)ranks, sizeof *capped);
    if (!keys || !w || !capped || (double)cap * ranks < (double)undone) {
        /* no room to weigh (or a cap that cannot hold every node): equal ranges in rank order */
        for (int r = 0; r < ranks; r++) {
            order[r] = r;
            count[r] = undone / (uint64_t)ranks + ((uint64_t)r < undone % (uint64_t)ranks);
        }
        cv_free(keys);
        cv_free(w);
        cv_free(capped);
        return;
    }
    for (int r = 0; r < ranks; r++) {
        keys[r] = (slot_key){f[r].held > 0 ? f[r].held_at / f[r].held : INFINITY, r};
    }
    qsort(keys, (size_t)ranks, sizeof *keys, by_position);
    for (int k = 0; k < ranks; k++) {
        order[k] = keys[k].rank;
    }
    speeds(f, ranks, w);
    /* Water-filling: a rank whose share would pass the cap gets the cap, and the rest is shared
     * again among the others (at most `ranks` rounds). */
    uint64_t left = undone;
    for (bool again = true; again;) {
        again = false;
        double total = 0;
        for (int r = 0; r < ranks; r++) {
            total += capped[r] ? 0 : w[r];
        }
        for (int r = 0; r < ranks && total > 0; r++) {
            if (!capped[r] && (double)left * w[r] / total > (double)cap) {
                capped[r] = true;
                left -= cap;
                again = true;
            }
        }
    }
    /* The others' shares rounded down, then the nodes left one each to the largest remainders
     * (ties to the earlier slot), so a rank gets at most its share rounded up. */
    double total = 0;
    for (int r = 0; r < ranks; r++) {
        total += capped[r] ? 0 : w[r];
    }
    uint64_t given = 0;
    int n_frac = 0;
    for (int k = 0; k < ranks; k++) {
        int r = order[k];
        if (capped[r]) {
            count[k] = cap;
            continue;
        }
        double t = total > 0 ? (double)left * (w[r] / total) : 0;
        count[k] = (uint64_t)floor(t);
        count[k] = count[k] > left - given ? left - given : count[k];
        given += count[k];
        keys[n_frac++] = (slot_key){-(t - floor(t)), k}; /* reused: remainders by slot */
    }
    qsort(keys, (size_t)n_frac, sizeof *keys, by_position);
    for (int i = 0; given < left && i < n_frac; i++) {
        if (count[keys[i].rank] < cap) {
            count[keys[i].rank]++;
            given++;
        }
    }
    /* any still left (rounding at the cap): first fit */
    for (int k = 0; given < left && k < ranks; k++) {
        uint64_t room = count[k] < cap ? cap - count[k] : 0, add = left - given;
        add = add < room ? add : room;
        count[k] += add;
        given += add;
    }
    cv_free(keys);
    cv_free(w);
    cv_free(capped);
}
