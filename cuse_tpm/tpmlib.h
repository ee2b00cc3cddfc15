/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libtpms glue: version choice, the NVRAM/locality callbacks that route
 * libtpms' storage into our store, and the few TPM commands the emulator
 * sends on its own (Startup, the orderly Shutdown).  Only the core calls
 * these, under its TPM lock.
 */
#ifndef CUSE_TPM_TPMLIB_H
#define CUSE_TPM_TPMLIB_H

#include <libtpms/tpm_library.h>
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
};

/* Chooses the TPM version and registers the callbacks; 0 or a TPM code. */
TPM_RESULT tpmlib_setup(struct tpmlib *t, bool tpm2, struct store *store);
void tpmlib_release(struct tpmlib *t);

/*
 * libtpms' own debug output into @fd from log level 5 up, as swtpm does
 * (level - 4, lines after @prefix and four spaces); nothing below 5.
 */
void tpmlib_debug(int fd, unsigned level, const char *prefix);

/* Outside a running TPM (the --print-* probes): whether libtpms has that
 * TPM version, and its TPMLIB_GetInfo() JSON (free()) or NULL. */
bool tpmlib_has_version(bool tpm2);
char *tpmlib_info(bool tpm2, unsigned flags);

TPM_RESULT tpmlib_start(struct tpmlib *t);
/* Ends the TPM; first sends TPM2_Shutdown(SU_STATE) if @orderly. */
void tpmlib_stop(struct tpmlib *t, bool orderly);

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
