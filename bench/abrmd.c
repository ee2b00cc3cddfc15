/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The resource-managed node against tpm2-abrmd on the raw node: the two ways
 * a host lets many clients share one vTPM.  Both are driven through one and
 * the same client code, tpm2-tss' TCTI loader (what tpm2-tools and every
 * ESAPI program use), so only the transport differs:
 *
 *     device:/dev/vtpmrm-NAME   client -> CUSE -> the daemon
 *     tabrmd:bus_type=...       client -> socket -> tpm2-abrmd -> CUSE -> the daemon
 *
 * tpm2-abrmd's D-Bus carries the connection's set-up only (the "connect"
 * figure); the commands go over a socket it hands the client, through its
 * threads and on to the raw node: one process more in every command's path.
 * The bench's own device client may be given too, as a reference: what a
 * bare write+read on the RM node costs.
 *
 *   bench rmcmp LABEL=TCTI... | LABEL=direct:/dev/NAME
 *
 * prints, for each LABEL:
 *   rmcmp ENV LABEL GetRandom ...   one client, the paths taking turns
 *   rmcmp ENV LABEL connect ...     open, GetRandom, close (a tpm2-tools run)
 *   rmcmp ENV LABEL clients8 ...    8 clients at once, each its own opener
 */
#include "bench.h"
#include "tpm2.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_tcti.h>
#include <tss2/tss2_tctildr.h>

#define RMCMP_CLIENTS 8

struct path {
	char *label;
	const char *conf; /* a TCTI configuration, or "direct:/dev/NAME" */
};

/* ---- a transport over a TCTI ------------------------------------------------ */

static int tcti_transact(struct transport *t, const uint8_t *cmd, size_t len,
			 uint8_t *resp, size_t *resp_len)
{
	TSS2_TCTI_CONTEXT *ctx = t->ctx;
	size_t n = RESP_MAX;
	TSS2_RC rc = Tss2_Tcti_Transmit(ctx, len, cmd);

	if (rc == TSS2_RC_SUCCESS)
		rc = Tss2_Tcti_Receive(ctx, &n, resp, TSS2_TCTI_TIMEOUT_BLOCK);
	if (rc != TSS2_RC_SUCCESS || n < 10 || tpm2_size(resp) != n) {
		fprintf(stderr, "bench: %s: TCTI rc 0x%x, %zu bytes\n", t->label,
			rc, n);
		return -1;
	}
	*resp_len = n;
	return 0;
}

static void tcti_close(struct transport *t)
{
	TSS2_TCTI_CONTEXT *ctx = t->ctx;

	Tss2_TctiLdr_Finalize(&ctx);
	t->ctx = NULL;
}

static int tcti_open(struct transport *t, const char *label, const char *conf)
{
	TSS2_TCTI_CONTEXT *ctx = NULL;
	TSS2_RC rc = Tss2_TctiLdr_Initialize(conf, &ctx);

	if (rc != TSS2_RC_SUCCESS) {
		fprintf(stderr, "bench: cannot open TCTI %s: 0x%x\n", conf, rc);
		return -1;
	}
	t->label = label;
	t->transact = tcti_transact;
	t->prepare = NULL;
	t->before_command = NULL;
	t->close = tcti_close;
	t->fd = -1;
	t->ctx = ctx;
	return 0;
}

static int path_open(struct transport *t, const struct path *p)
{
	if (strncmp(p->conf, "direct:", 7) == 0) {
		if (device_open(t, p->conf + 7, false) < 0)
			return -1;
		t->label = p->label;
		return 0;
	}
	return tcti_open(t, p->label, p->conf);
}

static void path_close(struct transport *t)
{
	if (t->close)
		t->close(t);
}

static int get_random(struct transport *t)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[RESP_MAX];
	uint32_t rc = tpm_call(t, cmd, tpm2_get_random(cmd, 32), resp, NULL);

	if (rc) {
		fprintf(stderr, "bench: %s: GetRandom: rc 0x%x\n", t->label, rc);
		return -1;
	}
	return 0;
}

/* ---- one client: GetRandom, the paths taking turns ------------------------------ */

static int one_client(const struct path *paths, size_t n)
{
	unsigned iters = scaled(500, 10), block = iters / 10, i, done;
	struct transport t[BENCH_MAX_PATHS];
	struct samples s[BENCH_MAX_PATHS];
	size_t p, opened = 0;
	uint64_t t0;
	int rc = -1;

	for (p = 0; p < n; p++)
		samples_init(&s[p], iters);
	for (; opened < n; opened++)
		if (path_open(&t[opened], &paths[opened]) < 0)
			goto out;
	for (p = 0; p < n; p++) {
		for (i = 0; i < block; i++) /* warm-up */
			if (get_random(&t[p]) < 0)
				goto out;
	}
	for (done = 0; done < iters; done += block)
		for (p = 0; p < n; p++)
			for (i = 0; i < block; i++) {
				t0 = now_ns();
				if (get_random(&t[p]) < 0)
					goto out;
				samples_add(&s[p], now_ns() - t0);
			}
	for (p = 0; p < n; p++) {
		result_begin("rmcmp", paths[p].label, "GetRandom");
		result_latencies(&s[p]);
		result_end();
	}
	rc = 0;
out:
	for (p = 0; p < opened; p++)
		path_close(&t[p]);
	for (p = 0; p < n; p++)
		samples_free(&s[p]);
	return rc;
}

/* Open, one GetRandom, close: what every tpm2-tools run pays on top. */
static int connects(const struct path *paths, size_t n)
{
	unsigned iters = scaled(50, 5), i;
	struct samples s;
	struct transport t;
	size_t p;
	uint64_t t0;
	int rc = 0;

	for (p = 0; p < n && rc == 0; p++) {
		samples_init(&s, iters);
		for (i = 0; i < iters && rc == 0; i++) {
			t0 = now_ns();
			if (path_open(&t, &paths[p]) < 0)
				rc = -1;
			else {
				rc = get_random(&t);
				path_close(&t);
			}
			samples_add(&s, now_ns() - t0);
		}
		if (rc == 0) {
			result_begin("rmcmp", paths[p].label, "connect");
			result_latencies(&s);
			result_end();
		}
		samples_free(&s);
	}
	return rc;
}

/* ---- many clients at once --------------------------------------------------------- */

struct client {
	pthread_t thread;
	const struct path *path;
	pthread_barrier_t *start;
	uint64_t end_ns;
	unsigned iters;
	int rc;
};

static void *client_run(void *arg)
{
	struct client *c = arg;
	struct transport t;
	bool opened;
	unsigned i;

	opened = path_open(&t, c->path) == 0;
	/* connected and warm before the start */
	c->rc = opened ? get_random(&t) : -1;
	pthread_barrier_wait(c->start);
	for (i = 0; i < c->iters && c->rc == 0; i++)
		c->rc = get_random(&t);
	c->end_ns = now_ns();
	if (opened)
		path_close(&t);
	return NULL;
}

/* RMCMP_CLIENTS threads, each its own opener (connection), GetRandom in a loop. */
static int many_clients(const struct path *path)
{
	struct client c[RMCMP_CLIENTS];
	unsigned iters = scaled(200, 10), i;
	pthread_barrier_t start;
	uint64_t t0, end = 0;
	int rc = 0;

	pthread_barrier_init(&start, NULL, RMCMP_CLIENTS + 1);
	for (i = 0; i < RMCMP_CLIENTS; i++) {
		c[i] = (struct client){ .path = path, .start = &start, .iters = iters };
		if (pthread_create(&c[i].thread, NULL, client_run, &c[i]))
			die("cannot start a client thread");
	}
	pthread_barrier_wait(&start);
	t0 = now_ns();
	for (i = 0; i < RMCMP_CLIENTS; i++) {
		pthread_join(c[i].thread, NULL);
		if (c[i].rc)
			rc = -1;
		if (c[i].end_ns > end)
			end = c[i].end_ns;
	}
	pthread_barrier_destroy(&start);
	if (rc == 0) {
		result_begin("rmcmp", path->label, "clients8");
		result_kv("clients", "%d", RMCMP_CLIENTS);
		result_kv("n", "%u", RMCMP_CLIENTS * iters);
		result_kv("ops", "%.1f", RMCMP_CLIENTS * iters / ((double)(end - t0) / 1e9));
		result_end();
	}
	return rc;
}

int cmd_rmcmp(int argc, char **argv)
{
	struct path paths[BENCH_MAX_PATHS];
	size_t n = 0, p;
	char *eq;
	int rc = 0;

	for (int i = 1; i < argc && n < BENCH_MAX_PATHS; i++) {
		eq = strchr(argv[i], '=');
		if (!eq || eq == argv[i]) {
			fprintf(stderr, "bench rmcmp: want LABEL=TCTI, not %s\n", argv[i]);
			return 2;
		}
		*eq = '\0';
		paths[n++] = (struct path){ .label = argv[i], .conf = eq + 1 };
	}
	if (!n)
		return 2;
	if (one_client(paths, n) < 0 || connects(paths, n) < 0)
		rc = 1;
	for (p = 0; p < n; p++)
		if (many_clients(&paths[p]) < 0)
			rc = 1;
	return rc;
}
