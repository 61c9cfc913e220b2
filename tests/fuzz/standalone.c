/* SPDX-License-Identifier: BSD-3-Clause
 * standalone.c: main() for the fuzz targets without libFuzzer (blosc2/libvips style). Replays
 * every file named on the command line, and every file inside each named directory (sorted,
 * recursively), through LLVMFuzzerTestOneInput. Each input gets a buffer of exactly its size,
 * so a sanitizer build catches reads past the end. Exit 0 when all inputs ran, 1 on an
 * unreadable path or when nothing was replayed; a failed FUZZ_ASSERT aborts. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path, size_t *n_run)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        if (len == cap) {
            uint8_t *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            break;
        }
    }
    int bad = ferror(f) || !buf;
    fclose(f);
    if (bad) {
        fprintf(stderr, "%s: read failed\n", path);
        free(buf);
        return 1;
    }
    /* An exact-size copy: the input's end is the allocation's end. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return 1;
    }
    if (len) {
        memcpy(exact, buf, len);
    }
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    (*n_run)++;
    return 0;
}

static int run_path(const char *path, size_t *n_run, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        return run_file(path, n_run);
    }
    if (depth > 8) {
        return 0;
    }
    struct dirent **names = NULL;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0) {
        perror(path);
        return 1;
    }
    int failed = 0;
    for (int i = 0; i < n; i++) {
        const char *base = names[i]->d_name;
        if (base[0] != '.') { /* skips ".", ".." and dot files such as .gitkeep */
            size_t need = strlen(path) + strlen(base) + 2;
            char *child = malloc(need);
            if (child) {
                snprintf(child, need, "%s/%s", path, base);
                failed |= run_path(child, n_run, depth + 1);
                free(child);
            } else {
                failed = 1;
            }
        }
        free(names[i]);
    }
    free(names);
    return failed;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s FILE_OR_DIR...\n"
                "Replays each input through the fuzz target (no libFuzzer needed).\n",
                argv[0]);
        return 2;
    }
    size_t n_run = 0;
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        failed |= run_path(argv[i], &n_run, 0);
    }
    printf("%s: replayed %zu inputs\n", argv[0], n_run);
    if (n_run == 0) {
        fprintf(stderr, "%s: no inputs found\n", argv[0]);
        return 1;
    }
    return failed;
}
