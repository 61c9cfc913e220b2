/* SPDX-License-Identifier: BSD-3-Clause
 * plugin.h: the full program's modules. Remote storage (libcurl and its TLS stack) and HDF5
 * are built as modules (libcvmpi-net.so, libcvmpi-h5.so) installed beside the full program and
 * loaded with dlopen the first time a job needs them, so a local job does not pay for loading
 * those libraries at start-up. plugin_net.c and plugin_h5.c define the functions the rest of
 * the program calls and forward them to the module. */
#ifndef CV_CLI_PLUGIN_H
#define CV_CLI_PLUGIN_H

#include "base/cv_internal.h"

/* The modules, by index into plugin.c's table. */
typedef enum cli_module { CLI_MODULE_NET, CLI_MODULE_H5, CLI_MODULE_COUNT } cli_module;

/* The address of `symbol` in module `m`, loading the module first (once per process; thread-
 * safe). NULL with the error recorded, one line naming the module and its file, when the module
 * is missing, cannot be loaded or lacks the symbol. */
void *cli_module_symbol(cli_module m, const char *symbol);
/* Whether module `m` is loaded already (no loading). */
bool cli_module_loaded(cli_module m);

#endif
