/* SPDX-License-Identifier: BSD-3-Clause
 * json_py.h: cJSON helpers shared by info.c and provenance.c: strict integer reads and a
 * writer that reproduces Python's json.dumps(sort_keys=True, indent=2) byte for byte. */
#ifndef CV_JSON_PY_H
#define CV_JSON_PY_H

#include "base/cv_internal.h"

#include <cjson/cJSON.h>

/* Type flag that cv__json_parse() sets on numbers written as floats ("8.0", "1e3"): they are
 * written back as floats, as Python keeps int and float apart. */
#define CV_JSON_FLOAT (1 << 12)

/* Serialize `v` like Python's json.dumps(v, sort_keys=True, indent=2, separators=(',', ': ')).
 * Numbers with an integral value print as integers unless flagged CV_JSON_FLOAT; cJSON_Raw
 * items print verbatim (used for floats that must keep their ".0"). *out is NUL-terminated,
 * free with cv_free(). */
cv_status cv__json_dump_py(const cJSON *v, char **out, size_t *len);
/* Python's plain json.dumps(v): members in document order, separators ", " and ": " (how
 * CloudVolume writes mesh and skeleton infos). */
cv_status cv__json_dump_py_compact(const cJSON *v, char **out, size_t *len);
/* A JSON number that is an exact integer with |v| <= 2^53. */
bool cv__json_is_int(const cJSON *v);
/* Set CV_JSON_FLOAT on the numbers of `root` that `text` (what it was parsed from) writes as
 * floats. cv__json_parse() does this itself. */
void cv__json_mark_floats(cJSON *root, const char *text, size_t len);
/* Parse text; CV_ERR_CORRUPT naming `what` and the byte offset on a syntax error. */
cv_status cv__json_parse(const char *text, size_t len, const char *what, cJSON **out);

#endif
