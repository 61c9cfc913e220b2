/* SPDX-License-Identifier: BSD-3-Clause
 * testlib.h: the unit-test harness (libuv task.h style). Each test is a function returning
 * void; asserts print both sides and cv_err_last() and end the test as failed. TEST_MAIN runs
 * the listed tests and prints "N passed, N failed". */
#ifndef CV_TESTLIB_H
#define CV_TESTLIB_H

#include "base/cv_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int tl_failed_asserts;

#define TL_FAIL_HERE(...)                                                                          \
    do {                                                                                           \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                          \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        if (cv_err_last()->code != CV_OK) {                                                        \
            fprintf(stderr, "  last error: %s: %s\n", cv_errname(cv_err_last()->code),             \
                    cv_err_last()->what);                                                          \
        }                                                                                          \
        tl_failed_asserts++;                                                                       \
        return;                                                                                    \
    } while (0)

#define ASSERT_TRUE(x)                                                                             \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            TL_FAIL_HERE("assertion failed: %s", #x);                                              \
        }                                                                                          \
    } while (0)

#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            TL_FAIL_HERE("%s == %s: %lld != %lld", #a, #b, a_, b_);                                \
        }                                                                                          \
    } while (0)

#define ASSERT_DBL_EQ(a, b)                                                                        \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (a_ != b_) {                                                                            \
            TL_FAIL_HERE("%s == %s: %.17g != %.17g", #a, #b, a_, b_);                              \
        }                                                                                          \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                   \
            TL_FAIL_HERE("%s == %s:\n    \"%s\"\n != \"%s\"", #a, #b, a_ ? a_ : "(null)",          \
                         b_ ? b_ : "(null)");                                                      \
        }                                                                                          \
    } while (0)

#define ASSERT_MEM_EQ(a, b, n)                                                                     \
    do {                                                                                           \
        const unsigned char *a_ = (const void *)(a), *b_ = (const void *)(b);                      \
        size_t n_ = (n);                                                                           \
        for (size_t i_ = 0; i_ < n_; i_++) {                                                       \
            if (a_[i_] != b_[i_]) {                                                                \
                TL_FAIL_HERE("%s and %s differ at byte %zu: %02x != %02x", #a, #b, i_, a_[i_],     \
                             b_[i_]);                                                              \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define ASSERT_OK(expr)                                                                            \
    do {                                                                                           \
        cv_status rc_ = (expr);                                                                    \
        if (rc_ != CV_OK) {                                                                        \
            TL_FAIL_HERE("%s returned %s", #expr, cv_errname(rc_));                                \
        }                                                                                          \
    } while (0)

/* Expect a failure with code `code` whose message contains `needle`. */
#define ASSERT_FAILS(expr, code, needle)                                                           \
    do {                                                                                           \
        cv_err_clear();                                                                            \
        cv_status rc_ = (expr);                                                                    \
        if (rc_ != (code)) {                                                                       \
            TL_FAIL_HERE("%s returned %s, want %s", #expr, cv_errname(rc_), cv_errname(code));     \
        }                                                                                          \
        if (!strstr(cv_err_last()->what, (needle))) {                                              \
            TL_FAIL_HERE("%s: message \"%s\" lacks \"%s\"", #expr, cv_err_last()->what, (needle)); \
        }                                                                                          \
        cv_err_clear();                                                                            \
    } while (0)

typedef struct tl_test {
    const char *name;
    void (*fn)(void);
} tl_test;

#define TL_ENTRY(f) {#f, f},
#define TEST_MAIN(...)                                                                             \
    int tl_failed_asserts;                                                                         \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        static const tl_test tests[] = {TL_FOR_EACH(TL_ENTRY, __VA_ARGS__)};                       \
        int passed = 0, failed = 0;                                                                \
        for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {                              \
            if (argc > 1 && strcmp(argv[1], tests[i].name) != 0) {                                 \
                continue;                                                                          \
            }                                                                                      \
            int before = tl_failed_asserts;                                                        \
            cv_err_clear();                                                                        \
            tests[i].fn();                                                                         \
            bool ok = tl_failed_asserts == before;                                                 \
            printf("%s %s\n", ok ? "ok  " : "FAIL", tests[i].name);                                \
            ok ? passed++ : failed++;                                                              \
        }                                                                                          \
        printf("%d passed, %d failed\n", passed, failed);                                          \
        return failed || passed == 0 ? 1 : 0;                                                      \
    }

/* TL_FOR_EACH(m, a, b, c) -> m(a) m(b) m(c), up to 32 arguments. */
#define TL_FE_1(m, x) m(x)
#define TL_FE_2(m, x, ...) m(x) TL_FE_1(m, __VA_ARGS__)
#define TL_FE_3(m, x, ...) m(x) TL_FE_2(m, __VA_ARGS__)
#define TL_FE_4(m, x, ...) m(x) TL_FE_3(m, __VA_ARGS__)
#define TL_FE_5(m, x, ...) m(x) TL_FE_4(m, __VA_ARGS__)
#define TL_FE_6(m, x, ...) m(x) TL_FE_5(m, __VA_ARGS__)
#define TL_FE_7(m, x, ...) m(x) TL_FE_6(m, __VA_ARGS__)
#define TL_FE_8(m, x, ...) m(x) TL_FE_7(m, __VA_ARGS__)
#define TL_FE_9(m, x, ...) m(x) TL_FE_8(m, __VA_ARGS__)
#define TL_FE_10(m, x, ...) m(x) TL_FE_9(m, __VA_ARGS__)
#define TL_FE_11(m, x, ...) m(x) TL_FE_10(m, __VA_ARGS__)
#define TL_FE_12(m, x, ...) m(x) TL_FE_11(m, __VA_ARGS__)
#define TL_FE_13(m, x, ...) m(x) TL_FE_12(m, __VA_ARGS__)
#define TL_FE_14(m, x, ...) m(x) TL_FE_13(m, __VA_ARGS__)
#define TL_FE_15(m, x, ...) m(x) TL_FE_14(m, __VA_ARGS__)
#define TL_FE_16(m, x, ...) m(x) TL_FE_15(m, __VA_ARGS__)
#define TL_FE_17(m, x, ...) m(x) TL_FE_16(m, __VA_ARGS__)
#define TL_FE_18(m, x, ...) m(x) TL_FE_17(m, __VA_ARGS__)
#define TL_FE_19(m, x, ...) m(x) TL_FE_18(m, __VA_ARGS__)
#define TL_FE_20(m, x, ...) m(x) TL_FE_19(m, __VA_ARGS__)
#define TL_FE_21(m, x, ...) m(x) TL_FE_20(m, __VA_ARGS__)
#define TL_FE_22(m, x, ...) m(x) TL_FE_21(m, __VA_ARGS__)
#define TL_FE_23(m, x, ...) m(x) TL_FE_22(m, __VA_ARGS__)
#define TL_FE_24(m, x, ...) m(x) TL_FE_23(m, __VA_ARGS__)
#define TL_FE_25(m, x, ...) m(x) TL_FE_24(m, __VA_ARGS__)
#define TL_FE_26(m, x, ...) m(x) TL_FE_25(m, __VA_ARGS__)
#define TL_FE_27(m, x, ...) m(x) TL_FE_26(m, __VA_ARGS__)
#define TL_FE_28(m, x, ...) m(x) TL_FE_27(m, __VA_ARGS__)
#define TL_FE_29(m, x, ...) m(x) TL_FE_28(m, __VA_ARGS__)
#define TL_FE_30(m, x, ...) m(x) TL_FE_29(m, __VA_ARGS__)
#define TL_FE_31(m, x, ...) m(x) TL_FE_30(m, __VA_ARGS__)
#define TL_FE_32(m, x, ...) m(x) TL_FE_31(m, __VA_ARGS__)
#define TL_NTH(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, _18,    \
               _19, _20, _21, _22, _23, _24, _25, _26, _27, _28, _29, _30, _31, _32, N, ...)       \
    N
#define TL_FOR_EACH(m, ...)                                                                        \
    TL_NTH(__VA_ARGS__, TL_FE_32, TL_FE_31, TL_FE_30, TL_FE_29, TL_FE_28, TL_FE_27, TL_FE_26,      \
           TL_FE_25, TL_FE_24, TL_FE_23, TL_FE_22, TL_FE_21, TL_FE_20, TL_FE_19, TL_FE_18,         \
           TL_FE_17, TL_FE_16, TL_FE_15, TL_FE_14, TL_FE_13, TL_FE_12, TL_FE_11, TL_FE_10,         \
           TL_FE_9, TL_FE_8, TL_FE_7, TL_FE_6, TL_FE_5, TL_FE_4, TL_FE_3, TL_FE_2, TL_FE_1)        \
    (m, __VA_ARGS__)

#endif
