/* SPDX-License-Identifier: BSD-3-Clause */
#include "rm_cmd.h"

#include "byteorder.h"

#include <stddef.h>

#define HEADER 10

struct cc_attrs {
	uint16_t cc;
	uint8_t handles;
	uint8_t rhandle;
};

#define CC(code, c, r) { (code), (c), (r) }

/*
 * Every command libtpms implements, sorted, with TPMA_CC's cHandles and
 * rHandle as its TPM_CAP_COMMANDS reports them.
 */
static const struct cc_attrs cc_table[] = {
	CC(0x11f, 2, 0), /* NV_UndefineSpaceSpecial */
	CC(0x120, 2, 0), /* EvictControl */
	CC(0x121, 1, 0), /* HierarchyControl */
	CC(0x122, 2, 0), /* NV_UndefineSpace */
	CC(0x124, 1, 0), /* ChangeEPS */
	CC(0x125, 1, 0), /* ChangePPS */
	CC(0x126, 1, 0), /* Clear */
	CC(0x127, 1, 0), /* ClearControl */
	CC(0x128, 1, 0), /* ClockSet */
	CC(0x129, 1, 0), /* HierarchyChangeAuth */
	CC(0x12a, 1, 0), /* NV_DefineSpace */
	CC(0x12b, 1, 0), /* PCR_Allocate */
	CC(0x12c, 1, 0), /* PCR_SetAuthPolicy */
	CC(0x12d, 1, 0), /* PP_Commands */
	CC(0x12e, 1, 0), /* SetPrimaryPolicy */
	CC(0x130, 1, 0), /* ClockRateAdjust */
	CC(0x131, 1, 1), /* CreatePrimary */
	CC(0x132, 1, 0), /* NV_GlobalWriteLock */
	CC(0x133, 2, 0), /* GetCommandAuditDigest */
	CC(0x134, 2, 0), /* NV_Increment */
	CC(0x135, 2, 0), /* NV_SetBits */
	CC(0x136, 2, 0), /* NV_Extend */
	CC(0x137, 2, 0), /* NV_Write */
	CC(0x138, 2, 0), /* NV_WriteLock */
	CC(0x139, 1, 0), /* DictionaryAttackLockReset */
	CC(0x13a, 1, 0), /* DictionaryAttackParameters */
	CC(0x13b, 1, 0), /* NV_ChangeAuth */
	CC(0x13c, 1, 0), /* PCR_Event */
	CC(0x13d, 1, 0), /* PCR_Reset */
	CC(0x13e, 1, 0), /* SequenceComplete */
	CC(0x13f, 1, 0), /* SetAlgorithmSet */
	CC(0x140, 1, 0), /* SetCommandCodeAuditStatus */
	CC(0x142, 0, 0), /* IncrementalSelfTest */
	CC(0x143, 0, 0), /* SelfTest */
	CC(0x144, 0, 0), /* Startup */
	CC(0x145, 0, 0), /* Shutdown */
	CC(0x146, 0, 0), /* StirRandom */
	CC(0x147, 2, 0), /* ActivateCredential */
	CC(0x148, 2, 0), /* Certify */
	CC(0x149, 3, 0), /* PolicyNV */
	CC(0x14a, 2, 0), /* CertifyCreation */
	CC(0x14b, 2, 0), /* Duplicate */
	CC(0x14c, 2, 0), /* GetTime */
	CC(0x14d, 3, 0), /* GetSessionAuditDigest */
	CC(0x14e, 2, 0), /* NV_Read */
	CC(0x14f, 2, 0), /* NV_ReadLock */
	CC(0x150, 2, 0), /* ObjectChangeAuth */
	CC(0x151, 2, 0), /* PolicySecret */
	CC(0x152, 2, 0), /* Rewrap */
	CC(0x153, 1, 0), /* Create */
	CC(0x154, 1, 0), /* ECDH_ZGen */
	CC(0x155, 1, 0), /* HMAC */
	CC(0x156, 1, 0), /* Import */
	CC(0x157, 1, 1), /* Load */
	CC(0x158, 1, 0), /* Quote */
	CC(0x159, 1, 0), /* RSA_Decrypt */
	CC(0x15b, 1, 1), /* HMAC_Start */
	CC(0x15c, 1, 0), /* SequenceUpdate */
	CC(0x15d, 1, 0), /* Sign */
	CC(0x15e, 1, 0), /* Unseal */
	CC(0x160, 2, 0), /* PolicySigned */
	CC(0x161, 0, 1), /* ContextLoad */
	CC(0x162, 1, 0), /* ContextSave */
	CC(0x163, 1, 0), /* ECDH_KeyGen */
	CC(0x164, 1, 0), /* EncryptDecrypt */
	CC(0x165, 0, 0), /* FlushContext */
	CC(0x167, 0, 1), /* LoadExternal */
	CC(0x168, 1, 0), /* MakeCredential */
	CC(0x169, 1, 0), /* NV_ReadPublic */
	CC(0x16a, 1, 0), /* PolicyAuthorize */
	CC(0x16b, 1, 0), /* PolicyAuthValue */
	CC(0x16c, 1, 0), /* PolicyCommandCode */
	CC(0x16d, 1, 0), /* PolicyCounterTimer */
	CC(0x16e, 1, 0), /* PolicyCpHash */
	CC(0x16f, 1, 0), /* PolicyLocality */
	CC(0x170, 1, 0), /* PolicyNameHash */
	CC(0x171, 1, 0), /* PolicyOR */
	CC(0x172, 1, 0), /* PolicyTicket */
	CC(0x173, 1, 0), /* ReadPublic */
	CC(0x174, 1, 0), /* RSA_Encrypt */
	CC(0x176, 2, 1), /* StartAuthSession */
	CC(0x177, 1, 0), /* VerifySignature */
	CC(0x178, 0, 0), /* ECC_Parameters */
	CC(0x17a, 0, 0), /* GetCapability */
	CC(0x17b, 0, 0), /* GetRandom */
	CC(0x17c, 0, 0), /* GetTestResult */
	CC(0x17d, 0, 0), /* Hash */
	CC(0x17e, 0, 0), /* PCR_Read */
	CC(0x17f, 1, 0), /* PolicyPCR */
	CC(0x180, 1, 0), /* PolicyRestart */
	CC(0x181, 0, 0), /* ReadClock */
	CC(0x182, 1, 0), /* PCR_Extend */
	CC(0x183, 1, 0), /* PCR_SetAuthValue */
	CC(0x184, 3, 0), /* NV_Certify */
	CC(0x185, 2, 0), /* EventSequenceComplete */
	CC(0x186, 0, 1), /* HashSequenceStart */
	CC(0x187, 1, 0), /* PolicyPhysicalPresence */
	CC(0x188, 1, 0), /* PolicyDuplicationSelect */
	CC(0x189, 1, 0), /* PolicyGetDigest */
	CC(0x18a, 0, 0), /* TestParms */
	CC(0x18b, 1, 0), /* Commit */
	CC(0x18c, 1, 0), /* PolicyPassword */
	CC(0x18d, 1, 0), /* ZGen_2Phase */
	CC(0x18e, 0, 0), /* EC_Ephemeral */
	CC(0x18f, 1, 0), /* PolicyNvWritten */
	CC(0x190, 1, 0), /* PolicyTemplate */
	CC(0x191, 1, 1), /* CreateLoaded */
	CC(0x192, 3, 0), /* PolicyAuthorizeNV */
	CC(0x193, 1, 0), /* EncryptDecrypt2 */
	CC(0x197, 2, 0), /* CertifyX509 */
};

#define CC_COUNT (sizeof(cc_table) / sizeof(cc_table[0]))

bool rm_cc_lookup(uint32_t cc, uint8_t *handles, bool *rhandle)
{
	size_t lo = 0, hi = CC_COUNT;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cc_table[mid].cc == cc) {
			*handles = cc_table[mid].handles;
			*rhandle = cc_table[mid].rhandle;
			return true;
		}
		if (cc_table[mid].cc < cc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

uint32_t rm_cc_at(unsigned n)
{
	return n < CC_COUNT ? cc_table[n].cc : 0;
}

/*
 * The authorization area: a size, then sessions of a handle, a nonce
 * (TPM2B), an attributes byte and an HMAC (TPM2B), filling it exactly.
 */
static uint32_t parse_sessions(const uint8_t *cmd, uint32_t len,
			       uint32_t off, struct rm_cmd *c)
{
	uint32_t size, end;

	if (len - off < 4)
		return RM_RC_AUTHSIZE;
	size = get_be32(cmd + off);
	off += 4;
	/* the smallest session: handle, empty nonce, attributes, empty hmac */
	if (size < 9 || size > len - off)
		return RM_RC_AUTHSIZE;
	end = off + size;
	while (off < end) {
		if (c->nsessions == RM_CMD_SESSIONS || end - off < 9)
			return RM_RC_AUTHSIZE;
		c->sessions[c->nsessions].handle = get_be32(cmd + off);
		c->sessions[c->nsessions].off = off;
		c->nsessions++;
		off += 4;
		off += 2 + (uint32_t)get_be16(cmd + off); /* nonce */
		if (off > end || end - off < 3)
			return RM_RC_AUTHSIZE;
		off += 1; /* attributes */
		off += 2 + (uint32_t)get_be16(cmd + off); /* hmac */
		if (off > end)
			return RM_RC_AUTHSIZE;
	}
	c->params = end;
	return RM_RC_SUCCESS;
}

uint32_t rm_cmd_parse(const uint8_t *cmd, uint32_t len, struct rm_cmd *c)
{
	uint32_t off = HEADER;
	uint8_t i;

	*c = (struct rm_cmd){ 0 };
	if (len < HEADER || get_be32(cmd + 2) != len)
		return RM_RC_COMMAND_SIZE;
	c->tag = get_be16(cmd);
	c->cc = get_be32(cmd + 6);
	if (c->tag != RM_ST_NO_SESSIONS && c->tag != RM_ST_SESSIONS)
		return RM_RC_BAD_TAG;
	if (!rm_cc_lookup(c->cc, &c->nhandles, &c->rhandle))
		return RM_RC_LAYER | RM_RC_COMMAND_CODE;
	if (c->cc == RM_CC_FLUSH_CONTEXT) {
		/* its handle is a parameter, which sessions would push back */
		if (c->tag != RM_ST_NO_SESSIONS)
			return RM_RC_AUTH_CONTEXT;
		c->nhandles = 1;
	}
	if (len - off < 4u * c->nhandles)
		return RM_RC_COMMAND_SIZE;
	for (i = 0; i < c->nhandles; i++, off += 4) {
		c->handles[i].handle = get_be32(cmd + off);
		c->handles[i].off = off;
	}
	c->params = off;
	if (c->tag == RM_ST_SESSIONS)
		return parse_sessions(cmd, len, off, c);
	return RM_RC_SUCCESS;
}

bool rm_cmd_handle_query(const uint8_t *cmd, uint32_t len,
			 const struct rm_cmd *c, uint32_t *first,
			 uint32_t *count)
{
	uint8_t type;

	if (c->cc != RM_CC_GET_CAPABILITY || len - c->params < 12 ||
	    get_be32(cmd + c->params) != RM_CAP_HANDLES)
		return false;
	*first = get_be32(cmd + c->params + 4);
	*count = get_be32(cmd + c->params + 8);
	type = rm_handle_type(*first);
	return type == RM_HT_TRANSIENT || type == RM_HT_HMAC_SESSION ||
	       type == RM_HT_POLICY_SESSION;
}

uint32_t rm_handles_response(uint8_t *resp, uint32_t size,
			     const uint32_t *handles, unsigned n,
			     uint32_t first, uint32_t count)
{
	uint32_t len = HEADER + 9, listed = 0;
	bool more = false;
	unsigned i;

	if (count > RM_CAP_HANDLES_MAX)
		count = RM_CAP_HANDLES_MAX;
	if (size < len + 4 * count)
		return rm_rc_response(resp, RM_RC_FAILURE);
	for (i = 0; i < n; i++) {
		/* sessions of both kinds share one index range */
		if ((handles[i] & RM_HANDLE_INDEX) < (first & RM_HANDLE_INDEX))
			continue;
		if (listed == count) {
			more = true;
			break;
		}
		put_be32(resp + len, handles[i]);
		len += 4;
		listed++;
	}
	put_be16(resp, RM_ST_NO_SESSIONS);
	put_be32(resp + 2, len);
	put_be32(resp + 6, RM_RC_SUCCESS);
	resp[10] = more;
	put_be32(resp + 11, RM_CAP_HANDLES);
	put_be32(resp + 15, listed);
	return len;
}

uint32_t rm_rc_response(uint8_t *resp, uint32_t rc)
{
	put_be16(resp, RM_ST_NO_SESSIONS);
	put_be32(resp + 2, HEADER);
	put_be32(resp + 6, rc);
	return HEADER;
}

uint32_t rm_resp_rc(const uint8_t *resp, uint32_t len)
{
	if (len < HEADER || get_be32(resp + 2) != len)
		return RM_RC_FAILURE;
	return get_be32(resp + 6);
}

uint32_t rm_resp_context(const uint8_t *resp, uint32_t len)
{
	/* sequence, savedHandle, hierarchy, then the blob as a TPM2B */
	const uint32_t fixed = 8 + 4 + 4 + 2;

	if (rm_resp_rc(resp, len) != RM_RC_SUCCESS || len < HEADER + fixed ||
	    len - HEADER - fixed != get_be16(resp + HEADER + fixed - 2))
		return 0;
	return len - HEADER;
}
