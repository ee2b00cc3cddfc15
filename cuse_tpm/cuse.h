/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The CUSE front end: /dev/NAME as a TPM character device.  write()/read()
 * carry commands with the semantics of the kernel's /dev/tpm0; ioctl() is the
 * PTM_* control channel.  Every opener has its own state; the first opener
 * that writes a command holds the data path until it closes, while any
 * opener may use the control ioctls.
 */
#ifndef CUSE_TPM_CUSE_H
#define CUSE_TPM_CUSE_H

#include "vtpm.h"

struct cuse_device_config {
	const char *name;   /* DEVNAME: the node is /dev/<name> */
	unsigned major, minor;
};

struct cuse_device;

/* Called once: err == 0 when /dev/<name> can be opened, else -errno. */
typedef void (*cuse_ready_fn)(void *ctx, int err);

/*
 * Checks that /dev/<name> is free and opens /dev/cuse; NULL and a message
 * in @err on failure.  Nothing is created until cuse_device_run().
 */
struct cuse_device *cuse_device_new(const struct cuse_device_config *cfg,
				    cuse_ready_fn ready, void *ready_ctx,
				    char *err, size_t errlen);
/*
 * Creates the node and serves @vtpm through it until cuse_device_exit()
 * or SIGINT/SIGTERM/SIGHUP; 0 or -1.
 */
int cuse_device_run(struct cuse_device *d, struct vtpm *vtpm);
/* Asks the loop to end (safe from any thread). */
void cuse_device_exit(void *d);
void cuse_device_free(struct cuse_device *d);

#endif
