/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The PTM_* control channel of a CUSE TPM node: decodes each ioctl's struct
 * from include/cuse_tpm/tpm_ioctl.h, calls the vtpm_* operation and encodes
 * its answer.  State blobs larger than one ioctl travel in chunks, or through
 * read()/write() on the same opener (cuse_dev.h); nothing else here keeps
 * state.  Any opener may use the control channel, whoever holds the data
 * path.  The ioctls are restricted: the kernel copies _IOC_SIZE(cmd) bytes
 * in and out, so the structs' sizes are the ABI.
 */
#ifndef CUSE_TPM_CUSE_IOCTL_H
#define CUSE_TPM_CUSE_IOCTL_H

#include "cuse_dev.h"

/* A node's ioctl: answers one PTM_* request of the opener in @fi. */
void cuse_ioctl(fuse_req_t req, int cmd, void *arg, struct fuse_file_info *fi,
		unsigned flags, const void *in_buf, size_t in_bufsz,
		size_t out_bufsz);

#endif
