/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_filelist.c: the list-file parser of HDF5 stacks (@LIST.txt:/DATASET) and the natural
 * order. Every parsed path is non-empty, has no newline and no surrounding blanks; the natural
 * comparison of any two paths is antisymmetric and zero exactly for equal strings. */
#include "fuzz_common.h"

#include "base/filelist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    char **paths;
    size_t n;
    if (cv__filelist_parse((const char *)data, size, size % 2 ? "/base" : NULL, "fuzz", &paths,
                           &n) != CV_OK) {
        return 0;
    }
    FUZZ_ASSERT(n >= 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(paths[i]);
        FUZZ_ASSERT(len > 0 && !strchr(paths[i], '\n'));
        FUZZ_ASSERT(paths[i][len - 1] != ' ' && paths[i][len - 1] != '\t' &&
                    paths[i][len - 1] != '\r');
        FUZZ_ASSERT(paths[i][0] != '#');
        FUZZ_ASSERT(cv__natural_cmp(paths[i], paths[i]) == 0);
        if (i > 0) {
            int a = cv__natural_cmp(paths[i - 1], paths[i]);
            int b = cv__natural_cmp(paths[i], paths[i - 1]);
            FUZZ_ASSERT(a == -b);
            FUZZ_ASSERT((a == 0) == (strcmp(paths[i - 1], paths[i]) == 0));
        }
    }
    cv__filelist_free(paths, n);
    return 0;
}
