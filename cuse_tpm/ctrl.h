/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The socket control channel: CMD_* requests, the PTM_* structs in
 * big-endian, one request and one reply at a time (QEMU's -tpmdev emulator,
 * swtpm_ioctl --unix/--tcp).  A codec in front of the core: every operation
 * is the core's.
 */
#ifndef CUSE_TPM_CTRL_H
#define CUSE_TPM_CTRL_H

#include <stddef.h>
#include <stdint.h>

#include "vtpm.h"

/*
 * A request's code and fixed body must arrive within this time of its first
 * byte (as swtpm allows); the whole request, a streamed blob included, and
 * its reply within CTRL_REQUEST_DEADLINE_MS.  A client past either loses
 * the connection; the deadlines run once per request, not per byte.
 */
#define CTRL_RECV_DEADLINE_MS 500
#define CTRL_REQUEST_DEADLINE_MS 5000

struct ctrl_ops {
	/* CMD_SET_DATAFD: take @fd as the data channel; a TPM result code */
	ptm_res (*set_datafd)(void *ctx, int fd);
	void *ctx;
	/* readable once the server stops: ends any wait at once; or -1 */
	int stop_fd;
};

/*
 * Serves one request on the connected socket @fd.  Returns 0 to keep the
 * connection, -1 when it is closed or no longer usable.
 */
int ctrl_serve_one(struct vtpm *v, int fd, const struct ctrl_ops *ops);

/*
 * The codec alone, for requests whose body is complete in @body: writes the
 * reply into @out (CTRL_REPLY_MAX bytes) and returns its length.  HASH_DATA,
 * SET_STATEBLOB and SET_DATAFD need the stream and are not handled here.
 */
#define CTRL_REPLY_MAX (12 + PTM_GETINFO_BUFFER_SIZE)
size_t ctrl_handle(struct vtpm *v, uint32_t cmd, const uint8_t *body,
		   size_t len, uint8_t *out);

#endif
