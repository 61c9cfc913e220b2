/* SPDX-License-Identifier: BSD-3-Clause
 * cli_objects.h: what `rm`, `du` and `head` share: a PATH argument resolved to one object or
 * to a directory (every object under PATH/), as CloudFiles' CLI decides it. */
#ifndef CV_CLI_OBJECTS_H
#define CV_CLI_OBJECTS_H

#include "io/store.h"

typedef struct cli_target {
    const char *path; /* as given */
    cv_store *parent; /* the store of PATH's directory; NULL for a directory-only PATH */
    char *name;       /* PATH's last part in `parent`, or NULL */
    bool is_object;   /* an object is stored under exactly PATH */
    cv_store *tree;   /* the store opened at PATH, whose objects are those under PATH/ */
    bool is_dir;      /* PATH ends in `/', is a local directory, or objects are under PATH/ */
} cli_target;

/* Resolve PATH. A path with a `..' part is refused (CV_ERR_ARG): it could name something
 * outside the directory it seems to be in. Neither an object nor a directory: CV_ERR_NOTFOUND
 * naming PATH, unless `missing_ok`. */
cv_status cli_target_open(const char *path, bool missing_ok, cli_target *t);
void cli_target_close(cli_target *t);
/* Every object under PATH/ with its stored size, sorted (t->is_dir only). A name with an
 * empty, `.' or `..' part is refused naming it: stores would resolve it differently. */
cv_status cli_target_list(cli_target *t, cv_store_sized_fn fn, void *arg);
/* PATH is a file:// (or plain) path naming an existing local directory. */
bool cli_is_local_dir(const char *path);
/* `base` and `name` joined with one '/'. Free with cv_free. */
char *cli_join(const char *base, const char *name);

#endif
