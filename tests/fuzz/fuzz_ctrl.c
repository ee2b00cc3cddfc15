/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz-ctrl: the socket control channel's decoder (cuse_tpm/ctrl.c), the
 * server side of the CMD_* protocol, against a real core (core_harness.c).
 * The first input byte chooses how:
 *
 *  even  the codec alone: a sequence of (CMD_* code, body) pairs from the
 *        input, each through ctrl_handle() with the body in an exact-size
 *        heap buffer and the reply into an exact CTRL_REPLY_MAX buffer;
 *  odd   the connection: the rest of the input is everything a client
 *        sends, followed by end-of-file; ctrl_serve_one() serves requests
 *        until it gives up on the connection.  Bit 1: with descriptors
 *        passed along (SCM_RIGHTS, as CMD_SET_DATAFD does), bits 4-5: 0 to
 *        3 of them; bit 6: in partial frames, a message each, bit 7: the
 *        descriptors with each.  Bits 2-3 choose what the fake set_datafd
 *        answers.
 *
 * Checks, besides ASan/UBSan/LSan: replies are 4 to CTRL_REPLY_MAX bytes,
 * one with a failure result is only the result word (swtpm's short form,
 * which clients rely on to resynchronise), a GET_STATEBLOB reply carries as
 * many bytes as it announces; the server neither hangs nor leaks a
 * descriptor (a passed one is closed or handed to set_datafd exactly once).
 */
#include "input.h"
#include "core_harness.c"

#include "ctrl.h"

#include <endian.h>
#include <libtpms/tpm_error.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_REQUESTS 48

static int taken_fd = -1;
static ptm_res datafd_answer;
static unsigned datafd_calls;

static ptm_res fake_set_datafd(void *ctx, int fd)
{
	(void)ctx;
	datafd_calls++;
	if (fd < 0)
		H_FAIL("set_datafd with fd %d", fd);
	/* as the server: one data channel, handed over once */
	if (datafd_answer == 0 && taken_fd >= 0)
		return TPM_IOERROR;
	if (datafd_answer == 0)
		taken_fd = fd; /* ours now: closed after the input */
	return datafd_answer;
}

static int lowest_free_fd(void)
{
	int fd = dup(0);

	if (fd >= 0)
		close(fd);
	return fd;
}

static uint32_t get_be32(const uint8_t *p)
{
	return be32(p);
}

/* What ctrl_handle() answered to @cmd: plausible? */
static void check_reply(uint32_t cmd, const uint8_t *out, size_t n)
{
	uint32_t res;

	if (n < 4 || n > CTRL_REPLY_MAX)
		H_FAIL("CMD 0x%x: a %zu-byte reply", cmd, n);
	if (cmd == CMD_GET_CAPABILITY)
		return; /* no result word: 64 bits of capabilities */
	res = get_be32(out);
	if (res && n != 4)
		H_FAIL("CMD 0x%x: failure 0x%x with %zu bytes, not the short "
		       "form", cmd, res, n);
	if (!res && cmd == CMD_GET_INFO &&
	    (n < 12 || get_be32(out + 8) != n - 12 ||
	     get_be32(out + 8) > get_be32(out + 4)))
		H_FAIL("GET_INFO: %zu bytes, length %u of %u", n,
		       n >= 12 ? get_be32(out + 8) : 0,
		       n >= 12 ? get_be32(out + 4) : 0);
}

static void fuzz_codec(struct input *in)
{
	uint8_t *out = malloc(CTRL_REPLY_MAX);
	int steps;

	if (!out)
		abort();
	for (steps = 0; in->n && steps < MAX_REQUESTS; steps++) {
		uint8_t sel = in_u8(in), lsel = in_u8(in);
		uint32_t cmd = sel < 0xf0 ? (uint32_t)(sel % 21) : in_u32(in);
		size_t len, n;
		uint8_t *body;

		len = lsel < 0x80 ? lsel % 21 : (size_t)in_u8(in) << 4;
		if (len > in->n)
			len = in->n;
		body = malloc(len ? len : 1);
		if (!body)
			abort();
		memcpy(body, in->p, len);
		in->p += len;
		in->n -= len;
		/* ctrl.h: not for the requests that need the stream */
		if (cmd != CMD_HASH_DATA && cmd != CMD_SET_STATEBLOB &&
		    cmd != CMD_SET_DATAFD && cmd != CMD_GET_STATEBLOB) {
			TRACE("ctrl_handle 0x%x, %zu bytes\n", cmd, len);
			n = ctrl_handle(vtpm, cmd, len ? body : body + 1, len, out);
			TRACE("  -> %zu bytes, 0x%x\n", n, n >= 4 ? get_be32(out) : 0);
			check_reply(cmd, out, n);
		}
		free(body);
	}
	free(out);
}

/* Reads what the server answered so far; 0 at EOF or when nothing is there. */
static size_t drain(int fd, uint8_t *buf, size_t size)
{
	size_t got = 0;

	while (got < size) {
		ssize_t n = recv(fd, buf + got, size - got, MSG_DONTWAIT);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* Sends @len bytes in one message, with @nfd descriptors (0-3) along. */
static void send_part(int fd, const uint8_t *p, size_t len, int nfd)
{
	union {
		char buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	int passed[3] = { -1, -1, -1 }, i;

	if (nfd) {
		struct cmsghdr *c;

		for (i = 0; i < nfd; i++)
			passed[i] = open(i == 1 ? "/dev/zero" : "/dev/null",
					 O_RDONLY | O_CLOEXEC);
		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfd * sizeof(int));
		memcpy(CMSG_DATA(c), passed, nfd * sizeof(int));
	}
	if (sendmsg(fd, &msg, MSG_NOSIGNAL) != (ssize_t)len)
		H_FAIL("cannot queue %zu client bytes", len);
	/* the server has its own copies now */
	for (i = 0; i < nfd; i++)
		close(passed[i]);
}

/*
 * The client, all queued before the server reads: bit 1 passes
 * descriptors, bits 4-5 how many (0-3); bit 6 cuts the input into
 * partial frames (1, 2, 3, 5 or 7 bytes each, a message each), bit 7
 * passes the descriptors with every such part, not just the first.
 */
static void send_client(int fd, struct input *in, uint8_t mode)
{
	static const size_t cuts[] = { 1, 2, 3, 5, 7 };
	int nfd = (mode & 2) ? (mode >> 4) & 3 : 0;
	size_t i;

	if (!(mode & 0x40)) {
		if (in->n)
			send_part(fd, in->p, in->n, nfd);
		return;
	}
	for (i = 0; in->n; i++) {
		size_t n = cuts[i % 5] < in->n ? cuts[i % 5] : in->n;

		/* descriptors with the first parts only: a bounded number */
		send_part(fd, in->p, n, (i == 0 || (mode & 0x80)) && i < 16 ? nfd : 0);
		in->p += n;
		in->n -= n;
	}
}

static void fuzz_connection(struct input *in, uint8_t mode)
{
	static const ptm_res answers[] = { 0, TPM_IOERROR, TPM_FAIL, 0 };
	static uint8_t replies[1 << 20];
	const struct ctrl_ops ops = { .set_datafd = fake_set_datafd,
				      .stop_fd = -1 };
	int sv[2], size = 1 << 20, steps, keep;
	struct timespec t0, t1;

	datafd_answer = answers[(mode >> 2) & 3];
	datafd_calls = 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		H_FAIL("socketpair: %s", strerror(errno));
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	send_client(sv[1], in, mode);
	shutdown(sv[1], SHUT_WR);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (steps = 0; steps < MAX_REQUESTS; steps++) {
		size_t got;

		keep = ctrl_serve_one(vtpm, sv[0], &ops);
		got = drain(sv[1], replies, sizeof(replies));
		TRACE("ctrl_serve_one -> %d, %zu reply bytes\n", keep, got);
		if (keep != 0 && keep != -1)
			H_FAIL("ctrl_serve_one returned %d", keep);
		if (got && (got < 4 || got > CTRL_REPLY_MAX + VTPM_MAX_BLOB))
			H_FAIL("a %zu-byte reply", got);
		if (keep)
			break;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* end-of-file is there from the start: no deadline may be waited out */
	if (t1.tv_sec - t0.tv_sec > 2 * MAX_REQUESTS)
		H_FAIL("serving took %ld s", (long)(t1.tv_sec - t0.tv_sec));
	close(sv[0]);
	close(sv[1]);
	/* descriptors with every part: each SET_DATAFD may carry one */
	if (datafd_calls > 1 && !(mode & 0x80))
		H_FAIL("set_datafd called %u times", datafd_calls);
	if (taken_fd >= 0) {
		close(taken_fd);
		taken_fd = -1;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	core_init("fuzz-ctrl");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	uint8_t mode = in_u8(&in);
	int fd_before;

	restore_tpm();
	fd_before = lowest_free_fd();
	if (mode & 1)
		fuzz_connection(&in, mode);
	else
		fuzz_codec(&in);
	if (lowest_free_fd() != fd_before)
		H_FAIL("a file descriptor was left open (lowest free %d, was %d)",
		       lowest_free_fd(), fd_before);
	return 0;
}
