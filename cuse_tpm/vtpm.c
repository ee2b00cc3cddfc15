/* SPDX-License-Identifier: BSD-3-Clause */
#include "vtpm_internal.h"

#include "log.h"

#include <errno.h>
#include <libtpms/tpm_error.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* ---- the TPM lock ------------------------------------------------------ */

/*
 * Publishes the established bit for readers that do not take the tpm lock.
 * The bit changes only under the tpm lock, which the caller holds: reading
 * it unlocked here is safe, and most commands leave it as it was.
 */
static void refresh_established(struct vtpm *v)
{
	bool bit = v->running && tpmlib_established();

	if (bit == v->established)
		return;
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

/* See vtpm_internal.h: the end of every operation that took the TPM. */
void tpm_unlock_publishing(struct vtpm *v)
{
	refresh_established(v);
	pthread_mutex_unlock(&v->tpm);
}

/* ---- power ----------------------------------------------------------- */

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

static ptm_res power_on(struct vtpm *v, uint32_t flags)
{
	TPM_RESULT rc;

	power_off(v);
	rc = ensure_state_locked(v);
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

/* One command into libtpms; the caller holds the TPM lock. */
static int execute(struct vtpm *v, const uint8_t *cmd, uint32_t len,
		   uint8_t *resp, uint32_t resp_size)
{
	uint8_t err[TPM_HEADER_SIZE];
	const uint8_t *out = err;
	uint32_t out_len = sizeof(err);

	if (!v->running || ensure_state_locked(v) != TPM_SUCCESS) {
		tpmlib_error_response(v->cfg.tpm2,
				      v->cfg.tpm2 ? TPM2_RC_FAILURE : TPM_FAIL,
				      err);
	} else {
		v->lib.locality =
			__atomic_load_n(&v->locality, __ATOMIC_ACQUIRE);
		/*
		 * A CANCEL that still sees the flag after the command (its
		 * read raced the clear) cancels nothing: libtpms lowers its
		 * cancel signal as each command starts.
		 */
		__atomic_store_n(&v->in_command, true, __ATOMIC_RELEASE);
		tpmlib_process(&v->lib, cmd, len, &out, &out_len);
		__atomic_store_n(&v->in_command, false, __ATOMIC_RELEASE);
	}
	if (out_len > resp_size)
		out_len = resp_size;
	memcpy(resp, out, out_len);
	return (int)out_len;
}

int vtpm_execute(struct vtpm *v, const uint8_t *cmd, uint32_t len,
		 uint8_t *resp, uint32_t resp_size)
{
	int n;

	tpm_lock(v);
	n = execute(v, cmd, len, resp, resp_size);
	tpm_unlock_publishing(v);
	return n;
}

/*
 * TPM 2.0 commands whose cost is a hash, a symmetric operation or an NV
 * write at most (TPM2_CC_*).  Sorted.
 */
static const uint16_t quick_commands[] = {
	0x134, /* NV_Increment */
	0x136, /* NV_Extend */
	0x137, /* NV_Write */
	0x13c, /* PCR_Event */
	0x13e, /* SequenceComplete */
	0x146, /* StirRandom */
	0x14e, /* NV_Read */
	0x15c, /* SequenceUpdate */
	0x161, /* ContextLoad */
	0x162, /* ContextSave */
	0x165, /* FlushContext */
	0x169, /* NV_ReadPublic */
	0x173, /* ReadPublic */
	0x17a, /* GetCapability */
	0x17b, /* GetRandom */
	0x17c, /* GetTestResult */
	0x17d, /* Hash */
	0x17e, /* PCR_Read */
	0x17f, /* PolicyPCR */
	0x180, /* PolicyRestart */
	0x181, /* ReadClock */
	0x182, /* PCR_Extend */
	0x185, /* EventSequenceComplete */
	0x186, /* HashSequenceStart */
	0x189, /* PolicyGetDigest */
	0x18a, /* TestParms */
};

static int compare_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static bool is_quick(const struct vtpm *v, const uint8_t *cmd, uint32_t len)
{
	uint32_t code;
	uint16_t key;

	if (!v->cfg.tpm2 || len < TPM_HEADER_SIZE)
		return false;
	code = tpm_header_code(cmd);
	if (code > 0xffff)
		return false;
	key = (uint16_t)code;
	return bsearch(&key, quick_commands,
		       sizeof(quick_commands) / sizeof(quick_commands[0]),
		       sizeof(quick_commands[0]), compare_u16) != NULL;
}

int vtpm_execute_quick(struct vtpm *v, const uint8_t *cmd, uint32_t len,
		       uint8_t *resp, uint32_t resp_size)
{
	int n;

	if (!is_quick(v, cmd, len) || !tpm_trylock(v))
		return -EAGAIN;
	n = execute(v, cmd, len, resp, resp_size);
	tpm_unlock_publishing(v);
	return n;
}

void vtpm_exclusive(struct vtpm *v, vtpm_exclusive_fn fn, void *ctx)
{
	struct vtpm_exclusive x = { .v = v };

	tpm_lock(v);
	fn(&x, ctx);
	tpm_unlock_publishing(v);
}

int vtpm_exclusive_execute(struct vtpm_exclusive *x, const uint8_t *cmd,
			   uint32_t len, uint8_t *resp, uint32_t resp_size)
{
	return execute(x->v, cmd, len, resp, resp_size);
}

/* Asked before every command: an atomic load, no lock. */
uint32_t vtpm_max_command(struct vtpm *v)
{
	return __atomic_load_n(&v->buffersize, __ATOMIC_RELAXED);
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
	__atomic_store_n(&v->locality, loc, __ATOMIC_RELEASE);
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
	else if (__atomic_load_n(&v->in_command, __ATOMIC_ACQUIRE))
		/* libtpms only raises a flag its long loops poll */
		rc = tpmlib_cancel();
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

ptm_res vtpm_set_buffersize(struct vtpm *v, uint32_t wanted, uint32_t *actual,
			    uint32_t *min, uint32_t *max)
{
	ptm_res res = TPM_BAD_ORDINAL;

	*actual = *min = *max = 0;
	tpm_lock(v);
	/* 0 asks what it is, which a running TPM may answer too */
	if (!wanted || !v->running) {
		*actual = tpmlib_buffersize(wanted, min, max);
		__atomic_store_n(&v->buffersize, *actual, __ATOMIC_RELAXED);
		res = TPM_SUCCESS;
	}
	tpm_unlock_publishing(v);
	return res;
}

void vtpm_quiesce(struct vtpm *v)
{
	if (!v)
		return;
	pthread_mutex_lock(&v->lock);
	v->stopping = true;
	pthread_cond_broadcast(&v->stop_cond);
	/* a long command (key generation) ends now, as cancelled */
	if (v->running && v->cfg.tpm2 &&
	    __atomic_load_n(&v->in_command, __ATOMIC_ACQUIRE))
		tpmlib_cancel();
	pthread_mutex_unlock(&v->lock);
}

/* ---- life cycle ------------------------------------------------------- */

struct vtpm *vtpm_new(const struct vtpm_config *cfg, struct store *store,
		      vtpm_exit_fn exit_fn, void *exit_ctx)
{
	struct vtpm *v = calloc(1, sizeof(*v));
	pthread_condattr_t ca;
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
	/* with the lock option, nothing is written without the lock */
	store_set_need_lock(store, cfg->lock);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&v->stop_cond, &ca);
	pthread_condattr_destroy(&ca);
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
	pthread_cond_destroy(&v->stop_cond);
	free(v);
}
