/* SPDX-License-Identifier: BSD-3-Clause */
#define FUSE_USE_VERSION 312
#include "cuse.h"

#include "log.h"

#include <cuse_lowlevel.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <grp.h>
#include <libtpms/tpm_error.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Upper bound on FUSE threads: each blocking write/read/ioctl holds one. */
#define CUSE_MAX_THREADS 64
/*
 * The kernel sends RELEASE after close() returns, in the background: a
 * client that closes and at once reopens can overtake its own RELEASE.  A
 * write that finds the data path held by an idle opener waits this long for
 * such a late RELEASE before it answers EBUSY.
 */
#define RELEASE_GRACE_MS 200

struct cuse_device {
	struct vtpm *vtpm;
	struct fuse_session *se;
	char node[288];            /* /dev/<name> */
	int dev_fd;                /* /dev, which --chroot may hide */
	pthread_t loop_thread;
	pthread_mutex_t lock;      /* the openers' state below and in opener */
	struct opener *data_owner; /* holds the data path, or NULL */
	pthread_cond_t released;   /* signalled when an opener closes */
	cuse_ready_fn ready;
	void *ready_ctx;
	const struct cuse_device_config *cfg;
	bool node_made;            /* the kernel took our CUSE_INIT reply */
};

enum transfer { XFER_NONE, XFER_GET, XFER_SET };

/* One open file: fi->fh points here. */
struct opener {
	struct cuse_device *dev;
	bool released;         /* closed while its command still runs */
	bool cmd_pending;      /* a command is written, its response not ready */
	fuse_req_t read_req;   /* a blocking read waiting for the response */
	size_t read_size;
	struct fuse_pollhandle *ph;
	uint8_t *resp;         /* the response not yet read */
	uint32_t resp_len, resp_off;
	bool resp_untouched;   /* not one byte of it read yet */
	enum transfer xfer;    /* a state blob moving through read()/write() */
	uint32_t xfer_type, xfer_flags;
	uint8_t *blob;
	uint32_t blob_len, blob_off;
};

static struct opener *opener_of(struct fuse_file_info *fi)
{
	return (struct opener *)(uintptr_t)fi->fh;
}

static void end_transfer(struct opener *o)
{
	free(o->blob);
	o->blob = NULL;
	o->blob_len = o->blob_off = 0;
	o->xfer = XFER_NONE;
}

static void drop_response(struct opener *o)
{
	free(o->resp);
	o->resp = NULL;
	o->resp_len = o->resp_off = 0;
	o->resp_untouched = false;
}

static void opener_free(struct opener *o)
{
	end_transfer(o);
	drop_response(o);
	if (o->ph)
		fuse_pollhandle_destroy(o->ph);
	free(o);
}

/* ---- data path --------------------------------------------------------- */

/* Copies up to @size response bytes into a read reply. Under dev->lock. */
static void reply_response(struct opener *o, fuse_req_t req, size_t size)
{
	uint32_t left = o->resp_len - o->resp_off;
	size_t n = size < left ? size : left;

	fuse_reply_buf(req, (const char *)o->resp + o->resp_off, n);
	o->resp_off += n;
	o->resp_untouched = false;
	if (o->resp_off == o->resp_len)
		drop_response(o);
}

/* The TPM's answer to a command: hand it to whoever waits. */
static void on_response(struct opener *o, const uint8_t *resp, uint32_t len)
{
	struct cuse_device *d = o->dev;

	pthread_mutex_lock(&d->lock);
	o->cmd_pending = false;
	if (o->released) {
		opener_free(o);
		pthread_mutex_unlock(&d->lock);
		return;
	}
	o->resp = malloc(len);
	if (o->resp) {
		memcpy(o->resp, resp, len);
		o->resp_len = len;
		o->resp_untouched = true;
	}
	if (o->read_req) {
		if (o->resp)
			reply_response(o, o->read_req, o->read_size);
		else
			fuse_reply_err(o->read_req, ENOMEM);
		o->read_req = NULL;
	}
	if (o->ph) {
		fuse_lowlevel_notify_poll(o->ph);
		fuse_pollhandle_destroy(o->ph);
		o->ph = NULL;
	}
	pthread_mutex_unlock(&d->lock);
}

static bool opener_idle(const struct opener *o)
{
	return !o->cmd_pending && !o->resp;
}

/* Gives a late RELEASE of an idle owner time to arrive. Under dev->lock. */
static void wait_for_idle_owner(struct cuse_device *d, const struct opener *o)
{
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_nsec += RELEASE_GRACE_MS * 1000000L;
	deadline.tv_sec += deadline.tv_nsec / 1000000000L;
	deadline.tv_nsec %= 1000000000L;
	while (d->data_owner && d->data_owner != o &&
	       opener_idle(d->data_owner))
		if (pthread_cond_timedwait(&d->released, &d->lock, &deadline))
			break;
}

/* Why a command may not be written now: 0 or an errno. Under dev->lock. */
static int command_refused(struct cuse_device *d, struct opener *o,
			   const uint8_t *buf, size_t size)
{
	if (d->data_owner && d->data_owner != o)
		wait_for_idle_owner(d, o);
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

static void append_blob(fuse_req_t req, struct opener *o, const char *buf,
			size_t size)
{
	uint8_t *p;

	if (o->blob_len + size > VTPM_MAX_BLOB) {
		end_transfer(o);
		fuse_reply_err(req, EFBIG);
		return;
	}
	p = realloc(o->blob, o->blob_len + size);
	if (!p) {
		end_transfer(o);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(p + o->blob_len, buf, size);
	o->blob = p;
	o->blob_len += size;
	fuse_reply_write(req, size);
}

/*
 * A command is taken as soon as it is checked: the write returns, and the
 * command runs on this thread while the client turns to read() or poll(),
 * which find the response or wait for it.  That is /dev/tpm0's contract for
 * O_NONBLOCK, and for a blocking client it hides the command behind the
 * write's way back.
 */
static void dev_write(fuse_req_t req, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct cuse_device *d = fuse_req_userdata(req);
	struct opener *o = opener_of(fi);
	uint8_t cmd[VTPM_IO_MAX], resp[VTPM_IO_MAX];
	int err, n;

	(void)off;
	pthread_mutex_lock(&d->lock);
	if (o->xfer == XFER_SET) {
		append_blob(req, o, buf, size);
		goto out;
	}
	if (o->xfer == XFER_GET) {
		/* a command in the middle of reading a blob: the blob is lost */
		end_transfer(o);
		fuse_reply_err(req, EIO);
		goto out;
	}
	err = command_refused(d, o, (const uint8_t *)buf, size);
	if (err) {
		fuse_reply_err(req, err);
		goto out;
	}
	drop_response(o);
	d->data_owner = o;
	o->cmd_pending = true;
	/* the request's buffer is libfuse's once the write is answered */
	memcpy(cmd, buf, size);
	pthread_mutex_unlock(&d->lock);

	fuse_reply_write(req, size);
	n = vtpm_execute(d->vtpm, cmd, (uint32_t)size, resp, sizeof(resp));
	on_response(o, resp, (uint32_t)n);
	return;
out:
	pthread_mutex_unlock(&d->lock);
}

static void read_blob(fuse_req_t req, struct opener *o, size_t size)
{
	uint32_t left = o->blob_len - o->blob_off;
	size_t n = size < left ? size : left;

	fuse_reply_buf(req, (const char *)o->blob + o->blob_off, n);
	o->blob_off += n;
	/* a short read means the reader has seen everything */
	if (n < size || o->blob_off == o->blob_len)
		end_transfer(o);
}

static void dev_read(fuse_req_t req, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct cuse_device *d = fuse_req_userdata(req);
	struct opener *o = opener_of(fi);

	(void)off;
	pthread_mutex_lock(&d->lock);
	if (o->xfer == XFER_GET)
		read_blob(req, o, size);
	else if (o->xfer == XFER_SET)
		fuse_reply_err(req, EIO);
	else if (o->resp)
		reply_response(o, req, size);
	else if (!o->cmd_pending)
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

static void dev_poll(fuse_req_t req, struct fuse_file_info *fi,
		     struct fuse_pollhandle *ph)
{
	struct cuse_device *d = fuse_req_userdata(req);
	struct opener *o = opener_of(fi);
	unsigned revents = 0;

	pthread_mutex_lock(&d->lock);
	if (o->resp || o->xfer == XFER_GET)
		revents = POLLIN | POLLRDNORM;
	else if (!o->cmd_pending)
		revents = POLLOUT | POLLWRNORM;
	if (ph) {
		if (o->ph)
			fuse_pollhandle_destroy(o->ph);
		o->ph = ph;
	}
	pthread_mutex_unlock(&d->lock);
	fuse_reply_poll(req, revents);
}

static void dev_open(fuse_req_t req, struct fuse_file_info *fi)
{
	struct opener *o = calloc(1, sizeof(*o));

	if (!o) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	o->dev = fuse_req_userdata(req);
	fi->fh = (uintptr_t)o;
	fi->nonseekable = 1;
	fuse_reply_open(req, fi);
}

static void dev_release(fuse_req_t req, struct fuse_file_info *fi)
{
	struct cuse_device *d = fuse_req_userdata(req);
	struct opener *o = opener_of(fi);

	pthread_mutex_lock(&d->lock);
	if (d->data_owner == o) {
		d->data_owner = NULL;
		pthread_cond_broadcast(&d->released);
	}
	if (o->cmd_pending)
		o->released = true; /* on_response frees it */
	else
		opener_free(o);
	pthread_mutex_unlock(&d->lock);
	fuse_reply_err(req, 0);
}

/* ---- control channel ---------------------------------------------------- */

static void reply_result(fuse_req_t req, ptm_res res)
{
	fuse_reply_ioctl(req, 0, &res, sizeof(res));
}

static void ioctl_get_stateblob(fuse_req_t req, struct cuse_device *d,
				struct opener *o, const struct ptm_getstate *in)
{
	uint32_t type = in->u.req.type, flags = in->u.req.state_flags;
	uint32_t offset = in->u.req.offset, n;
	struct ptm_getstate out;
	uint8_t *blob;
	uint32_t len, oflags;
	ptm_res res;

	memset(&out, 0, sizeof(out));
	pthread_mutex_lock(&d->lock);
	if (offset == 0 || o->xfer != XFER_GET || o->xfer_type != type) {
		end_transfer(o);
		pthread_mutex_unlock(&d->lock);
		/* may wait for a running command: not under the device lock */
		res = vtpm_get_stateblob(d->vtpm, type, flags, &blob, &len,
					 &oflags);
		pthread_mutex_lock(&d->lock);
		if (res) {
			pthread_mutex_unlock(&d->lock);
			out.u.resp.tpm_result = res;
			fuse_reply_ioctl(req, 0, &out, sizeof(out));
			return;
		}
		end_transfer(o);
		o->xfer = XFER_GET;
		o->xfer_type = type;
		o->xfer_flags = oflags;
		o->blob = blob;
		o->blob_len = len;
	}
	n = offset < o->blob_len ? o->blob_len - offset : 0;
	if (n > sizeof(out.u.resp.data))
		n = sizeof(out.u.resp.data);
	out.u.resp.state_flags = o->xfer_flags;
	out.u.resp.totlength = o->blob_len;
	out.u.resp.length = n;
	if (n)
		memcpy(out.u.resp.data, o->blob + offset, n);
	/* the rest, if any, follows through read() from where this ends */
	o->blob_off = offset + n;
	if (o->blob_off >= o->blob_len)
		end_transfer(o);
	pthread_mutex_unlock(&d->lock);
	fuse_reply_ioctl(req, 0, &out, sizeof(out));
}

/*
 * A blob arrives in 3072-byte ioctl chunks, ended by the first shorter one;
 * or an empty ioctl opens a transfer that write() feeds and a final short
 * ioctl ends.
 */
static void ioctl_set_stateblob(fuse_req_t req, struct cuse_device *d,
				struct opener *o, const struct ptm_setstate *in)
{
	uint32_t type = in->u.req.type, flags = in->u.req.state_flags;
	uint32_t len = in->u.req.length;
	uint8_t *blob;
	uint32_t blob_len;
	ptm_res res;

	if (len > sizeof(in->u.req.data)) {
		pthread_mutex_lock(&d->lock);
		end_transfer(o);
		pthread_mutex_unlock(&d->lock);
		reply_result(req, TPM_BAD_PARAMETER);
		return;
	}
	pthread_mutex_lock(&d->lock);
	if (o->xfer != XFER_SET || o->xfer_type != type ||
	    o->xfer_flags != flags) {
		bool write_mode = len == 0;

		end_transfer(o);
		o->xfer = XFER_SET;
		o->xfer_type = type;
		o->xfer_flags = flags;
		if (write_mode) {
			pthread_mutex_unlock(&d->lock);
			reply_result(req, TPM_SUCCESS);
			return;
		}
	}
	if (o->blob_len + len > VTPM_MAX_BLOB) {
		end_transfer(o);
		pthread_mutex_unlock(&d->lock);
		reply_result(req, TPM_SIZE);
		return;
	}
	blob = realloc(o->blob, o->blob_len + len + 1);
	if (!blob) {
		end_transfer(o);
		pthread_mutex_unlock(&d->lock);
		reply_result(req, TPM_SIZE);
		return;
	}
	memcpy(blob + o->blob_len, in->u.req.data, len);
	o->blob = blob;
	o->blob_len += len;
	if (len == sizeof(in->u.req.data)) {
		pthread_mutex_unlock(&d->lock);
		reply_result(req, TPM_SUCCESS); /* more to come */
		return;
	}
	/* last chunk: take the blob out of the opener and commit it */
	blob = o->blob;
	blob_len = o->blob_len;
	o->blob = NULL;
	end_transfer(o);
	pthread_mutex_unlock(&d->lock);
	res = vtpm_set_stateblob(d->vtpm, type, flags, blob, blob_len);
	free(blob);
	reply_result(req, res);
}

static void ioctl_get_info(fuse_req_t req, struct cuse_device *d,
			   const struct ptm_getinfo *in)
{
	struct ptm_getinfo out;
	char *json = NULL;
	size_t total, n;

	memset(&out, 0, sizeof(out));
	out.u.resp.tpm_result = vtpm_get_info(d->vtpm, in->u.req.flags, &json);
	if (json) {
		total = strlen(json) + 1;
		if (in->u.req.offset >= total - 1) {
			out.u.resp.tpm_result = TPM_BAD_PARAMETER;
		} else {
			n = total - in->u.req.offset;
			if (n > sizeof(out.u.resp.buffer))
				n = sizeof(out.u.resp.buffer);
			memcpy(out.u.resp.buffer, json + in->u.req.offset, n);
			out.u.resp.totlength = total;
			out.u.resp.length = n;
		}
		free(json);
	}
	fuse_reply_ioctl(req, 0, &out, sizeof(out));
}

static void ioctl_set_buffersize(fuse_req_t req, struct cuse_device *d,
				 const struct ptm_setbuffersize *in)
{
	struct ptm_setbuffersize out;

	memset(&out, 0, sizeof(out));
	out.u.resp.tpm_result = vtpm_set_buffersize(
		d->vtpm, in->u.req.buffersize, &out.u.resp.buffersize,
		&out.u.resp.minsize, &out.u.resp.maxsize);
	fuse_reply_ioctl(req, 0, &out, sizeof(out));
}

static void dev_ioctl(fuse_req_t req, int cmd, void *arg,
		      struct fuse_file_info *fi, unsigned flags,
		      const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	struct cuse_device *d = fuse_req_userdata(req);
	struct opener *o = opener_of(fi);
	unsigned int ucmd = (unsigned int)cmd;
	const struct ptm_hdata *hd = in_buf;
	ptm_res res;

	(void)arg;
	(void)flags;
	(void)out_bufsz;
	/* Restricted ioctls: the kernel copied exactly _IOC_SIZE(cmd) bytes. */
	if ((_IOC_DIR(ucmd) & _IOC_WRITE) && in_bufsz < _IOC_SIZE(ucmd)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	switch (ucmd) {
	case PTM_GET_CAPABILITY: {
		ptm_cap caps = vtpm_get_capability(d->vtpm);

		fuse_reply_ioctl(req, 0, &caps, sizeof(caps));
		break;
	}
	case PTM_INIT: {
		const struct ptm_init *in = in_buf;

		reply_result(req, vtpm_init(d->vtpm, in->u.req.init_flags));
		break;
	}
	case PTM_SHUTDOWN:
		reply_result(req, vtpm_shutdown(d->vtpm));
		break;
	case PTM_GET_TPMESTABLISHED: {
		struct ptm_est out;

		memset(&out, 0, sizeof(out));
		out.u.resp.tpm_result =
			vtpm_get_established(d->vtpm, &out.u.resp.bit);
		fuse_reply_ioctl(req, 0, &out, sizeof(out));
		break;
	}
	case PTM_SET_LOCALITY: {
		const struct ptm_loc *in = in_buf;

		reply_result(req, vtpm_set_locality(d->vtpm, in->u.req.loc));
		break;
	}
	case PTM_HASH_START:
		reply_result(req, vtpm_hash_start(d->vtpm));
		break;
	case PTM_HASH_DATA:
		if (hd->u.req.length > sizeof(hd->u.req.data))
			res = TPM_FAIL;
		else
			res = vtpm_hash_data(d->vtpm, hd->u.req.data,
					     hd->u.req.length);
		reply_result(req, res);
		break;
	case PTM_HASH_END:
		reply_result(req, vtpm_hash_end(d->vtpm));
		break;
	case PTM_CANCEL_TPM_CMD:
		reply_result(req, vtpm_cancel(d->vtpm));
		break;
	case PTM_STORE_VOLATILE:
		reply_result(req, vtpm_store_volatile(d->vtpm));
		break;
	case PTM_RESET_TPMESTABLISHED: {
		const struct ptm_reset_est *in = in_buf;

		reply_result(req, vtpm_reset_established(d->vtpm, in->u.req.loc));
		break;
	}
	case PTM_GET_STATEBLOB:
		ioctl_get_stateblob(req, d, o, in_buf);
		break;
	case PTM_SET_STATEBLOB:
		ioctl_set_stateblob(req, d, o, in_buf);
		break;
	case PTM_STOP:
		reply_result(req, vtpm_stop(d->vtpm));
		break;
	case PTM_GET_CONFIG: {
		struct ptm_getconfig out;

		memset(&out, 0, sizeof(out));
		out.u.resp.tpm_result =
			vtpm_get_config(d->vtpm, &out.u.resp.flags);
		fuse_reply_ioctl(req, 0, &out, sizeof(out));
		break;
	}
	case PTM_SET_BUFFERSIZE:
		ioctl_set_buffersize(req, d, in_buf);
		break;
	case PTM_GET_INFO:
		ioctl_get_info(req, d, in_buf);
		break;
	case PTM_LOCK_STORAGE: {
		const struct ptm_lockstorage *in = in_buf;

		reply_result(req, vtpm_lock_storage(d->vtpm, in->u.req.retries));
		break;
	}
	case PTM_SET_DATAFD: /* a socket's business: no fd crosses CUSE */
		fuse_reply_err(req, EINVAL);
		break;
	default:
		fuse_reply_err(req, ENOTTY);
		break;
	}
}

/* ---- life cycle --------------------------------------------------------- */

/*
 * The kernel has created the node; confirm from another thread that it
 * opens (this FUSE thread must stay free to serve that open).
 */
static void *probe_node(void *arg)
{
	struct cuse_device *d = arg;
	int fd = openat(d->dev_fd, d->cfg->name, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	int err = fd < 0 ? -errno : 0;

	/*
	 * After --runas the node (root's until udev acts) is not ours to open;
	 * that it exists as a character device is what we can know.
	 */
	if (err == -EACCES || err == -EPERM) {
		struct stat st;

		if (fstatat(d->dev_fd, d->cfg->name, &st, 0) == 0 &&
		    S_ISCHR(st.st_mode))
			err = 0;
	}

	if (fd >= 0)
		close(fd);
	d->ready(d->ready_ctx, err);
	return NULL;
}

static void dev_init_done(void *userdata)
{
	struct cuse_device *d = userdata;

	d->node_made = true;
}

/* The readiness probe, once the loop can answer its open(). */
static void start_probe(struct cuse_device *d)
{
	pthread_t t;

	if (!d->ready)
		return;
	if (pthread_create(&t, NULL, probe_node, d) == 0)
		pthread_detach(t);
	else
		d->ready(d->ready_ctx, -EAGAIN);
}

/* A user or group as a name or a number; -1 with a reason in @err. */
static int resolve_id(const char *s, bool group, unsigned *id, char *err,
		      size_t errlen)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!errno && *s && !*end && *s != '-' && v < UINT_MAX) {
		*id = (unsigned)v;
		return 0;
	}
	if (group) {
		const struct group *gr = getgrnam(s);

		if (gr) {
			*id = gr->gr_gid;
			return 0;
		}
	} else {
		const struct passwd *pw = getpwnam(s);

		if (pw) {
			*id = pw->pw_uid;
			return 0;
		}
	}
	return fail_with(err, errlen, "--node: no such %s '%s'",
			 group ? "group" : "user", s);
}

/* --node: owner, group and mode, for hosts where no udev rule sets them. */
static int apply_node_owner(const struct cuse_device *d, char *err,
			    size_t errlen)
{
	const struct cuse_device_config *c = d->cfg;
	unsigned uid = (unsigned)-1, gid = (unsigned)-1;

	if ((c->owner && resolve_id(c->owner, false, &uid, err, errlen) < 0) ||
	    (c->group && resolve_id(c->group, true, &gid, err, errlen) < 0))
		return -1;
	if ((c->owner || c->group) &&
	    lchown(d->node, (uid_t)uid, (gid_t)gid) < 0)
		return fail_with(err, errlen, "--node: chown %s: %s", d->node,
				 strerror(errno));
	if (c->has_mode && chmod(d->node, c->mode) < 0)
		return fail_with(err, errlen, "--node: chmod %s: %s", d->node,
				 strerror(errno));
	return 0;
}

int cuse_device_create_node(struct cuse_device *d, char *err, size_t errlen)
{
	struct fuse_buf buf = { .mem = NULL };
	struct stat st;
	int n, i;

	/* the kernel's first request is CUSE_INIT; our reply makes the node */
	while (!d->node_made && !fuse_session_exited(d->se)) {
		n = fuse_session_receive_buf(d->se, &buf);
		if (n == -EINTR)
			continue;
		if (n <= 0)
			break;
		fuse_session_process_buf(d->se, &buf);
	}
	free(buf.mem);
	if (!d->node_made)
		return fail_with(err, errlen, "the kernel did not start the CUSE "
				 "session for %s", d->node);
	/* devtmpfs makes it before the reply's write returns; allow a lag */
	for (i = 0; i < 100 && lstat(d->node, &st) < 0; i++)
		usleep(10000);
	if (i == 100 || !S_ISCHR(st.st_mode))
		return fail_with(err, errlen, "the kernel did not create %s: is "
				 "the name already taken by another CUSE device?",
				 d->node);
	return apply_node_owner(d, err, errlen);
}

const char *cuse_device_node(const struct cuse_device *d)
{
	return d->node;
}

static const struct cuse_lowlevel_ops dev_ops = {
	.init_done = dev_init_done,
	.open = dev_open,
	.read = dev_read,
	.write = dev_write,
	.release = dev_release,
	.ioctl = dev_ioctl,
	.poll = dev_poll,
};

struct cuse_device *cuse_device_new(const struct cuse_device_config *cfg,
				    cuse_ready_fn ready, void *ready_ctx, char *err,
				    size_t errlen)
{
	char devname[300], fdpath[32];
	const char *dev_info[] = { devname };
	char *argv[] = { "cuse_tpm", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	struct cuse_info ci = {
		.dev_major = cfg->major,
		.dev_minor = cfg->minor,
		.dev_info_argc = 1,
		.dev_info_argv = dev_info,
		/* restricted ioctls: struct sizes are fixed by the ABI */
		.flags = 0,
	};
	pthread_condattr_t cattr;
	struct cuse_device *d;
	struct stat st;
	int fd;

	if (snprintf(devname, sizeof(devname), "DEVNAME=%s", cfg->name) >=
	    (int)sizeof(devname)) {
		snprintf(err, errlen, "device name too long: %s", cfg->name);
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->dev_fd = -1;
	snprintf(d->node, sizeof(d->node), "/dev/%s", cfg->name);
	d->dev_fd = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (d->dev_fd < 0) {
		snprintf(err, errlen, "/dev: %s", strerror(errno));
		goto fail;
	}
	if (lstat(d->node, &st) == 0) {
		snprintf(err, errlen,
			 "%s already exists: another vTPM or device uses that name",
			 d->node);
		goto fail;
	}
	fd = open("/dev/cuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENODEV)
			snprintf(err, errlen,
				 "no /dev/cuse: this kernel has no CUSE loaded; "
				 "try 'modprobe cuse' (or use a kernel with "
				 "CONFIG_CUSE)");
		else
			snprintf(err, errlen, "cannot open /dev/cuse: %s",
				 strerror(errno));
		goto fail;
	}
	d->ready = ready;
	d->ready_ctx = ready_ctx;
	d->cfg = cfg;
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&d->released, &cattr);
	pthread_condattr_destroy(&cattr);
	d->se = cuse_lowlevel_new(&args, &ci, &dev_ops, d);
	fuse_opt_free_args(&args);
	snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", fd);
	if (!d->se || fuse_session_mount(d->se, fdpath) != 0) {
		snprintf(err, errlen, "libfuse could not set up the CUSE session");
		if (d->se)
			fuse_session_destroy(d->se);
		close(fd);
		pthread_cond_destroy(&d->released);
		pthread_mutex_destroy(&d->lock);
		goto fail;
	}
	return d;
fail:
	if (d->dev_fd >= 0)
		close(d->dev_fd);
	free(d);
	return NULL;
}

int cuse_device_run(struct cuse_device *d, struct vtpm *vtpm)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int rc;

	if (!cfg)
		return -1;
	d->vtpm = vtpm;
	fuse_loop_cfg_set_max_threads(cfg, CUSE_MAX_THREADS);
	d->loop_thread = pthread_self();
	/*
	 * libfuse leaves alone a signal that is ignored, and a shell starts
	 * background jobs with SIGINT ignored: take them back, a vTPM must
	 * stop in order on any of them.
	 */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (fuse_set_signal_handlers(d->se) != 0) {
		fuse_loop_cfg_destroy(cfg);
		return -1;
	}
	start_probe(d);
	rc = fuse_session_loop_mt(d->se, cfg);
	fuse_remove_signal_handlers(d->se);
	fuse_loop_cfg_destroy(cfg);
	/* a signal that ended the loop is reported as its number: not an error */
	return rc < 0 ? -1 : 0;
}

void cuse_device_exit(void *arg)
{
	struct cuse_device *d = arg;

	fuse_session_exit(d->se);
	/* wake the loop's main thread, which waits for exactly this */
	pthread_kill(d->loop_thread, SIGTERM);
}

void cuse_device_free(struct cuse_device *d)
{
	if (!d)
		return;
	fuse_session_destroy(d->se);
	if (d->dev_fd >= 0)
		close(d->dev_fd);
	pthread_cond_destroy(&d->released);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
