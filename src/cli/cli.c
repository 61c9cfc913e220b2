/* SPDX-License-Identifier: BSD-3-Clause
 * cli.c: helpers shared by the subcommands: error and usage output, number parsing, default
 * thread counts, and whole-file input/output with atomic replacement of the output file. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "cli/cli.h"
#include "volume/volume.h"

#ifdef CV_HAVE_CURL
#include "io/http.h"
#endif
#ifdef CV_CLI_FRONT
#define cli_rank() 0 /* the front runs one process */
#else
#include "mpi/cv_mpi.h"
#include "mpi/cv_progress.h"
#include "mpi/cv_report.h"
#define cli_rank() cv_mpi_rank()
#endif

#include <ctype.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_fail(void)
{
    if (cli_rank() != 0) {
        return CLI_FAIL; /* ranks agree on errors; rank 0 prints */
    }
    const cv_err *e = cv_err_last();
    fprintf(stderr, "cvmpi: %s\n", e->what[0] ? e->what : cv_strerror(e->code));
    return CLI_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cli_rank() == 0) { /* every rank parses the same options */
        fprintf(stderr, "cvmpi %s: %s\nTry 'cvmpi %s --help'.\n", cmd, msg, cmd);
    }
    return CLI_USAGE;
}

static const char *running; /* the command main() runs */

void cli_set_command(const char *name)
{
    running = name;
}

/* The commands whose cli_getopt adds --report and --progress/--no-progress. */
static bool takes_job_options(const char *name)
{
    const cli_cmd *cmd = name ? cli_find_command(name) : NULL;
    return cmd && strcmp(cmd->name, "run") != 0 &&
           (cmd->uses_mpi || strcmp(cmd->name, "skeleton") == 0);
}

bool cli_shows_box_progress(const char *name)
{
    return name && (strcmp(name, "read") == 0 || strcmp(name, "write") == 0);
}

int cli_help(const char *text)
{
    fputs(text, stdout);
    if (takes_job_options(running)) {
        if (!strstr(text, "--report")) {
            fputs(
                "  --report F.json  write the job's report: command line, source, destination, "
                "start,\n"
                "                   wall time, per-rank tasks, bytes, chunks, seconds, failures\n",
                stdout);
        }
        fputs("  --progress, --no-progress  rank 0's progress bar even off a terminal / no "
              "progress\n"
              "  --collective-timeout S  end the job (exit 1), naming the ranks at fault, when\n"
              "                   ranks wait at a collective step for a rank that shows no\n"
              "                   progress for S seconds (default 600; 0: wait forever)\n",
              stdout);
    } else if (cli_shows_box_progress(running)) {
        fputs("  --progress, --no-progress  a progress bar from the start even off a terminal /\n"
              "                   none (default: on a terminal, once the box takes a second)\n",
              stdout);
    }
#ifndef CV_CLI_FRONT
    if (cli_takes_cache_options(running)) {
        cli_cache_help(running);
    }
#endif
    fputs("  --secrets JSON|FILE  credentials for every store, as CloudFiles' `secrets' option:\n"
          "                   a JSON object (or a file holding one) used instead of the secret\n"
          "                   files; never printed\n"
          "  --timeout S      remote storage: abandon an attempt after S seconds without a byte\n"
          "                   (default 60, or CV_HTTP_TIMEOUT)\n"
          "  --retries N      remote storage: retries per request after a timeout, reset, 429\n"
          "                   or 5xx (default 8, or CV_HTTP_RETRIES)\n",
          stdout);
    return CLI_OK;
}

#define OPT_SECRETS 0x5ec0
#define OPT_TIMEOUT 0x5ec1
#define OPT_RETRIES 0x5ec2
#define OPT_REPORT 0x5ec3
#define OPT_PROGRESS 0x5ec4
#define OPT_NO_PROGRESS 0x5ec5
#define OPT_COLLECTIVE_TIMEOUT 0x5ec6
#define MAX_LONGOPTS 128

/* --secrets JSON|FILE: CloudFiles' `secrets` option for every store this command opens. The
 * value is never echoed: it may be the credentials themselves. */
static bool take_secrets(const char *cmd, const char *arg)
{
    const char *p = arg;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
        p++;
    }
    uint8_t *text = NULL;
    size_t len = 0;
    if (*p != '{') {
        if (cli_read_input(arg, &text, &len) != CV_OK) {
            cli_usage(cmd, "bad --secrets: %s", cv_err_last()->what);
            cv_err_clear();
            return false;
        }
        uint8_t *z = cv_realloc(text, len + 1);
        if (!z) {
            cv_free(text);
            cli_usage(cmd, "bad --secrets `%s': out of memory", arg);
            return false;
        }
        text = z;
        text[len] = '\0';
    }
    cv_status rc = cv_secrets_set(text ? (const char *)text : p);
    if (text) {
        memset(text, 0, len);
    }
    cv_free(text);
    if (rc != CV_OK) {
        cv_err_clear();
        if (*p == '{') {
            cli_usage(cmd, "bad --secrets: the text given is not a JSON object");
        } else {
            cli_usage(cmd, "bad --secrets `%s': the file does not hold a JSON object", arg);
        }
        return false;
    }
    return true;
}

/* --timeout S (1..86400) and --retries N (0..100), as CV_HTTP_TIMEOUT and CV_HTTP_RETRIES. */
static bool take_http_limit(const char *cmd, bool is_timeout, const char *arg)
{
    int64_t v;
    if (is_timeout && (!cli_parse_i64(arg, &v) || v < 1 || v > 86400)) {
        cli_usage(cmd, "bad --timeout `%s': want seconds, 1 to 86400", arg);
        return false;
    }
    if (!is_timeout && (!cli_parse_i64(arg, &v) || v < 0 || v > 100)) {
        cli_usage(cmd, "bad --retries `%s': want 0 to 100", arg);
        return false;
    }
#ifdef CV_HAVE_CURL
    cv__http_set_limits(is_timeout ? (long)v : 0, is_timeout ? -1 : (int)v);
#endif
    return true;
}

/* Optimal string alignment distance, capped: names are short. */
static size_t edit_distance(const char *a, const char *b)
{
    enum { MAX = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAX || lb >= MAX) {
        return SIZE_MAX;
    }
    size_t d[MAX][MAX];
    for (size_t i = 0; i <= la; i++) {
        d[i][0] = i;
    }
    for (size_t j = 0; j <= lb; j++) {
        d[0][j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t best = d[i - 1][j - 1] + cost;
            best = d[i - 1][j] + 1 < best ? d[i - 1][j] + 1 : best;
            best = d[i][j - 1] + 1 < best ? d[i][j - 1] + 1 : best;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best) {
                best = d[i - 2][j - 2] + 1;
            }
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

const char *cli_closest(const char *word, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    /* One edit in a short name, two in a longer one: more is another word, not a typo. */
    size_t allowed = strlen(word) >= 5 ? 2 : 1;
    return best_d <= allowed ? best : NULL;
}

/* The long option `--name[=value]` names: exact, else an unambiguous abbreviation (as
 * getopt_long takes them); NULL if none. */
static const struct option *find_long(const char *opt, const struct option *longopts)
{
    size_t len = strcspn(opt + 2, "=");
    const struct option *found = NULL;
    for (size_t i = 0; longopts[i].name; i++) {
        if (strncmp(longopts[i].name, opt + 2, len) != 0) {
            continue;
        }
        if (strlen(longopts[i].name) == len) {
            return &longopts[i];
        }
        if (found) {
            return NULL; /* ambiguous */
        }
        found = &longopts[i];
    }
    return len ? found : NULL;
}

/* The usage error for a long option getopt refused: a known one given without its value or
 * with a value it does not take, or an unknown one with the closest known name. The value
 * after '=' is never echoed (a mistyped --secrets=... must not show it). */
static void bad_long_option(const char *cmd, const char *opt, const struct option *longopts)
{
    const char *eq = strchr(opt, '=');
    int len = eq ? (int)(eq - opt) : (int)strlen(opt);
    const struct option *known = find_long(opt, longopts);
    if (known && eq && known->has_arg == no_argument) {
        cli_usage(cmd, "option `--%s' takes no value", known->name);
        return;
    }
    if (known) {
        cli_usage(cmd, "option `--%s' needs a value", known->name);
        return;
    }
    const char *names[MAX_LONGOPTS];
    size_t n = 0;
    for (; longopts[n].name && n < MAX_LONGOPTS; n++) {
        names[n] = longopts[n].name;
    }
    char name[128];
    snprintf(name, sizeof name, "%.*s", len - 2, opt + 2);
    const char *guess = cli_closest(name, names, n);
    if (guess) {
        cli_usage(cmd, "option `%.*s' is not known; did you mean `--%s'?", len, opt, guess);
    } else {
        cli_usage(cmd, "option `%.*s' is not known", len, opt);
    }
}

/* The options every job takes (see cli_getopt), and a command's own --report: 1 when C was
 * one of them (taken), '?' for a bad value, 0 otherwise. NAME is the long option's name. The
 * front (main_front.c) runs only `info`, which takes none, and has no MPI driver. */
static int job_option(int c, const char *name, int argc, char **argv)
{
#ifdef CV_CLI_FRONT
    (void)c, (void)name, (void)argc, (void)argv;
#else
    if (c == OPT_REPORT || (name && strcmp(name, "report") == 0)) {
        cv_report_set_path(optarg);
        return c == OPT_REPORT; /* a command's own --report goes on to the command */
    }
    if (c == OPT_COLLECTIVE_TIMEOUT) {
        double seconds;
        if (!cli_parse_double(optarg, &seconds) || !(seconds >= 0) || seconds > 1e9) {
            cli_usage(argv[0], "bad --collective-timeout `%s': want seconds (0: wait forever)",
                      optarg);
            return '?';
        }
        cv_mpi_set_collective_timeout(seconds);
        return 1;
    }
    if (c == OPT_PROGRESS || c == OPT_NO_PROGRESS) {
        cv_progress_force(c == OPT_PROGRESS ? 1 : 0);
        return 1;
    }
    if (c == -1) {
        cv_report_set_args(argv[0], argc - optind, argv + optind);
    }
#endif
    return 0;
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    /* Every command also takes --secrets: add it to the command's own options here, once. */
    static struct option merged[MAX_LONGOPTS];
    size_t n = 0;
    while (longopts[n].name && n < MAX_LONGOPTS - 7) {
        merged[n] = longopts[n];
        n++;
    }
    merged[n++] = (struct option){"secrets", required_argument, NULL, OPT_SECRETS};
    merged[n++] = (struct option){"timeout", required_argument, NULL, OPT_TIMEOUT};
    merged[n++] = (struct option){"retries", required_argument, NULL, OPT_RETRIES};
    /* Every MPI job also takes --report and --progress/--no-progress (main() writes the
     * report); a command with its own --report gets it recorded here too. */
    if (takes_job_options(argv[0]) || cli_shows_box_progress(argv[0])) {
        const struct option extra[] = {
            {"report", required_argument, NULL, OPT_REPORT},
            {"collective-timeout", required_argument, NULL, OPT_COLLECTIVE_TIMEOUT},
            {"progress", no_argument, NULL, OPT_PROGRESS},
            {"no-progress", no_argument, NULL, OPT_NO_PROGRESS}};
        for (size_t i = 0; i < sizeof extra / sizeof extra[0] && n < MAX_LONGOPTS - 1; i++) {
            if (i < 2 && !takes_job_options(argv[0])) {
                continue; /* read/write: --progress only */
            }
            bool own = false;
            for (size_t k = 0; longopts[k].name; k++) {
                own = own || strcmp(longopts[k].name, extra[i].name) == 0;
            }
            if (!own) {
                merged[n++] = extra[i];
            }
        }
    }
#ifndef CV_CLI_FRONT
    if (cli_takes_cache_options(argv[0])) {
        n += cli_cache_longopts(merged + n, MAX_LONGOPTS - 1 - n);
    }
#endif
    merged[n] = (struct option){NULL, 0, NULL, 0};
#ifndef CV_CLI_FRONT
    if (takes_job_options(argv[0])) {
        cli_name_job(argv[0], longopts, running && strcmp(running, "run") == 0);
    }
#endif
    opterr = 0;
    for (;;) {
        int index = -1;
        int c = getopt_long(argc, argv, shortopts, merged, &index);
        if (c == OPT_SECRETS) {
            if (!take_secrets(argv[0], optarg)) {
                return '?';
            }
            continue;
        }
        if (c == OPT_TIMEOUT || c == OPT_RETRIES) {
            if (!take_http_limit(argv[0], c == OPT_TIMEOUT, optarg)) {
                return '?';
            }
            continue;
        }
#ifndef CV_CLI_FRONT
        int cached = cli_cache_option(c, argv[0], optarg);
        if (cached == 1) {
            continue;
        }
        if (cached == '?' ||
            (c == -1 && cli_takes_cache_options(argv[0]) && !cli_cache_finish(argv[0]))) {
            return '?';
        }
#endif
        int job = job_option(c, index >= 0 && c != '?' ? merged[index].name : NULL, argc, argv);
        if (job != 0) {
            if (job == '?') {
                return '?';
            }
            continue;
        }
        if (c == '?' || c == ':') {
            /* optopt is 0 for an unknown long option and the option's value for a known one;
             * inside a cluster of short options argv[optind - 1] is an earlier argument. */
            const char *opt = argv[optind - 1];
            const struct option *lo = strncmp(opt, "--", 2) == 0 ? find_long(opt, merged) : NULL;
            bool is_long = strncmp(opt, "--", 2) == 0 && (optopt == 0 || (lo && lo->val == optopt));
            if (is_long) {
                bad_long_option(argv[0], opt, merged);
            } else {
                bool known = optopt > 0 && optopt < 128 && strchr(shortopts, optopt);
                cli_usage(argv[0], "option -%c %s", optopt > 0 && optopt < 128 ? optopt : '?',
                          known ? "needs a value" : "is not known");
            }
            return '?';
        }
        return c;
    }
}

bool cli_parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) {
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) {
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_bytes(const char *s, size_t *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v <= 0) {
        return false;
    }
    double mult = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K':
        mult = 1024.0;
        end++;
        break;
    case 'M':
        mult = 1024.0 * 1024;
        end++;
        break;
    case 'G':
        mult = 1024.0 * 1024 * 1024;
        end++;
        break;
    case 'T':
        mult = 1024.0 * 1024 * 1024 * 1024;
        end++;
        break;
    default:
        break;
    }
    if (*end == 'B' || *end == 'b') {
        end++;
    }
    /* Whole bytes that fit a size_t (and the int64 sizes they are compared with); 1e30 or
     * 0.1 must not turn into some other amount. */
    double bytes = v * mult;
    if (*end || !(bytes >= 1) || bytes >= 9.2e18 || bytes >= (double)SIZE_MAX) {
        return false;
    }
    *out = (size_t)bytes;
    return true;
}

bool cli_parse_i64x3(const char *s, int64_t out[3])
{
    const char *p = s;
    for (int d = 0; d < 3; d++) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno || end == p || (d < 2 && *end != ',') || (d == 2 && *end)) {
            return false;
        }
        out[d] = v;
        p = end + 1;
    }
    return true;
}

bool cli_parse_f64x3(const char *s, double out[3], bool *has_point)
{
    const char *p = s;
    *has_point = false;
    for (int d = 0; d < 3; d++) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (errno || end == p || (d < 2 && *end != ',') || (d == 2 && *end)) {
            return false;
        }
        for (const char *q = p; q < end; q++) {
            if (*q == '.' || *q == 'e' || *q == 'E') {
                *has_point = true;
            }
        }
        out[d] = v;
        p = end + 1;
    }
    return true;
}

bool cli_parse_compress(const char *s, const char **out)
{
    if (strcmp(s, "gzip") == 0 || strcmp(s, "br") == 0) {
        *out = s;
        return true;
    }
    if (strcmp(s, "none") == 0) {
        *out = "";
        return true;
    }
    return false;
}

static cv_status write_all(int fd, const uint8_t *p, size_t n, const char *what)
{
    while (n) {
        ssize_t w = write(fd, p, n > (1u << 30) ? (1u << 30) : n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return CV_FAIL(CV_ERR_IO, "write `%s': %s", what, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return CV_OK;
}

bool cli_is_stream_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return false;
    }
    /* /dev/stdout and friends may lead to a regular file; still never rename over them. */
    return !S_ISREG(st.st_mode) ? !S_ISDIR(st.st_mode)
                                : strncmp(path, "/dev/", 5) == 0 || strncmp(path, "/proc/", 6) == 0;
}

cv_status cli_write_output(const char *path, const void *const *parts, const size_t *lens,
                           int n_parts)
{
    if (strcmp(path, "-") == 0) {
        for (int i = 0; i < n_parts; i++) {
            CV_TRY(write_all(STDOUT_FILENO, parts[i], lens[i], "standard output"));
        }
        return CV_OK;
    }
    if (cli_is_stream_path(path)) {
        /* A device, FIFO or socket is a stream: written in place, never replaced. */
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
            return CV_FAIL(CV_ERR_IO, "open `%s': %s", path, strerror(errno));
        }
        cv_status rc = CV_OK;
        for (int i = 0; i < n_parts && rc == CV_OK; i++) {
            rc = write_all(fd, parts[i], lens[i], path);
        }
        if (close(fd) != 0 && rc == CV_OK) {
            rc = CV_FAIL(CV_ERR_IO, "close `%s': %s", path, strerror(errno));
        }
        return rc;
    }
    cli_output o;
    CV_TRY(cli_output_open(path, &o));
    cv_status rc = CV_OK;
    for (int i = 0; i < n_parts && rc == CV_OK; i++) {
        rc = write_all(o.fd, parts[i], lens[i], path);
    }
    if (rc != CV_OK) {
        cli_output_abort(&o);
        return rc;
    }
    return cli_output_commit(&o);
}

cv_status cli_output_open(const char *path, cli_output *o)
{
    o->path = path;
    o->tmp = cv__asprintf("%s.cvmpi-tmp-%ld", path, (long)getpid());
    if (!o->tmp) {
        return CV_FAIL(CV_ERR_NOMEM, "write `%s'", path);
    }
    o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (o->fd < 0) {
        cv_status rc = CV_FAIL(CV_ERR_IO, "create `%s': %s", path, strerror(errno));
        cv_free(o->tmp);
        return rc;
    }
    return CV_OK;
}

cv_status cli_output_pwrite(cli_output *o, const void *data, size_t n, uint64_t off)
{
    const uint8_t *p = data;
    while (n) {
        ssize_t w = pwrite(o->fd, p, n > (1u << 30) ? (1u << 30) : n, (off_t)off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return CV_FAIL(CV_ERR_IO, "write `%s': %s", o->path, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return CV_OK;
}

cv_status cli_output_commit(cli_output *o)
{
    cv_status rc = CV_OK;
    if (close(o->fd) != 0) {
        rc = CV_FAIL(CV_ERR_IO, "close `%s': %s", o->path, strerror(errno));
    }
    if (rc == CV_OK && rename(o->tmp, o->path) != 0) {
        rc = CV_FAIL(CV_ERR_IO, "rename to `%s': %s", o->path, strerror(errno));
    }
    if (rc != CV_OK) {
        unlink(o->tmp);
    }
    cv_free(o->tmp);
    return rc;
}

void cli_output_abort(cli_output *o)
{
    close(o->fd);
    unlink(o->tmp);
    cv_free(o->tmp);
}

cv_status cli_read_input(const char *path, uint8_t **data, size_t *len)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return CV_FAIL(CV_ERR_IO, "open `%s': %s", path, strerror(errno));
    }
    cv_buf b;
    cv__buf_init(&b, 0);
    cv_status rc = CV_OK;
    for (;;) {
        rc = cv__buf_reserve(&b, b.len + (1 << 20));
        if (rc != CV_OK) {
            break;
        }
        ssize_t got = read(fd, b.data + b.len, b.cap - b.len);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            rc = CV_FAIL(CV_ERR_IO, "read `%s': %s", path, strerror(errno));
            break;
        }
        if (got == 0) {
            break;
        }
        b.len += (size_t)got;
    }
    if (fd != STDIN_FILENO) {
        close(fd);
    }
    if (rc != CV_OK) {
        cv__buf_fini(&b);
        return rc;
    }
    *data = cv__buf_take(&b, len);
    return CV_OK;
}

cv_status cli_read_input_max(const char *path, size_t max, const char *why, uint8_t **data,
                             size_t *len)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return CV_FAIL(CV_ERR_IO, "open `%s': %s", path, strerror(errno));
    }
    const char *shown = fd == STDIN_FILENO ? "standard input" : path;
    struct stat st;
    cv_status rc = CV_OK;
    size_t want = max; /* bytes to read; one more than that is an error */
    if (fstat(fd, &st) != 0) {
        rc = CV_FAIL(CV_ERR_IO, "stat `%s': %s", shown, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        rc = CV_FAIL(CV_ERR_IO, "read `%s': is a directory", shown);
    } else if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
        rc = CV_FAIL(CV_ERR_ARG, "`%s' has %lld bytes, more than the %zu %s", shown,
                     (long long)st.st_size, max, why);
    } else if (S_ISREG(st.st_mode)) {
        want = (size_t)st.st_size;
    }
    /* One buffer, sized once: a pipe gets room for one byte more than allowed, so an
     * over-long stream is seen without reading the rest of it. */
    uint8_t *buf = NULL;
    if (rc == CV_OK && want == SIZE_MAX) {
        rc = CV_FAIL(CV_ERR_ARG, "read `%s': size limit too large", shown);
    }
    if (rc == CV_OK) {
        buf = cv_malloc(want + 1);
        rc = buf ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "read `%s': %zu bytes", shown, want + 1);
    }
    size_t got = 0;
    while (rc == CV_OK && got <= want) {
        ssize_t n = read(fd, buf + got, want + 1 - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            rc = CV_FAIL(CV_ERR_IO, "read `%s': %s", shown, strerror(errno));
        } else if (n == 0) {
            break;
        } else {
            got += (size_t)n;
        }
    }
    if (rc == CV_OK && got > max) {
        rc = CV_FAIL(CV_ERR_ARG, "`%s' has more than the %zu %s", shown, max, why);
    } else if (rc == CV_OK && got > want) {
        rc = CV_FAIL(CV_ERR_IO, "read `%s': file grew while reading", shown);
    }
    if (fd != STDIN_FILENO) {
        close(fd);
    }
    if (rc != CV_OK) {
        cv_free(buf);
        return rc;
    }
    *data = buf;
    *len = got;
    return CV_OK;
}

bool cli_opt_bbox(const char *cmd, const char *arg, const char **out)
{
    cv_bbox b;
    if (cv_bbox_parse(arg, &b) != CV_OK) {
        cli_usage(cmd, "bad --bbox `%s': want X0,Y0,Z0,X1,Y1,Z1", arg);
        return false;
    }
    *out = arg;
    return true;
}

bool cli_opt_memory(const char *cmd, const char *arg, size_t *out)
{
    if (!cli_parse_bytes(arg, out)) {
        cli_usage(cmd, "bad --memory `%s': want e.g. 2G, 512M, 1000000", arg);
        return false;
    }
    return true;
}

bool cli_opt_threads(const char *cmd, const char *arg, int *out)
{
    int64_t n;
    if (!cli_parse_i64(arg, &n) || n < 1 || n > CV_MAX_THREADS) {
        cli_usage(cmd, "bad --threads `%s' (1..%d)", arg, CV_MAX_THREADS);
        return false;
    }
    *out = (int)n;
    return true;
}

/* Whether `path` names remote storage; file://, mem:// and plain paths (and NULL) are local. */
static bool is_remote(const char *path)
{
    if (path && strncmp(path, "precomputed://", 14) == 0) {
        path += 14; /* Neuroglancer's form names the storage after it */
    }
    return path && strstr(path, "://") && strncmp(path, "file://", 7) != 0 &&
           strncmp(path, "mem://", 6) != 0;
}

/* Ranks of this job on this node, from the launcher's environment (Open MPI, MPICH/Hydra);
 * 1 when not under a launcher or when it does not say. */
static int local_ranks(void)
{
    static const char *const names[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        int64_t n;
        if (v && cli_parse_i64(v, &n) && n >= 1 && n <= 1000000) {
            return (int)n;
        }
    }
    return 1;
}

/* The cores this process may run on; at least 1. */
static int usable_cores(void)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int n = online > 0 && online < 1000000 ? (int)online : 1;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0 && CPU_COUNT(&set) < n) {
        return CPU_COUNT(&set); /* the launcher bound this rank to its cores */
    }
    /* Not bound: the node's ranks share its cores. */
    n /= local_ranks();
    return n > 0 ? n : 1;
}

int cli_default_threads(const char *src, const char *dst, int remote)
{
    if (is_remote(src) || is_remote(dst)) {
        return remote;
    }
    /* Local storage is CPU-bound: threads past the cores only take turns on them (2 ranks of 4
     * threads on 2 cores import HDF5 at 0.9x the speed of one thread each). */
    int n = usable_cores();
    return n < 4 ? n : 4;
}

bool cli_opt_plan_ranks(const char *cmd, const char *arg, int *out)
{
    int64_t n;
    if (!cli_parse_i64(arg, &n) || n < 1 || n > 10000000) {
        cli_usage(cmd, "bad --ranks `%s' (1..10000000)", arg);
        return false;
    }
    *out = (int)n;
    return true;
}

bool cli_opt_factor(const char *cmd, const char *arg, int64_t out[3])
{
    if (!cli_parse_i64x3(arg, out) || out[0] < 1 || out[1] < 1 || out[2] < 1 ||
        out[0] * out[1] * out[2] < 2) {
        cli_usage(cmd, "bad --factor `%s': want X,Y,Z >= 1, not 1,1,1", arg);
        return false;
    }
    return true;
}

bool cli_opt_pyramid_levels(const char *cmd, const char *arg, int64_t *out)
{
    if (!cli_parse_i64(arg, out) || *out < 1 || *out > 32) {
        cli_usage(cmd, "bad --downsample `%s' (1..32 mips)", arg);
        return false;
    }
    return true;
}

void cli_volume_args_init(cli_volume_args *a)
{
    a->opts = cv_opts_default();
    a->opts.threads = 0; /* chosen in cli_open_volume from the path */
    a->mip_text = NULL;
    a->bbox_text = NULL;
}

int cli_volume_option(int c, const char *cmd, cli_volume_args *a)
{
    switch (c) {
    case 1001:
        a->mip_text = optarg;
        return 1;
    case 1002: {
        /* A malformed box is a usage error (exit 2), whatever the layer holds. */
        cv_bbox b;
        if (cv_bbox_parse(optarg, &b) != CV_OK) {
            cli_usage(cmd, "%s", cv_err_last()->what);
            cv_err_clear();
            return -1;
        }
        a->bbox_text = optarg;
        return 1;
    }
    case 1003:
        a->opts.fill_missing = true;
        return 1;
    case 1004:
        return cli_opt_threads(cmd, optarg, &a->opts.threads) ? 1 : -1;
    case 1005:
        a->opts.autocrop = true;
        return 1;
    case 1006:
        a->opts.bounded = false;
        return 1;
    case 1007:
        if (!cli_parse_double(optarg, &a->opts.background_color)) {
            cli_usage(cmd, "bad --background `%s'", optarg);
            return -1;
        }
        return 1;
    default:
        return 0;
    }
}

cv_status cli_open_volume(const char *path, const cli_volume_args *a, cv_volume **out, int *mip,
                          cv_bbox *box)
{
    cv_volume *v;
    cv_opts o = a->opts;
    if (o.threads == 0) {
        /* Object stores need many requests in flight to hide their latency. */
        o.threads = cli_default_threads(path, NULL, 16);
    }
#ifndef CV_CLI_FRONT
    cli_cache_apply(&o);
#endif
    CV_TRY(cv_volume_open(path, &o, &v));
    *mip = 0;
    cv_status rc = cv__volume_select_box(v, a->mip_text, a->bbox_text, mip, box);
    if (rc != CV_OK) {
        cv_volume_close(v);
        return rc;
    }
    *out = v;
    return CV_OK;
}

bool cli_opt_level(const char *cmd, const char *arg, int *out)
{
    int64_t v;
    if (!cli_parse_i64(arg, &v) || v < 0 || v > 12) {
        cli_usage(cmd, "bad --level `%s' (gzip 0..12, br 0..11)", arg);
        return false;
    }
    *out = (int)v;
    return true;
}

bool cli_check_level(const char *cmd, bool has_level, int level, const char *compress)
{
    if (has_level && compress && !compress[0]) {
        cli_usage(cmd, "--level %d needs gzip or br: --compress none has no levels", level);
        return false;
    }
    if (has_level && compress && strcmp(compress, "br") == 0 && level > 11) {
        cli_usage(cmd, "bad --level %d: br quality is 0..11", level);
        return false;
    }
    return true;
}

int cli_fail_job(bool conflict)
{
    cli_fail();
    return conflict ? CLI_USAGE : CLI_FAIL;
}

bool cli_parse_ids(const char *text, uint64_t **ids, size_t *n)
{
    size_t cap = 1;
    for (const char *p = text; *p; p++) {
        cap += *p == ',';
    }
    *ids = cv_malloc(cap * sizeof **ids);
    *n = 0;
    if (!*ids) {
        return false;
    }
    for (const char *p = text;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char buf[32];
        if (len == 0 || len >= sizeof buf) {
            return false;
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        if (!cv__parse_segid(buf, &(*ids)[(*n)++])) {
            return false;
        }
        if (!comma) {
            return true;
        }
        p = comma + 1;
    }
}
