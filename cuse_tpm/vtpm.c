/* SPDX-License-Identifier: BSD-3-Clause */
#include "vtpm.h"

#include "blob.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <libtpms/tpm_error.h>
#include <libtpms/tpm_tis.h>
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

/* An operation that needs libtpms, run under the TPM lock. */
struct vtpm_job {
	void (*run)(struct vtpm *v, struct vtpm_job *j);
	ptm_res result;
	/* inputs */
	uint32_t arg;
	uint32_t flags; /* PTM_STATE_FLAG_* of a state blob request */
	const uint8_t *data;
	uint32_t len;
	/* outputs */
	uint8_t *out;
	uint32_t out_len, out1, out2, out3;
};

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
	/* TPMLIB_GetInfo reads what MainInit/Terminate change: not both. */
	pthread_mutex_t lib_lifecycle;
	vtpm_exit_fn exit_fn;
	void *exit_ctx;
};

static const char *const blob_type_names[] = { "", "permanent", "volatile",
					       "savestate" };

/* ---- the TPM lock ------------------------------------------------------ */

/* Publishes the established bit for readers that do not take the tpm lock. */
static void refresh_established(struct vtpm *v)
{
	TPM_BOOL bit = FALSE;
	bool running = v->running;

	if (running && TPM_IO_TpmEstablished_Get(&bit) != TPM_SUCCESS)
		bit = FALSE;
	pthread_mutex_lock(&v->lock);
	v->established = running && bit;
	pthread_mutex_unlock(&v->lock);
}

static void set_running(struct vtpm *v, bool running)
{
	pthread_mutex_lock(&v->lock);
	v->running = running;
	pthread_mutex_unlock(&v->lock);
}

static void tpm_lock(struct vtpm *v)
{
	pthread_mutex_lock(&v->tpm);
}

static void tpm_unlock(struct vtpm *v)
{
	refresh_established(v);
	pthread_mutex_unlock(&v->tpm);
}

/* Runs @j on this thread, once the TPM is free. */
static ptm_res run_job(struct vtpm *v, struct vtpm_job *j)
{
	tpm_lock(v);
	j->run(v, j);
	tpm_unlock(v);
	return j->result;
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
	pthread_mutex_lock(&v->lib_lifecycle);
	tpmlib_stop(&v->lib, orderly);
	pthread_mutex_unlock(&v->lib_lifecycle);
	set_running(v, false);
}

static ptm_res ensure_locked(struct vtpm *v, unsigned retries)
{
	int rc;

	if (owns_state(v))
		return TPM_SUCCESS;
	rc = store_lock(v->store, retries);
	if (rc < 0) {
		log_err("cannot lock the state in %s: %s", store_where(v->store),
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
	pthread_mutex_lock(&v->lib_lifecycle);
	rc = tpmlib_start(&v->lib);
	pthread_mutex_unlock(&v->lib_lifecycle);
	if (rc) {
		log_err("libtpms failed to start the TPM: 0x%x", rc);
		pthread_mutex_lock(&v->lib_lifecycle);
		TPMLIB_Terminate();
		pthread_mutex_unlock(&v->lib_lifecycle);
		return rc;
	}
	if (flags & PTM_INIT_FLAG_DELETE_VOLATILE)
		store_delete(v->store, STORE_VOLATILE);
	set_running(v, true);
	return TPM_SUCCESS;
}

static void job_init(struct vtpm *v, struct vtpm_job *j)
{
	j->result = power_on(v, j->arg);
}

static void job_boot(struct vtpm *v, struct vtpm_job *j)
{
	j->result = power_on(v, 0);
	if (j->result == TPM_SUCCESS && v->cfg.startup != STARTUP_NONE) {
		j->result = tpmlib_startup(&v->lib, v->cfg.startup);
		if (j->result)
			log_err("TPM_Startup at start failed: 0x%x", j->result);
	}
}

static void job_stop(struct vtpm *v, struct vtpm_job *j)
{
	power_off(v);
	j->result = TPM_SUCCESS;
}

ptm_res vtpm_boot(struct vtpm *v)
{
	struct vtpm_job j = { .run = job_boot };

	if (!v->cfg.not_need_init && v->cfg.startup == STARTUP_NONE)
		return TPM_SUCCESS;
	return run_job(v, &j);
}

ptm_res vtpm_init(struct vtpm *v, uint32_t init_flags)
{
	struct vtpm_job j = { .run = job_init, .arg = init_flags };

	return run_job(v, &j);
}

ptm_res vtpm_stop(struct vtpm *v)
{
	struct vtpm_job j = { .run = job_stop };

	return run_job(v, &j);
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
	tpm_unlock(v);
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
		rc = TPMLIB_CancelCommand();
	pthread_mutex_unlock(&v->lock);
	return rc;
}

ptm_res vtpm_get_config(struct vtpm *v, uint32_t *flags)
{
	*flags = (store_key(v->store) ? PTM_CONFIG_FLAG_FILE_KEY : 0) |
		 (v->cfg.migration_key ? PTM_CONFIG_FLAG_MIGRATION_KEY : 0);
	return TPM_SUCCESS;
}

ptm_res vtpm_get_info(struct vtpm *v, uint64_t flags, char **json)
{
	pthread_mutex_lock(&v->lib_lifecycle);
	*json = TPMLIB_GetInfo((enum TPMLIB_InfoFlags)flags);
	pthread_mutex_unlock(&v->lib_lifecycle);
	return *json ? TPM_SUCCESS : TPM_SIZE;
}

/* ---- control operations that need libtpms ------------------------------ */

static void job_hash_start(struct vtpm *v, struct vtpm_job *j)
{
	j->result = v->running ? TPM_IO_Hash_Start() : TPM_BAD_ORDINAL;
}

static void job_hash_data(struct vtpm *v, struct vtpm_job *j)
{
	j->result = v->running ? TPM_IO_Hash_Data(j->data, j->len)
			       : TPM_BAD_ORDINAL;
}

static void job_hash_end(struct vtpm *v, struct vtpm_job *j)
{
	j->result = v->running ? TPM_IO_Hash_End() : TPM_BAD_ORDINAL;
}

ptm_res vtpm_hash_start(struct vtpm *v)
{
	struct vtpm_job j = { .run = job_hash_start };

	return run_job(v, &j);
}

ptm_res vtpm_hash_data(struct vtpm *v, const uint8_t *data, uint32_t len)
{
	struct vtpm_job j = { .run = job_hash_data, .data = data, .len = len };

	return run_job(v, &j);
}

ptm_res vtpm_hash_end(struct vtpm *v)
{
	struct vtpm_job j = { .run = job_hash_end };

	return run_job(v, &j);
}

static void job_store_volatile(struct vtpm *v, struct vtpm_job *j)
{
	unsigned char *buf = NULL;
	uint32_t len = 0;

	if (!v->running) {
		j->result = TPM_BAD_ORDINAL;
		return;
	}
	/* as for a command: not into a directory another process owns */
	j->result = ensure_locked(v, 0);
	if (j->result)
		return;
	/* a volatile state newer than the permanent state on disk: no */
	if (!tpmlib_flush(&v->lib)) {
		j->result = TPM_IOERROR;
		return;
	}
	j->result = TPMLIB_VolatileAll_Store(&buf, &len);
	if (j->result == TPM_SUCCESS) {
		int rc = store_save(v->store, STORE_VOLATILE, buf, len);

		if (rc < 0) {
			char path[PATH_MAX];

			store_blob_path(v->store, STORE_VOLATILE, path,
					sizeof(path));
			log_err("cannot write %s: %s", path, strerror(-rc));
			j->result = TPM_IOERROR;
		}
	}
	free(buf);
}

ptm_res vtpm_store_volatile(struct vtpm *v)
{
	struct vtpm_job j = { .run = job_store_volatile };

	return run_job(v, &j);
}

static void job_reset_established(struct vtpm *v, struct vtpm_job *j)
{
	if (!v->running) {
		j->result = TPM_BAD_ORDINAL;
		return;
	}
	/* libtpms asks for the locality through the callback */
	v->lib.locality = (uint8_t)j->arg;
	j->result = TPM_IO_TpmEstablished_Reset();
}

ptm_res vtpm_reset_established(struct vtpm *v, uint8_t loc)
{
	struct vtpm_job j = { .run = job_reset_established, .arg = loc };

	if (loc > 4)
		return TPM_BAD_LOCALITY;
	return run_job(v, &j);
}

static enum TPMLIB_StateType state_type(uint32_t type)
{
	switch (type) {
	case PTM_BLOB_TYPE_PERMANENT:
		return TPMLIB_STATE_PERMANENT;
	case PTM_BLOB_TYPE_VOLATILE:
		return TPMLIB_STATE_VOLATILE;
	case PTM_BLOB_TYPE_SAVESTATE:
		return TPMLIB_STATE_SAVE_STATE;
	default:
		return 0;
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

static void job_get_stateblob(struct vtpm *v, struct vtpm_job *j)
{
	enum TPMLIB_StateType st = state_type(j->arg);
	unsigned char *plain = NULL;
	uint32_t plain_len = 0;
	size_t blob_len = 0;

	if (!v->running) {
		j->result = TPM_BAD_ORDINAL;
		return;
	}
	if (st == TPMLIB_STATE_SAVE_STATE) {
		size_t len = 0;

		j->result = load_savestate(v, &plain, &len) < 0 ? TPM_IOERROR : 0;
		plain_len = (uint32_t)len;
	} else {
		/* from libtpms' memory: the files may be behind or absent */
		j->result = TPMLIB_GetState(st, &plain, &plain_len);
	}
	/*
	 * No state of this kind (a TPM 2 rarely has a savestate): no blob.
	 * The inner layer keeps the state key unless the client asked for it
	 * decrypted; the migration key, if any, wraps it all.
	 */
	if (j->result == TPM_SUCCESS && plain_len) {
		const struct crypt_key *inner =
			j->flags & PTM_STATE_FLAG_DECRYPTED ? NULL : store_key(v->store);

		j->result = blob_wrap_migration_key(plain, plain_len, inner,
						    v->cfg.migration_key,
						    &j->out, &blob_len);
		j->out1 = inner ? PTM_STATE_FLAG_ENCRYPTED : 0;
	}
	if (j->result == TPM_SUCCESS)
		j->out_len = (uint32_t)blob_len;
	free(plain);
	/*
	 * The savestate blob is the last a migration source hands out: the
	 * destination may now take the lock (shared storage).  A failed
	 * migration takes it back with PTM_LOCK_STORAGE.
	 */
	if (j->result == TPM_SUCCESS && st == TPMLIB_STATE_SAVE_STATE &&
	    v->cfg.release_lock_outgoing && store_locked(v->store)) {
		store_unlock(v->store);
		log_info("savestate handed out: state directory unlocked");
	}
}

ptm_res vtpm_get_stateblob(struct vtpm *v, uint32_t type, uint32_t flags_in,
			   uint8_t **blob, uint32_t *len, uint32_t *flags_out)
{
	struct vtpm_job j = { .run = job_get_stateblob, .arg = type,
			      .flags = flags_in };

	*blob = NULL;
	*len = 0;
	*flags_out = 0;
	if (!state_type(type))
		return TPM_BAD_PARAMETER;
	if (run_job(v, &j) == TPM_SUCCESS) {
		*blob = j.out;
		*len = j.out_len;
		*flags_out = j.out1;
		log_debug("got %s state blob: %u bytes", blob_type_names[type],
			  *len);
	}
	return j.result;
}

static enum store_blob store_blob_of(uint32_t type)
{
	return type == PTM_BLOB_TYPE_PERMANENT ? STORE_PERMALL
	       : type == PTM_BLOB_TYPE_VOLATILE ? STORE_VOLATILE
						: STORE_SAVESTATE;
}

/*
 * A blob set is written where INIT, or this daemon restarted, finds it (as
 * swtpm does), durably, before the set counts as done; we hold the lock
 * (ensure_locked) or locking is off.  If it cannot be written, libtpms
 * forgets it too: the set did not happen.  An empty blob writes nothing.
 */
static ptm_res persist_blob(struct vtpm *v, uint32_t type, const uint8_t *plain,
			    size_t len)
{
	char path[PATH_MAX];
	int rc;

	if (!len)
		return TPM_SUCCESS;
	rc = store_save(v->store, store_blob_of(type), plain, len);
	if (rc == 0)
		return TPM_SUCCESS;
	store_blob_path(v->store, store_blob_of(type), path, sizeof(path));
	log_err("cannot write the %s state blob to %s: %s",
		blob_type_names[type], path, strerror(-rc));
	TPMLIB_SetState(state_type(type), NULL, 0);
	return TPM_IOERROR;
}

static void job_set_stateblob(struct vtpm *v, struct vtpm_job *j)
{
	bool had_lock = store_locked(v->store);
	uint8_t *plain = NULL;
	size_t plain_len = 0;

	if (v->running) {
		j->result = TPM_BAD_ORDINAL;
		return;
	}
	j->result = ensure_locked(v, 0);
	if (j->result)
		return;
	j->result = blob_unwrap_migration_key(
		j->data, j->len, j->flags & PTM_STATE_FLAG_ENCRYPTED,
		store_key(v->store), v->cfg.migration_key, &plain, &plain_len);
	if (j->result) {
		log_err("refusing %s state blob: not a valid blob (0x%x)",
			blob_type_names[j->arg], j->result);
	} else {
		if (blob_is_legacy(j->data, j->len))
			log_warn("%s state blob in the version-1 format of older "
				 "swtpm releases: it has no HMAC, so its integrity "
				 "is not checked; loading it as swtpm does",
				 blob_type_names[j->arg]);
		/* an empty blob clears what an earlier SET left for INIT */
		j->result = TPMLIB_SetState(state_type(j->arg),
					    plain_len ? plain : NULL,
					    (uint32_t)plain_len);
		if (j->result)
			log_err("libtpms refused the %s state blob: 0x%x",
				blob_type_names[j->arg], j->result);
		else
			j->result = persist_blob(v, j->arg, plain, plain_len);
	}
	free(plain);
	/*
	 * --migration incoming takes the lock with the first blob.  Refusing
	 * that blob takes nothing in: the directory stays its owner's, so the
	 * source of a failed migration on shared storage gets it back at once
	 * however long this process lives on.
	 */
	if (j->result && !had_lock) {
		store_unlock(v->store);
		log_info("blob refused: state directory left unlocked");
	}
}

ptm_res vtpm_set_stateblob(struct vtpm *v, uint32_t type, uint32_t flags,
			   const uint8_t *blob, uint32_t len)
{
	struct vtpm_job j = { .run = job_set_stateblob, .arg = type,
			      .data = blob, .len = len, .flags = flags };

	if (!state_type(type))
		return TPM_BAD_PARAMETER;
	if (len > VTPM_MAX_BLOB)
		return TPM_SIZE;
	return run_job(v, &j);
}

static void job_set_buffersize(struct vtpm *v, struct vtpm_job *j)
{
	uint32_t actual;

	if (j->arg && v->running) {
		j->result = TPM_BAD_ORDINAL;
		return;
	}
	actual = TPMLIB_SetBufferSize(j->arg, &j->out2, &j->out3);
	j->out1 = actual;
	pthread_mutex_lock(&v->lock);
	v->buffersize = actual;
	pthread_mutex_unlock(&v->lock);
	j->result = TPM_SUCCESS;
}

ptm_res vtpm_set_buffersize(struct vtpm *v, uint32_t wanted, uint32_t *actual,
			    uint32_t *min, uint32_t *max)
{
	struct vtpm_job j = { .run = job_set_buffersize, .arg = wanted };

	run_job(v, &j);
	*actual = j.out1;
	*min = j.out2;
	*max = j.out3;
	return j.result;
}

static void job_lock_storage(struct vtpm *v, struct vtpm_job *j)
{
	j->result = ensure_locked(v, j->arg);
}

ptm_res vtpm_lock_storage(struct vtpm *v, uint32_t retries)
{
	struct vtpm_job j = { .run = job_lock_storage, .arg = retries };

	return run_job(v, &j);
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
		log_err("libtpms cannot provide a TPM %s: 0x%x",
			cfg->tpm2 ? "2.0" : "1.2", rc);
		free(v);
		errno = ENOTSUP;
		return NULL;
	}
	v->buffersize = TPMLIB_SetBufferSize(0, NULL, NULL);
	pthread_mutex_init(&v->tpm, NULL);
	pthread_mutex_init(&v->lock, NULL);
	pthread_mutex_init(&v->lib_lifecycle, NULL);
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
	pthread_mutex_destroy(&v->lib_lifecycle);
	free(v);
}
