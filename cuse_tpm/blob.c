/* SPDX-License-Identifier: BSD-3-Clause */
#include "blob.h"

#include <libtpms/tpm_error.h>
#include <stdlib.h>
#include <string.h>

#define TLV_HEADER_SIZE 6
/* Oldest container version whose plain layout we read (v1 had no TLVs). */
#define BLOB_MIN_VERSION 1

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Header + nested TLVs, innermost last: tags[0] wraps tags[1] wraps data. */
static uint32_t wrap(const uint16_t *tags, size_t ntags, uint16_t flags,
		     const uint8_t *data, size_t len, uint8_t **out,
		     size_t *outlen)
{
	size_t total = BLOB_HEADER_SIZE + ntags * TLV_HEADER_SIZE + len;
	uint8_t *buf, *p;
	size_t i;

	if (total > UINT32_MAX)
		return TPM_SIZE;
	buf = malloc(total);
	if (!buf)
		return TPM_SIZE;
	buf[0] = BLOB_VERSION;
	buf[1] = BLOB_MIN_VERSION;
	put_be16(buf + 2, BLOB_HEADER_SIZE);
	put_be16(buf + 4, flags);
	put_be32(buf + 6, (uint32_t)total);
	p = buf + BLOB_HEADER_SIZE;
	for (i = 0; i < ntags; i++) {
		size_t inner = (ntags - i - 1) * TLV_HEADER_SIZE + len;

		put_be16(p, tags[i]);
		put_be32(p + 2, (uint32_t)inner);
		p += TLV_HEADER_SIZE;
	}
	if (len)
		memcpy(p, data, len);
	*out = buf;
	*outlen = total;
	return 0;
}

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

/* Finds the value of @tag among the TLVs in buf[0..len). */
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

uint32_t blob_wrap_file(const uint8_t *data, size_t len, uint8_t **out,
			size_t *outlen)
{
	static const uint16_t tags[] = { TAG_DATA };

	return wrap(tags, 1, 0, data, len, out, outlen);
}

uint32_t blob_unwrap_file(const uint8_t *buf, size_t len, uint8_t **out,
			  size_t *outlen)
{
	const uint8_t *v;
	uint16_t flags;
	uint8_t version;
	size_t vlen;
	uint32_t rc;

	rc = check_header(buf, len, &flags, &version);
	if (rc)
		return rc;
	if (flags & BLOB_FLAG_ENCRYPTED)
		return TPM_KEYNOTFOUND;
	buf += BLOB_HEADER_SIZE;
	len -= BLOB_HEADER_SIZE;
	if (version < 2)
		return copy_out(buf, len, out, outlen);
	rc = find_tlv(buf, len, TAG_DATA, &v, &vlen);
	if (rc)
		return rc;
	return copy_out(v, vlen, out, outlen);
}

uint32_t blob_wrap_migration(const uint8_t *data, size_t len, uint8_t **out,
			     size_t *outlen)
{
	static const uint16_t tags[] = { TAG_MIGRATION_DATA, TAG_DATA };

	return wrap(tags, 2, BLOB_FLAG_MIGRATION_DATA, data, len, out, outlen);
}

uint32_t blob_unwrap_migration(const uint8_t *buf, size_t len, uint8_t **out,
			       size_t *outlen)
{
	const uint8_t *mig, *v;
	size_t miglen, vlen;
	uint16_t flags;
	uint8_t version;
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
	/* Encrypted layers need keys, which this build does not hold yet. */
	if (flags & (BLOB_FLAG_ENCRYPTED | BLOB_FLAG_MIGRATION_ENCRYPTED))
		return TPM_KEYNOTFOUND;
	buf += BLOB_HEADER_SIZE;
	len -= BLOB_HEADER_SIZE;
	if (version < 2)
		return copy_out(buf, len, out, outlen);
	rc = find_tlv(buf, len, TAG_MIGRATION_DATA, &mig, &miglen);
	if (rc)
		return rc;
	rc = find_tlv(mig, miglen, TAG_DATA, &v, &vlen);
	if (rc)
		return rc;
	return copy_out(v, vlen, out, outlen);
}
