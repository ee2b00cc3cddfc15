/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reading the state blob container (blob.h): the header checked, the TLVs
 * found, each encrypted layer authenticated before it is decrypted, and
 * version-1 (legacy) containers read as swtpm reads them.
 */
#include "blob_internal.h"

#include "byteorder.h"

#include <libtpms/tpm_error.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

/* Validates the header; returns its flags and version through pointers. */
static uint32_t check_header(const uint8_t *buf, size_t len, uint16_t *flags,
			     uint8_t *version)
{
	if (len < BLOB_HEADER_SIZE)
		return TPM_BAD_DATASIZE;
	if (buf[1] > BLOB_VERSION || buf[0] < BLOB_MIN_VERSION)
		return TPM_BAD_VERSION;
	if (get_be16(buf + 2) != BLOB_HEADER_SIZE)
		return TPM_BAD_DATASIZE;
	if (get_be32(buf + 6) != len)
		return TPM_BAD_DATASIZE;
	*flags = get_be16(buf + 4);
	*version = buf[0];
	return 0;
}

uint32_t blob_flags(const uint8_t *buf, size_t len, uint16_t *flags)
{
	uint8_t version;

	return check_header(buf, len, flags, &version);
}

/*
 * Finds the value of @tag among the TLVs in buf[0..len), as swtpm does:
 * the first match wins and what follows it is not looked at.
 */
static uint32_t find_tlv(const uint8_t *buf, size_t len, uint16_t tag,
			 const uint8_t **value, size_t *vlen)
{
	while (len >= TLV_HEADER_SIZE) {
		uint16_t t = get_be16(buf);
		uint32_t l = get_be32(buf + 2);

		if (l > len - TLV_HEADER_SIZE)
			return TPM_BAD_DATASIZE;
		if (t == tag) {
			*value = buf + TLV_HEADER_SIZE;
			*vlen = l;
			return 0;
		}
		buf += TLV_HEADER_SIZE + l;
		len -= TLV_HEADER_SIZE + l;
	}
	return len ? TPM_BAD_DATASIZE : TPM_BAD_PARAMETER;
}

static uint32_t copy_out(const uint8_t *data, size_t len, uint8_t **out,
			 size_t *outlen)
{
	*out = malloc(len ? len : 1);
	if (!*out)
		return TPM_SIZE;
	if (len)
		memcpy(*out, data, len);
	*outlen = len;
	return 0;
}

/* The TLVs of an encrypted layer; iv may be missing (see open_sealed). */
struct sealed {
	const uint8_t *ct, *mac, *iv;
	size_t ct_len, mac_len, iv_len;
};

/* Records @value under @tag if it is one of the layer's; once each. */
static uint32_t take_tlv(struct sealed *s, const struct layer *l, uint16_t tag,
			 const uint8_t *value, size_t len)
{
	const uint8_t **slot = NULL;
	size_t *slot_len = NULL;

	if (tag == l->tag_data) {
		slot = &s->ct;
		slot_len = &s->ct_len;
	} else if (tag == TAG_HMAC) {
		slot = &s->mac;
		slot_len = &s->mac_len;
	} else if (tag == l->tag_iv) {
		slot = &s->iv;
		slot_len = &s->iv_len;
	}
	if (!slot)
		return 0; /* a tag of some later version: not ours to judge */
	if (*slot)
		return TPM_BAD_PARAMETER;
	*slot = value;
	*slot_len = len;
	return 0;
}

/*
 * Splits an encrypted layer.  Unlike the plain layout its TLVs must fill
 * the buffer exactly, and a repeated tag is refused: nothing unauthenticated
 * gets a say in which bytes are checked.
 */
static uint32_t split_sealed(const uint8_t *buf, size_t len,
			     const struct layer *l, struct sealed *s)
{
	memset(s, 0, sizeof(*s));
	while (len) {
		uint32_t vlen;
		uint32_t rc;

		if (len < TLV_HEADER_SIZE)
			return TPM_BAD_DATASIZE;
		vlen = get_be32(buf + 2);
		if (vlen > len - TLV_HEADER_SIZE)
			return TPM_BAD_DATASIZE;
		rc = take_tlv(s, l, get_be16(buf), buf + TLV_HEADER_SIZE, vlen);
		if (rc)
			return rc;
		buf += TLV_HEADER_SIZE + vlen;
		len -= TLV_HEADER_SIZE + vlen;
	}
	if (!s->ct || !s->mac)
		return TPM_BAD_PARAMETER;
	return 0;
}

/*
 * The length of the data before PKCS#7-style padding of up to @max_pad
 * bytes, or 0 with *ok false.
 */
static size_t unpadded_len(const uint8_t *p, size_t len, size_t max_pad,
			   bool *ok)
{
	size_t pad = len ? p[len - 1] : 0;
	size_t i;

	*ok = pad >= 1 && pad <= max_pad && pad <= len;
	for (i = 0; *ok && i < pad; i++)
		*ok = p[len - 1 - i] == pad;
	return *ok ? len - pad : 0;
}

/* Decrypts @len bytes (a multiple of 16) and strips the padding. */
static uint32_t decrypt_unpad(const struct crypt_key *key, const uint8_t *iv,
			      const uint8_t *ct, size_t len, struct bytes *out)
{
	bool ok;

	out->p = malloc(len);
	if (!out->p)
		return TPM_SIZE;
	out->len = len;
	if (crypt_aes_cbc(key, iv, false, ct, len, out->p) < 0) {
		bytes_free(out);
		return TPM_FAIL;
	}
	/* authenticated already (or legacy): no padding oracle to fear */
	out->len = unpadded_len(out->p, len, key->len, &ok);
	if (!ok) {
		out->len = len;
		bytes_free(out);
		return TPM_DECRYPT_ERROR;
	}
	return 0;
}

/*
 * Opens a version-2 encrypted layer: encrypt-then-MAC, so the HMAC over
 * ct || iv is checked before a byte is decrypted.  Blobs from swtpm
 * releases before the random IV have no IV TLV: zero IV, HMAC over ct.
 */
static uint32_t open_sealed(const struct crypt_key *key,
			    const struct layer *l, uint16_t flags,
			    const uint8_t *buf, size_t len, struct bytes *out)
{
	static const uint8_t zero_iv[CRYPT_AES_BLOCK];
	uint8_t mac[CRYPT_HMAC_SIZE];
	struct sealed s;
	uint32_t rc;

	if (key->len != ((flags & l->flag_256bit) ? 32u : 16u))
		return TPM_BAD_KEY_PROPERTY;
	rc = split_sealed(buf, len, l, &s);
	if (rc)
		return rc;
	if (s.mac_len != CRYPT_HMAC_SIZE)
		return TPM_BAD_DATASIZE;
	if ((s.iv && s.iv_len != key->len) || s.ct_len < key->len ||
	    s.ct_len % CRYPT_AES_BLOCK)
		return TPM_DECRYPT_ERROR;
	if (crypt_hmac_sha256(key->bytes, key->len, s.ct, s.ct_len, s.iv,
			      s.iv ? s.iv_len : 0, mac) < 0)
		return TPM_FAIL;
	if (CRYPTO_memcmp(mac, s.mac, CRYPT_HMAC_SIZE) != 0)
		return TPM_DECRYPT_ERROR;
	return decrypt_unpad(key, s.iv ? s.iv : zero_iv, s.ct, s.ct_len, out);
}

/*
 * Opens a version-1 (legacy) encrypted layer: AES-CBC with a zero IV over
 * SHA-256(data) || data, padded to at most the key length; no HMAC.
 */
static uint32_t open_legacy(const struct crypt_key *key, const uint8_t *buf,
			    size_t len, struct bytes *out)
{
	static const uint8_t zero_iv[CRYPT_AES_BLOCK];
	uint8_t digest[CRYPT_SHA256_SIZE];
	struct bytes hashed = { 0 };
	uint32_t rc;

	if (len < key->len || len % CRYPT_AES_BLOCK)
		return TPM_DECRYPT_ERROR;
	rc = decrypt_unpad(key, zero_iv, buf, len, &hashed);
	if (rc)
		return rc;
	if (hashed.len < CRYPT_SHA256_SIZE)
		rc = TPM_DECRYPT_ERROR;
	else if (crypt_sha256(hashed.p + CRYPT_SHA256_SIZE,
			      hashed.len - CRYPT_SHA256_SIZE, digest) < 0)
		rc = TPM_FAIL;
	else if (CRYPTO_memcmp(digest, hashed.p, CRYPT_SHA256_SIZE) != 0)
		rc = TPM_DECRYPT_ERROR;
	if (!rc) {
		/* the plain data stay in the buffer they were decrypted into */
		memmove(hashed.p, hashed.p + CRYPT_SHA256_SIZE,
			hashed.len - CRYPT_SHA256_SIZE);
		OPENSSL_cleanse(hashed.p + hashed.len - CRYPT_SHA256_SIZE,
				CRYPT_SHA256_SIZE);
		*out = hashed;
		out->len -= CRYPT_SHA256_SIZE;
		return 0;
	}
	bytes_free(&hashed);
	return rc;
}

/* Hands a decrypted buffer to the caller (at least 1 byte allocated). */
static uint32_t hand_out(struct bytes *b, uint8_t **out, size_t *outlen)
{
	if (b->len == 0) {
		bytes_free(b);
		return copy_out(NULL, 0, out, outlen);
	}
	*out = b->p;
	*outlen = b->len;
	b->p = NULL;
	b->len = 0;
	return 0;
}

uint32_t blob_unwrap_file_key(const uint8_t *buf, size_t len,
			      const struct crypt_key *key, uint8_t **out,
			      size_t *outlen)
{
	struct bytes plain = { 0 };
	const uint8_t *v;
	uint16_t flags;
	uint8_t version;
	size_t vlen;
	uint32_t rc;

	rc = check_header(buf, len, &flags, &version);
	if (rc)
		return rc;
	if (!key_usable(key))
		return TPM_BAD_KEY_PROPERTY;
	buf += BLOB_HEADER_SIZE;
	len -= BLOB_HEADER_SIZE;
	if ((flags & BLOB_FLAG_ENCRYPTED) && !key)
		return TPM_KEYNOTFOUND;
	if (!(flags & BLOB_FLAG_ENCRYPTED) && key)
		return TPM_DECRYPT_ERROR;
	if (!key) {
		if (version < 2)
			return copy_out(buf, len, out, outlen);
		rc = find_tlv(buf, len, TAG_DATA, &v, &vlen);
		return rc ? rc : copy_out(v, vlen, out, outlen);
	}
	if (version < 2)
		rc = open_legacy(key, buf, len, &plain);
	else
		rc = open_sealed(key, &file_layer, flags, buf, len, &plain);
	return rc ? rc : hand_out(&plain, out, outlen);
}

uint32_t blob_unwrap_file(const uint8_t *buf, size_t len, uint8_t **out,
			  size_t *outlen)
{
	return blob_unwrap_file_key(buf, len, NULL, out, outlen);
}

/*
 * The outer layer of a version-2 migration blob: decrypted into @owned, or
 * pointed at in place (@owned left empty).
 */
static uint32_t migration_inner(const uint8_t *buf, size_t len, uint16_t flags,
				const struct crypt_key *migration_key,
				struct bytes *owned, const uint8_t **inner,
				size_t *inner_len)
{
	uint32_t rc;

	if (!(flags & BLOB_FLAG_MIGRATION_ENCRYPTED))
		return find_tlv(buf, len, TAG_MIGRATION_DATA, inner, inner_len);
	rc = open_sealed(migration_key, &migration_layer, flags, buf, len,
			 owned);
	*inner = owned->p;
	*inner_len = owned->len;
	return rc;
}

/* The inner layer: the state, decrypted with @file_key if it is set. */
static uint32_t migration_state(const uint8_t *buf, size_t len, uint16_t flags,
				const struct crypt_key *file_key,
				uint8_t **out, size_t *outlen)
{
	struct bytes plain = { 0 };
	const uint8_t *v;
	size_t vlen;
	uint32_t rc;

	if (!file_key) {
		rc = find_tlv(buf, len, TAG_DATA, &v, &vlen);
		return rc ? rc : copy_out(v, vlen, out, outlen);
	}
	rc = open_sealed(file_key, &file_layer, flags, buf, len, &plain);
	return rc ? rc : hand_out(&plain, out, outlen);
}

/*
 * A version-1 migration blob: each encrypted layer is a legacy one (zero
 * IV, SHA-256 of the data in front, no HMAC), a plain one is the bare data.
 */
static uint32_t legacy_migration_state(const uint8_t *buf, size_t len,
				       const struct crypt_key *file_key,
				       const struct crypt_key *migration_key,
				       uint8_t **out, size_t *outlen)
{
	struct bytes outer = { 0 }, plain = { 0 };
	uint32_t rc = 0;

	if (migration_key) {
		rc = open_legacy(migration_key, buf, len, &outer);
		buf = outer.p;
		len = outer.len;
	}
	if (!rc && file_key) {
		rc = open_legacy(file_key, buf, len, &plain);
		if (!rc)
			rc = hand_out(&plain, out, outlen);
	} else if (!rc) {
		rc = copy_out(buf, len, out, outlen);
	}
	bytes_free(&outer);
	return rc;
}

bool blob_is_legacy(const uint8_t *buf, size_t len)
{
	return len >= BLOB_HEADER_SIZE && buf[0] < BLOB_VERSION;
}

uint32_t blob_unwrap_migration_key(const uint8_t *buf, size_t len,
				   bool encrypted,
				   const struct crypt_key *file_key,
				   const struct crypt_key *migration_key,
				   uint8_t **out, size_t *outlen)
{
	struct bytes outer = { 0 };
	const uint8_t *inner;
	size_t inner_len;
	uint16_t flags;
	uint8_t version;
	bool mig_enc, file_enc;
	uint32_t rc;

	*out = NULL;
	*outlen = 0;
	if (len == 0)
		return 0;
	rc = check_header(buf, len, &flags, &version);
	if (rc)
		return rc;
	if (len == BLOB_HEADER_SIZE)
		return 0;
	if (!key_usable(file_key) || !key_usable(migration_key))
		return TPM_BAD_KEY_PROPERTY;
	mig_enc = flags & BLOB_FLAG_MIGRATION_ENCRYPTED;
	file_enc = encrypted || (flags & BLOB_FLAG_ENCRYPTED);
	if ((mig_enc && !migration_key) || (file_enc && !file_key))
		return TPM_KEYNOTFOUND;
	buf += BLOB_HEADER_SIZE;
	len -= BLOB_HEADER_SIZE;
	if (version < 2)
		return legacy_migration_state(buf, len,
					      file_enc ? file_key : NULL,
					      mig_enc ? migration_key : NULL,
					      out, outlen);
	rc = migration_inner(buf, len, flags, migration_key, &outer, &inner,
			     &inner_len);
	if (!rc)
		rc = migration_state(inner, inner_len, flags,
				     file_enc ? file_key : NULL, out, outlen);
	bytes_free(&outer);
	return rc;
}

uint32_t blob_unwrap_migration(const uint8_t *buf, size_t len, uint8_t **out,
			       size_t *outlen)
{
	return blob_unwrap_migration_key(buf, len, false, NULL, NULL, out,
					 outlen);
}
