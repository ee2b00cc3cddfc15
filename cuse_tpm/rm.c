/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The resource manager and the command it runs for an opener (see rm.h):
 * the objects and sessions the command names loaded from the opener's
 * space (rm_space.c) and their handles translated, what the response
 * returns taken into the space, all of it saved back after; the commands
 * it answers itself; the sessions openers saved out.
 */
#include "rm_internal.h"

#include "byteorder.h"
#include "log.h"
#include "rm_cmd.h"
#include "rm_tpm.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define HEADER 10

/* One command of an opener, run while the TPM is held. */
struct rm_job {
	struct rm_space *s;
	const uint8_t *cmd;
	uint32_t len;
	struct rm_cmd c;
	struct rm_tpm tpm; /* what it sends itself */
	int new_object;  /* the slot the response's handle took, or -1 */
	int new_session; /* likewise */
	uint32_t late_rc; /* a limit the new object or session broke */
	uint32_t out_len;
	uint8_t work[VTPM_IO_MAX]; /* the command, handles translated */
	uint8_t out[VTPM_IO_MAX];  /* its response */
};

/* ---- sessions saved out by their openers -------------------------------- */

static void detached_remove(struct rm *rm, uint32_t handle)
{
	unsigned i;

	for (i = 0; i < rm->ndetached; i++) {
		if (rm->detached[i] != handle)
			continue;
		memmove(&rm->detached[i], &rm->detached[i + 1],
			(rm->ndetached - i - 1) * sizeof(*rm->detached));
		rm->ndetached--;
		return;
	}
}

/* Keeps @handle in the TPM for whoever loads its context next. */
static void detached_add(struct rm_job *j, uint32_t handle)
{
	struct rm *rm = j->s->rm;

	if (rm->lim.detached == 0) {
		rm_tpm_flush(&j->tpm, handle);
		return;
	}
	if (rm->ndetached == rm->lim.detached) {
		log_info("resource manager: flushing session 0x%08x, the "
			 "oldest of %u saved out", rm->detached[0],
			 rm->ndetached);
		rm_tpm_flush(&j->tpm, rm->detached[0]);
		detached_remove(rm, rm->detached[0]);
	}
	rm->detached[rm->ndetached++] = handle;
}

static void flush_detached(struct vtpm_exclusive *x, void *ctx)
{
	struct rm *rm = ctx;
	struct rm_tpm *t = rm_tpm_new(x);
	unsigned i;

	for (i = 0; t && i < rm->ndetached; i++)
		rm_tpm_flush(t, rm->detached[i]);
	rm->ndetached = 0;
	free(t);
}

/* ---- before the command: load what it names ------------------------------ */

/* Loads object @slot, unless this command loaded it already. */
static uint32_t load_object(struct rm_job *j, int slot, unsigned index)
{
	struct rm_object *o = &j->s->objects[slot];
	uint32_t rc;

	if (o->phandle)
		return RM_RC_SUCCESS;
	rc = rm_tpm_context_load(&j->tpm, o->ctx, o->ctx_len, &o->phandle);
	if (rc == RM_RC_SUCCESS)
		return rc;
	o->phandle = 0;
	if (!rm_tpm_gone(rc))
		return rc;
	/* its context no longer loads (TPM reset, say): it is gone */
	rm_space_drop_object(j->s, (unsigned)slot);
	return RM_RC_REFERENCE_H0 + index;
}

/* Loads session @i, unless loaded; @ref is the code if it is gone. */
static uint32_t load_session(struct rm_job *j, int i, uint32_t ref)
{
	struct rm_session *ses = &j->s->sessions[i];
	uint32_t rc, handle = 0;

	if (!ses->ctx)
		return RM_RC_SUCCESS;
	rc = rm_tpm_context_load(&j->tpm, ses->ctx, ses->ctx_len, &handle);
	if (rc == RM_RC_SUCCESS && handle == ses->handle) {
		/* a session's saved context loads once: it is in the TPM now */
		rm_space_set_context(j->s, &ses->ctx, &ses->ctx_len, NULL, 0);
		return rc;
	}
	if (rc == RM_RC_SUCCESS)
		rm_tpm_flush(&j->tpm, handle); /* not the session we saved: never use it */
	else if (!rm_tpm_gone(rc))
		return rc;
	rm_space_drop_session(j->s, (unsigned)i);
	return ref;
}

/*
 * Loads the opener's objects and sessions the handle area names and puts
 * the TPM's handles in their place; a handle of a transient object or
 * session that is not the opener's reads as not loaded.
 */
static uint32_t load_handles(struct rm_job *j)
{
	uint32_t rc = RM_RC_SUCCESS;
	unsigned i;

	for (i = 0; i < j->c.nhandles && !rc; i++) {
		const struct rm_ref *r = &j->c.handles[i];
		int own;

		if (rm_handle_type(r->handle) == RM_HT_TRANSIENT) {
			own = rm_space_own_object(j->s, r->handle);
			rc = own < 0 ? RM_RC_REFERENCE_H0 + i
				     : load_object(j, own, i);
			if (!rc)
				put_be32(j->work + r->off,
					 j->s->objects[own].phandle);
		} else if (rm_is_session(r->handle)) {
			own = rm_space_own_session(j->s, r->handle);
			rc = own < 0 ? RM_RC_REFERENCE_H0 + i
				     : load_session(j, own,
						    RM_RC_REFERENCE_H0 + i);
		}
	}
	for (i = 0; i < j->c.nsessions && !rc; i++) {
		uint32_t h = j->c.sessions[i].handle;
		int own;

		if (!rm_is_session(h))
			continue; /* a password, or what the TPM refuses */
		own = rm_space_own_session(j->s, h);
		rc = own < 0 ? RM_RC_REFERENCE_S0 + i
			     : load_session(j, own, RM_RC_REFERENCE_S0 + i);
	}
	return rc;
}

/* ---- after it: what the response returns, and saving it all ------------ */

/* A handle the response returns joins the space, limits allowing. */
static uint32_t take_response(struct rm_job *j)
{
	uint32_t h;
	int i;

	/* the opener saved its own session out: the TPM keeps it for it */
	if (j->c.cc == RM_CC_CONTEXT_SAVE &&
	    rm_is_session(j->c.handles[0].handle)) {
		i = rm_space_own_session(j->s, j->c.handles[0].handle);
		if (i >= 0) {
			rm_space_drop_session(j->s, (unsigned)i);
			detached_add(j, j->c.handles[0].handle);
		}
	}
	if (!j->c.rhandle || j->out_len < HEADER + 4)
		return RM_RC_SUCCESS;
	h = get_be32(j->out + HEADER);
	if (rm_handle_type(h) == RM_HT_TRANSIENT) {
		i = rm_space_unused_object(j->s);
		if (i < 0) {
			rm_tpm_flush(&j->tpm, h);
			return RM_RC_OBJECT_MEMORY;
		}
		j->s->objects[i].phandle = h;
		j->new_object = i;
		put_be32(j->out + HEADER, VHANDLE(i));
	} else if (rm_is_session(h)) {
		detached_remove(j->s->rm, h);
		if (rm_space_own_session(j->s, h) >= 0)
			return RM_RC_SUCCESS;
		i = rm_space_unused_session(j->s);
		if (i < 0) {
			rm_tpm_flush(&j->tpm, h);
			return RM_RC_SESSION_MEMORY;
		}
		j->s->sessions[i].handle = h;
		j->new_session = i;
	}
	return RM_RC_SUCCESS;
}

static bool over_memory(const struct rm_space *s)
{
	return s->ctx_bytes > s->rm->lim.context_bytes;
}

static void save_object(struct rm_job *j, unsigned slot)
{
	struct rm_object *o = &j->s->objects[slot];
	uint8_t *ctx = NULL;
	uint32_t len = 0;
	uint32_t rc = rm_tpm_context_save(&j->tpm, o->phandle, &ctx, &len);

	rm_tpm_flush(&j->tpm, o->phandle);
	o->phandle = 0;
	if (rc == RM_RC_SUCCESS)
		rm_space_set_context(j->s, &o->ctx, &o->ctx_len, ctx, len);
	else if (rm_tpm_gone(rc) || !o->ctx)
		rm_space_drop_object(j->s, slot); /* the command flushed it */
	if ((int)slot != j->new_object)
		return;
	if (rc != RM_RC_SUCCESS)
		j->late_rc = rc;
	else if (over_memory(j->s))
		j->late_rc = RM_RC_MEMORY;
	if (j->late_rc)
		rm_space_drop_object(j->s, slot);
}

static void save_session(struct rm_job *j, unsigned i)
{
	struct rm_session *ses = &j->s->sessions[i];
	uint8_t *ctx = NULL;
	uint32_t len = 0;
	uint32_t rc = rm_tpm_context_save(&j->tpm, ses->handle, &ctx, &len);

	if (rc == RM_RC_SUCCESS)
		rm_space_set_context(j->s, &ses->ctx, &ses->ctx_len, ctx, len);
	if (rc == RM_RC_SUCCESS && (int)i == j->new_session &&
	    over_memory(j->s))
		rc = j->late_rc = RM_RC_MEMORY;
	if (rc == RM_RC_SUCCESS)
		return;
	/* ended by the command (continueSession clear), or unsaveable */
	if (!rm_tpm_gone(rc))
		rm_tpm_flush(&j->tpm, ses->handle);
	if ((int)i == j->new_session && !j->late_rc)
		j->late_rc = rc;
	rm_space_drop_session(j->s, i);
}

/* Nothing of the opener stays loaded: contexts saved, objects flushed. */
static void save_all(struct rm_job *j)
{
	unsigned i;

	for (i = 0; i < j->s->rm->lim.objects; i++)
		if (j->s->objects[i].phandle)
			save_object(j, i);
	for (i = 0; i < j->s->rm->lim.sessions; i++)
		if (j->s->sessions[i].handle && !j->s->sessions[i].ctx)
			save_session(j, i);
}

/* ---- commands the resource manager answers itself ------------------------ */

static void reply_rc(struct rm_job *j, uint32_t rc)
{
	j->out_len = rm_rc_response(j->out, rc);
}

/* FlushContext of the opener's object or session. */
static void flush_own(struct rm_job *j, uint32_t h)
{
	int i;
	uint32_t rc;

	if (rm_handle_type(h) == RM_HT_TRANSIENT) {
		i = rm_space_own_object(j->s, h);
		if (i >= 0) /* saved, not loaded */
			rm_space_drop_object(j->s, (unsigned)i);
		reply_rc(j, i >= 0 ? RM_RC_SUCCESS : RM_RC_HANDLE_P1);
		return;
	}
	i = rm_space_own_session(j->s, h);
	if (i < 0) {
		reply_rc(j, RM_RC_HANDLE_P1);
		return;
	}
	/* loaded from our context first: the handle is surely still ours */
	rc = load_session(j, i, RM_RC_HANDLE_P1);
	if (rc == RM_RC_SUCCESS) {
		rc = rm_tpm_flush(&j->tpm, h);
		rm_space_drop_session(j->s, (unsigned)i);
	}
	reply_rc(j, rc);
}

/* GetCapability(TPM_CAP_HANDLES) of transient objects or sessions. */
static void list_handles(struct rm_job *j, uint32_t first, uint32_t count)
{
	uint32_t handles[RM_CAP_HANDLES_MAX];
	const struct rm_limits *lim = &j->s->rm->lim;
	unsigned n = 0, i, k;

	if (j->c.tag != RM_ST_NO_SESSIONS) {
		/* the kernel fails these too: its answer would need them */
		reply_rc(j, RM_RC_LAYER | RM_RC_COMMAND_CODE);
		return;
	}
	if (rm_handle_type(first) == RM_HT_TRANSIENT) {
		/* ascending handles: the highest slot first */
		for (i = lim->objects; i-- > 0;)
			if (rm_slot_used(&j->s->objects[i]))
				handles[n++] = VHANDLE(i);
	} else if (rm_handle_type(first) == RM_HT_HMAC_SESSION) {
		/* to their opener its sessions are loaded, never saved */
		for (i = 0; i < lim->sessions; i++) {
			uint32_t h = j->s->sessions[i].handle;

			if (!h)
				continue;
			for (k = n; k > 0 && (handles[k - 1] & RM_HANDLE_INDEX) >
						     (h & RM_HANDLE_INDEX);
			     k--)
				handles[k] = handles[k - 1];
			handles[k] = h;
			n++;
		}
	}
	j->out_len = rm_handles_response(j->out, sizeof(j->out), handles, n,
					 first, count);
}

/* ---- one command --------------------------------------------------------- */

static void run(struct vtpm_exclusive *x, void *ctx)
{
	struct rm_job *j = ctx;
	uint32_t rc, first, count;
	int n;

	j->tpm.x = x;
	rc = rm_cmd_parse(j->cmd, j->len, &j->c);
	if (rc) {
		reply_rc(j, rc);
		return;
	}
	if (rm_cmd_handle_query(j->cmd, j->len, &j->c, &first, &count)) {
		list_handles(j, first, count);
		return;
	}
	if (j->c.cc == RM_CC_FLUSH_CONTEXT &&
	    (rm_handle_type(j->c.handles[0].handle) == RM_HT_TRANSIENT ||
	     rm_is_session(j->c.handles[0].handle))) {
		flush_own(j, j->c.handles[0].handle);
		return;
	}
	memcpy(j->work, j->cmd, j->len);
	rc = load_handles(j);
	if (rc == RM_RC_SUCCESS) {
		n = vtpm_exclusive_execute(x, j->work, j->len, j->out,
					   sizeof(j->out));
		j->out_len = n > 0 ? (uint32_t)n : 0;
		if (rm_resp_rc(j->out, j->out_len) == RM_RC_SUCCESS)
			rc = take_response(j);
	}
	save_all(j);
	if (rc == RM_RC_SUCCESS)
		rc = j->late_rc;
	if (rc != RM_RC_SUCCESS)
		reply_rc(j, rc);
}

uint32_t rm_execute(struct rm_space *s, const uint8_t *cmd, uint32_t len,
		    uint8_t *resp, uint32_t resp_size)
{
	struct rm_job *j;
	uint32_t n;

	if (len > VTPM_IO_MAX)
		return rm_rc_response(resp, RM_RC_COMMAND_SIZE);
	j = calloc(1, sizeof(*j));
	if (!j)
		return rm_rc_response(resp, RM_RC_MEMORY);
	j->s = s;
	j->cmd = cmd;
	j->len = len;
	j->new_object = j->new_session = -1;
	j->late_rc = RM_RC_SUCCESS;
	j->out_len = 0;
	vtpm_exclusive(s->rm->v, run, j);
	if (j->out_len < HEADER)
		j->out_len = rm_rc_response(j->out, RM_RC_FAILURE);
	n = j->out_len < resp_size ? j->out_len : resp_size;
	memcpy(resp, j->out, n);
	free(j);
	return n;
}

/* ---- the manager --------------------------------------------------------- */

struct rm *rm_new(struct vtpm *v, const struct rm_limits *lim)
{
	static const struct rm_limits defaults = {
		.objects = RM_DEFAULT_OBJECTS,
		.sessions = RM_DEFAULT_SESSIONS,
		.context_bytes = RM_DEFAULT_CONTEXT_BYTES,
		.detached = RM_DEFAULT_DETACHED,
	};
	struct rm *rm = calloc(1, sizeof(*rm));

	if (!rm)
		return NULL;
	rm->v = v;
	rm->lim = lim ? *lim : defaults;
	if (rm->lim.objects > RM_MAX_SLOTS)
		rm->lim.objects = RM_MAX_SLOTS;
	if (rm->lim.sessions > RM_MAX_SLOTS)
		rm->lim.sessions = RM_MAX_SLOTS;
	rm->detached = calloc(rm->lim.detached + 1, sizeof(*rm->detached));
	if (!rm->detached) {
		free(rm);
		return NULL;
	}
	return rm;
}

void rm_free(struct rm *rm)
{
	if (!rm)
		return;
	vtpm_exclusive(rm->v, flush_detached, rm);
	free(rm->detached);
	free(rm);
}
