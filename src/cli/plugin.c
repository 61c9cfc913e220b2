/* SPDX-License-Identifier: BSD-3-Clause
 * plugin.c: finding and loading the full program's modules (plugin.h). A module lives in the
 * directory of the program itself (/proc/self/exe), so the build tree and an installed tree
 * work alike without a search path; it resolves the program's own functions, which the
 * program exports for it. */
#include "cli/plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *file, *purpose;
} modules[CLI_MODULE_COUNT] = {
    [CLI_MODULE_NET] = {"libcvmpi-net.so", "gs://, s3://, http(s):// and boss:// storage"},
    [CLI_MODULE_H5] = {"libcvmpi-h5.so", "HDF5 files"},
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *handles[CLI_MODULE_COUNT];

/* The directory of this program, without the trailing slash. */
static cv_status program_dir(char *out, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", out, cap - 1);
    if (n <= 0) {
        return CV_FAIL(CV_ERR_IO, "cannot find its own path (/proc/self/exe): %s", strerror(errno));
    }
    out[n] = '\0';
    char *slash = strrchr(out, '/');
    if (slash) {
        *slash = '\0';
    }
    return CV_OK;
}

static void *load(cli_module m)
{
    if (handles[m]) {
        return handles[m];
    }
    char dir[PATH_MAX], path[PATH_MAX + 64];
    if (program_dir(dir, sizeof dir) != CV_OK) {
        return NULL;
    }
    snprintf(path, sizeof path, "%s/%s", dir, modules[m].file);
    /* RTLD_NOW: a module that cannot resolve its symbols fails here, in one message, rather
     * than in the middle of a job. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        CV_FAIL(CV_ERR_UNSUPPORTED, "cannot load the module %s (needed for %s): %s",
                modules[m].file, modules[m].purpose, why ? why : "unknown error");
        return NULL;
    }
    handles[m] = h;
    return h;
}

void *cli_module_symbol(cli_module m, const char *symbol)
{
    pthread_mutex_lock(&lock);
    void *h = load(m);
    void *sym = h ? dlsym(h, symbol) : NULL;
    pthread_mutex_unlock(&lock);
    if (h && !sym) {
        CV_FAIL(CV_ERR_UNSUPPORTED, "the module %s has no %s: it is not from this build of cvmpi",
                modules[m].file, symbol);
    }
    return sym;
}

bool cli_module_loaded(cli_module m)
{
    pthread_mutex_lock(&lock);
    bool yes = handles[m] != NULL;
    pthread_mutex_unlock(&lock);
    return yes;
}
