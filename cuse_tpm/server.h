/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The socket front end: a control channel (--ctrl) speaking CMD_*, and a
 * data channel (--server, or a descriptor handed over by CMD_SET_DATAFD)
 * carrying plain TPM commands.  Each channel has its own thread, so a
 * control request (cancel, established bit) is served while a command runs.
 */
#ifndef CUSE_TPM_SERVER_H
#define CUSE_TPM_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

#include "vtpm.h"

/* A data command must arrive, and its response be taken, within this. */
#define SERVER_DATA_DEADLINE_MS 5000

enum endpoint_type { ENDPOINT_NONE, ENDPOINT_UNIX, ENDPOINT_TCP };

struct endpoint {
	enum endpoint_type type;
	const char *path;     /* unixio */
	mode_t mode;          /* unixio: 0 keeps the umask's */
	uid_t uid;            /* unixio: (uid_t)-1 keeps ours */
	gid_t gid;
	const char *bindaddr; /* tcp: default 127.0.0.1 */
	unsigned port;        /* tcp */
	int fd;               /* >= 0: an already listening socket */
	int conn_fd;          /* >= 0: an already connected client; the
				 channel ends with it (swtpm_setup's way) */
	bool terminate;       /* end the process when the client leaves */
	bool disconnect;      /* data: close after each response */
};

struct server;

/* Called when the server wants the process to end (terminate option). */
typedef void (*server_exit_fn)(void *ctx);

/* Binds and listens; NULL and a message in @err on failure. */
struct server *server_new(const struct endpoint *ctrl,
			  const struct endpoint *data, char *err,
			  size_t errlen);
/* Starts serving @v on the server's threads. */
int server_start(struct server *s, struct vtpm *v, server_exit_fn exit_fn,
		 void *exit_ctx);
/* Stops the threads, closes every socket, removes unix socket files. */
void server_free(struct server *s);

#endif
