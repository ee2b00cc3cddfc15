/* SPDX-License-Identifier: BSD-3-Clause */
#include "blob.h"

#include "byteorder.h"

#include "crypt.h"

#include <libtpms/tpm_error.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define TLV_HEADER_SIZE 6
/* Oldest container version whose plain layout we read (v1 had no TLVs). */
#define BLOB_MIN_VERSION 1

/* The tags and header flag of one encrypted layer. */
struct layer {
	uint16_t tag_data;
	uint16_t tag_iv;
	uint16_t flag;
	uint16_t flag_256bit;
};

static const struct layer file_layer = {
	TAG_ENCRYPTED_DATA, TAG_IVEC_ENCRYPTED_DATA, BLOB_FLAG_ENCRYPTED,
	BLOB_FLAG_ENCRYPTED_256BIT_KEY
};

static const struct layer migration_layer = {
	TAG_ENCRYPTED_MIGRATION_DATA, TAG_IVEC_ENCRYPTED_MIGRATION_DATA,
	BLOB_FLAG_MIGRATION_ENCRYPTED, BLOB_FLAG_MIGRATION_256BIT_KEY
};

/* A buffer this module allocated; may hold TPM state in the clear. */
struct bytes {
	uint8_t *p;
	size_t len;
};

static void bytes_free(struct bytes *b)
{
	if (b->p) {
		OPENSSL_cleanse(b->p, b->len);
		free(b->p);
	}
	b->p = NULL;
	b->len = 0;
}

/* Writes a TLV header; returns where its value goes. */
static uint8_t *put_tlv(uint8_t *p, uint16_t tag, size_t len)
{
	put_be16(p, tag);
	put_be32(p + 2, (uint32_t)len);
	return p + TLV_HEADER_SIZE;
}

static bool key_usable(const struct crypt_key *key)
{
	return !key || key->len == 16 || key->len == 32;
}

/* The header flags announcing a layer encrypted with @key (none if NULL). */
static uint16_t key_flags(const struct crypt_key *key, const struct layer *l)
{
	if (!key)
		return 0;
	return l->flag | (key->len == 32 ? l->flag_256bit : 0);
}

/* --- writing ------------------------------------------------------------ */

/* One plain TLV holding @data. */
static uint32_t plain_tlv(uint16_t tag, const uint8_t *data, size_t len,
			  struct bytes *out)
{
	if (len > UINT32_MAX - TLV_HEADER_SIZE)
		return TPM_SIZE;
	out->len = TLV_HEADER_SIZE + len;
	out->p = malloc(out->len);
	if (!out->p)
		return TPM_SIZE;
	if (len)
		memcpy(put_tlv(out->p, tag, len), data, len);
	else
		put_tlv(out->p, tag, 0);
	return 0;
}

/*
 * The three TLVs of an encrypted layer: ciphertext, HMAC, IV.  The data are
 * padded PKCS#7-style to the key length (not the AES block size), as swtpm
 * does, and encrypted in place in the output.
 */
static uint32_t sealed_tlvs(const struct crypt_key *key, const struct layer *l,
			    const uint8_t *data, size_t len, struct bytes *out)
{
	size_t pad = key->len - len % key->len;
	uint8_t *ct, *mac, *iv;

	if (len > UINT32_MAX - 3 * TLV_HEADER_SIZE - CRYPT_HMAC_SIZE -
			  2 * CRYPT_KEY_MAX)
		return TPM_SIZE;
	out->len = 3 * TLV_HEADER_SIZE + len + pad + CRYPT_HMAC_SIZE + key->len;
	out->p = malloc(out->len);
	if (!out->p)
		return TPM_SIZE;
	ct = put_tlv(out->p, l->tag_data, len + pad);
	mac = put_tlv(ct + len + pad, TAG_HMAC, CRYPT_HMAC_SIZE);
	iv = put_tlv(mac + CRYPT_HMAC_SIZE, l->tag_iv, key->len);
	if (len)
		memcpy(ct, data, len);
	memset(ct + len, (int)pad, pad);
	/* swtpm's IV TLV holds key-length bytes; CBC uses the first 16 */
	if (crypt_random(iv, key->len) < 0 ||
	    crypt_aes_cbc(key, iv, true, ct, len + pad, ct) < 0 ||
	    crypt_hmac_sha256(key->bytes, key->len, ct, len + pad, iv,
			      key->len, mac) < 0) {
		bytes_free(out);
		return TPM_FAIL;
	}
	return 0;
}

/* A layer's TLVs: encrypted with @key, or @plain_tag around the data. */
static uint32_t layer_tlvs(const struct crypt_key *key, const struct layer *l,
			   uint16_t plain_tag, const uint8_t *data, size_t len,
			   struct bytes *out)
{
	if (key)
		return sealed_tlvs(key, l, data, len, out);
	return plain_tlv(plain_tag, data, len, out);
}

static uint32_t with_header(uint16_t flags, const struct bytes *body,
			    uint8_t **out, size_t *outlen)
{
	size_t total = BLOB_HEADER_SIZE + body->len;
	uint8_t *buf;

	if (body->len > UINT32_MAX - BLOB_HEADER_SIZE)
		return TPM_SIZE;
	buf = malloc(total);
	if (!buf)
		return TPM_SIZE;
	buf[0] = BLOB_VERSION;
	buf[1] = BLOB_MIN_VERSION;
	put_be16(buf + 2, BLOB_HEADER_SIZE);
	put_be16(buf + 4, flags);
	put_be32(buf + 6, (uint32_t)total);
	memcpy(buf + BLOB_HEADER_SIZE, body->p, body->len);
	*out = buf;
	*outlen = total;
	return 0;
}

uint32_t blob_wrap_file_key(const uint8_t *data, size_t len,
			    const struct crypt_key *key, uint8_t **out,
			    size_t *outlen)
{
	struct bytes body = { 0 };
	uint32_t rc;

	if (!key_usable(key))
		return TPM_BAD_KEY_PROPERTY;
	rc = layer_tlvs(key, &file_layer, TAG_DATA, data, len, &body);
	if (!rc)
		rc = with_header(key_flags(key, &file_layer), &body, out,
				 outlen);
	bytes_free(&body);
	return rc;
}

uint32_t blob_wrap_migration_key(const uint8_t *data, size_t len,
				 const struct crypt_key *file_key,
				 const struct crypt_key *migration_key,
				 uint8_t **out, size_t *outlen)
{
	struct bytes inner = { 0 }, outer = { 0 };
	uint16_t flags = BLOB_FLAG_MIGRATION_DATA |
			 key_flags(file_key, &file_layer) |
			 key_flags(migration_key, &migration_layer);
	uint32_t rc;

	if (!key_usable(file_key) || !key_usable(migration_key))
		return TPM_BAD_KEY_PROPERTY;
	rc = layer_tlvs(file_key, &file_layer, TAG_DATA, data, len, &inner);
	if (!rc)
		rc = layer_tlvs(migration_key, &migration_layer,
				TAG_MIGRATION_DATA, inner.p, inner.len, &outer);
	if (!rc)
		rc = with_header(flags, &outer, out, outlen);
	bytes_free(&inner);
	bytes_free(&outer);
	return rc;
}

uint32_t blob_wrap_file(const uint8_t *data, size_t len, uint8_t **out,
			size_t *outlen)
{
	return blob_wrap_file_key(data, len, NULL, out, outlen);
}

uint32_t blob_wrap_migration(const uint8_t *data, size_t len, uint8_t **out,
			     size_t *outlen)
{
	return blob_wrap_migration_key(data, len, NULL, NULL, out, outlen);
}

/* --- reading ------------------------------------------------------------ */

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
