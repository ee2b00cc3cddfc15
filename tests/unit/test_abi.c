/* SPDX-License-Identifier: BSD-3-Clause */
/* The ioctl numbers and struct sizes are the ABI: pin every one of them. */
#include "check.h"
#include "cuse_tpm/tpm_ioctl.h"

#include <stddef.h>

static void ioctl_numbers(void)
{
	CHECK_EQ(PTM_GET_CAPABILITY, 0x80085000u);
	CHECK_EQ(PTM_INIT, 0xc0045001u);
	CHECK_EQ(PTM_SHUTDOWN, 0x80045002u);
	CHECK_EQ(PTM_GET_TPMESTABLISHED, 0x80085003u);
	CHECK_EQ(PTM_SET_LOCALITY, 0xc0045004u);
	CHECK_EQ(PTM_HASH_START, 0x80045005u);
	CHECK_EQ(PTM_HASH_DATA, 0xd0045006u);
	CHECK_EQ(PTM_HASH_END, 0x80045007u);
	CHECK_EQ(PTM_CANCEL_TPM_CMD, 0x80045008u);
	CHECK_EQ(PTM_STORE_VOLATILE, 0x80045009u);
	CHECK_EQ(PTM_RESET_TPMESTABLISHED, 0xc004500au);
	CHECK_EQ(PTM_GET_STATEBLOB, 0xcc10500bu);
	CHECK_EQ(PTM_SET_STATEBLOB, 0xcc0c500cu);
	CHECK_EQ(PTM_STOP, 0x8004500du);
	CHECK_EQ(PTM_GET_CONFIG, 0x8008500eu);
	CHECK_EQ(PTM_SET_DATAFD, 0x8004500fu);
	CHECK_EQ(PTM_SET_BUFFERSIZE, 0xc0105010u);
	CHECK_EQ(PTM_GET_INFO, 0xcc105011u);
	CHECK_EQ(PTM_LOCK_STORAGE, 0xc0045012u);
}

static void struct_sizes(void)
{
	CHECK_EQ(sizeof(ptm_cap), 8);
	CHECK_EQ(sizeof(ptm_res), 4);
	CHECK_EQ(sizeof(struct ptm_est), 8);
	CHECK_EQ(sizeof(struct ptm_reset_est), 4);
	CHECK_EQ(sizeof(struct ptm_init), 4);
	CHECK_EQ(sizeof(struct ptm_loc), 4);
	CHECK_EQ(sizeof(struct ptm_hdata), 4100);
	CHECK_EQ(sizeof(struct ptm_getstate), 3088);
	CHECK_EQ(sizeof(struct ptm_setstate), 3084);
	CHECK_EQ(sizeof(struct ptm_getconfig), 8);
	CHECK_EQ(sizeof(struct ptm_setbuffersize), 16);
	CHECK_EQ(sizeof(struct ptm_getinfo), 3088);
	CHECK_EQ(sizeof(struct ptm_lockstorage), 4);
	CHECK_EQ(sizeof(struct ptm_cap_n), 8);
}

static void field_offsets(void)
{
	CHECK_EQ(offsetof(struct ptm_getstate, u.resp.data), 16);
	CHECK_EQ(offsetof(struct ptm_getstate, u.req.offset), 8);
	CHECK_EQ(offsetof(struct ptm_setstate, u.req.data), 12);
	CHECK_EQ(offsetof(struct ptm_getinfo, u.resp.buffer), 12);
	CHECK_EQ(offsetof(struct ptm_getinfo, u.req.offset), 8);
	CHECK_EQ(offsetof(struct ptm_est, u.resp.bit), 4);
	CHECK_EQ(offsetof(struct ptm_hdata, u.req.data), 4);
	CHECK_EQ(offsetof(struct ptm_setbuffersize, u.resp.maxsize), 12);
}

static void flags_and_codes(void)
{
	CHECK_EQ(PTM_CAP_INIT | PTM_CAP_SHUTDOWN | PTM_CAP_GET_TPMESTABLISHED |
			 PTM_CAP_SET_LOCALITY | PTM_CAP_HASHING |
			 PTM_CAP_CANCEL_TPM_CMD | PTM_CAP_STORE_VOLATILE |
			 PTM_CAP_RESET_TPMESTABLISHED | PTM_CAP_GET_STATEBLOB |
			 PTM_CAP_SET_STATEBLOB | PTM_CAP_STOP | PTM_CAP_GET_CONFIG |
			 PTM_CAP_SET_BUFFERSIZE | PTM_CAP_GET_INFO |
			 PTM_CAP_LOCK_STORAGE,
		 0x16fff);
	CHECK_EQ(PTM_CAP_SET_DATAFD, 0x1000);
	CHECK_EQ(PTM_CAP_SEND_COMMAND_HEADER, 0x8000);
	CHECK_EQ(PTM_INIT_FLAG_DELETE_VOLATILE, 1);
	CHECK_EQ(PTM_STATE_FLAG_DECRYPTED, 1);
	CHECK_EQ(PTM_STATE_FLAG_ENCRYPTED, 2);
	CHECK_EQ(PTM_BLOB_TYPE_PERMANENT, 1);
	CHECK_EQ(PTM_BLOB_TYPE_VOLATILE, 2);
	CHECK_EQ(PTM_BLOB_TYPE_SAVESTATE, 3);
	CHECK_EQ(PTM_CONFIG_FLAG_FILE_KEY, 1);
	CHECK_EQ(PTM_CONFIG_FLAG_MIGRATION_KEY, 2);
	/* a socket code is the ioctl's number + 1 */
	CHECK_EQ(CMD_GET_CAPABILITY, 1);
	CHECK_EQ(CMD_SET_STATEBLOB, 13);
	CHECK_EQ(CMD_SET_DATAFD, 0x10);
	CHECK_EQ(CMD_LOCK_STORAGE, 0x13);
	CHECK_EQ(CMD_GET_INFO, _IOC_NR(PTM_GET_INFO) + 1);
}

CHECK_MAIN(TEST(ioctl_numbers), TEST(struct_sizes), TEST(field_offsets),
	   TEST(flags_and_codes))
