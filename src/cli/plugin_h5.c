/* SPDX-License-Identifier: BSD-3-Clause
 * plugin_h5.c: the full program's side of the HDF5 module (libcvmpi-h5.so, built from
 * mpi/mpi_h5.c; plugin.h): HDF5 import, export and cutouts forward to the module, loaded the
 * first time one runs. */
#include "cli/plugin.h"
#include "mpi/cv_h5.h"
#include "mpi/cv_import_source.h"

cv_status cv__h5_source_open(const cv_import_params *p, cv_import_source **out)
{
    cv_status (*open)(const cv_import_params *, cv_import_source **) =
        (cv_status(*)(const cv_import_params *, cv_import_source **))cli_module_symbol(
            CLI_MODULE_H5, "cv__h5_source_open");
    return open ? open(p, out) : CV_ERR_UNSUPPORTED;
}

cv_status cv_mpi_export(const cv_export_params *p)
{
    cv_status (*run)(const cv_export_params *) =
        (cv_status(*)(const cv_export_params *))cli_module_symbol(CLI_MODULE_H5, "cv_mpi_export");
    return run ? run(p) : CV_ERR_UNSUPPORTED;
}

cv_status cv_h5_write_cutout(const char *spec, const cv_h5_cutout *c, const void *data)
{
    cv_status (*write)(const char *, const cv_h5_cutout *, const void *) =
        (cv_status(*)(const char *, const cv_h5_cutout *, const void *))cli_module_symbol(
            CLI_MODULE_H5, "cv_h5_write_cutout");
    return write ? write(spec, c, data) : CV_ERR_UNSUPPORTED;
}

cv_status cv_h5_read_cutout(const char *spec, cv_dtype dtype, int64_t channels,
                            const int64_t shape[3], const char *axes, void *data)
{
    cv_status (*read)(const char *, cv_dtype, int64_t, const int64_t[3], const char *, void *) =
        (cv_status(*)(const char *, cv_dtype, int64_t, const int64_t[3], const char *,
                      void *))cli_module_symbol(CLI_MODULE_H5, "cv_h5_read_cutout");
    return read ? read(spec, dtype, channels, shape, axes, data) : CV_ERR_UNSUPPORTED;
}
