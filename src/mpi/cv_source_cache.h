/* SPDX-License-Identifier: BSD-3-Clause
 * cv_source_cache.h: the disk cache options (cv_opts' cache fields) that
 * jobs apply to the layers they only read (transfer's and export's source, both layers of
 * verify), never to a layer they write: set once per process by the CLI's --cache options. */
#ifndef CV_SOURCE_CACHE_H
#define CV_SOURCE_CACHE_H

#include "cvmpi.h"

/* Keep the cache fields of `from` (its strings must outlive the jobs). */
void cv_mpi_set_source_cache(const cv_opts *from);
/* Copy the kept cache fields into `o` (nothing set: cache off, as cv_opts_default). */
void cv_mpi_source_cache(cv_opts *o);

#endif
