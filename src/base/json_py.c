/* SPDX-License-Identifier: BSD-3-Clause
 * json_py.c: JSON text the way CloudVolume writes it (json.dumps with sort_keys=True,
 * indent=2, separators=(',', ': '), ensure_ascii=True), so info and provenance files are
 * byte-identical to CloudVolume's. */
#include "base/json_py.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cv__json_is_int(const cJSON *v)
{
    if (!cJSON_IsNumber(v)) {
        return false;
    }
    double d = v->valuedouble;
    return isfinite(d) && d == floor(d) && fabs(d) <= 9007199254740992.0;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, at
 * most U+10FFFF), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    if (c < 0x80) {
        return 1;
    }
    size_t n = c >= 0xC2 && c <= 0xDF   ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
    if (n == 0 || n > avail) {
        return 0;
    }
    /* The second byte's range is narrower after E0, ED, F0 and F4. */
    unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
    unsigned char hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    if (p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return n;
}

/* Skip to the next number token outside strings and past it; true if it is written as a
 * float ("8.0", "1e3"). */
static bool next_number_is_float(const char **pos, const char *end)
{
    const char *p = *pos;
    while (p < end && *p != '-' && !(*p >= '0' && *p <= '9')) {
        if (*p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                p += *p == '\\' ? 1 : 0;
            }
        }
        p++;
    }
    bool is_float = false;
    for (; p < end && *p && strchr("+-0123456789.eE", *p); p++) {
        is_float = is_float || *p == '.' || *p == 'e' || *p == 'E';
    }
    *pos = p;
    return is_float;
}

/* Flag the numbers written as floats with CV_JSON_FLOAT. cJSON keeps members in document
 * order, so the numbers of a pre-order walk meet the number tokens of the text in order. */
static void mark_floats(cJSON *v, const char **pos, const char *end)
{
    for (; v; v = v->next) {
        if (cJSON_IsNumber(v) && next_number_is_float(pos, end)) {
            v->type |= CV_JSON_FLOAT;
        } else if (v->child) {
            mark_floats(v->child, pos, end);
        }
    }
}

void cv__json_mark_floats(cJSON *root, const char *text, size_t len)
{
    mark_floats(root, &text, text + len);
}

/* True if a number in v overflowed to infinity ("1e309"). Python reads it as inf and writes
 * "Infinity", which is not JSON and which cJSON cannot read back; such files are refused. */
static bool has_nonfinite(const cJSON *v)
{
    for (; v; v = v->next) {
        if ((cJSON_IsNumber(v) && !isfinite(v->valuedouble)) || has_nonfinite(v->child)) {
            return true;
        }
    }
    return false;
}

cv_status cv__json_parse(const char *text, size_t len, const char *what, cJSON **out)
{
    /* Python decodes JSON files as strict UTF-8 and rejects anything else. Accepting it would
     * also break byte-identical rewrites: keys are sorted by their bytes, and invalid bytes
     * are written back as U+FFFD, which sorts elsewhere. */
    const unsigned char *u = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_len(u + i, len - i);
        if (n == 0) {
            return CV_FAIL(CV_ERR_CORRUPT, "parse `%s': invalid UTF-8 at byte %zu", what, i);
        }
        i += n;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        return CV_FAIL(CV_ERR_CORRUPT, "parse `%s': invalid JSON near byte %zu", what, at);
    }
    /* Only white space may follow the value. */
    for (const char *p = end; p && p < text + len; p++) {
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t' && *p != '\0') {
            cJSON_Delete(root);
            return CV_FAIL(CV_ERR_CORRUPT, "parse `%s': trailing bytes after JSON at byte %zu",
                           what, (size_t)(p - text));
        }
    }
    if (has_nonfinite(root)) {
        cJSON_Delete(root);
        return CV_FAIL(CV_ERR_CORRUPT, "parse `%s': a number is out of the range of a double",
                       what);
    }
    cv__json_mark_floats(root, text, end ? (size_t)(end - text) : len);
    *out = root;
    return CV_OK;
}

int cv_format_pyfloat(double v, char *buf, size_t cap)
{
    if (isnan(v)) {
        return snprintf(buf, cap, "NaN");
    }
    if (isinf(v)) {
        return snprintf(buf, cap, v < 0 ? "-Infinity" : "Infinity");
    }
    if (v == 0) {
        return snprintf(buf, cap, signbit(v) ? "-0.0" : "0.0");
    }
    /* Shortest digits that round-trip, as Python's repr. */
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v) {
            break;
        }
    }
    /* e = "[-]d.ddde[+-]XX": split into sign, digits, exponent. */
    bool neg = e[0] == '-';
    const char *p = e + neg;
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++) {
        if (*p != '.') {
            digits[nd++] = *p;
        }
    }
    while (nd > 1 && digits[nd - 1] == '0') {
        nd--;
    }
    digits[nd] = '\0';
    int exp10 = atoi(p + 1);
    char out[64];
    int o = 0;
    if (neg) {
        out[o++] = '-';
    }
    if (exp10 >= -5 + 1 && exp10 < 16) { /* repr uses fixed notation for 1e-4 <= |v| < 1e16 */
        if (exp10 < 0) {
            o += sprintf(out + o, "0.");
            for (int i = 0; i < -exp10 - 1; i++) {
                out[o++] = '0';
            }
            o += sprintf(out + o, "%s", digits);
        } else {
            for (int i = 0; i <= exp10; i++) {
                out[o++] = i < nd ? digits[i] : '0';
            }
            out[o++] = '.';
            if (nd > exp10 + 1) {
                o += sprintf(out + o, "%s", digits + exp10 + 1);
            } else {
                out[o++] = '0';
            }
        }
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            o += sprintf(out + o, "%s", digits + 1);
        }
        o += sprintf(out + o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    }
    out[o] = '\0';
    return snprintf(buf, cap, "%s", out);
}

static cv_status put_str(cv_buf *b, const char *s)
{
    return cv__buf_append(b, s, strlen(s));
}

/* Decode one UTF-8 sequence; invalid bytes come back as U+FFFD, one byte consumed. */
static uint32_t utf8_next(const unsigned char **pp)
{
    const unsigned char *p = *pp;
    uint32_t c = p[0];
    int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n < 0) {
        *pp = p + 1;
        return 0xFFFD;
    }
    c = n == 0 ? c : c & (0x3F >> n);
    for (int i = 1; i <= n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *pp = p + 1;
            return 0xFFFD;
        }
        c = (c << 6) | (p[i] & 0x3F);
    }
    *pp = p + n + 1;
    return c;
}

static cv_status put_json_string(cv_buf *b, const char *s)
{
    CV_TRY(put_str(b, "\""));
    const unsigned char *p = (const unsigned char *)s;
    char tmp[16];
    while (*p) {
        uint32_t c = utf8_next(&p);
        switch (c) {
        case '"':
            CV_TRY(put_str(b, "\\\""));
            continue;
        case '\\':
            CV_TRY(put_str(b, "\\\\"));
            continue;
        case '\n':
            CV_TRY(put_str(b, "\\n"));
            continue;
        case '\r':
            CV_TRY(put_str(b, "\\r"));
            continue;
        case '\t':
            CV_TRY(put_str(b, "\\t"));
            continue;
        case '\b':
            CV_TRY(put_str(b, "\\b"));
            continue;
        case '\f':
            CV_TRY(put_str(b, "\\f"));
            continue;
        default:
            break;
        }
        if (c >= 0x20 && c <= 0x7E) {
            char ch = (char)c;
            CV_TRY(cv__buf_append(b, &ch, 1));
        } else if (c < 0x10000) {
            snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)c);
            CV_TRY(put_str(b, tmp));
        } else {
            uint32_t u = c - 0x10000;
            snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", (unsigned)(0xD800 + (u >> 10)),
                     (unsigned)(0xDC00 + (u & 0x3FF)));
            CV_TRY(put_str(b, tmp));
        }
    }
    return put_str(b, "\"");
}

static cv_status put_indent(cv_buf *b, int depth)
{
    CV_TRY(put_str(b, "\n"));
    for (int i = 0; i < depth; i++) {
        CV_TRY(put_str(b, "  "));
    }
    return CV_OK;
}

static int cmp_keys(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

static cv_status dump(cv_buf *b, const cJSON *v, int depth, bool compact)
{
    char num[64];
    if (cJSON_IsRaw(v)) {
        return put_str(b, v->valuestring);
    }
    if (cJSON_IsNull(v)) {
        return put_str(b, "null");
    }
    if (cJSON_IsTrue(v)) {
        return put_str(b, "true");
    }
    if (cJSON_IsFalse(v)) {
        return put_str(b, "false");
    }
    if (cJSON_IsString(v)) {
        return put_json_string(b, v->valuestring);
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (cv__json_is_int(v) && !(v->type & CV_JSON_FLOAT)) {
            snprintf(num, sizeof num, "%" PRId64, (int64_t)d);
        } else if (!(v->type & CV_JSON_FLOAT) && isfinite(d) && d == floor(d)) {
            /* An integer beyond 2^53 ("1111...8209"): Python keeps it an int, so it must not
             * come back as "1.1111e+42", which reads as a float. The digits are the double's. */
            char big[320]; /* DBL_MAX has 309 digits */
            snprintf(big, sizeof big, "%.0f", d);
            return put_str(b, big);
        } else {
            cv_format_pyfloat(v->valuedouble, num, sizeof num);
        }
        return put_str(b, num);
    }
    bool is_obj = cJSON_IsObject(v);
    int n = cJSON_GetArraySize(v);
    if (n == 0) {
        return put_str(b, is_obj ? "{}" : "[]");
    }
    const cJSON **items = cv_malloc(sizeof *items * (size_t)n);
    if (!items) {
        return CV_FAIL(CV_ERR_NOMEM, "json dump");
    }
    int i = 0;
    for (const cJSON *c = v->child; c && i < n; c = c->next) {
        items[i++] = c;
    }
    if (is_obj && !compact) {
        qsort(items, (size_t)n, sizeof *items, cmp_keys);
    }
    cv_status rc = put_str(b, is_obj ? "{" : "[");
    for (i = 0; i < n && rc == CV_OK; i++) {
        rc = compact ? (i ? put_str(b, ", ") : CV_OK) : put_indent(b, depth + 1);
        if (rc == CV_OK && is_obj) {
            rc = put_json_string(b, items[i]->string);
            if (rc == CV_OK) {
                rc = put_str(b, ": ");
            }
        }
        if (rc == CV_OK) {
            rc = dump(b, items[i], depth + 1, compact);
        }
        if (rc == CV_OK && i + 1 < n && !compact) {
            rc = put_str(b, ",");
        }
    }
    if (rc == CV_OK && !compact) {
        rc = put_indent(b, depth);
    }
    if (rc == CV_OK) {
        rc = put_str(b, is_obj ? "}" : "]");
    }
    cv_free(items);
    return rc;
}

static cv_status dump_text(const cJSON *v, bool compact, char **out, size_t *len)
{
    cv_buf b;
    cv__buf_init(&b, 0);
    cv_status rc = dump(&b, v, 0, compact);
    if (rc == CV_OK) {
        rc = cv__buf_append(&b, "", 1);
    }
    if (rc != CV_OK) {
        cv__buf_fini(&b);
        return rc;
    }
    size_t n;
    *out = (char *)cv__buf_take(&b, &n);
    *len = n - 1;
    return CV_OK;
}

cv_status cv__json_dump_py(const cJSON *v, char **out, size_t *len)
{
    return dump_text(v, false, out, len);
}

cv_status cv__json_dump_py_compact(const cJSON *v, char **out, size_t *len)
{
    return dump_text(v, true, out, len);
}
