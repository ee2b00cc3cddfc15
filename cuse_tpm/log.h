/* SPDX-License-Identifier: BSD-3-Clause */
/* Logging: one sink (stderr, a file or an fd), a level, an optional prefix. */
#ifndef CUSE_TPM_LOG_H
#define CUSE_TPM_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* Levels as swtpm numbers them (syslog.h owns the LOG_* names). */
enum log_level {
	LOGL_ERR = 1,
	LOGL_WARN = 2,
	LOGL_INFO = 3,
	LOGL_DEBUG = 4,
	LOGL_TPMLIB = 5, /* and above: libtpms' own debug output too */
};

struct log_config {
	const char *file; /* NULL: stderr; "-": nothing */
	int fd;           /* >= 0: log to this fd instead of file */
	unsigned level;
	const char *prefix;
	bool truncate;
	bool use_syslog;  /* no file or fd given and no terminal: syslog/journal */
};

/* A daemon without a log of its own logs to syslog (the journal) from now. */
void log_to_syslog(void);

/* Opens the sink; on failure returns -errno and logging stays on stderr. */
int log_open(const struct log_config *cfg);
void log_close(void);
/* The fd the log writes to (-1 if logging is off). */
int log_fd(void);

/*
 * Formats an explanation into a caller's buffer (for functions that tell
 * their caller why they failed instead of logging it); returns -1.
 */
int fail_with(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * A warning a client can provoke at will (an unknown request, a stalled
 * one): at most LOG_LIMIT_BURST of them per LOG_LIMIT_SECONDS, process-wide;
 * the next one that passes says how many were left out.
 */
#define LOG_LIMIT_BURST 10
#define LOG_LIMIT_SECONDS 60
void log_warn_limited(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#define log_err(...) log_msg(LOGL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOGL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOGL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOGL_DEBUG, __VA_ARGS__)

#endif
