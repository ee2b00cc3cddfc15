/* SPDX-License-Identifier: BSD-3-Clause */
#include "cuse_dev.h"

#include "crypt.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

int cuse_dev_init(struct cuse_dev *d, struct vtpm *vtpm)
{
	pthread_condattr_t cattr;
	int rc;

	memset(d, 0, sizeof(*d));
	d->vtpm = vtpm;
	d->release_grace_ms = CUSE_RELEASE_GRACE_MS;
	rc = pthread_mutex_init(&d->lock, NULL);
	if (rc) {
		errno = rc;
		return -1;
	}
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&d->released, &cattr);
	pthread_condattr_destroy(&cattr);
	if (rc) {
		pthread_mutex_destroy(&d->lock);
		errno = rc;
		return -1;
	}
	/* made now, before the sandbox; none means no held writes */
	d->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	return 0;
}

static void set_timer(struct cuse_dev *d, long us)
{
	struct itimerspec when = {
		.it_value = { .tv_sec = us / 1000000, .tv_nsec = us % 1000000 * 1000 },
	};

	timerfd_settime(d->timer_fd, 0, &when, NULL);
}

void cuse_dev_destroy(struct cuse_dev *d)
{
	if (d->timer_fd >= 0)
		close(d->timer_fd);
	pthread_cond_destroy(&d->released);
	pthread_mutex_destroy(&d->lock);
}

/* ---- O_NONBLOCK writes held while a short command runs ------------------ */

/*
 * @o's held write (any opener's, for NULL), if any, to be answered once
 * dev->lock is dropped; its timer stops.  Under dev->lock, as the timer is
 * set under it: a write that comes next sets its own after this.
 */
static fuse_req_t take_held_write(struct cuse_dev *d,
				  const struct cuse_opener *o, size_t *size)
{
	fuse_req_t req = NULL;

	if (d->held_write && (!o || d->held_by == o)) {
		req = d->held_write;
		*size = d->held_size;
		d->held_write = NULL;
		set_timer(d, 0);
	}
	return req;
}

/*
 * An O_NONBLOCK client writes, then polls.  Were its write answered before
 * the command ran, the poll would find the command still running and the
 * response would need a poll notification and a second poll: two more
 * trips through the kernel per command.  So the write is held while its
 * command runs, unless that takes longer than CUSE_NONBLOCK_HOLD_US: then
 * the node's keeper (cuse.c) finds the timer fired and answers it, and the
 * client polls, as for /dev/tpm0.
 */
int cuse_dev_timer_fd(const struct cuse_dev *d)
{
	return d->timer_fd;
}

void cuse_dev_hold_writes(struct cuse_dev *d, bool on)
{
	fuse_req_t req = NULL;
	size_t size = 0;

	pthread_mutex_lock(&d->lock);
	d->holding = on && d->timer_fd >= 0;
	if (!d->holding) /* nobody will answer a held write now: this call does */
		req = take_held_write(d, NULL, &size);
	pthread_mutex_unlock(&d->lock);
	if (req)
		fuse_reply_write(req, size);
}

void cuse_dev_timer_fired(struct cuse_dev *d)
{
	uint64_t expiries;
	fuse_req_t req;
	size_t size = 0;

	if (read(d->timer_fd, &expiries, sizeof(expiries)) < 0)
		return; /* EAGAIN: disarmed in between, the write was answered */
	pthread_mutex_lock(&d->lock);
	req = take_held_write(d, NULL, &size);
	pthread_mutex_unlock(&d->lock);
	if (req)
		fuse_reply_write(req, size);
}

bool cuse_dev_budget_take(struct cuse_dev *d, size_t n)
{
	if (n > CUSE_XFER_BUDGET - d->xfer_bytes)
		return false;
	d->xfer_bytes += n;
	return true;
}

void cuse_opener_end_transfer(struct cuse_opener *o)
{
	o->dev->xfer_bytes -= o->blob_len;
	wipe_free(o->blob, o->blob_len); /* a decrypted blob: the TPM's secrets */
	o->blob = NULL;
	o->blob_len = o->blob_off = 0;
	o->xfer = XFER_NONE;
}

int cuse_opener_append(struct cuse_opener *o, const void *data, size_t len)
{
	uint8_t *p;
	int err = 0;

	if (o->blob_len + len > VTPM_MAX_BLOB)
		err = EFBIG;
	else if (!cuse_dev_budget_take(o->dev, len))
		err = ENOSPC;
	else if (!(p = malloc(o->blob_len + len + 1))) {
		o->dev->xfer_bytes -= len;
		err = ENOMEM;
	}
	if (err) {
		cuse_opener_end_transfer(o);
		return err;
	}
	/* not realloc(): the old copy is wiped, not left in the heap */
	if (o->blob_len)
		memcpy(p, o->blob, o->blob_len);
	memcpy(p + o->blob_len, data, len);
	wipe_free(o->blob, o->blob_len);
	o->blob = p;
	o->blob_len += len;
	return 0;
}

static void drop_response(struct cuse_opener *o)
{
	free(o->resp);
	o->resp = NULL;
	o->resp_len = o->resp_off = 0;
	o->resp_untouched = false;
}

/*
 * Frees @o; its space, if any, is returned for rm_space_free(), which
 * takes the TPM: the caller calls it once it no longer holds dev->lock.
 */
static struct rm_space *opener_free(struct cuse_opener *o)
{
	struct rm_space *space = o->space;

	cuse_opener_end_transfer(o);
	drop_response(o);
	if (o->ph)
		fuse_pollhandle_destroy(o->ph);
	free(o);
	return space;
}

/*
 * Takes up to @size response bytes into @out (VTPM_IO_MAX bytes); how many.
 * Under dev->lock.  The reply goes out once the lock is dropped: the client
 * it wakes may write its next command at once, and that write must not
 * find the lock still held (a futex wait and wake per command).
 */
static size_t take_response(struct cuse_opener *o, uint8_t *out, size_t size)
{
	uint32_t left = o->resp_len - o->resp_off;
	size_t n = size < left ? size : left;

	memcpy(out, o->resp + o->resp_off, n);
	o->resp_off += n;
	o->resp_untouched = false;
	if (o->resp_off == o->resp_len)
		drop_response(o);
	return n;
}

/*
 * The TPM's answer to a command: hand it to whoever waits.  @o is gone on
 * return if it was closed while the command ran.
 */
static void on_response(struct cuse_opener *o, const uint8_t *resp,
			uint32_t len)
{
	struct cuse_dev *d = o->dev;
	struct fuse_pollhandle *ph;
	uint8_t out[VTPM_IO_MAX];
	fuse_req_t reader, writer;
	size_t n = 0, written = 0;

	pthread_mutex_lock(&d->lock);
	o->cmd_pending = false;
	writer = take_held_write(d, o, &written);
	if (o->released) {
		struct rm_space *space = opener_free(o);

		pthread_mutex_unlock(&d->lock);
		rm_space_free(space); /* closed mid-command: flush what it left */
		return;
	}
	o->resp = malloc(len);
	if (o->resp) {
		memcpy(o->resp, resp, len);
		o->resp_len = len;
		o->resp_untouched = true;
	}
	reader = o->read_req;
	o->read_req = NULL;
	if (reader && o->resp)
		n = take_response(o, out, o->read_size);
	ph = o->ph;
	o->ph = NULL;
	pthread_mutex_unlock(&d->lock);

	if (writer) /* its response is in place: the client's poll finds it */
		fuse_reply_write(writer, written);
	if (reader && n)
		fuse_reply_buf(reader, (const char *)out, n);
	else if (reader)
		fuse_reply_err(reader, ENOMEM);
	if (ph) {
		fuse_lowlevel_notify_poll(ph);
		fuse_pollhandle_destroy(ph);
	}
}

/*
 * Gives a late RELEASE of the owner time to arrive, whatever the owner
 * left behind: a client that closed mid-command, or with its response
 * unread, and at once reopened must not find its own old open in the way.
 * Under dev->lock.
 */
static void wait_for_owner_release(struct cuse_dev *d,
				   const struct cuse_opener *o)
{
	struct timespec deadline;

	/* one write waits at a time: non-owners may not fill the thread pool */
	if (d->grace_waiter)
		return;
	d->grace_waiter = true;
	io_deadline_in(&deadline, d->release_grace_ms);
	while (d->data_owner && d->data_owner != o)
		if (pthread_cond_timedwait(&d->released, &d->lock, &deadline))
			break;
	d->grace_waiter = false;
}

/* Why a command may not be written now: 0 or an errno. Under dev->lock. */
static int command_refused(struct cuse_dev *d, struct cuse_opener *o,
			   const uint8_t *buf, size_t size)
{
	if (!d->rm && d->data_owner && d->data_owner != o)
		wait_for_owner_release(d, o);
	if (d->data_owner && d->data_owner != o)
		return EBUSY;
	if (o->cmd_pending || (o->resp && o->resp_untouched))
		return EBUSY;
	if (size > vtpm_max_command(d->vtpm) || size > VTPM_IO_MAX)
		return E2BIG;
	if (size < TPM_HEADER_SIZE || tpm_header_size(buf) != size)
		return EINVAL;
	return 0;
}

static void append_blob(fuse_req_t req, struct cuse_opener *o, const char *buf,
			size_t size)
{
	int err = cuse_opener_append(o, buf, size);

	/* past the budget of all openers' transfers: out of memory */
	if (err)
		fuse_reply_err(req, err == ENOSPC ? ENOMEM : err);
	else
		fuse_reply_write(req, size);
}

/* Runs a checked command; @o may be gone on return (see on_response). */
static void run_command(struct cuse_opener *o, const uint8_t *cmd, size_t size)
{
	uint8_t resp[VTPM_IO_MAX];
	int n;

	if (o->space) /* a resource-managed node */
		n = (int)rm_execute(o->space, cmd, (uint32_t)size, resp,
				    sizeof(resp));
	else
		n = vtpm_execute(o->dev->vtpm, cmd, (uint32_t)size, resp,
				 sizeof(resp));
	on_response(o, resp, (uint32_t)n);
}

/*
 * Runs an O_NONBLOCK write's command before the write returns if it is one
 * that never takes long and the TPM is free: then no timer need be armed
 * for it (two timerfd_settime() a command, which cost a guest with an
 * emulated timer more than the command).  False if it did not run.
 */
static bool run_quick_command(struct cuse_opener *o, const uint8_t *cmd,
			      size_t size)
{
	uint8_t resp[VTPM_IO_MAX];
	int n;

	if (o->space)
		return false; /* the RM node's commands run side by side */
	n = vtpm_execute_quick(o->dev->vtpm, cmd, (uint32_t)size, resp,
			       sizeof(resp));
	if (n < 0)
		return false;
	on_response(o, resp, (uint32_t)n);
	return true;
}

/*
 * A blocking write runs its command before it returns, as /dev/tpm0's does:
 * the read that follows finds the response and only copies it, so one
 * thread at a time works on a command and none waits for another.  An
 * O_NONBLOCK write must not wait for a command that may take seconds: a
 * quick one runs at once when the TPM is free (run_quick_command()), any
 * other is held for CUSE_NONBLOCK_HOLD_US at most (see
 * cuse_dev_timer_fired()), and a longer command runs on this thread after the
 * write returns, while the client polls.  fi->flags are the file's flags at
 * this very write: the kernel sends them with every FUSE_WRITE and
 * FUSE_READ, fcntl(F_SETFL) changes included.
 */
void cuse_dev_write(fuse_req_t req, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct cuse_opener *o = cuse_opener_of(fi);
	struct cuse_dev *d = o->dev;
	uint8_t cmd[VTPM_IO_MAX];
	bool nonblock = fi->flags & O_NONBLOCK, hold;
	int err;

	(void)off;
	pthread_mutex_lock(&d->lock);
	if (o->xfer == XFER_SET) {
		append_blob(req, o, buf, size);
		goto out;
	}
	if (o->xfer == XFER_GET) {
		/* a command in the middle of reading a blob: the blob is lost */
		cuse_opener_end_transfer(o);
		fuse_reply_err(req, EIO);
		goto out;
	}
	err = command_refused(d, o, (const uint8_t *)buf, size);
	if (err) {
		fuse_reply_err(req, err);
		goto out;
	}
	drop_response(o);
	if (!d->rm)
		d->data_owner = o;
	o->cmd_pending = true;
	pthread_mutex_unlock(&d->lock);

	/* the writer holds the file open: no RELEASE until we answer */
	if (!nonblock) {
		run_command(o, (const uint8_t *)buf, size);
		fuse_reply_write(req, size);
		return;
	}
	if (run_quick_command(o, (const uint8_t *)buf, size)) {
		fuse_reply_write(req, size);
		return;
	}
	/* one held write at a time: another is answered at once */
	pthread_mutex_lock(&d->lock);
	hold = d->holding && !d->held_write;
	if (hold) {
		d->held_write = req;
		d->held_size = size;
		d->held_by = o;
		set_timer(d, CUSE_NONBLOCK_HOLD_US);
	}
	pthread_mutex_unlock(&d->lock);
	/* the request's buffer is libfuse's once the write is answered */
	memcpy(cmd, buf, size);
	if (!hold)
		fuse_reply_write(req, size);
	run_command(o, cmd, size);
	return;
out:
	pthread_mutex_unlock(&d->lock);
}

static void read_blob(fuse_req_t req, struct cuse_opener *o, size_t size)
{
	uint32_t left = o->blob_len - o->blob_off;
	size_t n = size < left ? size : left;

	fuse_reply_buf(req, (const char *)o->blob + o->blob_off, n);
	o->blob_off += n;
	/* a short read means the reader has seen everything */
	if (n < size || o->blob_off == o->blob_len)
		cuse_opener_end_transfer(o);
}

void cuse_dev_read(fuse_req_t req, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct cuse_opener *o = cuse_opener_of(fi);
	struct cuse_dev *d = o->dev;
	uint8_t out[VTPM_IO_MAX];
	size_t n;

	(void)off;
	pthread_mutex_lock(&d->lock);
	if (o->xfer == XFER_GET)
		read_blob(req, o, size);
	else if (o->xfer == XFER_SET)
		fuse_reply_err(req, EIO);
	else if (o->resp) {
		n = take_response(o, out, size);
		pthread_mutex_unlock(&d->lock);
		fuse_reply_buf(req, (const char *)out, n);
		return;
	} else if (!o->cmd_pending)
		fuse_reply_buf(req, NULL, 0); /* nothing pending: EOF, as tpm0 */
	else if (fi->flags & O_NONBLOCK)
		fuse_reply_err(req, EAGAIN);
	else if (o->read_req)
		fuse_reply_err(req, EBUSY); /* another thread already waits */
	else {
		o->read_req = req;
		o->read_size = size;
	}
	pthread_mutex_unlock(&d->lock);
}

void cuse_dev_poll(fuse_req_t req, struct fuse_file_info *fi,
		   struct fuse_pollhandle *ph)
{
	struct cuse_opener *o = cuse_opener_of(fi);
	struct cuse_dev *d = o->dev;
	unsigned revents = 0;

	pthread_mutex_lock(&d->lock);
	if (o->resp || o->xfer == XFER_GET)
		revents = POLLIN | POLLRDNORM;
	else if (!o->cmd_pending)
		revents = POLLOUT | POLLWRNORM;
	/*
	 * Kept to wake a poller that waits for the response; one that has it
	 * needs no wake-up (each notification is a trip through the kernel).
	 */
	if (ph && (revents & POLLIN)) {
		fuse_pollhandle_destroy(ph);
	} else if (ph) {
		if (o->ph)
			fuse_pollhandle_destroy(o->ph);
		o->ph = ph;
	}
	pthread_mutex_unlock(&d->lock);
	fuse_reply_poll(req, revents);
}

void cuse_dev_open(fuse_req_t req, struct fuse_file_info *fi, struct cuse_dev *d)
{
	struct cuse_opener *o = calloc(1, sizeof(*o));

	if (!o) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	o->dev = d;
	if (d->rm) {
		o->space = rm_space_new(d->rm);
		if (!o->space) {
			free(o);
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	fi->fh = (uintptr_t)o;
	fi->nonseekable = 1;
	fuse_reply_open(req, fi);
}

void cuse_dev_release(fuse_req_t req, struct fuse_file_info *fi)
{
	struct cuse_opener *o = cuse_opener_of(fi);
	struct cuse_dev *d = o->dev;
	struct rm_space *space = NULL;

	pthread_mutex_lock(&d->lock);
	if (d->data_owner == o) {
		d->data_owner = NULL;
		pthread_cond_broadcast(&d->released);
	}
	if (o->cmd_pending)
		o->released = true; /* on_response frees it */
	else
		space = opener_free(o);
	pthread_mutex_unlock(&d->lock);
	rm_space_free(space); /* close flushes what the opener left */
	fuse_reply_err(req, 0);
}
