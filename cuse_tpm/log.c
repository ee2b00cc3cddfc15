/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The log is process-wide by nature (libfuse and libtpms write to it from
 * their own threads), so it is the one module that keeps file-scope state.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static struct {
	int fd;
	bool owned;
	bool syslog;
	unsigned level;
	char prefix[64];
} sink = { .fd = STDERR_FILENO, .level = LOGL_WARN };

/* What log_warn_limited() let through in the current window. */
static struct {
	pthread_mutex_t lock;
	time_t window;       /* start, CLOCK_MONOTONIC seconds */
	unsigned passed, dropped;
} limit = { .lock = PTHREAD_MUTEX_INITIALIZER };

/*
 * A log file, or a character device (/dev/null, a console): a FIFO would
 * block start-up in open() or later every thread that logs.
 */
static int open_sink(const char *path, int flags)
{
	struct stat st;
	int fd = open(path, flags | O_NONBLOCK, 0640);

	if (fd < 0)
		return errno == ENXIO ? -EINVAL : -errno;
	if (fstat(fd, &st) < 0 ||
	    !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode)) ||
	    fcntl(fd, F_SETFL, flags & ~(O_CREAT | O_TRUNC | O_CLOEXEC |
					 O_NOFOLLOW)) < 0) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

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
		fd = open_sink(cfg->file, flags);
		if (fd < 0)
			return fd;
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

void log_warn_limited(const char *fmt, ...)
{
	struct timespec now;
	unsigned dropped = 0;
	bool pass;
	char line[900];
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&limit.lock);
	if (now.tv_sec - limit.window >= LOG_LIMIT_SECONDS || !limit.window) {
		limit.window = now.tv_sec ? now.tv_sec : 1;
		limit.passed = 0;
	}
	pass = limit.passed < LOG_LIMIT_BURST;
	if (pass) {
		limit.passed++;
		dropped = limit.dropped;
		limit.dropped = 0;
	} else {
		limit.dropped++;
	}
	pthread_mutex_unlock(&limit.lock);
	if (!pass)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (dropped)
		log_warn("%s (%u like warnings left out before)", line, dropped);
	else
		log_warn("%s", line);
}
