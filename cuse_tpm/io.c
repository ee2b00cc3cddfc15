/* SPDX-License-Identifier: BSD-3-Clause */
#include "io.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#define NS_PER_MS 1000000L
#define NS_PER_S 1000000000L

int io_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t io_read_upto(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* pread() or pwrite() until @len bytes moved; -EIO at end of file. */
static int positional_full(int fd, uint8_t *p, size_t len, off_t off,
			   bool out)
{
	size_t done = 0;

	while (done < len) {
		off_t at = off + (off_t)done;
		ssize_t n = out ? pwrite(fd, p + done, len - done, at)
				: pread(fd, p + done, len - done, at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

int io_pread_full(int fd, void *buf, size_t len, off_t off)
{
	return positional_full(fd, buf, len, off, false);
}

int io_pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	/* pwrite() leaves the buffer as it is */
	return positional_full(fd, (uint8_t *)(uintptr_t)buf, len, off, true);
}

int io_read_full(int fd, void *buf, size_t len)
{
	ssize_t n = io_read_upto(fd, buf, len);

	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -1;
}

void io_deadline_in(struct timespec *deadline, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, deadline);
	deadline->tv_sec += ms / 1000;
	deadline->tv_nsec += ms % 1000 * NS_PER_MS;
	deadline->tv_sec += deadline->tv_nsec / NS_PER_S;
	deadline->tv_nsec %= NS_PER_S;
}

long io_ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(deadline->tv_sec - now.tv_sec) * 1000 +
	       (deadline->tv_nsec - now.tv_nsec) / NS_PER_MS;
}

void io_deadline_set(struct io_deadline *d, long ms, int stop_fd)
{
	io_deadline_from_first_wait(d, ms, stop_fd);
	io_deadline_in(&d->end, ms);
	d->started = true;
}

void io_deadline_from_first_wait(struct io_deadline *d, long ms, int stop_fd)
{
	d->ms = ms;
	d->started = false;
	d->stop_fd = stop_fd;
}

int io_wait_by(int fd, short events, struct io_deadline *d)
{
	struct pollfd p[2] = { { .fd = fd, .events = events },
			       { .fd = d->stop_fd, .events = POLLIN } };
	long left;
	int n;

	if (!d->started) {
		io_deadline_in(&d->end, d->ms);
		d->started = true;
	}
	do {
		left = io_ms_left(&d->end);
		if (left <= 0)
			return 0;
		n = poll(p, d->stop_fd >= 0 ? 2 : 1, (int)left);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/*
	 * A descriptor ready wins over a stop: a reply already made still
	 * goes out (PTM_SHUTDOWN's, as the server stops), and a peer that
	 * does not read is cut off all the same.
	 */
	if (n > 0 && p[0].revents)
		return 1;
	if (n > 0 && (p[1].revents & POLLIN))
		return -ECANCELED;
	return 0;
}

/*
 * Moves @len bytes in (@out false) or out by the deadline, or with @some
 * as many as come at once (at least one).  A socket is tried first and
 * waited for only when it is not ready, so a peer that keeps up costs one
 * system call per step, not a poll() and a read(); a socket is never
 * blocked on.  Other descriptors are waited for first.  Returns the bytes
 * moved, -1 at end of file, -ETIMEDOUT, -ECANCELED or -errno.
 */
static ssize_t transfer_by(int fd, uint8_t *p, size_t len, bool out,
			   bool some, struct io_deadline *d)
{
	bool socket = true;
	size_t done = 0;

	while (done < len) {
		ssize_t n = -1;

		if (socket)
			n = out ? send(fd, p + done, len - done,
				       MSG_DONTWAIT | MSG_NOSIGNAL)
				: recv(fd, p + done, len - done, MSG_DONTWAIT);
		if (n < 0 && socket && errno == ENOTSOCK)
			socket = false;
		if (n < 0 && (!socket || errno == EAGAIN || errno == EINTR)) {
			int w = io_wait_by(fd, out ? POLLOUT : POLLIN, d);

			if (w <= 0)
				return w ? w : -ETIMEDOUT;
			if (socket)
				continue;
			n = out ? write(fd, p + done, len - done)
				: read(fd, p + done, len - done);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
		}
		if (n < 0)
			return -errno;
		if (n == 0 && !out)
			return -1;
		done += (size_t)n;
		if (some)
			break;
	}
	return (ssize_t)done;
}

int io_read_by(int fd, void *buf, size_t len, struct io_deadline *d)
{
	ssize_t n = transfer_by(fd, buf, len, false, false, d);

	return n < 0 ? (int)n : 0;
}

ssize_t io_read_some_by(int fd, void *buf, size_t len, struct io_deadline *d)
{
	return transfer_by(fd, buf, len, false, true, d);
}

int io_write_by(int fd, const void *buf, size_t len, struct io_deadline *d)
{
	/* send() and write() leave the buffer as it is */
	ssize_t n = transfer_by(fd, (uint8_t *)(uintptr_t)buf, len, true, false,
				d);

	return n < 0 ? (int)n : 0;
}
