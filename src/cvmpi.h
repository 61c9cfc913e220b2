/* SPDX-License-Identifier: BSD-3-Clause
 * cvmpi.h: the one public header of libcloudvolume, the C library under the cvmpi tool.
 * Reads and writes Neuroglancer Precomputed volumes the way CloudVolume does.
 * No MPI here: everything declared below is usable from a plain single-process C program.
 * Unless a function says otherwise it is not collective, and it is thread-safe for distinct
 * handles. Errors: every function returning cv_status records the first failure of the calling
 * thread; cv_err_last() then has a one-line message naming the file, key or field. */
#ifndef CVMPI_H
#define CVMPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CV_EXPORT __attribute__((visibility("default")))
#else
#define CV_EXPORT
#endif

/* ---------------------------------------------------------------------------------------------
 * Status codes and the error record */

#define CV_STATUS_MAP(X)                                                                           \
    X(OK, 0, "success")                                                                            \
    X(ERR_NOMEM, -1, "out of memory")                                                              \
    X(ERR_ARG, -2, "invalid argument")                                                             \
    X(ERR_IO, -3, "storage I/O error")                                                             \
    X(ERR_NOTFOUND, -4, "key not found")                                                           \
    X(ERR_CORRUPT, -5, "corrupt or truncated data")                                                \
    X(ERR_UNSUPPORTED, -6, "not supported")                                                        \
    X(ERR_INFO, -7, "invalid info")                                                                \
    X(ERR_BOUNDS, -8, "out of bounds")                                                             \
    X(ERR_ALIGN, -9, "not chunk aligned")                                                          \
    X(ERR_READONLY, -10, "read-only")                                                              \
    X(ERR_MPI, -11, "MPI error")                                                                   \
    X(ERR_HDF5, -12, "HDF5 error")

typedef enum cv_status {
#define CV_X_(n, v, s) CV_##n = v,
    CV_STATUS_MAP(CV_X_)
#undef CV_X_
} cv_status;

CV_EXPORT const char *cv_strerror(cv_status rc); /* "key not found" */
CV_EXPORT const char *cv_errname(cv_status rc);  /* "CV_ERR_NOTFOUND" */

typedef struct cv_err {
    cv_status code;
    int sys_errno;
    char where[64];  /* "src/compress/gzip.c:88" */
    char what[1024]; /* one line: "read chunk `8_8_8/0-64_0-64_0-64': gzip: truncated" */
} cv_err;

/* cv_err_last() : the calling thread's first recorded failure since cv_err_clear(). */
CV_EXPORT const cv_err *cv_err_last(void);
CV_EXPORT void cv_err_clear(void);

/* ---------------------------------------------------------------------------------------------
 * Data types */

typedef enum cv_dtype {
    CV_DTYPE_INVALID = 0,
    CV_UINT8,
    CV_INT8,
    CV_UINT16,
    CV_INT16,
    CV_UINT32,
    CV_INT32,
    CV_UINT64,
    CV_INT64,
    CV_FLOAT32,
    CV_FLOAT64
} cv_dtype;

CV_EXPORT cv_dtype cv_dtype_from_name(const char *name); /* exact lowercase; INVALID if unknown */
CV_EXPORT const char *cv_dtype_name(cv_dtype t);         /* "uint8"; NULL for INVALID */
CV_EXPORT size_t cv_dtype_size(cv_dtype t);              /* bytes per element; 0 for INVALID */
/* True for the types Neuroglancer and TensorStore can read (not int64/float64). */
CV_EXPORT bool cv_dtype_is_neuroglancer(cv_dtype t);

/* ---------------------------------------------------------------------------------------------
 * Geometry. Boxes are half open [min, max) in voxels of one mip, absolute (voxel_offset
 * included), x,y,z. */

typedef struct cv_bbox {
    int64_t min[3];
    int64_t max[3];
} cv_bbox;

CV_EXPORT cv_bbox cv_bbox_make(int64_t x0, int64_t y0, int64_t z0, int64_t x1, int64_t y1,
                               int64_t z1);
CV_EXPORT bool cv_bbox_is_empty(cv_bbox b);   /* any max <= min */
CV_EXPORT uint64_t cv_bbox_voxels(cv_bbox b); /* 0 if empty; UINT64_MAX if it overflows */
CV_EXPORT cv_bbox cv_bbox_intersect(cv_bbox a, cv_bbox b); /* may be empty */
CV_EXPORT bool cv_bbox_contains(cv_bbox outer, cv_bbox inner);
CV_EXPORT bool cv_bbox_equal(cv_bbox a, cv_bbox b);
/* "x0,y0,z0,x1,y1,z1" -> box; CV_ERR_ARG on malformed text. */
CV_EXPORT cv_status cv_bbox_parse(const char *text, cv_bbox *out);
/* Format as "x0,y0,z0,x1,y1,z1"; returns snprintf's count. */
CV_EXPORT int cv_bbox_format(cv_bbox b, char *buf, size_t cap);

/* The chunk grid of one scale: chunk `size`, grid origin `offset`, volume `bounds`. */
typedef struct cv_grid {
    int64_t chunk[3];
    cv_bbox bounds; /* [voxel_offset, voxel_offset + size) */
} cv_grid;

/* Number of chunks along each axis: ceil(size / chunk). */
CV_EXPORT void cv_grid_shape(const cv_grid *g, int64_t shape[3]);
/* The box of grid cell `cell`, clipped at the upper faces of the volume. */
CV_EXPORT cv_bbox cv_grid_cell_box(const cv_grid *g, const int64_t cell[3]);
/* Cells whose boxes intersect `box`: [cmin, cmax). Empty range if box misses the volume. */
CV_EXPORT void cv_grid_cells(const cv_grid *g, cv_bbox box, int64_t cmin[3], int64_t cmax[3]);
/* Expand `box` to chunk boundaries and clamp to the volume (CloudVolume's expand_to_chunk_size
 * followed by clamp). */
CV_EXPORT cv_bbox cv_grid_expand(const cv_grid *g, cv_bbox box);
/* Shrink `box` to the chunk-aligned core inside it (may be empty). */
CV_EXPORT cv_bbox cv_grid_shrink(const cv_grid *g, cv_bbox box);
/* True if `box` starts on grid lines and ends on grid lines or at the volume's upper bound. */
CV_EXPORT bool cv_grid_is_aligned(const cv_grid *g, cv_bbox box);

/* Chunk file name "x0-x1_y0-y1_z0-z1" of a box; returns the length (snprintf semantics). */
CV_EXPORT int cv_chunk_name_format(cv_bbox b, char *buf, size_t cap);
/* Parse a chunk name (a known compression suffix is ignored). CV_ERR_ARG if malformed. */
CV_EXPORT cv_status cv_chunk_name_parse(const char *name, cv_bbox *out);

/* ---------------------------------------------------------------------------------------------
 * The info file. cv_info is a plain struct: callers may read every field; change it through
 * the functions below so the invariants hold, then cv_info_validate() before committing. */

#define CV_MAX_CHUNK_SIZES 8

typedef struct cv_scale {
    char *key;       /* directory of this scale's chunks, relative to the layer */
    int64_t size[3]; /* voxels */
    int64_t voxel_offset[3];
    double resolution[3]; /* nanometres */
    int64_t chunk_sizes[CV_MAX_CHUNK_SIZES][3];
    int n_chunk_sizes;     /* >= 1; readers use chunk_sizes[0] */
    char *encoding;        /* "raw", "jpeg", ... (lowercase) */
    int64_t cseg_block[3]; /* compressed_segmentation_block_size; 0,0,0 if absent */
    int jpeg_quality;      /* -1 if absent */
    int png_level;         /* -1 if absent */
    int has_hidden;        /* -1 absent, else the bool value */
    char *sharding_json;   /* the "sharding" object as JSON text, NULL if unsharded */
    char *extra_json;      /* other members, kept verbatim as a JSON object, or NULL */
} cv_scale;

typedef struct cv_info {
    char *type; /* "image" or "segmentation" */
    cv_dtype dtype;
    int64_t num_channels;
    cv_scale *scales; /* finest first */
    int n_scales;
    char *mesh;      /* NULL if absent */
    char *skeletons; /* NULL if absent */
    char *segment_properties;
    char *redirect;
    bool has_at_type; /* "@type": "neuroglancer_multiscale_volume" present */
    /* Write resolutions as floats ("40.0"), as CloudVolume does when the base resolution had
     * decimals; keeps those infos byte-identical on rewrite. */
    bool resolution_is_float;
    char *extra_json; /* unknown top-level members, kept verbatim */
} cv_info;

/* Parse and validate info JSON text. `what` names the file in error messages.
 * On success *out is a new info (free with cv_info_free). */
CV_EXPORT cv_status cv_info_parse(const char *json, size_t len, const char *what, cv_info **out);
/* Check every rule of the spec (scales, sizes, encodings vs dtypes and channels, ...). */
CV_EXPORT cv_status cv_info_validate(const cv_info *info);
/* Serialize exactly as CloudVolume does: json.dumps(sort_keys=True, indent=2). Free with
 * cv_free(). */
CV_EXPORT cv_status cv_info_to_json(const cv_info *info, char **out, size_t *len);
CV_EXPORT void cv_info_free(cv_info *info);
CV_EXPORT cv_status cv_info_copy(const cv_info *src, cv_info **out);

typedef struct cv_info_params {
    const char *type; /* "image" | "segmentation" */
    cv_dtype dtype;
    int64_t num_channels; /* default 1 when 0 */
    const char *encoding; /* default "raw" when NULL */
    double resolution[3];
    bool resolution_is_float; /* resolution typed as floats, as from Python floats */
    int64_t voxel_offset[3];
    int64_t size[3];
    int64_t chunk_size[3]; /* default 64,64,64 when 0 */
    int64_t cseg_block[3]; /* default 8,8,8 for compressed_segmentation */
    const char *mesh;      /* NULL: none */
    const char *skeletons; /* NULL: none */
    int max_mip;           /* extra scales made with add_scale(factor^mip) */
    int64_t factor[3];     /* default 2,2,1 */
} cv_info_params;

/* CloudVolume's create_new_info(). */
CV_EXPORT cv_status cv_info_create(const cv_info_params *p, cv_info **out);
/* CloudVolume's add_scale(): `factor` relative to scale 0; `chunk_size` NULL = closest divisor
 * of scale 0's chunk to 64; `encoding` NULL = scale 0's. Replaces a scale with the same
 * resolution, else appends. *index_out (may be NULL) receives its index. */
CV_EXPORT cv_status cv_info_add_scale(cv_info *info, const int64_t factor[3],
                                      const int64_t *chunk_size, const char *encoding,
                                      int *index_out);
CV_EXPORT cv_status cv_info_remove_scale(cv_info *info, int mip);
/* Mip whose resolution equals `res` exactly; CV_ERR_ARG listing the resolutions if none. */
CV_EXPORT cv_status cv_info_find_mip(const cv_info *info, const double res[3], int *mip);
/* A mip from text: an index ("2") or a resolution ("8,8,40"). */
CV_EXPORT cv_status cv_info_select_mip(const cv_info *info, const char *text, int *mip);
/* The chunk grid of scale `mip` (chunk_sizes[0]). */
CV_EXPORT cv_grid cv_info_grid(const cv_info *info, int mip);
CV_EXPORT cv_bbox cv_info_bounds(const cv_info *info, int mip);
/* Python str(float) for a double: shortest round trip, "40.0", "1e-05". */
CV_EXPORT int cv_format_pyfloat(double v, char *buf, size_t cap);

/* ---------------------------------------------------------------------------------------------
 * Provenance file */

typedef struct cv_provenance {
    char *description;
    char **owners;
    int n_owners;
    char **sources;
    int n_sources;
    char **processing_json; /* each entry one JSON object, as text */
    int n_processing;
} cv_provenance;

CV_EXPORT cv_status cv_provenance_parse(const char *json, size_t len, const char *what,
                                        cv_provenance **out);
CV_EXPORT cv_provenance *cv_provenance_new(void); /* the defaults CV fills in */
CV_EXPORT cv_status cv_provenance_to_json(const cv_provenance *p, char **out, size_t *len);
/* Append a processing entry; `method_json` is a JSON value; "by" and "date" are filled in. */
CV_EXPORT cv_status cv_provenance_add_processing(cv_provenance *p, const char *method_json,
                                                 const char *by);
CV_EXPORT void cv_provenance_free(cv_provenance *p);

/* ---------------------------------------------------------------------------------------------
 * Storage: one interface over file://, mem://, gs://, s3:// and http(s):// (read-only).
 * A store is rooted at a directory/prefix; keys are relative '/'-separated names. Transport
 * compression is handled here: CloudFiles' .gz/.br suffixes on file:// and mem://. */

typedef struct cv_store cv_store;

/* Open a store at a cloud path ("file:///abs", "/abs", "rel", "mem://bucket/p", ...). */
CV_EXPORT cv_status cv_store_open(const char *cloudpath, cv_store **out);
CV_EXPORT void cv_store_close(cv_store *s);
CV_EXPORT const char *cv_store_url(const cv_store *s); /* normalised, no trailing '/' */

/* Get an object, decompressed. CV_ERR_NOTFOUND (recorded quietly, not as a failure) if absent.
 * `max_bytes` caps the decoded size (0 = 4 GiB); a larger object is CV_ERR_CORRUPT.
 * On success *data (free with cv_free) and *len are set. */
CV_EXPORT cv_status cv_store_get(cv_store *s, const char *key, size_t max_bytes, uint8_t **data,
                                 size_t *len);
/* Get bytes [offset, offset+length) of an uncompressed object (fewer only at its end).
 * CV_ERR_NOTFOUND if absent. *data is freed with cv_free. */
CV_EXPORT cv_status cv_store_get_range(cv_store *s, const char *key, uint64_t offset,
                                       uint64_t length, uint8_t **data, size_t *len);
/* Put an object atomically. `compress`: NULL or "" none, "gzip", "br"; level -1 = default. */
CV_EXPORT cv_status cv_store_put(cv_store *s, const char *key, const void *data, size_t len,
                                 const char *compress, int level, const char *content_type);
CV_EXPORT cv_status cv_store_exists(cv_store *s, const char *key, bool *yes);
/* Delete every variant of a key; deleting an absent key succeeds. */
CV_EXPORT cv_status cv_store_delete(cv_store *s, const char *key);
/* CloudFiles' `secrets` option for every store opened from now on: `json` is a JSON object as
 * text ({"AWS_ACCESS_KEY_ID": ..., "AWS_SECRET_ACCESS_KEY": ...} or a service-account key),
 * used instead of the secret files; NULL goes back to the files. The text is copied and never
 * logged. CV_ERR_ARG if it is not a JSON object. Not thread-safe against open stores' requests. */
CV_EXPORT cv_status cv_secrets_set(const char *json);
/* Call `fn` for each key under `prefix` (suffixes stripped, each key once, sorted). */
CV_EXPORT cv_status cv_store_list(cv_store *s, const char *prefix,
                                  cv_status (*fn)(const char *key, void *arg), void *arg);

/* ---------------------------------------------------------------------------------------------
 * Volumes */

typedef struct cv_opts {
    bool fill_missing;         /* absent chunks read as background_color */
    bool bounded;              /* reads/writes must lie inside the volume (default true) */
    bool autocrop;             /* clip requests to the volume first */
    bool non_aligned_writes;   /* read-modify-write the border chunks of unaligned writes */
    bool delete_black_uploads; /* delete, don't write, chunks that are all background */
    double background_color;
    const char *compress; /* NULL: CloudVolume's default per encoding; "", "gzip", "br" */
    int compress_level;   /* -1: default (gzip 9, br 5) */
    int max_redirects;    /* default 10 */
    int threads;          /* chunk workers per call; 0 = 1 */
    size_t max_bytes;     /* largest box or chunk a call may hold; 0 = the physical memory */
    /* CloudVolume's cache=: a local disk cache of what is read from gs://, s3:// and
     * http(s):// (never file:// or mem://), laid out as CloudVolume lays it out
     * (docs/cache.md). NULL: off; "": CLOUD_VOLUME_CACHE_DIR or ~/.cloudvolume/cache; else
     * that base directory. */
    const char *cache;
    double cache_max_age;  /* seconds a cached object is served from the cache; 0: no limit */
    double cache_info_age; /* the same for info and provenance files; 0: fetched every open */
    uint64_t cache_bytes;  /* the cache base's size limit, least recently used out; 0: none */
    size_t lru_bytes;      /* CloudVolume's lru_bytes: decoded chunks kept in memory; 0: off */
} cv_opts;

/* CloudVolume's defaults: bounded, everything else off, max_redirects 10. */
CV_EXPORT cv_opts cv_opts_default(void);

typedef struct cv_volume cv_volume;

/* Open an existing layer: fetch its info (following redirects), validate it. */
CV_EXPORT cv_status cv_volume_open(const char *cloudpath, const cv_opts *o, cv_volume **out);
/* Create a layer: write `info` (validated) and open it. Fails if an info already exists unless
 * `overwrite`. */
CV_EXPORT cv_status cv_volume_create(const char *cloudpath, const cv_info *info, bool overwrite,
                                     const cv_opts *o, cv_volume **out);
/* Open a layer with `info` (validated, copied) instead of fetching one, as CloudVolume's
 * info= argument: nothing is written until cv_volume_commit_info(). */
CV_EXPORT cv_status cv_volume_open_info(const char *cloudpath, const cv_info *info,
                                        const cv_opts *o, cv_volume **out);
CV_EXPORT void cv_volume_close(cv_volume *v);
CV_EXPORT const cv_info *cv_volume_info(const cv_volume *v);
/* The info is owned by the volume; change it, then cv_volume_commit_info(). */
CV_EXPORT cv_info *cv_volume_info_mut(cv_volume *v);
CV_EXPORT cv_status cv_volume_commit_info(cv_volume *v);
/* Replace the handle's info by a validated copy of `info` (not written: commit it). Not
 * thread-safe against other calls on the same handle. */
CV_EXPORT cv_status cv_volume_set_info(cv_volume *v, const cv_info *info);
CV_EXPORT cv_store *cv_volume_store(cv_volume *v);
/* The layer's provenance file; a missing file gives CloudVolume's defaults. Free with
 * cv_provenance_free. */
CV_EXPORT cv_status cv_volume_provenance(cv_volume *v, cv_provenance **out);
/* Write the provenance file (uncompressed, formatted as CloudVolume does). */
CV_EXPORT cv_status cv_volume_commit_provenance(cv_volume *v, const cv_provenance *p);
CV_EXPORT const char *cv_volume_url(const cv_volume *v);
CV_EXPORT bool cv_volume_is_readonly(const cv_volume *v);

/* What a volume handle has done so far (all threads). */
typedef struct cv_volume_stats {
    uint64_t chunks_read, chunks_written, chunks_deleted, chunks_missing;
    uint64_t requests; /* storage reads issued for chunks (a ranged read may carry several) */
    uint64_t bytes_read, bytes_written; /* encoded chunk bytes, without transport compression */
    double io_seconds;                  /* summed over threads: fetching and storing */
    double codec_seconds;               /* summed over threads: decoding and encoding */
} cv_volume_stats;
CV_EXPORT void cv_volume_get_stats(const cv_volume *v, cv_volume_stats *out);

/* Apply `bounded`/`autocrop` to a request: the box a read or write will really cover.
 * CV_ERR_BOUNDS outside the volume when bounded; CV_ERR_ARG for an empty box. */
CV_EXPORT cv_status cv_volume_resolve_box(const cv_volume *v, int mip, cv_bbox req, cv_bbox *out);
/* Bytes of a box: voxels * channels * dtype size; SIZE_MAX if that overflows. */
CV_EXPORT size_t cv_volume_box_bytes(const cv_volume *v, cv_bbox b);
/* The same, as an error naming the layer and the box when the bytes overflow 64 bits or
 * exceed opts.max_bytes (default: the physical memory): check a box before allocating it. */
CV_EXPORT cv_status cv_volume_check_box(const cv_volume *v, cv_bbox b, size_t *bytes);

/* cv_volume_read() :
 * Read `box` (already resolved) at `mip` into `dst`: x fastest, then y, z, channel slowest.
 * `dst_cap` must be >= cv_volume_box_bytes(). Voxels outside the volume get background_color.
 * A missing or zero-length chunk is an error naming its key unless fill_missing. */
CV_EXPORT cv_status cv_volume_read(cv_volume *v, int mip, cv_bbox box, void *dst, size_t dst_cap);
/* cv_volume_write() :
 * Write `src` (layout as for read) to `box`. Chunk aligned (edge chunks may end at the volume
 * bound), or any box with non_aligned_writes. */
CV_EXPORT cv_status cv_volume_write(cv_volume *v, int mip, cv_bbox box, const void *src,
                                    size_t src_len);
/* Count the chunks of `box` that exist. */
CV_EXPORT cv_status cv_volume_exists(cv_volume *v, int mip, cv_bbox box, uint64_t *n_present,
                                     uint64_t *n_total);
/* Delete the chunks of a chunk-aligned `box`. */
CV_EXPORT cv_status cv_volume_delete(cv_volume *v, int mip, cv_bbox box);
/* Storage key of the chunk covering `cell_box` at `mip` ("4_4_40/0-64_0-64_0-64"). */
CV_EXPORT int cv_volume_chunk_key(const cv_volume *v, int mip, cv_bbox cell_box, char *buf,
                                  size_t cap);

/* ---------------------------------------------------------------------------------------------
 * graphene:// layers (ChunkedGraph / PyChunkedGraph servers, as FlyWire and MICrONS serve them).
 * cv_volume_open("graphene://https://HOST/segmentation/table/NAME", ...) fetches the info from
 * the server (Bearer token from ~/.cloudvolume/secrets/cave-secret.json and the other files
 * CloudVolume reads) and opens the watershed layer its "data_dir" names, read-only: plain
 * reads give supervoxel ids. The functions below reach the graph server. */

/* Whether `v` was opened from a graphene:// path. */
CV_EXPORT bool cv_volume_is_graphene(const cv_volume *v);
/* UNIX seconds from text as CloudVolume's to_unix_time: seconds (a fraction rounds up) or ISO
 * 8601 ("2024-01-02T03:04:05.5Z"; without a zone, local time). CV_ERR_ARG otherwise. */
CV_EXPORT cv_status cv_timestamp_parse(const char *text, int64_t *out);
/* Root ids of `n` labels (any order, repeats allowed) at `timestamp` (NULL: now), as
 * CloudVolume's get_roots: 0 stays 0, ids already at the top layer map to themselves, the rest
 * are asked for in sorted batches of 250,000 (roots_binary). */
CV_EXPORT cv_status cv_graphene_roots(cv_volume *v, const uint64_t *ids, size_t n,
                                      const int64_t *timestamp, uint64_t *roots);
/* Supervoxels of `root` within `mip0_box` (mip-0 voxels), as get_leaves. *leaves: free with
 * cv_free. */
CV_EXPORT cv_status cv_graphene_leaves(cv_volume *v, uint64_t root, cv_bbox mip0_box,
                                       uint64_t **leaves, size_t *n);
/* The supervoxels of each L2 node in the chunk of the layer-2 id `l2_id` (its segid bits are
 * zeroed first) at `timestamp` (NULL: now), as CloudVolume's get_chunk_mappings (the server's
 * l2_chunk_children_binary): *pairs holds *n_pairs (l2, supervoxel) pairs, 2 * *n_pairs
 * values in the server's order; free with cv_free. CV_ERR_ARG for an id not of layer 2,
 * CV_ERR_UNSUPPORTED for a server without the v1 API. */
CV_EXPORT cv_status cv_graphene_chunk_mappings(cv_volume *v, uint64_t l2_id,
                                               const int64_t *timestamp, uint64_t **pairs,
                                               size_t *n_pairs);

typedef struct cv_graphene_read_opts {
    bool agglomerate;         /* supervoxels become root ids */
    const int64_t *timestamp; /* agglomerate at this time (NULL: now) */
    const uint64_t *root_ids; /* keep only these roots, everything else 0 (NULL: all) */
    size_t n_root_ids;
    const int *stop_layer; /* agglomerate up to this layer, 1..n_layers (NULL: to the roots) */
    bool preserve_zeros;   /* with root_ids: others become the dtype maximum, 0 stays 0 */
} cv_graphene_read_opts;

/* cv_graphene_read() :
 * cv_volume_read() of a graphene layer, then as CloudVolume's download(): with `agglomerate`
 * each supervoxel becomes its root at `timestamp`, or with `stop_layer` its lowest parent at or
 * above that layer (stop_layer 1: the supervoxels unchanged; ids already at stop_layer or the
 * top layer map to themselves); with root_ids and without agglomerate the leaves of each root
 * inside the box become that root (get_leaves, segids=), and with or without agglomerate every
 * voxel not of those roots becomes 0, or with `preserve_zeros` UINT64_MAX with 0 kept.
 * CV_ERR_ARG for a timestamp or stop_layer without agglomerate, a stop_layer outside
 * 1..n_layers, preserve_zeros without root_ids; CV_ERR_UNSUPPORTED for a stop_layer on a
 * server without the v1 API. */
CV_EXPORT cv_status cv_graphene_read(cv_volume *v, int mip, cv_bbox box,
                                     const cv_graphene_read_opts *o, void *dst, size_t dst_cap);

/* ---------------------------------------------------------------------------------------------
 * NumPy .npy files (format versions 1-3), the CLI's array exchange format. Arrays are
 * (X,Y,Z[,C]); cvmpi writes them in Fortran order, so the data is x fastest, channel slowest. */

typedef struct cv_npy {
    cv_dtype dtype;
    int ndim;         /* 3 or 4 */
    int64_t shape[4]; /* shape[3] = 1 for 3-D arrays */
    bool fortran_order;
    size_t data_offset; /* bytes before the data */
} cv_npy;

/* Parse the header at the start of a .npy file (n bytes available). `what` names the file. */
CV_EXPORT cv_status cv_npy_parse_header(const uint8_t *p, size_t n, const char *what, cv_npy *out);
/* Format a version 1.0 header for a Fortran-order (X,Y,Z,C) array; returns its length (a
 * multiple of 64), or 0 if cap is too small. */
CV_EXPORT size_t cv_npy_format_header(cv_dtype t, const int64_t shape[4], char *buf, size_t cap);
/* Copy the array's data into x-fastest, channel-slowest order (a no-op copy when the file is
 * already in Fortran order). `out` has shape[0]*..*shape[3]*dtype size bytes. */
CV_EXPORT void cv_npy_to_xyzc(const cv_npy *h, const uint8_t *data, uint8_t *out);

/* ---------------------------------------------------------------------------------------------
 * Sharded storage (neuroglancer_uint64_sharded_v1): a key/value store mapping uint64 keys to
 * byte strings packed into "<hex>.shard" files (volume chunks keyed by compressed Morton
 * code, meshes and skeletons keyed by segment id). Spec: Neuroglancer's
 * src/datasource/precomputed/sharded.md. Nothing here is collective. */

/* MurmurHash3_x86_128 of `len` bytes with `seed`; out = h1, h2, h3, h4. Thread-safe. */
CV_EXPORT void cv_murmurhash3_x86_128(const void *data, size_t len, uint32_t seed, uint32_t out[4]);
/* h1 | h2 << 32 of MurmurHash3_x86_128 over the 8 little-endian bytes of `key`: the sharded
 * format's hash with seed 0. Thread-safe. */
CV_EXPORT uint64_t cv_murmurhash3_u64(uint64_t key, uint32_t seed);

/* Compressed Morton codes (the chunk ids of sharded volumes). A grid of G cells on an axis
 * gets bit_length(G - 1) bits; bits interleave LSB first over x, y, z, skipping an axis once
 * its bits are used up. */
CV_EXPORT void cv_morton_bits(const int64_t grid_shape[3], int bits[3]);
/* Raw interleaving for given bits per axis (sum <= 64); cell bits above bits[d] are ignored. */
CV_EXPORT uint64_t cv_morton_encode(const int bits[3], const uint64_t cell[3]);
CV_EXPORT void cv_morton_decode(const int bits[3], uint64_t code, uint64_t cell[3]);
/* Code of grid cell `cell` (0-based, relative to voxel_offset) of a grid of `grid_shape`
 * chunks. CV_ERR_ARG for a cell outside the grid or a grid needing more than 64 bits. */
CV_EXPORT cv_status cv_morton_code(const int64_t grid_shape[3], const int64_t cell[3],
                                   uint64_t *code);
/* The inverse: CV_ERR_ARG if `code` names no cell of the grid. */
CV_EXPORT cv_status cv_morton_cell(const int64_t grid_shape[3], uint64_t code, int64_t cell[3]);

typedef enum cv_shard_hash {
    CV_SHARD_HASH_IDENTITY = 0,
    CV_SHARD_HASH_MURMURHASH3_X86_128
} cv_shard_hash;

typedef enum cv_shard_encoding { CV_SHARD_RAW = 0, CV_SHARD_GZIP } cv_shard_encoding;

/* The "sharding" JSON object. Readers accept preshift_bits 0..64, minishard_bits 0..32 (the
 * TensorStore limit; a 2^32-entry shard index is 64 GiB), shard_bits 0..64 - minishard_bits. */
typedef struct cv_shard_spec {
    int preshift_bits;
    cv_shard_hash hash;
    int minishard_bits;
    int shard_bits;
    cv_shard_encoding minishard_index_encoding;
    cv_shard_encoding data_encoding;
} cv_shard_spec;

/* Parse and validate a "sharding" object: "@type" must be "neuroglancer_uint64_sharded_v1";
 * "hash" is matched case-insensitively (as Neuroglancer does); absent encodings mean "raw";
 * unknown members are ignored. `what` names the object in errors ("scale 8_8_40 sharding").
 * CV_ERR_INFO naming the offending member on failure. */
CV_EXPORT cv_status cv_shard_spec_parse(const char *json, size_t len, const char *what,
                                        cv_shard_spec *out);
/* The range checks of cv_shard_spec_parse() on a filled-in struct; CV_ERR_INFO. */
CV_EXPORT cv_status cv_shard_spec_validate(const cv_shard_spec *s);
/* All seven members, keys sorted, as Python's json.dumps(sort_keys=True) spells them on one
 * line. *out is NUL-terminated; free with cv_free(). */
CV_EXPORT cv_status cv_shard_spec_to_json(const cv_shard_spec *s, char **out, size_t *len);
/* Shard and minishard of `key`: h = hash(key >> preshift_bits), minishard = the low
 * minishard_bits of h, shard = the next shard_bits. */
CV_EXPORT void cv_shard_locate(const cv_shard_spec *s, uint64_t key, uint64_t *shard,
                               uint64_t *minishard);
/* File name of shard number `shard`: lowercase hex zero-padded to ceil(shard_bits / 4) digits
 * plus ".shard" ("42.shard", "0.shard" for shard_bits 0). Returns snprintf's count. */
CV_EXPORT int cv_shard_file_name(const cv_shard_spec *s, uint64_t shard, char *buf, size_t cap);

/* For a volume scale with hash = identity: the boxes, in chunks, that one minishard and one
 * shard cover (Morton bits handed out one at a time in interleaving order). Sizes are powers
 * of two, not clipped to the grid (CloudVolume's image_shard_shape; clip at the volume edge
 * yourself); shard boxes are aligned to multiples of their size. CV_ERR_ARG for a murmurhash
 * spec, or when preshift+minishard+shard bits do not cover the grid's Morton bits (then one
 * shard file would hold several boxes). */
CV_EXPORT cv_status cv_shard_image_shape(const cv_shard_spec *s, const int64_t grid_shape[3],
                                         int64_t minishard_chunks[3], int64_t shard_chunks[3]);
/* CloudVolume's compute_shard_params_for_image(): chunks per shard from the target
 * uncompressed shard size `shard_bytes` (0: CloudVolume's 3.5e9), shard index <= 8192 bytes,
 * minishard index <= 40000 bytes, <= 4000 chunks per minishard; identity hash with preshift
 * so that a shard is a box of chunks (cv_shard_image_shape); gzip minishard indexes; gzip data
 * except raw for jpeg, png, kempressed, fpzip and zfpc. `dtype` alone sets the bytes per voxel,
 * as in CloudVolume (channels are not counted). CV_ERR_ARG where CloudVolume raises. */
CV_EXPORT cv_status cv_shard_params_for_image(const int64_t size[3], const int64_t chunk[3],
                                              const char *encoding, cv_dtype dtype,
                                              uint64_t shard_bytes, cv_shard_spec *out);
/* CloudVolume's compute_shard_params_for_hashed(num_labels, 8192, 32768, min_shards) for
 * segment-id keys: murmurhash3_x86_128, preshift 0, gzip minishard indexes and data (what
 * CloudVolume and igneous use for skeletons; multi-resolution meshes need data_encoding raw).
 * CV_ERR_ARG if min_shards is 0. */
CV_EXPORT cv_status cv_shard_params_for_hashed(uint64_t num_labels, uint64_t min_shards,
                                               cv_shard_spec *out);

/* One value to store under a key. `data` is borrowed for the call. */
typedef struct cv_shard_item {
    uint64_t key;
    const void *data;
    size_t len;
} cv_shard_item;

/* Where the minishard indexes go inside the data section. Both are valid for every reader. */
typedef enum cv_shard_layout {
    /* CloudVolume: all payloads (minishards in the order their first key appears in the item
     * list, keys ascending within one), then all minishard indexes in the same order. */
    CV_SHARD_LAYOUT_CLOUDVOLUME = 0,
    /* TensorStore: minishards ascending, each one's payloads then its index. */
    CV_SHARD_LAYOUT_TENSORSTORE
} cv_shard_layout;

/* cv_shard_build() :
 * Build one whole shard file in memory from `n` items that all map to the same shard
 * (CV_ERR_ARG naming the first key of another shard, or a key given twice). Payloads are
 * gzipped one by one when data_encoding is gzip, minishard indexes when
 * minishard_index_encoding is gzip; `level` is the gzip level (-1: 9, as CloudFiles). Absent
 * minishards get 0,0 in the shard index. *shard receives the shard number; *data (free with
 * cv_free) the file. CV_ERR_INFO when the shard index (16 << minishard_bits bytes) is above
 * 256 MiB (minishard_bits above 24). Thread-safe. */
CV_EXPORT cv_status cv_shard_build(const cv_shard_spec *s, const cv_shard_item *items, size_t n,
                                   cv_shard_layout layout, int level, uint64_t *shard,
                                   uint8_t **data, size_t *len);
/* cv_shard_write() :
 * Group `items` by shard and write every shard file with a single put under `prefix` (""
 * for the store root) of `s`, uncompressed at the transport level so byte ranges work. Each
 * file is replaced whole: items must be everything that belongs in those shards. Cached
 * indexes of the files written are dropped in this process. Thread-safe for distinct shards. */
CV_EXPORT cv_status cv_shard_write(cv_store *store, const char *prefix, const cv_shard_spec *s,
                                   const cv_shard_item *items, size_t n, cv_shard_layout layout,
                                   int level);
/* cv_shard_decode() :
 * Check a whole shard file held in memory (`what` names it in errors): the shard index,
 * every minishard index and every chunk range against `len`; then call fn for each entry,
 * minishards in increasing order, entries in index order, with its payload decoded by
 * data_encoding (at most `max_bytes`, 0 = 4 GiB). fn's data is valid during the call; a
 * non-OK return stops the walk and is returned. CV_ERR_CORRUPT naming `what` on bad bytes. */
CV_EXPORT cv_status cv_shard_decode(
    const cv_shard_spec *s, const uint8_t *file, size_t len, const char *what, size_t max_bytes,
    cv_status (*fn)(uint64_t key, const uint8_t *data, size_t n, void *arg), void *arg);

typedef struct cv_shard_reader cv_shard_reader;

/* cv_shard_reader_open() :
 * A reader of the sharded collection under `prefix` ("" for the store root; for a volume the
 * scale key) of `store`, with the "sharding" object `sharding_json`. Keeps a reference to
 * `store`, which must outlive the reader. */
CV_EXPORT cv_status cv_shard_reader_open(cv_store *store, const char *prefix,
                                         const char *sharding_json, cv_shard_reader **out);
CV_EXPORT void cv_shard_reader_close(cv_shard_reader *r);
CV_EXPORT const cv_shard_spec *cv_shard_reader_spec(const cv_shard_reader *r);
/* cv_shard_reader_get() :
 * The value of `key`, decoded by data_encoding (at most `max_bytes`, 0 = 4 GiB), read with
 * byte-range requests only: shard index entry, minishard index, payload. Shard index entries
 * and decoded minishard indexes are kept in a bounded process-wide cache (a shard file
 * rewritten by another process may be seen stale until cv_shard_cache_clear()).
 * CV_ERR_NOTFOUND (recorded quietly) if the key, its minishard or its shard file is absent;
 * CV_ERR_CORRUPT naming the shard file if an index or range is bad. *data: free with cv_free.
 * Thread-safe (one reader may serve many threads). */
CV_EXPORT cv_status cv_shard_reader_get(cv_shard_reader *r, uint64_t key, size_t max_bytes,
                                        uint8_t **data, size_t *len);
/* Empty the process-wide shard index cache. Thread-safe. */
CV_EXPORT void cv_shard_cache_clear(void);

/* ---------------------------------------------------------------------------------------------
 * Skeletons (Neuroglancer's precomputed skeletons: skeletons.md; CloudVolume/osteoid
 * conventions). A skeleton is vertices (float32 x,y,z), undirected edges (vertex index pairs)
 * and per-vertex attributes as the skeleton info declares them. Not collective; thread-safe
 * for distinct skeletons. */

#define CV_SKEL_ID_MAX 64 /* longest attribute id + 1 */
#define CV_SKEL_MAX_ATTRS 16

/* One vertex attribute: in a description `data` is NULL; in a skeleton it holds
 * n_vertices * components values of `dtype`, C order [vertex][component]. */
typedef struct cv_skel_attr {
    char id[CV_SKEL_ID_MAX];
    cv_dtype dtype; /* float32, uint8, int8, uint16, int16, uint32 or int32 */
    uint32_t components;
    uint8_t *data;
} cv_skel_attr;

typedef struct cv_skeleton {
    uint64_t id;
    uint32_t n_vertices;
    uint32_t n_edges;
    float *vertices; /* [n_vertices][3] */
    uint32_t *edges; /* [n_edges][2], each < n_vertices */
    int n_attrs;
    cv_skel_attr attrs[CV_SKEL_MAX_ATTRS];
    double transform[12]; /* stored-model -> nm, row-major 3x4 (from the info; identity) */
} cv_skeleton;

/* CloudVolume's default attributes: radius (float32, 1) and vertex_types (uint8, 1). */
CV_EXPORT int cv_skel_default_attrs(cv_skel_attr out[CV_SKEL_MAX_ATTRS]);
/* A skeleton with room for the given counts; vertices and edges zero, attributes (copied from
 * the descriptions `attrs`) zero except radius, which is -1 as CloudVolume fills it. */
CV_EXPORT cv_status cv_skeleton_new(uint32_t n_vertices, uint32_t n_edges,
                                    const cv_skel_attr *attrs, int n_attrs, cv_skeleton **out);
CV_EXPORT void cv_skeleton_free(cv_skeleton *s);
CV_EXPORT cv_status cv_skeleton_clone(const cv_skeleton *s, cv_skeleton **out);
/* The attribute named `id`, or NULL. */
CV_EXPORT cv_skel_attr *cv_skeleton_attr(cv_skeleton *s, const char *id);
/* Index of the attribute named `id`, or -1. */
CV_EXPORT int cv_skeleton_attr_index(const cv_skeleton *s, const char *id);
/* Decode the binary format (skeletons.md): counts, vertices, edges, then every attribute of
 * `attrs` in order. As CloudVolume: a file that ends right after the edges has no attributes;
 * with n_attrs == 0 and bytes left, the default pair is read. Every length is checked (no
 * trailing bytes), and every edge index against the vertex count. `what` names the file in
 * errors (CV_ERR_CORRUPT). */
CV_EXPORT cv_status cv_skeleton_decode(const uint8_t *data, size_t len, const cv_skel_attr *attrs,
                                       int n_attrs, const char *what, cv_skeleton **out);
/* Encode with the attributes `attrs` (the info's list) in that order; one the skeleton lacks
 * is written as radius -1 / zeros; one with another dtype or component count is CV_ERR_ARG.
 * *data: free with cv_free. */
CV_EXPORT cv_status cv_skeleton_encode(const cv_skeleton *s, const cv_skel_attr *attrs, int n_attrs,
                                       uint8_t **data, size_t *len);
/* Apply the 3x4 row-major affine `m` to every vertex (in double, stored as float32). */
CV_EXPORT void cv_skeleton_apply_transform(cv_skeleton *s, const double m[12]);
/* Sum of the edge lengths in the skeleton's own coordinates. */
CV_EXPORT double cv_skeleton_cable_length(const cv_skeleton *s);
/* osteoid's consolidate(): vertices deduplicated by position and sorted (x, then y, then z),
 * attributes from each position's first vertex, edges as sorted pairs, deduplicated, without
 * self loops, sorted; vertices no edge touches removed. */
CV_EXPORT cv_status cv_skeleton_consolidate(const cv_skeleton *s, cv_skeleton **out);
/* osteoid's merge: concatenate (edges renumbered) and consolidate. Every skeleton must have the
 * same attribute list (CV_ERR_ARG otherwise). The result takes the first one's id/transform. */
CV_EXPORT cv_status cv_skeleton_merge(const cv_skeleton *const *list, int n, cv_skeleton **out);
/* osteoid's crop(): keep vertices with min <= v <= max (every axis, edges of the box count as
 * inside) and the edges between them, then consolidate. */
CV_EXPORT cv_status cv_skeleton_crop(const cv_skeleton *s, const double min[3], const double max[3],
                                     cv_skeleton **out);
/* osteoid's downsample(): split into paths between critical points (ends and branch points),
 * keep every factor-th vertex of each path and its last one, consolidate. factor >= 1. Which
 * interior vertices survive depends on each path's direction, which follows a DFS from the
 * lowest-numbered end; osteoid's set-ordered DFS may walk some paths the other way. */
CV_EXPORT cv_status cv_skeleton_downsample(const cv_skeleton *s, int factor, cv_skeleton **out);
/* True if a and b are the same skeleton up to vertex and edge order: the same multiset of
 * vertex positions with the same attribute values, and the same edges between positions. */
CV_EXPORT bool cv_skeleton_equivalent(const cv_skeleton *a, const cv_skeleton *b);
/* Parse SWC as osteoid's from_swc: '#' and blank lines skipped, 7 fields separated by single
 * spaces, radius that does not parse is -1, edges (min(id,parent), max(id,parent)) for
 * parent >= 0, ids renumbered 0.. in file order. CV_ERR_CORRUPT naming `what` and the line on a
 * bad line or a parent that is not a node id. Attributes radius and vertex_types. */
CV_EXPORT cv_status cv_skeleton_from_swc(const char *text, size_t len, const char *what,
                                         cv_skeleton **out);
/* Write SWC as osteoid's to_swc: its header (SCALE = the transform's diagonal, VERSION_DATE now
 * in UTC), then for each connected component a DFS from its first edge's first vertex; rows
 * "n type x y z radius parent" with 6 decimals, numbered from 1. *text: free with cv_free. */
CV_EXPORT cv_status cv_skeleton_to_swc(const cv_skeleton *s, char **text, size_t *len);

/* A layer's skeleton directory: info.skeletons of the segmentation volume (default
 * "skeletons"), its info (transform, vertex_attributes, sharding, spatial_index). Keeps a
 * reference to the volume, which must outlive it. */
typedef struct cv_skeletons cv_skeletons;
/* Open the skeleton directory of `vol`. A missing skeleton info gives CloudVolume's default
 * info; with `create`, that info is written and the volume's "skeletons" member is set and
 * committed when absent. */
CV_EXPORT cv_status cv_skeletons_open(cv_volume *vol, bool create, cv_skeletons **out);
CV_EXPORT void cv_skeletons_close(cv_skeletons *k);
CV_EXPORT const char *cv_skeletons_dir(const cv_skeletons *k);
CV_EXPORT bool cv_skeletons_is_sharded(const cv_skeletons *k);
/* The info's attribute list; returns the count. */
CV_EXPORT int cv_skeletons_attrs(const cv_skeletons *k, const cv_skel_attr **attrs);
/* Set the info's "sharding" to `spec` (NULL: unsharded) and write the info. */
CV_EXPORT cv_status cv_skeletons_set_sharding(cv_skeletons *k, const cv_shard_spec *spec);
/* Get skeleton `id` in stored-model coordinates, its transform set from the info
 * (cv_skeleton_apply_transform(s, s->transform) gives nm, as CloudVolume's get()).
 * CV_ERR_NOTFOUND (quietly) if absent. Thread-safe. */
CV_EXPORT cv_status cv_skeletons_get(cv_skeletons *k, uint64_t id, cv_skeleton **out);
/* Unsharded: write each skeleton to "<dir>/<id>", gzip as CloudVolume. Sharded: the
 * skeletons must be every one of the shards they fall in; each shard file is written whole
 * once (CloudVolume layout). Encoded with the info's attributes. */
CV_EXPORT cv_status cv_skeletons_put(cv_skeletons *k, const cv_skeleton *const *list, size_t n);
/* Like cv_skeletons_put(), but a sharded layer keeps the other skeletons of the shards
 * written (each shard file is read, the new skeletons replace or join its entries, and it is
 * written whole once). */
CV_EXPORT cv_status cv_skeletons_update(cv_skeletons *k, const cv_skeleton *const *list, size_t n);
/* Every stored segment id, ascending (unsharded: names that are decimal ids; sharded: the keys
 * of every shard file). *ids: free with cv_free. */
CV_EXPORT cv_status cv_skeletons_list(cv_skeletons *k, uint64_t **ids, size_t *n);
/* Segment ids the spatial index lists in the physical box [min, max) (nm), ascending,
 * each once. CV_ERR_UNSUPPORTED if the info has no spatial_index; a missing index file is
 * CV_ERR_NOTFOUND naming it (CloudVolume's SpatialIndexGapError). */
CV_EXPORT cv_status cv_skeletons_query(cv_skeletons *k, const double min[3], const double max[3],
                                       uint64_t **ids, size_t *n);

/* ---------------------------------------------------------------------------------------------
 * Meshes (precomputed-mesh-skeleton §1-3): legacy fragments ("SEGID:0" manifests) and
 * multi-resolution Draco meshes, .ply/.obj files. Vertices are float32 nanometres. Not
 * collective; thread-safe for distinct meshes. */

typedef struct cv_mesh {
    uint64_t id;
    uint32_t n_vertices;
    uint32_t n_faces;
    float *vertices; /* [n_vertices][3] */
    uint32_t *faces; /* [n_faces][3] triangles, each index < n_vertices */
} cv_mesh;

/* A mesh with zeroed vertices and triangles. */
CV_EXPORT cv_status cv_mesh_new(uint32_t n_vertices, uint32_t n_faces, cv_mesh **out);
CV_EXPORT void cv_mesh_free(cv_mesh *m);
/* A legacy fragment: uint32 Nv, float32 [Nv][3], uint32 triangles to the end (a multiple of
 * 12 bytes), every index < Nv. CV_ERR_CORRUPT naming `what` otherwise. */
CV_EXPORT cv_status cv_mesh_fragment_decode(const uint8_t *data, size_t len, const char *what,
                                            cv_mesh **out);
/* The legacy fragment bytes of `m` (CloudVolume's to_precomputed). *data: free with cv_free. */
CV_EXPORT cv_status cv_mesh_fragment_encode(const cv_mesh *m, uint8_t **data, size_t *len);
/* Meshes one after another, indices shifted (CloudVolume's Mesh.concatenate); id of the first. */
CV_EXPORT cv_status cv_mesh_concat(const cv_mesh *const *list, size_t n, cv_mesh **out);
/* CloudVolume's consolidate(): identical vertices merged (so vertices shared by fragments
 * appear once), vertices sorted by x, then y, then z, triangles remapped, repeated triangles
 * dropped, triangles sorted. */
CV_EXPORT cv_status cv_mesh_consolidate(const cv_mesh *m, cv_mesh **out);
/* Binary little-endian PLY exactly as CloudVolume's to_ply(). *data: free with cv_free. */
CV_EXPORT cv_status cv_mesh_to_ply(const cv_mesh *m, uint8_t **data, size_t *len);
/* Wavefront OBJ as CloudVolume's to_obj(): "v %.5f %.5f %.5f" lines, then "f a b c" (1-based). */
CV_EXPORT cv_status cv_mesh_to_obj(const cv_mesh *m, char **text, size_t *len);
/* Read a PLY file (ascii or binary little/big endian): element vertex with x, y, z of any
 * scalar type, element face with a list of vertex indices (polygons split into fans); other
 * elements and properties are skipped. CV_ERR_CORRUPT naming `what` on bad input. */
CV_EXPORT cv_status cv_mesh_from_ply(const uint8_t *data, size_t len, const char *what,
                                     cv_mesh **out);
/* Read an OBJ file: "v x y z" and "f a b c ..." lines (a/t/n forms, negative indices relative,
 * polygons split into fans); other lines ignored. CV_ERR_CORRUPT naming `what` and the line. */
CV_EXPORT cv_status cv_mesh_from_obj(const char *text, size_t len, const char *what, cv_mesh **out);

/* Multi-resolution manifest (§3.2). */
typedef struct cv_multires_manifest {
    float chunk_shape[3];
    float grid_origin[3];
    uint32_t num_lods;
    float *lod_scales;             /* [num_lods] */
    float *vertex_offsets;         /* [num_lods][3] */
    uint32_t *num_fragments;       /* [num_lods] */
    uint32_t **fragment_positions; /* per lod: [3][n] (all x, then all y, then all z) */
    uint32_t **fragment_sizes;     /* per lod: [n] bytes of Draco data */
    uint64_t data_bytes;           /* sum of all fragment sizes */
} cv_multires_manifest;

/* Decode a manifest: length exactly 28 + 20 num_lods + 16 (total fragments). */
CV_EXPORT cv_status cv_multires_manifest_decode(const uint8_t *data, size_t len, const char *what,
                                                cv_multires_manifest **out);
CV_EXPORT void cv_multires_manifest_free(cv_multires_manifest *m);
/* True if this build decodes Draco (libdraco). */
CV_EXPORT bool cv_draco_available(void);
/* Decode one Draco mesh into integer positions (the POSITION attribute's stored values, as
 * Neuroglancer reads them) and triangles. *positions holds 3 n_vertices uint32 values.
 * CV_ERR_UNSUPPORTED in a build without libdraco. */
CV_EXPORT cv_status cv_draco_decode(const uint8_t *data, size_t len, const char *what,
                                    uint32_t **positions, uint32_t *n_vertices, uint32_t **faces,
                                    uint32_t *n_faces);

/* A layer's mesh directory: info.mesh of the volume (default "mesh") and its info. */
typedef struct cv_meshes cv_meshes;
/* Open the mesh directory of `vol` (a missing info means legacy). With `create`, a missing info
 * becomes CloudVolume's default legacy info and the volume's "mesh" member is set. Keeps a
 * reference to the volume. */
CV_EXPORT cv_status cv_meshes_open(cv_volume *vol, bool create, cv_meshes **out);
CV_EXPORT void cv_meshes_close(cv_meshes *k);
CV_EXPORT const char *cv_meshes_dir(const cv_meshes *k);
CV_EXPORT bool cv_meshes_is_multires(const cv_meshes *k);
CV_EXPORT bool cv_meshes_is_sharded(const cv_meshes *k);
/* Mesh of `id`: legacy, its manifest's fragments concatenated in order (a fragment the
 * manifest names but storage lacks is CV_ERR_NOTFOUND naming both); multi-resolution, the
 * fragments of level `lod` decoded and placed (§3.3, then the info's transform). No manifest:
 * CV_ERR_NOTFOUND (quietly). Thread-safe. */
CV_EXPORT cv_status cv_meshes_get(cv_meshes *k, uint64_t id, int lod, cv_mesh **out);
/* Number of levels of detail stored for `id` (1 for legacy meshes). */
CV_EXPORT cv_status cv_meshes_lods(cv_meshes *k, uint64_t id, int *n);
/* Legacy: write `m` as CloudVolume's mesh.put: fragment "<id>:0:1" (gzip) and manifest
 * "<id>:0" = {"fragments": ["<id>:0:1"]}, after deleting the fragments of an older manifest.
 * CV_ERR_UNSUPPORTED for multi-resolution directories. */
CV_EXPORT cv_status cv_meshes_put(cv_meshes *k, uint64_t id, const cv_mesh *m);
/* The mesh of `id` of a graphene layer as CloudVolume's graphene mesh source: the server's
 * manifest (start layer = the id's layer, at most max_meshed_layer), then each fragment from
 * the mesh directory under data_dir: unsharded, named files (Draco or legacy) in name order;
 * sharded ("initial" shard byte ranges and dynamic files), Draco; concatenated, nm.
 * CV_ERR_NOTFOUND when the manifest lists no fragment. */
CV_EXPORT cv_status cv_graphene_mesh_get(cv_volume *v, uint64_t id, cv_mesh **out);
/* Segment ids with a mesh, ascending. *ids: free with cv_free. */
CV_EXPORT cv_status cv_meshes_list(cv_meshes *k, uint64_t **ids, size_t *n);
/* Segment ids CloudVolume's spatial index lists in the physical box [min, max) (nm), as
 * cv_skeletons_query(). CV_ERR_UNSUPPORTED if the mesh info has no spatial_index. */
CV_EXPORT cv_status cv_meshes_query(cv_meshes *k, const double min[3], const double max[3],
                                    uint64_t **ids, size_t *n);

/* ---------------------------------------------------------------------------------------------
 * Downsampling (cloudvolume-conventions §7.4: igneous DownsampleTask, tinybrain kernels).
 * Arrays are x fastest, then y, z, channel slowest. A level of shape n gets ceil(n/f) voxels
 * per axis; the block of output voxel o is source [o*f, min(o*f+f, n)).
 *  AVERAGE  factor (2,2,1)/(2,2,2), not sparse, uint8/int8/uint16/int16/float32/float64: the
 *           odd edge is replicated so 4 (8) values are summed (integers in a wider integer,
 *           divided by a right shift truncating toward zero; floats summed in their own type in
 *           block order x,y,z then multiplied by 0.25/0.125). Otherwise (other dtypes/factors,
 *           or sparse): a float32 accumulator (float64 for float64) summing the block's voxels
 *           in block order (sparse: nonzero ones only), divided by their count (0 if none) and
 *           converted back truncating toward zero, clamped to the dtype's range.
 *  MODE     not sparse: factors that are powers of two run in 2x steps, a (2,2,1) step by the
 *           countless rule (a==b: a; a==c: a; b==c: b; else d), a (2,2,2) step by the 8-value
 *           rule, other steps (e.g. (1,2,2)) by the generic rule; other factors stride. Sparse:
 *           one step by the generic rule over the nonzero voxels (0 if none). Generic rule: the
 *           most frequent value of the block, ties to the first in block order.
 *  MIN/MAX  over the block (sparse: over its nonzero voxels; 0 if none).
 *  STRIDING the first voxel of the block (sparse ignored).
 * A factor of 1,1,1 copies. */

typedef enum cv_downsample_method {
    CV_DS_AVERAGE = 0,
    CV_DS_MODE,
    CV_DS_MIN,
    CV_DS_MAX,
    CV_DS_STRIDING
} cv_downsample_method;

/* "average", "mode", "min", "max", "striding" -> method; -1 if unknown. */
CV_EXPORT int cv_downsample_method_from_name(const char *name);
/* ceil(src_shape / factor) per axis. */
CV_EXPORT void cv_downsample_shape(const int64_t src_shape[3], const int64_t factor[3],
                                   int64_t dst_shape[3]);
/* One level: `dst` must hold channels * prod(ceil(src_shape/factor)) elements; dst_shape
 * receives that shape. CV_ERR_ARG for a bad dtype, channel count, shape or factor. */
CV_EXPORT cv_status cv_downsample(cv_dtype t, int64_t channels, const void *src,
                                  const int64_t src_shape[3], const int64_t factor[3],
                                  cv_downsample_method method, bool sparse, void *dst,
                                  int64_t dst_shape[3]);
/* `n_levels` levels from one input, as one tinybrain call with num_mips = n_levels makes them
 * (cloudvolume-conventions §7.4): 2x2x1 and 2x2x2 averages of 8/16-bit integers carry the
 * untruncated sums from level to level (truncating every 4 levels for 2x2x1, 8 for 2x2x2 8-bit,
 * 5 for 2x2x2 16-bit); 8/16-bit averages with other factors carry float32 levels (tinybrain's
 * numpy path: only each level's output is truncated); every other method, dtype, factor and
 * sparse 2x2x1/2x2x2 averaging is recursive, level k+1 = cv_downsample(level k). dst[k] holds
 * level k+1 (sized with cv_downsample_shape applied k+1 times); dst_shapes[k] gets its shape. */
CV_EXPORT cv_status cv_downsample_pyramid(cv_dtype t, int64_t channels, const void *src,
                                          const int64_t src_shape[3], const int64_t factor[3],
                                          cv_downsample_method method, bool sparse, int n_levels,
                                          void *const dst[], int64_t (*dst_shapes)[3]);

/* Continuing a pyramid in pieces (an MPI reduction tree): the state of a pyramid at `level` is
 * what the next level is computed from. It is the level's voxels, except where averages are
 * carried untruncated across levels (see cv_downsample_levels); then it is one 32-bit value per
 * voxel and channel (a uint32/int32 sum, or a float32 level; host byte order). Bytes of state
 * per voxel and channel: */
CV_EXPORT size_t cv_downsample_state_size(cv_dtype t, cv_downsample_method method, bool sparse,
                                          const int64_t factor[3], int level);
/* Levels first_level+1 .. first_level+n_levels from the state of level `first_level` (for
 * level 0, the voxels themselves), so that a pyramid made in pieces equals one made at once.
 * dst[k] gets level first_level+k+1 and dst_shapes[k] its shape; `state_out` (or NULL) gets the
 * state of the last level, cv_downsample_state_size() bytes per voxel and channel. Not
 * collective; thread-safe. */
CV_EXPORT cv_status cv_downsample_levels(cv_dtype t, int64_t channels, const void *state,
                                         const int64_t shape[3], const int64_t factor[3],
                                         cv_downsample_method method, bool sparse, int first_level,
                                         int n_levels, void *const dst[], int64_t (*dst_shapes)[3],
                                         void *state_out);

/* ---------------------------------------------------------------------------------------------
 * Memory */

CV_EXPORT void *cv_malloc(size_t n);
CV_EXPORT void *cv_calloc(size_t n, size_t size);
CV_EXPORT void *cv_realloc(void *p, size_t n);
CV_EXPORT void cv_free(void *p);

/* Library version and built-in features, e.g. "0.1.0 (file mem gzip br raw)". */
CV_EXPORT const char *cv_version(void);

#ifdef __cplusplus
}
#endif
#endif /* CVMPI_H */
