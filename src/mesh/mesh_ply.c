/* SPDX-License-Identifier: BSD-3-Clause
 * mesh_ply.c: PLY files. Writes CloudVolume's to_ply() bytes (binary little endian, float
 * x y z, "list int int" triangles); reads ascii and binary PLY: vertex x/y/z of any scalar
 * type, face vertex index lists (polygons as fans), other elements and properties skipped.
 * Every count is checked against the bytes present before anything is allocated. No MPI. */
#include "base/cv_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cv_status cv_mesh_to_ply(const cv_mesh *m, uint8_t **data, size_t *len)
{
    char header[256];
    int hn =
        snprintf(header, sizeof header,
                 "ply\nformat binary_little_endian 1.0\nelement vertex %" PRIu32
                 "\nproperty float x\nproperty float y\nproperty float z\nelement face %" PRIu32
                 "\nproperty list int int vertex_indices\nend_header\n",
                 m->n_vertices, m->n_faces);
    size_t n = (size_t)hn + 12 * (size_t)m->n_vertices + 16 * (size_t)m->n_faces;
    uint8_t *buf = cv_malloc(n);
    if (!buf) {
        return CV_FAIL(CV_ERR_NOMEM, "PLY of mesh %" PRIu64 ": %zu bytes", m->id, n);
    }
    memcpy(buf, header, (size_t)hn);
    uint8_t *p = buf + hn;
    memcpy(p, m->vertices, 12 * (size_t)m->n_vertices);
    p += 12 * (size_t)m->n_vertices;
    const int32_t three = 3;
    for (size_t f = 0; f < m->n_faces; f++) {
        memcpy(p, &three, 4);
        memcpy(p + 4, m->faces + 3 * f, 12);
        p += 16;
    }
    *data = buf;
    *len = n;
    return CV_OK;
}

/* ---- reading --------------------------------------------------------------------------------- */

typedef enum ply_format { PLY_ASCII, PLY_LE, PLY_BE } ply_format;

typedef enum ply_type { T_NONE, T_I8, T_U8, T_I16, T_U16, T_I32, T_U32, T_F32, T_F64 } ply_type;

static ply_type type_from_name(const char *s)
{
    static const struct {
        const char *name;
        ply_type t;
    } names[] = {{"char", T_I8},   {"int8", T_I8},     {"uchar", T_U8},   {"uint8", T_U8},
                 {"short", T_I16}, {"int16", T_I16},   {"ushort", T_U16}, {"uint16", T_U16},
                 {"int", T_I32},   {"int32", T_I32},   {"uint", T_U32},   {"uint32", T_U32},
                 {"float", T_F32}, {"float32", T_F32}, {"double", T_F64}, {"float64", T_F64}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (strcmp(s, names[i].name) == 0) {
            return names[i].t;
        }
    }
    return T_NONE;
}

static size_t type_size(ply_type t)
{
    static const size_t sizes[] = {0, 1, 1, 2, 2, 4, 4, 4, 8};
    return sizes[t];
}

#define PLY_MAX_PROPS 32
#define PLY_MAX_ELEMENTS 16

typedef struct ply_prop {
    char name[64];
    ply_type type;
    ply_type count_type; /* T_NONE unless a list */
} ply_prop;

typedef struct ply_element {
    char name[64];
    uint64_t count;
    ply_prop props[PLY_MAX_PROPS];
    int n_props;
} ply_element;

typedef struct reader {
    const uint8_t *p, *end;
    ply_format fmt;
    const char *what;
} reader;

/* One binary scalar as a double; false at the end of the data. */
static bool read_bin(reader *r, ply_type t, double *out)
{
    size_t n = type_size(t);
    if ((size_t)(r->end - r->p) < n) {
        return false;
    }
    uint8_t b[8];
    for (size_t i = 0; i < n; i++) {
        b[i] = r->fmt == PLY_LE ? r->p[i] : r->p[n - 1 - i];
    }
    r->p += n;
    switch (t) {
    case T_I8:
        *out = (int8_t)b[0];
        return true;
    case T_U8:
        *out = b[0];
        return true;
    case T_I16: {
        int16_t v;
        memcpy(&v, b, 2);
        *out = v;
        return true;
    }
    case T_U16: {
        uint16_t v;
        memcpy(&v, b, 2);
        *out = v;
        return true;
    }
    case T_I32: {
        int32_t v;
        memcpy(&v, b, 4);
        *out = v;
        return true;
    }
    case T_U32: {
        uint32_t v;
        memcpy(&v, b, 4);
        *out = v;
        return true;
    }
    case T_F32: {
        float v;
        memcpy(&v, b, 4);
        *out = v;
        return true;
    }
    case T_F64: {
        double v;
        memcpy(&v, b, 8);
        *out = v;
        return true;
    }
    default:
        return false;
    }
}

/* One ascii token as a double; false at the end of the data or on a malformed number. */
static bool read_ascii(reader *r, double *out)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) {
        r->p++;
    }
    char tok[64];
    size_t n = 0;
    while (r->p < r->end && !(*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) {
        if (n + 1 >= sizeof tok) {
            return false;
        }
        tok[n++] = (char)*r->p++;
    }
    if (n == 0) {
        return false;
    }
    tok[n] = '\0';
    char *e;
    *out = strtod(tok, &e);
    return *e == '\0';
}

static bool read_value(reader *r, ply_type t, double *out)
{
    return r->fmt == PLY_ASCII ? read_ascii(r, out) : read_bin(r, t, out);
}

/* Parse the header into elements; *body is where the data starts. */
static cv_status parse_header(const uint8_t *data, size_t len, const char *what, ply_format *fmt,
                              ply_element *el, int *n_el, size_t *body)
{
    const char *text = (const char *)data;
    if (len < 4 || memcmp(text, "ply", 3) != 0 || (text[3] != '\n' && text[3] != '\r')) {
        return CV_FAIL(CV_ERR_CORRUPT, "PLY %s: does not start with \"ply\"", what);
    }
    bool has_format = false;
    *n_el = 0;
    size_t pos = 0;
    for (int line_no = 1;; line_no++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (!nl || (size_t)(nl - text) - pos >= 256) {
            return CV_FAIL(CV_ERR_CORRUPT, "PLY %s: header has no end_header line", what);
        }
        char line[256];
        size_t ll = (size_t)(nl - text) - pos;
        memcpy(line, text + pos, ll);
        line[ll] = '\0';
        if (ll && line[ll - 1] == '\r') {
            line[ll - 1] = '\0';
        }
        pos += ll + 1;
        char w[4][64] = {{0}};
        int nw = sscanf(line, "%63s %63s %63s %63s", w[0], w[1], w[2], w[3]);
        if (nw <= 0 || line_no == 1 || strcmp(w[0], "comment") == 0 ||
            strcmp(w[0], "obj_info") == 0) {
            continue;
        }
        if (strcmp(w[0], "end_header") == 0) {
            break;
        }
        if (strcmp(w[0], "format") == 0 && nw >= 3) {
            has_format = true;
            if (strcmp(w[1], "ascii") == 0) {
                *fmt = PLY_ASCII;
            } else if (strcmp(w[1], "binary_little_endian") == 0) {
                *fmt = PLY_LE;
            } else if (strcmp(w[1], "binary_big_endian") == 0) {
                *fmt = PLY_BE;
            } else {
                return CV_FAIL(CV_ERR_CORRUPT, "PLY %s line %d: unknown format \"%s\"", what,
                               line_no, w[1]);
            }
        } else if (strcmp(w[0], "element") == 0 && nw == 3) {
            if (*n_el == PLY_MAX_ELEMENTS) {
                return CV_FAIL(CV_ERR_CORRUPT, "PLY %s: more than %d elements", what,
                               PLY_MAX_ELEMENTS);
            }
            ply_element *e = &el[(*n_el)++];
            memset(e, 0, sizeof *e);
            snprintf(e->name, sizeof e->name, "%s", w[1]);
            char *end;
            unsigned long long c = strtoull(w[2], &end, 10);
            if (*end || w[2][0] == '-') {
                return CV_FAIL(CV_ERR_CORRUPT, "PLY %s line %d: bad element count", what, line_no);
            }
            e->count = c;
        } else if (strcmp(w[0], "property") == 0 && *n_el > 0) {
            ply_element *e = &el[*n_el - 1];
            if (e->n_props == PLY_MAX_PROPS) {
                return CV_FAIL(CV_ERR_CORRUPT, "PLY %s: more than %d properties in \"%s\"", what,
                               PLY_MAX_PROPS, e->name);
            }
            ply_prop *pr = &e->props[e->n_props++];
            memset(pr, 0, sizeof *pr);
            if (strcmp(w[1], "list") == 0 && nw == 4) {
                /* "property list COUNT INDEX name": sscanf took 4 words; the name is the 5th. */
                char name[64] = "";
                if (sscanf(line, "%*s %*s %*s %*s %63s", name) != 1) {
                    return CV_FAIL(CV_ERR_CORRUPT, "PLY %s line %d: bad list property", what,
                                   line_no);
                }
                pr->count_type = type_from_name(w[2]);
                pr->type = type_from_name(w[3]);
                snprintf(pr->name, sizeof pr->name, "%s", name);
                if (pr->count_type == T_NONE || pr->type == T_NONE || pr->count_type == T_F32 ||
                    pr->count_type == T_F64) {
                    return CV_FAIL(CV_ERR_CORRUPT, "PLY %s line %d: bad list types", what, line_no);
                }
            } else if (nw == 3) {
                pr->type = type_from_name(w[1]);
                snprintf(pr->name, sizeof pr->name, "%s", w[2]);
                if (pr->type == T_NONE) {
                    return CV_FAIL(CV_ERR_CORRUPT, "PLY %s line %d: unknown type \"%s\"", what,
                                   line_no, w[1]);
                }
            } else {
                return CV_FAIL(CV_ERR_CORRUPT, "PLY %s line %d: bad property line", what, line_no);
            }
        } else {
            return CV_FAIL(CV_ERR_CORRUPT, "PLY %s line %d: unexpected header line", what, line_no);
        }
    }
    if (!has_format) {
        return CV_FAIL(CV_ERR_CORRUPT, "PLY %s: no format line", what);
    }
    *body = pos;
    return CV_OK;
}

cv_status cv_mesh_from_ply(const uint8_t *data, size_t len, const char *what, cv_mesh **out)
{
    ply_format fmt = PLY_ASCII;
    ply_element el[PLY_MAX_ELEMENTS];
    int n_el = 0;
    size_t body = 0;
    CV_TRY(parse_header(data, len, what, &fmt, el, &n_el, &body));
    reader r = {data + body, data + len, fmt, what};
    /* Every record takes at least one byte, so counts above the remaining bytes are bad. */
    uint64_t nv = 0, nf_polys = 0;
    for (int i = 0; i < n_el; i++) {
        if (el[i].count > len - body) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           "PLY %s: element \"%s\" has %" PRIu64 " records but %zu bytes follow",
                           what, el[i].name, el[i].count, len - body);
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(el[i].name, el[j].name) == 0) {
                return CV_FAIL(CV_ERR_CORRUPT, "PLY %s: element \"%s\" declared twice", what,
                               el[i].name);
            }
        }
        if (strcmp(el[i].name, "vertex") == 0) {
            nv = el[i].count;
        } else if (strcmp(el[i].name, "face") == 0) {
            nf_polys = el[i].count;
        }
    }
    if (nv > UINT32_MAX) {
        return CV_FAIL(CV_ERR_CORRUPT, "PLY %s: too many vertices", what);
    }
    cv_mesh *m;
    CV_TRY(cv_mesh_new((uint32_t)nv, 0, &m));
    size_t face_cap = 0, nf = 0;
    cv_status rc = CV_OK;
    for (int i = 0; i < n_el && rc == CV_OK; i++) {
        ply_element *e = &el[i];
        bool is_vertex = strcmp(e->name, "vertex") == 0, is_face = strcmp(e->name, "face") == 0;
        int axis[PLY_MAX_PROPS];
        for (int k = 0; k < e->n_props; k++) {
            axis[k] = -1;
            if (is_vertex && e->props[k].count_type == T_NONE && e->props[k].name[1] == '\0' &&
                e->props[k].name[0] >= 'x' && e->props[k].name[0] <= 'z') {
                axis[k] = e->props[k].name[0] - 'x';
            }
        }
        for (uint64_t rec = 0; rec < e->count && rc == CV_OK; rec++) {
            for (int k = 0; k < e->n_props && rc == CV_OK; k++) {
                const ply_prop *pr = &e->props[k];
                double v;
                if (pr->count_type == T_NONE) {
                    if (!read_value(&r, pr->type, &v)) {
                        rc = CV_FAIL(CV_ERR_CORRUPT,
                                     "PLY %s: %s %" PRIu64 " is truncated or malformed", what,
                                     e->name, rec);
                    } else if (axis[k] >= 0) {
                        m->vertices[3 * rec + (uint64_t)axis[k]] = (float)v;
                    }
                    continue;
                }
                double cnt;
                if (!read_value(&r, pr->count_type, &cnt) || cnt < 0 || cnt != floor(cnt) ||
                    cnt > 1e6) {
                    rc = CV_FAIL(CV_ERR_CORRUPT, "PLY %s: %s %" PRIu64 ": bad list length", what,
                                 e->name, rec);
                    break;
                }
                bool want = is_face && (strcmp(pr->name, "vertex_indices") == 0 ||
                                        strcmp(pr->name, "vertex_index") == 0);
                uint32_t first = 0, prev = 0;
                for (uint32_t j = 0; j < (uint32_t)cnt && rc == CV_OK; j++) {
                    if (!read_value(&r, pr->type, &v)) {
                        rc = CV_FAIL(CV_ERR_CORRUPT, "PLY %s: %s %" PRIu64 " is truncated", what,
                                     e->name, rec);
                        break;
                    }
                    if (!want) {
                        continue;
                    }
                    if (v < 0 || v >= (double)nv || v != floor(v)) {
                        rc = CV_FAIL(CV_ERR_CORRUPT,
                                     "PLY %s: face %" PRIu64 " names vertex %.0f of %" PRIu64, what,
                                     rec, v, nv);
                        break;
                    }
                    uint32_t idx = (uint32_t)v;
                    if (j == 0) {
                        first = idx;
                    } else if (j >= 2) {
                        if (nf == face_cap) {
                            size_t cap = face_cap ? 2 * face_cap : 1024;
                            uint32_t *grown =
                                cap < UINT32_MAX ? cv_realloc(m->faces, 12 * cap) : NULL;
                            if (!grown) {
                                rc = CV_FAIL(CV_ERR_NOMEM, "PLY %s: %zu triangles", what, nf);
                                break;
                            }
                            m->faces = grown;
                            face_cap = cap;
                        }
                        m->faces[3 * nf] = first;
                        m->faces[3 * nf + 1] = prev;
                        m->faces[3 * nf + 2] = idx;
                        nf++;
                    }
                    prev = idx;
                }
            }
        }
    }
    (void)nf_polys;
    if (rc != CV_OK) {
        cv_mesh_free(m);
        return rc;
    }
    m->n_faces = (uint32_t)nf;
    *out = m;
    return CV_OK;
}
