/* SPDX-License-Identifier: BSD-3-Clause
 * chunk_lru.c: CloudVolume's lru_bytes: decoded chunks of one volume handle kept in memory,
 * least recently used out first, so repeated overlapping reads in one process decode each
 * chunk once. Shared by the read threads (one mutex); emptied by every write or delete through
 * the handle. */
#include "volume/volume.h"

#include <pthread.h>
#include <string.h>

typedef struct lru_node {
    struct lru_node *prev, *next; /* recency list: head is the most recent */
    struct lru_node *chain;       /* hash bucket */
    int mip;
    int64_t lo[3];
    size_t len;
    uint8_t data[];
} lru_node;

#define LRU_BUCKETS 4096

struct cv__chunk_lru {
    pthread_mutex_t lock;
    size_t max_bytes, bytes;
    lru_node *head, *tail;
    lru_node *buckets[LRU_BUCKETS];
};

cv__chunk_lru *cv__chunk_lru_new(size_t max_bytes)
{
    cv__chunk_lru *l = cv_calloc(1, sizeof *l);
    if (l) {
        pthread_mutex_init(&l->lock, NULL);
        l->max_bytes = max_bytes;
    }
    return l;
}

static size_t bucket_of(int mip, const int64_t lo[3])
{
    uint64_t h = (uint64_t)mip * 0x9e3779b97f4a7c15u;
    for (int d = 0; d < 3; d++) {
        h = (h ^ (uint64_t)lo[d]) * 0x100000001b3u;
    }
    return (size_t)(h ^ h >> 29) % LRU_BUCKETS;
}

static void unlink_node(cv__chunk_lru *l, lru_node *n)
{
    if (n->prev) {
        n->prev->next = n->next;
    } else {
        l->head = n->next;
    }
    if (n->next) {
        n->next->prev = n->prev;
    } else {
        l->tail = n->prev;
    }
    n->prev = n->next = NULL;
}

static void push_front(cv__chunk_lru *l, lru_node *n)
{
    n->prev = NULL;
    n->next = l->head;
    if (l->head) {
        l->head->prev = n;
    }
    l->head = n;
    if (!l->tail) {
        l->tail = n;
    }
}

static void remove_node(cv__chunk_lru *l, lru_node *n)
{
    lru_node **p = &l->buckets[bucket_of(n->mip, n->lo)];
    while (*p != n) {
        p = &(*p)->chain;
    }
    *p = n->chain;
    unlink_node(l, n);
    l->bytes -= n->len;
    cv_free(n);
}

static lru_node *find(cv__chunk_lru *l, int mip, const int64_t lo[3])
{
    for (lru_node *n = l->buckets[bucket_of(mip, lo)]; n; n = n->chain) {
        if (n->mip == mip && memcmp(n->lo, lo, sizeof n->lo) == 0) {
            return n;
        }
    }
    return NULL;
}

bool cv__chunk_lru_get(cv__chunk_lru *l, int mip, const int64_t lo[3], cv_buf *out)
{
    pthread_mutex_lock(&l->lock);
    lru_node *n = find(l, mip, lo);
    bool hit = n && (!out->max || n->len <= out->max) && cv__buf_reserve(out, n->len) == CV_OK;
    if (hit) {
        memcpy(out->data, n->data, n->len);
        out->len = n->len;
        unlink_node(l, n);
        push_front(l, n);
    }
    pthread_mutex_unlock(&l->lock);
    return hit;
}

void cv__chunk_lru_put(cv__chunk_lru *l, int mip, const int64_t lo[3], const void *data, size_t len)
{
    if (len > l->max_bytes || len > SIZE_MAX - sizeof(lru_node)) {
        return; /* a chunk larger than the whole LRU is never kept */
    }
    lru_node *n = cv_calloc(1, sizeof *n + len);
    if (!n) {
        return; /* the LRU is an optimisation: out of memory just skips it */
    }
    n->mip = mip;
    memcpy(n->lo, lo, sizeof n->lo);
    n->len = len;
    memcpy(n->data, data, len);
    pthread_mutex_lock(&l->lock);
    lru_node *old = find(l, mip, lo);
    if (old) {
        remove_node(l, old);
    }
    while (l->tail && l->bytes + len > l->max_bytes) {
        remove_node(l, l->tail);
    }
    size_t b = bucket_of(mip, lo);
    n->chain = l->buckets[b];
    l->buckets[b] = n;
    push_front(l, n);
    l->bytes += len;
    pthread_mutex_unlock(&l->lock);
}

void cv__chunk_lru_clear(cv__chunk_lru *l)
{
    if (!l) {
        return;
    }
    pthread_mutex_lock(&l->lock);
    while (l->tail) {
        remove_node(l, l->tail);
    }
    pthread_mutex_unlock(&l->lock);
}

size_t cv__chunk_lru_bytes(cv__chunk_lru *l)
{
    pthread_mutex_lock(&l->lock);
    size_t b = l->bytes;
    pthread_mutex_unlock(&l->lock);
    return b;
}

void cv__chunk_lru_free(cv__chunk_lru *l)
{
    if (!l) {
        return;
    }
    cv__chunk_lru_clear(l);
    pthread_mutex_destroy(&l->lock);
    cv_free(l);
}
