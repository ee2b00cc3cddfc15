/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The state blob container shared with swtpm: a 10-byte big-endian header
 * {version, min_version, hdrsize, flags, totlen} followed by TLVs
 * {u16 tag, u32 length, value}.  State files hold header + DATA; blobs that
 * leave through GET_STATEBLOB hold header + MIGRATION_DATA(DATA(...)).
 * With keys (crypt.h), both kinds may be encrypted as swtpm does it:
 *
 *   state file:     header{ENCRYPTED[|ENCRYPTED_256BIT_KEY]}
 *                   ENCRYPTED_DATA(ct) HMAC(mac) IVEC_ENCRYPTED_DATA(iv)
 *   migration blob: header{MIGRATION_DATA[|MIGRATION_ENCRYPTED
 *                   [|MIGRATION_256BIT_KEY]][|ENCRYPTED[|ENCRYPTED_256BIT_KEY]]}
 *                   MIGRATION_DATA(inner) or ENCRYPTED_MIGRATION_DATA(ct)
 *                   HMAC(mac) IVEC_ENCRYPTED_MIGRATION_DATA(iv), where inner
 *                   is DATA(state) or the state file's three encrypted TLVs.
 *
 * Each encrypted layer is AES-CBC with the key's size (128 or 256 bits) over
 * the data padded PKCS#7-style to the *key* length; iv holds key-length
 * random bytes of which the first 16 are the CBC IV; mac is HMAC-SHA256 with
 * the same key over ct || iv, checked before anything is decrypted.
 * Pure functions on memory: no I/O, so tests and fuzzers drive them directly.
 */
#ifndef CUSE_TPM_BLOB_H
#define CUSE_TPM_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct crypt_key;

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

/*
 * With keys.  Keys may be NULL; a key's len must be 16 or 32.  Besides the
 * codes above these return TPM_KEYNOTFOUND when a layer is encrypted and its
 * key is NULL; TPM_BAD_KEY_PROPERTY when a key is not 16 or 32 bytes long or
 * the header announces the other size; TPM_DECRYPT_ERROR when the HMAC does not match (a wrong key or
 * altered bytes), the padding or the legacy hash is bad, or a state file is
 * plain although a key was given (accepting it would let whoever can write
 * the state directory swap in a state of their choosing); TPM_FAIL when
 * OpenSSL fails, random bytes included.  Decrypted data never leave on error.
 */

/* Whether a container is version 1 (older swtpm; no HMAC). */
bool blob_is_legacy(const uint8_t *buf, size_t len);

/* The header's BLOB_FLAG_* bits, after the same checks the unwraps do. */
uint32_t blob_flags(const uint8_t *buf, size_t len, uint16_t *flags);

/* TPM state -> state file, encrypted with @key unless it is NULL. */
uint32_t blob_wrap_file_key(const uint8_t *data, size_t len,
			    const struct crypt_key *key, uint8_t **out,
			    size_t *outlen);
/*
 * State file -> TPM state.  Also reads files whose header has version 1
 * (legacy: AES-CBC with a zero IV over SHA-256(state) || state, no HMAC).
 */
uint32_t blob_unwrap_file_key(const uint8_t *buf, size_t len,
			      const struct crypt_key *key, uint8_t **out,
			      size_t *outlen);
/*
 * TPM state -> migration blob.  @file_key non-NULL keeps the inner layer
 * encrypted with it: GET_STATEBLOB without PTM_STATE_FLAG_DECRYPTED while a
 * state key is set, answered with PTM_STATE_FLAG_ENCRYPTED.  @migration_key
 * non-NULL encrypts the outer layer.
 */
uint32_t blob_wrap_migration_key(const uint8_t *data, size_t len,
				 const struct crypt_key *file_key,
				 const struct crypt_key *migration_key,
				 uint8_t **out, size_t *outlen);
/*
 * Migration blob -> TPM state, by swtpm's SET_STATEBLOB rules: the outer
 * layer is decrypted if the header says so (a plain blob is accepted even
 * when a migration key is set: the "upgrade" path); the inner one if the
 * header says so or @encrypted (PTM_STATE_FLAG_ENCRYPTED from the caller).
 * Empty blobs mean "no state" as in blob_unwrap_migration().  Version-1
 * blobs (older swtpm) are read as swtpm 0.9 reads them, plain or with
 * either layer in the legacy encryption (zero IV, SHA-256 of the data in
 * front, no HMAC): nothing but that unkeyed hash checks their integrity,
 * which the caller should log (blob_is_legacy).
 */
uint32_t blob_unwrap_migration_key(const uint8_t *buf, size_t len,
				   bool encrypted,
				   const struct crypt_key *file_key,
				   const struct crypt_key *migration_key,
				   uint8_t **out, size_t *outlen);

#endif
