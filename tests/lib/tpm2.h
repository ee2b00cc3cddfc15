/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A few TPM 2.0 commands, built by hand so the tests and the benchmark need
 * no TSS.  Each builder writes a complete command into @buf (at least
 * TPM2_CMD_MAX bytes) and returns its length.
 */
#ifndef CUSE_TPM_TESTS_TPM2_H
#define CUSE_TPM_TESTS_TPM2_H

#include <stddef.h>
#include <stdint.h>

#define TPM2_CMD_MAX 4096

#define TPM2_RC_SUCCESS 0x000
#define TPM2_RC_INITIALIZE 0x100
#define TPM2_RC_FAILURE 0x101
#define TPM2_RC_CANCELED 0x909
#define TPM2_RC_LOCALITY 0x907

#define TPM2_SU_CLEAR 0
#define TPM2_SU_STATE 1

enum tpm2_key { TPM2_KEY_RSA2048, TPM2_KEY_ECC_P256 };

size_t tpm2_startup(uint8_t *buf, uint16_t type);
size_t tpm2_shutdown(uint8_t *buf, uint16_t type);
size_t tpm2_get_random(uint8_t *buf, uint16_t bytes);
size_t tpm2_read_clock(uint8_t *buf);
/* TPM_CAP_TPM_PROPERTIES from @property, @count of them */
size_t tpm2_get_capability(uint8_t *buf, uint32_t property, uint32_t count);
size_t tpm2_pcr_extend(uint8_t *buf, uint32_t pcr, const uint8_t digest[32]);
/* PCR_Read of one SHA-256 PCR */
size_t tpm2_pcr_read(uint8_t *buf, uint32_t pcr);
size_t tpm2_hash(uint8_t *buf, const uint8_t *data, uint16_t len);
size_t tpm2_create_primary(uint8_t *buf, enum tpm2_key key);
/*
 * The same with a one-byte unique field (RSA only): each value derives a
 * key of its own, so libtpms generates it afresh instead of recalling it.
 */
size_t tpm2_create_primary_rsa_unique(uint8_t *buf, uint8_t unique);
size_t tpm2_flush_context(uint8_t *buf, uint32_t handle);
/* An owner-authorized NV index of @size bytes. */
size_t tpm2_nv_define(uint8_t *buf, uint32_t index, uint16_t size);
size_t tpm2_nv_write(uint8_t *buf, uint32_t index, const uint8_t *data,
		     uint16_t len, uint16_t offset);
size_t tpm2_nv_read(uint8_t *buf, uint32_t index, uint16_t len,
		    uint16_t offset);

/* An unbound, unsalted HMAC session with SHA-256. */
size_t tpm2_start_auth_session(uint8_t *buf);
size_t tpm2_read_public(uint8_t *buf, uint32_t handle);
/* TPM_CAP_HANDLES from @first: which handles of that range are in use. */
size_t tpm2_get_handles(uint8_t *buf, uint32_t first, uint32_t count);

uint32_t tpm2_rc(const uint8_t *resp);
uint32_t tpm2_size(const uint8_t *resp);
/* The object handle in a CreatePrimary response. */
uint32_t tpm2_created_handle(const uint8_t *resp);

#endif
