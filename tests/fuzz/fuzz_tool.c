/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz-tool: the admin tool's parsing of what a server answers
 * (cuse_tpm_ioctl/), over both transports, with the tool itself unchanged:
 * the client and the commands are linked as they are; the command line
 * (main.c) is #included, its main() renamed, for its parser.
 *
 *  - socket (--unix/--tcp): the connection is one end of a socketpair; the
 *    other end holds the input as everything the server will ever send, then
 *    end-of-file.  The tool's requests pile up unread at that end.
 *  - device: ioctl() is replaced (ld --wrap=ioctl: the client's calls come
 *    here) with a fake that fills the restricted struct from the input, or fails with an errno
 *    from it; read() of a blob's rest (SWTPM_IOCTL_BUFFERSIZE) comes from a
 *    socketpair filled from the input.  When the input runs out the fake
 *    answers ENODEV, as a vanished server would.
 *
 * The first bytes choose the command (-c, -i, -s, --stop, -e, -r, -l, -v,
 * -C, -h, --save, --load, -g, -b, --info, --lock-storage, the blob
 * transports directly, or the command line parser) and its arguments; the
 * rest is the server's side.  Checks, besides ASan/UBSan/LSan: every
 * command returns 0 or -1, a blob fetched over a socket is no larger than
 * the input that carried it, and no file descriptor is left open.  The
 * tool's stdout and stderr streams go to /dev/null (ASan and libFuzzer
 * write to the real stderr, and so does this file, through real_stderr).
 */
#include "input.h"
#include "io.h"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static FILE *real_stderr;

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(real_stderr, "fuzz-tool: " __VA_ARGS__);               \
		fputc('\n', real_stderr);                                      \
		abort();                                                       \
	} while (0)

/* The ioctl replies of a device server, and how far they are consumed. */
static struct {
	const uint8_t *p;
	size_t n;
	unsigned calls;
} dev_stream;

int __wrap_ioctl(int fd, unsigned long req, ...);

int __wrap_ioctl(int fd, unsigned long req, ...)
{
	static const int errnos[] = { ENOTTY, EINVAL, ENODEV, ENOTCONN,
				      ECONNABORTED, EIO, EINTR, EFAULT };
	size_t size = _IOC_SIZE(req), n;
	uint8_t ctl, *arg;
	va_list ap;

	(void)fd;
	va_start(ap, req);
	arg = va_arg(ap, uint8_t *);
	va_end(ap);
	if (!dev_stream.n || ++dev_stream.calls > 4096) {
		errno = ENODEV; /* the server has gone away */
		return -1;
	}
	ctl = *dev_stream.p++;
	dev_stream.n--;
	if ((ctl & 3) == 0) {
		errno = errnos[(ctl >> 2) % (sizeof(errnos) / sizeof(errnos[0]))];
		return -1;
	}
	/* 1, 3: the reply's fixed fields only; 2: the whole struct */
	n = (ctl & 3) == 2 ? size : (size < 16 ? size : 16);
	if (n > dev_stream.n) {
		memcpy(arg, dev_stream.p, dev_stream.n);
		memset(arg + dev_stream.n, 0, n - dev_stream.n);
		dev_stream.p += dev_stream.n;
		dev_stream.n = 0;
	} else {
		memcpy(arg, dev_stream.p, n);
		dev_stream.p += n;
		dev_stream.n -= n;
	}
	return 0;
}

int cuse_tpm_ioctl_main(int argc, char **argv);

#define main cuse_tpm_ioctl_main
#include "../../cuse_tpm_ioctl/main.c" /* not the daemon's main.c */
#undef main

/* The commands, in the order the corpus's first byte picks them. */
static int (*const commands[])(struct client *c, const struct args *a) = {
	cmd_capabilities, cmd_init, cmd_stop, cmd_shutdown, cmd_established,
	cmd_reset_established, cmd_store_volatile, cmd_cancel, cmd_locality,
	cmd_hash, cmd_save, cmd_load, cmd_config, cmd_buffersize, cmd_info,
	cmd_lock_storage,
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* A length-prefixed piece of the input (at most @max bytes). */
static size_t in_piece(struct input *in, size_t max, const uint8_t **p)
{
	size_t len = in_u8(in);

	if (len == 0xff)
		len = (size_t)in_u8(in) << 8 | in_u8(in);
	if (len > in->n)
		len = in->n;
	if (len > max)
		len = max;
	*p = in->p;
	in->p += len;
	in->n -= len;
	return len;
}

/* The lowest free descriptor: if it moves, something was left open. */
static int lowest_free_fd(void)
{
	int fd = dup(0);

	if (fd >= 0)
		close(fd);
	return fd;
}

/* A socketpair whose far end has sent @len bytes and then EOF. */
static int feed_socket(const uint8_t *p, size_t len, int *far)
{
	int sv[2], size = 1 << 20;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		FAIL("socketpair: %s", strerror(errno));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (len && io_write_all(sv[1], p, len) < 0)
		FAIL("cannot queue %zu bytes of server reply", len);
	shutdown(sv[1], SHUT_WR);
	*far = sv[1];
	return sv[0];
}

/* The command line parser on an argv from the input, as in a new process. */
static void fuzz_parse_args(struct input *in)
{
	char *owned[33], *argv[33];
	int argc = 0, i;
	struct args a;
	size_t start = 0, pos;

	owned[argc++] = strdup("cuse_tpm_ioctl");
	for (pos = 0; pos <= in->n && argc < 32; pos++) {
		if (pos == in->n || in->p[pos] == '\0') {
			owned[argc] = strndup((const char *)in->p + start,
					      pos - start);
			if (!owned[argc])
				abort();
			argc++;
			start = pos + 1;
		}
	}
	owned[argc] = NULL;
	memcpy(argv, owned, sizeof(argv));
	memset(&a, 0, sizeof(a));
	optind = 0; /* a new process: getopt starts afresh */
	opterr = 0; /* glibc's messages would go to the real stderr */
	switch (parse_args(argc, argv, &a)) {
	case PARSE_OK:
		if (!a.cmd || !a.cmd->run)
			FAIL("parse_args: OK without a command");
		if (!a.device && !a.tcp_host && !a.unix_path)
			FAIL("parse_args: OK without a place to connect to");
		if (a.cmd->takes_file && !a.blob_file)
			FAIL("parse_args: %s without its file", a.cmd->option);
		break;
	case PARSE_ERROR:
	case PARSE_DONE:
		break;
	default:
		FAIL("parse_args returned something else");
	}
	free(a.tcp_host);
	for (i = 0; i < argc; i++)
		free(owned[i]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	real_stderr = stderr;
	/* the tool's messages; fds 1 and 2 stay */
	stdout = fopen("/dev/null", "w");
	stderr = fopen("/dev/null", "w");
	if (!stdout || !stderr) {
		fprintf(real_stderr, "fuzz-tool: cannot open /dev/null\n");
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	int (*run)(struct client *c, const struct args *a);
	uint8_t mode, which;
	struct client c;
	struct args a;
	struct client_blob b = { NULL, 0 };
	const uint8_t *piece, *rest;
	char path[64], hash[16384];
	size_t plen, read_len;
	int fd_before, far = -1, memfd = -1, ret = 0;
	uint32_t res = 0, blob_type;
	/*
	 * --save/--load's type by name (the tool refuses "bogus"); the blob
	 * transports below take the number, 0 and 4 being for a server to
	 * refuse.
	 */
	static const char *const blob_names[] = {
		"bogus", "permanent", "volatile", "savestate", "savestate",
	};

	fd_before = lowest_free_fd();
	mode = in_u8(&in);
	which = (mode >> 1) % 20;
	if (which == 19) {
		fuzz_parse_args(&in);
		goto out;
	}
	memset(&a, 0, sizeof(a));
	memset(&c, 0, sizeof(c));
	a.number = in_u32(&in);
	a.info_flags = (uint64_t)in_u32(&in) << 32;
	a.info_flags |= in_u32(&in);
	blob_type = in_u8(&in) % 5;
	a.blob_type = blob_names[blob_type];
	a.blob_file = "/dev/null";
	/* a blob to load, or the data to hash */
	plen = in_piece(&in, sizeof(hash) - 1, &piece);
	c.where = "fuzz";
	if (mode & 1) {
		c.tp = &client_socket;
		c.fd = feed_socket(in.p, in.n, &far);
	} else {
		/* SWTPM_IOCTL_BUFFERSIZE: 0 (ioctls only) or a read()/write() chunk */
		uint8_t chunk = in_u8(&in);

		c.tp = &client_device;
		c.rw_chunk = chunk < 0x80 ? 0 : (chunk & 0x7f) * 37 + 1;
		/*
		 * The blob's write()s pile up unread at the socketpair's far
		 * end, each a buffer of its own: past a few hundred the write
		 * blocks, where the device would take them.  64 at most.
		 */
		if (c.rw_chunk && plen / c.rw_chunk >= 64)
			c.rw_chunk = plen / 64 + 1;
		read_len = in_u8(&in);
		read_len = read_len << 8 | in_u8(&in);
		if (read_len > in.n)
			read_len = in.n;
		c.fd = feed_socket(in.p, read_len, &far);
		rest = in.p + read_len;
		dev_stream.p = rest;
		dev_stream.n = in.n - read_len;
		dev_stream.calls = 0;
	}
	switch (which) {
	case 16:
		ret = c.tp->get_blob(&c, blob_type, &b, &res);
		if (ret > 0)
			FAIL("get_blob returned %d", ret);
		if (!ret && c.tp == &client_socket && b.len > size)
			FAIL("a %zu-byte blob out of a %zu-byte input", b.len, size);
		free(b.data);
		ret = 0;
		break;
	case 17:
		b.data = (uint8_t *)piece;
		b.len = plen;
		ret = c.tp->set_blob(&c, blob_type, &b, &res);
		if (ret > 0)
			FAIL("set_blob returned %d", ret);
		ret = 0;
		break;
	case 18: {
		/* one operation of any kind, as run_op() carries it */
		enum ctrl_op_id id = (enum ctrl_op_id)(a.number % CTRL_OP_COUNT);
		const struct ctrl_op *op = &ctrl_op_table[id];
		union {
			struct ptm_getinfo gi;
			struct ptm_getstate gs;
			struct ptm_hdata hd;
			ptm_cap cap;
		} msg;

		memset(&msg, 0, sizeof(msg));
		ret = run_op(&c, id, &msg, op->req_size,
			     op->ioctl_nr ? _IOC_SIZE(op->ioctl_nr) : sizeof(msg));
		break;
	}
	default:
		run = commands[which % N_COMMANDS];
		if (run == cmd_hash) {
			memcpy(hash, piece, plen);
			hash[plen] = '\0';
			if (!strcmp(hash, "-"))
				hash[0] = '+'; /* "-" would read stdin */
			a.hash_data = hash;
		}
		if (run == cmd_load) {
			memfd = memfd_create("blob", MFD_CLOEXEC);
			if (memfd < 0 || (plen && io_write_all(memfd, piece, plen)))
				FAIL("memfd");
			snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
			a.blob_file = path;
		}
		ret = run(&c, &a);
		break;
	}
	if (ret != 0 && ret != -1)
		FAIL("command returned %d", ret);
	close(c.fd);
	close(far);
	if (memfd >= 0)
		close(memfd);
out:
	if (lowest_free_fd() != fd_before)
		FAIL("a file descriptor was left open (lowest free %d, was %d)",
		     lowest_free_fd(), fd_before);
	return 0;
}
