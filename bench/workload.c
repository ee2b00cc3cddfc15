/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Figure 1's workload: the same commands, in the same order and number,
 * through whichever transport is given.
 */
#include "bench.h"
#include "tpm2.h"

#include <stdio.h>
#include <string.h>

#define TPM2_RC_NV_DEFINED 0x14c
#define TPM2_PT_FIXED 0x100

struct op {
	const char *name;
	size_t (*build)(uint8_t *cmd);
	unsigned iters;  /* at BENCH_SCALE=1; the warm-up comes on top */
	bool creates;    /* makes an object: flush it as part of the op */
};

static size_t get_random(uint8_t *cmd)
{
	return tpm2_get_random(cmd, 32);
}

static size_t pcr_extend(uint8_t *cmd)
{
	static const uint8_t digest[32] = { 0x42 };

	return tpm2_pcr_extend(cmd, 16, digest); /* PCR 16: the debug PCR */
}

static size_t get_capability(uint8_t *cmd)
{
	return tpm2_get_capability(cmd, TPM2_PT_FIXED, 8);
}

static size_t hash_1k(uint8_t *cmd)
{
	static uint8_t data[1024];

	memset(data, 0x5a, sizeof(data));
	return tpm2_hash(cmd, data, sizeof(data));
}

static size_t nv_write_64(uint8_t *cmd)
{
	static const uint8_t data[BENCH_NV_SIZE] = { 0x17 };

	return tpm2_nv_write(cmd, BENCH_NV_INDEX, data, sizeof(data), 0);
}

static size_t primary_ecc(uint8_t *cmd)
{
	return tpm2_create_primary(cmd, TPM2_KEY_ECC_P256);
}

static size_t primary_rsa(uint8_t *cmd)
{
	return tpm2_create_primary(cmd, TPM2_KEY_RSA2048);
}

static const struct op ops[] = {
	{ "GetRandom", get_random, 200, false },
	{ "PCR_Extend", pcr_extend, 200, false },
	{ "ReadClock", tpm2_read_clock, 200, false },
	{ "GetCapability", get_capability, 200, false },
	{ "Hash_1KiB", hash_1k, 200, false },
	{ "NV_Write_64", nv_write_64, 200, false },
	{ "CreatePrimary_ECC", primary_ecc, 20, true },
	{ "CreatePrimary_RSA", primary_rsa, 3, true },
};

uint32_t tpm_call(struct transport *t, const uint8_t *cmd, size_t len,
		  uint8_t *resp, size_t *resp_len)
{
	size_t n;

	if (t->transact(t, cmd, len, resp, &n) < 0)
		return ~0u;
	if (resp_len)
		*resp_len = n;
	return tpm2_rc(resp);
}

int workload_prepare(struct transport *t)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[RESP_MAX];
	uint32_t rc;

	rc = tpm_call(t, cmd, tpm2_nv_define(cmd, BENCH_NV_INDEX, BENCH_NV_SIZE),
		      resp, NULL);
	if (rc != 0 && rc != TPM2_RC_NV_DEFINED) {
		fprintf(stderr, "bench: NV_DefineSpace: TPM rc 0x%x\n", rc);
		return -1;
	}
	return 0;
}

/* One op: the command, and the FlushContext of what it created. */
static int run_op(struct transport *t, const struct op *op, const uint8_t *cmd,
		  size_t len)
{
	uint8_t resp[RESP_MAX], flush[TPM2_CMD_MAX];
	uint32_t rc = tpm_call(t, cmd, len, resp, NULL);

	if (rc == 0 && op->creates)
		rc = tpm_call(t, flush,
			      tpm2_flush_context(flush, tpm2_created_handle(resp)),
			      resp, NULL);
	if (rc) {
		fprintf(stderr, "bench: %s: TPM rc 0x%x\n", op->name, rc);
		return -1;
	}
	return 0;
}

/* Untimed: the first commands of each path warm its caches. */
static int warm_up(struct transport *paths, size_t npaths, const struct op *op,
		   const uint8_t *cmd, size_t len, unsigned n)
{
	unsigned i;
	size_t p;

	for (p = 0; p < npaths; p++) {
		if (paths[p].prepare)
			paths[p].prepare(&paths[p]);
		for (i = 0; i < n; i++)
			if (run_op(&paths[p], op, cmd, len) < 0)
				return -1;
	}
	return 0;
}

/*
 * @n timed ops through each path, the paths taking turns a block of ops at a
 * time: ten turns each, so that a burst of other load hits every path, and
 * blocks rather than single ops, so that each path runs warm (a switch to
 * another process costs the next op its caches, and under TCG its TLB).
 */
/*
 * What the path's server and this client spent on a block of commands; the
 * reading of /proc falls outside the block.
 */
struct spent {
	struct usage server, client;
};

static void count_start(const struct transport *t, struct spent *at)
{
	if (t->pid > 0)
		usage_read(t->pid, &at->server);
	usage_self(&at->client);
}

static void count_end(const struct transport *t, const struct spent *start,
		      struct spent *sum)
{
	struct spent now;

	usage_self(&now.client);
	usage_add_delta(&sum->client, &start->client, &now.client);
	if (t->pid > 0 && usage_read(t->pid, &now.server) == 0)
		usage_add_delta(&sum->server, &start->server, &now.server);
}

static int take_turns(struct transport *paths, size_t npaths, const struct op *op,
		      const uint8_t *cmd, size_t len, unsigned n,
		      struct samples *s, struct spent *sum)
{
	unsigned block = n / 10 ? n / 10 : 1, done, i;
	struct spent start;
	uint64_t t0;
	size_t p;

	for (done = 0; done < n; done += block) {
		if (block > n - done)
			block = n - done;
		for (p = 0; p < npaths; p++) {
			if (paths[p].prepare)
				paths[p].prepare(&paths[p]);
			count_start(&paths[p], &start);
			for (i = 0; i < block; i++) {
				if (paths[p].before_command)
					paths[p].before_command(&paths[p]);
				t0 = now_ns();
				if (run_op(&paths[p], op, cmd, len) < 0)
					return -1;
				samples_add(&s[p], now_ns() - t0);
			}
			count_end(&paths[p], &start, &sum[p]);
		}
	}
	return 0;
}

/* Per op: the server's CPU time and context switches, and the client's. */
static void result_spent(const struct transport *t, const struct spent *sum,
			 unsigned n)
{
	if (t->pid > 0) {
		result_kv("cpu_us", "%.1f", (double)sum->server.cpu_ns / 1e3 / n);
		result_kv("vcsw", "%.2f", (double)sum->server.vcsw / n);
		result_kv("ivcsw", "%.2f", (double)sum->server.ivcsw / n);
		result_kv("threads", "%u", sum->server.threads);
	}
	result_kv("client_vcsw", "%.2f", (double)sum->client.vcsw / n);
}

static int measure_op(struct transport *paths, size_t npaths, const struct op *op)
{
	unsigned n = scaled(op->iters, 1), warmup = n / 10 ? n / 10 : 1;
	struct samples s[BENCH_MAX_PATHS];
	struct spent sum[BENCH_MAX_PATHS];
	uint8_t cmd[TPM2_CMD_MAX];
	size_t len = op->build(cmd), p;
	int rc;

	if (warm_up(paths, npaths, op, cmd, len, warmup) < 0)
		return -1;
	memset(sum, 0, sizeof(sum));
	for (p = 0; p < npaths; p++)
		samples_init(&s[p], n);
	rc = take_turns(paths, npaths, op, cmd, len, n, s, sum);
	for (p = 0; p < npaths; p++) {
		if (rc == 0) {
			result_begin("cmd", paths[p].label, op->name);
			result_latencies(&s[p]);
			result_spent(&paths[p], &sum[p], n);
			result_end();
		}
		samples_free(&s[p]);
	}
	return rc;
}

int workload_run(struct transport *paths, size_t npaths, bool small)
{
	size_t i;
	int rc = 0;

	if (npaths > BENCH_MAX_PATHS)
		return -1;
	for (i = 0; i < npaths; i++)
		if (workload_prepare(&paths[i]) < 0)
			return -1;
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if ((!small || !ops[i].creates) &&
		    measure_op(paths, npaths, &ops[i]) < 0)
			rc = -1;
	return rc;
}
