/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The core's own parts, shared by vtpm.c (power, the data path, the
 * control operations) and vtpm_state.c (the state crossing the process's
 * edge: blobs, the volatile file, the state directory's lock).  Nothing
 * outside the core includes this.
 */
#ifndef CUSE_TPM_VTPM_INTERNAL_H
#define CUSE_TPM_VTPM_INTERNAL_H

#include "vtpm.h"

#include <pthread.h>

struct vtpm {
	struct vtpm_config cfg;
	struct store *store;
	/*
	 * libtpms keeps global state: whoever holds this lock may call it.
	 * The thread that received a command runs it, so a command costs no
	 * hop to another thread; operations that need no libtpms never take
	 * this lock and so answer while a long command runs.
	 */
	pthread_mutex_t tpm;
	struct tpmlib lib; /* under the tpm lock */
	pthread_mutex_t lock;
	/* Shared, under lock; changed only under the tpm lock too. */
	bool running;
	bool established;
	/* Atomic, and no lock: they change or are read on every command. */
	bool in_command; /* a data command is inside libtpms */
	uint8_t locality;
	uint32_t buffersize;
	/* Under lock: the process is ending (vtpm_quiesce); waits end. */
	bool stopping;
	bool lock_waiter; /* a LOCK_STORAGE waits for a foreign lock */
	pthread_cond_t stop_cond; /* on CLOCK_MONOTONIC */
	vtpm_exit_fn exit_fn;
	void *exit_ctx;
};

/*
 * An operation that needs libtpms runs on its caller's thread between these
 * two, once the TPM is free; the unlock publishes the established bit the
 * operation may have changed, for the readers that take no TPM lock.
 */
static inline void tpm_lock(struct vtpm *v)
{
	pthread_mutex_lock(&v->tpm);
}

/* The TPM if it is free at once; false if another operation holds it. */
static inline bool tpm_trylock(struct vtpm *v)
{
	return pthread_mutex_trylock(&v->tpm) == 0;
}

void tpm_unlock_publishing(struct vtpm *v);

/*
 * Whether this process may write the state directory: it holds the lock, or
 * locking is off.  Once release-lock-outgoing has handed the state to a
 * migration destination it may not, until PTM_LOCK_STORAGE or a command
 * takes the lock back (the migration failed).
 */
static inline bool owns_state(const struct vtpm *v)
{
	return !v->cfg.lock || store_locked(v->store);
}

/*
 * Takes the state directory's lock unless this process owns the state
 * already, if it is free: never waiting, since the TPM lock is held.  A TPM
 * code.  Under the TPM lock.
 */
ptm_res ensure_state_locked(struct vtpm *v);

#endif
