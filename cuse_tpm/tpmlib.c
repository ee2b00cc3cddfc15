/* SPDX-License-Identifier: BSD-3-Clause */
#include "tpmlib.h"

#include "byteorder.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <libtpms/tpm_error.h>
#include <libtpms/tpm_tis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TPM2_ST_NO_SESSIONS 0x8001
#define TPM2_CC_STARTUP 0x144
#define TPM2_CC_SHUTDOWN 0x145
#define TPM2_SU_CLEAR 0
#define TPM2_SU_STATE 1
/* A warning: NV is not accessible now, the command may work later. */
#define TPM2_RC_NV_UNAVAILABLE 0x923
#define TPM_TAG_RQU_COMMAND 0x00c1
#define TPM_TAG_RSP_COMMAND 0x00c4
#define TPM_ORD_STARTUP 0x99

/*
 * libtpms keeps one TPM per process and calls back through plain function
 * pointers without a context argument, so the callbacks find their state
 * here.  Set once by tpmlib_setup().
 */
static struct tpmlib *active;

uint32_t tpm_header_size(const uint8_t *cmd)
{
	return get_be32(cmd + 2);
}

uint32_t tpm_header_code(const uint8_t *cmd)
{
	return get_be32(cmd + 6);
}

void tpmlib_error_response(bool tpm2, TPM_RESULT rc,
			   uint8_t out[TPM_HEADER_SIZE])
{
	put_be16(out, tpm2 ? TPM2_ST_NO_SESSIONS : TPM_TAG_RSP_COMMAND);
	put_be32(out + 2, TPM_HEADER_SIZE);
	put_be32(out + 6, rc);
}

static TPM_RESULT cb_nvram_init(void)
{
	return TPM_SUCCESS;
}

static TPM_RESULT cb_nvram_load(unsigned char **data, uint32_t *length,
				uint32_t tpm_number, const char *name)
{
	int b = store_blob_by_name(name);
	size_t len;
	int rc;

	(void)tpm_number;
	if (b < 0)
		return TPM_FAIL;
	rc = store_load(active->store, b, data, &len);
	if (rc == -ENOENT)
		return TPM_RETRY; /* libtpms' word for "no such state yet" */
	if (rc < 0)
		return TPM_FAIL;
	*length = (uint32_t)len;
	return TPM_SUCCESS;
}

/*
 * A state write failed: keep the state, answer for it ourselves.  libtpms
 * is told the write worked, because a failed write puts its TPM 2 into
 * failure mode, out of which only a new TPMLIB_MainInit leads; instead the
 * state stays in memory and in the store, tpmlib_process() answers the
 * command with an error, and the next command first retries the write.
 */
static TPM_RESULT keep_unsaved(enum store_blob b, const uint8_t *data,
			       size_t len, int err)
{
	char path[PATH_MAX];

	store_blob_path(active->store, b, path, sizeof(path));
	if (store_keep_unsaved(active->store, b, data, len) < 0) {
		log_err("cannot write %s: %s; out of memory to keep it",
			path, strerror(-err));
		return TPM_FAIL; /* libtpms' failure mode: the truth */
	}
	log_err("cannot %s %s: %s; TPM commands fail until the state is on disk",
		data ? "write" : "remove", path, strerror(-err));
	return TPM_SUCCESS;
}

static TPM_RESULT cb_nvram_store(const unsigned char *data, uint32_t length,
				 uint32_t tpm_number, const char *name)
{
	int b = store_blob_by_name(name);
	int rc;

	(void)tpm_number;
	if (b < 0)
		return TPM_FAIL;
	rc = store_save(active->store, b, data, length);
	if (rc < 0)
		return keep_unsaved(b, data, length, rc);
	return TPM_SUCCESS;
}

static TPM_RESULT cb_nvram_delete(uint32_t tpm_number, const char *name,
				  TPM_BOOL must_exist)
{
	int b = store_blob_by_name(name);
	int rc;

	(void)tpm_number;
	(void)must_exist;
	if (b < 0)
		return TPM_FAIL;
	rc = store_delete(active->store, b);
	if (rc < 0)
		return keep_unsaved(b, NULL, 0, rc);
	return TPM_SUCCESS;
}

static TPM_RESULT cb_io_init(void)
{
	return TPM_SUCCESS;
}

static TPM_RESULT cb_get_locality(TPM_MODIFIER_INDICATOR *loc,
				  uint32_t tpm_number)
{
	(void)tpm_number;
	*loc = active->locality;
	return TPM_SUCCESS;
}

static TPM_RESULT cb_get_physical_presence(TPM_BOOL *pp, uint32_t tpm_number)
{
	(void)tpm_number;
	*pp = FALSE;
	return TPM_SUCCESS;
}

TPM_RESULT tpmlib_setup(struct tpmlib *t, bool tpm2, struct store *store)
{
	static struct libtpms_callbacks cbs = {
		.sizeOfStruct = sizeof(struct libtpms_callbacks),
		.tpm_nvram_init = cb_nvram_init,
		.tpm_nvram_loaddata = cb_nvram_load,
		.tpm_nvram_storedata = cb_nvram_store,
		.tpm_nvram_deletename = cb_nvram_delete,
		.tpm_io_init = cb_io_init,
		.tpm_io_getlocality = cb_get_locality,
		.tpm_io_getphysicalpresence = cb_get_physical_presence,
	};
	TPM_RESULT rc;

	t->store = store;
	t->tpm2 = tpm2;
	t->locality = 0;
	t->resp = NULL;
	t->resp_cap = 0;
	t->last_ordinal = 0;
	pthread_mutex_init(&t->lifecycle, NULL);
	active = t;
	rc = TPMLIB_ChooseTPMVersion(tpm2 ? TPMLIB_TPM_VERSION_2
					  : TPMLIB_TPM_VERSION_1_2);
	if (rc)
		return rc;
	return TPMLIB_RegisterCallbacks(&cbs);
}

void tpmlib_debug(int fd, unsigned level, const char *prefix)
{
	char indented[96];

	if (fd < 0 || level < 5)
		return;
	/* swtpm's mapping: its level 5 is libtpms' 1, lines indented */
	snprintf(indented, sizeof(indented), "%s    ", prefix ? prefix : "");
	TPMLIB_SetDebugPrefix(indented);
	TPMLIB_SetDebugLevel(level - 4);
	TPMLIB_SetDebugFD(fd);
}

bool tpmlib_has_version(bool tpm2)
{
	return TPMLIB_ChooseTPMVersion(tpm2 ? TPMLIB_TPM_VERSION_2
					    : TPMLIB_TPM_VERSION_1_2) == TPM_SUCCESS;
}

char *tpmlib_probe_info(bool tpm2, unsigned flags)
{
	if (!tpmlib_has_version(tpm2))
		return NULL;
	return TPMLIB_GetInfo((enum TPMLIB_InfoFlags)flags);
}

void tpmlib_release(struct tpmlib *t)
{
	free(t->resp);
	t->resp = NULL;
	t->resp_cap = 0;
	pthread_mutex_destroy(&t->lifecycle);
}

unsigned tpmlib_version(void)
{
	return TPMLIB_GetVersion();
}

TPM_RESULT tpmlib_start(struct tpmlib *t)
{
	TPM_RESULT rc;

	t->last_ordinal = 0;
	pthread_mutex_lock(&t->lifecycle);
	rc = TPMLIB_MainInit();
	if (rc)
		TPMLIB_Terminate(); /* what MainInit set up before it failed */
	pthread_mutex_unlock(&t->lifecycle);
	return rc;
}

/* Makes the response a bare error: a buffer of at least a header. */
static void answer_error(struct tpmlib *t, TPM_RESULT rc, const uint8_t **resp,
			 uint32_t *resp_len)
{
	if (t->resp_cap < TPM_HEADER_SIZE) {
		unsigned char *p = realloc(t->resp, TPM_HEADER_SIZE);

		if (!p) {
			static uint8_t fallback[TPM_HEADER_SIZE];

			tpmlib_error_response(t->tpm2, TPM_FAIL, fallback);
			*resp = fallback;
			*resp_len = TPM_HEADER_SIZE;
			return;
		}
		t->resp = p;
		t->resp_cap = TPM_HEADER_SIZE;
	}
	tpmlib_error_response(t->tpm2, rc, t->resp);
	*resp = t->resp;
	*resp_len = TPM_HEADER_SIZE;
}

/* What a command gets while the TPM's state cannot be written. */
static TPM_RESULT unsaved_result(const struct tpmlib *t)
{
	return t->tpm2 ? TPM2_RC_NV_UNAVAILABLE : TPM_FAIL;
}

bool tpmlib_flush(struct tpmlib *t)
{
	if (!store_has_unsaved(t->store))
		return true;
	if (store_flush(t->store) < 0)
		return false;
	log_warn("state written to %s: TPM commands work again", store_where(t->store));
	return true;
}

void tpmlib_process(struct tpmlib *t, const uint8_t *cmd, uint32_t len,
		    const uint8_t **resp, uint32_t *resp_len)
{
	TPM_RESULT rc;

	/*
	 * While the state is not on disk, no command runs: none may claim
	 * success, and none may change the state further.
	 */
	if (!tpmlib_flush(t)) {
		answer_error(t, unsaved_result(t), resp, resp_len);
		return;
	}
	*resp_len = 0;
	rc = TPMLIB_Process(&t->resp, resp_len, &t->resp_cap, (uint8_t *)cmd,
			    len);
	t->last_ordinal = len >= TPM_HEADER_SIZE ? tpm_header_code(cmd) : 0;
	*resp = t->resp;
	if (store_has_unsaved(t->store))
		/* it ran, but what it changed is not on disk: no success */
		answer_error(t, unsaved_result(t), resp, resp_len);
	else if (rc || *resp_len < TPM_HEADER_SIZE)
		/* libtpms could not even form a response: make one. */
		answer_error(t, rc ? rc : TPM_FAIL, resp, resp_len);
}

/* Sends a 12-byte command with one 16-bit parameter; returns its result. */
static TPM_RESULT send_simple(struct tpmlib *t, uint16_t tag, uint32_t code,
			      uint16_t param)
{
	uint8_t cmd[12];
	const uint8_t *resp;
	uint32_t len;

	put_be16(cmd, tag);
	put_be32(cmd + 2, sizeof(cmd));
	put_be32(cmd + 6, code);
	put_be16(cmd + 10, param);
	tpmlib_process(t, cmd, sizeof(cmd), &resp, &len);
	return tpm_header_code(resp);
}

TPM_RESULT tpmlib_startup(struct tpmlib *t, enum tpm_startup type)
{
	if (type == STARTUP_NONE)
		return TPM_SUCCESS;
	if (t->tpm2) {
		if (type == STARTUP_DEACTIVATED)
			return TPM_BAD_PARAMETER;
		return send_simple(t, TPM2_ST_NO_SESSIONS, TPM2_CC_STARTUP,
				   type == STARTUP_STATE ? TPM2_SU_STATE
							 : TPM2_SU_CLEAR);
	}
	/* TPM 1.2 startup types: CLEAR 1, STATE 2, DEACTIVATED 3 */
	return send_simple(t, TPM_TAG_RQU_COMMAND, TPM_ORD_STARTUP,
			   (uint16_t)type);
}

void tpmlib_stop(struct tpmlib *t, bool orderly)
{
	pthread_mutex_lock(&t->lifecycle);
	/*
	 * A TPM 2 that is switched off without TPM2_Shutdown counts the next
	 * start as a disorderly one (DA lockout counters move); do what the
	 * platform firmware of a real machine would do, unless the client just
	 * did it itself.
	 */
	if (orderly && t->tpm2 && t->last_ordinal != TPM2_CC_SHUTDOWN) {
		if (send_simple(t, TPM2_ST_NO_SESSIONS, TPM2_CC_SHUTDOWN,
				TPM2_SU_STATE) != TPM_SUCCESS)
			send_simple(t, TPM2_ST_NO_SESSIONS, TPM2_CC_SHUTDOWN,
				    TPM2_SU_CLEAR);
	}
	TPMLIB_Terminate();
	pthread_mutex_unlock(&t->lifecycle);
}

char *tpmlib_info(struct tpmlib *t, uint64_t flags)
{
	char *json;

	pthread_mutex_lock(&t->lifecycle);
	json = TPMLIB_GetInfo((enum TPMLIB_InfoFlags)flags);
	pthread_mutex_unlock(&t->lifecycle);
	return json;
}

TPM_RESULT tpmlib_cancel(void)
{
	return TPMLIB_CancelCommand();
}

bool tpmlib_established(void)
{
	TPM_BOOL bit = FALSE;

	return TPM_IO_TpmEstablished_Get(&bit) == TPM_SUCCESS && bit;
}

TPM_RESULT tpmlib_reset_established(struct tpmlib *t, uint8_t locality)
{
	/* libtpms asks for the locality through the callback */
	t->locality = locality;
	return TPM_IO_TpmEstablished_Reset();
}

TPM_RESULT tpmlib_hash_start(void)
{
	return TPM_IO_Hash_Start();
}

TPM_RESULT tpmlib_hash_data(const uint8_t *data, uint32_t len)
{
	return TPM_IO_Hash_Data(data, len);
}

TPM_RESULT tpmlib_hash_end(void)
{
	return TPM_IO_Hash_End();
}

static enum TPMLIB_StateType state_type(enum store_blob b)
{
	switch (b) {
	case STORE_PERMALL:
		return TPMLIB_STATE_PERMANENT;
	case STORE_VOLATILE:
		return TPMLIB_STATE_VOLATILE;
	default:
		return TPMLIB_STATE_SAVE_STATE;
	}
}

TPM_RESULT tpmlib_get_state(enum store_blob b, uint8_t **data, uint32_t *len)
{
	return TPMLIB_GetState(state_type(b), data, len);
}

TPM_RESULT tpmlib_set_state(enum store_blob b, const uint8_t *data,
			    uint32_t len)
{
	return TPMLIB_SetState(state_type(b), data, len);
}

TPM_RESULT tpmlib_volatile_state(uint8_t **data, uint32_t *len)
{
	return TPMLIB_VolatileAll_Store(data, len);
}

uint32_t tpmlib_buffersize(uint32_t wanted, uint32_t *min, uint32_t *max)
{
	return TPMLIB_SetBufferSize(wanted, min, max);
}
