/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inside the state blob container: what its writer (blob.c) and its reader
 * (blob_read.c) share, the TLV and version constants, the tags and header
 * flags of each encrypted layer, and the buffers that may hold TPM state in
 * the clear.  Only those two files include this.
 */
#ifndef CUSE_TPM_BLOB_INTERNAL_H
#define CUSE_TPM_BLOB_INTERNAL_H

#include "blob.h"

#include "crypt.h"

#include <openssl/crypto.h>
#include <stdlib.h>

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

static inline void bytes_free(struct bytes *b)
{
	if (b->p) {
		OPENSSL_cleanse(b->p, b->len);
		free(b->p);
	}
	b->p = NULL;
	b->len = 0;
}

static inline bool key_usable(const struct crypt_key *key)
{
	return !key || key->len == 16 || key->len == 32;
}

#endif
