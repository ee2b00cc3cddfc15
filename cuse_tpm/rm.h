/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The TPM 2.0 resource manager, as the kernel's tpm2-space.c is for
 * /dev/tpmrm0: every opener has a space of its own transient objects and
 * sessions, kept as saved contexts between its commands, so any number of
 * openers share the TPM's few slots.  Transport-independent: a front end
 * makes one space per opener and passes its command bytes to rm_execute().
 *
 * - Objects get virtual handles, 0x80ffffff down, as the kernel's; an
 *   opener's command names only its own.  Sessions keep the TPM's handle
 *   (a session's handle survives a context save), but an opener may name
 *   only its own: another opener's session, or the raw node's, reads as
 *   not loaded (TPM_RC_REFERENCE_*), and FlushContext of it fails.
 * - Around each command, under the TPM lock and with no other command
 *   between: the objects and sessions it names are ContextLoad-ed, their
 *   handles in the command translated; after it, each is ContextSave-d
 *   (objects flushed too), a handle the response returns joins the space.
 * - FlushContext of a virtual handle drops it; GetCapability(TPM_CAP_
 *   HANDLES) of transient objects and sessions lists the space's own.
 * - A command the TPM does not have gets TPM_RC_COMMAND_CODE in the
 *   resource manager's layer (0xb0143), as from the kernel.
 * - Limits per opener: objects (TPM_RC_OBJECT_MEMORY past it), sessions
 *   (TPM_RC_SESSION_MEMORY), bytes of saved context (TPM_RC_MEMORY).
 * - A session the opener ContextSave-s itself leaves its space (tpm2-tools
 *   keep sessions in files across processes, which the kernel allows): the
 *   TPM keeps it until someone ContextLoad-s and flushes it.  At most
 *   rm_limits.detached of them are kept; past that the oldest is flushed.
 * - rm_space_free() flushes every session the opener left.
 * - Not handled, as in the kernel: TPM_RC_CONTEXT_GAP.  A session left
 *   saved while 65535 other session contexts are saved (libtpms' 16-bit
 *   context slots) stops further session saves until it is loaded; the
 *   resource manager then flushes the session it could not save.
 */
#ifndef CUSE_TPM_RM_H
#define CUSE_TPM_RM_H

#include <stddef.h>
#include <stdint.h>

#include "vtpm.h"

struct rm_limits {
	unsigned objects;     /* per opener */
	unsigned sessions;    /* per opener */
	size_t context_bytes; /* of saved contexts, per opener */
	unsigned detached;    /* sessions saved out by openers, in all */
};

#define RM_DEFAULT_OBJECTS 16
#define RM_DEFAULT_SESSIONS 8
#define RM_DEFAULT_CONTEXT_BYTES (64u * 1024)
#define RM_DEFAULT_DETACHED 16
/* Most objects or sessions a space can have: one GetCapability lists all. */
#define RM_MAX_SLOTS 254u

struct rm;
struct rm_space;

/* One per TPM 2.0; @lim NULL means the defaults.  NULL on ENOMEM. */
struct rm *rm_new(struct vtpm *v, const struct rm_limits *lim);
/* Flushes the sessions still saved out; every space must be gone. */
void rm_free(struct rm *rm);

/* An opener's space; NULL on ENOMEM. */
struct rm_space *rm_space_new(struct rm *rm);
/* Flushes what the opener left and frees the space. */
void rm_space_free(struct rm_space *s);

/*
 * Runs one command of the opener whose space is @s; its response (at most
 * @resp_size bytes, at least 10) lands in @resp.  Returns its length.
 */
uint32_t rm_execute(struct rm_space *s, const uint8_t *cmd, uint32_t len,
		    uint8_t *resp, uint32_t resp_size);

/* How many objects and sessions @s holds (for tests). */
void rm_space_count(struct rm_space *s, unsigned *objects,
		    unsigned *sessions);

#endif
