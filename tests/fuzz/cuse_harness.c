/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The CUSE front end's data path and ioctl codec (cuse_tpm/cuse_dev.c and
 * cuse_ioctl.c) without a kernel and without libfuse: shared by fuzz_ioctl.c
 * and fuzz_datapath.c, which #include this file (it is not a target of its
 * own).
 *
 * The harness plays the node (cuse.c): it owns one struct cuse_dev and calls
 * the functions a node puts in its cuse_lowlevel_ops; cuse_dev.h shows it
 * the openers' state, which it checks.  The few libfuse functions the data
 * path answers through (fuse_reply_*, fuse_lowlevel_notify_poll,
 * fuse_pollhandle_destroy) are defined below; the executable's definitions
 * take precedence over libfuse's, which the target still links.  What is
 * fuzzed is our opener state machine, against a real core: one struct vtpm
 * with libtpms running, created once per process in LLVMFuzzerInitialize,
 * with its state in a temporary directory.
 *
 * The dispatcher is one thread, like a kernel that sends one request at a
 * time, except that every write runs on a thread of its own, as libfuse's
 * loop runs it: cuse_dev.c answers the write and then runs the command on that
 * thread, while the dispatcher goes on.  A request is modelled as the kernel
 * makes it: a blocking read stays outstanding until it is answered; RELEASE
 * comes only once every request of that file is answered (the kernel holds the file while a
 * request is in flight); a write never has size 0 (the kernel sends none).
 *
 * Checked at every step (abort with a message on violation):
 *  - every request is answered exactly once, with a reply of its kind:
 *    write -> fuse_reply_write(size) or an errno; read -> at most size bytes;
 *    ioctl -> result 0 and at most the restricted out size; release -> 0;
 *  - poll handles are destroyed exactly once and never notified after;
 *  - the openers' state is consistent (a held response has a valid TPM
 *    header whose size is its length; transfer offsets within bounds; a
 *    waiting request implies a command in flight; a command in flight implies
 *    data-path ownership; the owner is an open opener);
 *  - the bytes read of each response form a valid response: no EOF in the
 *    middle of one, never more bytes than its header says;
 * and at the end of each input, once every file is released and every
 * command has ended: no request unanswered, no poll handle alive, no
 * data-path owner, every opener freed (its memory poisoned by ASan).
 *
 * The core (core_harness.c) is put back into one known state before each
 * input, so that an input means the same thing every time.
 */
#include "cuse_dev.h"
#include "cuse_ioctl.h"
#include "input.h"

#include "core_harness.c"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sanitizer/asan_interface.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NSLOTS 3
#define MAX_STEPS 96
/* A request the data path keeps waiting longer than this is a hang. */
#define ANSWER_TIMEOUT_S 30

/* ---- the fake libfuse --------------------------------------------------- */

enum req_kind { RK_OPEN, RK_RELEASE, RK_READ, RK_WRITE, RK_IOCTL, RK_POLL };

static const char *const kind_names[] = { "open", "release", "read",
					  "write", "ioctl", "poll" };

struct fuse_req {
	enum req_kind kind;
	int slot;
	int nreplies;
	size_t size;      /* read/write: bytes asked for / offered */
	size_t out_bufsz; /* ioctl: what the kernel lets come back */
	unsigned cmd;     /* ioctl */
	bool resp_read;   /* a read of the TPM response, not of a blob */
	/* the answer */
	int err;          /* -1: answered with data */
	size_t count;     /* write: count; read/ioctl: bytes */
	uint8_t *data;
	unsigned revents;
	struct fuse_req *next;
};

struct fuse_pollhandle {
	int slot;
	int notified;
};

/* What the bytes read so far of a slot's response say. */
struct resp_model {
	bool expecting;    /* a command was accepted, its response not all read */
	uint32_t seen;     /* bytes of it read */
	uint8_t hdr[TPM_HEADER_SIZE];
};

struct slot {
	bool open;
	struct fuse_file_info fi;
	int outstanding; /* requests not answered yet */
	struct resp_model rm;
	/* the last GET_STATEBLOB chunk, to continue a transfer */
	uint32_t get_type, get_next;
};

static struct cuse_dev *dev;

static struct harness {
	pthread_mutex_t lock; /* everything below; never held into cuse_dev.c */
	pthread_cond_t cond;  /* a reply arrived */
	struct fuse_req *reqs;
	long live_ph;
	struct slot slot[NSLOTS];
	/* openers handed out this input, to check they are freed */
	void *openers[MAX_STEPS + NSLOTS];
	int nopeners;
} h = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };


/* Bytes of a TPM response arrived for @s: are they a valid response? */
static void model_bytes(struct slot *s, int slot, const uint8_t *p, size_t n)
{
	struct resp_model *m = &s->rm;
	size_t i;

	if (!m->expecting)
		H_FAIL("slot %d: read %zu response bytes but no command was "
		       "accepted", slot, n);
	for (i = 0; i < n && m->seen + i < TPM_HEADER_SIZE; i++)
		m->hdr[m->seen + i] = p[i];
	m->seen += (uint32_t)n;
	if (m->seen >= TPM_HEADER_SIZE) {
		uint32_t size = be32(m->hdr + 2);
		uint16_t tag = (uint16_t)(m->hdr[0] << 8 | m->hdr[1]);

		if (tag != 0x8001 && tag != 0x8002 && tag != 0x00c4)
			H_FAIL("slot %d: response tag 0x%04x", slot, tag);
		if (size < TPM_HEADER_SIZE || m->seen > size)
			H_FAIL("slot %d: %u bytes read of a response whose "
			       "header says %u", slot, m->seen, size);
		if (m->seen == size)
			m->expecting = false;
	}
}

/* Records an answer; aborts on a second one or one of the wrong kind. */
static void answer(fuse_req_t req, enum req_kind want_a, enum req_kind want_b,
		   const char *how)
{
	if (req->kind != want_a && req->kind != want_b)
		H_FAIL("%s answered with %s", kind_names[req->kind], how);
	if (req->nreplies++)
		H_FAIL("%s request answered twice (second: %s)",
		       kind_names[req->kind], how);
	if (h.slot[req->slot].outstanding <= 0)
		H_FAIL("slot %d: answer without an outstanding request",
		       req->slot);
	h.slot[req->slot].outstanding--;
	pthread_cond_broadcast(&h.cond);
	TRACE("%d: %s 0x%x <- %s\n", req->slot, kind_names[req->kind],
	      req->kind == RK_IOCTL ? req->cmd : (unsigned)req->size, how);
}

int fuse_reply_err(fuse_req_t req, int err)
{
	pthread_mutex_lock(&h.lock);
	answer(req, req->kind, req->kind, "an errno");
	if (req->kind == RK_RELEASE ? err != 0 : (err <= 0 || err >= 4096))
		H_FAIL("%s answered with errno %d", kind_names[req->kind], err);
	req->err = err;
	TRACE("     errno %d (%s)\n", err, strerror(err));
	if (req->kind == RK_READ && req->resp_read && err != EAGAIN &&
	    err != EBUSY && err != ENOMEM)
		H_FAIL("read of a response answered with errno %d", err);
	pthread_mutex_unlock(&h.lock);
	return 0;
}

int fuse_reply_buf(fuse_req_t req, const char *buf, size_t size)
{
	struct slot *s;

	pthread_mutex_lock(&h.lock);
	answer(req, RK_READ, RK_READ, "data");
	s = &h.slot[req->slot];
	if (size > req->size)
		H_FAIL("read of %zu bytes answered with %zu", req->size, size);
	if (size && !buf)
		H_FAIL("read answered with %zu bytes at NULL", size);
	req->err = -1;
	req->count = size;
	TRACE("     %zu bytes%s\n", size, req->resp_read ? " of response" : "");
	if (size) {
		req->data = malloc(size);
		if (!req->data)
			abort();
		memcpy(req->data, buf, size); /* ASan: the source is that long */
	}
	if (req->resp_read) {
		if (size)
			model_bytes(s, req->slot, (const uint8_t *)buf, size);
		else if (s->rm.expecting)
			H_FAIL("slot %d: EOF after %u bytes of a response", req->slot,
			       s->rm.seen);
	}
	pthread_mutex_unlock(&h.lock);
	return 0;
}

int fuse_reply_write(fuse_req_t req, size_t count)
{
	pthread_mutex_lock(&h.lock);
	answer(req, RK_WRITE, RK_WRITE, "a count");
	if (count != req->size)
		H_FAIL("write of %zu bytes answered with count %zu", req->size,
		       count);
	req->err = -1;
	req->count = count;
	pthread_mutex_unlock(&h.lock);
	return 0;
}

int fuse_reply_ioctl(fuse_req_t req, int result, const void *buf, size_t size)
{
	pthread_mutex_lock(&h.lock);
	answer(req, RK_IOCTL, RK_IOCTL, "ioctl data");
	if (result != 0)
		H_FAIL("ioctl 0x%x answered with result %d", req->cmd, result);
	/* restricted ioctl: the kernel takes at most _IOC_SIZE back (EIO) */
	if (size > req->out_bufsz)
		H_FAIL("ioctl 0x%x answered with %zu bytes, room for %zu",
		       req->cmd, size, req->out_bufsz);
	req->err = -1;
	req->count = size;
	TRACE("     %zu bytes, result 0x%x\n", size,
	      size >= 4 ? *(const uint32_t *)buf : 0);
	if (size) {
		req->data = malloc(size);
		if (!req->data)
			abort();
		memcpy(req->data, buf, size);
	}
	pthread_mutex_unlock(&h.lock);
	return 0;
}

int fuse_reply_poll(fuse_req_t req, unsigned revents)
{
	pthread_mutex_lock(&h.lock);
	answer(req, RK_POLL, RK_POLL, "poll events");
	req->err = -1;
	req->revents = revents;
	TRACE("     revents 0x%x\n", revents);
	pthread_mutex_unlock(&h.lock);
	return 0;
}

int fuse_reply_open(fuse_req_t req, const struct fuse_file_info *fi)
{
	pthread_mutex_lock(&h.lock);
	answer(req, RK_OPEN, RK_OPEN, "an open file");
	if (!fi->fh)
		H_FAIL("open answered without a file handle");
	req->err = -1;
	pthread_mutex_unlock(&h.lock);
	return 0;
}

int fuse_lowlevel_notify_poll(struct fuse_pollhandle *ph)
{
	pthread_mutex_lock(&h.lock);
	ph->notified++; /* ASan: a destroyed handle is freed memory */
	pthread_mutex_unlock(&h.lock);
	return 0;
}

void fuse_pollhandle_destroy(struct fuse_pollhandle *ph)
{
	pthread_mutex_lock(&h.lock);
	if (h.live_ph <= 0)
		H_FAIL("poll handle destroyed with none alive");
	h.live_ph--;
	free(ph); /* ASan: destroying twice is a double free */
	pthread_mutex_unlock(&h.lock);
}

/* ---- requests ------------------------------------------------------------ */

static fuse_req_t new_req(enum req_kind kind, int slot)
{
	fuse_req_t r = calloc(1, sizeof(*r));

	if (!r)
		abort();
	r->kind = kind;
	r->slot = slot;
	pthread_mutex_lock(&h.lock);
	r->next = h.reqs;
	h.reqs = r;
	h.slot[slot].outstanding++;
	pthread_mutex_unlock(&h.lock);
	return r;
}

static bool answered(fuse_req_t r)
{
	bool done;

	pthread_mutex_lock(&h.lock);
	done = r->nreplies > 0;
	pthread_mutex_unlock(&h.lock);
	return done;
}

/* Waits until @slot has no request outstanding (or every slot: -1). */
static void wait_answers(int slot)
{
	struct timespec deadline;
	int i;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ANSWER_TIMEOUT_S;
	pthread_mutex_lock(&h.lock);
	for (;;) {
		bool busy = false;

		for (i = 0; i < NSLOTS; i++)
			if ((slot < 0 || slot == i) && h.slot[i].outstanding)
				busy = true;
		if (!busy)
			break;
		if (pthread_cond_timedwait(&h.cond, &h.lock, &deadline) ==
		    ETIMEDOUT)
			H_FAIL("a request of slot %d still unanswered after %d s",
			       slot, ANSWER_TIMEOUT_S);
	}
	pthread_mutex_unlock(&h.lock);
}

/* ---- writes, each on a thread of its own ---------------------------------- */

#define MAX_WRITERS 8

struct writer {
	pthread_t thread;
	fuse_req_t req;
	uint8_t *buf; /* exactly the write's length: ASan sees reads past it */
	size_t len;
	struct fuse_file_info fi;
};

static struct writer writers[MAX_WRITERS];
static int nwriters;

static void *run_write(void *arg)
{
	struct writer *w = arg;

	cuse_dev_write(w->req, (const char *)w->buf, w->len, 0, &w->fi);
	free(w->buf); /* cuse_dev.c must have copied what it keeps */
	return NULL;
}

/* Waits until every write has returned, its command and all. */
static void commands_barrier(void)
{
	int i;

	for (i = 0; i < nwriters; i++)
		pthread_join(writers[i].thread, NULL);
	nwriters = 0;
}

/* Starts the write and waits for its answer (not for its command). */
static void dispatch_write(fuse_req_t r, const uint8_t *data, size_t len,
			   const struct fuse_file_info *fi)
{
	struct writer *w;
	struct timespec deadline;

	if (nwriters == MAX_WRITERS)
		commands_barrier();
	w = &writers[nwriters];
	w->buf = malloc(len);
	if (!w->buf)
		abort();
	memcpy(w->buf, data, len);
	w->req = r;
	w->len = len;
	w->fi = *fi;
	if (pthread_create(&w->thread, NULL, run_write, w))
		abort();
	nwriters++;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ANSWER_TIMEOUT_S;
	pthread_mutex_lock(&h.lock);
	while (!r->nreplies)
		if (pthread_cond_timedwait(&h.cond, &h.lock, &deadline) ==
		    ETIMEDOUT)
			H_FAIL("slot %d: write unanswered after %d s", r->slot,
			       ANSWER_TIMEOUT_S);
	pthread_mutex_unlock(&h.lock);
}

/* ---- invariants of the data path's own state ------------------------------------ */

static struct cuse_opener *slot_opener(int i)
{
	return h.slot[i].open ? cuse_opener_of(&h.slot[i].fi) : NULL;
}

static void check_openers(void)
{
	struct cuse_opener *owner;
	int i, npending = 0;
	bool owner_open = false;

	pthread_mutex_lock(&dev->lock);
	owner = dev->data_owner;
	for (i = 0; i < NSLOTS; i++) {
		struct cuse_opener *o = slot_opener(i);

		if (!o)
			continue;
		if (o == owner)
			owner_open = true;
		if (o->dev != dev || o->released)
			H_FAIL("slot %d: opener dev %p released %d", i,
			       (void *)o->dev, o->released);
		if (o->resp) {
			if (o->resp_len < TPM_HEADER_SIZE ||
			    o->resp_off >= o->resp_len)
				H_FAIL("slot %d: response len %u off %u", i,
				       o->resp_len, o->resp_off);
			if (tpm_header_size(o->resp) != o->resp_len)
				H_FAIL("slot %d: response header says %u, holds %u",
				       i, tpm_header_size(o->resp), o->resp_len);
			if (o->resp_untouched && o->resp_off)
				H_FAIL("slot %d: untouched response at offset %u",
				       i, o->resp_off);
		} else if (o->resp_len || o->resp_off || o->resp_untouched) {
			H_FAIL("slot %d: no response but len %u off %u", i,
			       o->resp_len, o->resp_off);
		}
		switch (o->xfer) {
		case XFER_NONE:
			if (o->blob || o->blob_len || o->blob_off)
				H_FAIL("slot %d: blob %u/%u without a transfer", i,
				       o->blob_off, o->blob_len);
			break;
		case XFER_GET:
			if (!o->blob || o->blob_off >= o->blob_len)
				H_FAIL("slot %d: GET transfer at %u of %u", i,
				       o->blob_off, o->blob_len);
			break;
		case XFER_SET:
			if (o->blob_len > VTPM_MAX_BLOB || o->blob_off)
				H_FAIL("slot %d: SET transfer of %u bytes", i,
				       o->blob_len);
			break;
		default:
			H_FAIL("slot %d: transfer state %d", i, o->xfer);
		}
		if (o->read_req && !o->cmd_pending)
			H_FAIL("slot %d: a read waits for no command", i);
		if (o->read_req && o->read_req->slot != i)
			H_FAIL("slot %d: waiting read is not its own", i);
		if (o->cmd_pending) {
			npending++;
			if (owner != o)
				H_FAIL("slot %d: a command in flight without "
				       "holding the data path", i);
		}
	}
	if (owner && !owner_open)
		H_FAIL("the data path is held by an opener that is closed");
	if (npending > 1)
		H_FAIL("%d commands in flight", npending);
	pthread_mutex_unlock(&dev->lock);
}

/* ---- the operations a fuzz input is made of ------------------------------ */

static void op_open(int i, bool nonblock)
{
	struct slot *s = &h.slot[i];
	struct fuse_file_info fi;
	fuse_req_t r;

	if (s->open)
		return;
	memset(&fi, 0, sizeof(fi));
	fi.flags = O_RDWR | (nonblock ? O_NONBLOCK : 0);
	r = new_req(RK_OPEN, i);
	cuse_dev_open(r, &fi, dev);
	if (!answered(r) || r->err != -1)
		H_FAIL("open not answered at once, or failed (%d)", r->err);
	s->open = true;
	s->fi = fi;
	memset(&s->rm, 0, sizeof(s->rm));
	s->get_type = s->get_next = 0;
	if (h.nopeners < (int)(sizeof(h.openers) / sizeof(h.openers[0])))
		h.openers[h.nopeners++] = cuse_opener_of(&fi);
}

static void op_release(int i)
{
	struct slot *s = &h.slot[i];
	struct fuse_file_info fi;
	fuse_req_t r;

	if (!s->open)
		return;
	/* the kernel holds the file while any of its requests is in flight */
	wait_answers(i);
	fi = s->fi;
	r = new_req(RK_RELEASE, i);
	cuse_dev_release(r, &fi);
	if (!answered(r))
		H_FAIL("release not answered at once");
	s->open = false;
}

static void op_set_nonblock(int i, bool nonblock)
{
	if (h.slot[i].open)
		h.slot[i].fi.flags = O_RDWR | (nonblock ? O_NONBLOCK : 0);
}

static bool slot_xfer(int i, enum cuse_transfer *x)
{
	struct cuse_opener *o = slot_opener(i);

	if (!o)
		return false;
	pthread_mutex_lock(&dev->lock);
	*x = o->xfer;
	pthread_mutex_unlock(&dev->lock);
	return true;
}

/* TPM 2 commands that generate RSA keys: seconds each, not what we test. */
static bool slow_command(const uint8_t *buf, size_t len)
{
	uint32_t cc;

	if (len < TPM_HEADER_SIZE)
		return false;
	cc = be32(buf + 6);
	return cc == 0x131 /* CreatePrimary */ || cc == 0x153 /* Create */ ||
	       cc == 0x191 /* CreateLoaded */;
}

static void op_write(int i, const uint8_t *data, size_t len)
{
	struct slot *s = &h.slot[i];
	enum cuse_transfer x;
	fuse_req_t r;

	if (len == 0 || !slot_xfer(i, &x))
		return; /* the kernel sends no empty write */
	if (x == XFER_NONE && slow_command(data, len))
		return;
	r = new_req(RK_WRITE, i);
	r->size = len;
	TRACE("%d: write %zu bytes%s (cc 0x%x)\n", i, len,
	      x == XFER_NONE ? "" : " of blob", len >= 10 ? be32(data + 6) : 0);
	dispatch_write(r, data, len, &s->fi);
	pthread_mutex_lock(&h.lock);
	if (x == XFER_NONE && !(r->nreplies && r->err > 0)) {
		/* accepted: the old response is gone, a new one will come */
		memset(&s->rm, 0, sizeof(s->rm));
		s->rm.expecting = true;
	}
	if (x != XFER_NONE && !r->nreplies)
		H_FAIL("slot %d: blob write not answered at once", i);
	pthread_mutex_unlock(&h.lock);
}

static void op_read(int i, size_t size)
{
	struct slot *s = &h.slot[i];
	struct fuse_file_info fi;
	enum cuse_transfer x;
	fuse_req_t r;

	if (size == 0 || !slot_xfer(i, &x))
		return;
	fi = s->fi;
	r = new_req(RK_READ, i);
	r->size = size;
	r->resp_read = x == XFER_NONE;
	TRACE("%d: read %zu%s\n", i, size, fi.flags & O_NONBLOCK ? " (nonblock)" : "");
	cuse_dev_read(r, size, 0, &fi);
	if (!answered(r) && (fi.flags & O_NONBLOCK))
		H_FAIL("slot %d: a non-blocking read left waiting", i);
}

static void op_poll(int i, bool with_handle)
{
	struct fuse_pollhandle *ph = NULL;
	struct fuse_file_info fi;
	fuse_req_t r;

	if (!h.slot[i].open)
		return;
	if (with_handle) {
		ph = calloc(1, sizeof(*ph));
		if (!ph)
			abort();
		ph->slot = i;
		pthread_mutex_lock(&h.lock);
		h.live_ph++;
		pthread_mutex_unlock(&h.lock);
	}
	fi = h.slot[i].fi;
	r = new_req(RK_POLL, i);
	cuse_dev_poll(r, &fi, ph);
	if (!answered(r))
		H_FAIL("poll not answered at once");
	if (r->revents & ~(unsigned)(POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM))
		H_FAIL("poll answered 0x%x", r->revents);
}

/* The ioctl as the kernel hands it over: in_buf exactly in_size bytes. */
static void op_ioctl(int i, unsigned cmd, const uint8_t *in, size_t in_size)
{
	struct slot *s = &h.slot[i];
	struct fuse_file_info fi;
	size_t out_size = (_IOC_DIR(cmd) & _IOC_READ) ? _IOC_SIZE(cmd) : 0;
	uint8_t *buf;
	fuse_req_t r;

	if (!s->open)
		return;
	buf = malloc(in_size ? in_size : 1);
	if (!buf)
		abort();
	if (in_size)
		memcpy(buf, in, in_size);
	fi = s->fi;
	r = new_req(RK_IOCTL, i);
	r->cmd = cmd;
	r->out_bufsz = out_size;
	TRACE("%d: ioctl 0x%08x nr %u in %zu out %zu\n", i, cmd, _IOC_NR(cmd),
	      in_size, out_size);
	cuse_ioctl(r, (int)cmd, NULL, &fi, 0, in_size ? buf : buf + 1,
		      in_size, out_size);
	free(buf);
	if (!answered(r))
		H_FAIL("ioctl 0x%x not answered at once", cmd);
	/* what the answers say about themselves */
	if (r->err == -1 && cmd == PTM_GET_STATEBLOB && r->count == out_size) {
		struct ptm_getstate *g = (struct ptm_getstate *)r->data;

		if (g->u.resp.tpm_result == 0) {
			if (g->u.resp.length > sizeof(g->u.resp.data) ||
			    g->u.resp.length > g->u.resp.totlength)
				H_FAIL("GET_STATEBLOB: length %u of %u",
				       g->u.resp.length, g->u.resp.totlength);
			s->get_type = ((const struct ptm_getstate *)in)->u.req.type;
			s->get_next = ((const struct ptm_getstate *)in)->u.req.offset +
				      g->u.resp.length;
		}
	}
	if (r->err == -1 && cmd == PTM_GET_INFO && r->count == out_size) {
		struct ptm_getinfo *g = (struct ptm_getinfo *)r->data;

		if (g->u.resp.tpm_result == 0 &&
		    (g->u.resp.length > sizeof(g->u.resp.buffer) ||
		     g->u.resp.length > g->u.resp.totlength))
			H_FAIL("GET_INFO: length %u of %u", g->u.resp.length,
			       g->u.resp.totlength);
	}
	if (r->err == -1 && cmd == PTM_SET_BUFFERSIZE && r->count == out_size) {
		struct ptm_setbuffersize *b = (struct ptm_setbuffersize *)r->data;

		if (b->u.resp.tpm_result == 0 &&
		    (b->u.resp.buffersize < b->u.resp.minsize ||
		     b->u.resp.buffersize > b->u.resp.maxsize))
			H_FAIL("SET_BUFFERSIZE: %u not in [%u, %u]",
			       b->u.resp.buffersize, b->u.resp.minsize,
			       b->u.resp.maxsize);
	}
}

/* ---- input decoding -------------------------------------------------------- */

/* A size with an eye for the edges: 0, 1, 9, 10, 3072, 4096, ... */
static size_t in_size(struct input *in, size_t max)
{
	static const size_t edges[] = { 1,    2,    9,    10,   11,   12,
					3071, 3072, 3073, 4095, 4096, 4097 };
	uint8_t sel = in_u8(in);

	if (sel < 0x40)
		return edges[sel % (sizeof(edges) / sizeof(edges[0]))] % (max + 1);
	if (sel < 0x80)
		return in_u8(in) % (max + 1);
	return in_u16(in) % (max + 1);
}

static const unsigned ptm_cmds[] = {
	PTM_GET_CAPABILITY, PTM_INIT,		PTM_SHUTDOWN,
	PTM_GET_TPMESTABLISHED, PTM_SET_LOCALITY, PTM_HASH_START,
	PTM_HASH_DATA,      PTM_HASH_END,	PTM_CANCEL_TPM_CMD,
	PTM_STORE_VOLATILE, PTM_RESET_TPMESTABLISHED, PTM_GET_STATEBLOB,
	PTM_SET_STATEBLOB,  PTM_STOP,		PTM_GET_CONFIG,
	PTM_SET_DATAFD,     PTM_SET_BUFFERSIZE, PTM_GET_INFO,
	PTM_LOCK_STORAGE,
};
#define NPTM (sizeof(ptm_cmds) / sizeof(ptm_cmds[0]))

/*
 * One ioctl from the input: a PTM_* number (or, rarely, any number), an
 * in_buf size (usually the restricted size, sometimes not), and a payload
 * that is either raw bytes or built field by field.
 */
static void decode_ioctl(struct input *in, int i)
{
	static uint8_t payload[1 << 14];
	uint8_t sel = in_u8(in), mode = in_u8(in);
	unsigned cmd;
	size_t size;

	if (sel < 0xf0)
		cmd = ptm_cmds[sel % NPTM];
	else if (sel < 0xf8) {
		/* a PTM number with another direction or size */
		unsigned dir = in_u8(in) & 3, nr = in_u8(in) % 24;

		cmd = _IOC(dir, 'P', nr, in_u16(in) & 0x3fff);
	} else
		cmd = in_u32(in);
	switch (mode & 3) {
	case 0:
	case 1:
		size = (_IOC_DIR(cmd) & _IOC_WRITE) ? _IOC_SIZE(cmd) : 0;
		break;
	case 2:
		size = in_size(in, sizeof(payload));
		break;
	default:
		size = _IOC_SIZE(cmd) + (in_u8(in) & 0x3f);
		break;
	}
	if (size > sizeof(payload))
		size = sizeof(payload);
	memset(payload, 0, size);
	if (!(mode & 4) || size < 16) {
		in_bytes(in, payload, size);
	} else if (cmd == PTM_GET_STATEBLOB) {
		struct ptm_getstate *g = (struct ptm_getstate *)payload;
		uint8_t k = in_u8(in);

		g->u.req.state_flags = k & 3;
		g->u.req.type = (k >> 2) % 5;
		switch (k >> 5) {
		case 0:
		case 1:
		case 2:
			g->u.req.offset = 0;
			break;
		case 3:
		case 4:
			/* the next chunk of what this opener is reading */
			g->u.req.type = h.slot[i].get_type;
			g->u.req.offset = h.slot[i].get_next;
			break;
		default:
			g->u.req.offset = in_u32(in);
			break;
		}
	} else if (cmd == PTM_SET_STATEBLOB) {
		struct ptm_setstate *st = (struct ptm_setstate *)payload;
		uint8_t k = in_u8(in);
		uint32_t len;

		st->u.req.state_flags = (k & 1) ? 2 : 0;
		st->u.req.type = (k >> 1) % 5;
		switch (k >> 4) {
		case 0:
		case 1:
		case 2:
			len = 0; /* open (or end) a write() transfer */
			break;
		case 3:
		case 4:
		case 5:
			len = sizeof(st->u.req.data); /* more to come */
			break;
		case 15:
			len = in_u32(in);
			break;
		default:
			len = in_size(in, sizeof(st->u.req.data));
			break;
		}
		st->u.req.length = len;
		if (in_u8(in) & 1) {
			/* a piece of a valid blob: the pristine state */
			uint32_t off = in_u16(in) % (pristine_perm_len + 1);
			size_t n = pristine_perm_len - off;

			if (n > sizeof(st->u.req.data))
				n = sizeof(st->u.req.data);
			memcpy(st->u.req.data, pristine_perm + off, n);
		} else {
			in_bytes(in, st->u.req.data,
				 len < sizeof(st->u.req.data) ? len : 64);
		}
	} else if (cmd == PTM_HASH_DATA) {
		struct ptm_hdata *hd = (struct ptm_hdata *)payload;
		uint8_t k = in_u8(in);

		hd->u.req.length = k < 0xf0 ? in_size(in, 4096) : in_u32(in);
		in_bytes(in, hd->u.req.data, 64);
	} else if (cmd == PTM_GET_INFO) {
		struct ptm_getinfo *g = (struct ptm_getinfo *)payload;
		uint8_t k = in_u8(in);

		if (k < 0xf0) {
			g->u.req.flags = k; /* TPMLIB_INFO_* bits, and some more */
		} else {
			g->u.req.flags = (uint64_t)in_u32(in) << 32;
			g->u.req.flags |= in_u32(in);
		}
		g->u.req.offset = (in_u8(in) & 1) ? in_u32(in) : in_size(in, 8192);
	} else {
		in_bytes(in, payload, size);
	}
	op_ioctl(i, cmd, payload, size);
}

/* A TPM 2 command from the input: a template with fuzzed fields, or raw. */
static size_t decode_command(struct input *in, uint8_t *cmd, size_t max)
{
	uint8_t t = in_u8(in), d[32], a, b;
	size_t len;

	switch (t % 16) {
	case 0:
		len = tpm2_startup(cmd, in_u8(in) & 1);
		break;
	case 1:
		len = tpm2_shutdown(cmd, in_u8(in) & 1);
		break;
	case 2:
		len = tpm2_get_random(cmd, in_u8(in));
		break;
	case 3:
		len = tpm2_read_clock(cmd);
		break;
	case 4:
		a = in_u8(in);
		len = tpm2_get_capability(cmd, in_u32(in), a);
		break;
	case 5:
		in_bytes(in, d, sizeof(d));
		len = tpm2_pcr_extend(cmd, in_u8(in) % 26, d);
		break;
	case 6:
		len = tpm2_pcr_read(cmd, in_u8(in) % 26);
		break;
	case 7:
		in_bytes(in, d, sizeof(d));
		len = tpm2_hash(cmd, d, in_u8(in) % 33);
		break;
	case 8:
		a = in_u8(in);
		len = tpm2_nv_define(cmd, 0x01000000 | a, in_u8(in));
		break;
	case 9:
		in_bytes(in, d, sizeof(d));
		a = in_u8(in);
		b = in_u8(in);
		len = tpm2_nv_write(cmd, 0x01000000 | a, d, b % 33, in_u8(in));
		break;
	case 10:
		a = in_u8(in);
		b = in_u8(in);
		len = tpm2_nv_read(cmd, 0x01000000 | a, b, in_u8(in));
		break;
	case 11:
		len = tpm2_flush_context(cmd, in_u32(in));
		break;
	default: {
		/* raw: a header whose size may or may not be the length */
		uint8_t fix = in_u8(in);

		len = in_size(in, max);
		in_bytes(in, cmd, len);
		if ((fix & 1) && len >= TPM_HEADER_SIZE) {
			cmd[2] = (uint8_t)(len >> 24);
			cmd[3] = (uint8_t)(len >> 16);
			cmd[4] = (uint8_t)(len >> 8);
			cmd[5] = (uint8_t)len;
		}
		if ((fix & 2) && len >= 2) {
			cmd[0] = 0x80;
			cmd[1] = 0x01;
		}
		break;
	}
	}
	/* now and then, a command cut short or with a byte changed */
	if (t & 0x80) {
		uint8_t k = in_u8(in);

		if ((k & 1) && len)
			len = in_u16(in) % len + 1;
		if ((k & 2) && len) {
			size_t at = in_u16(in) % len;

			cmd[at] ^= (uint8_t)(in_u8(in) | 1);
		}
	}
	return len;
}

/*
 * Bytes for a write() into a SET_STATEBLOB transfer: from the input, from
 * the pristine state, or (rarely) a large filler, up to the 128 KiB a FUSE
 * write carries, so that VTPM_MAX_BLOB is within reach.
 */
#define BLOB_WRITE_MAX (128 * 1024)

static size_t decode_blob_write(struct input *in, uint8_t *buf, size_t max)
{
	uint8_t k = in_u8(in);
	size_t len = in_size(in, max);

	if ((k & 3) == 1) {
		uint32_t off = in_u16(in) % (pristine_perm_len + 1);

		if (len > pristine_perm_len - off)
			len = pristine_perm_len - off;
		memcpy(buf, pristine_perm + off, len);
	} else if ((k & 3) == 2 && max >= BLOB_WRITE_MAX) {
		len = BLOB_WRITE_MAX - in_u8(in);
		memset(buf, k, len);
	} else {
		in_bytes(in, buf, len);
	}
	return len;
}

/* ---- one input --------------------------------------------------------------- */

static void begin_input(void)
{
	restore_tpm();
	memset(h.slot, 0, sizeof(h.slot));
	h.nopeners = 0;
}

static void end_input(void)
{
	fuse_req_t r, next;
	int i;

	for (i = 0; i < NSLOTS; i++)
		op_release(i);
	commands_barrier();
	wait_answers(-1);
	pthread_mutex_lock(&h.lock);
	for (r = h.reqs; r; r = r->next)
		if (r->nreplies != 1)
			H_FAIL("a %s request answered %d times", kind_names[r->kind],
			       r->nreplies);
	if (h.live_ph)
		H_FAIL("%ld poll handles never destroyed", h.live_ph);
	pthread_mutex_unlock(&h.lock);
	pthread_mutex_lock(&dev->lock);
	if (dev->data_owner)
		H_FAIL("the data path is still held with every file closed");
	pthread_mutex_unlock(&dev->lock);
	for (i = 0; i < h.nopeners; i++)
		if (!__asan_address_is_poisoned(h.openers[i]))
			H_FAIL("opener %p was never freed", h.openers[i]);
	for (r = h.reqs; r; r = next) {
		next = r->next;
		free(r->data);
		free(r);
	}
	h.reqs = NULL;
}

/* ---- set-up, once per process ------------------------------------------------ */

static void harness_init(const char *name)
{
	core_init(name);
	dev = calloc(1, sizeof(*dev));
	if (!dev || cuse_dev_init(dev, vtpm) < 0)
		abort();
	/*
	 * A single dispatcher thread never delivers the late RELEASE that a
	 * write waits for when an idle opener holds the data path: let that
	 * wait end at once instead of after CUSE_RELEASE_GRACE_MS.
	 */
	dev->release_grace_ms = 0;
}
