/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An opener's space in the resource manager: its slots of transient
 * objects and sessions, each kept as a saved context between commands,
 * and the bytes those take.  Which slot a handle names, which is unused,
 * emptying one; making and freeing a space (what it still holds flushed
 * from the TPM), counting what it holds.
 */
#include "rm_internal.h"

#include "rm_tpm.h"

#include <stdlib.h>

/* ---- its slots ----------------------------------------------------------- */

void rm_space_set_context(struct rm_space *s, uint8_t **ctx,
			  uint32_t *ctx_len, uint8_t *new_ctx,
			  uint32_t new_len)
{
	s->ctx_bytes -= *ctx_len;
	free(*ctx);
	*ctx = new_ctx;
	*ctx_len = new_len;
	s->ctx_bytes += new_len;
}

void rm_space_drop_object(struct rm_space *s, unsigned slot)
{
	struct rm_object *o = &s->objects[slot];

	rm_space_set_context(s, &o->ctx, &o->ctx_len, NULL, 0);
	o->phandle = 0;
}

void rm_space_drop_session(struct rm_space *s, unsigned i)
{
	struct rm_session *ses = &s->sessions[i];

	rm_space_set_context(s, &ses->ctx, &ses->ctx_len, NULL, 0);
	ses->handle = 0;
}

int rm_space_own_object(const struct rm_space *s, uint32_t vhandle)
{
	uint32_t slot = SLOT(vhandle);

	if (rm_handle_type(vhandle) != RM_HT_TRANSIENT ||
	    slot >= s->rm->lim.objects || !rm_slot_used(&s->objects[slot]))
		return -1;
	return (int)slot;
}

int rm_space_own_session(const struct rm_space *s, uint32_t handle)
{
	unsigned i;

	for (i = 0; handle && i < s->rm->lim.sessions; i++)
		if (s->sessions[i].handle == handle)
			return (int)i;
	return -1;
}

int rm_space_unused_object(const struct rm_space *s)
{
	unsigned i;

	for (i = 0; i < s->rm->lim.objects; i++)
		if (!rm_slot_used(&s->objects[i]))
			return (int)i;
	return -1;
}

int rm_space_unused_session(const struct rm_space *s)
{
	unsigned i;

	for (i = 0; i < s->rm->lim.sessions; i++)
		if (!s->sessions[i].handle)
			return (int)i;
	return -1;
}

/* ---- the space's life ---------------------------------------------------- */

struct rm_space *rm_space_new(struct rm *rm)
{
	struct rm_space *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->rm = rm;
	s->objects = calloc(rm->lim.objects + 1, sizeof(*s->objects));
	s->sessions = calloc(rm->lim.sessions + 1, sizeof(*s->sessions));
	if (!s->objects || !s->sessions) {
		free(s->objects);
		free(s->sessions);
		free(s);
		return NULL;
	}
	return s;
}

static void release(struct vtpm_exclusive *x, void *ctx)
{
	struct rm_space *s = ctx;
	struct rm_tpm *t = rm_tpm_new(x);
	unsigned i;

	for (i = 0; t && i < s->rm->lim.sessions; i++) {
		struct rm_session *ses = &s->sessions[i];
		uint32_t handle = 0;

		/* loaded from our context first: the handle is surely ours */
		if (ses->ctx && rm_tpm_context_load(t, ses->ctx, ses->ctx_len,
						    &handle) == RM_RC_SUCCESS)
			rm_tpm_flush(t, handle);
	}
	free(t);
}

void rm_space_free(struct rm_space *s)
{
	unsigned i;

	if (!s)
		return;
	vtpm_exclusive(s->rm->v, release, s);
	for (i = 0; i < s->rm->lim.objects; i++)
		free(s->objects[i].ctx);
	for (i = 0; i < s->rm->lim.sessions; i++)
		free(s->sessions[i].ctx);
	free(s->objects);
	free(s->sessions);
	free(s);
}

void rm_space_count(struct rm_space *s, unsigned *objects,
		    unsigned *sessions)
{
	unsigned i;

	*objects = *sessions = 0;
	for (i = 0; i < s->rm->lim.objects; i++)
		*objects += rm_slot_used(&s->objects[i]);
	for (i = 0; i < s->rm->lim.sessions; i++)
		*sessions += s->sessions[i].handle != 0;
}
