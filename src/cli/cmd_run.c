/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_run.c: `cvmpi run JOB.json`, a job described in a file instead of on the command line.
 * The file is an object {"command": "transfer", "args": [...positional...], "options": {...}};
 * each option becomes --name VALUE (true becomes a bare --name, false is left out), so a job
 * file accepts exactly what the command line does. */
#include "cli/cli.h"

#include <cjson/cJSON.h>
#include <string.h>

static const char help[] =
    "usage: [srun|mpirun -n N] cvmpi run JOB.json\n\n"
    "Run the job a file describes. JOB.json:\n"
    "  {\"command\": \"transfer\", \"args\": [\"SRC\", \"DST\"],\n"
    "   \"options\": {\"mip\": 0, \"memory\": \"2G\", \"fill-missing\": true}}\n"
    "Options are the command's long options (see cvmpi COMMAND --help); true gives a bare flag,\n"
    "false leaves it out. Examples: jobs/*.json.\n";

typedef struct argv_list {
    char **v;
    int n, cap;
} argv_list;

static bool push(argv_list *a, const char *s)
{
    if (a->n + 2 > a->cap) {
        int cap = a->cap ? a->cap * 2 : 16;
        char **g = cv_realloc(a->v, sizeof *g * (size_t)cap);
        if (!g) {
            return false;
        }
        a->v = g;
        a->cap = cap;
    }
    a->v[a->n] = cv__strdup(s);
    if (!a->v[a->n]) {
        return false;
    }
    a->n++;
    a->v[a->n] = NULL;
    return true;
}

static bool push_value(argv_list *a, const cJSON *v)
{
    char num[64];
    if (cJSON_IsString(v)) {
        return push(a, v->valuestring);
    }
    if (cJSON_IsNumber(v)) {
        if (v->valuedouble == (double)(long long)v->valuedouble) {
            snprintf(num, sizeof num, "%lld", (long long)v->valuedouble);
        } else {
            snprintf(num, sizeof num, "%.17g", v->valuedouble);
        }
        return push(a, num);
    }
    if (cJSON_IsArray(v)) { /* [x, y, z] -> "x,y,z" */
        char text[512] = "";
        size_t used = 0;
        for (const cJSON *c = v->child; c; c = c->next) {
            if (!cJSON_IsNumber(c) || used > sizeof text - 40) {
                return false;
            }
            used += (size_t)snprintf(text + used, sizeof text - used, "%s%.17g", used ? "," : "",
                                     c->valuedouble);
        }
        return push(a, text);
    }
    return false;
}

int cmd_run(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        return cli_help(help);
    }
    if (argc != 2) {
        return cli_usage(argv[0], "want exactly one JOB.json");
    }
    uint8_t *text;
    size_t len;
    if (cli_read_input(argv[1], &text, &len) != CV_OK) {
        return cli_fail();
    }
    cJSON *job = cJSON_ParseWithLength((const char *)text, len);
    cv_free(text);
    if (!cJSON_IsObject(job)) {
        cJSON_Delete(job);
        fprintf(stderr, "cvmpi: job `%s': not a JSON object\n", argv[1]);
        return CLI_FAIL;
    }
    const cJSON *command = cJSON_GetObjectItemCaseSensitive(job, "command");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(job, "args");
    const cJSON *options = cJSON_GetObjectItemCaseSensitive(job, "options");
    int rc = CLI_FAIL;
    argv_list a = {NULL, 0, 0};
    const cli_cmd *cmd = cJSON_IsString(command) ? cli_find_command(command->valuestring) : NULL;
    if (!cmd || strcmp(cmd->name, "run") == 0) {
        fprintf(stderr, "cvmpi: job `%s': \"command\" must name a cvmpi command\n", argv[1]);
        goto done;
    }
    if ((args && !cJSON_IsArray(args)) || (options && !cJSON_IsObject(options))) {
        fprintf(stderr, "cvmpi: job `%s': \"args\" must be a list, \"options\" an object\n",
                argv[1]);
        goto done;
    }
    bool ok = push(&a, cmd->name);
    for (const cJSON *c = args ? args->child : NULL; ok && c; c = c->next) {
        ok = push_value(&a, c);
    }
    for (const cJSON *c = options ? options->child : NULL; ok && c; c = c->next) {
        if (cJSON_IsFalse(c)) {
            continue;
        }
        char flag[128];
        snprintf(flag, sizeof flag, "--%s", c->string);
        ok = push(&a, flag) && (cJSON_IsTrue(c) || push_value(&a, c));
    }
    if (!ok) {
        fprintf(stderr,
                "cvmpi: job `%s': values must be strings, numbers, lists of numbers or "
                "booleans\n",
                argv[1]);
        goto done;
    }
    optind = 1; /* a fresh getopt scan for the command */
    rc = cmd->run(a.n, a.v);
done:
    for (int i = 0; i < a.n; i++) {
        cv_free(a.v[i]);
    }
    cv_free(a.v);
    cJSON_Delete(job);
    return rc;
}
