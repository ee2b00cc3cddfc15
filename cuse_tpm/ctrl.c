/* SPDX-License-Identifier: BSD-3-Clause */
#include "ctrl.h"

#include "byteorder.h"
#include "client.h"
#include "io.h"
#include "log.h"

#include <errno.h>
#include <libtpms/tpm_error.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The largest body a request carries before any streamed part. */
#define CTRL_BODY_MAX 4096

struct request {
	uint32_t cmd;
	uint8_t buf[4 + CTRL_BODY_MAX];
	size_t got;    /* bytes in buf, the code included */
	int passed_fd; /* from SCM_RIGHTS, or -1 */
};

/* The fixed part of each request's body (the client's table says); what
 * follows is streamed. */
static size_t body_needed(uint32_t cmd)
{
	return ctrl_req_size(cmd);
}

/* Waits for @fd to be readable until @deadline: 1, 0 on timeout, -1. */
static int wait_readable(int fd, const struct timespec *deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	long left = io_ms_left(deadline);
	int n;

	if (left <= 0)
		return 0;
	do
		n = poll(&p, 1, (int)left);
	while (n < 0 && errno == EINTR);
	return n;
}

/* First read: also takes a descriptor passed along (CMD_SET_DATAFD). */
static ssize_t recv_first(int fd, struct request *r)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = r->buf, .iov_len = sizeof(r->buf) };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control,
		.msg_controllen = sizeof(control),
	};
	struct cmsghdr *c;
	ssize_t n;

	do
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	for (c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL; c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len >= CMSG_LEN(sizeof(int)))
			memcpy(&r->passed_fd, CMSG_DATA(c), sizeof(int));
	return n;
}

/*
 * Reads a request's code and fixed body, and whatever else arrived with
 * them.  0 on success, -1 if the peer closed or failed, -2 if it stalled
 * mid-request.
 */
static int recv_request(int fd, struct request *r)
{
	struct timespec deadline;
	size_t needed = 4;
	ssize_t n;

	r->got = 0;
	r->passed_fd = -1;
	n = recv_first(fd, r);
	if (n <= 0)
		return -1;
	io_deadline_in(&deadline, CTRL_RECV_DEADLINE_MS);
	r->got = (size_t)n;
	for (;;) {
		if (r->got >= 4) {
			r->cmd = get_be32(r->buf);
			needed = 4 + body_needed(r->cmd);
		}
		if (r->got >= needed)
			return 0;
		if (wait_readable(fd, &deadline) <= 0) {
			log_warn("control: request 0x%x incomplete after %d ms",
				 r->got >= 4 ? r->cmd : 0, CTRL_RECV_DEADLINE_MS);
			return -2;
		}
		n = read(fd, r->buf + r->got, sizeof(r->buf) - r->got);
		if (n <= 0)
			return -1;
		r->got += (size_t)n;
	}
}

/* Reads exactly @len bytes, each part within the request deadline. */
static int read_exact(int fd, uint8_t *p, size_t len)
{
	struct timespec deadline;

	while (len) {
		ssize_t n;

		io_deadline_in(&deadline, CTRL_RECV_DEADLINE_MS);
		if (wait_readable(fd, &deadline) <= 0)
			return -1;
		n = read(fd, p, len);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static size_t reply_result(uint8_t *out, ptm_res res)
{
	put_be32(out, res);
	return 4;
}

static size_t handle_get_stateblob(struct vtpm *v, const uint8_t *body,
				   uint8_t **blob_out, uint8_t *out)
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
	} else {
		free(blob);
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
		log_warn("control: unknown command 0x%x", cmd);
		return reply_result(out, TPM_BAD_ORDINAL);
	}
}

/* Hashes what came with the request, then the rest from the stream. */
static ptm_res stream_hash_data(struct vtpm *v, int fd, const struct request *r)
{
	uint32_t remain = get_be32(r->buf + 4);
	size_t have = r->got - 8;
	uint8_t chunk[CTRL_BODY_MAX];
	ptm_res res;

	if (have > remain)
		return TPM_BAD_PARAMETER;
	res = vtpm_hash_data(v, r->buf + 8, (uint32_t)have);
	remain -= (uint32_t)have;
	while (res == TPM_SUCCESS && remain) {
		size_t n = remain < sizeof(chunk) ? remain : sizeof(chunk);

		if (read_exact(fd, chunk, n) < 0)
			return TPM_IOERROR;
		res = vtpm_hash_data(v, chunk, (uint32_t)n);
		remain -= (uint32_t)n;
	}
	return res;
}

/* The header carries the blob's total length; the blob follows. */
static int stream_set_stateblob(struct vtpm *v, int fd, const struct request *r,
				ptm_res *res)
{
	uint32_t flags = get_be32(r->buf + 4), type = get_be32(r->buf + 8);
	uint32_t total = get_be32(r->buf + 12);
	size_t have = r->got - 16;
	uint8_t *blob;

	if (total > VTPM_MAX_BLOB || have > total) {
		/* the stream cannot be trusted to resynchronise: close it */
		*res = TPM_BAD_PARAMETER;
		return -1;
	}
	blob = malloc(total ? total : 1);
	if (!blob) {
		*res = TPM_SIZE;
		return -1;
	}
	memcpy(blob, r->buf + 16, have);
	if (read_exact(fd, blob + have, total - have) < 0) {
		free(blob);
		*res = TPM_IOERROR;
		return -1;
	}
	*res = vtpm_set_stateblob(v, type, flags, blob, total);
	free(blob);
	return 0;
}

int ctrl_serve_one(struct vtpm *v, int fd, const struct ctrl_ops *ops)
{
	static const uint8_t none[1];
	struct request *r = malloc(sizeof(*r));
	uint8_t out[CTRL_REPLY_MAX], *blob = NULL;
	size_t out_len;
	int keep = 0;
	ptm_res res;

	if (!r)
		return -1;
	keep = recv_request(fd, r);
	if (keep < 0) {
		/* a stalled request gets swtpm's answer; the stream is lost */
		if (keep == -2)
			io_write_all(fd, out, reply_result(out, TPM_BAD_PARAMETER));
		if (r->passed_fd >= 0)
			close(r->passed_fd);
		free(r);
		return -1;
	}
	log_debug("control: command 0x%x, %zu bytes", r->cmd, r->got - 4);
	switch (r->cmd) {
	case CMD_HASH_DATA:
		out_len = reply_result(out, stream_hash_data(v, fd, r));
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
		out_len = handle_get_stateblob(v, r->buf + 4, &blob, out);
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
	if (io_write_all(fd, out, out_len) < 0 ||
	    (blob && io_write_all(fd, blob, get_be32(out + 12)) < 0))
		keep = -1;
	free(blob);
	free(r);
	return keep;
}
