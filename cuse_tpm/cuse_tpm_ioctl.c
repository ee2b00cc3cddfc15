/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cuse_tpm_ioctl: send control commands to a vTPM.
 *
 * It talks to a cuse_tpm (or swtpm) character device with PTM_* ioctls, or to
 * a socket control channel (--unix, --tcp) with the big-endian CMD_* protocol.
 * Command line, standard output, standard error and exit codes are those of
 * swtpm_ioctl, line for line, so a script moves over by changing the program
 * name.  Unlike swtpm_ioctl, it then says in words why something failed, on
 * lines of their own that start with "cuse_tpm_ioctl: "; run under the name
 * swtpm_ioctl it leaves them out and is swtpm_ioctl to the byte.
 *
 * How it is put together:
 *  - ctrl_ops[] describes every control operation once: its ioctl, its CMD_*
 *    code, its wire sizes and the width of each field (for byte swapping);
 *  - a transport (dev_transport, sock_transport) carries one operation, or a
 *    whole state blob, and hands back host-order structs;
 *  - commands[] are the user-visible commands, written once on top of that.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cuse_tpm/tpm_ioctl.h>

/*
 * clang-tidy's insecureAPI check wants C11 Annex K (memcpy_s, snprintf_s,
 * ...) for every memcpy/memset/snprintf; glibc has no Annex K, and each
 * call here is bounded by a sizeof, so the check is off for this file.
 */
/* NOLINTBEGIN(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */

#define PROG "cuse_tpm_ioctl"
#ifndef CUSE_TPM_VERSION
#define CUSE_TPM_VERSION "0.1.0"
#endif

/* swtpm_ioctl's default control port for --tcp (its man page says 6545). */
#define DEFAULT_TCP_PORT 6546u
/* How long a socket server may take to answer; key generation can be slow. */
#define REPLY_TIMEOUT_MS 10000
/* Sanity bound for a state blob announced by a socket server. */
#define MAX_BLOB_SIZE (64u << 20)

/* TPM result codes the control channel uses (TPM 1.2 numbering). */
enum {
	RES_SUCCESS = 0x00,
	RES_BAD_PARAMETER = 0x03,
	RES_FAIL = 0x09,
	RES_BAD_ORDINAL = 0x0a,
	RES_KEYNOTFOUND = 0x0d,
	RES_SIZE = 0x17,
	RES_IOERROR = 0x1f,
	RES_BAD_DATASIZE = 0x2b,
	RES_BAD_VERSION = 0x2e,
	RES_BAD_LOCALITY = 0x3d,
	RES_NON_FATAL = 0x800, /* bit set: a warning, not an error */
};

/* ------------------------------------------------------------------------ */
/* Messages */

/*
 * Whether our explanations follow swtpm_ioctl's lines: not when the program
 * runs as swtpm_ioctl.  Set once in main(), before anything is printed.
 */
static bool explain_failures = true;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void why(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A line of swtpm_ioctl's, byte for byte (fmt carries its own newline). */
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* Our explanation, on a line of its own after swtpm_ioctl's. */
static void why(const char *fmt, ...)
{
	va_list ap;

	if (!explain_failures)
		return;
	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * Transport errors travel as -errno.  Some get a text that says what
 * happened on the control channel rather than what the errno once meant:
 * the server hanging up (ENODATA), a reply that breaks the protocol
 * (EPROTO) and a reply that does not come (ETIMEDOUT).
 */
static const char *errtext(int err)
{
	switch (err) {
	case ENODATA:
		return "the server closed the connection before it replied";
	case EPROTO:
		return "the reply does not follow the control protocol";
	case ETIMEDOUT:
		return "no reply within 10 seconds (is another client connected "
		       "to the control channel?)";
	default:
		return strerror(err);
	}
}

static const char *tpm_result_name(uint32_t res)
{
	static const struct {
		uint32_t code;
		const char *name;
	} names[] = {
		{0x01, "TPM_AUTHFAIL"},     {0x02, "TPM_BADINDEX"},
		{0x03, "TPM_BAD_PARAMETER"}, {0x09, "TPM_FAIL"},
		{0x0a, "TPM_BAD_ORDINAL"},  {0x0d, "TPM_KEYNOTFOUND"},
		{0x11, "TPM_NOSPACE"},      {0x15, "TPM_RESOURCES"},
		{0x17, "TPM_SIZE"},         {0x19, "TPM_BAD_PARAM_SIZE"},
		{0x1f, "TPM_IOERROR"},      {0x20, "TPM_ENCRYPT_ERROR"},
		{0x21, "TPM_DECRYPT_ERROR"}, {0x26, "TPM_INVALID_POSTINIT"},
		{0x2b, "TPM_BAD_DATASIZE"}, {0x2e, "TPM_BAD_VERSION"},
		{0x3d, "TPM_BAD_LOCALITY"}, {0x800, "TPM_RETRY"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].code == res)
			return names[i].name;
	return "unknown result code";
}

static bool res_is_error(uint32_t res)
{
	return res != RES_SUCCESS && !(res & RES_NON_FATAL);
}

/* ------------------------------------------------------------------------ */
/* The control operations */

enum op_id {
	OP_GET_CAPABILITY,
	OP_INIT,
	OP_SHUTDOWN,
	OP_GET_TPMESTABLISHED,
	OP_SET_LOCALITY,
	OP_HASH_START,
	OP_HASH_DATA,
	OP_HASH_END,
	OP_CANCEL_TPM_CMD,
	OP_STORE_VOLATILE,
	OP_RESET_TPMESTABLISHED,
	OP_GET_STATEBLOB,
	OP_SET_STATEBLOB,
	OP_STOP,
	OP_GET_CONFIG,
	OP_SET_BUFFERSIZE,
	OP_GET_INFO,
	OP_LOCK_STORAGE,
};

/* What a TPM_BAD_ORDINAL answer means for an operation. */
enum need {
	NEED_NOTHING, /* the server does not know the operation */
	NEED_RUNNING, /* the TPM must be running (after -i) */
	NEED_STOPPED, /* the TPM must be stopped (after --stop) */
};

struct ctrl_op {
	const char *name; /* for messages */
	/* what swtpm_ioctl names it when the transport fails */
	const char *exec_name;
	/*
	 * Socket wire format: the width of each field of the fixed part of
	 * request and reply, one letter per field: b = 8 bits, w = 32 bits,
	 * q = 64 bits.  Bytes past the fields travel as they are.
	 */
	const char *req_fields;
	const char *resp_fields;
	unsigned long ioctl_nr;
	uint64_t cap;       /* PTM_CAP_* bit advertising it */
	size_t req_size;    /* fixed part of the request on a socket */
	size_t resp_size;   /* fixed part of the reply on a socket */
	/* The reply carries as many payload bytes after its fixed part as the
	 * 32-bit field at this offset says (0: no payload). */
	size_t resp_len_at;
	uint32_t cmd;       /* CMD_* code on sockets */
	enum need need;
	bool no_result;     /* the reply does not start with a TPM result */
};

/* a reply that is only the result word */
#define RESULT_LEN sizeof(ptm_res)

#define OP(id, cap_bit, need_, reqsz, reqf, respsz, respf, ...)           \
	OPX(id, "PTM_" #id, cap_bit, need_, reqsz, reqf, respsz, respf,   \
	    __VA_ARGS__)
#define OPX(id, exec, cap_bit, need_, reqsz, reqf, respsz, respf, ...)    \
	[OP_##id] = {.name = "PTM_" #id, .exec_name = (exec),              \
		     .ioctl_nr = PTM_##id,                                 \
		     .cmd = CMD_##id, .cap = (cap_bit), .need = (need_),   \
		     .req_size = (reqsz), .req_fields = (reqf),            \
		     .resp_size = (respsz), .resp_fields = (respf),        \
		     __VA_ARGS__}

static const struct ctrl_op ctrl_ops[] = {
	/* The socket answers with {result, caps}; read as one 64-bit word it
	 * gives the device's ptm_cap value, which is how swtpm_ioctl reads
	 * it too. */
	OP(GET_CAPABILITY, 0, NEED_NOTHING, 0, "", sizeof(ptm_cap), "q",
	   .no_result = true),
	OP(INIT, PTM_CAP_INIT, NEED_NOTHING, 4, "w", RESULT_LEN, "w"),
	OP(SHUTDOWN, PTM_CAP_SHUTDOWN, NEED_NOTHING, 0, "", RESULT_LEN, "w"),
	OPX(GET_TPMESTABLISHED, "PTM_GET_ESTABLISHED",
	    PTM_CAP_GET_TPMESTABLISHED, NEED_RUNNING,
	    0, "", sizeof(struct ptm_est), "wb"),
	OP(SET_LOCALITY, PTM_CAP_SET_LOCALITY, NEED_NOTHING, 1, "b", RESULT_LEN, "w"),
	OPX(HASH_START, "ioctl PTM_HASH_START", PTM_CAP_HASHING, NEED_RUNNING,
	    0, "", RESULT_LEN, "w"),
	/* the data follow the length word */
	OPX(HASH_DATA, "ioctl PTM_HASH_DATA", PTM_CAP_HASHING, NEED_RUNNING,
	    4, "w", RESULT_LEN, "w"),
	OPX(HASH_END, "ioctl PTM_HASH_END", PTM_CAP_HASHING, NEED_RUNNING,
	    0, "", RESULT_LEN, "w"),
	OP(CANCEL_TPM_CMD, PTM_CAP_CANCEL_TPM_CMD, NEED_RUNNING,
	   0, "", RESULT_LEN, "w"),
	OP(STORE_VOLATILE, PTM_CAP_STORE_VOLATILE, NEED_RUNNING,
	   0, "", RESULT_LEN, "w"),
	OPX(RESET_TPMESTABLISHED, "PTM_RESET_ESTABLISHED",
	    PTM_CAP_RESET_TPMESTABLISHED, NEED_RUNNING, 1, "b", RESULT_LEN, "w"),
	/* The blob follows the reply header; see sock_get_blob(). */
	OPX(GET_STATEBLOB, "ioctl PTM_GET_STATEBLOB", PTM_CAP_GET_STATEBLOB,
	    NEED_RUNNING, 12, "www",
	    offsetof(struct ptm_getstate, u.resp.data), "wwww"),
	/* on a socket the whole blob follows the header */
	OPX(SET_STATEBLOB, "ioctl PTM_SET_STATEBLOB", PTM_CAP_SET_STATEBLOB,
	    NEED_STOPPED, 12, "www", RESULT_LEN, "w"),
	OP(STOP, PTM_CAP_STOP, NEED_NOTHING, 0, "", RESULT_LEN, "w"),
	OP(GET_CONFIG, PTM_CAP_GET_CONFIG, NEED_NOTHING, 0, "",
	   sizeof(struct ptm_getconfig), "ww"),
	OP(SET_BUFFERSIZE, PTM_CAP_SET_BUFFERSIZE, NEED_STOPPED, 4, "w",
	   sizeof(struct ptm_setbuffersize), "wwww"),
	OP(GET_INFO, PTM_CAP_GET_INFO, NEED_NOTHING, 16, "qww",
	   offsetof(struct ptm_getinfo, u.resp.buffer), "www",
	   .resp_len_at = offsetof(struct ptm_getinfo, u.resp.length)),
	OP(LOCK_STORAGE, PTM_CAP_LOCK_STORAGE, NEED_NOTHING, 4, "w", RESULT_LEN, "w"),
};

/*
 * Converts the fields of a socket message between host order and big
 * endian, in place, within the first len bytes.  The conversion is its own
 * inverse, but the direction is kept so the code says what it does.
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
			memcpy(&w, p + off, sizeof(w));
			w = to_wire ? htobe32(w) : be32toh(w);
			memcpy(p + off, &w, sizeof(w));
			off += sizeof(w);
			break;
		case 'q':
			if (off + sizeof(q) > len)
				return;
			memcpy(&q, p + off, sizeof(q));
			q = to_wire ? htobe64(q) : be64toh(q);
			memcpy(p + off, &q, sizeof(q));
			off += sizeof(q);
			break;
		default: /* 'b' */
			off++;
			break;
		}
	}
}

static uint32_t get_u32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* ------------------------------------------------------------------------ */
/* Transports */

/* A state blob in memory. */
struct blob {
	uint8_t *data;
	size_t len;
};

struct conn;

struct transport {
	/*
	 * Carries one operation: msg holds the request in host order
	 * (req_len bytes, payload included) and receives the reply in host
	 * order; msg_size is what msg can hold.  Returns 0 or -errno; the
	 * TPM result is the reply's first word.
	 */
	int (*call)(struct conn *c, const struct ctrl_op *op, void *msg,
		    size_t req_len, size_t msg_size);
	/* Fetch a whole state blob (decrypted).  *res gets the TPM result;
	 * a non-fatal result comes back with what the server sent. */
	int (*get_blob)(struct conn *c, uint32_t type, struct blob *out,
			uint32_t *res);
	/* Hand a whole state blob to the server. */
	int (*set_blob)(struct conn *c, uint32_t type, const struct blob *in,
			uint32_t *res);
};

struct conn {
	const struct transport *tp;
	int fd;
	const char *where; /* device path or socket address, for messages */
	size_t rw_chunk;   /* device: read()/write() chunk for blobs, 0: off */
};

static int blob_reserve(struct blob *b, size_t extra)
{
	uint8_t *p;

	if (extra > MAX_BLOB_SIZE - b->len)
		return -EFBIG;
	/* never realloc(p, 0): an empty blob still gets a buffer */
	p = realloc(b->data, (b->len + extra) ? (b->len + extra) : 1);
	if (!p)
		return -ENOMEM;
	b->data = p;
	return 0;
}

static int blob_append(struct blob *b, const void *data, size_t len)
{
	int err = blob_reserve(b, len);

	if (err)
		return err;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Reads until len bytes or end of file; returns the count or -errno. */
static ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (uint8_t *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const uint8_t *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* --- the character device: host-order structs straight into ioctl() --- */

static int dev_call(struct conn *c, const struct ctrl_op *op, void *msg,
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

/* Continues a GET_STATEBLOB through read(), as SWTPM_IOCTL_BUFFERSIZE asks. */
static int dev_read_rest(struct conn *c, struct blob *out, size_t total)
{
	int err = blob_reserve(out, total - out->len);

	if (err)
		return err;
	while (out->len < total) {
		size_t want = min_size(c->rw_chunk, total - out->len);
		ssize_t n = read(c->fd, out->data + out->len, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPROTO; /* the blob ended early */
		out->len += (size_t)n;
	}
	return 0;
}

static int dev_get_blob(struct conn *c, uint32_t type, struct blob *out,
			uint32_t *res)
{
	const struct ctrl_op *op = &ctrl_ops[OP_GET_STATEBLOB];
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
		if (res_is_error(*res))
			return 0;

		len = (uint32_t)min_size(pgs.u.resp.length,
					 sizeof(pgs.u.resp.data));
		total = pgs.u.resp.totlength;
		err = blob_append(out, pgs.u.resp.data, len);
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

static int dev_set_chunk(struct conn *c, uint32_t type, const uint8_t *data,
			 uint32_t len, uint32_t *res)
{
	struct ptm_setstate pss;
	int err;

	memset(&pss, 0, sizeof(pss));
	pss.u.req.state_flags = 0; /* plaintext: --save asked for DECRYPTED */
	pss.u.req.type = type;
	pss.u.req.length = len;
	if (len)
		memcpy(pss.u.req.data, data, len);
	err = dev_call(c, &ctrl_ops[OP_SET_STATEBLOB], &pss,
		       ctrl_ops[OP_SET_STATEBLOB].req_size + len, sizeof(pss));
	if (err)
		return err;
	*res = pss.u.resp.tpm_result;
	return 0;
}

static int dev_set_blob(struct conn *c, uint32_t type, const struct blob *in,
			uint32_t *res)
{
	size_t off = 0;
	int err;

	if (c->rw_chunk) {
		/* An empty chunk opens the write() stream, another closes it. */
		err = dev_set_chunk(c, type, NULL, 0, res);
		if (err || *res)
			return err;
		for (; off < in->len; off += c->rw_chunk) {
			err = write_full(c->fd, in->data + off,
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

static const struct transport dev_transport = {
	.call = dev_call,
	.get_blob = dev_get_blob,
	.set_blob = dev_set_blob,
};

/* --- the socket control channel: big-endian CMD_* messages --- */

static int sock_send(struct conn *c, const struct ctrl_op *op, void *req,
		     size_t req_len, const struct blob *tail)
{
	uint32_t cmd = htobe32(op->cmd);
	struct iovec iov[3] = {
		{.iov_base = &cmd, .iov_len = sizeof(cmd)},
		{.iov_base = req, .iov_len = req_len},
		{.iov_base = tail ? tail->data : NULL,
		 .iov_len = tail ? tail->len : 0},
	};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 3};

	/* The server reads a request with one read(), so it goes out in one
	 * sendmsg(); MSG_NOSIGNAL turns a dead peer into EPIPE. */
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

/* Receives exactly len bytes, waiting at most REPLY_TIMEOUT_MS for each. */
static int sock_recv(struct conn *c, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		ssize_t n;
		int r = poll(&pfd, 1, REPLY_TIMEOUT_MS);

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
static void sock_discard_pending(struct conn *c)
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
static int sock_recv_reply(struct conn *c, const struct ctrl_op *op,
			   void *msg)
{
	size_t first = min_size(RESULT_LEN, op->resp_size);
	int err = sock_recv(c, msg, first);

	if (err)
		return err;
	if (op->no_result || !res_is_error(be32toh(get_u32(msg))))
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

static int sock_call(struct conn *c, const struct ctrl_op *op, void *msg,
		     size_t req_len, size_t msg_size)
{
	uint32_t len;
	int err = sock_send(c, op, msg, req_len, NULL);

	if (err)
		return err;
	err = sock_recv_reply(c, op, msg);
	if (err || !op->resp_len_at || res_is_error(get_u32(msg)))
		return err;

	len = get_u32((uint8_t *)msg + op->resp_len_at);
	if (len > msg_size - op->resp_size)
		return -EPROTO;
	return sock_recv(c, (uint8_t *)msg + op->resp_size, len);
}

/* The socket sends the whole blob after one header: no chunks. */
static int sock_get_blob(struct conn *c, uint32_t type, struct blob *out,
			 uint32_t *res)
{
	const struct ctrl_op *op = &ctrl_ops[OP_GET_STATEBLOB];
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
	if (res_is_error(*res))
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

static int sock_set_blob(struct conn *c, uint32_t type, const struct blob *in,
			 uint32_t *res)
{
	const struct ctrl_op *op = &ctrl_ops[OP_SET_STATEBLOB];
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

static const struct transport sock_transport = {
	.call = sock_call,
	.get_blob = sock_get_blob,
	.set_blob = sock_set_blob,
};

/* ------------------------------------------------------------------------ */
/* Command line */

struct args {
	const struct command *cmd; /* the last command option getopt saw */
	/*
	 * The command as swtpm_ioctl sees it: the word before an option's
	 * argument, or the option itself.  It is compared by address (a
	 * second command is another word) and, once connected, by spelling.
	 */
	const char *cmd_token;
	const char *device;
	const char *unix_path;
	char *tcp_host;
	unsigned int tcp_port;
	unsigned int number;    /* locality, buffer size or lock retries */
	uint64_t info_flags;
	const char *hash_data;
	const char *blob_type;  /* as typed; checked once connected */
	const char *blob_file;
};

struct command {
	const char *option; /* the one spelling swtpm_ioctl accepts */
	int (*parse)(struct args *a, const char *arg);
	int (*run)(struct conn *c, const struct args *a);
	bool takes_file; /* a file name follows the option's argument */
};

/*
 * Numbers are read the way swtpm_ioctl reads them (sscanf "%u": leading
 * blanks and a sign allowed, trailing text ignored), so that every command
 * line it accepts means the same here.
 */
static int parse_locality(struct args *a, const char *arg)
{
	if (sscanf(arg, "%u", &a->number) != 1) {
		say("Could not get locality number from %s.\n", arg);
		return -1;
	}
	if (a->number > 4) {
		say("Locality outside valid range of [0..4].\n");
		return -1;
	}
	return 0;
}

static int parse_buffersize(struct args *a, const char *arg)
{
	if (sscanf(arg, "%u", &a->number) != 1) {
		say("Could not get buffersize from %s.\n", arg);
		return -1;
	}
	return 0;
}

static int parse_retries(struct args *a, const char *arg)
{
	if (sscanf(arg, "%u", &a->number) != 1) {
		say("Could not get number of retries from %s.\n", arg);
		return -1;
	}
	return 0;
}

static int parse_info_flags(struct args *a, const char *arg)
{
	char *end;

	errno = 0;
	a->info_flags = strtoull(arg, &end, 0);
	/* like swtpm_ioctl, strtoul's rules: "" is 0, "-1" is all bits */
	if (errno || *end) {
		say("Cannot parse info flags.\n");
		why("--info takes the flags as an integer, e.g. 1 or 0x3");
		return -1;
	}
	return 0;
}

static int parse_hash_data(struct args *a, const char *arg)
{
	a->hash_data = arg;
	return 0;
}

static uint32_t blob_type_of(const char *name)
{
	if (!strcmp(name, "permanent"))
		return PTM_BLOB_TYPE_PERMANENT;
	if (!strcmp(name, "volatile"))
		return PTM_BLOB_TYPE_VOLATILE;
	if (!strcmp(name, "savestate"))
		return PTM_BLOB_TYPE_SAVESTATE;
	return 0;
}

static int parse_blob_type(struct args *a, const char *arg)
{
	a->blob_type = arg;
	return 0;
}

/*
 * The port as swtpm_ioctl takes it: "%u" into an int, and only 65536 and
 * more refused (so ":-1" is port 65535).  Its message quotes the --tcp
 * argument from its second character on, whatever the host.
 */
static int parse_port(const char *s, const char *arg, unsigned int *port)
{
	unsigned int u;
	int n;

	if (sscanf(s, "%u", &u) != 1) {
		say("Invalid port '%s'\n", s);
		return -1;
	}
	n = (int)u;
	if (n >= 65536) {
		say("Port '%s' outside valid range.\n", arg + 1);
		return -1;
	}
	*port = (uint16_t)n;
	return 0;
}

/*
 * HOST, :PORT, HOST:PORT or ":" as swtpm_ioctl takes them; the last colon
 * splits, so "::1:6546" works, and a bracketed "[::1]" host is unwrapped.
 */
static int parse_tcp(struct args *a, const char *arg)
{
	const char *colon = strrchr(arg, ':');
	const char *host = arg;
	size_t host_len = colon ? (size_t)(colon - arg) : strlen(arg);

	a->tcp_port = DEFAULT_TCP_PORT;
	if (colon == arg) {
		host = "127.0.0.1";
		host_len = strlen(host);
		if (colon[1] && parse_port(colon + 1, arg, &a->tcp_port))
			return -1;
	} else if (colon && parse_port(colon + 1, arg, &a->tcp_port)) {
		return -1;
	}
	if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
		host++;
		host_len -= 2;
	}
	free(a->tcp_host);
	a->tcp_host = strndup(host, host_len);
	if (!a->tcp_host) {
		say("Out of memory.\n");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Explaining failures */

/* Whether the server advertises op; true when it cannot tell. */
static bool server_has(struct conn *c, const struct ctrl_op *op)
{
	const struct ctrl_op *cap_op = &ctrl_ops[OP_GET_CAPABILITY];
	ptm_cap caps = 0;

	if (!op->cap || c->tp->call(c, cap_op, &caps, 0, sizeof(caps)))
		return true;
	return (caps & op->cap) != 0;
}

static const char *explain_bad_ordinal(struct conn *c, const struct ctrl_op *op)
{
	if (!server_has(c, op))
		return "the server does not support this operation";
	switch (op->need) {
	case NEED_RUNNING:
		return "the TPM is not running; initialize it first with -i";
	case NEED_STOPPED:
		return "the TPM is running; stop it first with --stop";
	default:
		return "the server does not know this operation";
	}
}

static const char *explain(struct conn *c, const struct ctrl_op *op,
			   uint32_t res)
{
	enum op_id id = (enum op_id)(op - ctrl_ops);

	switch (res) {
	case RES_BAD_ORDINAL:
		return explain_bad_ordinal(c, op);
	case RES_BAD_LOCALITY:
		if (id == OP_RESET_TPMESTABLISHED)
			return "the tpmEstablished bit can only be reset from "
			       "locality 3 or 4";
		return "the server refuses this locality (is it started with "
		       "reject-locality-4?)";
	case RES_BAD_DATASIZE:
	case RES_BAD_VERSION:
	case RES_BAD_PARAMETER:
		if (id == OP_SET_STATEBLOB)
			return "the server rejected the state blob: the file is "
			       "not a valid blob of this type (corrupt or "
			       "truncated?)";
		if (id == OP_GET_INFO)
			return "the server rejected the info flags or offset";
		return "the server rejected the request's parameters";
	case RES_KEYNOTFOUND:
		return "the blob is encrypted with a key the server does not "
		       "have (check --key / --migration-key)";
	case RES_IOERROR:
		if (id == OP_SET_STATEBLOB)
			return "the server could not lock or access its state "
			       "storage (is another instance using it?)";
		return "the server had an I/O error; see its log";
	case RES_FAIL:
		if (id == OP_INIT)
			return "the TPM could not be started; see the server's "
			       "log (state files, storage lock, keys)";
		if (id == OP_LOCK_STORAGE)
			return "the storage lock is still held by another "
			       "process";
		if (id == OP_CANCEL_TPM_CMD)
			return "the TPM cannot cancel a command now";
		if (id == OP_STORE_VOLATILE)
			return "the volatile state could not be written; see "
			       "the server's log";
		return "the operation failed in the server; see its log";
	case RES_SIZE:
		return "the server could not produce the data";
	default:
		return "see the server's log";
	}
}

static void report_result(struct conn *c, const struct ctrl_op *op,
			  uint32_t res)
{
	say("TPM result from %s: 0x%x\n", op->name, res);
	if (explain_failures)
		why("%s failed: TPM result 0x%x (%s): %s", op->name, res,
		    tpm_result_name(res), explain(c, op, res));
}

static void report_transport(const struct conn *c, const struct ctrl_op *op,
			     int err)
{
	const char *hint = "";

	if (c->tp == &dev_transport && (err == -ENOTTY || err == -EINVAL))
		hint = " (not a vTPM device, or the server does not know "
		       "this ioctl)";
	else if (c->tp == &dev_transport &&
		 (err == -ENODEV || err == -ENOTCONN || err == -ECONNABORTED))
		hint = " (the vTPM server behind the device has gone away)";
	say("Could not execute %s: %s\n", op->exec_name, strerror(-err));
	why("%s on %s failed: %s%s", op->name, c->where, errtext(-err), hint);
}

/*
 * Runs an operation whose reply starts with a TPM result and reports any
 * failure.  Returns 0 only when the transport worked and the TPM agreed.
 */
static int run_op(struct conn *c, enum op_id id, void *msg, size_t req_len,
		  size_t msg_size)
{
	const struct ctrl_op *op = &ctrl_ops[id];
	uint32_t res;
	int err = c->tp->call(c, op, msg, req_len, msg_size);

	if (err) {
		report_transport(c, op, err);
		return -1;
	}
	res = get_u32(msg);
	if (res != RES_SUCCESS) {
		report_result(c, op, res);
		return -1;
	}
	return 0;
}

/* For the operations whose request is empty and whose reply is a result. */
static int run_simple(struct conn *c, enum op_id id)
{
	ptm_res res = 0;

	return run_op(c, id, &res, 0, sizeof(res));
}

/* ------------------------------------------------------------------------ */
/* The commands */

static int cmd_capabilities(struct conn *c, const struct args *a)
{
	const struct ctrl_op *op = &ctrl_ops[OP_GET_CAPABILITY];
	ptm_cap caps = 0;
	int err = c->tp->call(c, op, &caps, 0, sizeof(caps));

	(void)a;
	if (err) {
		report_transport(c, op, err);
		return -1;
	}
	/* On a socket the upper half is the result word; swtpm_ioctl prints
	 * it as part of the value, and so do we, but we say so. */
	if (c->tp == &sock_transport && (caps >> 32))
		why("warning: the server also returned TPM result 0x%x",
		       (uint32_t)(caps >> 32));
	printf("ptm capability is 0x%" PRIx64 "\n", (uint64_t)caps);
	return 0;
}

static int cmd_init(struct conn *c, const struct args *a)
{
	struct ptm_init init;

	(void)a;
	memset(&init, 0, sizeof(init));
	init.u.req.init_flags = PTM_INIT_FLAG_DELETE_VOLATILE;
	return run_op(c, OP_INIT, &init, sizeof(init.u.req), sizeof(init));
}

static int cmd_shutdown(struct conn *c, const struct args *a)
{
	(void)a;
	return run_simple(c, OP_SHUTDOWN);
}

static int cmd_stop(struct conn *c, const struct args *a)
{
	(void)a;
	return run_simple(c, OP_STOP);
}

static int cmd_cancel(struct conn *c, const struct args *a)
{
	(void)a;
	return run_simple(c, OP_CANCEL_TPM_CMD);
}

static int cmd_store_volatile(struct conn *c, const struct args *a)
{
	(void)a;
	return run_simple(c, OP_STORE_VOLATILE);
}

static int cmd_established(struct conn *c, const struct args *a)
{
	struct ptm_est est;

	(void)a;
	memset(&est, 0, sizeof(est));
	if (run_op(c, OP_GET_TPMESTABLISHED, &est, 0, sizeof(est)))
		return -1;
	printf("tpmEstablished is %d\n", est.u.resp.bit);
	return 0;
}

static int cmd_reset_established(struct conn *c, const struct args *a)
{
	struct ptm_reset_est re;

	memset(&re, 0, sizeof(re));
	re.u.req.loc = (uint8_t)a->number;
	return run_op(c, OP_RESET_TPMESTABLISHED, &re, sizeof(re.u.req),
		      sizeof(re));
}

static int cmd_locality(struct conn *c, const struct args *a)
{
	struct ptm_loc loc;

	memset(&loc, 0, sizeof(loc));
	loc.u.req.loc = (uint8_t)a->number;
	return run_op(c, OP_SET_LOCALITY, &loc, sizeof(loc.u.req),
		      sizeof(loc));
}

static int cmd_config(struct conn *c, const struct args *a)
{
	struct ptm_getconfig cfg;

	(void)a;
	memset(&cfg, 0, sizeof(cfg));
	if (run_op(c, OP_GET_CONFIG, &cfg, 0, sizeof(cfg)))
		return -1;
	printf("ptm configuration flags: 0x%x\n", cfg.u.resp.flags);
	return 0;
}

static int cmd_buffersize(struct conn *c, const struct args *a)
{
	struct ptm_setbuffersize sb;

	memset(&sb, 0, sizeof(sb));
	sb.u.req.buffersize = a->number;
	if (run_op(c, OP_SET_BUFFERSIZE, &sb, sizeof(sb.u.req), sizeof(sb)))
		return -1;
	printf("TPM buffersize: %u\nminimum size  : %u\nmaximum size  : %u\n",
	       sb.u.resp.buffersize, sb.u.resp.minsize, sb.u.resp.maxsize);
	return 0;
}

static int cmd_lock_storage(struct conn *c, const struct args *a)
{
	struct ptm_lockstorage ls;

	memset(&ls, 0, sizeof(ls));
	ls.u.req.retries = a->number;
	return run_op(c, OP_LOCK_STORAGE, &ls, sizeof(ls.u.req), sizeof(ls));
}

/* The JSON may be longer than one reply; it is fetched by offset. */
static int cmd_info(struct conn *c, const struct args *a)
{
	struct blob json = {NULL, 0};
	uint32_t offset = 0;
	int ret = -1;

	for (;;) {
		struct ptm_getinfo gi;
		uint32_t len;

		memset(&gi, 0, sizeof(gi));
		gi.u.req.flags = a->info_flags;
		gi.u.req.offset = offset;
		if (run_op(c, OP_GET_INFO, &gi, sizeof(gi.u.req), sizeof(gi)))
			goto out;
		len = (uint32_t)min_size(gi.u.resp.length,
					 sizeof(gi.u.resp.buffer));
		if (blob_append(&json, gi.u.resp.buffer, len)) {
			say("Out of memory.\n");
			goto out;
		}
		offset += len;
		/* totlength counts the terminating NUL */
		if (len == 0 || (uint64_t)offset + 1 >= gi.u.resp.totlength)
			break;
	}
	if (json.len)
		fwrite(json.data, 1,
		       strnlen((const char *)json.data, json.len), stdout);
	putchar('\n');
	ret = 0;
out:
	free(json.data);
	return ret;
}

/* Most data one PTM_HASH_DATA carries on the device. */
#define HASH_CHUNK 4096
_Static_assert(sizeof(((struct ptm_hdata *)0)->u.req.data) == HASH_CHUNK,
	       "HASH_CHUNK must match struct ptm_hdata");

/* Sends one HASH_DATA; len may be 0, as swtpm_ioctl sends at end of stdin. */
static int hash_chunk(struct conn *c, const void *data, size_t len)
{
	struct ptm_hdata hd;

	memset(&hd, 0, sizeof(hd));
	hd.u.req.length = (uint32_t)len;
	if (len)
		memcpy(hd.u.req.data, data, len);
	return run_op(c, OP_HASH_DATA, &hd, sizeof(hd.u.req.length) + len,
		      sizeof(hd));
}

static int hash_stdin(struct conn *c)
{
	uint8_t buf[HASH_CHUNK];

	for (;;) {
		ssize_t n = read_full(STDIN_FILENO, buf, sizeof(buf));

		if (n < 0) {
			why("cannot read the data to hash from stdin: %s",
			    strerror((int)-n));
			return -1;
		}
		if (hash_chunk(c, buf, (size_t)n))
			return -1;
		if ((size_t)n < sizeof(buf))
			return 0;
	}
}

static int hash_string(struct conn *c, const char *s)
{
	size_t len = strlen(s);

	for (size_t off = 0; off < len; off += HASH_CHUNK)
		if (hash_chunk(c, s + off, min_size(HASH_CHUNK, len - off)))
			return -1;
	return 0;
}

static int cmd_hash(struct conn *c, const struct args *a)
{
	int err;

	if (run_simple(c, OP_HASH_START))
		return -1;
	if (!strcmp(a->hash_data, "-"))
		err = hash_stdin(c);
	else
		err = hash_string(c, a->hash_data);
	if (err)
		return -1;
	return run_simple(c, OP_HASH_END);
}

/* swtpm_ioctl checks the type once connected, and ends the line unended. */
static void report_blob_type(const char *name)
{
	say("Unknown TPM state type '%s'", name);
	if (explain_failures)
		fputc('\n', stderr);
	why("the state blob types are permanent, volatile and savestate");
}

/*
 * Replaces the content of a regular file and makes it durable; anything
 * else (/dev/stdout, a pipe) just gets the bytes.
 */
static int write_blob_file(int fd, const struct blob *b)
{
	struct stat st;
	bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	int err;

	if (regular && ftruncate(fd, 0) < 0)
		return -errno;
	err = write_full(fd, b->data, b->len);
	if (err)
		return err;
	if (regular && fsync(fd) < 0)
		return -errno;
	return 0;
}

/*
 * The file is opened before the TPM is asked, so a bad path costs no
 * transfer (fetching savestate unlocks the server's storage), and it is
 * only overwritten once the blob is here.
 */
static int cmd_save(struct conn *c, const struct args *a)
{
	struct blob b = {NULL, 0};
	uint32_t res = 0, type = blob_type_of(a->blob_type);
	bool created = true;
	int ret = -1, err, fd;

	if (!type) {
		report_blob_type(a->blob_type);
		return -1;
	}
	fd = open(a->blob_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		created = false;
		fd = open(a->blob_file, O_WRONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		say("Could not open file '%s' for writing: %s\n", a->blob_file,
		    strerror(errno));
		return -1;
	}

	err = c->tp->get_blob(c, type, &b, &res);
	if (err) {
		report_transport(c, &ctrl_ops[OP_GET_STATEBLOB], err);
		goto out;
	}
	if (res_is_error(res)) {
		report_result(c, &ctrl_ops[OP_GET_STATEBLOB], res);
		goto out;
	}
	err = write_blob_file(fd, &b);
	if (err) {
		say("Could not write to file '%s': %s\n", a->blob_file,
		    strerror(-err));
		goto out;
	}
	ret = 0;
out:
	if (close(fd) < 0 && ret == 0) {
		say("Could not write to file '%s': %s\n", a->blob_file,
		    strerror(errno));
		ret = -1;
	}
	if (ret && created)
		unlink(a->blob_file);
	free(b.data);
	return ret;
}

/*
 * Reads the blob to load.  swtpm_ioctl words a read error after the
 * transfer it chose: streamed (a socket and a non-empty file, or
 * SWTPM_IOCTL_BUFFERSIZE on a device) or in 3 KiB ioctls.
 */
static int read_blob_file(const struct conn *c, const char *path,
			  struct blob *b)
{
	uint8_t buf[4096];
	struct stat st;
	bool streamed = c->rw_chunk != 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		say("Could not open file '%s' for reading: %s\n", path,
		    strerror(errno));
		return -1;
	}
	if (c->tp == &sock_transport)
		streamed = fstat(fd, &st) == 0 && st.st_size > 0;
	for (;;) {
		ssize_t n = read_full(fd, buf, sizeof(buf));

		if (n < 0 && streamed) {
			say("Could not read from file: %s\n", strerror((int)-n));
			break;
		}
		if (n < 0) {
			say("Could not read from file '%s': %s\n", path,
			    strerror((int)-n));
			break;
		}
		if (blob_append(b, buf, (size_t)n)) {
			why("'%s' is too large for a state blob", path);
			break;
		}
		if ((size_t)n < sizeof(buf)) {
			close(fd);
			return 0;
		}
	}
	close(fd);
	return -1;
}

static int cmd_load(struct conn *c, const struct args *a)
{
	struct blob b = {NULL, 0};
	uint32_t res = 0, type = blob_type_of(a->blob_type);
	int ret = -1, err;

	if (!type) {
		report_blob_type(a->blob_type);
		return -1;
	}
	if (read_blob_file(c, a->blob_file, &b))
		goto out;
	err = c->tp->set_blob(c, type, &b, &res);
	if (err) {
		report_transport(c, &ctrl_ops[OP_SET_STATEBLOB], err);
		goto out;
	}
	if (res != RES_SUCCESS) {
		report_result(c, &ctrl_ops[OP_SET_STATEBLOB], res);
		goto out;
	}
	ret = 0;
out:
	free(b.data);
	return ret;
}

enum cmd_id {
	C_CAPS, C_INIT, C_STOP, C_SHUTDOWN, C_ESTABLISHED, C_RESET_EST,
	C_VOLATILE, C_CANCEL, C_LOCALITY, C_HASH, C_SAVE, C_LOAD, C_CONFIG,
	C_BUFFERSIZE, C_INFO, C_LOCK_STORAGE,
	C_COUNT
};

#define CMD(id, opt, parse_fn, run_fn, ...)                                \
	[id] = {.option = (opt), .parse = (parse_fn), .run = (run_fn),     \
		__VA_ARGS__}

static const struct command commands[C_COUNT] = {
	CMD(C_CAPS, "-c", NULL, cmd_capabilities),
	CMD(C_INIT, "-i", NULL, cmd_init),
	CMD(C_STOP, "--stop", NULL, cmd_stop),
	CMD(C_SHUTDOWN, "-s", NULL, cmd_shutdown),
	CMD(C_ESTABLISHED, "-e", NULL, cmd_established),
	CMD(C_RESET_EST, "-r", parse_locality, cmd_reset_established),
	CMD(C_VOLATILE, "-v", NULL, cmd_store_volatile),
	CMD(C_CANCEL, "-C", NULL, cmd_cancel),
	CMD(C_LOCALITY, "-l", parse_locality, cmd_locality),
	CMD(C_HASH, "-h", parse_hash_data, cmd_hash),
	CMD(C_SAVE, "--save", parse_blob_type, cmd_save, .takes_file = true),
	CMD(C_LOAD, "--load", parse_blob_type, cmd_load, .takes_file = true),
	CMD(C_CONFIG, "-g", NULL, cmd_config),
	CMD(C_BUFFERSIZE, "-b", parse_buffersize, cmd_buffersize),
	CMD(C_INFO, "--info", parse_info_flags, cmd_info),
	CMD(C_LOCK_STORAGE, "--lock-storage", parse_retries,
	    cmd_lock_storage),
};

/* getopt values: commands are OPT_CMD + enum cmd_id. */
enum {
	OPT_DEVICE = 256,
	OPT_TCP,
	OPT_UNIX,
	OPT_VERSION,
	OPT_HELP,
	OPT_CMD = 512,
};

/*
 * Parsed with getopt_long_only() like swtpm_ioctl, so "-c" and "--c",
 * "-stop" and "--stop", and unambiguous abbreviations all work the same.
 */
static const struct option options[] = {
	{"tpm-device", required_argument, NULL, OPT_DEVICE},
	{"tcp", required_argument, NULL, OPT_TCP},
	{"unix", required_argument, NULL, OPT_UNIX},
	{"c", no_argument, NULL, OPT_CMD + C_CAPS},
	{"i", no_argument, NULL, OPT_CMD + C_INIT},
	{"stop", no_argument, NULL, OPT_CMD + C_STOP},
	{"s", no_argument, NULL, OPT_CMD + C_SHUTDOWN},
	{"e", no_argument, NULL, OPT_CMD + C_ESTABLISHED},
	{"r", required_argument, NULL, OPT_CMD + C_RESET_EST},
	{"v", no_argument, NULL, OPT_CMD + C_VOLATILE},
	{"C", no_argument, NULL, OPT_CMD + C_CANCEL},
	{"l", required_argument, NULL, OPT_CMD + C_LOCALITY},
	{"h", required_argument, NULL, OPT_CMD + C_HASH},
	{"g", no_argument, NULL, OPT_CMD + C_CONFIG},
	{"b", required_argument, NULL, OPT_CMD + C_BUFFERSIZE},
	{"save", required_argument, NULL, OPT_CMD + C_SAVE},
	{"load", required_argument, NULL, OPT_CMD + C_LOAD},
	{"version", no_argument, NULL, OPT_VERSION},
	{"info", required_argument, NULL, OPT_CMD + C_INFO},
	{"lock-storage", required_argument, NULL, OPT_CMD + C_LOCK_STORAGE},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

static void print_version(void)
{
	printf(PROG " (cuse_tpm) " CUSE_TPM_VERSION "\n");
}

static void print_help(const char *argv0)
{
	print_version();
	printf("\n"
	       "Send one control command to a vTPM and print its answer.\n"
	       "\n"
	       "Usage: %s COMMAND [DEVICE]\n"
	       "       %s COMMAND --unix PATH | --tcp [HOST][:PORT]\n"
	       "\n"
	       "Where the vTPM is (the DEVICE argument is the usual way):\n"
	       "  --tpm-device DEV      the CUSE device, e.g. /dev/vtpm-NAME\n"
	       "  --unix PATH           the control socket at PATH\n"
	       "  --tcp [HOST][:PORT]   the control port (127.0.0.1:%u)\n"
	       "\n"
	       "Commands (exactly one):\n"
	       "  -c                    print the capability bits\n"
	       "  -i                    power-cycle (init) the TPM; saved "
	       "volatile state\n"
	       "                        is resumed once, then deleted\n"
	       "  --stop                stop the TPM; the server keeps running\n"
	       "  -s                    stop the TPM and end the server\n"
	       "  -e                    print the tpmEstablished bit\n"
	       "  -r LOC                reset tpmEstablished from locality LOC"
	       " (3 or 4)\n"
	       "  -l LOC                use locality LOC (0-4) for commands\n"
	       "  -v                    write the volatile state to storage\n"
	       "  -C                    cancel the command in progress\n"
	       "  -h DATA               hash DATA (DRTM sequence); '-' reads "
	       "stdin\n"
	       "  --save TYPE FILE      write state blob TYPE to FILE\n"
	       "  --load TYPE FILE      load state blob TYPE from FILE into a "
	       "stopped TPM\n"
	       "                        TYPE: permanent, volatile or "
	       "savestate\n"
	       "  -g                    print the configuration flags (keys in"
	       " use)\n"
	       "  -b SIZE               set the I/O buffer size (0: just "
	       "query) and print\n"
	       "                        the current, smallest and largest "
	       "sizes\n"
	       "  --info FLAGS          print the TPM's JSON description "
	       "(1: spec, 2: attributes)\n"
	       "  --lock-storage N      take the storage lock, trying N more "
	       "times 10 ms apart\n"
	       "  --version             print the version\n"
	       "  --help                print this text\n"
	       "\n"
	       "Environment: SWTPM_IOCTL_BUFFERSIZE=N moves state blobs over a"
	       " device with\n"
	       "read()/write() in N-byte pieces instead of ioctls only.\n",
	       argv0, argv0, DEFAULT_TCP_PORT);
}

/*
 * --save and --load take a second argument, the file, which must not look
 * like an option.
 */
static int take_file_arg(int argc, char **argv, struct args *a,
			 const char *option)
{
	if (optind >= argc || argv[optind][0] == '-') {
		say("Missing filename argument for %s option\n", option);
		return -1;
	}
	a->blob_file = argv[optind++];
	return 0;
}

/* The command whose one spelling is @token, or NULL. */
static const struct command *command_spelled(const char *token)
{
	for (size_t i = 0; i < C_COUNT; i++)
		if (!strcmp(commands[i].option, token))
			return &commands[i];
	return NULL;
}

enum parse_result { PARSE_ERROR = -1, PARSE_OK = 0, PARSE_DONE = 1 };

/*
 * swtpm_ioctl's rules, step for step, since its messages and their order
 * are ours: getopt_long_only() with glibc's own messages (so "-c", "--c",
 * "-stop" and abbreviations all parse); an option's argument is the word
 * after the option's word, even in the "--info=1" form; each command is
 * checked as it comes, then "only one command"; an unknown option is
 * reported and ignored.
 */
static enum parse_result parse_args(int argc, char **argv, struct args *a)
{
	int opt;

	while ((opt = getopt_long_only(argc, argv, "", options, NULL)) != -1) {
		const struct command *cmd;
		const char *token;

		switch (opt) {
		case OPT_DEVICE:
			a->device = optarg;
			continue;
		case OPT_TCP:
			if (parse_tcp(a, optarg))
				return PARSE_ERROR;
			continue;
		case OPT_UNIX:
			a->unix_path = optarg;
			continue;
		case OPT_VERSION:
			print_version();
			return PARSE_DONE;
		case OPT_HELP:
			print_help(argv[0]);
			return PARSE_DONE;
		case '?':
			continue; /* getopt said why */
		default:
			break;
		}

		cmd = &commands[opt - OPT_CMD];
		if (cmd->takes_file &&
		    take_file_arg(argc, argv, a, cmd->option))
			return PARSE_ERROR;
		if (cmd->parse) {
			int at = optind - (cmd->takes_file ? 2 : 1);

			token = argv[at - 1];
			if (cmd->parse(a, argv[at]))
				return PARSE_ERROR;
		} else {
			token = argv[optind - 1];
		}
		if (a->cmd_token && token != a->cmd_token) {
			say("Only one command may be given.\n");
			why("%s and %s are two commands", a->cmd->option,
			    cmd->option);
			return PARSE_ERROR;
		}
		a->cmd = cmd;
		a->cmd_token = token;
	}

	if (!a->cmd_token) {
		say("No valid command.\n");
		why("give one command, e.g. -c; see --help");
		return PARSE_ERROR;
	}
	if (!a->device && !a->tcp_host && !a->unix_path) {
		if (optind >= argc) {
			say("Error: Missing device name.\n");
			why("name the device (e.g. /dev/vtpm-NAME) or use "
			    "--unix or --tcp");
			return PARSE_ERROR;
		}
		a->device = argv[optind];
	}
	return PARSE_OK;
}

/* ------------------------------------------------------------------------ */
/* Connecting */

static int open_device(struct conn *c, const char *path, size_t rw_chunk)
{
	struct stat st;

	c->where = path;
	c->tp = &dev_transport;
	c->rw_chunk = rw_chunk;
	c->fd = open(path, O_RDWR | O_CLOEXEC);
	if (c->fd < 0) {
		int err = errno;

		say("Unable to open device '%s'.\n", path);
		if (err == ENOENT)
			why("no such device: is cuse_tpm running?");
		else if (err == EBUSY)
			why("the device is busy (is QEMU or another client "
			    "using it?)");
		else if (err == ENXIO && stat(path, &st) == 0 &&
			 S_ISSOCK(st.st_mode))
			why("it is a socket; use --unix %s", path);
		else if (err == EACCES)
			why("permission denied (run as root or as the device's "
			    "owner)");
		else
			why("%s", strerror(err));
		return -1;
	}
	/* anything but a character device fails its first ioctl (ENOTTY) */
	return 0;
}

static int open_unix(struct conn *c, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	c->where = path;
	c->tp = &sock_transport;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		say("Socket path is too long.\n");
		why("'%s' is longer than %zu bytes", path,
		    sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		why("cannot create a socket: %s", strerror(errno));
		return -1;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		say("Connect failed: %s\n", strerror(err));
		if (err == ENOENT)
			why("no such socket as '%s': is the vTPM running?", path);
		else if (err == ECONNREFUSED)
			why("nobody listens at '%s' (stale socket of a vTPM "
			    "that ended?)", path);
		close(c->fd);
		return -1;
	}
	return 0;
}

static int open_tcp(struct conn *c, const char *host, unsigned int port,
		    char *where, size_t where_size)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
	};
	struct addrinfo *list, *ai;
	char service[16];
	int err, last_err = ECONNREFUSED;

	snprintf(where, where_size, "%s:%u", host, port);
	snprintf(service, sizeof(service), "%u", port);
	c->where = where;
	c->tp = &sock_transport;
	c->fd = -1;
	err = getaddrinfo(host, service, &hints, &list);
	if (err) {
		say("getaddrinfo failed on host '%s': %s\n", host,
		    gai_strerror(err));
		if (err == EAI_SYSTEM)
			why("%s", strerror(errno));
		return -1;
	}
	for (ai = list; ai && c->fd < 0; ai = ai->ai_next) {
		c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			       ai->ai_protocol);
		if (c->fd < 0) {
			last_err = errno;
			continue;
		}
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			last_err = errno;
			close(c->fd);
			c->fd = -1;
		}
	}
	freeaddrinfo(list);
	if (c->fd < 0) {
		say("Could not connect to host '%s' on port '%u' using TCP "
		    "socket: %s\n", host, port, strerror(last_err));
		if (last_err == ECONNREFUSED)
			why("is the vTPM's control port %s?", where);
		return -1;
	}
	return 0;
}

/* swtpm_ioctl reads the variable like sscanf "%zu"; nonsense means 1. */
static size_t rw_chunk_from_env(void)
{
	const char *s = getenv("SWTPM_IOCTL_BUFFERSIZE");
	size_t n;

	if (!s)
		return 0;
	if (sscanf(s, "%zu", &n) != 1 || n < 1)
		return 1;
	return n;
}

/* Same precedence as swtpm_ioctl: device, then TCP, then Unix. */
static int connect_to_tpm(struct conn *c, const struct args *a, char *where,
			  size_t where_size)
{
	if (a->device)
		return open_device(c, a->device, rw_chunk_from_env());
	if (a->tcp_host)
		return open_tcp(c, a->tcp_host, a->tcp_port, where, where_size);
	if (a->unix_path)
		return open_unix(c, a->unix_path);
	return -1; /* parse_args() leaves one of the three set */
}

/* Run as swtpm_ioctl (a link of that name), it is swtpm_ioctl exactly. */
static bool runs_as_swtpm_ioctl(const char *argv0)
{
	const char *base = argv0 ? strrchr(argv0, '/') : NULL;

	base = base ? base + 1 : argv0;
	return base && !strcmp(base, "swtpm_ioctl");
}

int main(int argc, char **argv)
{
	const struct command *cmd;
	struct args a;
	struct conn c;
	char tcp_where[300];
	int ret = EXIT_FAILURE;

	explain_failures = !runs_as_swtpm_ioctl(argv[0]);
	memset(&a, 0, sizeof(a));
	switch (parse_args(argc, argv, &a)) {
	case PARSE_DONE:
		ret = fflush(stdout) ? EXIT_FAILURE : EXIT_SUCCESS;
		goto out;
	case PARSE_ERROR:
		goto out;
	default:
		break;
	}

	if (connect_to_tpm(&c, &a, tcp_where, sizeof(tcp_where)))
		goto out;
	/* swtpm_ioctl knows a command only by its exact spelling, and
	 * answers anything else with its usage text and a failure */
	cmd = command_spelled(a.cmd_token);
	if (!cmd) {
		print_help(argv[0]);
		why("write the command as '%s', not '%s'", a.cmd->option,
		    a.cmd_token);
	} else if (cmd->run(&c, &a) == 0) {
		ret = EXIT_SUCCESS;
	}
	close(c.fd);
	if (fflush(stdout) != 0) {
		why("cannot write to stdout: %s", strerror(errno));
		ret = EXIT_FAILURE;
	}
out:
	free(a.tcp_host);
	return ret;
}
/* NOLINTEND(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */
