/* SPDX-License-Identifier: BSD-3-Clause */
#include "tpm2.h"

#include <string.h>

#define TPM2_ST_NO_SESSIONS 0x8001
#define TPM2_ST_SESSIONS 0x8002
#define TPM2_RH_OWNER 0x40000001
#define TPM2_RS_PW 0x40000009
#define TPM2_ALG_SHA256 0x000b

/* A cursor that writes big-endian fields. */
struct out {
	uint8_t *p;
	size_t n;
};

static void u8(struct out *o, uint8_t v)
{
	o->p[o->n++] = v;
}

static void u16(struct out *o, uint16_t v)
{
	u8(o, v >> 8);
	u8(o, (uint8_t)v);
}

static void u32(struct out *o, uint32_t v)
{
	u16(o, v >> 16);
	u16(o, (uint16_t)v);
}

static void bytes(struct out *o, const uint8_t *d, size_t len)
{
	memcpy(o->p + o->n, d, len);
	o->n += len;
}

static struct out begin(uint8_t *buf, uint16_t tag, uint32_t cc)
{
	struct out o = { buf, 0 };

	u16(&o, tag);
	u32(&o, 0); /* size, patched by end() */
	u32(&o, cc);
	return o;
}

static size_t end(struct out *o)
{
	o->p[2] = (uint8_t)(o->n >> 24);
	o->p[3] = (uint8_t)(o->n >> 16);
	o->p[4] = (uint8_t)(o->n >> 8);
	o->p[5] = (uint8_t)o->n;
	return o->n;
}

/* One empty password session: authorizes the owner hierarchy as set up. */
static void password_auth(struct out *o)
{
	u32(o, 9);
	u32(o, TPM2_RS_PW);
	u16(o, 0); /* nonce */
	u8(o, 0);  /* attributes */
	u16(o, 0); /* hmac */
}

size_t tpm2_startup(uint8_t *buf, uint16_t type)
{
	struct out o = begin(buf, TPM2_ST_NO_SESSIONS, 0x144);

	u16(&o, type);
	return end(&o);
}

size_t tpm2_shutdown(uint8_t *buf, uint16_t type)
{
	struct out o = begin(buf, TPM2_ST_NO_SESSIONS, 0x145);

	u16(&o, type);
	return end(&o);
}

size_t tpm2_get_random(uint8_t *buf, uint16_t bytes_wanted)
{
	struct out o = begin(buf, TPM2_ST_NO_SESSIONS, 0x17b);

	u16(&o, bytes_wanted);
	return end(&o);
}

size_t tpm2_read_clock(uint8_t *buf)
{
	struct out o = begin(buf, TPM2_ST_NO_SESSIONS, 0x181);

	return end(&o);
}

size_t tpm2_get_capability(uint8_t *buf, uint32_t property, uint32_t count)
{
	struct out o = begin(buf, TPM2_ST_NO_SESSIONS, 0x17a);

	u32(&o, 6); /* TPM_CAP_TPM_PROPERTIES */
	u32(&o, property);
	u32(&o, count);
	return end(&o);
}

size_t tpm2_pcr_extend(uint8_t *buf, uint32_t pcr, const uint8_t digest[32])
{
	struct out o = begin(buf, TPM2_ST_SESSIONS, 0x182);

	u32(&o, pcr);
	password_auth(&o);
	u32(&o, 1); /* one digest */
	u16(&o, TPM2_ALG_SHA256);
	bytes(&o, digest, 32);
	return end(&o);
}

size_t tpm2_pcr_read(uint8_t *buf, uint32_t pcr)
{
	struct out o = begin(buf, TPM2_ST_NO_SESSIONS, 0x17e);

	u32(&o, 1); /* one selection */
	u16(&o, TPM2_ALG_SHA256);
	u8(&o, 3); /* sizeofSelect */
	u8(&o, pcr < 8 ? 1u << pcr : 0);
	u8(&o, pcr >= 8 && pcr < 16 ? 1u << (pcr - 8) : 0);
	u8(&o, pcr >= 16 && pcr < 24 ? 1u << (pcr - 16) : 0);
	return end(&o);
}

size_t tpm2_hash(uint8_t *buf, const uint8_t *data, uint16_t len)
{
	struct out o = begin(buf, TPM2_ST_NO_SESSIONS, 0x17d);

	u16(&o, len);
	bytes(&o, data, len);
	u16(&o, TPM2_ALG_SHA256);
	u32(&o, 0x40000007); /* TPM_RH_NULL: no ticket */
	return end(&o);
}

static size_t create_primary(uint8_t *buf, enum tpm2_key key, int unique);

/* A restricted decryption key: what a storage root key looks like. */
size_t tpm2_create_primary(uint8_t *buf, enum tpm2_key key)
{
	return create_primary(buf, key, -1);
}

size_t tpm2_create_primary_rsa_unique(uint8_t *buf, uint8_t unique)
{
	return create_primary(buf, TPM2_KEY_RSA2048, unique);
}

static size_t create_primary(uint8_t *buf, enum tpm2_key key, int unique)
{
	struct out o = begin(buf, TPM2_ST_SESSIONS, 0x131);
	size_t size_at;

	u32(&o, TPM2_RH_OWNER);
	password_auth(&o);
	u16(&o, 4); /* inSensitive: empty auth, empty data */
	u16(&o, 0);
	u16(&o, 0);
	size_at = o.n;
	u16(&o, 0); /* inPublic size, patched below */
	u16(&o, key == TPM2_KEY_RSA2048 ? 0x0001 : 0x0023);
	u16(&o, TPM2_ALG_SHA256);
	u32(&o, 0x00030072); /* fixedTPM|fixedParent|sensitiveDataOrigin|
				userWithAuth|restricted|decrypt */
	u16(&o, 0);      /* authPolicy */
	u16(&o, 0x0006); /* AES-128-CFB for children */
	u16(&o, 128);
	u16(&o, 0x0043);
	u16(&o, 0x0010); /* scheme: NULL */
	if (key == TPM2_KEY_RSA2048) {
		u16(&o, 2048);
		u32(&o, 0); /* default exponent */
		if (unique < 0) {
			u16(&o, 0); /* unique */
		} else {
			u16(&o, 1);
			u8(&o, (uint8_t)unique);
		}
	} else {
		u16(&o, 0x0003); /* NIST P-256 */
		u16(&o, 0x0010); /* kdf: NULL */
		u16(&o, 0);      /* unique x, y */
		u16(&o, 0);
	}
	buf[size_at] = (uint8_t)((o.n - size_at - 2) >> 8);
	buf[size_at + 1] = (uint8_t)(o.n - size_at - 2);
	u16(&o, 0); /* outsideInfo */
	u32(&o, 0); /* creationPCR */
	return end(&o);
}

size_t tpm2_flush_context(uint8_t *buf, uint32_t handle)
{
	struct out o = begin(buf, TPM2_ST_NO_SESSIONS, 0x165);

	u32(&o, handle);
	return end(&o);
}

size_t tpm2_nv_define(uint8_t *buf, uint32_t index, uint16_t size)
{
	struct out o = begin(buf, TPM2_ST_SESSIONS, 0x12a);

	u32(&o, TPM2_RH_OWNER);
	password_auth(&o);
	u16(&o, 0);  /* auth */
	u16(&o, 14); /* TPMS_NV_PUBLIC */
	u32(&o, index);
	u16(&o, TPM2_ALG_SHA256);
	u32(&o, 0x00060006); /* OWNERWRITE|AUTHWRITE|OWNERREAD|AUTHREAD */
	u16(&o, 0);          /* authPolicy */
	u16(&o, size);
	return end(&o);
}

size_t tpm2_nv_write(uint8_t *buf, uint32_t index, const uint8_t *data,
		     uint16_t len, uint16_t offset)
{
	struct out o = begin(buf, TPM2_ST_SESSIONS, 0x137);

	u32(&o, TPM2_RH_OWNER);
	u32(&o, index);
	password_auth(&o);
	u16(&o, len);
	bytes(&o, data, len);
	u16(&o, offset);
	return end(&o);
}

size_t tpm2_nv_read(uint8_t *buf, uint32_t index, uint16_t len,
		    uint16_t offset)
{
	struct out o = begin(buf, TPM2_ST_SESSIONS, 0x14e);

	u32(&o, TPM2_RH_OWNER);
	u32(&o, index);
	password_auth(&o);
	u16(&o, len);
	u16(&o, offset);
	return end(&o);
}

size_t tpm2_start_auth_session(uint8_t *buf)
{
	static const uint8_t nonce[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
					   12, 13, 14, 15, 16 };
	struct out o = begin(buf, TPM2_ST_NO_SESSIONS, 0x176);

	u32(&o, 0x40000007); /* tpmKey: none */
	u32(&o, 0x40000007); /* bind: none */
	u16(&o, sizeof(nonce));
	bytes(&o, nonce, sizeof(nonce));
	u16(&o, 0);      /* encryptedSalt */
	u8(&o, 0x00);    /* TPM_SE_HMAC */
	u16(&o, 0x0010); /* symmetric: NULL */
	u16(&o, TPM2_ALG_SHA256);
	return end(&o);
}

size_t tpm2_read_public(uint8_t *buf, uint32_t handle)
{
	struct out o = begin(buf, TPM2_ST_NO_SESSIONS, 0x173);

	u32(&o, handle);
	return end(&o);
}

size_t tpm2_get_handles(uint8_t *buf, uint32_t first, uint32_t count)
{
	struct out o = begin(buf, TPM2_ST_NO_SESSIONS, 0x17a);

	u32(&o, 1); /* TPM_CAP_HANDLES */
	u32(&o, first);
	u32(&o, count);
	return end(&o);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

uint32_t tpm2_rc(const uint8_t *resp)
{
	return be32(resp + 6);
}

uint32_t tpm2_size(const uint8_t *resp)
{
	return be32(resp + 2);
}

uint32_t tpm2_created_handle(const uint8_t *resp)
{
	return be32(resp + 10);
}
