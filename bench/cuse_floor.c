/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The floor under the device: a bare CUSE device that does no work.  write()
 * takes a command and read() returns one canned TPM response, as /dev/tpm0's
 * protocol wants; poll() says which of the two comes next.  Whatever the
 * daemon's device costs above this device plus libtpms' own time is the
 * daemon's to save.
 *
 *     cuse_floor NAME st|mt [tpm|tpm-handoff DIR]
 *
 * serves /dev/NAME in the foreground with libfuse's single-threaded (st) or
 * multi-threaded (mt) loop until SIGTERM.  With "tpm", write() runs the
 * command in libtpms instead (a fresh TPM 2.0 whose NVRAM is libtpms' own
 * NVChip file in DIR, no state handling, no checks): the least a CUSE TPM
 * can be, and libtpms' cost where it really runs, in a server woken for
 * each command, which a loop in one process does not show.
 *
 * "tpm-handoff" is the other way to build it, swtpm's CUSE mode's: write()
 * hands the command to a worker thread and returns, and read() (or poll())
 * waits until the worker is through.  The command then runs while the
 * write's answer travels, at the price of a thread switch each way.
 */
#define FUSE_USE_VERSION 312

#include <cuse_lowlevel.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <libtpms/tpm_error.h>
#include <libtpms/tpm_library.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* GetRandom(32)'s answer: TPM_ST_NO_SESSIONS, 44 bytes, success, 32 bytes. */
static const uint8_t canned[44] = {
	0x80, 0x01, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20,
};

/* The device's libtpms, when it has one (the session's userdata). */
struct floor_tpm {
	pthread_mutex_t lock;
	unsigned char *resp; /* libtpms' buffer, reused */
	uint32_t resp_cap;
	bool handoff; /* tpm-handoff: set once at start */
	/* tpm-handoff: the one command the worker runs next, under hlock */
	pthread_mutex_t hlock;
	pthread_cond_t work, done;
	struct opener *for_opener; /* NULL: the worker is idle */
	uint8_t cmd[4096];
	size_t cmd_len;
};

/* One per opener, at fi->fh (fi itself is rebuilt for every request). */
struct opener {
	bool pending; /* a response waits to be read */
	uint8_t resp[4096];
	uint32_t resp_len;
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

/* The command through libtpms into @o->resp; the canned answer without. */
static void run_command(struct floor_tpm *tpm, struct opener *o,
			const char *buf, size_t size)
{
	uint32_t n = 0;

	if (!tpm) {
		memcpy(o->resp, canned, sizeof(canned));
		o->resp_len = sizeof(canned);
		return;
	}
	pthread_mutex_lock(&tpm->lock);
	if (TPMLIB_Process(&tpm->resp, &n, &tpm->resp_cap, (unsigned char *)buf,
			   (uint32_t)size) != TPM_SUCCESS || n > sizeof(o->resp))
		n = 0;
	memcpy(o->resp, tpm->resp, n);
	pthread_mutex_unlock(&tpm->lock);
	o->resp_len = n;
}

/* tpm-handoff: runs each command handed over, one at a time. */
static void *handoff_worker(void *arg)
{
	struct floor_tpm *tpm = arg;

	pthread_mutex_lock(&tpm->hlock);
	for (;;) {
		while (!tpm->for_opener)
			pthread_cond_wait(&tpm->work, &tpm->hlock);
		pthread_mutex_unlock(&tpm->hlock);
		run_command(tpm, tpm->for_opener, (const char *)tpm->cmd,
			    tpm->cmd_len);
		pthread_mutex_lock(&tpm->hlock);
		tpm->for_opener = NULL;
		pthread_cond_broadcast(&tpm->done);
	}
	return NULL;
}

/* tpm-handoff: until the worker has no command, the last one's response
 * in place; under hlock. */
static void wait_idle_locked(struct floor_tpm *tpm)
{
	while (tpm->for_opener)
		pthread_cond_wait(&tpm->done, &tpm->hlock);
}

static void wait_done(struct floor_tpm *tpm)
{
	pthread_mutex_lock(&tpm->hlock);
	wait_idle_locked(tpm);
	pthread_mutex_unlock(&tpm->hlock);
}

static void hand_over(struct floor_tpm *tpm, struct opener *o, const char *buf,
		      size_t size)
{
	size_t n = size < sizeof(tpm->cmd) ? size : sizeof(tpm->cmd);

	pthread_mutex_lock(&tpm->hlock);
	wait_idle_locked(tpm);
	memcpy(tpm->cmd, buf, n);
	tpm->cmd_len = n;
	tpm->for_opener = o;
	pthread_cond_signal(&tpm->work);
	pthread_mutex_unlock(&tpm->hlock);
}

static void floor_write(fuse_req_t req, const char *buf, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	struct opener *o = opener_of(fi);
	struct floor_tpm *tpm = fuse_req_userdata(req);

	(void)off;
	if (tpm && tpm->handoff)
		hand_over(tpm, o, buf, size);
	else
		run_command(tpm, o, buf, size);
	o->pending = true;
	fuse_reply_write(req, size);
}

static void floor_read(fuse_req_t req, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct opener *o = opener_of(fi);
	struct floor_tpm *tpm = fuse_req_userdata(req);

	(void)off;
	if (tpm && tpm->handoff)
		wait_done(tpm);
	if (!o->pending) {
		fuse_reply_buf(req, NULL, 0); /* nothing written: EOF, as tpm0 */
		return;
	}
	o->pending = false;
	fuse_reply_buf(req, (const char *)o->resp,
		       size < o->resp_len ? size : o->resp_len);
}

static void floor_poll(fuse_req_t req, struct fuse_file_info *fi,
		       struct fuse_pollhandle *ph)
{
	struct floor_tpm *tpm = fuse_req_userdata(req);

	if (tpm && tpm->handoff)
		wait_done(tpm); /* ready once the worker is through */
	if (ph)
		fuse_pollhandle_destroy(ph); /* never needed: always ready */
	fuse_reply_poll(req, opener_of(fi)->pending ? POLLIN | POLLRDNORM : POLLOUT | POLLWRNORM);
}

static void floor_release(fuse_req_t req, struct fuse_file_info *fi)
{
	struct floor_tpm *tpm = fuse_req_userdata(req);

	if (tpm && tpm->handoff)
		wait_done(tpm); /* the worker may still write the response */
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

/* A fresh TPM 2.0, powered on and started; 0 or -1. */
static int floor_tpm_start(struct floor_tpm *tpm)
{
	static const uint8_t startup_clear[12] = {
		0x80, 0x01, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x01, 0x44,
	};
	pthread_t worker;
	uint32_t n = 0;

	pthread_mutex_init(&tpm->lock, NULL);
	pthread_mutex_init(&tpm->hlock, NULL);
	pthread_cond_init(&tpm->work, NULL);
	pthread_cond_init(&tpm->done, NULL);
	if (TPMLIB_ChooseTPMVersion(TPMLIB_TPM_VERSION_2) != TPM_SUCCESS ||
	    TPMLIB_MainInit() != TPM_SUCCESS ||
	    TPMLIB_Process(&tpm->resp, &n, &tpm->resp_cap,
			   (unsigned char *)startup_clear,
			   sizeof(startup_clear)) != TPM_SUCCESS)
		return -1;
	if (tpm->handoff &&
	    pthread_create(&worker, NULL, handoff_worker, tpm) != 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	char devname[128];
	const char *dev_info[] = { devname };
	char *fuse_argv[] = { argv[0], "-f", "-s", NULL };
	struct cuse_info ci = { .dev_info_argc = 1, .dev_info_argv = dev_info };
	struct floor_tpm tpm = { .resp = NULL };
	bool with_tpm = argc == 5 && (strcmp(argv[3], "tpm") == 0 ||
				      strcmp(argv[3], "tpm-handoff") == 0);

	if ((argc != 3 && !with_tpm) ||
	    (strcmp(argv[2], "st") && strcmp(argv[2], "mt"))) {
		fputs("usage: cuse_floor NAME st|mt [tpm|tpm-handoff DIR]\n",
		      stderr);
		return 2;
	}
	/* without NVRAM callbacks, libtpms keeps NVChip in the working directory */
	if (with_tpm && chdir(argv[4]) < 0) {
		perror(argv[4]);
		return 1;
	}
	tpm.handoff = with_tpm && strcmp(argv[3], "tpm-handoff") == 0;
	if (with_tpm && floor_tpm_start(&tpm) < 0) {
		fputs("cuse_floor: libtpms failed to start a TPM\n", stderr);
		return 1;
	}
	snprintf(devname, sizeof(devname), "DEVNAME=%s", argv[1]);
	return cuse_lowlevel_main(strcmp(argv[2], "st") ? 2 : 3, fuse_argv,
				  &ci, &floor_ops, with_tpm ? &tpm : NULL);
}
