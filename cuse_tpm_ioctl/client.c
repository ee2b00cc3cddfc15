/* SPDX-License-Identifier: BSD-3-Clause */
#include "client.h"

#include "byteorder.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <libtpms/tpm_error.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * clang-tidy's insecureAPI check wants C11 Annex K (memcpy_s, snprintf_s,
 * ...) for every memcpy/memset/snprintf; glibc has no Annex K, and each
 * call here is bounded by a sizeof, so the check is off for this file.
 */
/* NOLINTBEGIN(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */

/* ------------------------------------------------------------------------ */
/* The control operations */

/* a reply that is only the result word */
#define RESULT_LEN sizeof(ptm_res)

#define OP(id, cap_bit, need_, reqsz, reqf, respsz, respf, ...)           \
	OPX(id, "PTM_" #id, cap_bit, need_, reqsz, reqf, respsz, respf,   \
	    __VA_ARGS__)
#define OPX(id, exec, cap_bit, need_, reqsz, reqf, respsz, respf, ...)    \
	[CTRL_##id] = {.name = "PTM_" #id, .exec_name = (exec),            \
		       .ioctl_nr = PTM_##id, .cmd = CMD_##id,              \
		       .cap = (cap_bit), .need = CTRL_NEED_##need_,        \
		       .req_size = (reqsz), .req_fields = (reqf),          \
		       .resp_size = (respsz), .resp_fields = (respf),      \
		       __VA_ARGS__}

const struct ctrl_op ctrl_op_table[CTRL_OP_COUNT] = {
	/* The socket answers with {result, caps}; read as one 64-bit word it
	 * gives the device's ptm_cap value, which is how swtpm_ioctl (and
	 * QEMU) read it too. */
	OP(GET_CAPABILITY, 0, NOTHING, 0, "", sizeof(ptm_cap), "q",
	   .no_result = true),
	OP(INIT, PTM_CAP_INIT, NOTHING, 4, "w", RESULT_LEN, "w"),
	OP(SHUTDOWN, PTM_CAP_SHUTDOWN, NOTHING, 0, "", RESULT_LEN, "w"),
	OPX(GET_TPMESTABLISHED, "PTM_GET_ESTABLISHED",
	    PTM_CAP_GET_TPMESTABLISHED, RUNNING,
	    0, "", sizeof(struct ptm_est), "wb"),
	OP(SET_LOCALITY, PTM_CAP_SET_LOCALITY, NOTHING, 1, "b", RESULT_LEN, "w"),
	OPX(HASH_START, "ioctl PTM_HASH_START", PTM_CAP_HASHING, RUNNING,
	    0, "", RESULT_LEN, "w"),
	/* the data follow the length word */
	OPX(HASH_DATA, "ioctl PTM_HASH_DATA", PTM_CAP_HASHING, RUNNING,
	    4, "w", RESULT_LEN, "w"),
	OPX(HASH_END, "ioctl PTM_HASH_END", PTM_CAP_HASHING, RUNNING,
	    0, "", RESULT_LEN, "w"),
	OP(CANCEL_TPM_CMD, PTM_CAP_CANCEL_TPM_CMD, RUNNING,
	   0, "", RESULT_LEN, "w"),
	OP(STORE_VOLATILE, PTM_CAP_STORE_VOLATILE, RUNNING,
	   0, "", RESULT_LEN, "w"),
	OPX(RESET_TPMESTABLISHED, "PTM_RESET_ESTABLISHED",
	    PTM_CAP_RESET_TPMESTABLISHED, RUNNING, 1, "b", RESULT_LEN, "w"),
	/* The blob follows the reply header; see sock_get_blob(). */
	OPX(GET_STATEBLOB, "ioctl PTM_GET_STATEBLOB", PTM_CAP_GET_STATEBLOB,
	    RUNNING, 12, "www",
	    offsetof(struct ptm_getstate, u.resp.data), "wwww"),
	/* on a socket the whole blob follows the header */
	OPX(SET_STATEBLOB, "ioctl PTM_SET_STATEBLOB", PTM_CAP_SET_STATEBLOB,
	    STOPPED, 12, "www", RESULT_LEN, "w"),
	OP(STOP, PTM_CAP_STOP, NOTHING, 0, "", RESULT_LEN, "w"),
	OP(GET_CONFIG, PTM_CAP_GET_CONFIG, NOTHING, 0, "",
	   sizeof(struct ptm_getconfig), "ww"),
	OP(SET_BUFFERSIZE, PTM_CAP_SET_BUFFERSIZE, STOPPED, 4, "w",
	   sizeof(struct ptm_setbuffersize), "wwww"),
	OP(GET_INFO, PTM_CAP_GET_INFO, NOTHING, 16, "qww",
	   offsetof(struct ptm_getinfo, u.resp.buffer), "www",
	   .resp_len_at = offsetof(struct ptm_getinfo, u.resp.length)),
	OP(LOCK_STORAGE, PTM_CAP_LOCK_STORAGE, NOTHING, 4, "w", RESULT_LEN, "w"),
};

size_t ctrl_req_size(uint32_t cmd)
{
	for (size_t i = 0; i < CTRL_OP_COUNT; i++)
		if (ctrl_op_table[i].cmd == cmd)
			return ctrl_op_table[i].req_size;
	return 0;
}

bool ctrl_res_is_error(uint32_t res)
{
	return res != TPM_SUCCESS && !(res & TPM_NON_FATAL);
}

/*
 * Converts the fields of a socket message between host order and big
 * endian, in place, within the first len bytes.
 */
static void swap_fields(void *msg, size_t len, const char *fields,
			bool to_wire)
{
	uint8_t *p = msg;
	size_t off = 0;

	for (; *fields; fields++) {
		uint32_t w;
		uint64_t q;

		switch (*fields) {
		case 'w':
			if (off + sizeof(w) > len)
				return;
			if (to_wire) {
				memcpy(&w, p + off, sizeof(w));
				put_be32(p + off, w);
			} else {
				w = get_be32(p + off);
				memcpy(p + off, &w, sizeof(w));
			}
			off += sizeof(w);
			break;
		case 'q':
			if (off + sizeof(q) > len)
				return;
			if (to_wire) {
				memcpy(&q, p + off, sizeof(q));
				put_be32(p + off, (uint32_t)(q >> 32));
				put_be32(p + off + 4, (uint32_t)q);
			} else {
				q = get_be64(p + off);
				memcpy(p + off, &q, sizeof(q));
			}
			off += sizeof(q);
			break;
		default: /* 'b' */
			off++;
			break;
		}
	}
}

/* The first word of a host-order reply: the TPM result. */
static uint32_t host_u32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* ------------------------------------------------------------------------ */
/* State blobs in memory */

static int blob_reserve(struct client_blob *b, size_t extra)
{
	uint8_t *p;

	if (extra > CLIENT_MAX_BLOB - b->len)
		return -EFBIG;
	/* never realloc(p, 0): an empty blob still gets a buffer */
	p = realloc(b->data, (b->len + extra) ? (b->len + extra) : 1);
	if (!p)
		return -ENOMEM;
	b->data = p;
	return 0;
}

int client_blob_append(struct client_blob *b, const void *data, size_t len)
{
	int err = blob_reserve(b, len);

	if (err)
		return err;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The character device: host-order structs straight into ioctl() */

static int dev_call(struct client *c, const struct ctrl_op *op, void *msg,
		    size_t req_len, size_t msg_size)
{
	(void)req_len;
	(void)msg_size;
	/* Restricted CUSE ioctls copy exactly _IOC_SIZE bytes: msg is the
	 * whole struct, whatever part of it the request uses. */
	if (ioctl(c->fd, op->ioctl_nr, msg) < 0)
		return -errno;
	return 0;
}

/* Continues a GET_STATEBLOB through read(), in rw_chunk pieces. */
static int dev_read_rest(struct client *c, struct client_blob *out,
			 size_t total)
{
	int err = blob_reserve(out, total - out->len);

	if (err)
		return err;
	while (out->len < total) {
		size_t want = min_size(c->rw_chunk, total - out->len);
		ssize_t n = io_read_upto(c->fd, out->data + out->len, want);

		if (n < 0)
			return (int)n;
		out->len += (size_t)n;
		if ((size_t)n < want)
			return -EPROTO; /* the blob ended early */
	}
	return 0;
}

static int dev_get_blob(struct client *c, uint32_t type,
			struct client_blob *out, uint32_t *res)
{
	const struct ctrl_op *op = &ctrl_op_table[CTRL_GET_STATEBLOB];
	uint32_t offset = 0; /* 32 bits: blobs may exceed 64 KiB */

	for (;;) {
		struct ptm_getstate pgs;
		uint32_t len, total;
		int err;

		memset(&pgs, 0, sizeof(pgs));
		pgs.u.req.state_flags = PTM_STATE_FLAG_DECRYPTED;
		pgs.u.req.type = type;
		pgs.u.req.offset = offset;
		err = dev_call(c, op, &pgs, op->req_size, sizeof(pgs));
		if (err)
			return err;
		*res = pgs.u.resp.tpm_result;
		if (ctrl_res_is_error(*res))
			return 0;

		len = (uint32_t)min_size(pgs.u.resp.length,
					 sizeof(pgs.u.resp.data));
		total = pgs.u.resp.totlength;
		err = client_blob_append(out, pgs.u.resp.data, len);
		if (err)
			return err;
		if ((uint64_t)offset + len >= total)
			return 0;
		if (len == 0)
			return -EPROTO; /* no progress: would loop forever */
		if (c->rw_chunk)
			return dev_read_rest(c, out, total);
		offset += len;
	}
}

static int dev_set_chunk(struct client *c, uint32_t type, const uint8_t *data,
			 uint32_t len, uint32_t *res)
{
	const struct ctrl_op *op = &ctrl_op_table[CTRL_SET_STATEBLOB];
	struct ptm_setstate pss;
	int err;

	memset(&pss, 0, sizeof(pss));
	pss.u.req.state_flags = 0; /* plaintext: get_blob asked for DECRYPTED */
	pss.u.req.type = type;
	pss.u.req.length = len;
	if (len)
		memcpy(pss.u.req.data, data, len);
	err = dev_call(c, op, &pss, op->req_size + len, sizeof(pss));
	if (err)
		return err;
	*res = pss.u.resp.tpm_result;
	return 0;
}

static int dev_set_blob(struct client *c, uint32_t type,
			const struct client_blob *in, uint32_t *res)
{
	size_t off = 0;
	int err;

	if (c->rw_chunk) {
		/* An empty chunk opens the write() stream, another closes it. */
		err = dev_set_chunk(c, type, NULL, 0, res);
		if (err || *res)
			return err;
		for (; off < in->len; off += c->rw_chunk) {
			err = io_write_all(c->fd, in->data + off,
					   min_size(c->rw_chunk, in->len - off));
			if (err)
				return err;
		}
		return dev_set_chunk(c, type, NULL, 0, res);
	}

	/* The first chunk shorter than PTM_STATE_BLOB_CHUNK ends the
	 * transfer, so an exact multiple gets a final empty chunk. */
	for (;;) {
		uint32_t len = (uint32_t)min_size(PTM_STATE_BLOB_CHUNK,
						  in->len - off);

		err = dev_set_chunk(c, type, in->data + off, len, res);
		if (err || *res)
			return err;
		off += len;
		if (len < PTM_STATE_BLOB_CHUNK)
			return 0;
	}
}

const struct client_transport client_device = {
	.call = dev_call,
	.get_blob = dev_get_blob,
	.set_blob = dev_set_blob,
};

/* ------------------------------------------------------------------------ */
/* The socket control channel: big-endian CMD_* messages */

static int sock_send(struct client *c, const struct ctrl_op *op, void *req,
		     size_t req_len, const struct client_blob *tail)
{
	uint8_t cmd[4];
	struct iovec iov[3] = {
		{.iov_base = cmd, .iov_len = sizeof(cmd)},
		{.iov_base = req, .iov_len = req_len},
		{.iov_base = tail ? tail->data : NULL,
		 .iov_len = tail ? tail->len : 0},
	};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 3};

	/* The server reads a request with one read(), so it goes out in one
	 * sendmsg(); MSG_NOSIGNAL turns a dead peer into EPIPE. */
	put_be32(cmd, op->cmd);
	swap_fields(req, req_len, op->req_fields, true);
	while (mh.msg_iovlen > 0) {
		ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		while (mh.msg_iovlen > 0 && (size_t)n >= mh.msg_iov->iov_len) {
			n -= (ssize_t)mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen > 0) {
			mh.msg_iov->iov_base = (uint8_t *)mh.msg_iov->iov_base + n;
			mh.msg_iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/*
 * Receives exactly len bytes, waiting at most CLIENT_REPLY_TIMEOUT_MS for
 * each part (a server busy generating a key answers late, a server that
 * serves another client not at all).
 */
static int sock_recv(struct client *c, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		ssize_t n;
		int r = poll(&pfd, 1, CLIENT_REPLY_TIMEOUT_MS);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = read(c->fd, (uint8_t *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		done += (size_t)n;
	}
	return 0;
}

/*
 * Drops what is left of a failure reply (swtpm sends just the result word,
 * but a server may send the whole struct), so that a following request on
 * the same connection reads its own reply.
 */
static void sock_discard_pending(struct client *c)
{
	uint8_t junk[256];

	while (recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
}

/*
 * Receives a reply: the result word first, since a failing server may send
 * nothing else; then the rest of the fixed part.  The fixed part is
 * converted to host order.
 */
static int sock_recv_reply(struct client *c, const struct ctrl_op *op,
			   void *msg)
{
	size_t first = min_size(RESULT_LEN, op->resp_size);
	int err = sock_recv(c, msg, first);

	if (err)
		return err;
	if (op->no_result || !ctrl_res_is_error(get_be32(msg)))
		err = sock_recv(c, (uint8_t *)msg + first,
				op->resp_size - first);
	else {
		sock_discard_pending(c);
		memset((uint8_t *)msg + first, 0, op->resp_size - first);
	}
	if (err)
		return err;
	swap_fields(msg, op->resp_size, op->resp_fields, false);
	return 0;
}

static int sock_call(struct client *c, const struct ctrl_op *op, void *msg,
		     size_t req_len, size_t msg_size)
{
	uint32_t len;
	int err = sock_send(c, op, msg, req_len, NULL);

	if (err)
		return err;
	err = sock_recv_reply(c, op, msg);
	if (err || !op->resp_len_at || ctrl_res_is_error(host_u32(msg)))
		return err;

	len = host_u32((uint8_t *)msg + op->resp_len_at);
	if (len > msg_size - op->resp_size)
		return -EPROTO;
	return sock_recv(c, (uint8_t *)msg + op->resp_size, len);
}

/* The socket sends the whole blob after one header: no chunks. */
static int sock_get_blob(struct client *c, uint32_t type,
			 struct client_blob *out, uint32_t *res)
{
	const struct ctrl_op *op = &ctrl_op_table[CTRL_GET_STATEBLOB];
	struct ptm_getstate pgs;
	uint32_t len;
	int err;

	memset(&pgs, 0, sizeof(pgs));
	pgs.u.req.state_flags = PTM_STATE_FLAG_DECRYPTED;
	pgs.u.req.type = type;
	pgs.u.req.offset = 0;
	err = sock_send(c, op, &pgs, op->req_size, NULL);
	if (err)
		return err;
	err = sock_recv_reply(c, op, &pgs);
	if (err)
		return err;
	*res = pgs.u.resp.tpm_result;
	if (ctrl_res_is_error(*res))
		return 0;

	len = pgs.u.resp.length;
	err = blob_reserve(out, len);
	if (err)
		return err == -EFBIG ? -EPROTO : err;
	err = sock_recv(c, out->data + out->len, len);
	if (err)
		return err;
	out->len += len;
	return 0;
}

static int sock_set_blob(struct client *c, uint32_t type,
			 const struct client_blob *in, uint32_t *res)
{
	const struct ctrl_op *op = &ctrl_op_table[CTRL_SET_STATEBLOB];
	struct ptm_setstate pss;
	int err;

	if (in->len > UINT32_MAX)
		return -EFBIG;
	/* Here length is the size of the whole blob, which follows. */
	memset(&pss, 0, sizeof(pss));
	pss.u.req.state_flags = 0;
	pss.u.req.type = type;
	pss.u.req.length = (uint32_t)in->len;
	err = sock_send(c, op, &pss, op->req_size, in);
	if (err)
		return err;
	err = sock_recv_reply(c, op, &pss);
	if (err)
		return err;
	*res = pss.u.resp.tpm_result;
	return 0;
}

const struct client_transport client_socket = {
	.call = sock_call,
	.get_blob = sock_get_blob,
	.set_blob = sock_set_blob,
};

/* ------------------------------------------------------------------------ */
/* Connecting */

int client_open_device(struct client *c, const char *path, size_t rw_chunk)
{
	c->where = path;
	c->tp = &client_device;
	c->rw_chunk = rw_chunk;
	/* anything but a vTPM fails its first ioctl (ENOTTY) */
	c->fd = open(path, O_RDWR | O_CLOEXEC);
	return c->fd < 0 ? -errno : 0;
}

int client_open_unix(struct client *c, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int err;

	c->where = path;
	c->tp = &client_socket;
	c->rw_chunk = 0;
	c->fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		client_close(c);
		return err;
	}
	return 0;
}

int client_open_tcp(struct client *c, const char *host, unsigned int port,
		    char *where, size_t where_size, int *gai_err)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
	};
	struct addrinfo *list, *ai;
	char service[16];
	int err = -ECONNREFUSED;

	snprintf(where, where_size, "%s:%u", host, port);
	snprintf(service, sizeof(service), "%u", port);
	c->where = where;
	c->tp = &client_socket;
	c->rw_chunk = 0;
	c->fd = -1;
	*gai_err = getaddrinfo(host, service, &hints, &list);
	if (*gai_err)
		return -EHOSTUNREACH;
	for (ai = list; ai && c->fd < 0; ai = ai->ai_next) {
		c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			       ai->ai_protocol);
		if (c->fd < 0) {
			err = -errno;
			continue;
		}
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			err = -errno;
			client_close(c);
		}
	}
	freeaddrinfo(list);
	return c->fd < 0 ? err : 0;
}

void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int client_call(struct client *c, enum ctrl_op_id id, void *msg,
		size_t req_len, size_t msg_size)
{
	return c->tp->call(c, &ctrl_op_table[id], msg, req_len, msg_size);
}
/* NOLINTEND(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */
