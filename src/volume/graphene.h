/* SPDX-License-Identifier: BSD-3-Clause
 * graphene.h: graphene:// layers (ChunkedGraph servers, graphene-boss-zfpc spec §1): the
 * server URL, the graph fields of its info, the requests CloudVolume sends (roots, leaves, L2
 * chunk children, the mesh manifest) and the parsers of their answers. volume/graphene.c holds
 * the server side and agglomerated reads; mesh/mesh_graphene.c fetches meshes through the
 * manifest. The parsers need no network and are fuzzed (fuzz_graphene). No MPI here. */
#ifndef CV_GRAPHENE_H
#define CV_GRAPHENE_H

#include "base/cv_internal.h"

/* CloudVolume's API version order: index 0 is "1.0" (legacy), 1 is "v1". */
enum { CV_GRAPHENE_API_LEGACY = 0, CV_GRAPHENE_API_V1 = 1 };

/* A graphene:// URL after `graphene://` and `middleauth+` are dropped (spec §1.1). */
typedef struct cv_graphene_url {
    char base[300];    /* "{scheme}://{fqdn}", the fqdn with its :port */
    char fqdn[256];    /* host[:port], the name of the {fqdn}-cave-secret.json file */
    char modality[64]; /* "segmentation" */
    char version[16];  /* "table", "v1" or "1.0" as the URL says */
    char dataset[128];
} cv_graphene_url;

/* The graph fields of the server's info (spec §1.3), with CloudVolume's defaults. */
typedef struct cv_graphene_meta {
    char *data_dir;           /* the watershed layer's cloud path */
    char *mesh_dir;           /* info.mesh, default "mesh" */
    char *unsharded_mesh_dir; /* mesh_metadata.unsharded_mesh_dir, default "dynamic" */
    int n_layers;
    int n_bits_for_layer_id; /* default 8 */
    int max_meshed_layer;    /* default n_layers */
    unsigned api_versions;   /* bit i set: app.supported_api_versions lists i */
    int l2_spatial_bits;     /* graph.spatial_bit_masks["2"]; -1 when absent or not 0..(64-nL)/3 */
} cv_graphene_meta;

typedef struct cv_graphene cv_graphene;
struct cv_graphene {
    cv_graphene_url url;
    cv_graphene_meta meta;
    int api;           /* the version the URL resolves to: CV_GRAPHENE_API_* */
    char *auth_header; /* "Authorization: Bearer ..." (never printed) */
};

/* Parse the URL `text` ("graphene://[middleauth+]http(s)://host[:port]/MOD/table/NAME", the
 * api/v1 and 1.0 forms too). CV_ERR_ARG naming the URL if it is none of them. */
cv_status cv__graphene_parse_url(const char *text, cv_graphene_url *out);
/* The graph fields of the info JSON `text` (named `what` in errors). CV_ERR_INFO naming the
 * member at fault. Free with cv__graphene_meta_fini. */
cv_status cv__graphene_parse_meta(const char *text, size_t len, const char *what,
                                  cv_graphene_meta *out);
void cv__graphene_meta_fini(cv_graphene_meta *m);
/* The layer of a label: its top n_bits_for_layer_id bits. */
int cv__graphene_layer(const cv_graphene_meta *m, uint64_t label);

/* A roots_binary answer: exactly n little-endian uint64 values, else CV_ERR_CORRUPT naming
 * `what` and both lengths. */
cv_status cv__graphene_parse_roots(const uint8_t *data, size_t len, size_t n, const char *what,
                                   uint64_t *roots);
/* An l2_chunk_children_binary answer: (l2, supervoxel) uint64 pairs, so a multiple of 16
 * bytes, else CV_ERR_CORRUPT naming `what` and the length. *pairs: 2 * *n values (free with
 * cv_free; never NULL on success). */
cv_status cv__graphene_parse_pairs(const uint8_t *data, size_t len, const char *what,
                                   uint64_t **pairs, size_t *n);
/* The uint64 array member `name` of a JSON object ({"leaf_ids": [...]}), numbers parsed
 * exactly (they exceed 2^53). A missing member gives none when `optional`, else CV_ERR_CORRUPT.
 * *ids: free with cv_free. */
cv_status cv__graphene_parse_ids(const char *text, size_t len, const char *name, bool optional,
                                 const char *what, uint64_t **ids, size_t *n);
/* A mesh manifest {"fragments": [names], "seg_ids": [ids]} (seg_ids optional, else as many
 * as fragments). *names: n strings (free each and the array with cv_free); *seg_ids may be
 * NULL when absent. */
cv_status cv__graphene_parse_manifest(const char *text, size_t len, const char *what, char ***names,
                                      uint64_t **seg_ids, size_t *n);
/* An initial (sharded) fragment name "~{layer}/{shard}:{offset}:{size}": the object
 * "{layer}/{shard}" (cap bytes) and the byte range. False for any other name. */
bool cv__graphene_initial_fragment(const char *name, char *object, size_t cap, uint64_t *offset,
                                   uint64_t *size);

/* One request to the graphene server at url (complete, percent-encoded), with the Bearer token:
 * `method` GET or POST, `body` sent as is (NULL: none), extra header lines (may be NULL).
 * The 2xx answer is decoded (gzip) into out (out->max caps it). Any other status is
 * CV_ERR_IO naming the method, the URL (never the token) and the status. (graphene.c; without
 * libcurl CV_ERR_UNSUPPORTED) */
cv_status cv__graphene_request(const cv_graphene *g, const char *method, const char *url,
                               const void *body, size_t body_len, const char *const *headers,
                               cv_buf *out);

#endif
