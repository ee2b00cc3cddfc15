/* SPDX-License-Identifier: BSD-3-Clause */
#include "server.h"

#include "ctrl.h"
#include "io.h"
#include "log.h"
#include "tpmlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libtpms/tpm_error.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct channel {
	struct server *srv;
	struct endpoint ep;
	int listen_fd;  /* -1: none */
	int conn_fd;    /* the one client served, or -1 */
	int wake[2];    /* a byte here stops the thread or hands over an fd */
	pthread_t thread;
	bool running;
	/* the data channel's bytes read ahead of the command being served */
	uint8_t in[VTPM_IO_MAX];
	size_t in_len;
};

struct server {
	struct vtpm *vtpm;
	struct channel ctrl, data;
	server_exit_fn exit_fn;
	void *exit_ctx;
	pthread_mutex_t lock; /* the data channel's handed-over descriptor */
	int handed_fd;
};

/*
 * The socket file is made with its mode: a chmod by name afterwards would
 * follow a symlink swapped in meanwhile.  The umask is the process's, but
 * start-up runs on one thread.
 */
static int bind_with_mode(int fd, const struct sockaddr_un *sa, mode_t mode)
{
	mode_t old = 0;
	int rc, err;

	if (mode)
		old = umask(~mode & 0777);
	rc = bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
	err = errno;
	if (mode)
		umask(old);
	errno = err;
	return rc;
}

/* Changes the owner of the socket file itself, never a symlink's target. */
static int chown_socket(const char *path, uid_t uid, gid_t gid)
{
	struct stat st;
	int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC), rc = -1;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		goto out;
	if (!S_ISSOCK(st.st_mode)) {
		errno = ELOOP;
		goto out;
	}
	rc = fchownat(fd, "", uid, gid, AT_EMPTY_PATH);
out:
	if (rc < 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	close(fd);
	return 0;
}

static int listen_unix(const struct endpoint *ep, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(ep->path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", ep->path);
		return -1;
	}
	memcpy(sa.sun_path, ep->path, strlen(ep->path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	unlink(ep->path); /* a stale socket from an earlier run */
	if (bind_with_mode(fd, &sa, ep->mode) < 0 ||
	    ((ep->uid != (uid_t)-1 || ep->gid != (gid_t)-1) &&
	     chown_socket(ep->path, ep->uid, ep->gid) < 0))
		goto fail;
	if (listen(fd, 4) < 0)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "cannot listen on %s: %s", ep->path,
		 strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int listen_tcp(const struct endpoint *ep, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	const char *addr = ep->bindaddr ? ep->bindaddr : "127.0.0.1";
	struct addrinfo *ai;
	char port[16];
	int fd = -1, one = 1, rc;

	snprintf(port, sizeof(port), "%u", ep->port);
	rc = getaddrinfo(addr, port, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "bad address %s: %s", addr,
			 gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
				 sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4) < 0) {
		snprintf(err, errlen, "cannot listen on %s port %u: %s", addr,
			 ep->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int channel_init(struct channel *c, struct server *s,
			const struct endpoint *ep, char *err, size_t errlen)
{
	c->srv = s;
	c->listen_fd = c->conn_fd = -1;
	c->wake[0] = c->wake[1] = -1;
	if (ep)
		c->ep = *ep; /* a data channel without --server may still end us */
	if (!ep || ep->type == ENDPOINT_NONE)
		return 0;
	if (pipe2(c->wake, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if (ep->conn_fd >= 0) {
		c->conn_fd = ep->conn_fd; /* connected already: no listener */
		return 0;
	}
	if (ep->fd >= 0)
		c->listen_fd = ep->fd;
	else if (ep->type == ENDPOINT_UNIX)
		c->listen_fd = listen_unix(ep, err, errlen);
	else
		c->listen_fd = listen_tcp(ep, err, errlen);
	return c->listen_fd < 0 ? -1 : 0;
}

static void close_conn(struct channel *c)
{
	if (c->conn_fd >= 0)
		close(c->conn_fd);
	c->conn_fd = -1;
	c->in_len = 0;
}

/* Takes the data socket QEMU handed over (CMD_SET_DATAFD) as the client. */
static void adopt_handed_fd(struct channel *c)
{
	struct server *s = c->srv;

	pthread_mutex_lock(&s->lock);
	close_conn(c);
	c->conn_fd = s->handed_fd; /* QEMU's socketpair end */
	s->handed_fd = -1;
	pthread_mutex_unlock(&s->lock);
}

/* Ends the client's connection; under the lock hand_over_datafd reads. */
static void drop_conn(struct channel *c)
{
	pthread_mutex_lock(&c->srv->lock);
	close_conn(c);
	pthread_mutex_unlock(&c->srv->lock);
}

/*
 * Waits for the next event: a new client (accepted when none is served),
 * a request from the client, or a wake-up: 'd' hands a data socket over,
 * any other byte stops the thread.  Returns the fd that is ready, or -1
 * when the thread should stop.
 */
static int channel_wait(struct channel *c)
{
	struct pollfd p[2] = { { .fd = c->wake[0], .events = POLLIN } };
	char why;
	int n;

	for (;;) {
		p[1].fd = c->conn_fd >= 0 ? c->conn_fd : c->listen_fd;
		p[1].events = POLLIN;
		/* bytes read ahead are served at once, after a look for a stop */
		n = poll(p, p[1].fd >= 0 ? 2 : 1, c->in_len ? 0 : -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return c->conn_fd;
		if (p[0].revents & POLLIN) {
			if (read(c->wake[0], &why, 1) != 1 || why != 'd')
				return -1;
			adopt_handed_fd(c);
			continue;
		}
		if (c->conn_fd >= 0)
			return c->conn_fd;
		c->conn_fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c->conn_fd < 0 && errno != EINTR && errno != ECONNABORTED)
			log_warn("accept: %s", strerror(errno));
	}
}

/*
 * A channel's thread: serves its client one request at a time until the
 * server stops; a client that leaves (or is cut off) ends the process with
 * --terminate, as in swtpm.
 */
static void channel_loop(struct channel *c, int (*serve)(struct channel *c),
			 const char *what)
{
	while (channel_wait(c) >= 0) {
		if (serve(c) == 0)
			continue;
		drop_conn(c);
		if (c->ep.terminate) {
			log_info("%s client left: terminating", what);
			c->srv->exit_fn(c->srv->exit_ctx);
			break;
		}
	}
}

/* ---- control ---------------------------------------------------------- */

static ptm_res hand_over_datafd(void *ctx, int fd)
{
	struct server *s = ctx;
	ptm_res res = TPM_SUCCESS;

	pthread_mutex_lock(&s->lock);
	if (s->handed_fd >= 0 || s->data.conn_fd >= 0 || !s->data.running)
		res = TPM_IOERROR; /* one data channel, handed over once */
	else
		s->handed_fd = fd;
	pthread_mutex_unlock(&s->lock);
	if (res == TPM_SUCCESS && write(s->data.wake[1], "d", 1) != 1)
		res = TPM_IOERROR;
	return res;
}

static int serve_control(struct channel *c)
{
	const struct ctrl_ops ops = { .set_datafd = hand_over_datafd,
				      .ctx = c->srv, .stop_fd = c->wake[0] };

	return ctrl_serve_one(c->srv->vtpm, c->conn_fd, &ops);
}

static void *ctrl_thread(void *arg)
{
	channel_loop(arg, serve_control, "control");
	return NULL;
}

/* ---- data ------------------------------------------------------------- */

/* Reads until @want bytes are in: one recv() when the client keeps up. */
static int fill_by(struct channel *c, size_t want, struct io_deadline *by)
{
	while (c->in_len < want) {
		ssize_t n = io_read_some_by(c->conn_fd, c->in + c->in_len,
					    sizeof(c->in) - c->in_len, by);

		if (n < 0)
			return -1;
		c->in_len += (size_t)n;
	}
	return 0;
}

/*
 * One command in, one response out; -1 closes the connection.  The command
 * is read in one go where it arrived so (bytes of the next one wait in the
 * channel), and must arrive, and its response be taken, within a deadline:
 * a client that stalls or stops reading loses the connection, and a
 * stopping server gives up on it at once.
 */
static int serve_command(struct channel *c)
{
	struct server *s = c->srv;
	uint8_t resp[VTPM_IO_MAX];
	struct io_deadline by;
	uint32_t size;
	int n;

	io_deadline_from_first_wait(&by, SERVER_DATA_DEADLINE_MS, c->wake[0]);
	if (fill_by(c, 6, &by) < 0)
		return -1;
	size = tpm_header_size(c->in);
	if (size < TPM_HEADER_SIZE || size > vtpm_max_command(s->vtpm) ||
	    size > sizeof(c->in)) {
		log_warn_limited("data: refusing a command of %u bytes", size);
		return -1; /* no way to find the next command's start */
	}
	if (fill_by(c, size, &by) < 0)
		return -1;
	n = vtpm_execute(s->vtpm, c->in, size, resp, sizeof(resp));
	c->in_len -= size;
	memmove(c->in, c->in + size, c->in_len);
	io_deadline_from_first_wait(&by, SERVER_DATA_DEADLINE_MS, c->wake[0]);
	if (n < 0 || io_write_by(c->conn_fd, resp, (size_t)n, &by) < 0)
		return -1;
	return c->ep.disconnect ? -1 : 0;
}

static void *data_thread(void *arg)
{
	channel_loop(arg, serve_command, "data");
	return NULL;
}

/* ---- life cycle --------------------------------------------------------- */

struct server *server_new(const struct endpoint *ctrl,
			  const struct endpoint *data, char *err,
			  size_t errlen)
{
	struct server *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->handed_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	if (channel_init(&s->ctrl, s, ctrl, err, errlen) < 0 ||
	    channel_init(&s->data, s, data, err, errlen) < 0) {
		server_free(s);
		return NULL;
	}
	/* a data channel exists even without --server: SET_DATAFD feeds it */
	if (s->data.wake[0] < 0 && pipe2(s->data.wake, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		server_free(s);
		return NULL;
	}
	return s;
}

static int channel_start(struct channel *c, void *(*fn)(void *))
{
	sigset_t all, old;
	int err;

	if (c->wake[0] < 0)
		return 0;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&c->thread, NULL, fn, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	c->running = err == 0;
	return err ? -err : 0;
}

int server_start(struct server *s, struct vtpm *v, server_exit_fn exit_fn,
		 void *exit_ctx)
{
	int rc;

	s->vtpm = v;
	s->exit_fn = exit_fn;
	s->exit_ctx = exit_ctx;
	rc = channel_start(&s->data, data_thread);
	if (rc == 0 && (s->ctrl.listen_fd >= 0 || s->ctrl.conn_fd >= 0))
		rc = channel_start(&s->ctrl, ctrl_thread);
	return rc;
}

static void channel_stop(struct channel *c)
{
	if (c->running) {
		if (write(c->wake[1], "q", 1) != 1)
			log_warn("cannot stop a channel thread");
		pthread_join(c->thread, NULL);
		c->running = false;
	}
	close_conn(c);
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		if (c->ep.type == ENDPOINT_UNIX && c->ep.fd < 0)
			unlink(c->ep.path);
	}
	if (c->wake[0] >= 0) {
		close(c->wake[0]);
		close(c->wake[1]);
	}
	c->listen_fd = c->wake[0] = c->wake[1] = -1;
}

void server_free(struct server *s)
{
	if (!s)
		return;
	channel_stop(&s->ctrl);
	channel_stop(&s->data);
	if (s->handed_fd >= 0)
		close(s->handed_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
