/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The state blob container shared with swtpm: a 10-byte big-endian header
 * {version, min_version, hdrsize, flags, totlen} followed by TLVs
 * {u16 tag, u32 length, value}.  State files hold header + DATA; blobs that
 * leave through GET_STATEBLOB hold header + MIGRATION_DATA(DATA(...)).
 * Pure functions on memory: no I/O, so tests and fuzzers drive them directly.
 */
#ifndef CUSE_TPM_BLOB_H
#define CUSE_TPM_BLOB_H

#include <stddef.h>
#include <stdint.h>

#define BLOB_HEADER_SIZE 10
#define BLOB_VERSION 2

#define BLOB_FLAG_ENCRYPTED 0x01
#define BLOB_FLAG_MIGRATION_ENCRYPTED 0x02
#define BLOB_FLAG_MIGRATION_DATA 0x04
#define BLOB_FLAG_ENCRYPTED_256BIT_KEY 0x08
#define BLOB_FLAG_MIGRATION_256BIT_KEY 0x10

enum blob_tag {
	TAG_DATA = 1,
	TAG_ENCRYPTED_DATA = 2,
	TAG_HMAC = 3,
	TAG_MIGRATION_DATA = 4,
	TAG_ENCRYPTED_MIGRATION_DATA = 5,
	TAG_IVEC_ENCRYPTED_DATA = 6,
	TAG_IVEC_ENCRYPTED_MIGRATION_DATA = 7,
};

/*
 * Each function returns 0 or a TPM result code (TPM_BAD_VERSION,
 * TPM_BAD_DATASIZE, TPM_BAD_PARAMETER, TPM_KEYNOTFOUND, TPM_SIZE) and, on
 * success, a newly allocated *out the caller frees.
 */

/* plain TPM state -> state file contents */
uint32_t blob_wrap_file(const uint8_t *data, size_t len, uint8_t **out,
			size_t *outlen);
/* state file contents -> plain TPM state */
uint32_t blob_unwrap_file(const uint8_t *buf, size_t len, uint8_t **out,
			  size_t *outlen);
/* plain TPM state -> migration blob (what GET_STATEBLOB returns) */
uint32_t blob_wrap_migration(const uint8_t *data, size_t len, uint8_t **out,
			     size_t *outlen);
/*
 * Migration blob -> plain TPM state.  A blob of zero length, or one holding
 * only a header, means "no state" and yields *out == NULL, *outlen == 0.
 */
uint32_t blob_unwrap_migration(const uint8_t *buf, size_t len, uint8_t **out,
			       size_t *outlen);

#endif
