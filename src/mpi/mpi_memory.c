/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_memory.c: the default memory budget of one rank: the job's real memory (Slurm's
 * SLURM_MEM_PER_NODE / SLURM_MEM_PER_CPU, else the cgroup limit, else physical memory)
 * divided among the ranks on this node. Collective (counts the node's ranks). */
#include "mpi/cv_mpi.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t env_megabytes(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        return 0;
    }
    char *end;
    unsigned long long mb = strtoull(v, &end, 10);
    /* Slurm gives megabytes, optionally with a unit suffix. */
    switch (*end) {
    case 'G':
    case 'g':
        mb *= 1024;
        break;
    case 'T':
    case 't':
        mb *= 1024 * 1024;
        break;
    default:
        break;
    }
    return (size_t)mb << 20;
}

static size_t cgroup_limit(void)
{
    static const char *const files[] = {"/sys/fs/cgroup/memory.max",
                                        "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        FILE *f = fopen(files[i], "r");
        if (!f) {
            continue;
        }
        char line[64] = "";
        size_t limit = 0;
        if (fgets(line, sizeof line, f) && strncmp(line, "max", 3) != 0) {
            unsigned long long v = strtoull(line, NULL, 10);
            /* cgroup v1 reports "no limit" as a huge number */
            if (v > 0 && v < (1ULL << 50)) {
                limit = (size_t)v;
            }
        }
        fclose(f);
        if (limit) {
            return limit;
        }
    }
    return 0;
}

static size_t physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (size_t)pages * (size_t)page : (size_t)1 << 30;
}

size_t cv_mpi_default_memory(const char **source)
{
    size_t total = env_megabytes("SLURM_MEM_PER_NODE");
    const char *from = "SLURM_MEM_PER_NODE";
    int local_ranks = 1;
    if (cv_mpi_active()) {
        MPI_Comm node;
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
        MPI_Comm_size(node, &local_ranks);
        MPI_Comm_free(&node);
    }
    if (!total) {
        size_t per_cpu = env_megabytes("SLURM_MEM_PER_CPU");
        if (per_cpu) {
            const char *cpus = getenv("SLURM_CPUS_PER_TASK");
            size_t n = cpus ? (size_t)strtoul(cpus, NULL, 10) : 1;
            /* per CPU memory belongs to each rank's own CPUs */
            total = per_cpu * (n ? n : 1) * (size_t)local_ranks;
            from = "SLURM_MEM_PER_CPU";
        }
    }
    if (!total) {
        total = cgroup_limit();
        from = "cgroup limit";
    }
    size_t phys = physical_memory();
    if (!total || total > phys) {
        total = phys;
        from = "physical memory";
    }
    if (source) {
        *source = from;
    }
    /* Leave a quarter for the system and the page cache. */
    return total / 4 * 3 / (size_t)local_ranks;
}
