/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_du.c: `cvmpi du`, the stored sizes of objects on any store, in the lines CloudFiles'
 * `du` prints ("SIZE<TAB>PATH"; -s one line per PATH, -c a grand total, -h KiB/MiB/...). */
#include "cli/cli.h"
#include "cli/cli_objects.h"

#include <string.h>

static const char help[] =
    "usage: cvmpi du [-s] [-c] [-h] PATH...\n\n"
    "Print the stored size of objects, one `SIZE<TAB>PATH' line each, as CloudFiles' du: for a\n"
    "PATH that names an object its size; for a directory or prefix (PATH/ or a local\n"
    "directory, or a PATH with objects under it) one line per object under it, sorted, named\n"
    "PATH/NAME. Sizes are of the stored bytes (compressed objects as compressed; file:// names\n"
    "without their .gz/.br suffix). Listings with sizes come from S3 and GCS in one request\n"
    "per 1000 objects; file:// and mem:// look at each object.\n"
    "  -s, --summarize       one line per PATH: the sum under it\n"
    "  -c, --grand-total     a last line `SIZE<TAB>total': the sum over every PATH\n"
    "  -h, --human-readable  sizes as `N Bytes' below 1 KiB, else `X.XX KiB' (MiB, GiB, TiB,\n"
    "                        PiB, EiB), two decimals\n"
    "  --help                this text\n";

typedef struct du_state {
    bool is_human, is_summary;
    const char *base; /* the PATH argument */
    uint64_t sum;
} du_state;

static void print_size(uint64_t v, bool is_human, const char *what)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (!is_human) {
        printf("%llu\t%s\n", (unsigned long long)v, what);
        return;
    }
    if (v < 1024) {
        printf("%llu Bytes\t%s\n", (unsigned long long)v, what);
        return;
    }
    size_t u = 0;
    double scaled = (double)v / 1024.0;
    while (u + 1 < sizeof units / sizeof units[0] && scaled >= 1024.0) {
        scaled /= 1024.0;
        u++;
    }
    printf("%.2f %s\t%s\n", scaled, units[u], what);
}

static cv_status show_one(const char *name, uint64_t size, void *arg)
{
    du_state *st = arg;
    if (st->sum > UINT64_MAX - size) {
        return CV_FAIL(CV_ERR_BOUNDS, "du `%s': the sum overflows", st->base);
    }
    st->sum += size;
    if (!st->is_summary) {
        char *full = cli_join(st->base, name);
        if (!full) {
            return CV_FAIL(CV_ERR_NOMEM, "du");
        }
        print_size(size, st->is_human, full);
        cv_free(full);
    }
    return CV_OK;
}

int cmd_du(int argc, char **argv)
{
    static const struct option opts[] = {{"summarize", no_argument, NULL, 's'},
                                         {"grand-total", no_argument, NULL, 'c'},
                                         {"human-readable", no_argument, NULL, 'h'},
                                         {"help", no_argument, NULL, 'H'},
                                         {NULL, 0, NULL, 0}};
    du_state st = {false, false, NULL, 0};
    bool is_total = false;
    for (int c; (c = cli_getopt(argc, argv, "sch", opts)) != -1;) {
        switch (c) {
        case 'H':
            return cli_help(help);
        case 's':
            st.is_summary = true;
            break;
        case 'c':
            is_total = true;
            break;
        case 'h':
            st.is_human = true;
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind >= argc) {
        return cli_usage(argv[0], "want at least one PATH");
    }
    cv_status rc = CV_OK;
    uint64_t total = 0;
    for (int i = optind; i < argc && rc == CV_OK; i++) {
        cli_target t;
        rc = cli_target_open(argv[i], false, &t);
        st.base = argv[i];
        st.sum = 0;
        if (rc == CV_OK && t.is_object && t.parent) {
            cv_store_meta m;
            rc = cv__store_head(t.parent, t.name, &m);
            if (rc == CV_OK) {
                /* One object: its line is the summary too. */
                st.sum = m.size < 0 ? 0 : (uint64_t)m.size;
                print_size(st.sum, st.is_human, argv[i]);
            }
        } else if (rc == CV_OK) {
            rc = cli_target_list(&t, show_one, &st);
            if (rc == CV_OK && st.is_summary) {
                print_size(st.sum, st.is_human, argv[i]);
            }
        }
        if (rc == CV_OK && total > UINT64_MAX - st.sum) {
            rc = CV_FAIL(CV_ERR_BOUNDS, "du: the grand total overflows");
        }
        total += rc == CV_OK ? st.sum : 0;
        cli_target_close(&t);
    }
    if (rc == CV_OK && is_total) {
        print_size(total, st.is_human, "total");
    }
    if (fflush(stdout) != 0 && rc == CV_OK) {
        rc = CV_FAIL(CV_ERR_IO, "du: write to standard output");
    }
    return rc == CV_OK ? CLI_OK : cli_fail();
}
