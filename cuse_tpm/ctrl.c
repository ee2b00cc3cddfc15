/* SPDX-License-Identifier: BSD-3-Clause */
#include "ctrl.h"

#include "byteorder.h"
#include "client.h"
#include "crypt.h"
#include "io.h"
#include "log.h"

#include <errno.h>
#include <libtpms/tpm_error.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The largest body a request carries before any streamed part. */
#define CTRL_BODY_MAX 4096

/* Descriptors one request may carry: room to take (and close) them all. */
#define CTRL_MAX_FDS 16

struct request {
	uint32_t cmd;
	uint8_t buf[4 + CTRL_BODY_MAX];
	size_t got;    /* bytes in buf, the code included */
	int passed_fd; /* from SCM_RIGHTS, or -1 */
	/* from the request's first byte: its fixed part, then all of it */
	struct io_deadline fixed, whole;
};

/* The fixed part of each request's body (the client's table says); what
 * follows is streamed. */
static size_t body_needed(uint32_t cmd)
{
	return ctrl_req_size(cmd);
}

static bool known_command(uint32_t cmd)
{
	return cmd >= CMD_GET_CAPABILITY && cmd <= CMD_LOCK_STORAGE;
}

/*
 * Keeps the descriptor a request carries (CMD_SET_DATAFD) and closes every
 * other one: a client may pass any number, in any number of messages.
 */
static void take_fds(struct msghdr *msg, struct request *r)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		size_t i, n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (r->passed_fd < 0)
				r->passed_fd = fd;
			else
				close(fd);
		}
	}
}

/*
 * First read: at most the code, so that whatever follows the request stays
 * in the socket for the next one; also takes the descriptors passed along.
 * (Later reads are plain read()s, on which the kernel drops descriptors.)
 */
static ssize_t recv_first(int fd, struct request *r)
{
	union {
		char buf[CMSG_SPACE(CTRL_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = r->buf, .iov_len = 4 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	ssize_t n;

	do
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		take_fds(&msg, r);
	return n;
}

/*
 * ptm_loc and ptm_reset_est are 4 bytes, of which the request uses one:
 * swtpm_ioctl sends the byte, QEMU the whole struct.  Three more bytes that
 * came with it are that struct's padding unless they begin the next request
 * (a client that queues requests without waiting for replies).
 */
static void skip_padding(int fd, struct request *r)
{
	uint8_t peek[8];
	ssize_t n;

	if (r->cmd != CMD_SET_LOCALITY && r->cmd != CMD_RESET_TPMESTABLISHED)
		return;
	do
		n = recv(fd, peek, sizeof(peek), MSG_PEEK | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 3 || (n >= 4 && known_command(get_be32(peek))))
		return;
	if (recv(fd, peek, 3, MSG_DONTWAIT) != 3)
		log_debug("control: padding vanished");
}

/*
 * Reads a request's code and fixed body, and nothing after them.  0 on
 * success, -1 if the peer closed or failed or the server stops, -2 if the
 * peer stalled mid-request.
 */
static int recv_request(int fd, struct request *r, int stop_fd)
{
	ssize_t n;
	int rc;

	r->got = 0;
	r->passed_fd = -1;
	n = recv_first(fd, r);
	if (n <= 0)
		return -1;
	/* one deadline per request, from its first byte: a drip is cut off */
	io_deadline_set(&r->fixed, CTRL_RECV_DEADLINE_MS, stop_fd);
	io_deadline_set(&r->whole, CTRL_REQUEST_DEADLINE_MS, stop_fd);
	r->got = (size_t)n;
	rc = io_read_by(fd, r->buf + r->got, 4 - r->got, &r->fixed);
	if (rc == 0) {
		r->cmd = get_be32(r->buf);
		r->got = 4;
		rc = io_read_by(fd, r->buf + 4, body_needed(r->cmd), &r->fixed);
	}
	if (rc == -ETIMEDOUT) {
		log_warn_limited("control: request incomplete after %d ms",
				 CTRL_RECV_DEADLINE_MS);
		return -2;
	}
	if (rc < 0)
		return -1;
	r->got = 4 + body_needed(r->cmd);
	skip_padding(fd, r);
	return 0;
}

static size_t reply_result(uint8_t *out, ptm_res res)
{
	put_be32(out, res);
	return 4;
}

static size_t handle_get_stateblob(struct vtpm *v, const uint8_t *body,
				   uint8_t **blob_out, uint32_t *blob_len,
				   uint8_t *out)
{
	uint32_t flags = get_be32(body), type = get_be32(body + 4);
	uint32_t offset = get_be32(body + 8), len = 0, oflags = 0, left;
	uint8_t *blob = NULL;
	ptm_res res;

	res = vtpm_get_stateblob(v, type, flags, &blob, &len, &oflags);
	if (res == TPM_BAD_ORDINAL)
		return reply_result(out, res); /* not running: swtpm's short form */
	left = res == 0 && offset < len ? len - offset : 0;
	put_be32(out, res);
	put_be32(out + 4, oflags);
	put_be32(out + 8, left);
	put_be32(out + 12, left);
	if (left) {
		memmove(blob, blob + offset, left);
		*blob_out = blob;
		*blob_len = len;
	} else {
		wipe_free(blob, len);
	}
	return 16;
}

size_t ctrl_handle(struct vtpm *v, uint32_t cmd, const uint8_t *body,
		   size_t len, uint8_t *out)
{
	ptm_res res;

	if (len < body_needed(cmd))
		return reply_result(out, TPM_BAD_PARAMETER);
	switch (cmd) {
	case CMD_GET_CAPABILITY: {
		uint64_t caps = vtpm_get_capability(v) | PTM_CAP_SET_DATAFD;

		/* QEMU reads these 8 bytes as one big-endian word */
		put_be32(out, (uint32_t)(caps >> 32));
		put_be32(out + 4, (uint32_t)caps);
		return 8;
	}
	case CMD_INIT:
		return reply_result(out, len != 4 ? TPM_BAD_PARAMETER
						  : vtpm_init(v, get_be32(body)));
	case CMD_SHUTDOWN:
		return reply_result(out, vtpm_shutdown(v));
	case CMD_GET_TPMESTABLISHED: {
		uint8_t bit = 0;

		res = vtpm_get_established(v, &bit);
		if (res)
			return reply_result(out, res);
		memset(out, 0, 8);
		out[4] = bit;
		return 8;
	}
	case CMD_SET_LOCALITY:
		return reply_result(out, vtpm_set_locality(v, body[0]));
	case CMD_HASH_START:
		return reply_result(out, vtpm_hash_start(v));
	case CMD_HASH_END:
		return reply_result(out, vtpm_hash_end(v));
	case CMD_CANCEL_TPM_CMD:
		return reply_result(out, vtpm_cancel(v));
	case CMD_STORE_VOLATILE:
		return reply_result(out, vtpm_store_volatile(v));
	case CMD_RESET_TPMESTABLISHED:
		return reply_result(out, vtpm_reset_established(v, body[0]));
	case CMD_STOP:
		return reply_result(out, vtpm_stop(v));
	case CMD_GET_CONFIG: {
		uint32_t flags = 0;

		res = vtpm_get_config(v, &flags);
		put_be32(out, res);
		put_be32(out + 4, flags);
		return 8;
	}
	case CMD_SET_BUFFERSIZE: {
		uint32_t actual, min, max;

		res = vtpm_set_buffersize(v, get_be32(body), &actual, &min, &max);
		if (res)
			return reply_result(out, res);
		put_be32(out, res);
		put_be32(out + 4, actual);
		put_be32(out + 8, min);
		put_be32(out + 12, max);
		return 16;
	}
	case CMD_GET_INFO: {
		uint32_t total, n;

		res = vtpm_get_info_window(v, get_be64(body), get_be32(body + 8),
					   (char *)out + 12,
					   PTM_GETINFO_BUFFER_SIZE, &n, &total);
		if (res)
			return reply_result(out, res);
		put_be32(out, 0);
		put_be32(out + 4, total);
		put_be32(out + 8, n);
		return 12 + n;
	}
	case CMD_LOCK_STORAGE:
		return reply_result(out, vtpm_lock_storage(v, get_be32(body)));
	default:
		log_warn_limited("control: unknown command 0x%x", cmd);
		return reply_result(out, TPM_BAD_ORDINAL);
	}
}

/* Hashes what came with the request, then the rest from the stream. */
static int stream_hash_data(struct vtpm *v, int fd, struct request *r,
			    ptm_res *res)
{
	uint32_t remain = get_be32(r->buf + 4);
	uint8_t chunk[CTRL_BODY_MAX];

	*res = remain ? TPM_SUCCESS : vtpm_hash_data(v, chunk, 0);
	while (remain) {
		size_t n = remain < sizeof(chunk) ? remain : sizeof(chunk);

		/* the data is read even after a failure: the stream stays in step */
		if (io_read_by(fd, chunk, n, &r->whole) < 0) {
			*res = TPM_IOERROR;
			return -1;
		}
		if (*res == TPM_SUCCESS)
			*res = vtpm_hash_data(v, chunk, (uint32_t)n);
		remain -= (uint32_t)n;
	}
	return 0;
}

/* The header carries the blob's total length; the blob follows. */
static int stream_set_stateblob(struct vtpm *v, int fd, struct request *r,
				ptm_res *res)
{
	uint32_t flags = get_be32(r->buf + 4), type = get_be32(r->buf + 8);
	uint32_t total = get_be32(r->buf + 12);
	uint8_t *blob;

	if (total > VTPM_MAX_BLOB) {
		/* the stream cannot be trusted to resynchronise: close it */
		*res = TPM_BAD_PARAMETER;
		return -1;
	}
	blob = malloc(total ? total : 1);
	if (!blob) {
		*res = TPM_SIZE;
		return -1;
	}
	if (io_read_by(fd, blob, total, &r->whole) < 0) {
		wipe_free(blob, total);
		*res = TPM_IOERROR;
		return -1;
	}
	*res = vtpm_set_stateblob(v, type, flags, blob, total);
	wipe_free(blob, total); /* a decrypted blob is the TPM's secrets */
	return 0;
}

int ctrl_serve_one(struct vtpm *v, int fd, const struct ctrl_ops *ops)
{
	static const uint8_t none[1];
	struct request *r = malloc(sizeof(*r));
	uint8_t out[CTRL_REPLY_MAX], *blob = NULL;
	uint32_t blob_len = 0;
	struct io_deadline send_by;
	size_t out_len;
	int keep = 0;
	ptm_res res;

	if (!r)
		return -1;
	keep = recv_request(fd, r, ops->stop_fd);
	if (keep < 0) {
		/* a stalled request gets swtpm's answer; the stream is lost */
		io_deadline_set(&send_by, CTRL_RECV_DEADLINE_MS, ops->stop_fd);
		if (keep == -2)
			io_write_by(fd, out, reply_result(out, TPM_BAD_PARAMETER),
				    &send_by);
		if (r->passed_fd >= 0)
			close(r->passed_fd);
		free(r);
		return -1;
	}
	log_debug("control: command 0x%x, %zu bytes", r->cmd, r->got - 4);
	switch (r->cmd) {
	case CMD_HASH_DATA:
		keep = stream_hash_data(v, fd, r, &res);
		out_len = reply_result(out, res);
		break;
	case CMD_SET_STATEBLOB:
		keep = stream_set_stateblob(v, fd, r, &res);
		out_len = reply_result(out, res);
		break;
	case CMD_SET_DATAFD:
		if (r->passed_fd < 0) {
			res = TPM_BAD_PARAMETER;
		} else {
			res = ops->set_datafd(ops->ctx, r->passed_fd);
			if (res)
				close(r->passed_fd);
			r->passed_fd = -1;
		}
		out_len = reply_result(out, res);
		break;
	case CMD_GET_STATEBLOB:
		out_len = handle_get_stateblob(v, r->buf + 4, &blob, &blob_len,
					       out);
		break;
	default:
		out_len = ctrl_handle(v, r->cmd, r->got > 4 ? r->buf + 4 : none,
				      r->got - 4, out);
		break;
	}
	if (r->passed_fd >= 0)
		close(r->passed_fd); /* a descriptor nobody asked for */
	log_debug("control: reply of %zu bytes, result 0x%x", out_len,
		  out_len >= 4 ? get_be32(out) : 0);
	/* a peer that does not read its reply is cut off, as one that stalls */
	io_deadline_set(&send_by, CTRL_REQUEST_DEADLINE_MS, ops->stop_fd);
	if (io_write_by(fd, out, out_len, &send_by) < 0 ||
	    (blob && io_write_by(fd, blob, get_be32(out + 12), &send_by) < 0)) {
		log_warn_limited("control: the client does not take its reply");
		keep = -1;
	}
	if (blob)
		wipe_free(blob, blob_len);
	free(r);
	return keep;
}
