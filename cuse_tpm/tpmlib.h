/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libtpms glue, and the only file that calls libtpms: version choice, the
 * NVRAM/locality callbacks that route libtpms' storage into our store, the
 * few TPM commands the emulator sends on its own (Startup, the orderly
 * Shutdown), and the libtpms calls behind the core's control operations.
 * Only the core calls these, under its TPM lock, but for the three marked
 * as safe without it.
 */
#ifndef CUSE_TPM_TPMLIB_H
#define CUSE_TPM_TPMLIB_H

#include <libtpms/tpm_library.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

#define TPM_HEADER_SIZE 10

enum tpm_startup {
	STARTUP_NONE,
	STARTUP_CLEAR,
	STARTUP_STATE,
	STARTUP_DEACTIVATED, /* TPM 1.2 only */
};

struct tpmlib {
	struct store *store;
	bool tpm2;
	uint8_t locality;     /* what libtpms sees for the next call */
	unsigned char *resp;  /* libtpms' response buffer, reused */
	uint32_t resp_cap;
	uint32_t last_ordinal; /* of the last command processed */
	/* TPMLIB_GetInfo reads what MainInit/Terminate change: not both. */
	pthread_mutex_t lifecycle;
};

/* Chooses the TPM version and registers the callbacks; 0 or a TPM code. */
TPM_RESULT tpmlib_setup(struct tpmlib *t, bool tpm2, struct store *store);
void tpmlib_release(struct tpmlib *t);

/* libtpms' version: major << 16 | minor << 8 | micro.  Safe anywhere. */
unsigned tpmlib_version(void);

/*
 * libtpms' own debug output into @fd from log level 5 up, as swtpm does
 * (level - 4, lines after @prefix and four spaces); nothing below 5.
 */
void tpmlib_debug(int fd, unsigned level, const char *prefix);

/* Outside a running TPM (the --print-* probes): whether libtpms has that
 * TPM version, and its TPMLIB_GetInfo() JSON (free()) or NULL. */
bool tpmlib_has_version(bool tpm2);
char *tpmlib_probe_info(bool tpm2, unsigned flags);

/* Powers the TPM on; on failure it is left off. */
TPM_RESULT tpmlib_start(struct tpmlib *t);
/* Ends the TPM; first sends TPM2_Shutdown(SU_STATE) if @orderly. */
void tpmlib_stop(struct tpmlib *t, bool orderly);
/* libtpms' JSON (newly allocated) or NULL.  Safe without the TPM lock. */
char *tpmlib_info(struct tpmlib *t, uint64_t flags);
/* Asks the running command to stop early.  Safe without the TPM lock. */
TPM_RESULT tpmlib_cancel(void);

/* The TPM_ACCESS established bit of a running TPM (false if unknown). */
bool tpmlib_established(void);
TPM_RESULT tpmlib_reset_established(struct tpmlib *t, uint8_t locality);
/* The TIS hash sequence (what the firmware's H-CRTM does). */
TPM_RESULT tpmlib_hash_start(void);
TPM_RESULT tpmlib_hash_data(const uint8_t *data, uint32_t len);
TPM_RESULT tpmlib_hash_end(void);
/* A state from libtpms' memory, newly allocated (NULL, 0: none). */
TPM_RESULT tpmlib_get_state(enum store_blob b, uint8_t **data, uint32_t *len);
/* A state for the next tpmlib_start() to use (NULL clears it). */
TPM_RESULT tpmlib_set_state(enum store_blob b, const uint8_t *data,
			    uint32_t len);
/* The volatile state as libtpms would store it now, newly allocated. */
TPM_RESULT tpmlib_volatile_state(uint8_t **data, uint32_t *len);
/* Sets the I/O buffer size (0: leaves it); returns it, and its bounds. */
uint32_t tpmlib_buffersize(uint32_t wanted, uint32_t *min, uint32_t *max);

/* Runs one command; the response stays valid until the next call. */
void tpmlib_process(struct tpmlib *t, const uint8_t *cmd, uint32_t len,
		    const uint8_t **resp, uint32_t *resp_len);
TPM_RESULT tpmlib_startup(struct tpmlib *t, enum tpm_startup type);
/*
 * Retries the state writes that failed (every command does so first, and
 * is refused while they fail); true once nothing is unsaved.
 */
bool tpmlib_flush(struct tpmlib *t);

/* A 10-byte error response in the TPM version's format. */
void tpmlib_error_response(bool tpm2, TPM_RESULT rc,
			   uint8_t out[TPM_HEADER_SIZE]);
uint32_t tpm_header_size(const uint8_t *cmd);
uint32_t tpm_header_code(const uint8_t *cmd); /* ordinal or result */

#endif
