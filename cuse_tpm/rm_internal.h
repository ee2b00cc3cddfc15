/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The resource manager's own parts, shared by rm.c (the manager, and the
 * command it runs for an opener) and rm_space.c (an opener's space: its
 * slots of objects and sessions).  Nothing outside the resource manager
 * includes this.
 */
#ifndef CUSE_TPM_RM_INTERNAL_H
#define CUSE_TPM_RM_INTERNAL_H

#include "rm.h"

#include "rm_cmd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Slot i of a space is virtual handle 0x80ffffff - i, as in the kernel. */
#define VHANDLE(slot) (0x80000000u | (RM_HANDLE_INDEX - (uint32_t)(slot)))
#define SLOT(vhandle) (RM_HANDLE_INDEX - ((vhandle) & RM_HANDLE_INDEX))

struct rm_object {
	uint8_t *ctx; /* its saved context */
	uint32_t ctx_len;
	uint32_t phandle; /* while loaded for a command, else 0 */
};

struct rm_session {
	uint32_t handle; /* 0: a free slot */
	uint8_t *ctx;    /* its saved context; NULL while loaded */
	uint32_t ctx_len;
};

struct rm {
	struct vtpm *v;
	struct rm_limits lim;
	/* sessions openers saved out themselves, oldest first */
	uint32_t *detached;
	unsigned ndetached;
};

struct rm_space {
	struct rm *rm;
	struct rm_object *objects;   /* rm->lim.objects slots */
	struct rm_session *sessions; /* rm->lim.sessions slots */
	size_t ctx_bytes;
};

static inline bool rm_slot_used(const struct rm_object *o)
{
	return o->ctx || o->phandle;
}

/*
 * The space's slots (rm_space.c).  A slot's saved context is replaced
 * only through rm_space_set_context(), which keeps s->ctx_bytes true.
 */
void rm_space_set_context(struct rm_space *s, uint8_t **ctx,
			  uint32_t *ctx_len, uint8_t *new_ctx,
			  uint32_t new_len);
/* Empties object @slot, or session slot @i: its context freed. */
void rm_space_drop_object(struct rm_space *s, unsigned slot);
void rm_space_drop_session(struct rm_space *s, unsigned i);
/* The slot of the opener's object @vhandle, or -1. */
int rm_space_own_object(const struct rm_space *s, uint32_t vhandle);
/* The slot of the opener's session @handle, or -1. */
int rm_space_own_session(const struct rm_space *s, uint32_t handle);
/* The first unused object or session slot, or -1 if the space is full. */
int rm_space_unused_object(const struct rm_space *s);
int rm_space_unused_session(const struct rm_space *s);

#endif
