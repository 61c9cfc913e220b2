/* SPDX-License-Identifier: BSD-3-Clause
 * cloudpath.c: cloud path grammar as CloudFiles' paths.extract() (cloudvolume-conventions §1):
 * optional "FORMAT://" prefix or "|FORMAT:" tail, the protocol, aliases, explicit S3
 * endpoints, and bare filesystem paths made absolute. */
#include "io/store.h"

#include "base/json_py.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const formats[] = {"precomputed", "graphene", "boss",  "n5",
                                      "zarr",        "zarr2",    "zarr3", NULL};
static const char *const protocols[] = {"gs", "s3", "file", "http", "https", "mem", NULL};
static const struct {
    const char *alias, *host;
} aliases[] = {
    {"matrix", "https://s3-hpcrc.rc.princeton.edu"},
    {"tigerdata", "https://td.princeton.edu"},
    {"nokura", "https://c10s.pni.princeton.edu"},
};

static bool in_list(const char *const *list, const char *s, size_t n)
{
    for (; *list; list++) {
        if (strlen(*list) == n && strncmp(*list, s, n) == 0) {
            return true;
        }
    }
    return false;
}

/* User aliases, CloudFiles' $CLOUD_FILES_DIR/aliases.json (default ~/.cloudfiles/aliases.json):
 * {"NAME": {"host": "s3://https://example.com/"}}. Read once, when a path first uses a
 * protocol that is not built in; they cannot shadow protocols, formats or official aliases. */
static pthread_mutex_t user_lock = PTHREAD_MUTEX_INITIALIZER;
static bool user_loaded;
static cJSON *user_aliases;

static void load_user_aliases(void)
{
    const char *dir = getenv("CLOUD_FILES_DIR");
    const char *home = getenv("HOME");
    char *path = dir && *dir ? cv__asprintf("%s/aliases.json", dir)
                             : cv__asprintf("%s/.cloudfiles/aliases.json", home ? home : "");
    FILE *f = path ? fopen(path, "rb") : NULL;
    cv_free(path);
    if (!f) {
        return;
    }
    char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    cJSON *o = cJSON_Parse(text);
    if (cJSON_IsObject(o)) {
        user_aliases = o;
    } else {
        cJSON_Delete(o);
        CV_LOG(CV_LOG_WARN, "ignoring aliases.json: not a JSON object");
    }
}

/* The endpoint ("https://host:port") of user alias name[0, n), copied into host; or false. */
static bool user_alias_host(const char *name, size_t n, char *host, size_t cap)
{
    bool found = false;
    pthread_mutex_lock(&user_lock);
    if (!user_loaded) {
        load_user_aliases();
        user_loaded = true;
    }
    const cJSON *a;
    cJSON_ArrayForEach(a, user_aliases)
    {
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(a, "host");
        if (found || !a->string || strlen(a->string) != n || strncmp(a->string, name, n) != 0 ||
            !cJSON_IsString(h)) {
            continue;
        }
        const char *v = h->valuestring;
        if (strncmp(v, "s3://", 5) == 0 &&
            (strncmp(v + 5, "http://", 7) == 0 || strncmp(v + 5, "https://", 8) == 0)) {
            snprintf(host, cap, "%s", v + 5);
            size_t len = strlen(host);
            while (len > 0 && host[len - 1] == '/') {
                host[--len] = '\0';
            }
            found = len > 0 && strchr(strstr(host, "://") + 3, '/') == NULL;
        }
        if (!found) {
            CV_LOG(CV_LOG_WARN, "alias %s: host `%s' is not s3://http(s)://HOST[:PORT]/", a->string,
                   v);
        }
    }
    pthread_mutex_unlock(&user_lock);
    return found;
}

void cv__cloudpath_fini(cv_cloudpath *p)
{
    cv_free(p->host);
    cv_free(p->bucket);
    cv_free(p->path);
    memset(p, 0, sizeof *p);
}

/* Split "bucket/rest" into bucket and path. */
static cv_status split_bucket(const char *rest, cv_cloudpath *p, const char *text)
{
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    if (n == 0) {
        return CV_FAIL(CV_ERR_ARG, "bad cloud path `%s': no bucket", text);
    }
    p->bucket = cv__strndup(rest, n);
    p->path = cv__strdup(slash ? slash + 1 : "");
    return p->bucket && p->path ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "cloud path");
}

static cv_status absolute_file_path(const char *path, cv_cloudpath *p)
{
    if (path[0] == '/') {
        p->path = cv__strdup(path);
    } else if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
        const char *home = getenv("HOME");
        p->path = cv__asprintf("%s%s", home ? home : "", path + 1);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) {
            return CV_FAIL(CV_ERR_IO, "resolve `%s': cannot read the current directory", path);
        }
        p->path = cv__asprintf("%s/%s", cwd, path);
    }
    if (!p->path) {
        return CV_FAIL(CV_ERR_NOMEM, "cloud path");
    }
    /* Trailing slashes are tolerated. */
    size_t n = strlen(p->path);
    while (n > 1 && p->path[n - 1] == '/') {
        p->path[--n] = '\0';
    }
    return CV_OK;
}

/* The '|' starting a "|format:" tail that ends s[0, n), or NULL. "|:" names no format. */
static char *format_tail(char *s, size_t n)
{
    if (n < 3 || s[n - 1] != ':') {
        return NULL;
    }
    char *bar = NULL;
    for (size_t i = 0; i + 2 < n; i++) {
        if (s[i] == '|') {
            bar = s + i;
        }
    }
    return bar && !memchr(bar + 1, '|', (size_t)(s + n - bar - 1)) ? bar : NULL;
}

cv_status cv__cloudpath_parse(const char *text, cv_cloudpath *out)
{
    cv_cloudpath p;
    memset(&p, 0, sizeof p);
    snprintf(p.format, sizeof p.format, "precomputed");
    char *work = cv__strdup(text);
    if (!work) {
        return CV_FAIL(CV_ERR_NOMEM, "cloud path");
    }
    if (!*work) {
        cv_free(work);
        return CV_FAIL(CV_ERR_ARG, "bad cloud path: empty");
    }
    /* Neuroglancer-style "|format:" tail. */
    char *bar = format_tail(work, strlen(work));
    if (bar) {
        size_t n = strlen(bar + 1) - 1;
        if (!(n == strlen("neuroglancer-precomputed") &&
              strncmp(bar + 1, "neuroglancer-precomputed", n) == 0)) {
            snprintf(p.format, sizeof p.format, "%.*s", (int)n, bar + 1);
        }
        *bar = '\0';
    }
    /* What is left must not end in a tail, not even behind the trailing slashes trimmed
     * below: the normalised URL ends there, and parsing it again would take a format. */
    size_t left = strlen(work);
    while (left > 0 && work[left - 1] == '/') {
        left--;
    }
    if (format_tail(work, left)) {
        cv_free(work);
        return CV_FAIL(CV_ERR_ARG,
                       "bad cloud path `%s': a \"|format:\" tail must come once, "
                       "at the very end",
                       text);
    }
    const char *rest = work;
    const char *sep = strstr(rest, "://");
    if (sep && in_list(formats, rest, (size_t)(sep - rest))) {
        snprintf(p.format, sizeof p.format, "%.*s", (int)(sep - rest), rest);
        rest = sep + 3;
        sep = strstr(rest, "://");
        if (sep && in_list(formats, rest, (size_t)(sep - rest))) {
            cv_free(work);
            return CV_FAIL(CV_ERR_ARG, "bad cloud path `%s': two formats", text);
        }
    }
    cv_status rc = CV_OK;
    if (!sep && strcmp(p.format, "boss") == 0) {
        /* boss://COLLECTION/EXPERIMENT/CHANNEL: BossDB, not a file path */
        snprintf(p.protocol, sizeof p.protocol, "boss");
        rc = split_bucket(rest, &p, text);
    } else if (!sep || strchr(rest, '/') < sep) {
        /* A bare filesystem path. */
        snprintf(p.protocol, sizeof p.protocol, "file");
        rc = absolute_file_path(rest, &p);
    } else {
        size_t plen = (size_t)(sep - rest);
        const char *after = sep + 3;
        const char *alias_host = NULL;
        char user_host[512];
        for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
            if (strlen(aliases[i].alias) == plen && strncmp(rest, aliases[i].alias, plen) == 0) {
                alias_host = aliases[i].host;
                snprintf(p.alias, sizeof p.alias, "%s", aliases[i].alias);
            }
        }
        if (!alias_host && !in_list(protocols, rest, plen) && plen < sizeof p.alias &&
            user_alias_host(rest, plen, user_host, sizeof user_host)) {
            alias_host = user_host;
            snprintf(p.alias, sizeof p.alias, "%.*s", (int)plen, rest);
        }
        if (alias_host) {
            snprintf(p.protocol, sizeof p.protocol, "s3");
            p.host = cv__strdup(alias_host);
            rc = split_bucket(after, &p, text);
        } else if (!in_list(protocols, rest, plen)) {
            rc = CV_FAIL(CV_ERR_UNSUPPORTED, "bad cloud path `%s': unknown protocol \"%.*s\"", text,
                         (int)plen, rest);
        } else {
            snprintf(p.protocol, sizeof p.protocol, "%.*s", (int)plen, rest);
            const char *inner = strstr(after, "://");
            bool explicit_endpoint =
                inner && strncmp(p.protocol, "s3", 3) == 0 &&
                (strncmp(after, "http://", 7) == 0 || strncmp(after, "https://", 8) == 0);
            if (inner && !explicit_endpoint && strchr(after, '/') > inner) {
                rc = CV_FAIL(CV_ERR_ARG, "bad cloud path `%s': two protocols", text);
            } else if (explicit_endpoint) {
                const char *host_end = strchr(inner + 3, '/');
                if (!host_end) {
                    rc = CV_FAIL(CV_ERR_ARG, "bad cloud path `%s': no bucket", text);
                } else {
                    p.host = cv__strndup(after, (size_t)(host_end - after));
                    rc = split_bucket(host_end + 1, &p, text);
                }
            } else if (strcmp(p.protocol, "file") == 0) {
                rc = absolute_file_path(after, &p);
            } else if (strcmp(p.protocol, "http") == 0 || strcmp(p.protocol, "https") == 0) {
                const char *host_end = strchr(after, '/');
                size_t hn = host_end ? (size_t)(host_end - after) : strlen(after);
                if (hn == 0) {
                    rc = CV_FAIL(CV_ERR_ARG, "bad cloud path `%s': no host", text);
                } else {
                    p.host = cv__asprintf("%s://%.*s", p.protocol, (int)hn, after);
                    p.path = cv__strdup(host_end ? host_end + 1 : "");
                }
            } else {
                rc = split_bucket(after, &p, text);
            }
        }
    }
    cv_free(work);
    if (rc == CV_OK && p.path) {
        size_t n = strlen(p.path);
        while (n > 1 && p.path[n - 1] == '/') {
            p.path[--n] = '\0';
        }
    }
    if (rc != CV_OK) {
        cv__cloudpath_fini(&p);
        return rc;
    }
    *out = p;
    return CV_OK;
}

char *cv__cloudpath_url(const cv_cloudpath *p)
{
    if (strcmp(p->protocol, "file") == 0) {
        return cv__asprintf("file://%s", p->path);
    }
    const char *path = p->path ? p->path : "";
    const char *sep = *path ? "/" : "";
    if (p->bucket && p->host && strcmp(p->protocol, "s3") == 0) {
        if (p->alias[0]) {
            return cv__asprintf("%s://%s%s%s", p->alias, p->bucket, sep, path);
        }
        return cv__asprintf("s3://%s/%s%s%s", p->host, p->bucket, sep, path);
    }
    if (p->bucket) {
        return cv__asprintf("%s://%s%s%s", p->protocol, p->bucket, sep, path);
    }
    return cv__asprintf("%s%s%s", p->host ? p->host : "", sep, path);
}

cv_status cv__cloudpath_split(const char *text, char **dir_url, char **name)
{
    cv_cloudpath p;
    CV_TRY(cv__cloudpath_parse(text, &p));
    const char *path = p.path ? p.path : "";
    bool is_file = strcmp(p.protocol, "file") == 0;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base) {
        cv__cloudpath_fini(&p);
        return CV_FAIL(CV_ERR_ARG, "`%s' names a %s, not an object", text,
                       is_file    ? "directory"
                       : p.bucket ? "bucket"
                                  : "host");
    }
    char *leaf = cv__strdup(base);
    /* The directory keeps its leading '/' on file://; elsewhere the path is relative. */
    char *dir = slash ? cv__strndup(path, (size_t)(slash - path) + (slash == path && is_file))
                      : cv__strdup("");
    char *url = NULL;
    if (leaf && dir) {
        cv_free(p.path);
        p.path = dir;
        dir = NULL;
        url = cv__cloudpath_url(&p);
    }
    cv_free(dir);
    cv__cloudpath_fini(&p);
    if (!url) {
        cv_free(leaf);
        return CV_FAIL(CV_ERR_NOMEM, "split `%s'", text);
    }
    *dir_url = url;
    *name = leaf;
    return CV_OK;
}
