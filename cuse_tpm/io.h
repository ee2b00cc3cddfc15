/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Whole reads and writes on a descriptor, retried on EINTR; and deadlines
 * on CLOCK_MONOTONIC, for poll() timeouts and pthread_cond_timedwait() on a
 * condition whose clock is CLOCK_MONOTONIC.
 */
#ifndef CUSE_TPM_IO_H
#define CUSE_TPM_IO_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* 0, or -errno (-EPIPE when the peer is gone). */
int io_write_all(int fd, const void *buf, size_t len);
/* Reads until @len bytes or end of file: the count, or -errno. */
ssize_t io_read_upto(int fd, void *buf, size_t len);
/* 0, -1 at end of file before @len bytes, or -errno. */
int io_read_full(int fd, void *buf, size_t len);

/* @deadline becomes now + @ms. */
void io_deadline_in(struct timespec *deadline, long ms);
/* Milliseconds until @deadline; 0 or less once it has passed. */
long io_ms_left(const struct timespec *deadline);

#endif
