/* SPDX-License-Identifier: BSD-3-Clause
 * provenance.c: CloudVolume's <layer>/provenance JSON (cloudvolume-conventions §4): defaults
 * for missing members, unique owners/sources, processing entries, and the same
 * json.dumps(sort_keys=True, indent=2) formatting as info. */
#include "base/json_py.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cv_provenance_free(cv_provenance *p)
{
    if (!p) {
        return;
    }
    for (int i = 0; i < p->n_owners; i++) {
        cv_free(p->owners[i]);
    }
    for (int i = 0; i < p->n_sources; i++) {
        cv_free(p->sources[i]);
    }
    for (int i = 0; i < p->n_processing; i++) {
        cv_free(p->processing_json[i]);
    }
    cv_free(p->owners);
    cv_free(p->sources);
    cv_free(p->processing_json);
    cv_free(p->description);
    cv_free(p);
}

cv_provenance *cv_provenance_new(void)
{
    cv_provenance *p = cv_calloc(1, sizeof *p);
    if (p) {
        p->description = cv__strdup("");
    }
    if (p && !p->description) {
        cv_free(p);
        p = NULL;
    }
    return p;
}

/* Lists grow by doubling (capacity 4, then each power of two), so a long list costs linear time. */
static cv_status push(char ***list, int *n, char *s)
{
    if (!s) {
        return CV_FAIL(CV_ERR_NOMEM, "provenance");
    }
    if (*n == 0 || (*n >= 4 && (*n & (*n - 1)) == 0)) {
        size_t cap = *n ? 2 * (size_t)*n : 4;
        char **grown = *n < INT_MAX / 2 ? cv_realloc(*list, sizeof **list * cap) : NULL;
        if (!grown) {
            cv_free(s);
            return CV_FAIL(CV_ERR_NOMEM, "provenance");
        }
        *list = grown;
    }
    (*list)[(*n)++] = s;
    return CV_OK;
}

/* JSON text of `v` that keeps float typing (1.0 stays 1.0); NULL if out of memory. */
static char *to_text(const cJSON *v)
{
    char *text = NULL;
    size_t len;
    return cv__json_dump_py(v, &text, &len) == CV_OK ? text : NULL;
}

typedef struct listed {
    const char *s;
    size_t at; /* place in the list */
} listed;

static int cmp_listed(const void *a, const void *b)
{
    const listed *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : (x->at > y->at) - (x->at < y->at);
}

/* Appends the strings of `arr` to the list, refusing the first (in order) that is not a string
 * or repeats an earlier one; sorted, not compared pairwise, so a long list stays fast. */
static cv_status unique_strings(const cJSON *arr, const char *what, const char *field, char ***list,
                                int *n)
{
    if (!arr) {
        return CV_OK;
    }
    if (!cJSON_IsArray(arr)) {
        return CV_FAIL(CV_ERR_CORRUPT, "provenance `%s': %s: must be a list of strings", what,
                       field);
    }
    const size_t have = (size_t)*n, count = have + (size_t)cJSON_GetArraySize(arr);
    listed *v = cv_malloc((count ? count : 1) * sizeof *v);
    if (!v) {
        return CV_FAIL(CV_ERR_NOMEM, "provenance");
    }
    for (size_t i = 0; i < have; i++) {
        v[i] = (listed){(*list)[i], i};
    }
    size_t used = have;
    const cJSON *bad = arr->child;
    for (; bad && cJSON_IsString(bad); bad = bad->next) {
        v[used] = (listed){bad->valuestring, used};
        used++;
    }
    qsort(v, used, sizeof *v, cmp_listed);
    const listed *dup = NULL;
    for (size_t i = 1; i < used; i++) {
        if (strcmp(v[i].s, v[i - 1].s) == 0 && (!dup || v[i].at < dup->at)) {
            dup = &v[i];
        }
    }
    cv_status rc = CV_OK;
    if (dup) {
        rc = CV_FAIL(CV_ERR_CORRUPT, "provenance `%s': %s: duplicate \"%s\"", what, field, dup->s);
    } else if (bad) {
        rc = CV_FAIL(CV_ERR_CORRUPT, "provenance `%s': %s: must be a list of strings", what, field);
    }
    cv_free(v);
    for (const cJSON *c = arr->child; rc == CV_OK && c; c = c->next) {
        rc = push(list, n, cv__strdup(c->valuestring));
    }
    return rc;
}

static cv_status parse_into(const cJSON *root, const char *what, cv_provenance *p)
{
    if (!cJSON_IsObject(root)) {
        return CV_FAIL(CV_ERR_CORRUPT, "provenance `%s': must be a JSON object", what);
    }
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "description");
    if (d) {
        if (!cJSON_IsString(d)) {
            return CV_FAIL(CV_ERR_CORRUPT, "provenance `%s': description: must be a string", what);
        }
        cv_free(p->description);
        p->description = cv__strdup(d->valuestring);
    }
    CV_TRY(unique_strings(cJSON_GetObjectItemCaseSensitive(root, "owners"), what, "owners",
                          &p->owners, &p->n_owners));
    CV_TRY(unique_strings(cJSON_GetObjectItemCaseSensitive(root, "sources"), what, "sources",
                          &p->sources, &p->n_sources));
    const cJSON *proc = cJSON_GetObjectItemCaseSensitive(root, "processing");
    if (proc && !cJSON_IsArray(proc)) {
        return CV_FAIL(CV_ERR_CORRUPT, "provenance `%s': processing: must be a list", what);
    }
    for (const cJSON *c = proc ? proc->child : NULL; c; c = c->next) {
        CV_TRY(push(&p->processing_json, &p->n_processing, to_text(c)));
    }
    return CV_OK;
}

cv_status cv_provenance_parse(const char *json, size_t len, const char *what, cv_provenance **out)
{
    cJSON *root;
    CV_TRY(cv__json_parse(json, len, what, &root));
    cv_provenance *p = cv_provenance_new();
    cv_status rc = p ? parse_into(root, what, p) : CV_FAIL(CV_ERR_NOMEM, "provenance");
    cJSON_Delete(root);
    if (rc != CV_OK) {
        cv_provenance_free(p);
        return rc;
    }
    *out = p;
    return CV_OK;
}

cv_status cv_provenance_to_json(const cv_provenance *p, char **out, size_t *len)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return CV_FAIL(CV_ERR_NOMEM, "provenance");
    }
    cJSON_AddStringToObject(o, "description", p->description ? p->description : "");
    cJSON *owners = cJSON_AddArrayToObject(o, "owners");
    for (int i = 0; owners && i < p->n_owners; i++) {
        cJSON_AddItemToArray(owners, cJSON_CreateString(p->owners[i]));
    }
    cJSON *proc = cJSON_AddArrayToObject(o, "processing");
    for (int i = 0; proc && i < p->n_processing; i++) {
        cJSON *entry = cJSON_Parse(p->processing_json[i]);
        if (entry) {
            cv__json_mark_floats(entry, p->processing_json[i], strlen(p->processing_json[i]));
            cJSON_AddItemToArray(proc, entry);
        }
    }
    cJSON *sources = cJSON_AddArrayToObject(o, "sources");
    for (int i = 0; sources && i < p->n_sources; i++) {
        cJSON_AddItemToArray(sources, cJSON_CreateString(p->sources[i]));
    }
    cv_status rc = cv__json_dump_py(o, out, len);
    cJSON_Delete(o);
    return rc;
}

cv_status cv_provenance_add_processing(cv_provenance *p, const char *method_json, const char *by)
{
    cJSON *method = cJSON_Parse(method_json);
    if (!method) {
        return CV_FAIL(CV_ERR_ARG, "provenance: method is not valid JSON");
    }
    cv__json_mark_floats(method, method_json, strlen(method_json));
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M %Z", &tm);
    cJSON *entry = cJSON_CreateObject();
    cJSON_AddStringToObject(entry, "by", by ? by : "");
    cJSON_AddStringToObject(entry, "date", date);
    cJSON_AddItemToObject(entry, "method", method);
    char *text = to_text(entry);
    cJSON_Delete(entry);
    return push(&p->processing_json, &p->n_processing, text);
}
