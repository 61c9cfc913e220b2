/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_head.c: `cvmpi head`, the metadata of objects as their store reports it, as JSON with
 * the field names of CloudFiles' `head`. */
#include "cli/cli.h"
#include "cli/cli_objects.h"

#include "base/json_py.h"

#include <string.h>

static const char help[] =
    "usage: cvmpi head PATH...\n\n"
    "Print the metadata of the object each PATH names, as JSON (json.dumps with indent=2 and\n"
    "sorted keys), with CloudFiles' field names: Cache-Control, Content-Encoding,\n"
    "Content-Length (stored bytes), Content-Md5 (base64, where the store keeps one: GCS),\n"
    "Content-Type, ETag (as the server sends it), Last-Modified (UTC, 2026-01-31T12:00:00Z)\n"
    "and Storage-Class; null where the store has none (file:// and mem:// have only a size,\n"
    "file:// a modification time, and the .gz/.br suffix as Content-Encoding). One PATH\n"
    "prints its object; several print one object keyed by PATH. A PATH that names no object\n"
    "is an error and nothing is printed.\n";

static cv_status add_text(cJSON *o, const char *key, const char *value)
{
    cJSON *v = *value ? cJSON_CreateString(value) : cJSON_CreateNull();
    if (!v || !cJSON_AddItemToObject(o, key, v)) {
        cJSON_Delete(v);
        return CV_FAIL(CV_ERR_NOMEM, "head");
    }
    return CV_OK;
}

static cv_status meta_json(const cv_store_meta *m, cJSON **out)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return CV_FAIL(CV_ERR_NOMEM, "head");
    }
    cJSON *size = m->size >= 0 ? cJSON_CreateNumber((double)m->size) : cJSON_CreateNull();
    cv_status rc = size && cJSON_AddItemToObject(o, "Content-Length", size)
                       ? CV_OK
                       : CV_FAIL(CV_ERR_NOMEM, "head");
    if (rc != CV_OK) {
        cJSON_Delete(size);
    }
    const struct {
        const char *key, *value;
    } texts[] = {
        {"Cache-Control", m->cache_control},
        {"Content-Encoding", m->encoding},
        {"Content-Md5", m->md5},
        {"Content-Type", m->content_type},
        {"ETag", m->etag},
        {"Last-Modified", m->last_modified},
        {"Storage-Class", m->storage_class},
    };
    for (size_t i = 0; rc == CV_OK && i < sizeof texts / sizeof texts[0]; i++) {
        rc = add_text(o, texts[i].key, texts[i].value);
    }
    if (rc != CV_OK) {
        cJSON_Delete(o);
        return rc;
    }
    *out = o;
    return CV_OK;
}

static cv_status head_one(const char *path, cJSON **out)
{
    cli_target t;
    cv_status rc = cli_target_open(path, true, &t);
    if (rc == CV_OK && !t.is_object) {
        rc = cv__notfound("head `%s': no such object", path);
    }
    cv_store_meta m;
    if (rc == CV_OK) {
        rc = cv__store_head(t.parent, t.name, &m);
    }
    if (rc == CV_OK) {
        rc = meta_json(&m, out);
    }
    cli_target_close(&t);
    return rc;
}

int cmd_head(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    for (int c; (c = cli_getopt(argc, argv, "h", opts)) != -1;) {
        if (c == 'h') {
            return cli_help(help);
        }
        return CLI_USAGE;
    }
    if (optind >= argc) {
        return cli_usage(argv[0], "want at least one PATH");
    }
    cJSON *all = argc - optind > 1 ? cJSON_CreateObject() : NULL;
    cJSON *shown = all;
    cv_status rc = argc - optind == 1 || all ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "head");
    for (int i = optind; i < argc && rc == CV_OK; i++) {
        cJSON *one = NULL;
        rc = head_one(argv[i], &one);
        if (rc == CV_OK && all) {
            cJSON_AddItemToObject(all, argv[i], one);
        } else if (rc == CV_OK) {
            shown = one;
        }
    }
    char *text = NULL;
    size_t len = 0;
    if (rc == CV_OK) {
        rc = cv__json_dump_py(shown, &text, &len);
    }
    if (rc == CV_OK) {
        printf("%s\n", text);
        if (fflush(stdout) != 0) {
            rc = CV_FAIL(CV_ERR_IO, "head: write to standard output");
        }
    }
    cv_free(text);
    cJSON_Delete(shown);
    return rc == CV_OK ? CLI_OK : cli_fail();
}
