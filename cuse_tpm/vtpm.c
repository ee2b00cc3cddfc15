/* SPDX-License-Identifier: BSD-3-Clause */
#include "vtpm.h"

#include "blob.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <libtpms/tpm_error.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Capabilities every transport offers; a socket adds SET_DATAFD itself. */
#define VTPM_CAPS                                                              \
	(PTM_CAP_INIT | PTM_CAP_SHUTDOWN | PTM_CAP_GET_TPMESTABLISHED |        \
	 PTM_CAP_SET_LOCALITY | PTM_CAP_HASHING | PTM_CAP_CANCEL_TPM_CMD |     \
	 PTM_CAP_STORE_VOLATILE | PTM_CAP_RESET_TPMESTABLISHED |               \
	 PTM_CAP_GET_STATEBLOB | PTM_CAP_SET_STATEBLOB | PTM_CAP_STOP |        \
	 PTM_CAP_GET_CONFIG | PTM_CAP_SET_BUFFERSIZE | PTM_CAP_GET_INFO |      \
	 PTM_CAP_LOCK_STORAGE)

/* TPM 2 response code a command gets while the TPM is off. */
#define TPM2_RC_FAILURE 0x101

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
	bool in_command; /* a data command is inside libtpms */
	uint8_t locality;
	uint32_t buffersize;
	vtpm_exit_fn exit_fn;
	void *exit_ctx;
};

/* For messages, by enum store_blob. */
static const char *const blob_names[] = { "permanent", "volatile",
					  "savestate" };

/* ---- the TPM lock ------------------------------------------------------ */

/* Publishes the established bit for readers that do not take the tpm lock. */
static void refresh_established(struct vtpm *v)
{
	bool bit = v->running && tpmlib_established();

	pthread_mutex_lock(&v->lock);
	v->established = bit;
	pthread_mutex_unlock(&v->lock);
}

static void set_running(struct vtpm *v, bool running)
{
	pthread_mutex_lock(&v->lock);
	v->running = running;
	pthread_mutex_unlock(&v->lock);
}

/*
 * An operation that needs libtpms runs on its caller's thread between these
 * two, once the TPM is free; the unlock publishes the established bit the
 * operation may have changed.
 */
static void tpm_lock(struct vtpm *v)
{
	pthread_mutex_lock(&v->tpm);
}

static void tpm_unlock_publishing(struct vtpm *v)
{
	refresh_established(v);
	pthread_mutex_unlock(&v->tpm);
}

/* ---- power ----------------------------------------------------------- */

/*
 * Whether this process may write the state directory: it holds the lock, or
 * locking is off.  Once release-lock-outgoing has handed the state to a
 * migration destination it may not, until PTM_LOCK_STORAGE or a command
 * takes the lock back (the migration failed).
 */
static bool owns_state(const struct vtpm *v)
{
	return !v->cfg.lock || store_locked(v->store);
}

static void power_off(struct vtpm *v)
{
	bool orderly = !v->cfg.disable_auto_shutdown;

	if (!v->running)
		return;
	/*
	 * The automatic TPM2_Shutdown writes NV.  On shared storage the
	 * destination of a migration owns the files by now, and may have
	 * written them since: this stale copy must not land over them.
	 */
	if (orderly && !owns_state(v)) {
		log_info("state directory handed over: no TPM2_Shutdown into it");
		orderly = false;
	}
	tpmlib_stop(&v->lib, orderly);
	set_running(v, false);
}

static ptm_res ensure_locked(struct vtpm *v, unsigned retries)
{
	int rc;

	if (owns_state(v))
		return TPM_SUCCESS;
	rc = store_lock(v->store, retries);
	if (rc < 0) {
		log_err("cannot lock state directory %s: %s", v->store->dir,
			rc == -EAGAIN ? "another process holds it"
				      : strerror(-rc));
		return TPM_FAIL;
	}
	return TPM_SUCCESS;
}

static ptm_res power_on(struct vtpm *v, uint32_t flags)
{
	TPM_RESULT rc;

	power_off(v);
	rc = ensure_locked(v, 0);
	if (rc)
		return rc;
	rc = tpmlib_start(&v->lib);
	if (rc) {
		log_err("libtpms failed to start the TPM: 0x%x", rc);
		return rc;
	}
	if (flags & PTM_INIT_FLAG_DELETE_VOLATILE)
		store_delete(v->store, STORE_VOLATILE);
	set_running(v, true);
	return TPM_SUCCESS;
}

ptm_res vtpm_boot(struct vtpm *v)
{
	ptm_res rc;

	if (!v->cfg.not_need_init && v->cfg.startup == STARTUP_NONE)
		return TPM_SUCCESS;
	tpm_lock(v);
	rc = power_on(v, 0);
	if (rc == TPM_SUCCESS && v->cfg.startup != STARTUP_NONE) {
		rc = tpmlib_startup(&v->lib, v->cfg.startup);
		if (rc)
			log_err("TPM_Startup at start failed: 0x%x", rc);
	}
	tpm_unlock_publishing(v);
	return rc;
}

ptm_res vtpm_init(struct vtpm *v, uint32_t init_flags)
{
	ptm_res rc;

	tpm_lock(v);
	rc = power_on(v, init_flags);
	tpm_unlock_publishing(v);
	return rc;
}

ptm_res vtpm_stop(struct vtpm *v)
{
	tpm_lock(v);
	power_off(v);
	tpm_unlock_publishing(v);
	return TPM_SUCCESS;
}

ptm_res vtpm_shutdown(struct vtpm *v)
{
	ptm_res rc = vtpm_stop(v);

	if (v->exit_fn)
		v->exit_fn(v->exit_ctx);
	return rc;
}

/* ---- the data path ---------------------------------------------------- */

int vtpm_execute(struct vtpm *v, const uint8_t *cmd, uint32_t len,
		 uint8_t *resp, uint32_t resp_size)
{
	uint8_t err[TPM_HEADER_SIZE];
	const uint8_t *out = err;
	uint32_t out_len = sizeof(err);

	tpm_lock(v);
	if (!v->running || ensure_locked(v, 0) != TPM_SUCCESS) {
		tpmlib_error_response(v->cfg.tpm2,
				      v->cfg.tpm2 ? TPM2_RC_FAILURE : TPM_FAIL,
				      err);
	} else {
		pthread_mutex_lock(&v->lock);
		v->lib.locality = v->locality;
		v->in_command = true;
		pthread_mutex_unlock(&v->lock);

		tpmlib_process(&v->lib, cmd, len, &out, &out_len);

		pthread_mutex_lock(&v->lock);
		v->in_command = false;
		pthread_mutex_unlock(&v->lock);
	}
	if (out_len > resp_size)
		out_len = resp_size;
	memcpy(resp, out, out_len);
	tpm_unlock_publishing(v);
	return (int)out_len;
}

uint32_t vtpm_max_command(struct vtpm *v)
{
	uint32_t size;

	pthread_mutex_lock(&v->lock);
	size = v->buffersize;
	pthread_mutex_unlock(&v->lock);
	return size;
}

/* ---- control operations answered at once -------------------------------- */

ptm_cap vtpm_get_capability(struct vtpm *v)
{
	(void)v;
	return VTPM_CAPS;
}

ptm_res vtpm_get_established(struct vtpm *v, uint8_t *bit)
{
	ptm_res rc = TPM_SUCCESS;

	pthread_mutex_lock(&v->lock);
	if (v->running)
		*bit = v->established;
	else
		rc = TPM_BAD_ORDINAL;
	pthread_mutex_unlock(&v->lock);
	return rc;
}

ptm_res vtpm_set_locality(struct vtpm *v, uint8_t loc)
{
	if (loc > 4 || (loc == 4 && v->cfg.reject_locality_4))
		return TPM_BAD_LOCALITY;
	pthread_mutex_lock(&v->lock);
	v->locality = loc;
	pthread_mutex_unlock(&v->lock);
	return TPM_SUCCESS;
}

ptm_res vtpm_cancel(struct vtpm *v)
{
	ptm_res rc = TPM_SUCCESS;

	pthread_mutex_lock(&v->lock);
	if (!v->running)
		rc = TPM_BAD_ORDINAL;
	else if (!v->cfg.tpm2)
		rc = TPM_FAIL; /* libtpms' TPM 1.2 cannot cancel */
	else if (v->in_command)
		/* libtpms only raises a flag its long loops poll */
		rc = tpmlib_cancel();
	pthread_mutex_unlock(&v->lock);
	return rc;
}

ptm_res vtpm_get_config(struct vtpm *v, uint32_t *flags)
{
	*flags = (v->store->key ? PTM_CONFIG_FLAG_FILE_KEY : 0) |
		 (v->cfg.migration_key ? PTM_CONFIG_FLAG_MIGRATION_KEY : 0);
	return TPM_SUCCESS;
}

ptm_res vtpm_get_info(struct vtpm *v, uint64_t flags, char **json)
{
	*json = tpmlib_info(&v->lib, flags);
	return *json ? TPM_SUCCESS : TPM_SIZE;
}

ptm_res vtpm_get_info_window(struct vtpm *v, uint64_t flags, uint32_t offset,
			     char *buf, uint32_t size, uint32_t *len,
			     uint32_t *total)
{
	char *json = NULL;
	size_t whole, n;
	ptm_res res;

	*len = *total = 0;
	res = vtpm_get_info(v, flags, &json);
	if (res)
		return res;
	whole = strlen(json) + 1;
	if (offset >= whole - 1) {
		free(json);
		return TPM_BAD_PARAMETER;
	}
	n = whole - offset;
	if (n > size)
		n = size;
	memcpy(buf, json + offset, n);
	*len = (uint32_t)n;
	*total = (uint32_t)whole;
	free(json);
	return TPM_SUCCESS;
}

/* ---- control operations that need libtpms ------------------------------ */

ptm_res vtpm_hash_start(struct vtpm *v)
{
	ptm_res rc;

	tpm_lock(v);
	rc = v->running ? tpmlib_hash_start() : TPM_BAD_ORDINAL;
	tpm_unlock_publishing(v);
	return rc;
}

ptm_res vtpm_hash_data(struct vtpm *v, const uint8_t *data, uint32_t len)
{
	ptm_res rc;

	tpm_lock(v);
	rc = v->running ? tpmlib_hash_data(data, len) : TPM_BAD_ORDINAL;
	tpm_unlock_publishing(v);
	return rc;
}

ptm_res vtpm_hash_end(struct vtpm *v)
{
	ptm_res rc;

	tpm_lock(v);
	rc = v->running ? tpmlib_hash_end() : TPM_BAD_ORDINAL;
	tpm_unlock_publishing(v);
	return rc;
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
	res = ensure_locked(v, 0);
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

			store_file_path(v->store, STORE_VOLATILE, path,
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

ptm_res vtpm_reset_established(struct vtpm *v, uint8_t loc)
{
	ptm_res rc = TPM_BAD_ORDINAL;

	if (loc > 4)
		return TPM_BAD_LOCALITY;
	tpm_lock(v);
	if (v->running)
		rc = tpmlib_reset_established(&v->lib, loc);
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
	struct store_cache *c = &v->store->cache[STORE_SAVESTATE];
	int rc;

	if (!c->valid) {
		rc = store_load(v->store, STORE_SAVESTATE, data, len);
		if (rc != -ENOENT)
			return rc;
	}
	*len = c->data ? c->len : 0;
	*data = malloc(*len ? *len : 1);
	if (!*data)
		return -ENOMEM;
	if (*len)
		memcpy(*data, c->data, *len);
	return 0;
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
		const struct crypt_key *inner = decrypted ? NULL : v->store->key;

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
	res = ensure_locked(v, 0);
	if (res)
		return res;
	res = blob_unwrap_migration_key(blob, len, encrypted, v->store->key,
					v->cfg.migration_key, &plain,
					&plain_len);
	if (res) {
		log_err("refusing %s state blob: not a valid blob (0x%x)",
			blob_names[b], res);
	} else {
		/* an empty blob clears what an earlier SET left for INIT */
		res = tpmlib_set_state(b, plain_len ? plain : NULL,
				       (uint32_t)plain_len);
		if (res)
			log_err("libtpms refused the %s state blob: 0x%x",
				blob_names[b], res);
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

ptm_res vtpm_set_buffersize(struct vtpm *v, uint32_t wanted, uint32_t *actual,
			    uint32_t *min, uint32_t *max)
{
	ptm_res res = TPM_BAD_ORDINAL;

	*actual = *min = *max = 0;
	tpm_lock(v);
	/* 0 asks what it is, which a running TPM may answer too */
	if (!wanted || !v->running) {
		*actual = tpmlib_buffersize(wanted, min, max);
		pthread_mutex_lock(&v->lock);
		v->buffersize = *actual;
		pthread_mutex_unlock(&v->lock);
		res = TPM_SUCCESS;
	}
	tpm_unlock_publishing(v);
	return res;
}

ptm_res vtpm_lock_storage(struct vtpm *v, uint32_t retries)
{
	ptm_res res;

	tpm_lock(v);
	res = ensure_locked(v, retries);
	tpm_unlock_publishing(v);
	return res;
}

/* ---- life cycle ------------------------------------------------------- */

struct vtpm *vtpm_new(const struct vtpm_config *cfg, struct store *store,
		      vtpm_exit_fn exit_fn, void *exit_ctx)
{
	struct vtpm *v = calloc(1, sizeof(*v));
	TPM_RESULT rc;

	if (!v)
		return NULL;
	v->cfg = *cfg;
	v->store = store;
	v->exit_fn = exit_fn;
	v->exit_ctx = exit_ctx;
	rc = tpmlib_setup(&v->lib, cfg->tpm2, store);
	if (rc) {
		tpmlib_release(&v->lib);
		log_err("libtpms cannot provide a TPM %s: 0x%x",
			cfg->tpm2 ? "2.0" : "1.2", rc);
		free(v);
		errno = ENOTSUP;
		return NULL;
	}
	v->buffersize = tpmlib_buffersize(0, NULL, NULL);
	pthread_mutex_init(&v->tpm, NULL);
	pthread_mutex_init(&v->lock, NULL);
	return v;
}

void vtpm_free(struct vtpm *v)
{
	if (!v)
		return;
	vtpm_stop(v);
	tpmlib_release(&v->lib);
	pthread_mutex_destroy(&v->tpm);
	pthread_mutex_destroy(&v->lock);
	free(v);
}
