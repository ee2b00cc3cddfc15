/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The commands the resource manager sends the TPM itself, from inside
 * vtpm_exclusive(): ContextLoad, ContextSave and FlushContext.  Each
 * returns the TPM's response code.  Private to the resource manager
 * (rm.c, rm_space.c).
 */
#ifndef CUSE_TPM_RM_TPM_H
#define CUSE_TPM_RM_TPM_H

#include <stdbool.h>
#include <stdint.h>

#include "vtpm.h"

struct rm_tpm {
	struct vtpm_exclusive *x; /* the TPM, held */
	uint8_t cmd[VTPM_IO_MAX];
	uint8_t resp[VTPM_IO_MAX];
};

/* Zeroed, for @x; NULL on ENOMEM. */
struct rm_tpm *rm_tpm_new(struct vtpm_exclusive *x);

/* Loads the TPMS_CONTEXT @ctx; its handle in *handle. */
uint32_t rm_tpm_context_load(struct rm_tpm *t, const uint8_t *ctx,
			     uint32_t ctx_len, uint32_t *handle);
/* Saves @handle; its TPMS_CONTEXT newly allocated into *ctx. */
uint32_t rm_tpm_context_save(struct rm_tpm *t, uint32_t handle,
			     uint8_t **ctx, uint32_t *ctx_len);
uint32_t rm_tpm_flush(struct rm_tpm *t, uint32_t handle);

/*
 * Whether a ContextLoad or ContextSave failing with @rc says the object or
 * session is gone for good (flushed, or its context no longer loads after
 * a TPM reset), rather than that the TPM is busy or full for now.
 */
bool rm_tpm_gone(uint32_t rc);

#endif
