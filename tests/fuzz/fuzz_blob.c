/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz-blob: the state blob container codec (cuse_tpm/blob.c, blob_read.c)
 * on arbitrary bytes, with and without keys.  The first input byte selects
 * what the rest is (keys, when used, come next: a length byte, 16 or 32,
 * and the bytes):
 *
 *   0  a state file          blob_unwrap_file
 *   1  a migration blob      blob_unwrap_migration
 *   2  plain TPM state       wrap_file / wrap_migration, then unwrap
 *   3  a state file          blob_unwrap_file_key (key or NULL)
 *   4  a migration blob      blob_unwrap_migration_key (two keys or NULL,
 *                            the caller's "encrypted" flag)
 *   5  plain TPM state       every keyed wrap, then unwrap; a wrong key
 *                            and a changed byte
 *   6  anything              blob_flags
 *
 * and checks, besides memory safety (ASan/UBSan) and leaks (LSan):
 *  - every function returns 0 or one of the documented TPM codes, the same
 *    one each time for the same input (the keyed ones are randomised only
 *    in what they write);
 *  - whatever a wrap produces has a well-formed header (version 2,
 *    header size 10, total length = length) and unwraps to the same bytes;
 *  - wrap(unwrap(x)) is stable: unwrapping it gives unwrap(x) again, and
 *    (plain containers) wrapping that again gives the same bytes;
 *  - an encrypted container opened with another key fails; one with any
 *    byte changed fails or gives the very same state (the HMAC); a plain
 *    state file is refused when a key is given; an encrypted one is
 *    refused (TPM_KEYNOTFOUND) without a key.
 */
#include "input.h"
#include "blob.h"
#include "crypt.h"

#include <libtpms/tpm_error.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "fuzz-blob: " __VA_ARGS__);                    \
		fputc('\n', stderr);                                           \
		abort();                                                       \
	} while (0)

typedef uint32_t (*codec_fn)(const uint8_t *, size_t, uint8_t **, size_t *);

static void check_rc(const char *what, uint32_t rc)
{
	switch (rc) {
	case 0:
	case TPM_BAD_VERSION:
	case TPM_BAD_DATASIZE:
	case TPM_BAD_PARAMETER:
	case TPM_KEYNOTFOUND:
	case TPM_SIZE:
	case TPM_DECRYPT_ERROR:
	case TPM_BAD_KEY_PROPERTY:
	case TPM_FAIL:
		return;
	default:
		FAIL("%s returned undocumented code 0x%x", what, rc);
	}
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* What a wrap function produced must be a well-formed container. */
static void check_container(const char *what, const uint8_t *c, size_t len)
{
	if (len < BLOB_HEADER_SIZE)
		FAIL("%s: %zu bytes, shorter than a header", what, len);
	if (c[0] != BLOB_VERSION)
		FAIL("%s: version %u", what, c[0]);
	if (c[1] > c[0])
		FAIL("%s: min_version %u > version %u", what, c[1], c[0]);
	if ((c[2] << 8 | c[3]) != BLOB_HEADER_SIZE)
		FAIL("%s: header size %u", what, c[2] << 8 | c[3]);
	if (be32(c + 6) != len)
		FAIL("%s: totlen %u != length %zu", what, be32(c + 6), len);
}

/* plain -> wrap -> container -> unwrap -> plain: same bytes, stable. */
static void round_trip(const char *what, codec_fn wrap, codec_fn unwrap,
		       const uint8_t *plain, size_t len)
{
	uint8_t *c1 = NULL, *p1 = NULL, *c2 = NULL;
	size_t c1len = 0, p1len = 0, c2len = 0;
	uint32_t rc;

	rc = wrap(plain, len, &c1, &c1len);
	check_rc(what, rc);
	if (rc)
		return; /* only TPM_SIZE for absurd lengths */
	check_container(what, c1, c1len);
	rc = unwrap(c1, c1len, &p1, &p1len);
	if (rc)
		FAIL("%s: unwrapping its own output failed: 0x%x", what, rc);
	if (p1len != len || (len && (!p1 || memcmp(p1, plain, len) != 0)))
		FAIL("%s: round trip changed the data (%zu -> %zu bytes)", what,
		     len, p1len);
	/* wrap(unwrap(wrap(x))) == wrap(x): the container is canonical */
	rc = wrap(p1 ? p1 : plain, p1len, &c2, &c2len);
	if (rc)
		FAIL("%s: second wrap failed: 0x%x", what, rc);
	if (c2len != c1len || memcmp(c1, c2, c1len) != 0)
		FAIL("%s: wrap(unwrap(wrap(x))) != wrap(x)", what);
	free(c1);
	free(p1);
	free(c2);
}

/* Arbitrary container: unwrap; if it is accepted, its contents round-trip. */
static void unwrap_arbitrary(const char *what, codec_fn wrap, codec_fn unwrap,
			     const uint8_t *buf, size_t len)
{
	uint8_t *plain = NULL, *again = NULL;
	size_t plen = (size_t)-1, alen = (size_t)-1;
	uint32_t rc, rc2;

	rc = unwrap(buf, len, &plain, &plen);
	check_rc(what, rc);
	/* deterministic: the same input gives the same answer */
	rc2 = unwrap(buf, len, &again, &alen);
	if (rc2 != rc)
		FAIL("%s: not deterministic: 0x%x then 0x%x", what, rc, rc2);
	if (rc) {
		/* on failure no *out was handed over (LSan sees any leak) */
		return;
	}
	if (plen != alen || (plen && memcmp(plain, again, plen) != 0))
		FAIL("%s: not deterministic: different output", what);
	if (plen > len)
		FAIL("%s: %zu bytes out of a %zu-byte container", what, plen, len);
	if (plen && !plain)
		FAIL("%s: length %zu but no data", what, plen);
	/* touch every byte: ASan checks the buffer is as long as it says */
	if (plen) {
		volatile uint8_t sink = 0;
		size_t i;

		for (i = 0; i < plen; i++)
			sink ^= plain[i];
		(void)sink;
		if (memmem(buf, len, plain, plen) == NULL)
			FAIL("%s: output is not a substring of the input", what);
	}
	round_trip(what, wrap, unwrap, plain ? plain : buf, plen);
	free(plain);
	free(again);
}

/* ---- with keys ------------------------------------------------------------ */

/* A key from the input, or NULL: a selector byte, then 16 or 32 bytes. */
static const struct crypt_key *in_key(struct input *in, struct crypt_key *k)
{
	uint8_t sel = in_u8(in);
	size_t i;

	if ((sel & 3) == 0)
		return NULL;
	memset(k, 0, sizeof(*k));
	k->len = (sel & 3) == 1 ? 16 : 32;
	for (i = 0; i < k->len; i++)
		k->bytes[i] = in_u8(in);
	return k;
}

static void check_same(const char *what, const uint8_t *a, size_t alen,
		       const uint8_t *b, size_t blen)
{
	if (alen != blen || (alen && memcmp(a, b, alen) != 0))
		FAIL("%s: %zu bytes in, %zu different bytes out", what, alen,
		     blen);
}

/* A key that differs from @k in one bit. */
static struct crypt_key other_key(const struct crypt_key *k)
{
	struct crypt_key o = *k;

	o.bytes[0] ^= 1;
	return o;
}

static void unwrap_file_keyed(struct input *in)
{
	struct crypt_key kb;
	const struct crypt_key *key = in_key(in, &kb);
	uint8_t *plain = NULL, *again = NULL, *c = NULL, *back = NULL;
	size_t plen = 0, alen = 0, clen = 0, blen = 0;
	uint32_t rc, rc2;

	rc = blob_unwrap_file_key(in->p, in->n, key, &plain, &plen);
	check_rc("unwrap_file_key", rc);
	rc2 = blob_unwrap_file_key(in->p, in->n, key, &again, &alen);
	if (rc2 != rc)
		FAIL("unwrap_file_key: not deterministic: 0x%x then 0x%x", rc,
		     rc2);
	if (rc)
		return;
	check_same("unwrap_file_key twice", plain, plen, again, alen);
	/* re-encrypt (new random IV) and open again */
	rc = blob_wrap_file_key(plain, plen, key, &c, &clen);
	check_rc("wrap_file_key", rc);
	if (rc == 0) {
		check_container("wrap_file_key", c, clen);
		rc = blob_unwrap_file_key(c, clen, key, &back, &blen);
		if (rc)
			FAIL("unwrap_file_key of its own wrap: 0x%x", rc);
		check_same("file_key round trip", plain, plen, back, blen);
	}
	free(plain);
	free(again);
	free(c);
	free(back);
}

static void unwrap_migration_keyed(struct input *in)
{
	struct crypt_key fb, mb;
	uint8_t sel = in_u8(in);
	const struct crypt_key *fk = in_key(in, &fb), *mk = in_key(in, &mb);
	bool encrypted = sel & 1;
	uint8_t *plain = NULL, *again = NULL, *c = NULL, *back = NULL;
	size_t plen = 0, alen = 0, clen = 0, blen = 0;
	uint32_t rc, rc2;

	rc = blob_unwrap_migration_key(in->p, in->n, encrypted, fk, mk, &plain,
				       &plen);
	check_rc("unwrap_migration_key", rc);
	rc2 = blob_unwrap_migration_key(in->p, in->n, encrypted, fk, mk, &again,
					&alen);
	if (rc2 != rc)
		FAIL("unwrap_migration_key: not deterministic: 0x%x then 0x%x",
		     rc, rc2);
	if (rc)
		return;
	if (!plain && plen)
		FAIL("unwrap_migration_key: length %zu but no data", plen);
	check_same("unwrap_migration_key twice", plain, plen, again, alen);
	rc = blob_wrap_migration_key(plain ? plain : in->p, plen, fk, mk, &c,
				     &clen);
	check_rc("wrap_migration_key", rc);
	if (rc == 0) {
		check_container("wrap_migration_key", c, clen);
		rc = blob_unwrap_migration_key(c, clen, fk != NULL, fk, mk, &back,
					       &blen);
		if (rc)
			FAIL("unwrap_migration_key of its own wrap: 0x%x", rc);
		check_same("migration_key round trip", plain, plen, back, blen);
	}
	free(plain);
	free(again);
	free(c);
	free(back);
}

/* Opening @c (len) must fail, or give exactly @plain. */
static void check_tamper(const char *what, const uint8_t *c, size_t clen,
			 size_t at, uint8_t xor_with, const uint8_t *plain,
			 size_t plen, const struct crypt_key *fk,
			 const struct crypt_key *mk, bool migration)
{
	uint8_t *t = malloc(clen), *out = NULL;
	size_t olen = 0;
	uint32_t rc;

	if (!t)
		abort();
	memcpy(t, c, clen);
	t[at % clen] ^= xor_with;
	if (migration)
		rc = blob_unwrap_migration_key(t, clen, fk != NULL, fk, mk, &out,
					       &olen);
	else
		rc = blob_unwrap_file_key(t, clen, fk, &out, &olen);
	check_rc(what, rc);
	if (rc == 0)
		check_same(what, plain, plen, out, olen);
	free(out);
	free(t);
}

static void keyed_round_trips(struct input *in)
{
	struct crypt_key fb, mb, wrong;
	const struct crypt_key *fk, *mk;
	uint8_t *c = NULL, *out = NULL;
	size_t clen = 0, olen = 0, at;
	uint8_t flip;
	uint32_t rc;

	fk = in_key(in, &fb);
	mk = in_key(in, &mb);
	at = (size_t)in_u8(in) << 8 | in_u8(in);
	flip = in_u8(in) | 1;

	/* state file */
	rc = blob_wrap_file_key(in->p, in->n, fk, &c, &clen);
	check_rc("wrap_file_key", rc);
	if (rc == 0) {
		check_container("wrap_file_key", c, clen);
		rc = blob_unwrap_file_key(c, clen, fk, &out, &olen);
		if (rc)
			FAIL("unwrap_file_key of its own wrap: 0x%x", rc);
		check_same("file_key round trip", in->p, in->n, out, olen);
		free(out);
		out = NULL;
		if (fk) {
			/* without the key, with another key */
			if (blob_unwrap_file(c, clen, &out, &olen) != TPM_KEYNOTFOUND)
				FAIL("an encrypted state file opened without a key");
			wrong = other_key(fk);
			if (blob_unwrap_file_key(c, clen, &wrong, &out, &olen) == 0)
				FAIL("an encrypted state file opened with another key");
			check_tamper("file_key tampered", c, clen, at, flip, in->p,
				     in->n, fk, NULL, false);
		} else {
			/* plain: refused once a key is expected */
			wrong.len = 16;
			memset(wrong.bytes, 0x5a, sizeof(wrong.bytes));
			if (blob_unwrap_file_key(c, clen, &wrong, &out, &olen) == 0)
				FAIL("a plain state file accepted with a key set");
		}
		free(c);
		c = NULL;
	}

	/* migration blob */
	rc = blob_wrap_migration_key(in->p, in->n, fk, mk, &c, &clen);
	check_rc("wrap_migration_key", rc);
	if (rc == 0) {
		check_container("wrap_migration_key", c, clen);
		rc = blob_unwrap_migration_key(c, clen, fk != NULL, fk, mk, &out,
					       &olen);
		if (rc)
			FAIL("unwrap_migration_key of its own wrap: 0x%x", rc);
		check_same("migration_key round trip", in->p, in->n, out, olen);
		free(out);
		out = NULL;
		if (mk) {
			wrong = other_key(mk);
			if (blob_unwrap_migration_key(c, clen, fk != NULL, fk, &wrong,
						      &out, &olen) == 0)
				FAIL("an encrypted migration blob opened with "
				     "another key");
			if (blob_unwrap_migration_key(c, clen, fk != NULL, fk, NULL,
						      &out, &olen) == 0)
				FAIL("an encrypted migration blob opened without "
				     "a key");
		}
		if (fk || mk)
			check_tamper("migration_key tampered", c, clen, at, flip,
				     in->p, in->n, fk, mk, true);
		free(c);
	}
}

static void flags_of(const uint8_t *buf, size_t len)
{
	uint16_t flags = 0, f2 = 0;
	uint32_t rc = blob_flags(buf, len, &flags);

	check_rc("blob_flags", rc);
	if (rc == 0 && len >= BLOB_HEADER_SIZE &&
	    flags != (uint16_t)(buf[4] << 8 | buf[5]))
		FAIL("blob_flags: 0x%x, the header says 0x%x", flags,
		     buf[4] << 8 | buf[5]);
	if (blob_flags(buf, len, &f2) != rc || (rc == 0 && f2 != flags))
		FAIL("blob_flags: not deterministic");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (size < 1 || size > 1 << 16)
		return 0;
	/* an exact-size heap copy: ASan sees any read past the end */
	copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	struct input in = { copy, size - 1 };

	switch (data[0] % 7) {
	case 0:
		unwrap_arbitrary("unwrap_file", blob_wrap_file,
				 blob_unwrap_file, copy, size - 1);
		break;
	case 1:
		unwrap_arbitrary("unwrap_migration", blob_wrap_migration,
				 blob_unwrap_migration, copy, size - 1);
		break;
	case 2:
		round_trip("file", blob_wrap_file, blob_unwrap_file, copy,
			   size - 1);
		round_trip("migration", blob_wrap_migration,
			   blob_unwrap_migration, copy, size - 1);
		break;
	case 3:
		unwrap_file_keyed(&in);
		break;
	case 4:
		unwrap_migration_keyed(&in);
		break;
	case 5:
		keyed_round_trips(&in);
		break;
	default:
		flags_of(copy, size - 1);
		break;
	}
	free(copy);
	return 0;
}
