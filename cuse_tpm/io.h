/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Whole reads and writes on a descriptor, retried on EINTR; and deadlines
 * on CLOCK_MONOTONIC, for poll() timeouts and pthread_cond_timedwait() on a
 * condition whose clock is CLOCK_MONOTONIC; and reads and writes on a socket
 * whose peer is not trusted to keep up: within a deadline set once per
 * request (so a peer dripping a byte at a time is cut off as surely as one
 * that stalls), and given up at once when the server is stopping.
 */
#ifndef CUSE_TPM_IO_H
#define CUSE_TPM_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* 0, or -errno (-EPIPE when the peer is gone). */
int io_write_all(int fd, const void *buf, size_t len);
/* Reads until @len bytes or end of file: the count, or -errno. */
ssize_t io_read_upto(int fd, void *buf, size_t len);
/* At offset @off: 0, -EIO at end of file before @len bytes, or -errno. */
int io_pread_full(int fd, void *buf, size_t len, off_t off);
int io_pwrite_full(int fd, const void *buf, size_t len, off_t off);
/* 0, -1 at end of file before @len bytes, or -errno. */
int io_read_full(int fd, void *buf, size_t len);

/* @deadline becomes now + @ms. */
void io_deadline_in(struct timespec *deadline, long ms);
/* Milliseconds until @deadline; 0 or less once it has passed. */
long io_ms_left(const struct timespec *deadline);

struct io_deadline {
	struct timespec end; /* CLOCK_MONOTONIC, once started */
	long ms;             /* the length of one not started yet */
	bool started;
	int stop_fd;         /* readable once the server stops, or -1 */
};

/* Sets @d to @ms from now, given up early once @stop_fd is readable. */
void io_deadline_set(struct io_deadline *d, long ms, int stop_fd);
/*
 * The same, but the @ms start at the first wait: a transfer that never
 * waits never reads the clock (a system call where the clock source has
 * no vDSO, as in many virtual machines).  Until that wait nothing was
 * waited for, so the bound on waiting is the same.
 */
void io_deadline_from_first_wait(struct io_deadline *d, long ms, int stop_fd);
/*
 * Waits until @fd has @events (POLLIN or POLLOUT): 1 (also once the server
 * stops, if @fd is ready); 0 when the deadline passed, -ECANCELED when the
 * server stops, or -errno.
 */
int io_wait_by(int fd, short events, struct io_deadline *d);
/* 0, -1 at end of file, -ETIMEDOUT, -ECANCELED or -errno. */
int io_read_by(int fd, void *buf, size_t len, struct io_deadline *d);
/* What is there, at least one byte: their count, or as io_read_by. */
ssize_t io_read_some_by(int fd, void *buf, size_t len, struct io_deadline *d);
/* 0, -ETIMEDOUT, -ECANCELED or -errno; never blocks on a socket. */
int io_write_by(int fd, const void *buf, size_t len, struct io_deadline *d);

#endif
