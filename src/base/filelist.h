/* SPDX-License-Identifier: BSD-3-Clause
 * filelist.h: ordered lists of input files for stacks (`cvmpi import FILE_*.h5:/D` or
 * `@list.txt:/D`): glob patterns in natural order, list files, and the natural order itself.
 * Not collective; no MPI, no HDF5. */
#ifndef CV_FILELIST_H
#define CV_FILELIST_H

#include "base/cv_internal.h"

/* Natural order: runs of digits compare as numbers ("z_2" < "z_10"), the rest bytewise;
 * equal numbers with more leading zeros sort first. Pure. */
int cv__natural_cmp(const char *a, const char *b);

/* Paths in a list file's text: one per line; blank lines and lines starting with `#' are
 * skipped, surrounding spaces, tabs and CR trimmed. A relative path is taken relative to
 * `base_dir` (NULL or "" = as written). `what` names the list in errors. NUL bytes or no
 * path at all -> CV_ERR_ARG. *paths (free with cv__filelist_free) is written only on success. */
cv_status cv__filelist_parse(const char *text, size_t len, const char *base_dir, const char *what,
                             char ***paths, size_t *n);

/* Expand `pattern`: a glob (with * ? or [) gives its matches in natural order (none is
 * CV_ERR_NOTFOUND naming the pattern); `@FILE` reads the list file FILE (relative paths taken
 * from FILE's directory); anything else is itself. */
cv_status cv__filelist_expand(const char *pattern, char ***paths, size_t *n);

void cv__filelist_free(char **paths, size_t n);

#endif
