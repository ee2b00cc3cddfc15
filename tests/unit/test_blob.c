/* SPDX-License-Identifier: BSD-3-Clause */
#include "blob.h"
#include "check.h"
#include "crypt.h"

#include <libtpms/tpm_error.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t payload[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };

static void file_layout(void)
{
	uint8_t *out;
	size_t len;

	CHECK_EQ(blob_wrap_file(payload, sizeof(payload), &out, &len), 0);
	CHECK_EQ(len, 10 + 6 + sizeof(payload));
	/* version 2, min version 1, header 10, flags 0, total length */
	CHECK(memcmp(out, "\x02\x01\x00\x0a\x00\x00\x00\x00\x00\x19", 10) == 0);
	/* TLV DATA */
	CHECK(memcmp(out + 10, "\x00\x01\x00\x00\x00\x09", 6) == 0);
	CHECK(memcmp(out + 16, payload, sizeof(payload)) == 0);
	free(out);
}

static void file_round_trip(void)
{
	uint8_t *out, *back;
	size_t len, blen;

	CHECK_EQ(blob_wrap_file(payload, sizeof(payload), &out, &len), 0);
	CHECK_EQ(blob_unwrap_file(out, len, &back, &blen), 0);
	CHECK_EQ(blen, sizeof(payload));
	CHECK(memcmp(back, payload, blen) == 0);
	free(out);
	free(back);
}

static void migration_layout(void)
{
	uint8_t *out, *back;
	size_t len, blen;

	CHECK_EQ(blob_wrap_migration(payload, sizeof(payload), &out, &len), 0);
	CHECK_EQ(len, 10 + 12 + sizeof(payload));
	CHECK_EQ(out[5], BLOB_FLAG_MIGRATION_DATA);
	/* MIGRATION_DATA wrapping DATA */
	CHECK(memcmp(out + 10, "\x00\x04\x00\x00\x00\x0f\x00\x01\x00\x00\x00\x09",
		     12) == 0);
	CHECK_EQ(blob_unwrap_migration(out, len, &back, &blen), 0);
	CHECK_EQ(blen, sizeof(payload));
	CHECK(memcmp(back, payload, blen) == 0);
	free(out);
	free(back);
}

static void empty_blobs_mean_no_state(void)
{
	uint8_t hdr[10] = { 2, 1, 0, 10, 0, 4, 0, 0, 0, 10 };
	uint8_t *back = (uint8_t *)1;
	size_t blen = 1;

	CHECK_EQ(blob_unwrap_migration(hdr, 0, &back, &blen), 0);
	CHECK(back == NULL && blen == 0);
	CHECK_EQ(blob_unwrap_migration(hdr, sizeof(hdr), &back, &blen), 0);
	CHECK(back == NULL && blen == 0);
}

/* Every truncation and every corrupted header byte is refused, never read. */
static void malformed_blobs_are_refused(void)
{
	uint8_t *out, *back = NULL;
	size_t len, blen, cut;

	CHECK_EQ(blob_wrap_migration(payload, sizeof(payload), &out, &len), 0);
	for (cut = 1; cut < len; cut++) {
		if (blob_unwrap_migration(out, cut, &back, &blen) == 0) {
			free(back);
			free(out);
			CHECK(!"a truncated blob was accepted");
		}
	}
	out[2] = 0x7f; /* header size */
	CHECK_EQ(blob_unwrap_migration(out, len, &back, &blen), TPM_BAD_DATASIZE);
	out[2] = 0;
	out[1] = 9; /* needs a newer reader */
	CHECK_EQ(blob_unwrap_migration(out, len, &back, &blen), TPM_BAD_VERSION);
	out[1] = 1;
	out[15] = 0xff; /* inner length beyond the end */
	CHECK_EQ(blob_unwrap_migration(out, len, &back, &blen), TPM_BAD_DATASIZE);
	out[15] = 0x0f;
	out[5] |= BLOB_FLAG_MIGRATION_ENCRYPTED; /* needs a key we lack */
	CHECK_EQ(blob_unwrap_migration(out, len, &back, &blen), TPM_KEYNOTFOUND);
	free(out);
}

static void file_blob_without_data_is_refused(void)
{
	uint8_t *out, *back = NULL;
	size_t len, blen;

	/* a migration blob is not a state file: no top-level DATA TLV */
	CHECK_EQ(blob_wrap_migration(payload, sizeof(payload), &out, &len), 0);
	CHECK(blob_unwrap_file(out, len, &back, &blen) != 0);
	free(out);
}

/* --- with keys ---------------------------------------------------------- */

static const struct crypt_key key128 = {
	{ 0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15,
	  0x88, 0x09, 0xcf, 0x4f, 0x3c },
	16
};

static const struct crypt_key key256 = {
	{ 0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae,
	  0xf0, 0x85, 0x7d, 0x77, 0x81, 0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61,
	  0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4 },
	32
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void set_be32(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A header like swtpm's: {version, 1, 10, flags, totlen}. */
static void put_header(uint8_t *p, uint8_t version, uint16_t flags,
		       size_t total)
{
	p[0] = version;
	p[1] = 1;
	p[2] = 0;
	p[3] = 10;
	p[4] = (uint8_t)(flags >> 8);
	p[5] = (uint8_t)flags;
	set_be32(p + 6, total);
}

static uint8_t *put_tlv(uint8_t *p, uint16_t tag, size_t len)
{
	p[0] = (uint8_t)(tag >> 8);
	p[1] = (uint8_t)tag;
	set_be32(p + 2, len);
	return p + 6;
}

/*
 * Checks one encrypted layer of @len bytes at @p against the format, with
 * nothing but OpenSSL: TLV order and sizes, the HMAC over ct || iv, the
 * padding to the key length; returns the decrypted data (caller frees).
 */
static uint8_t *open_layer_by_hand(const uint8_t *p, size_t len,
				   const struct crypt_key *key, uint16_t tag,
				   uint16_t tag_iv, size_t *plain_len)
{
	size_t ct_len = be32(p + 2), i, pad;
	const uint8_t *ct = p + 6, *mac, *iv;
	uint8_t want[32], *plain;

	/* ENCRYPTED_DATA(ct) HMAC(32 bytes) IV(key length), in this order */
	if (be16(p) != tag || ct_len % key->len ||
	    len != 3 * 6 + ct_len + 32 + key->len)
		return NULL;
	mac = ct + ct_len + 6;
	if (be16(mac - 6) != TAG_HMAC || be32(mac - 4) != 32)
		return NULL;
	iv = mac + 32 + 6;
	if (be16(iv - 6) != tag_iv || be32(iv - 4) != key->len)
		return NULL;
	if (crypt_hmac_sha256(key->bytes, key->len, ct, ct_len, iv, key->len,
			      want) < 0 || memcmp(want, mac, 32) != 0)
		return NULL;
	plain = malloc(ct_len);
	if (!plain || crypt_aes_cbc(key, iv, false, ct, ct_len, plain) < 0) {
		free(plain);
		return NULL;
	}
	pad = plain[ct_len - 1];
	for (i = 0; i < pad; i++)
		if (pad == 0 || pad > key->len || plain[ct_len - 1 - i] != pad) {
			free(plain);
			return NULL;
		}
	*plain_len = ct_len - pad;
	return plain;
}

static void encrypted_file_layout(void)
{
	const struct crypt_key *keys[] = { &key128, &key256 };
	uint8_t *out, *plain;
	size_t len, plen, i;

	for (i = 0; i < 2; i++) {
		size_t kl = keys[i]->len, ct = sizeof(payload) + kl - sizeof(payload) % kl;

		CHECK_EQ(blob_wrap_file_key(payload, sizeof(payload), keys[i],
					    &out, &len), 0);
		CHECK_EQ(len, 10 + 6 + ct + 6 + 32 + 6 + kl);
		CHECK(memcmp(out, "\x02\x01\x00\x0a", 4) == 0);
		CHECK_EQ(out[4] << 8 | out[5], i ? 0x09 : 0x01);
		CHECK_EQ(be32(out + 6), len);
		plain = open_layer_by_hand(out + 10, len - 10, keys[i],
					   TAG_ENCRYPTED_DATA,
					   TAG_IVEC_ENCRYPTED_DATA, &plen);
		free(out);
		CHECK(plain != NULL);
		CHECK(plen == sizeof(payload) && memcmp(plain, payload, plen) == 0);
		free(plain);
	}
}

/* Pads to the key length, 1 to key-length bytes: every residue, both keys. */
static void padding_to_key_length(void)
{
	const struct crypt_key *keys[] = { &key128, &key256 };
	uint8_t data[80], *out, *back;
	size_t n, len, blen, i;

	for (n = 0; n < sizeof(data); n++)
		data[n] = (uint8_t)(n * 31);
	for (i = 0; i < 2; i++) {
		for (n = 0; n <= sizeof(data); n++) {
			size_t kl = keys[i]->len;

			CHECK_EQ(blob_wrap_file_key(data, n, keys[i], &out, &len),
				 0);
			CHECK_EQ(be32(out + 12), n + kl - n % kl);
			CHECK_EQ(blob_unwrap_file_key(out, len, keys[i], &back,
						      &blen), 0);
			free(out);
			CHECK(blen == n && memcmp(back, data, n) == 0);
			free(back);
		}
	}
}

static void every_wrap_has_a_fresh_iv(void)
{
	uint8_t *a, *b;
	size_t alen, blen;
	int same_iv, same_ct;

	CHECK_EQ(blob_wrap_file_key(payload, sizeof(payload), &key128, &a,
				    &alen), 0);
	CHECK_EQ(blob_wrap_file_key(payload, sizeof(payload), &key128, &b,
				    &blen), 0);
	same_iv = memcmp(a + alen - 16, b + blen - 16, 16) == 0;
	same_ct = memcmp(a + 16, b + 16, 16) == 0;
	free(a);
	free(b);
	CHECK(alen == blen && !same_iv && !same_ct);
}

static void file_key_errors(void)
{
	struct crypt_key wrong = key128, bad = key128;
	uint8_t *out, *plain, *back = NULL;
	size_t len, plen, blen;

	wrong.bytes[0] ^= 1;
	bad.len = 24;
	CHECK_EQ(blob_wrap_file_key(payload, sizeof(payload), &key128, &out,
				    &len), 0);
	CHECK_EQ(blob_unwrap_file(out, len, &back, &blen), TPM_KEYNOTFOUND);
	CHECK_EQ(blob_unwrap_file_key(out, len, NULL, &back, &blen),
		 TPM_KEYNOTFOUND);
	CHECK_EQ(blob_unwrap_file_key(out, len, &wrong, &back, &blen),
		 TPM_DECRYPT_ERROR);
	CHECK_EQ(blob_unwrap_file_key(out, len, &key256, &back, &blen),
		 TPM_BAD_KEY_PROPERTY);
	CHECK_EQ(blob_unwrap_file_key(out, len, &bad, &back, &blen),
		 TPM_BAD_KEY_PROPERTY);
	CHECK_EQ(blob_wrap_file_key(payload, sizeof(payload), &bad, &plain,
				    &plen), TPM_BAD_KEY_PROPERTY);
	free(out);
	/* a plain file where a key is expected: refused, never taken */
	CHECK_EQ(blob_wrap_file(payload, sizeof(payload), &out, &len), 0);
	CHECK_EQ(blob_unwrap_file_key(out, len, &key128, &back, &blen),
		 TPM_DECRYPT_ERROR);
	free(out);
}

static void flags_of_a_blob(void)
{
	uint8_t *out;
	size_t len;
	uint16_t flags = 0, short_flags;
	uint32_t rc_whole, rc_short;

	CHECK_EQ(blob_wrap_migration_key(payload, sizeof(payload), &key256,
					 &key128, &out, &len), 0);
	rc_whole = blob_flags(out, len, &flags);
	rc_short = blob_flags(out, 9, &short_flags);
	free(out);
	CHECK_EQ(rc_whole, 0);
	CHECK_EQ(flags, BLOB_FLAG_MIGRATION_DATA | BLOB_FLAG_MIGRATION_ENCRYPTED |
				BLOB_FLAG_ENCRYPTED | BLOB_FLAG_ENCRYPTED_256BIT_KEY);
	CHECK_EQ(rc_short, TPM_BAD_DATASIZE);
}

/* Peels a migration blob's layers with OpenSSL alone; NULL if off-format. */
static uint8_t *peel_by_hand(const uint8_t *blob, size_t len,
			     const struct crypt_key *fk,
			     const struct crypt_key *mk, size_t *plen)
{
	uint8_t *inner, *plain;
	size_t ilen;

	if (mk) {
		inner = open_layer_by_hand(blob + 10, len - 10, mk,
					   TAG_ENCRYPTED_MIGRATION_DATA,
					   TAG_IVEC_ENCRYPTED_MIGRATION_DATA,
					   &ilen);
	} else {
		if (be16(blob + 10) != TAG_MIGRATION_DATA)
			return NULL;
		ilen = len - 16;
		inner = malloc(ilen);
		if (inner)
			memcpy(inner, blob + 16, ilen);
	}
	if (!inner || !fk) {
		/* DATA(state) */
		if (inner && (ilen < 6 || be16(inner) != TAG_DATA)) {
			free(inner);
			return NULL;
		}
		if (inner) {
			*plen = ilen - 6;
			memmove(inner, inner + 6, *plen);
		}
		return inner;
	}
	plain = open_layer_by_hand(inner, ilen, fk, TAG_ENCRYPTED_DATA,
				   TAG_IVEC_ENCRYPTED_DATA, plen);
	free(inner);
	return plain;
}

/* Every combination of keys: flags, layout and the way back. */
static void migration_with_keys(void)
{
	const struct crypt_key *keys[] = { NULL, &key128, &key256 };
	uint8_t *out, *back, *plain;
	size_t len, blen, plen = 0, f, m;
	uint16_t flags;
	bool ok;

	for (f = 0; f < 3; f++) {
		for (m = 0; m < 3; m++) {
			uint16_t want = BLOB_FLAG_MIGRATION_DATA |
					(f ? BLOB_FLAG_ENCRYPTED : 0) |
					(f == 2 ? BLOB_FLAG_ENCRYPTED_256BIT_KEY : 0) |
					(m ? BLOB_FLAG_MIGRATION_ENCRYPTED : 0) |
					(m == 2 ? BLOB_FLAG_MIGRATION_256BIT_KEY : 0);

			CHECK_EQ(blob_wrap_migration_key(payload,
							 sizeof(payload),
							 keys[f], keys[m], &out,
							 &len), 0);
			flags = be16(out + 4);
			plain = peel_by_hand(out, len, keys[f], keys[m], &plen);
			ok = plain && plen == sizeof(payload) &&
			     memcmp(plain, payload, plen) == 0;
			free(plain);
			if (blob_unwrap_migration_key(out, len, false, keys[f],
						      keys[m], &back, &blen) == 0) {
				ok = ok && blen == sizeof(payload) &&
				     memcmp(back, payload, blen) == 0;
				free(back);
			} else {
				ok = false;
			}
			free(out);
			CHECK_EQ(flags, want);
			CHECK(ok);
		}
	}
}

/* swtpm's SET_STATEBLOB rules, key by key. */
static void migration_key_rules(void)
{
	uint8_t *out, *back = NULL;
	size_t len, blen;

	CHECK_EQ(blob_wrap_migration_key(payload, sizeof(payload), &key128,
					 &key256, &out, &len), 0);
	CHECK_EQ(blob_unwrap_migration(out, len, &back, &blen), TPM_KEYNOTFOUND);
	CHECK_EQ(blob_unwrap_migration_key(out, len, false, &key128, NULL,
					   &back, &blen), TPM_KEYNOTFOUND);
	CHECK_EQ(blob_unwrap_migration_key(out, len, false, NULL, &key256,
					   &back, &blen), TPM_KEYNOTFOUND);
	CHECK_EQ(blob_unwrap_migration_key(out, len, false, &key128, &key128,
					   &back, &blen), TPM_BAD_KEY_PROPERTY);
	free(out);
	/* a plain blob is taken where keys are set: the "upgrade" */
	CHECK_EQ(blob_wrap_migration(payload, sizeof(payload), &out, &len), 0);
	CHECK_EQ(blob_unwrap_migration_key(out, len, false, &key128, &key256,
					   &back, &blen), 0);
	CHECK(blen == sizeof(payload) && memcmp(back, payload, blen) == 0);
	free(back);
	back = NULL;
	/* the caller's "encrypted" flag makes the inner layer need a key */
	CHECK_EQ(blob_unwrap_migration_key(out, len, true, NULL, NULL, &back,
					   &blen), TPM_KEYNOTFOUND);
	CHECK_EQ(blob_unwrap_migration_key(out, len, true, &key128, NULL, &back,
					   &blen), TPM_BAD_PARAMETER);
	free(out);
	/* the header's ENCRYPTED flag is honoured without the caller's */
	CHECK_EQ(blob_wrap_migration_key(payload, sizeof(payload), &key256,
					 NULL, &out, &len), 0);
	CHECK_EQ(blob_unwrap_migration_key(out, len, false, NULL, NULL, &back,
					   &blen), TPM_KEYNOTFOUND);
	CHECK_EQ(blob_unwrap_migration_key(out, len, true, &key256, NULL, &back,
					   &blen), 0);
	free(back);
	free(out);
}

/*
 * Accepted only whole: every prefix is refused, both as it is and with the
 * header's total length adjusted so the TLVs behind it get parsed.
 */
static void check_truncations(const uint8_t *blob, size_t len, bool migration,
			      const struct crypt_key *fk,
			      const struct crypt_key *mk)
{
	uint8_t *cut = malloc(len), *back;
	size_t n, blen;
	int fixed;

	CHECK(cut != NULL);
	for (n = 0; n < len; n++) {
		for (fixed = 0; fixed < 2; fixed++) {
			uint32_t rc;

			memcpy(cut, blob, n);
			if (fixed && n >= 10)
				set_be32(cut + 6, n);
			back = NULL;
			rc = migration ? blob_unwrap_migration_key(cut, n, false, fk,
								   mk, &back, &blen)
				       : blob_unwrap_file_key(cut, n, fk, &back,
							      &blen);
			/* empty and header-only blobs mean "no state" */
			if (rc == 0 && !(migration && back == NULL &&
					 (n == 0 || n == 10))) {
				free(back);
				free(cut);
				CHECK(!"a truncated blob was accepted");
			}
		}
	}
	free(cut);
}

/*
 * Every single-bit flip is refused or, where it hits the unauthenticated
 * header's version or flag bytes that do not matter, yields the very same
 * state; nothing else ever comes out.
 */
static void check_bit_flips(const uint8_t *blob, size_t len, bool migration,
			    const struct crypt_key *fk,
			    const struct crypt_key *mk)
{
	uint8_t *flip = malloc(len), *back;
	size_t bit, blen;

	CHECK(flip != NULL);
	memcpy(flip, blob, len);
	for (bit = 0; bit < len * 8; bit++) {
		size_t byte = bit / 8;
		uint32_t rc;
		bool same;

		flip[byte] ^= (uint8_t)(1u << (bit % 8));
		back = NULL;
		rc = migration ? blob_unwrap_migration_key(flip, len, false, fk,
							   mk, &back, &blen)
			       : blob_unwrap_file_key(flip, len, fk, &back,
						      &blen);
		flip[byte] ^= (uint8_t)(1u << (bit % 8));
		if (rc)
			continue;
		same = blen == sizeof(payload) && memcmp(back, payload, blen) == 0;
		free(back);
		if (!same || !(byte <= 1 || byte == 4 || byte == 5)) {
			static char why[96];

			free(flip);
			snprintf(why, sizeof(why), "flipping bit %zu was accepted",
				 bit);
			check_now.why = why;
			check_now.file = __FILE__;
			check_now.line = __LINE__;
			return;
		}
	}
	free(flip);
}

static void malformed_encrypted_blobs_are_refused(void)
{
	const struct crypt_key *keys[] = { NULL, &key128, &key256 };
	uint8_t *out;
	size_t len, f, m;

	for (f = 1; f < 3; f++) {
		CHECK_EQ(blob_wrap_file_key(payload, sizeof(payload), keys[f],
					    &out, &len), 0);
		check_truncations(out, len, false, keys[f], NULL);
		if (!check_now.why)
			check_bit_flips(out, len, false, keys[f], NULL);
		free(out);
		if (check_now.why)
			return;
	}
	for (f = 0; f < 3; f++) {
		for (m = 0; m < 3; m++) {
			if (!f && !m)
				continue;
			CHECK_EQ(blob_wrap_migration_key(payload, sizeof(payload),
							 keys[f], keys[m], &out,
							 &len), 0);
			check_truncations(out, len, true, keys[f], keys[m]);
			if (!check_now.why)
				check_bit_flips(out, len, true, keys[f], keys[m]);
			free(out);
			if (check_now.why)
				return;
		}
	}
}

/* ENCRYPTED_DATA, HMAC, IV with @extra TLV bytes spliced in at @at. */
static size_t splice_tlv(const uint8_t *blob, size_t len, size_t at,
			 const uint8_t *extra, size_t elen, uint8_t *out)
{
	memcpy(out, blob, at);
	memcpy(out + at, extra, elen);
	memcpy(out + at + elen, blob + at, len - at);
	set_be32(out + 6, len + elen);
	return len + elen;
}

static void sealed_tlvs_are_strict(void)
{
	static const uint8_t unknown[] = { 0x00, 0x63, 0, 0, 0, 1, 0xee };
	uint8_t *out, *back = NULL, big[256];
	size_t len, blen, n;

	CHECK_EQ(blob_wrap_file_key(payload, sizeof(payload), &key128, &out,
				    &len), 0);
	/* a tag of some later version is skipped, anywhere */
	n = splice_tlv(out, len, 10, unknown, sizeof(unknown), big);
	CHECK_EQ(blob_unwrap_file_key(big, n, &key128, &back, &blen), 0);
	CHECK(blen == sizeof(payload) && memcmp(back, payload, blen) == 0);
	free(back);
	/* a second HMAC is refused even though the first one is right */
	n = splice_tlv(out, len, len, out + 10 + 6 + 16, 6 + 32, big);
	CHECK_EQ(blob_unwrap_file_key(big, n, &key128, &back, &blen),
		 TPM_BAD_PARAMETER);
	/* bytes left over that are no TLV */
	n = splice_tlv(out, len, len, unknown, 3, big);
	CHECK_EQ(blob_unwrap_file_key(big, n, &key128, &back, &blen),
		 TPM_BAD_DATASIZE);
	/* an HMAC of 33 bytes, and of 31, in otherwise sound TLVs */
	n = splice_tlv(out, len, 10 + 22 + 38, unknown, 1, big);
	set_be32(big + 10 + 22 + 2, 33);
	CHECK_EQ(blob_unwrap_file_key(big, n, &key128, &back, &blen),
		 TPM_BAD_DATASIZE);
	memcpy(big, out, len);
	memmove(big + 10 + 22 + 37, big + 10 + 22 + 38, len - 70);
	set_be32(big + 10 + 22 + 2, 31);
	set_be32(big + 6, len - 1);
	CHECK_EQ(blob_unwrap_file_key(big, len - 1, &key128, &back, &blen),
		 TPM_BAD_DATASIZE);
	free(out);
}

/* Before the random IV, swtpm wrote no IV TLV: zero IV, HMAC over ct. */
static void layer_without_iv(void)
{
	static const uint8_t zero_iv[16];
	uint8_t blob[10 + 6 + 16 + 6 + 32], *ct, *mac, *back;
	size_t blen;

	put_header(blob, 2, BLOB_FLAG_ENCRYPTED, sizeof(blob));
	ct = put_tlv(blob + 10, TAG_ENCRYPTED_DATA, 16);
	memcpy(ct, payload, sizeof(payload));
	memset(ct + sizeof(payload), 16 - sizeof(payload), 16 - sizeof(payload));
	CHECK_EQ(crypt_aes_cbc(&key128, zero_iv, true, ct, 16, ct), 0);
	mac = put_tlv(ct + 16, TAG_HMAC, 32);
	CHECK_EQ(crypt_hmac_sha256(key128.bytes, 16, ct, 16, NULL, 0, mac), 0);
	CHECK_EQ(blob_unwrap_file_key(blob, sizeof(blob), &key128, &back, &blen),
		 0);
	CHECK(blen == sizeof(payload) && memcmp(back, payload, blen) == 0);
	free(back);
	mac[0] ^= 1;
	CHECK_EQ(blob_unwrap_file_key(blob, sizeof(blob), &key128, &back, &blen),
		 TPM_DECRYPT_ERROR);
}

/* Version 1: AES-CBC, zero IV, over SHA-256(data) || data; no HMAC. */
static size_t legacy_blob(uint8_t *blob, uint16_t flags)
{
	static const uint8_t zero_iv[16];
	uint8_t *p = blob + 10;
	size_t plain = 32 + sizeof(payload), pad = 16 - plain % 16;

	put_header(blob, 1, flags, 10 + plain + pad);
	crypt_sha256(payload, sizeof(payload), p);
	memcpy(p + 32, payload, sizeof(payload));
	memset(p + plain, (int)pad, pad);
	crypt_aes_cbc(&key128, zero_iv, true, p, plain + pad, p);
	return 10 + plain + pad;
}

static void legacy_version_1(void)
{
	uint8_t blob[10 + 48], *back = NULL;
	size_t len, blen;

	len = legacy_blob(blob, BLOB_FLAG_ENCRYPTED);
	CHECK_EQ(blob_unwrap_file_key(blob, len, &key128, &back, &blen), 0);
	CHECK(blen == sizeof(payload) && memcmp(back, payload, blen) == 0);
	free(back);
	back = NULL;
	CHECK_EQ(blob_unwrap_file_key(blob, len, NULL, &back, &blen),
		 TPM_KEYNOTFOUND);
	blob[20] ^= 0x80; /* lands in the hash, or its block's successor */
	CHECK_EQ(blob_unwrap_file_key(blob, len, &key128, &back, &blen),
		 TPM_DECRYPT_ERROR);
	blob[20] ^= 0x80;
	CHECK_EQ(blob_unwrap_file_key(blob, len - 16, &key128, &back, &blen),
		 TPM_BAD_DATASIZE);
	set_be32(blob + 6, len - 16);
	CHECK_EQ(blob_unwrap_file_key(blob, len - 16, &key128, &back, &blen),
		 TPM_DECRYPT_ERROR);
	/* an encrypted version-1 migration blob is read, as swtpm 0.9 does */
	len = legacy_blob(blob, BLOB_FLAG_MIGRATION_ENCRYPTED |
					BLOB_FLAG_MIGRATION_DATA);
	CHECK(blob_is_legacy(blob, len));
	CHECK_EQ(blob_unwrap_migration_key(blob, len, false, NULL, &key128,
					   &back, &blen), 0);
	CHECK(blen == sizeof(payload) && memcmp(back, payload, blen) == 0);
	free(back);
	back = NULL;
	/* plain version 1: everything after the header is the state */
	put_header(blob, 1, 0, 10 + sizeof(payload));
	memcpy(blob + 10, payload, sizeof(payload));
	CHECK_EQ(blob_unwrap_file(blob, 10 + sizeof(payload), &back, &blen), 0);
	CHECK(blen == sizeof(payload) && memcmp(back, payload, blen) == 0);
	free(back);
}

/*
 * A legacy layer around @data, built from swtpm's documented version-1
 * format alone: AES-CBC (the key's size), zero IV, over SHA-256(data) ||
 * data padded PKCS#7-style to the key length.  Returns its length.
 */
static size_t legacy_layer(const uint8_t *key, size_t keylen,
			   const uint8_t *data, size_t len, uint8_t *out)
{
	static const uint8_t zero_iv[16];
	size_t plain = 32 + len, pad = keylen - plain % keylen;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n1 = 0, n2 = 0;

	SHA256(data, len, out);
	memcpy(out + 32, data, len);
	memset(out + plain, (int)pad, pad);
	if (!ctx ||
	    !EVP_EncryptInit_ex(ctx, keylen == 32 ? EVP_aes_256_cbc()
						  : EVP_aes_128_cbc(),
				NULL, key, zero_iv) ||
	    !EVP_CIPHER_CTX_set_padding(ctx, 0) ||
	    !EVP_EncryptUpdate(ctx, out, &n1, out, (int)(plain + pad)) ||
	    !EVP_EncryptFinal_ex(ctx, out + n1, &n2))
		abort();
	EVP_CIPHER_CTX_free(ctx);
	return plain + pad;
}

/*
 * Finding 3: version-1 migration blobs of older swtpm releases, their
 * outer layer keyed with a --migration-key passphrase and kdf=sha512 (the
 * key is SHA-512 of the whole passphrase file, truncated: swtpm's key.c),
 * 128 and 256 bits, the inner layer plain or file-key encrypted.  The
 * vectors come from the format as documented (anchors.md section 4),
 * checked against swtpm's source: today's swtpm_nvstore.c decrypts version
 * 1 with no IV and compares SHA-256 of the rest with the first 32 bytes;
 * the old writer (swtpm_nvfile.c of the version-1 days) wrapped the state
 * file's bytes so, under a header {1, 1, 10, MIGRATION_ENCRYPTED
 * [|ENCRYPTED], totlen}, its keys 128-bit only.  Debian's swtpm 0.7.1
 * writes version 2 only, so none could be taken from it.
 */
static void legacy_migration_with_passphrase(void)
{
	static const uint8_t pass[] = "a passphrase of an old VM\n";
	uint8_t digest[64], inner[10 + 32 + 16 + 32], blob[256], *back;
	static const size_t keylens[] = { 16, 32 };
	size_t i, ilen, len, blen;
	struct crypt_key mkey, fkey;

	SHA512(pass, sizeof(pass) - 1, digest);
	for (i = 0; i < 2; i++) {
		size_t kl = keylens[i];
		uint16_t flags = BLOB_FLAG_MIGRATION_ENCRYPTED;

		/* our KDF gives the same key */
		CHECK_EQ(crypt_key_from_passphrase(pass, sizeof(pass) - 1,
						   CRYPT_KDF_SHA512, kl, &mkey),
			 0);
		CHECK(mkey.len == kl && memcmp(mkey.bytes, digest, kl) == 0);
		/* inner plain */
		len = 10 + legacy_layer(digest, kl, payload, sizeof(payload),
					blob + 10);
		put_header(blob, 1, flags, len);
		CHECK_EQ(blob_unwrap_migration_key(blob, len, false, NULL, &mkey,
						   &back, &blen), 0);
		CHECK(blen == sizeof(payload) &&
		      memcmp(back, payload, blen) == 0);
		free(back);
		/* the wrong key, or a flipped byte: refused */
		mkey.bytes[0] ^= 1;
		CHECK(blob_unwrap_migration_key(blob, len, false, NULL, &mkey,
						&back, &blen) != 0);
		mkey.bytes[0] ^= 1;
		blob[len - 20] ^= 4;
		CHECK(blob_unwrap_migration_key(blob, len, false, NULL, &mkey,
						&back, &blen) != 0);
		/* inner encrypted with a 128-bit state key */
		fkey = key128;
		ilen = legacy_layer(fkey.bytes, 16, payload, sizeof(payload),
				    inner);
		len = 10 + legacy_layer(digest, kl, inner, ilen, blob + 10);
		put_header(blob, 1, flags | BLOB_FLAG_ENCRYPTED, len);
		CHECK_EQ(blob_unwrap_migration_key(blob, len, false, &fkey,
						   &mkey, &back, &blen), 0);
		CHECK(blen == sizeof(payload) &&
		      memcmp(back, payload, blen) == 0);
		free(back);
		CHECK_EQ(blob_unwrap_migration_key(blob, len, false, NULL, &mkey,
						   &back, &blen),
			 TPM_KEYNOTFOUND);
	}
}

static void large_state_round_trip(void)
{
	size_t n = 300000, i, len, blen;
	uint8_t *data = malloc(n), *out = NULL, *back = NULL;
	int same;

	CHECK(data != NULL);
	for (i = 0; i < n; i++)
		data[i] = (uint8_t)(i ^ i >> 8);
	if (blob_wrap_migration_key(data, n, &key256, &key128, &out, &len) ||
	    blob_unwrap_migration_key(out, len, false, &key256, &key128, &back,
				      &blen)) {
		free(data);
		free(out);
		CHECK(!"round trip failed");
	}
	same = blen == n && memcmp(back, data, n) == 0;
	free(data);
	free(out);
	free(back);
	CHECK(same);
}

CHECK_MAIN(TEST(file_layout), TEST(file_round_trip), TEST(migration_layout),
	   TEST(empty_blobs_mean_no_state), TEST(malformed_blobs_are_refused),
	   TEST(file_blob_without_data_is_refused),
	   TEST(encrypted_file_layout), TEST(padding_to_key_length),
	   TEST(every_wrap_has_a_fresh_iv), TEST(file_key_errors),
	   TEST(flags_of_a_blob), TEST(migration_with_keys),
	   TEST(migration_key_rules),
	   TEST(malformed_encrypted_blobs_are_refused),
	   TEST(sealed_tlvs_are_strict), TEST(layer_without_iv),
	   TEST(legacy_version_1), TEST(legacy_migration_with_passphrase),
	   TEST(large_state_round_trip))
