/* SPDX-License-Identifier: MIT */
/*
 * Minimal unit-test harness after OpenSSH's regress/unittests: named cases
 * that read as sentences, ASSERT_* that print file:line and both values.
 */
#ifndef PV_TEST_H
#define PV_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *test_current;
static int test_count;

#define TEST_START(name)                                                                           \
	do {                                                                                       \
		test_current = (name);                                                             \
		test_count++;                                                                      \
	} while (0)
#define TEST_DONE() printf("ok %d - %s\n", test_count, test_current)

/* The first failure ends the binary (later cases build on earlier state), with its count line. */
#define TEST_FAIL(fmt, ...)                                                                        \
	do {                                                                                       \
		fprintf(stderr, "FAIL %s:%d [%s]: " fmt "\n", __FILE__, __LINE__, test_current,    \
		        __VA_ARGS__);                                                              \
		printf("%d passed, 1 failed\n", test_count - 1);                                   \
		exit(1);                                                                           \
	} while (0)

#define ASSERT_TRUE(x)                                                                             \
	do {                                                                                       \
		if (!(x))                                                                          \
			TEST_FAIL("%s is false", #x);                                              \
	} while (0)
#define ASSERT_INT_EQ(a, b)                                                                        \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (a_ != b_)                                                                      \
			TEST_FAIL("%s == %lld, expected %s == %lld", #a, a_, #b, b_);              \
	} while (0)
#define ASSERT_INT_LT(a, b)                                                                        \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (!(a_ < b_))                                                                    \
			TEST_FAIL("%s == %lld, expected < %s == %lld", #a, a_, #b, b_);            \
	} while (0)
#define ASSERT_STR_EQ(a, b)                                                                        \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		if (!a_ || !b_ || strcmp(a_, b_) != 0)                                             \
			TEST_FAIL("%s == \"%s\", expected \"%s\"", #a, a_ ? a_ : "(null)",         \
			          b_ ? b_ : "(null)");                                             \
	} while (0)
#define ASSERT_STR_CONTAINS(hay, needle)                                                           \
	do {                                                                                       \
		const char *h_ = (hay), *n_ = (needle);                                            \
		if (!h_ || !strstr(h_, n_))                                                        \
			TEST_FAIL("%s == \"%s\" lacks \"%s\"", #hay, h_ ? h_ : "(null)", n_);      \
	} while (0)

/* Print the closing line CI reads, and the exit code. */
/* Reached only when every case passed: a failure exits from TEST_FAIL with its own line. */
#define TEST_SUMMARY()                                                                             \
	do {                                                                                       \
		printf("%d passed, 0 failed\n", test_count);                                       \
		return 0;                                                                          \
	} while (0)

#endif
