/* SPDX-License-Identifier: BSD-3-Clause */
/* Whole reads and writes on a descriptor, retried on EINTR. */
#ifndef CUSE_TPM_IO_H
#define CUSE_TPM_IO_H

#include <stddef.h>
#include <sys/types.h>

/* 0, or -errno (-EPIPE when the peer is gone). */
int io_write_all(int fd, const void *buf, size_t len);
/* Reads until @len bytes or end of file: the count, or -errno. */
ssize_t io_read_upto(int fd, void *buf, size_t len);
/* 0, -1 at end of file before @len bytes, or -errno. */
int io_read_full(int fd, void *buf, size_t len);

#endif
