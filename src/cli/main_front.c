/* SPDX-License-Identifier: BSD-3-Clause
 * main_front.c: the `cvmpi` users run. Loading the full program's 57 shared libraries (Open
 * MPI, HDF5, libcurl and its TLS stack, jxl, Draco, libmicrohttpd) costs tens of
 * milliseconds before main(); this front links only what `cvmpi info` of a local layer needs,
 * runs that itself, and hands every other command line unchanged to the full program (main.c,
 * installed as libexec/cvmpi/cvmpi) with execv: the same process (PID, environment, open
 * files), so launchers such as mpirun and srun see one program. */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const cli_cmd info_command = {"info", cmd_info, "show a layer's info", false};

/* cli.c asks which command runs (for its shared options): here only `info`. */
const cli_cmd *cli_find_command(const char *name)
{
    return strcmp(name, info_command.name) == 0 ? &info_command : NULL;
}

/* `info [--json] PATH` with PATH a local directory or file:// URL: the cases the front runs.
 * Anything else (other options, remote storage, usage errors) goes to the full program, which
 * prints exactly what it always has. */
static bool front_runs_info(int argc, char **argv)
{
    int paths = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            continue;
        }
        if (a[0] == '-' || (strstr(a, "://") && strncmp(a, "file://", 7) != 0)) {
            return false;
        }
        paths++;
    }
    return paths == 1;
}

/* Replace this process by the full program (CV_DRIVER_RELPATH from this binary's directory). */
static int run_full_program(char **argv)
{
    char self[PATH_MAX], driver[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fprintf(stderr, "cvmpi: cannot find its own path (/proc/self/exe): %s\n", strerror(errno));
        return CLI_FAIL;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    int len = snprintf(driver, sizeof driver, "%s/%s", self, CV_DRIVER_RELPATH);
    if (len < 0 || (size_t)len >= sizeof driver) {
        fprintf(stderr, "cvmpi: the path of %s/%s is too long\n", self, CV_DRIVER_RELPATH);
        return CLI_FAIL;
    }
    execv(driver, argv);
    fprintf(stderr, "cvmpi: cannot run the full program %s: %s\n", driver, strerror(errno));
    return CLI_FAIL;
}

int main(int argc, char **argv)
{
    int first = 1;
    int level = -1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        const char *a = argv[first];
        if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            level = CV_LOG_INFO;
        } else if (strcmp(a, "-vv") == 0) {
            level = CV_LOG_DEBUG;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            level = CV_LOG_ERROR;
        } else {
            return run_full_program(argv); /* --help, --version (it lists every feature) */
        }
    }
    if (first >= argc || strcmp(argv[first], info_command.name) != 0 ||
        !front_runs_info(argc - first, argv + first)) {
        return run_full_program(argv);
    }
    /* A layer the front cannot open (an info redirecting to remote storage, say) goes to the
     * full program too: nothing has been printed yet. */
    const char *path = NULL;
    for (int i = first + 1; i < argc; i++) {
        path = strcmp(argv[i], "--json") != 0 ? argv[i] : path;
    }
    cv_log_level saved = cv__log_level();
    cv__log_set_level(CV_LOG_ERROR);
    cv_volume *v;
    if (cv_volume_open(path, NULL, &v) != CV_OK) {
        return run_full_program(argv);
    }
    cv_volume_close(v);
    cv__log_set_level(level >= 0 ? (cv_log_level)level : saved);
    cli_set_command(info_command.name);
    return cmd_info(argc - first, argv + first);
}
