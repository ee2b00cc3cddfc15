/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A swtpm-style data channel over a stream socket: the command's bytes go
 * out as they are, the response comes back as a TPM header whose size field
 * says how much follows.
 */
#include "bench.h"
#include "tpm2.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The server may still be starting: keep trying this long. */
#define CONNECT_TRIES 500
#define CONNECT_PAUSE_US 10000

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(int fd, uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = read(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int socket_transact(struct transport *t, const uint8_t *cmd,
			   size_t len, uint8_t *resp, size_t *resp_len)
{
	uint32_t size;

	if (write_all(t->fd, cmd, len) < 0 || read_all(t->fd, resp, 10) < 0) {
		fprintf(stderr, "bench: socket: %s\n", strerror(errno));
		return -1;
	}
	size = tpm2_size(resp);
	if (size < 10 || size > RESP_MAX || read_all(t->fd, resp + 10, size - 10) < 0) {
		fprintf(stderr, "bench: socket: bad response\n");
		return -1;
	}
	*resp_len = size;
	return 0;
}

static void socket_close(struct transport *t)
{
	close(t->fd);
	t->fd = -1;
}

/* Fills @sa from "unix:PATH" or "tcp:HOST:PORT"; its length or 0. */
static socklen_t parse_addr(const char *addr, struct sockaddr_storage *sa)
{
	struct sockaddr_un *un = (struct sockaddr_un *)sa;
	struct sockaddr_in *in = (struct sockaddr_in *)sa;
	const char *colon;
	char host[64];

	memset(sa, 0, sizeof(*sa));
	if (strncmp(addr, "unix:", 5) == 0) {
		size_t len = strlen(addr + 5);

		if (len >= sizeof(un->sun_path))
			return 0;
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, addr + 5, len + 1);
		return sizeof(*un);
	}
	colon = strrchr(addr, ':');
	if (strncmp(addr, "tcp:", 4) != 0 || !colon || colon - addr - 4 <= 0 ||
	    (size_t)(colon - addr - 4) >= sizeof(host))
		return 0;
	memcpy(host, addr + 4, (size_t)(colon - addr - 4));
	host[colon - addr - 4] = '\0';
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
		return 0;
	return sizeof(*in);
}

int socket_open(struct transport *t, const char *addr)
{
	struct sockaddr_storage sa;
	socklen_t salen = parse_addr(addr, &sa);
	int one = 1, i;

	if (!salen) {
		fprintf(stderr, "bench: not unix:PATH or tcp:IPV4:PORT: %s\n", addr);
		return -1;
	}
	t->label = "socket";
	t->transact = socket_transact;
	t->prepare = NULL;
	t->before_command = NULL;
	t->close = socket_close;
	t->ctx = NULL;
	t->pid = 0;
	for (i = 0; i < CONNECT_TRIES; i++) {
		t->fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (t->fd < 0)
			break;
		if (connect(t->fd, (struct sockaddr *)&sa, salen) == 0) {
			/* each command is one small message: send it at once */
			if (sa.ss_family == AF_INET)
				setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one,
					   sizeof(one));
			return 0;
		}
		close(t->fd);
		sleep_us(CONNECT_PAUSE_US);
	}
	fprintf(stderr, "bench: cannot connect to %s: %s\n", addr, strerror(errno));
	t->fd = -1;
	return -1;
}
