/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The CUSE device as a client such as tpm2-tss' device TCTI uses it: one
 * write() of the command, one read() of the response.  The non-blocking
 * variant is how QEMU-like event loops drive it: write, poll for POLLIN, read.
 */
#include "bench.h"
#include "tpm2.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int check_response(const uint8_t *resp, ssize_t n, size_t *resp_len)
{
	if (n < 10 || tpm2_size(resp) != (uint32_t)n) {
		fprintf(stderr, "bench: bad response from the device (%zd bytes%s%s)\n",
			n, n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
		return -1;
	}
	*resp_len = (size_t)n;
	return 0;
}

static int write_command(int fd, const uint8_t *cmd, size_t len)
{
	if (write(fd, cmd, len) != (ssize_t)len) {
		fprintf(stderr, "bench: write to the device: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int blocking_transact(struct transport *t, const uint8_t *cmd,
			     size_t len, uint8_t *resp, size_t *resp_len)
{
	if (write_command(t->fd, cmd, len) < 0)
		return -1;
	return check_response(resp, read(t->fd, resp, RESP_MAX), resp_len);
}

static int polling_transact(struct transport *t, const uint8_t *cmd,
			    size_t len, uint8_t *resp, size_t *resp_len)
{
	struct pollfd p = { .fd = t->fd, .events = POLLIN };

	if (write_command(t->fd, cmd, len) < 0)
		return -1;
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR) {
			fprintf(stderr, "bench: poll: %s\n", strerror(errno));
			return -1;
		}
	return check_response(resp, read(t->fd, resp, RESP_MAX), resp_len);
}

static void device_close(struct transport *t)
{
	close(t->fd);
	t->fd = -1;
}

static void set_nonblock(int fd, bool on)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags >= 0 && !!(flags & O_NONBLOCK) != on)
		fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
}

static void prepare_blocking(struct transport *t)
{
	set_nonblock(t->fd, false);
}

static void prepare_polling(struct transport *t)
{
	set_nonblock(t->fd, true);
}

void device_attach(struct transport *t, int fd, bool nonblock)
{
	t->label = nonblock ? "device-poll" : "device";
	t->transact = nonblock ? polling_transact : blocking_transact;
	t->prepare = nonblock ? prepare_polling : prepare_blocking;
	t->before_command = NULL;
	t->close = NULL;
	t->ctx = NULL;
	t->pid = 0;
	t->fd = fd;
}

int device_open(struct transport *t, const char *path, bool nonblock)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | (nonblock ? O_NONBLOCK : 0));

	if (fd < 0) {
		fprintf(stderr, "bench: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	device_attach(t, fd, nonblock);
	t->close = device_close;
	return 0;
}
