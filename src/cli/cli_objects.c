/* SPDX-License-Identifier: BSD-3-Clause
 * cli_objects.c: a PATH of `rm`, `du` or `head` resolved to an object or a directory. */
#include "cli/cli_objects.h"

#include <string.h>
#include <sys/stat.h>

char *cli_join(const char *base, const char *name)
{
    size_t n = strlen(base);
    return cv__asprintf("%s%s%s", base, n && base[n - 1] == '/' ? "" : "/", name);
}

/* Whether `text` has a ".." part between slashes (or at either end). */
static bool has_dotdot(const char *text)
{
    for (const char *p = strstr(text, ".."); p; p = strstr(p + 1, "..")) {
        bool starts = p == text || p[-1] == '/';
        bool ends = p[2] == '\0' || p[2] == '/';
        if (starts && ends) {
            return true;
        }
    }
    return false;
}

bool cli_is_local_dir(const char *path)
{
    cv_cloudpath p;
    if (cv__cloudpath_parse(path, &p) != CV_OK) {
        cv_err_clear();
        return false;
    }
    struct stat sb;
    bool yes = strcmp(p.protocol, "file") == 0 && stat(p.path, &sb) == 0 && S_ISDIR(sb.st_mode);
    cv__cloudpath_fini(&p);
    return yes;
}

typedef struct any_found {
    bool found;
} any_found;

static cv_status note_one(const char *name, void *arg)
{
    (void)name;
    ((any_found *)arg)->found = true;
    return CV_OK;
}

cv_status cli_target_open(const char *path, bool missing_ok, cli_target *t)
{
    memset(t, 0, sizeof *t);
    t->path = path;
    if (has_dotdot(path)) {
        return CV_FAIL(CV_ERR_ARG, "`%s' has a `..' part: name the object without it", path);
    }
    size_t n = strlen(path);
    bool dir_only = (n > 0 && path[n - 1] == '/') || cli_is_local_dir(path);
    if (!dir_only) {
        char *dir = NULL;
        cv_status rc = cv__cloudpath_split(path, &dir, &t->name);
        if (rc == CV_OK) {
            rc = cv_store_open(dir, &t->parent);
        }
        cv_free(dir);
        if (rc == CV_OK) {
            rc = cv_store_exists(t->parent, t->name, &t->is_object);
        }
        if (rc != CV_OK) {
            return rc;
        }
    }
    /* A bucket or host alone has no parent but is a directory. */
    CV_TRY(cv_store_open(path, &t->tree));
    if (dir_only) {
        t->is_dir = true;
    } else {
        any_found any = {false};
        cv_status rc = cv_store_list(t->tree, NULL, note_one, &any);
        if (rc == CV_ERR_UNSUPPORTED) {
            cv_err_clear(); /* http(s): objects only */
        } else {
            CV_TRY(rc);
        }
        t->is_dir = any.found;
    }
    if (!t->is_object && !t->is_dir && !missing_ok) {
        return cv__notfound("`%s': no such object or directory", path);
    }
    return CV_OK;
}

void cli_target_close(cli_target *t)
{
    cv_store_close(t->parent);
    cv_store_close(t->tree);
    cv_free(t->name);
    memset(t, 0, sizeof *t);
}

typedef struct plain_walk {
    cv_store_sized_fn fn;
    void *arg;
    const char *url;
} plain_walk;

static cv_status only_plain(const char *name, uint64_t size, void *arg)
{
    const plain_walk *w = arg;
    if (!cv__key_is_plain(name)) {
        return CV_FAIL(CV_ERR_ARG, "object `%s' in %s has an empty, `.' or `..' part: refused",
                       name, w->url);
    }
    return w->fn(name, size, w->arg);
}

cv_status cli_target_list(cli_target *t, cv_store_sized_fn fn, void *arg)
{
    plain_walk w = {fn, arg, cv_store_url(t->tree)};
    return cv__store_list_sizes(t->tree, "", only_plain, &w);
}
