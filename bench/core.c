/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemon's core without a front end: commands go through vtpm_execute()
 * and the state directory, as the device's do, but no kernel or FUSE is
 * involved.  Between the limit and the device, this row
 * tells which part of the difference is the core's and which the device's.
 */
#include "bench.h"
#include "store.h"
#include "vtpm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct core {
	struct store *store;
	struct vtpm *vtpm;
};

static int core_transact(struct transport *t, const uint8_t *cmd, size_t len,
			 uint8_t *resp, size_t *resp_len)
{
	struct core *c = t->ctx;
	int n = vtpm_execute(c->vtpm, cmd, (uint32_t)len, resp, RESP_MAX);

	*resp_len = n > 0 ? (size_t)n : 0;
	return n >= 10 ? 0 : -1;
}

static void core_close(struct transport *t)
{
	struct core *c = t->ctx;

	vtpm_free(c->vtpm);
	store_close(c->store);
	free(c);
}

int core_open(struct transport *t, const char *dir)
{
	/* what the daemon does with --flags not-need-init,startup-clear */
	const struct vtpm_config cfg = { .tpm2 = true, .not_need_init = true,
					 .startup = STARTUP_CLEAR, .lock = true };
	struct core *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	t->label = "core";
	t->transact = core_transact;
	t->prepare = NULL;
	t->before_command = NULL;
	t->close = core_close;
	t->fd = -1;
	t->ctx = c;
	t->pid = 0;
	/* durable, as the daemon is by default */
	if (store_open(&c->store, dir, 0640, true, true) < 0 ||
	    store_lock(c->store, 0) < 0) {
		fprintf(stderr, "bench: cannot use state directory %s\n", dir);
		free(c);
		return -1;
	}
	c->vtpm = vtpm_new(&cfg, c->store, NULL, NULL);
	if (!c->vtpm || vtpm_boot(c->vtpm) != 0) {
		fprintf(stderr, "bench: the core did not start the TPM\n");
		if (c->vtpm)
			vtpm_free(c->vtpm);
		store_close(c->store);
		free(c);
		return -1;
	}
	return 0;
}
