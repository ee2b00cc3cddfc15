/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cuse_tpm public control ABI.
 *
 * The PTM_* ioctls of a CUSE vTPM device and the CMD_* codes of the socket
 * control channel.  The numbers, struct layouts and flag values are the
 * established vTPM control ABI (swtpm, QEMU, libvirt use the same values), so
 * clients written for any of them work unchanged.
 *
 * Rules of the ABI:
 *  - On the CUSE device every ioctl is "restricted": the kernel copies exactly
 *    _IOC_SIZE(cmd) bytes in and/or out, so struct sizes are part of the ABI.
 *  - On the device all fields are in host byte order; on the socket channel
 *    the same structs travel big-endian, preceded by a big-endian CMD_* code.
 *  - Most operations answer with a TPM result code in tpm_result (0 = success)
 *    and ioctl() itself returns 0; an errno comes back only for a request the
 *    transport cannot carry (unknown ioctl, PTM_SET_DATAFD on the device).
 */
#ifndef CUSE_TPM_TPM_IOCTL_H
#define CUSE_TPM_TPM_IOCTL_H

#include <stdint.h>
#ifndef _WIN32
#include <sys/ioctl.h>
#endif

/* TPM result code carried by most replies. */
typedef uint32_t ptm_res;

/* PTM_GET_CAPABILITY: bitmask of PTM_CAP_* supported by the server. */
typedef uint64_t ptm_cap;

/* Socket variant of GET_CAPABILITY: result word and a 32-bit mask. */
struct ptm_cap_n {
	union {
		struct {
			ptm_res tpm_result;
			uint32_t caps;
		} resp;
	} u;
};

/* PTM_GET_TPMESTABLISHED */
struct ptm_est {
	union {
		struct {
			ptm_res tpm_result;
			unsigned char bit; /* 1 if the established flag is set */
		} resp;
	} u;
};

/* PTM_RESET_TPMESTABLISHED */
struct ptm_reset_est {
	union {
		struct {
			uint8_t loc; /* locality to reset from (3 or 4) */
		} req;
		struct {
			ptm_res tpm_result;
		} resp;
	} u;
};

/* PTM_INIT */
struct ptm_init {
	union {
		struct {
			uint32_t init_flags; /* PTM_INIT_FLAG_* */
		} req;
		struct {
			ptm_res tpm_result;
		} resp;
	} u;
};
#define PTM_INIT_FLAG_DELETE_VOLATILE (1 << 0)

/* PTM_SET_LOCALITY */
struct ptm_loc {
	union {
		struct {
			uint8_t loc; /* 0..4 */
		} req;
		struct {
			ptm_res tpm_result;
		} resp;
	} u;
};

/* PTM_HASH_DATA: at most 4096 bytes per call on the device. */
struct ptm_hdata {
	union {
		struct {
			uint32_t length;
			uint8_t data[4096];
		} req;
		struct {
			ptm_res tpm_result;
		} resp;
	} u;
};

/*
 * State blobs travel in chunks of at most PTM_STATE_BLOB_CHUNK bytes per
 * ioctl; the rest of a GET continues through read(), a SET may be fed through
 * write().  The chunk keeps each reply below a 4 KiB page.
 */
#define PTM_STATE_BLOB_CHUNK 3072
#define STATE_BLOB_SIZE PTM_STATE_BLOB_CHUNK

/* PTM_GET_STATEBLOB */
struct ptm_getstate {
	union {
		struct {
			uint32_t state_flags; /* PTM_STATE_FLAG_DECRYPTED */
			uint32_t type;        /* PTM_BLOB_TYPE_* */
			uint32_t offset;      /* byte offset into the blob */
		} req;
		struct {
			ptm_res tpm_result;
			uint32_t state_flags; /* PTM_STATE_FLAG_ENCRYPTED */
			uint32_t totlength;   /* whole blob */
			uint32_t length;      /* bytes in data[] */
			uint8_t data[PTM_STATE_BLOB_CHUNK];
		} resp;
	} u;
};

/* Blob types of GET/SET_STATEBLOB */
#define PTM_BLOB_TYPE_PERMANENT 1
#define PTM_BLOB_TYPE_VOLATILE 2
#define PTM_BLOB_TYPE_SAVESTATE 3

/* state_flags */
#define PTM_STATE_FLAG_DECRYPTED 1 /* in: strip the state-file key layer */
#define PTM_STATE_FLAG_ENCRYPTED 2 /* out/in: blob is file-key encrypted */

/* PTM_SET_STATEBLOB */
struct ptm_setstate {
	union {
		struct {
			uint32_t state_flags; /* PTM_STATE_FLAG_ENCRYPTED */
			uint32_t type;        /* PTM_BLOB_TYPE_* */
			uint32_t length;      /* bytes in data[]; < chunk ends */
			uint8_t data[PTM_STATE_BLOB_CHUNK];
		} req;
		struct {
			ptm_res tpm_result;
		} resp;
	} u;
};

/* PTM_GET_CONFIG */
struct ptm_getconfig {
	union {
		struct {
			ptm_res tpm_result;
			uint32_t flags; /* PTM_CONFIG_FLAG_* */
		} resp;
	} u;
};
#define PTM_CONFIG_FLAG_FILE_KEY 0x1
#define PTM_CONFIG_FLAG_MIGRATION_KEY 0x2

/* PTM_SET_BUFFERSIZE: buffersize 0 queries without changing. */
struct ptm_setbuffersize {
	union {
		struct {
			uint32_t buffersize;
		} req;
		struct {
			ptm_res tpm_result;
			uint32_t buffersize; /* in effect now */
			uint32_t minsize;
			uint32_t maxsize;
		} resp;
	} u;
};

/* PTM_GET_INFO: flags select the JSON parts (libtpms TPMLIB_INFO_*). */
#define PTM_GETINFO_BUFFER_SIZE 3072
struct ptm_getinfo {
	union {
		struct {
			uint64_t flags;
			uint32_t offset; /* into the JSON string */
			uint32_t pad;
		} req;
		struct {
			ptm_res tpm_result;
			uint32_t totlength; /* strlen + 1 */
			uint32_t length;    /* bytes in buffer[] */
			char buffer[PTM_GETINFO_BUFFER_SIZE];
		} resp;
	} u;
};
#define SWTPM_INFO_TPMSPECIFICATION ((uint64_t)1 << 0)
#define SWTPM_INFO_TPMATTRIBUTES ((uint64_t)1 << 1)

/* PTM_LOCK_STORAGE */
struct ptm_lockstorage {
	union {
		struct {
			uint32_t retries; /* 10 ms apart */
		} req;
		struct {
			ptm_res tpm_result;
		} resp;
	} u;
};

/* The struct names swtpm's and QEMU's copies of this ABI use as types. */
typedef struct ptm_est ptm_est;
typedef struct ptm_reset_est ptm_reset_est;
typedef struct ptm_init ptm_init;
typedef struct ptm_loc ptm_loc;
typedef struct ptm_hdata ptm_hdata;
typedef struct ptm_getstate ptm_getstate;
typedef struct ptm_setstate ptm_setstate;
typedef struct ptm_getconfig ptm_getconfig;
typedef struct ptm_setbuffersize ptm_setbuffersize;
typedef struct ptm_getinfo ptm_getinfo;
typedef struct ptm_lockstorage ptm_lockstorage;
typedef struct ptm_cap_n ptm_cap_n;

/* PTM_GET_CAPABILITY bits */
#define PTM_CAP_INIT (1)
#define PTM_CAP_SHUTDOWN (1 << 1)
#define PTM_CAP_GET_TPMESTABLISHED (1 << 2)
#define PTM_CAP_SET_LOCALITY (1 << 3)
#define PTM_CAP_HASHING (1 << 4)
#define PTM_CAP_CANCEL_TPM_CMD (1 << 5)
#define PTM_CAP_STORE_VOLATILE (1 << 6)
#define PTM_CAP_RESET_TPMESTABLISHED (1 << 7)
#define PTM_CAP_GET_STATEBLOB (1 << 8)
#define PTM_CAP_SET_STATEBLOB (1 << 9)
#define PTM_CAP_STOP (1 << 10)
#define PTM_CAP_GET_CONFIG (1 << 11)
#define PTM_CAP_SET_DATAFD (1 << 12)
#define PTM_CAP_SET_BUFFERSIZE (1 << 13)
#define PTM_CAP_GET_INFO (1 << 14)
#define PTM_CAP_SEND_COMMAND_HEADER (1 << 15)
#define PTM_CAP_LOCK_STORAGE (1 << 16)

#ifndef _WIN32
enum {
	PTM_GET_CAPABILITY = _IOR('P', 0, ptm_cap),
	PTM_INIT = _IOWR('P', 1, struct ptm_init),
	PTM_SHUTDOWN = _IOR('P', 2, ptm_res),
	PTM_GET_TPMESTABLISHED = _IOR('P', 3, struct ptm_est),
	PTM_SET_LOCALITY = _IOWR('P', 4, struct ptm_loc),
	PTM_HASH_START = _IOR('P', 5, ptm_res),
	PTM_HASH_DATA = _IOWR('P', 6, struct ptm_hdata),
	PTM_HASH_END = _IOR('P', 7, ptm_res),
	PTM_CANCEL_TPM_CMD = _IOR('P', 8, ptm_res),
	PTM_STORE_VOLATILE = _IOR('P', 9, ptm_res),
	PTM_RESET_TPMESTABLISHED = _IOWR('P', 10, struct ptm_reset_est),
	PTM_GET_STATEBLOB = _IOWR('P', 11, struct ptm_getstate),
	PTM_SET_STATEBLOB = _IOWR('P', 12, struct ptm_setstate),
	PTM_STOP = _IOR('P', 13, ptm_res),
	PTM_GET_CONFIG = _IOR('P', 14, struct ptm_getconfig),
	PTM_SET_DATAFD = _IOR('P', 15, ptm_res),
	PTM_SET_BUFFERSIZE = _IOWR('P', 16, struct ptm_setbuffersize),
	PTM_GET_INFO = _IOWR('P', 17, struct ptm_getinfo),
	PTM_LOCK_STORAGE = _IOWR('P', 18, struct ptm_lockstorage),
};
#endif

/* Socket control channel codes: the ioctl's number + 1, sent big-endian. */
enum {
	CMD_GET_CAPABILITY = 1,
	CMD_INIT,
	CMD_SHUTDOWN,
	CMD_GET_TPMESTABLISHED,
	CMD_SET_LOCALITY,
	CMD_HASH_START,
	CMD_HASH_DATA,
	CMD_HASH_END,
	CMD_CANCEL_TPM_CMD,
	CMD_STORE_VOLATILE,
	CMD_RESET_TPMESTABLISHED,
	CMD_GET_STATEBLOB,
	CMD_SET_STATEBLOB,
	CMD_STOP,
	CMD_GET_CONFIG,
	CMD_SET_DATAFD,
	CMD_SET_BUFFERSIZE,
	CMD_GET_INFO,
	CMD_LOCK_STORAGE,
};

#endif /* CUSE_TPM_TPM_IOCTL_H */
