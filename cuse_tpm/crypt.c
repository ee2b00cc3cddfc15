/* SPDX-License-Identifier: BSD-3-Clause */
#include "crypt.h"

#include "io.h"

#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

/* swtpm's fixed passphrase KDF parameters (its key.c) */
#define PBKDF2_SALT "swtpm"
#define PBKDF2_ITERATIONS 1000u
/* swtpm warns about passphrases this short; so do we */
#define SHORT_PASSPHRASE 6
/* generous bounds on what a key or passphrase file may hold */
#define KEY_FILE_MAX 4096
#define PASSPHRASE_MAX (64 * 1024)

/* --- loading ------------------------------------------------------------ */

static const char *mode_name(size_t key_len)
{
	return key_len == 32 ? "aes-256-cbc" : "aes-128-cbc";
}

void crypt_init(void)
{
	if (!OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL))
		log_warn("OpenSSL could not load its configuration");
}

static bool is_pwd(const struct crypt_key_spec *spec)
{
	return spec->source == CRYPT_PWD_FILE || spec->source == CRYPT_PWD_FD;
}

static bool is_fd(const struct crypt_key_spec *spec)
{
	return spec->source == CRYPT_KEY_FD || spec->source == CRYPT_PWD_FD;
}

/* "key file X" / "passphrase from fd N", for messages */
static const char *describe(const struct crypt_key_spec *spec, char *buf,
			    size_t len)
{
	const char *what = is_pwd(spec) ? "passphrase" : "key";

	if (is_fd(spec))
		snprintf(buf, len, "%s from fd %d", what, spec->fd);
	else
		snprintf(buf, len, "%s file %s", what, spec->path);
	return buf;
}

/*
 * Reads all of @fd into @buf (size @cap).  Returns the length, -EFBIG if
 * there is more than @cap bytes, or -errno.
 */
static ssize_t read_all(int fd, uint8_t *buf, size_t cap)
{
	ssize_t len = io_read_upto(fd, buf, cap), more;
	uint8_t probe;

	if (len < 0 || (size_t)len < cap)
		return len;
	/* a full buffer: is that the end? */
	more = io_read_upto(fd, &probe, 1);
	OPENSSL_cleanse(&probe, sizeof(probe));
	if (more < 0)
		return more;
	return more == 0 ? len : -EFBIG;
}

/* Opens the source, reads it into @buf and closes it. */
static ssize_t read_source(const struct crypt_key_spec *spec, uint8_t *buf,
			   size_t cap, char *err, size_t errlen)
{
	char what[PATH_MAX + 32];
	ssize_t n;
	int fd = spec->fd;

	describe(spec, what, sizeof(what));
	if (!is_fd(spec)) {
		fd = open(spec->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return fail_with(err, errlen, "cannot open %s: %s", what,
				    strerror(errno));
	}
	n = read_all(fd, buf, cap);
	close(fd);
	if (n == -EFBIG)
		return fail_with(err, errlen, "%s holds more than %zu bytes", what,
			    cap);
	if (n < 0)
		return fail_with(err, errlen, "cannot read %s: %s", what,
			    strerror((int)-n));
	return n;
}

/* 2*len hex digits, optionally after "0x" and before whitespace. */
static int parse_hex_key(const uint8_t *text, size_t len, size_t key_len,
			 struct crypt_key *key, const char *what, char *err,
			 size_t errlen)
{
	size_t start = 0, end, i;

	if (len >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
		start = 2;
	for (end = start; end < len && isxdigit(text[end]); end++)
		;
	for (i = end; i < len; i++)
		if (!isspace(text[i]))
			return fail_with(err, errlen, "%s: unexpected byte at offset "
						 "%zu (a hex key is [0x]digits "
						 "and white space)",
				    what, i);
	if (end - start != 2 * key_len)
		return fail_with(err, errlen, "%s holds %zu hex digits; %s needs %zu",
			    what, end - start, mode_name(key_len), 2 * key_len);
	for (i = 0; i < key_len; i++)
		key->bytes[i] = (uint8_t)(OPENSSL_hexchar2int(text[start + 2 * i]) << 4 |
					  OPENSSL_hexchar2int(text[start + 2 * i + 1]));
	key->len = key_len;
	return 0;
}

static int parse_binary_key(const uint8_t *data, size_t len, size_t key_len,
			    struct crypt_key *key, const char *what,
			    char *err, size_t errlen)
{
	if (len != key_len)
		return fail_with(err, errlen, "%s holds %zu bytes; %s needs %zu",
			    what, len, mode_name(key_len), key_len);
	memcpy(key->bytes, data, len);
	key->len = key_len;
	return 0;
}

static int derive_key(const struct crypt_key_spec *spec, const uint8_t *pass,
		      size_t len, struct crypt_key *key, const char *what,
		      char *err, size_t errlen)
{
	if (len <= SHORT_PASSPHRASE)
		log_warn("the %s is only %zu bytes long; a longer one is safer",
			 what, len);
	if (crypt_key_from_passphrase(pass, len, spec->kdf, spec->key_len,
				      key) < 0)
		return fail_with(err, errlen, "cannot derive a key from the %s",
			    what);
	return 0;
}

/* Turns the bytes read from the source into the key. */
static int make_key(const struct crypt_key_spec *spec, const uint8_t *data,
		    size_t len, struct crypt_key *key, char *err,
		    size_t errlen)
{
	char what[PATH_MAX + 32];

	describe(spec, what, sizeof(what));
	if (is_pwd(spec))
		return derive_key(spec, data, len, key, what, err, errlen);
	if (spec->format == CRYPT_FORMAT_HEX)
		return parse_hex_key(data, len, spec->key_len, key, what, err,
				     errlen);
	return parse_binary_key(data, len, spec->key_len, key, what, err,
				errlen);
}

static int remove_source(const struct crypt_key_spec *spec, char *err,
			 size_t errlen)
{
	if (!spec->remove || is_fd(spec))
		return 0;
	if (unlink(spec->path) < 0 && errno != ENOENT)
		return fail_with(err, errlen, "cannot remove %s: %s", spec->path,
			    strerror(errno));
	return 0;
}

int crypt_key_load(const struct crypt_key_spec *spec, struct crypt_key *key,
		   char *err, size_t errlen)
{
	size_t cap = is_pwd(spec) ? PASSPHRASE_MAX : KEY_FILE_MAX;
	uint8_t *buf;
	ssize_t n;
	int rc;

	crypt_key_wipe(key);
	buf = OPENSSL_malloc(cap);
	if (!buf)
		return fail_with(err, errlen, "out of memory");
	n = read_source(spec, buf, cap, err, errlen);
	rc = n < 0 ? -1 : make_key(spec, buf, (size_t)n, key, err, errlen);
	OPENSSL_clear_free(buf, cap);
	if (rc == 0)
		rc = remove_source(spec, err, errlen);
	if (rc < 0)
		crypt_key_wipe(key);
	return rc;
}

/* --- primitives --------------------------------------------------------- */

static int pbkdf2_sha512(const uint8_t *pass, size_t passlen, uint8_t *out,
			 size_t outlen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_PBKDF2, NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	unsigned int iter = PBKDF2_ITERATIONS;
	/* swtpm's salt is 5 bytes: lift SP 800-132's lower bounds */
	int pkcs5 = 1;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
						  (void *)pass, passlen),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						  (void *)PBKDF2_SALT,
						  sizeof(PBKDF2_SALT) - 1),
		OSSL_PARAM_construct_uint(OSSL_KDF_PARAM_ITER, &iter),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						 (char *)"SHA512", 0),
		OSSL_PARAM_construct_int(OSSL_KDF_PARAM_PKCS5, &pkcs5),
		OSSL_PARAM_construct_end(),
	};
	int rc = ctx && EVP_KDF_derive(ctx, out, outlen, params) == 1 ? 0 : -1;

	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

static int sha512_truncated(const uint8_t *pass, size_t passlen, uint8_t *out,
			    size_t outlen)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int rc = -1;

	if (EVP_Digest(pass, passlen, md, &mdlen, EVP_sha512(), NULL) == 1 &&
	    mdlen >= outlen) {
		memcpy(out, md, outlen);
		rc = 0;
	}
	OPENSSL_cleanse(md, sizeof(md));
	return rc;
}

int crypt_key_from_passphrase(const uint8_t *pass, size_t passlen,
			      enum crypt_kdf kdf, size_t key_len,
			      struct crypt_key *key)
{
	int rc;

	crypt_key_wipe(key);
	if (key_len != 16 && key_len != 32)
		return -1;
	if (kdf == CRYPT_KDF_SHA512)
		rc = sha512_truncated(pass, passlen, key->bytes, key_len);
	else
		rc = pbkdf2_sha512(pass, passlen, key->bytes, key_len);
	if (rc < 0) {
		crypt_key_wipe(key);
		return -1;
	}
	key->len = key_len;
	return 0;
}

void wipe_free(void *p, size_t len)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

void crypt_key_wipe(struct crypt_key *key)
{
	OPENSSL_cleanse(key, sizeof(*key));
}

int crypt_random(uint8_t *buf, size_t len)
{
	if (len > INT_MAX)
		return -1;
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

static const EVP_CIPHER *aes_cbc(size_t key_len)
{
	if (key_len == 16)
		return EVP_aes_128_cbc();
	if (key_len == 32)
		return EVP_aes_256_cbc();
	return NULL;
}

int crypt_aes_cbc(const struct crypt_key *key,
		  const uint8_t iv[CRYPT_AES_BLOCK], bool encrypt,
		  const uint8_t *in, size_t len, uint8_t *out)
{
	const EVP_CIPHER *cipher = aes_cbc(key->len);
	EVP_CIPHER_CTX *ctx;
	int n1 = 0, n2 = 0, ok;

	if (!cipher || len % CRYPT_AES_BLOCK || len > INT_MAX)
		return -1;
	ctx = EVP_CIPHER_CTX_new();
	/* the container pads to the key length itself: swtpm's format */
	ok = ctx &&
	     EVP_CipherInit_ex2(ctx, cipher, key->bytes, iv, encrypt, NULL) == 1 &&
	     EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	     EVP_CipherUpdate(ctx, out, &n1, in, (int)len) == 1 &&
	     EVP_CipherFinal_ex(ctx, out + n1, &n2) == 1 &&
	     (size_t)n1 + (size_t)n2 == len;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

int crypt_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *a,
		      size_t alen, const uint8_t *b, size_t blen,
		      uint8_t mac[CRYPT_HMAC_SIZE])
{
	EVP_MAC *hmac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						 (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	size_t outlen = 0;
	int ok;

	ok = ctx && EVP_MAC_init(ctx, key, keylen, params) == 1 &&
	     EVP_MAC_update(ctx, a, alen) == 1 &&
	     (blen == 0 || EVP_MAC_update(ctx, b, blen) == 1) &&
	     EVP_MAC_final(ctx, mac, &outlen, CRYPT_HMAC_SIZE) == 1 &&
	     outlen == CRYPT_HMAC_SIZE;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(hmac);
	return ok ? 0 : -1;
}

int crypt_sha256(const uint8_t *data, size_t len,
		 uint8_t digest[CRYPT_SHA256_SIZE])
{
	unsigned int n = 0;

	return EVP_Digest(data, len, digest, &n, EVP_sha256(), NULL) == 1 &&
			       n == CRYPT_SHA256_SIZE
		       ? 0
		       : -1;
}
