/* SPDX-License-Identifier: BSD-3-Clause
 * store_file.c: the file:// backend. Objects are files under the layer directory; writes go
 * to a temporary file in the same directory and are renamed into place, so a reader never
 * sees a partial object. store.c has already checked that keys stay inside the root. */
#include "io/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TMP_MARK ".cvmpi-tmp-"

typedef struct file_store {
    char *root; /* absolute directory, no trailing '/' */
} file_store;

static atomic_uint tmp_counter;

static cv_status file_open(cv_store *s, const cv_cloudpath *p)
{
    file_store *f = cv_calloc(1, sizeof *f);
    if (!f) {
        return CV_FAIL(CV_ERR_NOMEM, "open %s", s->url);
    }
    f->root = cv__strdup(p->path);
    if (!f->root) {
        cv_free(f);
        return CV_FAIL(CV_ERR_NOMEM, "open %s", s->url);
    }
    s->impl = f;
    return CV_OK;
}

static void file_close(cv_store *s)
{
    file_store *f = s->impl;
    if (f) {
        cv_free(f->root);
        cv_free(f);
    }
}

static char *full_path(cv_store *s, const char *name)
{
    file_store *f = s->impl;
    return cv__asprintf("%s/%s", f->root, name);
}

/* Open an object for reading; an absent one is CV_ERR_NOTFOUND (recorded quietly). On success
 * *path (free with cv_free) and *fd are the caller's. */
static cv_status open_object(cv_store *s, const char *name, char **path, int *fd)
{
    *path = full_path(s, name);
    if (!*path) {
        return CV_FAIL(CV_ERR_NOMEM, "read");
    }
    *fd = open(*path, O_RDONLY | O_CLOEXEC);
    if (*fd >= 0) {
        return CV_OK;
    }
    cv_status rc = (errno == ENOENT || errno == ENOTDIR)
                       ? cv__notfound("`%s' not found", *path)
                       : CV_FAIL(CV_ERR_IO, "open `%s': %s", *path, strerror(errno));
    cv_free(*path);
    *path = NULL;
    return rc;
}

static cv_status file_get(cv_store *s, const char *name, cv_buf *out, char *encoding,
                          size_t enc_cap)
{
    (void)encoding;
    (void)enc_cap;
    char *path;
    int fd;
    CV_TRY(open_object(s, name, &path, &fd));
    struct stat st;
    cv_status rc = CV_OK;
    if (fstat(fd, &st) != 0) {
        rc = CV_FAIL(CV_ERR_IO, "stat `%s': %s", path, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        rc = cv__notfound("`%s' is a directory", path);
    }
    out->len = 0;
    size_t size = rc == CV_OK ? (size_t)st.st_size : 0;
    if (rc == CV_OK && out->max && size > out->max) {
        rc = CV_FAIL(CV_ERR_CORRUPT, "read `%s': %zu bytes, more than the %zu expected", path, size,
                     out->max);
    }
    if (rc == CV_OK) {
        rc = cv__buf_reserve(out, size);
    }
    while (rc == CV_OK && out->len < size) {
        ssize_t got = read(fd, out->data + out->len, size - out->len);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            rc = CV_FAIL(CV_ERR_IO, "read `%s': %s", path, strerror(errno));
        } else if (got == 0) {
            rc = CV_FAIL(CV_ERR_IO, "read `%s': file shrank while reading", path);
        } else {
            out->len += (size_t)got;
        }
    }
    close(fd);
    cv_free(path);
    return rc;
}

static cv_status file_get_range(cv_store *s, const char *name, uint64_t offset, uint64_t len,
                                cv_buf *out)
{
    char *path;
    int fd;
    CV_TRY(open_object(s, name, &path, &fd));
    out->len = 0;
    cv_status rc =
        len > SIZE_MAX ? CV_FAIL(CV_ERR_ARG, "range too large") : cv__buf_reserve(out, (size_t)len);
    while (rc == CV_OK && out->len < len) {
        ssize_t got =
            pread(fd, out->data + out->len, (size_t)len - out->len, (off_t)(offset + out->len));
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            rc = CV_FAIL(CV_ERR_IO, "read `%s': %s", path, strerror(errno));
        } else if (got == 0) {
            break; /* end of file: a short range */
        } else {
            out->len += (size_t)got;
        }
    }
    close(fd);
    cv_free(path);
    return rc;
}

/* mkdir -p of the directory part of `path`. */
static cv_status make_parents(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') {
            continue;
        }
        *p = '\0';
        int r = mkdir(path, 0777);
        int e = errno;
        *p = '/';
        if (r != 0 && e != EEXIST) {
            errno = e;
            return CV_FAIL(CV_ERR_IO, "create directory for `%s': %s", path, strerror(e));
        }
    }
    return CV_OK;
}

static cv_status write_all(int fd, const uint8_t *p, size_t n, const char *path)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return CV_FAIL(CV_ERR_IO, "write `%s': %s", path, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return CV_OK;
}

cv_status cv__file_put_pieces(cv_store *s, const char *name, cv_store_pieces next, void *arg)
{
    char *path = full_path(s, name);
    if (!path) {
        return CV_FAIL(CV_ERR_NOMEM, "write");
    }
    cv_status rc = CV_OK;
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
        /* Renaming over a device or FIFO would replace it; an object is a regular file. */
        rc = CV_FAIL(CV_ERR_IO, "write `%s': not a regular file", path);
        cv_free(path);
        return rc;
    }
    char *slash = strrchr(path, '/');
    char *tmp = cv__asprintf("%.*s/" TMP_MARK "%ld-%u-%s", (int)(slash - path), path,
                             (long)getpid(), atomic_fetch_add(&tmp_counter, 1), slash + 1);
    if (!tmp) {
        rc = CV_FAIL(CV_ERR_NOMEM, "write");
    }
    int fd = -1;
    if (rc == CV_OK) {
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) {
            /* Directories are made only when missing: one syscall per object, not one per
             * level of the path. */
            rc = make_parents(path);
            if (rc == CV_OK) {
                fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
            }
        }
        if (rc == CV_OK && fd < 0) {
            rc = CV_FAIL(CV_ERR_IO, "create `%s': %s", tmp, strerror(errno));
        }
    }
    while (rc == CV_OK) {
        const void *piece = NULL;
        size_t n = 0;
        rc = next(arg, &piece, &n);
        if (rc != CV_OK || n == 0) {
            break;
        }
        rc = write_all(fd, piece, n, tmp);
    }
    if (fd >= 0 && close(fd) != 0 && rc == CV_OK) {
        rc = CV_FAIL(CV_ERR_IO, "close `%s': %s", tmp, strerror(errno));
    }
    if (rc == CV_OK && rename(tmp, path) != 0) {
        rc = CV_FAIL(CV_ERR_IO, "rename `%s' to `%s': %s", tmp, path, strerror(errno));
    }
    if (rc != CV_OK && tmp) {
        unlink(tmp);
    }
    cv_free(tmp);
    cv_free(path);
    return rc;
}

typedef struct one_piece {
    const void *data;
    size_t n;
} one_piece;

static cv_status next_piece(void *arg, const void **p, size_t *n)
{
    one_piece *o = arg;
    *p = o->data;
    *n = o->n;
    o->n = 0;
    return CV_OK;
}

static cv_status file_put(cv_store *s, const char *name, const void *data, size_t n,
                          const char *encoding, const char *content_type)
{
    (void)encoding;
    (void)content_type;
    one_piece o = {data, n};
    return cv__file_put_pieces(s, name, next_piece, &o);
}

static cv_status file_put_pieces(cv_store *s, const char *name, cv_store_pieces next, void *arg,
                                 const char *content_type)
{
    (void)content_type;
    return cv__file_put_pieces(s, name, next, arg);
}

static cv_status file_exists(cv_store *s, const char *name, bool *yes)
{
    char *path = full_path(s, name);
    if (!path) {
        return CV_FAIL(CV_ERR_NOMEM, "exists");
    }
    struct stat st;
    *yes = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    cv_free(path);
    return CV_OK;
}

static cv_status file_del(cv_store *s, const char *name)
{
    char *path = full_path(s, name);
    if (!path) {
        return CV_FAIL(CV_ERR_NOMEM, "delete");
    }
    cv_status rc = CV_OK;
    if (unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR) {
        rc = CV_FAIL(CV_ERR_IO, "delete `%s': %s", path, strerror(errno));
    }
    cv_free(path);
    return rc;
}

/* Walk `dir` (relative name `rel`) recursively, reporting files whose name starts with
 * `prefix`. */
static cv_status walk(const char *root, const char *rel, const char *prefix,
                      cv_status (*fn)(const char *name, void *arg), void *arg, int depth)
{
    if (depth > 64) {
        return CV_OK;
    }
    char *dir = *rel ? cv__asprintf("%s/%s", root, rel) : cv__strdup(root);
    if (!dir) {
        return CV_FAIL(CV_ERR_NOMEM, "list");
    }
    DIR *d = opendir(dir);
    if (!d) {
        cv_status rc = (errno == ENOENT || errno == ENOTDIR)
                           ? CV_OK
                           : CV_FAIL(CV_ERR_IO, "list `%s': %s", dir, strerror(errno));
        cv_free(dir);
        return rc;
    }
    cv_status rc = CV_OK;
    struct dirent *e;
    while (rc == CV_OK && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strstr(e->d_name, TMP_MARK) == e->d_name) {
            continue;
        }
        char *name = *rel ? cv__asprintf("%s/%s", rel, e->d_name) : cv__strdup(e->d_name);
        if (!name) {
            rc = CV_FAIL(CV_ERR_NOMEM, "list");
            break;
        }
        char *full = cv__asprintf("%s/%s", dir, e->d_name);
        struct stat st;
        if (full && stat(full, &st) == 0) {
            size_t np = strlen(prefix), nn = strlen(name);
            if (S_ISDIR(st.st_mode)) {
                /* Descend only where names below can still match the prefix. */
                size_t m = nn < np ? nn : np;
                if (strncmp(name, prefix, m) == 0) {
                    rc = walk(root, name, prefix, fn, arg, depth + 1);
                }
            } else if (S_ISREG(st.st_mode) && strncmp(name, prefix, np) == 0) {
                rc = fn(name, arg);
            }
        }
        cv_free(full);
        cv_free(name);
    }
    closedir(d);
    cv_free(dir);
    return rc;
}

static cv_status file_list(cv_store *s, const char *prefix,
                           cv_status (*fn)(const char *name, void *arg), void *arg)
{
    file_store *f = s->impl;
    return walk(f->root, "", prefix, fn, arg, 0);
}

/* The object a temporary "TMP_MARK<pid>-<n>-<object>" stood for; NULL if not one. */
static const char *temp_object(const char *name)
{
    if (strncmp(name, TMP_MARK, strlen(TMP_MARK)) != 0) {
        return NULL;
    }
    const char *p = name + strlen(TMP_MARK);
    for (int field = 0; field < 2; field++) {
        if (*p < '0' || *p > '9') {
            return NULL;
        }
        p += strspn(p, "0123456789");
        if (*p++ != '-') {
            return NULL;
        }
    }
    return p;
}

typedef struct stale_sweep {
    time_t cutoff; /* remove temporaries last modified before this; 0: every one */
    cv_temp_filter filter;
    void *arg;
    size_t *removed;
} stale_sweep;

/* Remove the temporaries in `dir` and below that `w` picks. */
static cv_status remove_stale(const char *dir, const stale_sweep *w, int depth)
{
    if (depth > 64) {
        return CV_OK;
    }
    DIR *d = opendir(dir);
    if (!d) {
        return errno == ENOENT || errno == ENOTDIR
                   ? CV_OK
                   : CV_FAIL(CV_ERR_IO, "list `%s': %s", dir, strerror(errno));
    }
    cv_status rc = CV_OK;
    struct dirent *e;
    while (rc == CV_OK && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char *full = cv__asprintf("%s/%s", dir, e->d_name);
        struct stat st;
        if (!full) {
            rc = CV_FAIL(CV_ERR_NOMEM, "list `%s'", dir);
        } else if (lstat(full, &st) != 0) {
            /* gone meanwhile */
        } else if (S_ISDIR(st.st_mode)) {
            rc = remove_stale(full, w, depth + 1);
        } else if (S_ISREG(st.st_mode) && temp_object(e->d_name) &&
                   (!w->cutoff || st.st_mtime < w->cutoff) &&
                   (!w->filter || w->filter(temp_object(e->d_name), w->arg))) {
            if (unlink(full) == 0) {
                (*w->removed)++;
            } else if (errno != ENOENT) {
                rc = CV_FAIL(CV_ERR_IO, "delete `%s': %s", full, strerror(errno));
            }
        }
        cv_free(full);
    }
    closedir(d);
    return rc;
}

cv_status cv__file_store_remove_stale(cv_store *s, const char *prefix, double age_s,
                                      cv_temp_filter filter, void *arg, size_t *removed)
{
    file_store *f = s->impl;
    char *dir = *prefix ? cv__asprintf("%s/%s", f->root, prefix) : cv__strdup(f->root);
    if (!dir) {
        return CV_FAIL(CV_ERR_NOMEM, "remove temporaries");
    }
    stale_sweep w = {age_s > 0 ? time(NULL) - (time_t)age_s : 0, filter, arg, removed};
    cv_status rc = remove_stale(dir, &w, 0);
    cv_free(dir);
    return rc;
}

static cv_status file_head(cv_store *s, const char *name, cv_store_meta *m)
{
    char *path = full_path(s, name);
    if (!path) {
        return CV_FAIL(CV_ERR_NOMEM, "head");
    }
    struct stat st;
    cv_status rc = CV_OK;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = cv__notfound("`%s' not found", path);
    } else {
        m->size = (int64_t)st.st_size;
        struct tm t;
        if (gmtime_r(&st.st_mtime, &t)) {
            strftime(m->last_modified, sizeof m->last_modified, "%Y-%m-%dT%H:%M:%SZ", &t);
        }
    }
    cv_free(path);
    return rc;
}

const cv_store_ops cv_store_file = {
    "file",            /* name */
    CV_STORE_SUFFIXES, /* flags */
    file_open,         /* open */
    file_get,          /* get */
    file_get_range,    /* get_range */
    file_put,          /* put */
    file_exists,       /* exists */
    file_del,          /* del */
    NULL,              /* del_many: one by one */
    file_list,         /* list */
    NULL,              /* list_level: from list */
    file_head,         /* head: stat */
    NULL,              /* list_sized: from head */
    file_put_pieces,   /* put_pieces: a temporary file renamed into place */
    file_close,        /* close */
};
