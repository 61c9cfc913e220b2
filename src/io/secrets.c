/* SPDX-License-Identifier: BSD-3-Clause
 * secrets.c: CloudFiles' credential lookup (cloudvolume-conventions §2): bucket-prefixed and
 * plain "<service>-secret.json" files in $CLOUD_VOLUME_DIR/secrets, /, $CLOUD_FILES_DIR/secrets,
 * the `secrets` option, and the AWS environment variables. Secret values are never logged or
 * put into error messages; only the file they came from is named. */
#include "io/http.h"

#include "base/json_py.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Per (service, bucket): the file's text, or NULL when there is none. */
typedef struct cached {
    char *service, *bucket;
    char *text, *where;
    struct cached *next;
} cached;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static cached *cache;
static char *override;

cv_status cv__secrets_set(const char *json)
{
    char *copy = NULL;
    if (json) {
        cJSON *v = cJSON_Parse(json);
        bool is_object = v && cJSON_IsObject(v);
        cJSON_Delete(v);
        if (!is_object) {
            return CV_FAIL(CV_ERR_ARG, "secrets: not a JSON object");
        }
        copy = cv__strdup(json);
        if (!copy) {
            return CV_FAIL(CV_ERR_NOMEM, "secrets");
        }
    }
    pthread_mutex_lock(&lock);
    cv_free(override);
    override = copy;
    pthread_mutex_unlock(&lock);
    return CV_OK;
}

static char *read_small_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    cv_buf b;
    cv__buf_init(&b, 1 << 20);
    char chunk[4096];
    size_t n;
    bool ok = true;
    while (ok && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        ok = cv__buf_append(&b, chunk, n) == CV_OK;
    }
    ok = ok && !ferror(f) && cv__buf_append(&b, "", 1) == CV_OK;
    fclose(f);
    if (!ok) {
        cv__buf_fini(&b);
        return NULL;
    }
    size_t len;
    return (char *)cv__buf_take(&b, &len);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* CloudFiles' secretpath(): the first of the three places that has `name`, or NULL. */
static char *find_secret_file(const char *name)
{
    const char *home = getenv("HOME");
    const char *cv_dir = getenv("CLOUD_VOLUME_DIR");
    const char *cf_dir = getenv("CLOUD_FILES_DIR");
    char *candidates[3] = {
        cv_dir && *cv_dir ? cv__asprintf("%s/secrets/%s", cv_dir, name)
                          : cv__asprintf("%s/.cloudvolume/secrets/%s", home ? home : "", name),
        cv__asprintf("/%s", name),
        cf_dir && *cf_dir ? cv__asprintf("%s/secrets/%s", cf_dir, name)
                          : cv__asprintf("%s/.cloudfiles/secrets/%s", home ? home : "", name),
    };
    char *found = NULL;
    for (int i = 0; i < 3; i++) {
        if (!found && candidates[i] && is_file(candidates[i])) {
            found = candidates[i];
        } else {
            cv_free(candidates[i]);
        }
    }
    return found;
}

static cv_status lookup_files(const char *service, const char *bucket, char **text, char **where)
{
    char *names[2] = {bucket && *bucket ? cv__asprintf("%s-%s-secret.json", bucket, service) : NULL,
                      cv__asprintf("%s-secret.json", service)};
    *text = NULL;
    *where = NULL;
    cv_status rc = CV_OK;
    for (int i = 0; i < 2 && !*where; i++) {
        if (!names[i]) {
            continue;
        }
        char *path = find_secret_file(names[i]);
        if (path) {
            *text = read_small_file(path);
            if (!*text) {
                rc = CV_FAIL(CV_ERR_IO, "read secret `%s': %s", path, strerror(errno));
                cv_free(path);
                break;
            }
            *where = path;
        }
    }
    cv_free(names[0]);
    cv_free(names[1]);
    return rc;
}

static bool same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

cv_status cv__secret_read(const char *service, const char *bucket, char **text, char **where)
{
    pthread_mutex_lock(&lock);
    if (override) {
        char *t = cv__strdup(override);
        char *w = cv__strdup("the secrets option");
        pthread_mutex_unlock(&lock);
        if (!t || !w) {
            cv_free(t);
            cv_free(w);
            return CV_FAIL(CV_ERR_NOMEM, "secrets");
        }
        *text = t;
        if (where) {
            *where = w;
        } else {
            cv_free(w);
        }
        return CV_OK;
    }
    cached *c = cache;
    while (c && !(same(c->service, service) && same(c->bucket, bucket))) {
        c = c->next;
    }
    if (!c) {
        /* Read under the lock: rare, small files, and it keeps one answer per process. */
        char *t, *w;
        cv_status rc = lookup_files(service, bucket, &t, &w);
        if (rc != CV_OK) {
            pthread_mutex_unlock(&lock);
            return rc;
        }
        c = cv_calloc(1, sizeof *c);
        if (c) {
            c->service = cv__strdup(service);
            c->bucket = cv__strdup(bucket ? bucket : "");
            c->text = t;
            c->where = w;
            c->next = cache;
            cache = c;
        } else {
            cv_free(t);
            cv_free(w);
            pthread_mutex_unlock(&lock);
            return CV_FAIL(CV_ERR_NOMEM, "secrets");
        }
    }
    if (!c->text) {
        pthread_mutex_unlock(&lock);
        return cv__notfound("no %s secret", service);
    }
    char *t = cv__strdup(c->text);
    char *w = where ? cv__strdup(c->where) : NULL;
    pthread_mutex_unlock(&lock);
    if (!t || (where && !w)) {
        cv_free(t);
        cv_free(w);
        return CV_FAIL(CV_ERR_NOMEM, "secrets");
    }
    *text = t;
    if (where) {
        *where = w;
    }
    return CV_OK;
}

/* Copy member `name` (a string) of `o` into dst; false if absent or too long. */
static bool member(const cJSON *o, const char *name, char *dst, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap) {
        return false;
    }
    snprintf(dst, cap, "%s", v->valuestring);
    return true;
}

static void env_copy(const char *name, char *dst, size_t cap)
{
    const char *v = getenv(name);
    if (v && *v && strlen(v) < cap) {
        snprintf(dst, cap, "%s", v);
    }
}

cv_status cv__aws_creds(const char *service, const char *bucket, cv_aws_creds *out)
{
    cv_aws_creds c;
    memset(&c, 0, sizeof c);
    char *text = NULL, *where = NULL;
    cv_status rc = cv__secret_read(service, bucket, &text, &where);
    if (rc == CV_OK) {
        cJSON *o = cJSON_Parse(text);
        bool ok = cJSON_IsObject(o) && member(o, "AWS_ACCESS_KEY_ID", c.key_id, sizeof c.key_id) &&
                  member(o, "AWS_SECRET_ACCESS_KEY", c.secret, sizeof c.secret);
        if (ok) {
            member(o, "AWS_SESSION_TOKEN", c.token, sizeof c.token);
            member(o, "AWS_DEFAULT_REGION", c.region, sizeof c.region);
        }
        cJSON_Delete(o);
        cv_free(text);
        if (!ok) {
            rc = CV_FAIL(CV_ERR_ARG,
                         "secret %s: needs string members AWS_ACCESS_KEY_ID and "
                         "AWS_SECRET_ACCESS_KEY",
                         where);
            cv_free(where);
            return rc;
        }
        CV_LOG(CV_LOG_DEBUG, "s3 credentials for bucket %s from %s", bucket ? bucket : "", where);
        cv_free(where);
    } else if (rc == CV_ERR_NOTFOUND) {
        env_copy("AWS_ACCESS_KEY_ID", c.key_id, sizeof c.key_id);
        env_copy("AWS_SECRET_ACCESS_KEY", c.secret, sizeof c.secret);
        if (c.key_id[0] && c.secret[0]) {
            env_copy("AWS_SESSION_TOKEN", c.token, sizeof c.token);
        } else {
            c.key_id[0] = c.secret[0] = '\0';
            c.is_anonymous = true;
        }
    } else {
        return rc;
    }
    if (!c.region[0]) {
        env_copy("AWS_REGION", c.region, sizeof c.region);
        env_copy("AWS_DEFAULT_REGION", c.region, sizeof c.region);
    }
    if (!c.region[0]) {
        snprintf(c.region, sizeof c.region, "us-east-1");
    }
    *out = c;
    return CV_OK;
}

/* CloudVolume's secretpath('secrets', name): $CLOUD_VOLUME_DIR/secrets (~/.cloudvolume/secrets),
 * then the older ~/.neuroglancer/secrets and /secrets; NULL if none has it. */
static char *find_cave_file(const char *name)
{
    const char *home = getenv("HOME");
    const char *cv_dir = getenv("CLOUD_VOLUME_DIR");
    char *candidates[3] = {
        cv_dir && *cv_dir ? cv__asprintf("%s/secrets/%s", cv_dir, name)
                          : cv__asprintf("%s/.cloudvolume/secrets/%s", home ? home : "", name),
        cv__asprintf("%s/.neuroglancer/secrets/%s", home ? home : "", name),
        cv__asprintf("/secrets/%s", name),
    };
    char *found = NULL;
    for (int i = 0; i < 3; i++) {
        if (!found && candidates[i] && is_file(candidates[i])) {
            found = candidates[i];
        } else {
            cv_free(candidates[i]);
        }
    }
    return found;
}

/* CloudVolume accepts hexadecimal or base64 tokens only (and so no header can be forged). */
static bool token_well_formed(const char *t)
{
    size_t n = strlen(t), hex = strspn(t, "0123456789abcdef");
    if (n > 0 && hex == n) {
        return true;
    }
    size_t body = strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    size_t pad = strspn(t + body, "=");
    return body > 0 && body + pad == n && pad <= 2;
}

cv_status cv__cave_token(const char *fqdn, char **token, char **where)
{
    char *text = NULL, *path = NULL;
    pthread_mutex_lock(&lock);
    if (override) {
        text = cv__strdup(override);
        path = cv__strdup("the secrets option");
    }
    pthread_mutex_unlock(&lock);
    char *names[3] = {fqdn && *fqdn ? cv__asprintf("%s-cave-secret.json", fqdn) : NULL,
                      cv__strdup("cave-secret.json"), cv__strdup("chunkedgraph-secret.json")};
    for (int i = 0; i < 3 && !path; i++) {
        path = names[i] ? find_cave_file(names[i]) : NULL;
        if (path && !(text = read_small_file(path))) {
            cv_status rc = CV_FAIL(CV_ERR_IO, "read secret `%s': %s", path, strerror(errno));
            cv_free(path);
            for (int k = 0; k < 3; k++) {
                cv_free(names[k]);
            }
            return rc;
        }
    }
    for (int k = 0; k < 3; k++) {
        cv_free(names[k]);
    }
    if (!path) {
        return CV_FAIL(CV_ERR_ARG,
                       "no graphene token: none of %s-cave-secret.json, cave-secret.json, "
                       "chunkedgraph-secret.json in ~/.cloudvolume/secrets (or "
                       "$CLOUD_VOLUME_DIR/secrets)",
                       fqdn ? fqdn : "");
    }
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "token");
    char *tok = cJSON_IsString(t) ? cv__strdup(t->valuestring) : NULL;
    cJSON_Delete(o);
    if (text) {
        memset(text, 0, strlen(text));
        cv_free(text);
    }
    cv_status rc = CV_OK;
    if (!tok || !*tok) {
        rc = CV_FAIL(CV_ERR_ARG, "graphene secret %s: needs a string member \"token\"", path);
    } else if (!token_well_formed(tok)) {
        rc = CV_FAIL(CV_ERR_ARG, "graphene secret %s: the token is neither hexadecimal nor base64",
                     path);
    }
    if (rc != CV_OK) {
        if (tok) {
            memset(tok, 0, strlen(tok));
        }
        cv_free(tok);
        cv_free(path);
        return rc;
    }
    *token = tok;
    if (where) {
        *where = path;
    } else {
        cv_free(path);
    }
    return CV_OK;
}
