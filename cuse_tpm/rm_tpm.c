/* SPDX-License-Identifier: BSD-3-Clause */
#include "rm_tpm.h"

#include "byteorder.h"
#include "rm_cmd.h"

#include <stdlib.h>
#include <string.h>

#define HEADER 10

struct rm_tpm *rm_tpm_new(struct vtpm_exclusive *x)
{
	/* zeroed: the analyzer cannot see the core fill the buffers */
	struct rm_tpm *t = calloc(1, sizeof(*t));

	if (t)
		t->x = x;
	return t;
}

static uint32_t transmit(struct rm_tpm *t, uint32_t len, uint32_t *out_len)
{
	int n = vtpm_exclusive_execute(t->x, t->cmd, len, t->resp,
				       sizeof(t->resp));

	*out_len = n > 0 ? (uint32_t)n : 0;
	return rm_resp_rc(t->resp, *out_len);
}

/* A header for @cc with @body bytes after it; returns the whole length. */
static uint32_t begin(struct rm_tpm *t, uint32_t cc, uint32_t body)
{
	put_be16(t->cmd, RM_ST_NO_SESSIONS);
	put_be32(t->cmd + 2, HEADER + body);
	put_be32(t->cmd + 6, cc);
	return HEADER + body;
}

uint32_t rm_tpm_context_load(struct rm_tpm *t, const uint8_t *ctx,
			     uint32_t ctx_len, uint32_t *handle)
{
	uint32_t len, n, rc;

	if (ctx_len > sizeof(t->cmd) - HEADER)
		return RM_RC_FAILURE;
	len = begin(t, RM_CC_CONTEXT_LOAD, ctx_len);
	memcpy(t->cmd + HEADER, ctx, ctx_len);
	rc = transmit(t, len, &n);
	if (rc == RM_RC_SUCCESS && n < HEADER + 4)
		rc = RM_RC_FAILURE;
	if (rc == RM_RC_SUCCESS)
		*handle = get_be32(t->resp + HEADER);
	return rc;
}

uint32_t rm_tpm_context_save(struct rm_tpm *t, uint32_t handle,
			     uint8_t **ctx, uint32_t *ctx_len)
{
	uint32_t len = begin(t, RM_CC_CONTEXT_SAVE, 4), n, rc;

	put_be32(t->cmd + HEADER, handle);
	rc = transmit(t, len, &n);
	if (rc != RM_RC_SUCCESS)
		return rc;
	*ctx_len = rm_resp_context(t->resp, n);
	*ctx = *ctx_len ? malloc(*ctx_len) : NULL;
	if (!*ctx)
		return RM_RC_FAILURE;
	memcpy(*ctx, t->resp + HEADER, *ctx_len);
	return RM_RC_SUCCESS;
}

uint32_t rm_tpm_flush(struct rm_tpm *t, uint32_t handle)
{
	uint32_t len = begin(t, RM_CC_FLUSH_CONTEXT, 4), n;

	put_be32(t->cmd + HEADER, handle);
	return transmit(t, len, &n);
}

bool rm_tpm_gone(uint32_t rc)
{
	/* format-one errors (TPM_RC_HANDLE, _INTEGRITY, ...), TPM_RC_REFERENCE_* */
	return (rc & 0x80) || (rc >= RM_RC_REFERENCE_H0 && rc <= 0x91f);
}
