/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TPM 2.0 command and response bytes as the resource manager sees them:
 * which handles a command names and where they sit, the handle a response
 * returns, the few responses the resource manager writes itself.  Pure
 * functions over hostile bytes: no I/O, no state, no length trusted.
 *
 * Which handles a command has comes from its command code, as the kernel
 * takes it from TPM_CAP_COMMANDS (TPMA_CC cHandles and rHandle); the
 * table here is libtpms' own, checked against it by tests/unit/test_rm.c.
 * TPM2_FlushContext names its handle as a parameter; like the kernel we
 * treat it as one handle right after the header.
 */
#ifndef CUSE_TPM_RM_CMD_H
#define CUSE_TPM_RM_CMD_H

#include <stdbool.h>
#include <stdint.h>

#define RM_ST_NO_SESSIONS 0x8001
#define RM_ST_SESSIONS 0x8002

#define RM_CC_GET_CAPABILITY 0x17a
#define RM_CC_CONTEXT_LOAD 0x161
#define RM_CC_CONTEXT_SAVE 0x162
#define RM_CC_FLUSH_CONTEXT 0x165
#define RM_CAP_HANDLES 1

/* Handle types (the top byte). */
#define RM_HT_TRANSIENT 0x80
#define RM_HT_HMAC_SESSION 0x02
#define RM_HT_POLICY_SESSION 0x03
#define RM_RS_PW 0x40000009u
#define RM_HANDLE_INDEX 0xffffffu

/* Response codes the resource manager answers with itself. */
#define RM_RC_SUCCESS 0x000
#define RM_RC_BAD_TAG 0x01e
#define RM_RC_FAILURE 0x101
#define RM_RC_COMMAND_SIZE 0x142
#define RM_RC_COMMAND_CODE 0x143
#define RM_RC_AUTHSIZE 0x144
#define RM_RC_AUTH_CONTEXT 0x145
/* TPM_RC_HANDLE of parameter 1: FlushContext of a handle not ours */
#define RM_RC_HANDLE_P1 0x1cb
#define RM_RC_CONTEXT_GAP 0x901
#define RM_RC_OBJECT_MEMORY 0x902
#define RM_RC_SESSION_MEMORY 0x903
#define RM_RC_MEMORY 0x904
/* + the handle's index: what a TPM says of a handle not loaded */
#define RM_RC_REFERENCE_H0 0x910
#define RM_RC_REFERENCE_S0 0x918
/* TSS2_RESMGR_TPM_RC_LAYER: the kernel's mark on codes it made itself */
#define RM_RC_LAYER 0xb0000u

#define RM_CMD_HANDLES 3  /* at most, in a handle area */
#define RM_CMD_SESSIONS 3 /* at most, in an authorization area */

/* GetCapability(TPM_CAP_HANDLES) returns at most this many (libtpms). */
#define RM_CAP_HANDLES_MAX 254

/* A handle in a command, and the offset of its 4 bytes there. */
struct rm_ref {
	uint32_t handle;
	uint32_t off;
};

struct rm_cmd {
	uint16_t tag;
	uint32_t cc;
	bool rhandle; /* its response returns a handle */
	uint8_t nhandles;
	struct rm_ref handles[RM_CMD_HANDLES];
	uint8_t nsessions; /* in the authorization area */
	struct rm_ref sessions[RM_CMD_SESSIONS];
	uint32_t params; /* offset of the parameters */
};

/* The handle counts of a command code; false if it is not one. */
bool rm_cc_lookup(uint32_t cc, uint8_t *handles, bool *rhandle);
/* The nth (0-based) command code of the table, or 0 past its end. */
uint32_t rm_cc_at(unsigned n);

/*
 * Walks a command of @len bytes: 0 with @c filled in, or the response code
 * the command gets without reaching the TPM (its size, tag, code, handle
 * area or authorization area is not what the TPM could accept).
 */
uint32_t rm_cmd_parse(const uint8_t *cmd, uint32_t len, struct rm_cmd *c);

static inline uint8_t rm_handle_type(uint32_t h)
{
	return (uint8_t)(h >> 24);
}

static inline bool rm_is_session(uint32_t h)
{
	return rm_handle_type(h) == RM_HT_HMAC_SESSION ||
	       rm_handle_type(h) == RM_HT_POLICY_SESSION;
}

/*
 * A GetCapability(TPM_CAP_HANDLES) of transient objects or sessions, the
 * ranges the resource manager answers from the opener's own space: true
 * with the first handle and the count asked for.
 */
bool rm_cmd_handle_query(const uint8_t *cmd, uint32_t len,
			 const struct rm_cmd *c, uint32_t *first,
			 uint32_t *count);

/*
 * Writes the answer to that query into @resp (@size bytes): those of the
 * @n @handles (sorted by index) whose index is @first's or above, at most
 * @count of them.  Returns its length.
 */
uint32_t rm_handles_response(uint8_t *resp, uint32_t size,
			     const uint32_t *handles, unsigned n,
			     uint32_t first, uint32_t count);

/* A bare response with @rc; returns its length (10). */
uint32_t rm_rc_response(uint8_t *resp, uint32_t rc);

/* The response code of a response, or TPM_RC_FAILURE if it has none. */
uint32_t rm_resp_rc(const uint8_t *resp, uint32_t len);

/*
 * The TPMS_CONTEXT in a TPM2_ContextSave response: its offset is 10, its
 * length is returned (0 if the response does not hold exactly one).
 */
uint32_t rm_resp_context(const uint8_t *resp, uint32_t len);

#endif
