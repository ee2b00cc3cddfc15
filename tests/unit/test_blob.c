/* SPDX-License-Identifier: BSD-3-Clause */
#include "blob.h"
#include "check.h"

#include <libtpms/tpm_error.h>
#include <stdlib.h>

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

CHECK_MAIN(TEST(file_layout), TEST(file_round_trip), TEST(migration_layout),
	   TEST(empty_blobs_mean_no_state), TEST(malformed_blobs_are_refused),
	   TEST(file_blob_without_data_is_refused))
