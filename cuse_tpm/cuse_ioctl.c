/* SPDX-License-Identifier: BSD-3-Clause */
#include "cuse_ioctl.h"

#include "crypt.h"
#include "log.h"

#include <errno.h>
#include <libtpms/tpm_error.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

static void reply_result(fuse_req_t req, ptm_res res)
{
	fuse_reply_ioctl(req, 0, &res, sizeof(res));
}

static void ioctl_get_stateblob(fuse_req_t req, struct cuse_dev *d,
				struct cuse_opener *o,
				const struct ptm_getstate *in)
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
		cuse_opener_end_transfer(o);
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
		cuse_opener_end_transfer(o);
		/*
		 * A blob longer than this reply stays parked for the next
		 * ioctl or read(): within the budget of all openers.  (One
		 * that fits is counted too, and given back below at once.)
		 */
		if (!cuse_dev_budget_take(d, len)) {
			if (len > offset + sizeof(out.u.resp.data)) {
				pthread_mutex_unlock(&d->lock);
				wipe_free(blob, len);
				fuse_reply_err(req, ENOMEM);
				return;
			}
			d->xfer_bytes += len; /* back before the lock goes */
		}
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
		cuse_opener_end_transfer(o);
	pthread_mutex_unlock(&d->lock);
	fuse_reply_ioctl(req, 0, &out, sizeof(out));
}

/*
 * A blob arrives in 3072-byte ioctl chunks, ended by the first shorter one;
 * or an empty ioctl opens a transfer that write() feeds and a final short
 * ioctl ends.
 */
static void ioctl_set_stateblob(fuse_req_t req, struct cuse_dev *d,
				struct cuse_opener *o,
				const struct ptm_setstate *in)
{
	uint32_t type = in->u.req.type, flags = in->u.req.state_flags;
	uint32_t len = in->u.req.length;
	uint8_t *blob;
	uint32_t blob_len;
	ptm_res res;
	int err;

	if (len > sizeof(in->u.req.data)) {
		pthread_mutex_lock(&d->lock);
		cuse_opener_end_transfer(o);
		pthread_mutex_unlock(&d->lock);
		reply_result(req, TPM_BAD_PARAMETER);
		return;
	}
	pthread_mutex_lock(&d->lock);
	if (o->xfer != XFER_SET || o->xfer_type != type ||
	    o->xfer_flags != flags) {
		bool write_mode = len == 0;

		cuse_opener_end_transfer(o);
		o->xfer = XFER_SET;
		o->xfer_type = type;
		o->xfer_flags = flags;
		if (write_mode) {
			pthread_mutex_unlock(&d->lock);
			reply_result(req, TPM_SUCCESS);
			return;
		}
	}
	err = cuse_opener_append(o, in->u.req.data, len);
	if (err) {
		pthread_mutex_unlock(&d->lock);
		/* past the budget of all openers' transfers: out of memory */
		if (err == ENOSPC)
			fuse_reply_err(req, ENOMEM);
		else
			reply_result(req, TPM_SIZE);
		return;
	}
	if (len == sizeof(in->u.req.data)) {
		pthread_mutex_unlock(&d->lock);
		reply_result(req, TPM_SUCCESS); /* more to come */
		return;
	}
	/* last chunk: take the blob out of the opener and commit it */
	blob = o->blob;
	blob_len = o->blob_len;
	o->blob = NULL;
	o->blob_len = 0; /* still counted in the budget until freed */
	cuse_opener_end_transfer(o);
	pthread_mutex_unlock(&d->lock);
	res = vtpm_set_stateblob(d->vtpm, type, flags, blob, blob_len);
	wipe_free(blob, blob_len);
	pthread_mutex_lock(&d->lock);
	d->xfer_bytes -= blob_len;
	pthread_mutex_unlock(&d->lock);
	reply_result(req, res);
}

static void ioctl_get_info(fuse_req_t req, struct cuse_dev *d,
			   const struct ptm_getinfo *in)
{
	struct ptm_getinfo out;

	memset(&out, 0, sizeof(out));
	out.u.resp.tpm_result = vtpm_get_info_window(
		d->vtpm, in->u.req.flags, in->u.req.offset, out.u.resp.buffer,
		sizeof(out.u.resp.buffer), &out.u.resp.length,
		&out.u.resp.totlength);
	fuse_reply_ioctl(req, 0, &out, sizeof(out));
}

static void ioctl_set_buffersize(fuse_req_t req, struct cuse_dev *d,
				 const struct ptm_setbuffersize *in)
{
	struct ptm_setbuffersize out;

	memset(&out, 0, sizeof(out));
	out.u.resp.tpm_result = vtpm_set_buffersize(
		d->vtpm, in->u.req.buffersize, &out.u.resp.buffersize,
		&out.u.resp.minsize, &out.u.resp.maxsize);
	fuse_reply_ioctl(req, 0, &out, sizeof(out));
}

/* The ioctls that wait for the TPM (the others answer at once). */
static bool needs_tpm(unsigned int cmd)
{
	switch (cmd) {
	case PTM_INIT:
	case PTM_SHUTDOWN:
	case PTM_HASH_START:
	case PTM_HASH_DATA:
	case PTM_HASH_END:
	case PTM_STORE_VOLATILE:
	case PTM_RESET_TPMESTABLISHED:
	case PTM_GET_STATEBLOB:
	case PTM_SET_STATEBLOB:
	case PTM_STOP:
	case PTM_SET_BUFFERSIZE:
	case PTM_LOCK_STORAGE:
		return true;
	default:
		return false;
	}
}

/* A FUSE thread may wait for the TPM: false past CUSE_MAX_TPM_WAITERS. */
static bool tpm_wait_begin(struct cuse_dev *d)
{
	bool ok;

	pthread_mutex_lock(&d->lock);
	ok = d->tpm_waiters < CUSE_MAX_TPM_WAITERS;
	d->tpm_waiters += ok;
	pthread_mutex_unlock(&d->lock);
	return ok;
}

static void tpm_wait_end(struct cuse_dev *d)
{
	pthread_mutex_lock(&d->lock);
	d->tpm_waiters--;
	pthread_mutex_unlock(&d->lock);
}

static void serve_ioctl(fuse_req_t req, unsigned int ucmd,
			struct cuse_opener *o, const void *in_buf);

void cuse_ioctl(fuse_req_t req, int cmd, void *arg, struct fuse_file_info *fi,
		unsigned flags, const void *in_buf, size_t in_bufsz,
		size_t out_bufsz)
{
	struct cuse_opener *o = cuse_opener_of(fi);
	/* once answered, the opener may be released at once: not used after */
	struct cuse_dev *d = o->dev;
	unsigned int ucmd = (unsigned int)cmd;

	(void)arg;
	(void)flags;
	(void)out_bufsz;
	/* Restricted ioctls: the kernel copied exactly _IOC_SIZE(cmd) bytes. */
	if ((_IOC_DIR(ucmd) & _IOC_WRITE) && in_bufsz < _IOC_SIZE(ucmd)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!needs_tpm(ucmd)) {
		serve_ioctl(req, ucmd, o, in_buf);
		return;
	}
	/* ioctls queued behind a long command may not take every thread */
	if (!tpm_wait_begin(d)) {
		log_warn_limited("%u ioctls wait for the TPM already: EBUSY",
				 CUSE_MAX_TPM_WAITERS);
		fuse_reply_err(req, EBUSY);
		return;
	}
	serve_ioctl(req, ucmd, o, in_buf);
	tpm_wait_end(d);
}

static void serve_ioctl(fuse_req_t req, unsigned int ucmd,
			struct cuse_opener *o, const void *in_buf)
{
	struct cuse_dev *d = o->dev;
	const struct ptm_hdata *hd = in_buf;
	ptm_res res;

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
