/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Writing the state blob container (blob.h): a layer's TLVs, plain or
 * encrypted then MACed as swtpm does it, and the header in front of them.
 */
#include "blob_internal.h"

#include "byteorder.h"

#include <libtpms/tpm_error.h>
#include <stdlib.h>
#include <string.h>

/* Writes a TLV header; returns where its value goes. */
static uint8_t *put_tlv(uint8_t *p, uint16_t tag, size_t len)
{
	put_be16(p, tag);
	put_be32(p + 2, (uint32_t)len);
	return p + TLV_HEADER_SIZE;
}

/* The header flags announcing a layer encrypted with @key (none if NULL). */
static uint16_t key_flags(const struct crypt_key *key, const struct layer *l)
{
	if (!key)
		return 0;
	return l->flag | (key->len == 32 ? l->flag_256bit : 0);
}

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
