/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The CUSE front end's nodes: /dev/NAME as a TPM character device, served by
 * one CUSE session, and for a TPM 2.0 a resource-managed node beside it (as
 * the kernel's /dev/tpmrm0 beside /dev/tpm0), served by another session in
 * the same process, through the same TPM lock.  This file owns the
 * sessions' life cycle (DEVNAME, the nodes' owner, group and mode, the
 * readiness probe, the FUSE loops and their end); what an opener sees is
 * elsewhere: write()/read()/poll() with the semantics of the kernel's
 * /dev/tpm0 or /dev/tpmrm0 in cuse_dev.h, the PTM_* ioctls (raw node only)
 * in cuse_ioctl.h.
 */
#ifndef CUSE_TPM_CUSE_H
#define CUSE_TPM_CUSE_H

#include "vtpm.h"

#include <stdbool.h>
#include <sys/types.h>

struct cuse_device_config {
	const char *name;   /* DEVNAME: the node is /dev/<name> */
	const char *rm_name; /* the resource-managed node's, or NULL: none */
	unsigned major, minor;
	/* --node: applied to the node as soon as it exists (NULL: leave) */
	const char *owner, *group; /* names or numbers */
	mode_t mode;
	bool has_mode;
};

struct cuse_device;

/* Called once: err == 0 when /dev/<name> can be opened, else -errno. */
typedef void (*cuse_ready_fn)(void *ctx, int err);

/*
 * Checks that /dev/<name> (and /dev/<rm_name>) is free and opens /dev/cuse
 * (once per node); NULL and a message
 * in @err on failure.  Nothing is created until cuse_device_create_node().
 */
struct cuse_device *cuse_device_new(const struct cuse_device_config *cfg,
				    cuse_ready_fn ready, void *ready_ctx,
				    char *err, size_t errlen);
/*
 * Answers the kernel's CUSE_INIT, so /dev/<name> exists on return, and
 * applies the owner, group and mode of the config; 0, or -1 and a message
 * in @err.  Openers wait until cuse_device_run() serves them.
 */
int cuse_device_create_node(struct cuse_device *d, char *err, size_t errlen);
/* "/dev/<name>" */
const char *cuse_device_node(const struct cuse_device *d);
/* "/dev/<rm_name>", or NULL */
const char *cuse_device_rm_node(const struct cuse_device *d);
/*
 * Serves @vtpm through the nodes cuse_device_create_node() made (the
 * resource-managed one on a thread of its own), until
 * cuse_device_exit() or SIGINT/SIGTERM/SIGHUP; 0 or -1.
 */
int cuse_device_run(struct cuse_device *d, struct vtpm *vtpm);
/* Asks the loop to end (safe from any thread). */
void cuse_device_exit(void *d);
void cuse_device_free(struct cuse_device *d);

#endif
