/* SPDX-License-Identifier: BSD-3-Clause
 * store_mem.c: the mem:// backend, a process-wide map of object name -> bytes used by tests
 * (CloudFiles' mem:// keeps the same suffix convention as file://). Thread-safe. */
#include "io/store.h"

#include <pthread.h>
#include <string.h>

typedef struct mem_obj {
    char *name; /* "bucket/path/key" */
    uint8_t *data;
    size_t len;
    struct mem_obj *next;
} mem_obj;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static mem_obj *objects;

typedef struct mem_store {
    char *base; /* "bucket/path" */
} mem_store;

static cv_status mem_open(cv_store *s, const cv_cloudpath *p)
{
    mem_store *m = cv_calloc(1, sizeof *m);
    if (!m) {
        return CV_FAIL(CV_ERR_NOMEM, "open %s", s->url);
    }
    m->base = *p->path ? cv__asprintf("%s/%s", p->bucket, p->path) : cv__strdup(p->bucket);
    if (!m->base) {
        cv_free(m);
        return CV_FAIL(CV_ERR_NOMEM, "open %s", s->url);
    }
    s->impl = m;
    return CV_OK;
}

static void mem_close(cv_store *s)
{
    mem_store *m = s->impl;
    if (m) {
        cv_free(m->base);
        cv_free(m);
    }
}

static char *full_name(cv_store *s, const char *name)
{
    mem_store *m = s->impl;
    return cv__asprintf("%s/%s", m->base, name);
}

/* Caller holds the lock. */
static mem_obj **find(const char *full)
{
    for (mem_obj **o = &objects; *o; o = &(*o)->next) {
        if (strcmp((*o)->name, full) == 0) {
            return o;
        }
    }
    return NULL;
}

static cv_status mem_get(cv_store *s, const char *name, cv_buf *out, char *encoding, size_t enc_cap)
{
    (void)encoding;
    (void)enc_cap;
    char *full = full_name(s, name);
    if (!full) {
        return CV_FAIL(CV_ERR_NOMEM, "read");
    }
    cv_status rc;
    pthread_mutex_lock(&lock);
    mem_obj **o = find(full);
    out->len = 0;
    if (!o) {
        rc = cv__notfound("`%s' not found", full);
    } else {
        rc = cv__buf_append(out, (*o)->data, (*o)->len);
    }
    pthread_mutex_unlock(&lock);
    cv_free(full);
    return rc;
}

static cv_status mem_get_range(cv_store *s, const char *name, uint64_t offset, uint64_t len,
                               cv_buf *out)
{
    char *full = full_name(s, name);
    if (!full) {
        return CV_FAIL(CV_ERR_NOMEM, "read");
    }
    cv_status rc;
    pthread_mutex_lock(&lock);
    mem_obj **o = find(full);
    out->len = 0;
    if (!o) {
        rc = cv__notfound("`%s' not found", full);
    } else {
        size_t size = (*o)->len;
        size_t start = offset < size ? (size_t)offset : size;
        size_t n = len < size - start ? (size_t)len : size - start;
        rc = cv__buf_append(out, (*o)->data + start, n);
    }
    pthread_mutex_unlock(&lock);
    cv_free(full);
    return rc;
}

static cv_status mem_put(cv_store *s, const char *name, const void *data, size_t n,
                         const char *encoding, const char *content_type)
{
    (void)encoding;
    (void)content_type;
    char *full = full_name(s, name);
    uint8_t *copy = cv_malloc(n);
    if (!full || !copy) {
        cv_free(full);
        cv_free(copy);
        return CV_FAIL(CV_ERR_NOMEM, "write");
    }
    if (n) {
        memcpy(copy, data, n);
    }
    pthread_mutex_lock(&lock);
    mem_obj **o = find(full);
    cv_status rc = CV_OK;
    if (o) {
        cv_free((*o)->data);
        (*o)->data = copy;
        (*o)->len = n;
        cv_free(full);
    } else {
        mem_obj *obj = cv_calloc(1, sizeof *obj);
        if (!obj) {
            cv_free(full);
            cv_free(copy);
            rc = CV_FAIL(CV_ERR_NOMEM, "write");
        } else {
            obj->name = full;
            obj->data = copy;
            obj->len = n;
            obj->next = objects;
            objects = obj;
        }
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

static cv_status mem_exists(cv_store *s, const char *name, bool *yes)
{
    char *full = full_name(s, name);
    if (!full) {
        return CV_FAIL(CV_ERR_NOMEM, "exists");
    }
    pthread_mutex_lock(&lock);
    *yes = find(full) != NULL;
    pthread_mutex_unlock(&lock);
    cv_free(full);
    return CV_OK;
}

static cv_status mem_del(cv_store *s, const char *name)
{
    char *full = full_name(s, name);
    if (!full) {
        return CV_FAIL(CV_ERR_NOMEM, "delete");
    }
    pthread_mutex_lock(&lock);
    mem_obj **o = find(full);
    if (o) {
        mem_obj *dead = *o;
        *o = dead->next;
        cv_free(dead->name);
        cv_free(dead->data);
        cv_free(dead);
    }
    pthread_mutex_unlock(&lock);
    cv_free(full);
    return CV_OK;
}

static cv_status mem_list(cv_store *s, const char *prefix,
                          cv_status (*fn)(const char *name, void *arg), void *arg)
{
    mem_store *m = s->impl;
    char *want = cv__asprintf("%s/%s", m->base, prefix);
    if (!want) {
        return CV_FAIL(CV_ERR_NOMEM, "list");
    }
    size_t base_len = strlen(m->base) + 1, want_len = strlen(want);
    /* Copy the matching names out first: fn may call back into the store. */
    char **names = NULL;
    size_t n = 0, cap = 0;
    cv_status rc = CV_OK;
    pthread_mutex_lock(&lock);
    for (mem_obj *o = objects; o && rc == CV_OK; o = o->next) {
        if (strncmp(o->name, want, want_len) != 0) {
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **g = cv_realloc(names, sizeof *g * cap);
            if (!g) {
                rc = CV_FAIL(CV_ERR_NOMEM, "list");
                break;
            }
            names = g;
        }
        names[n] = cv__strdup(o->name + base_len);
        if (!names[n]) {
            rc = CV_FAIL(CV_ERR_NOMEM, "list");
            break;
        }
        n++;
    }
    pthread_mutex_unlock(&lock);
    for (size_t i = 0; i < n; i++) {
        if (rc == CV_OK) {
            rc = fn(names[i], arg);
        }
        cv_free(names[i]);
    }
    cv_free(names);
    cv_free(want);
    return rc;
}

static cv_status mem_head(cv_store *s, const char *name, cv_store_meta *m)
{
    char *full = full_name(s, name);
    if (!full) {
        return CV_FAIL(CV_ERR_NOMEM, "head");
    }
    pthread_mutex_lock(&lock);
    mem_obj **o = find(full);
    if (o) {
        m->size = (int64_t)(*o)->len;
    }
    pthread_mutex_unlock(&lock);
    cv_status rc = o ? CV_OK : cv__notfound("`%s' not found", full);
    cv_free(full);
    return rc;
}

const cv_store_ops cv_store_mem = {
    "mem",             /* name */
    CV_STORE_SUFFIXES, /* flags */
    mem_open,          /* open */
    mem_get,           /* get */
    mem_get_range,     /* get_range */
    mem_put,           /* put */
    mem_exists,        /* exists */
    mem_del,           /* del */
    NULL,              /* del_many: one by one */
    mem_list,          /* list */
    NULL,              /* list_level: from list */
    mem_head,          /* head */
    NULL,              /* list_sized: from head */
    NULL,              /* put_pieces: store.c collects the pieces */
    mem_close,         /* close */
};
