/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The client side of a vTPM's control channel, for the admin tool, tests
 * and the bench:
 *  - ctrl_op_table[] describes every control operation once: its PTM_*
 *    ioctl, its CMD_* code, its wire sizes and the width of each field.
 *    The daemon's CMD_* codec (cuse_tpm/ctrl.c) reads its request sizes
 *    from here too (ctrl_req_size()).
 *  - two transports carry an operation, or a whole state blob, and hand
 *    back host-order structs: the CUSE device (restricted ioctls, host
 *    order) and a control socket (CMD_* code and struct in big-endian).
 * Nothing here prints: callers get 0 or -errno, and the TPM's result in
 * the reply.  Transport errors of our own: -ENODATA when the server hangs
 * up before replying, -EPROTO for a reply that breaks the protocol,
 * -ETIMEDOUT when none comes within CLIENT_REPLY_TIMEOUT_MS.
 */
#ifndef CUSE_TPM_IOCTL_CLIENT_H
#define CUSE_TPM_IOCTL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cuse_tpm/tpm_ioctl.h>

/* How long a socket server may take to answer; key generation is slow. */
#define CLIENT_REPLY_TIMEOUT_MS 10000
/* The most a state blob may hold, here. */
#define CLIENT_MAX_BLOB (64u << 20)

enum ctrl_op_id {
	CTRL_GET_CAPABILITY,
	CTRL_INIT,
	CTRL_SHUTDOWN,
	CTRL_GET_TPMESTABLISHED,
	CTRL_SET_LOCALITY,
	CTRL_HASH_START,
	CTRL_HASH_DATA,
	CTRL_HASH_END,
	CTRL_CANCEL_TPM_CMD,
	CTRL_STORE_VOLATILE,
	CTRL_RESET_TPMESTABLISHED,
	CTRL_GET_STATEBLOB,
	CTRL_SET_STATEBLOB,
	CTRL_STOP,
	CTRL_GET_CONFIG,
	CTRL_SET_BUFFERSIZE,
	CTRL_GET_INFO,
	CTRL_LOCK_STORAGE,
	CTRL_OP_COUNT
};

/* What a TPM_BAD_ORDINAL answer means for an operation. */
enum ctrl_need {
	CTRL_NEED_NOTHING, /* the server does not know the operation */
	CTRL_NEED_RUNNING, /* the TPM must be running (after PTM_INIT) */
	CTRL_NEED_STOPPED, /* the TPM must be stopped (after PTM_STOP) */
};

struct ctrl_op {
	const char *name;      /* "PTM_INIT" */
	/* what swtpm_ioctl calls it when the transport fails */
	const char *exec_name;
	/*
	 * Socket wire format: the width of each field of the fixed part of
	 * request and reply, one letter per field: b = 8 bits, w = 32 bits,
	 * q = 64 bits.  Bytes past the fields travel as they are.
	 */
	const char *req_fields;
	const char *resp_fields;
	unsigned long ioctl_nr;
	uint64_t cap;          /* PTM_CAP_* bit advertising it */
	size_t req_size;       /* fixed part of the request on a socket */
	size_t resp_size;      /* fixed part of the reply on a socket */
	/* The reply carries as many payload bytes after its fixed part as the
	 * 32-bit field at this offset says (0: no payload). */
	size_t resp_len_at;
	uint32_t cmd;          /* CMD_* code on sockets */
	enum ctrl_need need;
	bool no_result;        /* the reply does not start with a TPM result */
};

extern const struct ctrl_op ctrl_op_table[CTRL_OP_COUNT];

/* The fixed part of CMD @cmd's request body; 0 for one without (or unknown). */
size_t ctrl_req_size(uint32_t cmd);

/* A result that is neither success nor a non-fatal warning. */
bool ctrl_res_is_error(uint32_t res);

/* A state blob in memory. */
struct client_blob {
	uint8_t *data;
	size_t len;
};

/* Appends; 0, -ENOMEM, or -EFBIG past CLIENT_MAX_BLOB. */
int client_blob_append(struct client_blob *b, const void *data, size_t len);

struct client;

struct client_transport {
	/*
	 * Carries one operation: msg holds the request in host order
	 * (req_len bytes, payload included) and receives the reply in host
	 * order; msg_size is what msg can hold.  The TPM result is the
	 * reply's first word.
	 */
	int (*call)(struct client *c, const struct ctrl_op *op, void *msg,
		    size_t req_len, size_t msg_size);
	/* Fetches a whole state blob, decrypted, appending to @out; *res
	 * gets the TPM result (a non-fatal one comes with the blob). */
	int (*get_blob)(struct client *c, uint32_t type,
			struct client_blob *out, uint32_t *res);
	/* Hands a whole state blob (plaintext) to the server. */
	int (*set_blob)(struct client *c, uint32_t type,
			const struct client_blob *in, uint32_t *res);
};

extern const struct client_transport client_device, client_socket;

struct client {
	const struct client_transport *tp;
	int fd;
	const char *where; /* device path or socket address, for messages */
	/* device: move blobs in read()/write() pieces of this size after the
	 * first ioctl (swtpm_ioctl's SWTPM_IOCTL_BUFFERSIZE); 0: ioctls only */
	size_t rw_chunk;
};

/* Opening: 0, or -errno with c->fd closed.  c->where is set either way. */
int client_open_device(struct client *c, const char *path, size_t rw_chunk);
/* -ENAMETOOLONG when the path does not fit a sockaddr_un. */
int client_open_unix(struct client *c, const char *path);
/*
 * @where (at least 300 bytes) receives "HOST:PORT".  When HOST does not
 * resolve, *gai_err gets getaddrinfo()'s code and -EHOSTUNREACH comes back.
 */
int client_open_tcp(struct client *c, const char *host, unsigned int port,
		    char *where, size_t where_size, int *gai_err);
void client_close(struct client *c);

/* One operation by its id, over c's transport. */
int client_call(struct client *c, enum ctrl_op_id id, void *msg,
		size_t req_len, size_t msg_size);

#endif
