/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * State encryption keys in swtpm's terms: where a --key / --migration-key
 * comes from, loading and deriving it, and the few primitives the container
 * code needs (AES-CBC, HMAC-SHA256, SHA-256, random bytes).  All cryptography
 * goes through OpenSSL 3's EVP, EVP_MAC and EVP_KDF interfaces.
 *
 * Keys never reach a log: error texts name files and lengths, never bytes.
 */
#ifndef CUSE_TPM_CRYPT_H
#define CUSE_TPM_CRYPT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPT_KEY_MAX 32   /* AES-256 */
#define CRYPT_AES_BLOCK 16 /* also the CBC IV size */
#define CRYPT_HMAC_SIZE 32 /* HMAC-SHA256 */
#define CRYPT_SHA256_SIZE 32

struct crypt_key {
	uint8_t bytes[CRYPT_KEY_MAX];
	size_t len; /* 16 (AES-128) or 32 (AES-256) */
};

enum crypt_key_source {
	CRYPT_KEY_FILE, /* file=PATH: the key itself */
	CRYPT_KEY_FD,   /* fd=N */
	CRYPT_PWD_FILE, /* pwdfile=PATH: a passphrase to derive it from */
	CRYPT_PWD_FD,   /* pwdfd=N */
};

enum crypt_key_format { CRYPT_FORMAT_HEX, CRYPT_FORMAT_BINARY };
enum crypt_kdf { CRYPT_KDF_PBKDF2, CRYPT_KDF_SHA512 };

/*
 * A parsed --key / --migration-key value (options_parse_key() in
 * options.h): where the key comes from, nothing read yet.
 */
struct crypt_key_spec {
	enum crypt_key_source source;
	char path[PATH_MAX];          /* file= / pwdfile= */
	int fd;                       /* fd= / pwdfd= */
	enum crypt_key_format format; /* file= / fd=; default hex */
	size_t key_len;               /* from mode=; default 16 (aes-128-cbc) */
	enum crypt_kdf kdf;           /* pwdfile= / pwdfd=; default pbkdf2 */
	bool remove;                  /* unlink the file once read */
};

/*
 * Has OpenSSL read its configuration, and load the providers or engines it
 * names, now: before the seccomp filter, whose allow-list cannot know what
 * a host's module calls.  libtpms would do it at its first use, confined.
 */
void crypt_init(void);

/*
 * Reads the key (or passphrase) the spec names and fills @key.  A key file
 * holds exactly the mode's key length: 2*len hex digits, optionally after
 * "0x" and before trailing whitespace, or len raw bytes.  A passphrase is
 * the whole file, trailing newline included, derived with PBKDF2-HMAC-SHA512
 * (salt "swtpm", 1000 iterations) or a truncated SHA-512.  An fd is read to
 * its end and closed, as swtpm does; with remove the file is unlinked after
 * a successful read.  Returns 0, or -1 with a reason in @err and @key wiped.
 */
int crypt_key_load(const struct crypt_key_spec *spec, struct crypt_key *key,
		   char *err, size_t errlen);

/* The passphrase KDFs on their own: returns 0 or -1. */
int crypt_key_from_passphrase(const uint8_t *pass, size_t passlen,
			      enum crypt_kdf kdf, size_t key_len,
			      struct crypt_key *key);

/* Overwrites the key so that no copy of it outlives its use. */
void crypt_key_wipe(struct crypt_key *key);
/*
 * Overwrites and frees a buffer that may hold TPM state in the clear (NULL
 * is fine): what a blob or the store held never lingers in freed memory.
 */
void wipe_free(void *p, size_t len);

/* Each primitive returns 0 or -1 (an OpenSSL failure). */

/* @len cryptographically random bytes; never a weaker fallback. */
int crypt_random(uint8_t *buf, size_t len);
/*
 * AES-CBC with the key's size, no padding: @len must be a multiple of
 * CRYPT_AES_BLOCK.  @out may equal @in.
 */
int crypt_aes_cbc(const struct crypt_key *key,
		  const uint8_t iv[CRYPT_AES_BLOCK], bool encrypt,
		  const uint8_t *in, size_t len, uint8_t *out);
/* HMAC-SHA256 over a || b (b may be NULL with blen 0). */
int crypt_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *a,
		      size_t alen, const uint8_t *b, size_t blen,
		      uint8_t mac[CRYPT_HMAC_SIZE]);
int crypt_sha256(const uint8_t *data, size_t len,
		 uint8_t digest[CRYPT_SHA256_SIZE]);

#endif
