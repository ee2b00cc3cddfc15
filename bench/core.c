/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemon's core without a front end: commands go through vtpm_submit()
 * to the worker thread and the state directory, as the device's do, but no
 * kernel or FUSE is involved.  Between the limit and the device, this row
 * tells which part of the difference is the core's and which the device's.
 */
#include "bench.h"
#include "store.h"
#include "vtpm.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct core {
	struct store store;
	struct vtpm *vtpm;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	uint8_t *resp;
	uint32_t len;
};

/* On the worker thread: hand the response to the waiting caller. */
static void on_response(void *ctx, const uint8_t *resp, uint32_t len)
{
	struct core *c = ctx;

	pthread_mutex_lock(&c->lock);
	c->len = len <= RESP_MAX ? len : 0;
	memcpy(c->resp, resp, c->len);
	c->done = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static int core_transact(struct transport *t, const uint8_t *cmd, size_t len,
			 uint8_t *resp, size_t *resp_len)
{
	struct core *c = t->ctx;

	pthread_mutex_lock(&c->lock);
	c->done = false;
	c->resp = resp;
	pthread_mutex_unlock(&c->lock);
	if (vtpm_submit(c->vtpm, cmd, (uint32_t)len, on_response, c)) {
		fprintf(stderr, "bench: vtpm_submit failed\n");
		return -1;
	}
	pthread_mutex_lock(&c->lock);
	while (!c->done)
		pthread_cond_wait(&c->cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
	*resp_len = c->len;
	return c->len >= 10 ? 0 : -1;
}

static void core_close(struct transport *t)
{
	struct core *c = t->ctx;

	vtpm_free(c->vtpm);
	store_close(&c->store);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
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
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	t->label = "core";
	t->transact = core_transact;
	t->prepare = NULL;
	t->close = core_close;
	t->fd = -1;
	t->ctx = c;
	/* durable, as the daemon is by default */
	if (store_open(&c->store, dir, 0640, true, true) < 0 ||
	    store_lock(&c->store, 0) < 0) {
		fprintf(stderr, "bench: cannot use state directory %s\n", dir);
		free(c);
		return -1;
	}
	c->vtpm = vtpm_new(&cfg, &c->store, NULL, NULL);
	if (!c->vtpm || vtpm_boot(c->vtpm) != 0) {
		fprintf(stderr, "bench: the core did not start the TPM\n");
		if (c->vtpm)
			vtpm_free(c->vtpm);
		store_close(&c->store);
		free(c);
		return -1;
	}
	return 0;
}
