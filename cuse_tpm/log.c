/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The log is process-wide by nature (libfuse and libtpms write to it from
 * their own threads), so it is the one module that keeps file-scope state.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static struct {
	int fd;
	bool owned;
	bool syslog;
	unsigned level;
	char prefix[64];
} sink = { .fd = STDERR_FILENO, .level = LOGL_WARN };

int log_open(const struct log_config *cfg)
{
	int fd = STDERR_FILENO;

	if (cfg->level)
		sink.level = cfg->level;
	/* on a terminal, say who is talking; a log file gets what it asks */
	snprintf(sink.prefix, sizeof(sink.prefix), "%s",
		 cfg->prefix ? cfg->prefix
			     : (cfg->fd < 0 && !cfg->file ? "cuse_tpm: " : ""));
	if (cfg->fd >= 0) {
		fd = cfg->fd;
	} else if (cfg->file && strcmp(cfg->file, "-") == 0) {
		fd = -1;
	} else if (cfg->file) {
		int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW;

		if (cfg->truncate)
			flags |= O_TRUNC;
		fd = open(cfg->file, flags, 0640);
		if (fd < 0)
			return -errno;
		sink.owned = true;
	}
	sink.fd = fd;
	return 0;
}

void log_to_syslog(void)
{
	openlog("cuse_tpm", LOG_PID, LOG_DAEMON);
	sink.syslog = true;
	sink.prefix[0] = '\0';
}

void log_close(void)
{
	if (sink.syslog)
		closelog();
	sink.syslog = false;
	if (sink.owned)
		close(sink.fd);
	sink.fd = STDERR_FILENO;
	sink.owned = false;
}

int log_fd(void)
{
	return sink.fd;
}

int fail_with(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if ((sink.fd < 0 && !sink.syslog) || (unsigned)level > sink.level)
		return;
	n = snprintf(line, sizeof(line), "%s", sink.prefix);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n >= (int)sizeof(line) - 1)
		n = sizeof(line) - 2;
	if (n == 0 || line[n - 1] != '\n')
		line[n++] = '\n';
	if (sink.syslog) {
		static const int prio[] = { LOG_ERR, LOG_ERR, LOG_WARNING,
					    LOG_INFO, LOG_DEBUG, LOG_DEBUG };

		line[n - 1] = '\0';
		syslog(prio[level < 5 ? level : 5], "%s", line);
		return;
	}
	/* One write per line keeps lines whole across threads. */
	if (write(sink.fd, line, n) < 0)
		return;
}
