/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The data path of a CUSE TPM node, per opener: open, write, read, poll and
 * release with the semantics of the kernel's /dev/tpm0, and state blobs
 * that move through read()/write() between two PTM_*_STATEBLOB ioctls.
 * This is what the kernel's tpm-dev-common.c is to tpm-dev.c: a node
 * (cuse.c) owns one struct cuse_dev, opens files with cuse_dev_open() and
 * puts the other functions below straight into its cuse_lowlevel_ops.
 *
 * Every opener has its own state; on a raw node (/dev/NAME, as /dev/tpm0)
 * the first opener that writes a command holds the data path until it
 * closes.  On a resource-managed node (as /dev/tpmrm0) none does: every
 * opener has a space of its own (rm.h), made at open and flushed at close,
 * and its commands run through it.  A blocking write returns once its
 * command has run, as /dev/tpm0's does, and read() copies the response.  An
 * O_NONBLOCK write returns once its command has run too, if that takes less
 * than CUSE_NONBLOCK_HOLD_US and someone watches the node's timer (one held
 * write at a time); a longer command goes on on the writer's thread after
 * the write returns, while poll() and read() wait.  The functions find
 * their struct cuse_dev through the opener, never through
 * fuse_req_userdata(), so a node's session may carry whatever userdata it
 * likes.
 */
#ifndef CUSE_TPM_CUSE_DEV_H
#define CUSE_TPM_CUSE_DEV_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "rm.h"
#include "vtpm.h"

/*
 * The kernel sends RELEASE after close() returns, in the background: a
 * client that closes and at once reopens can overtake its own RELEASE.  A
 * write that finds the data path held by another opener (idle, mid-command
 * or with a response unread) waits this long for such a late RELEASE before
 * it answers EBUSY; one such write at a time.
 */
#define CUSE_RELEASE_GRACE_MS 200
/* Upper bound on a node's FUSE threads: each blocking request holds one. */
#define CUSE_MAX_THREADS 64
/*
 * All openers' parked state blob transfers together hold at most this:
 * memory does not grow with the number of openers.  Past it a transfer gets
 * ENOMEM; four blobs of the largest size fit (a migration needs one).
 */
#define CUSE_XFER_BUDGET (4u * VTPM_MAX_BLOB)
/*
 * At most this many FUSE threads wait for the TPM in ioctls; more get
 * EBUSY.  The rest of the pool stays free for the ioctls that answer at
 * once (cancel, capability, established bit) and the owner's commands.
 */
#define CUSE_MAX_TPM_WAITERS (CUSE_MAX_THREADS * 3 / 4)

/*
 * An O_NONBLOCK write is answered once its command has run, or after this
 * long if the command still runs, whichever comes first (see
 * cuse_dev_hold_writes()).
 */
#define CUSE_NONBLOCK_HOLD_US 1000

/* The data path of one node. */
struct cuse_dev {
	struct vtpm *vtpm;
	struct rm *rm;                    /* a resource-managed node, or NULL */
	pthread_mutex_t lock;             /* the openers' state, here and there */
	struct cuse_opener *data_owner;   /* holds the data path, or NULL */
	pthread_cond_t released;          /* signalled when an opener closes */
	long release_grace_ms;            /* CUSE_RELEASE_GRACE_MS */
	/* an O_NONBLOCK write held while its command runs, and its timer */
	fuse_req_t held_write;
	size_t held_size;
	struct cuse_opener *held_by;
	int timer_fd;                     /* -1: none */
	bool holding;                     /* someone answers when it fires */
	bool grace_waiter;       /* a write waits out the grace (one at most) */
	size_t xfer_bytes;       /* held by the openers' parked transfers */
	unsigned tpm_waiters;    /* ioctls waiting for the TPM */
};

/* What is moving through read()/write() instead of commands. */
enum cuse_transfer { XFER_NONE, XFER_GET, XFER_SET };

/* One open file: fi->fh points here.  Fields under dev->lock. */
struct cuse_opener {
	struct cuse_dev *dev;
	struct rm_space *space; /* its space on a resource-managed node */
	bool released;         /* closed while its command still runs */
	bool cmd_pending;      /* a command is written, its response not ready */
	fuse_req_t read_req;   /* a blocking read waiting for the response */
	size_t read_size;
	struct fuse_pollhandle *ph;
	uint8_t *resp;         /* the response not yet read */
	uint32_t resp_len, resp_off;
	bool resp_untouched;   /* not one byte of it read yet */
	enum cuse_transfer xfer; /* a state blob moving through read()/write() */
	uint32_t xfer_type, xfer_flags;
	uint8_t *blob;
	uint32_t blob_len, blob_off;
};

/* 0, or -1 with errno; @vtpm may be set later, before the node serves. */
int cuse_dev_init(struct cuse_dev *d, struct vtpm *vtpm);
void cuse_dev_destroy(struct cuse_dev *d);
/*
 * O_NONBLOCK writes whose command runs longer than CUSE_NONBLOCK_HOLD_US
 * are answered by whoever polls cuse_dev_timer_fd() (-1: none) and calls
 * cuse_dev_timer_fired() when it is readable.  Until that someone says so
 * with cuse_dev_hold_writes(d, true), such writes are answered as soon as
 * their command is checked; false again answers a write still held.
 */
int cuse_dev_timer_fd(const struct cuse_dev *d);
void cuse_dev_hold_writes(struct cuse_dev *d, bool on);
void cuse_dev_timer_fired(struct cuse_dev *d);

static inline struct cuse_opener *cuse_opener_of(const struct fuse_file_info *fi)
{
	return (struct cuse_opener *)(uintptr_t)fi->fh;
}

/*
 * Takes @n bytes of the transfers' budget (CUSE_XFER_BUDGET) for a blob an
 * opener parks; false if they would pass it.  Under d->lock.
 */
bool cuse_dev_budget_take(struct cuse_dev *d, size_t n);
/*
 * Appends @len bytes to the blob @o moves in: 0, or EFBIG past
 * VTPM_MAX_BLOB, ENOSPC past the budget, ENOMEM; a failure ends the
 * transfer.  Under o->dev->lock.
 */
int cuse_opener_append(struct cuse_opener *o, const void *data, size_t len);
/* Drops the blob @o moves, if any, and gives its bytes back to the
 * budget.  Under o->dev->lock. */
void cuse_opener_end_transfer(struct cuse_opener *o);

/* A node's open: a new opener of @d, answered here. */
void cuse_dev_open(fuse_req_t req, struct fuse_file_info *fi, struct cuse_dev *d);
void cuse_dev_write(fuse_req_t req, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi);
void cuse_dev_read(fuse_req_t req, size_t size, off_t off,
		   struct fuse_file_info *fi);
void cuse_dev_poll(fuse_req_t req, struct fuse_file_info *fi,
		   struct fuse_pollhandle *ph);
void cuse_dev_release(fuse_req_t req, struct fuse_file_info *fi);

#endif
