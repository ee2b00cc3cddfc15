/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A minimal test harness: each test is a function; CHECK() records the first
 * failed condition and returns.  Prints "PASS: name" / "FAIL: name: why" per
 * test and a closing "N passed, N failed" line; exits non-zero on a failure.
 */
#ifndef CUSE_TPM_CHECK_H
#define CUSE_TPM_CHECK_H

#include <stdio.h>
#include <string.h>

struct check_state {
	const char *why;
	const char *file;
	int line;
};

extern struct check_state check_now;

#define CHECK(cond)                                                    \
	do {                                                           \
		if (!(cond)) {                                         \
			check_now.why = #cond;                         \
			check_now.file = __FILE__;                     \
			check_now.line = __LINE__;                     \
			return;                                        \
		}                                                      \
	} while (0)

#define CHECK_EQ(a, b)                                                   \
	do {                                                             \
		unsigned long long check_a_ = (a), check_b_ = (b);       \
		if (check_a_ != check_b_) {                              \
			static char check_msg_[512];                     \
			snprintf(check_msg_, sizeof(check_msg_),         \
				 "%s == %s (0x%llx != 0x%llx)", #a, #b,  \
				 check_a_, check_b_);                    \
			check_now.why = check_msg_;                      \
			check_now.file = __FILE__;                       \
			check_now.line = __LINE__;                       \
			return;                                          \
		}                                                        \
	} while (0)

struct check_test {
	const char *name;
	void (*fn)(void);
};

/* CHECK_MAIN with @after(), which undoes what a failed test left behind. */
#define CHECK_MAIN_AFTER(after, ...)                                          \
	struct check_state check_now;                                         \
	int main(void)                                                        \
	{                                                                     \
		static const struct check_test tests[] = { __VA_ARGS__ };     \
		int passed = 0, failed = 0;                                   \
		size_t i;                                                     \
		setvbuf(stdout, NULL, _IOLBF, 0);                             \
		for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {      \
			memset(&check_now, 0, sizeof(check_now));             \
			tests[i].fn();                                        \
			after();                                              \
			if (check_now.why) {                                  \
				printf("FAIL: %s: %s:%d: %s\n", tests[i].name,\
				       check_now.file, check_now.line,        \
				       check_now.why);                        \
				failed++;                                     \
			} else {                                              \
				printf("PASS: %s\n", tests[i].name);          \
				passed++;                                     \
			}                                                     \
		}                                                             \
		printf("%d passed, %d failed\n", passed, failed);             \
		return failed ? 1 : 0;                                        \
	}

static inline void check_nothing_after(void)
{
}

#define CHECK_MAIN(...) CHECK_MAIN_AFTER(check_nothing_after, __VA_ARGS__)

#define TEST(fn) { #fn, fn }

#endif
