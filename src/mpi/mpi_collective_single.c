/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_collective_single.c: what the cv_coll_* calls do when MPI was not started (one process,
 * no launcher): the one rank's contribution is its result, copied without any MPI call (MPI
 * functions other than a few queries may not be called before MPI_Init). */
#include "mpi/cv_collective.h"

#include <string.h>

/* The datatypes the collectives are called with; 0 for any other (a programming error). */
static size_t type_size(MPI_Datatype t)
{
    if (t == MPI_BYTE || t == MPI_CHAR || t == MPI_UINT8_T || t == MPI_INT8_T) {
        return 1;
    }
    if (t == MPI_INT || t == MPI_UNSIGNED) {
        return sizeof(int);
    }
    if (t == MPI_2INT) {
        return 2 * sizeof(int);
    }
    if (t == MPI_LONG || t == MPI_UNSIGNED_LONG) {
        return sizeof(long);
    }
    if (t == MPI_INT32_T || t == MPI_UINT32_T || t == MPI_FLOAT) {
        return 4;
    }
    if (t == MPI_INT64_T || t == MPI_UINT64_T || t == MPI_DOUBLE || t == MPI_LONG_LONG ||
        t == MPI_UNSIGNED_LONG_LONG) {
        return 8;
    }
    return 0;
}

int cv_coll__single(const void *in, int in_displ, int n, MPI_Datatype in_type, void *out,
                    int out_displ, MPI_Datatype out_type)
{
    size_t in_size = type_size(in_type), out_size = type_size(out_type);
    if (!in_size || !out_size || n < 0 || in_displ < 0 || out_displ < 0) {
        return MPI_ERR_TYPE;
    }
    if (in == MPI_IN_PLACE || n == 0) {
        return MPI_SUCCESS;
    }
    const char *from = (const char *)in + (size_t)in_displ * in_size;
    char *to = (char *)out + (size_t)out_displ * out_size;
    if (from != to) {
        memmove(to, from, (size_t)n * in_size);
    }
    return MPI_SUCCESS;
}
