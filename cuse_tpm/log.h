/* SPDX-License-Identifier: BSD-3-Clause */
/* Logging: one sink (stderr, a file or an fd), a level, an optional prefix. */
#ifndef CUSE_TPM_LOG_H
#define CUSE_TPM_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_ERR = 1,
	LOG_WARN = 2,
	LOG_INFO = 3,
	LOG_DEBUG = 4,
	LOG_TPMLIB = 5, /* and above: libtpms' own debug output too */
};

struct log_config {
	const char *file; /* NULL: stderr; "-": nothing */
	int fd;           /* >= 0: log to this fd instead of file */
	unsigned level;
	const char *prefix;
	bool truncate;
};

/* Opens the sink; on failure returns -errno and logging stays on stderr. */
int log_open(const struct log_config *cfg);
void log_close(void);
/* The fd the log writes to (-1 if logging is off). */
int log_fd(void);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
