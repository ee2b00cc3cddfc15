/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The floor under the device: a bare CUSE device that does no work.  write()
 * takes a command and read() returns one canned TPM response, as /dev/tpm0's
 * protocol wants; poll() says which of the two comes next.  Whatever the
 * daemon's device costs above this device plus libtpms' own time is the
 * daemon's to save.
 *
 *     cuse_floor NAME st|mt
 *
 * serves /dev/NAME in the foreground with libfuse's single-threaded (st) or
 * multi-threaded (mt) loop until SIGTERM.
 */
#define FUSE_USE_VERSION 312

#include <cuse_lowlevel.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GetRandom(32)'s answer: TPM_ST_NO_SESSIONS, 44 bytes, success, 32 bytes. */
static const uint8_t canned[44] = {
	0x80, 0x01, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20,
};

/* One per opener, at fi->fh (fi itself is rebuilt for every request). */
struct opener {
	bool pending; /* a response waits to be read */
};

static struct opener *opener_of(const struct fuse_file_info *fi)
{
	return (struct opener *)(uintptr_t)fi->fh;
}

static void floor_open(fuse_req_t req, struct fuse_file_info *fi)
{
	struct opener *o = calloc(1, sizeof(*o));

	if (!o) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = (uintptr_t)o;
	fi->nonseekable = 1;
	fuse_reply_open(req, fi);
}

static void floor_write(fuse_req_t req, const char *buf, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	(void)buf;
	(void)off;
	opener_of(fi)->pending = true;
	fuse_reply_write(req, size);
}

static void floor_read(fuse_req_t req, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct opener *o = opener_of(fi);

	(void)off;
	if (!o->pending) {
		fuse_reply_buf(req, NULL, 0); /* nothing written: EOF, as tpm0 */
		return;
	}
	o->pending = false;
	fuse_reply_buf(req, (const char *)canned,
		       size < sizeof(canned) ? size : sizeof(canned));
}

static void floor_poll(fuse_req_t req, struct fuse_file_info *fi,
		       struct fuse_pollhandle *ph)
{
	if (ph)
		fuse_pollhandle_destroy(ph); /* never needed: always ready */
	fuse_reply_poll(req, opener_of(fi)->pending ? POLLIN | POLLRDNORM : POLLOUT | POLLWRNORM);
}

static void floor_release(fuse_req_t req, struct fuse_file_info *fi)
{
	free(opener_of(fi));
	fuse_reply_err(req, 0);
}

static const struct cuse_lowlevel_ops floor_ops = {
	.open = floor_open,
	.read = floor_read,
	.write = floor_write,
	.poll = floor_poll,
	.release = floor_release,
};

int main(int argc, char **argv)
{
	char devname[128];
	const char *dev_info[] = { devname };
	char *fuse_argv[] = { argv[0], "-f", "-s", NULL };
	struct cuse_info ci = { .dev_info_argc = 1, .dev_info_argv = dev_info };

	if (argc != 3 || (strcmp(argv[2], "st") && strcmp(argv[2], "mt"))) {
		fputs("usage: cuse_floor NAME st|mt\n", stderr);
		return 2;
	}
	snprintf(devname, sizeof(devname), "DEVNAME=%s", argv[1]);
	return cuse_lowlevel_main(strcmp(argv[2], "st") ? 2 : 3, fuse_argv,
				  &ci, &floor_ops, NULL);
}
