/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The core's half that moves the TPM's state across the process's edge:
 * state blobs out and in (migration, with their keys), the volatile state
 * into its file, and the state directory's lock that says whether this
 * process may write there at all.
 */
#include "vtpm_internal.h"

#include "blob.h"
#include "io.h"
#include "log.h"

#include <errno.h>
#include <libtpms/tpm_error.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* For messages, by enum store_blob. */
static const char *const blob_names[] = { "permanent", "volatile",
					  "savestate" };

ptm_res ensure_state_locked(struct vtpm *v)
{
	int rc;

	if (owns_state(v))
		return TPM_SUCCESS;
	rc = store_lock(v->store, 0);
	if (rc < 0) {
		/* every command tries: a client could fill the log */
		log_warn_limited("cannot lock the state in %s: %s",
				 store_where(v->store),
				 rc == -EAGAIN ? "another process holds it"
					       : strerror(-rc));
		return TPM_FAIL;
	}
	return TPM_SUCCESS;
}

/* One try under the TPM lock, never a wait: 0 or -errno. */
static int try_lock_storage(struct vtpm *v)
{
	int rc;

	tpm_lock(v);
	rc = owns_state(v) ? 0 : store_lock(v->store, 0);
	tpm_unlock_publishing(v);
	return rc;
}

/*
 * Sleeps VTPM_LOCK_RETRY_MS between tries, without the TPM lock (commands
 * run meanwhile), and not past vtpm_quiesce.  False once the process ends.
 */
static bool pause_between_tries(struct vtpm *v)
{
	struct timespec until;
	bool go_on;

	io_deadline_in(&until, VTPM_LOCK_RETRY_MS);
	pthread_mutex_lock(&v->lock);
	while (!v->stopping &&
	       pthread_cond_timedwait(&v->stop_cond, &v->lock, &until) == 0)
		;
	go_on = !v->stopping;
	pthread_mutex_unlock(&v->lock);
	return go_on;
}

ptm_res vtpm_lock_storage(struct vtpm *v, uint32_t retries)
{
	uint32_t left = retries < VTPM_LOCK_RETRIES_MAX ? retries
							: VTPM_LOCK_RETRIES_MAX;
	bool waiter;
	int rc;

	/* one client waits at a time; the others try once */
	pthread_mutex_lock(&v->lock);
	waiter = !v->lock_waiter && !v->stopping;
	v->lock_waiter |= waiter;
	pthread_mutex_unlock(&v->lock);
	if (!waiter)
		left = 0;
	while ((rc = try_lock_storage(v)) == -EAGAIN && left--)
		if (!pause_between_tries(v))
			break;
	if (waiter) {
		pthread_mutex_lock(&v->lock);
		v->lock_waiter = false;
		pthread_mutex_unlock(&v->lock);
	}
	if (rc < 0)
		log_err("cannot lock the state in %s: %s", store_where(v->store),
			rc == -EAGAIN ? "another process holds it"
				      : strerror(-rc));
	return rc < 0 ? TPM_FAIL : TPM_SUCCESS;
}

/* The volatile state into its file. Under the tpm lock. */
static ptm_res store_volatile(struct vtpm *v)
{
	unsigned char *buf = NULL;
	uint32_t len = 0;
	ptm_res res;

	if (!v->running)
		return TPM_BAD_ORDINAL;
	/* as for a command: not into a directory another process owns */
	res = ensure_state_locked(v);
	if (res)
		return res;
	/* a volatile state newer than the permanent state on disk: no */
	if (!tpmlib_flush(&v->lib))
		return TPM_IOERROR;
	res = tpmlib_volatile_state(&buf, &len);
	if (res == TPM_SUCCESS) {
		int rc = store_save(v->store, STORE_VOLATILE, buf, len);

		if (rc < 0) {
			char path[PATH_MAX];

			store_blob_path(v->store, STORE_VOLATILE, path,
					sizeof(path));
			log_err("cannot write %s: %s", path, strerror(-rc));
			res = TPM_IOERROR;
		}
	}
	free(buf);
	return res;
}

ptm_res vtpm_store_volatile(struct vtpm *v)
{
	ptm_res rc;

	tpm_lock(v);
	rc = store_volatile(v);
	tpm_unlock_publishing(v);
	return rc;
}

/* A PTM_BLOB_TYPE_* as the blob it names; false if it names none. */
static bool blob_of_type(uint32_t type, enum store_blob *b)
{
	switch (type) {
	case PTM_BLOB_TYPE_PERMANENT:
		*b = STORE_PERMALL;
		return true;
	case PTM_BLOB_TYPE_VOLATILE:
		*b = STORE_VOLATILE;
		return true;
	case PTM_BLOB_TYPE_SAVESTATE:
		*b = STORE_SAVESTATE;
		return true;
	default:
		return false;
	}
}

/* The savestate lives only in what libtpms last stored, not in its memory. */
static int load_savestate(struct vtpm *v, uint8_t **data, size_t *len)
{
	int rc = store_load_latest(v->store, STORE_SAVESTATE, data, len);

	if (rc != -ENOENT)
		return rc;
	*len = 0;
	*data = malloc(1);
	return *data ? 0 : -ENOMEM;
}

/*
 * @b's state as a blob for a client (newly allocated, NULL if there is no
 * such state) and its PTM_STATE_FLAG_*.  Under the tpm lock.
 */
static ptm_res get_stateblob(struct vtpm *v, enum store_blob b, bool decrypted,
			     uint8_t **blob, uint32_t *len, uint32_t *flags)
{
	unsigned char *plain = NULL;
	uint32_t plain_len = 0;
	size_t blob_len = 0;
	ptm_res res;

	if (!v->running)
		return TPM_BAD_ORDINAL;
	if (b == STORE_SAVESTATE) {
		size_t n = 0;

		res = load_savestate(v, &plain, &n) < 0 ? TPM_IOERROR : 0;
		plain_len = (uint32_t)n;
	} else {
		/* from libtpms' memory: the files may be behind or absent */
		res = tpmlib_get_state(b, &plain, &plain_len);
	}
	/*
	 * No state of this kind (a TPM 2 rarely has a savestate): no blob.
	 * The inner layer keeps the state key unless the client asked for it
	 * decrypted; the migration key, if any, wraps it all.
	 */
	if (res == TPM_SUCCESS && plain_len) {
		const struct crypt_key *inner =
			decrypted ? NULL : store_key(v->store);

		res = blob_wrap_migration_key(plain, plain_len, inner,
					      v->cfg.migration_key, blob,
					      &blob_len);
		*len = (uint32_t)blob_len;
		*flags = inner ? PTM_STATE_FLAG_ENCRYPTED : 0;
	}
	free(plain);
	/*
	 * The savestate blob is the last a migration source hands out: the
	 * destination may now take the lock (shared storage).  A failed
	 * migration takes it back with PTM_LOCK_STORAGE.
	 */
	if (res == TPM_SUCCESS && b == STORE_SAVESTATE &&
	    v->cfg.release_lock_outgoing && store_locked(v->store)) {
		store_unlock(v->store);
		log_info("savestate handed out: state directory unlocked");
	}
	return res;
}

ptm_res vtpm_get_stateblob(struct vtpm *v, uint32_t type, uint32_t flags_in,
			   uint8_t **blob, uint32_t *len, uint32_t *flags_out)
{
	enum store_blob b;
	ptm_res res;

	*blob = NULL;
	*len = 0;
	*flags_out = 0;
	if (!blob_of_type(type, &b))
		return TPM_BAD_PARAMETER;
	tpm_lock(v);
	res = get_stateblob(v, b, flags_in & PTM_STATE_FLAG_DECRYPTED, blob,
			    len, flags_out);
	tpm_unlock_publishing(v);
	if (res) {
		free(*blob);
		*blob = NULL;
		*len = 0;
		*flags_out = 0;
		return res;
	}
	log_debug("got %s state blob: %u bytes", blob_names[b], *len);
	return TPM_SUCCESS;
}

/*
 * A blob set is written where INIT, or this daemon restarted, finds it (as
 * swtpm does), durably, before the set counts as done; we hold the lock
 * (ensure_state_locked) or locking is off.  If it cannot be written, libtpms
 * forgets it too: the set did not happen.  An empty blob writes nothing.
 */
static ptm_res persist_blob(struct vtpm *v, enum store_blob b,
			    const uint8_t *plain, size_t len)
{
	char path[PATH_MAX];
	int rc;

	if (!len)
		return TPM_SUCCESS;
	rc = store_save(v->store, b, plain, len);
	if (rc == 0)
		return TPM_SUCCESS;
	store_blob_path(v->store, b, path, sizeof(path));
	log_err("cannot write the %s state blob to %s: %s", blob_names[b], path,
		strerror(-rc));
	tpmlib_set_state(b, NULL, 0);
	return TPM_IOERROR;
}

/* A client's blob as @b's state, for the next INIT. Under the tpm lock. */
static ptm_res set_stateblob(struct vtpm *v, enum store_blob b, bool encrypted,
			     const uint8_t *blob, uint32_t len)
{
	bool had_lock = store_locked(v->store);
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	ptm_res res;

	if (v->running)
		return TPM_BAD_ORDINAL;
	res = ensure_state_locked(v);
	if (res)
		return res;
	res = blob_unwrap_migration_key(blob, len, encrypted, store_key(v->store),
					v->cfg.migration_key, &plain,
					&plain_len);
	if (res) {
		log_err("refusing %s state blob: not a valid blob (0x%x)",
			blob_names[b], res);
	} else {
		if (blob_is_legacy(blob, len))
			log_warn("%s state blob in the version-1 format of older "
				 "swtpm releases: it has no HMAC, so its integrity "
				 "is not checked; loading it as swtpm does",
				 blob_names[b]);
		/* an empty blob clears what an earlier SET left for INIT */
		res = tpmlib_set_state(b, plain_len ? plain : NULL,
				       (uint32_t)plain_len);
		if (res)
			log_err("libtpms refused the %s state blob: 0x%x",
				blob_names[b], res);
		else
			res = persist_blob(v, b, plain, plain_len);
	}
	free(plain);
	/*
	 * --migration incoming takes the lock with the first blob.  Refusing
	 * that blob takes nothing in: the directory stays its owner's, so the
	 * source of a failed migration on shared storage gets it back at once
	 * however long this process lives on.
	 */
	if (res && !had_lock) {
		store_unlock(v->store);
		log_info("blob refused: state directory left unlocked");
	}
	return res;
}

ptm_res vtpm_set_stateblob(struct vtpm *v, uint32_t type, uint32_t flags,
			   const uint8_t *blob, uint32_t len)
{
	enum store_blob b;
	ptm_res res;

	if (!blob_of_type(type, &b))
		return TPM_BAD_PARAMETER;
	if (len > VTPM_MAX_BLOB)
		return TPM_SIZE;
	tpm_lock(v);
	res = set_stateblob(v, b, flags & PTM_STATE_FLAG_ENCRYPTED, blob, len);
	tpm_unlock_publishing(v);
	return res;
}
