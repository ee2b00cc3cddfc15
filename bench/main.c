/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench: the measurements behind `make bench`, one subcommand each.
 * bench/run.sh runs them on the host and inside the test VM and hands their
 * result lines to bench/report.awk.
 */
#include "bench.h"
#include "tpm2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
	fputs("usage: bench mkstate STATE_DIR\n"
	      "       bench run [--small] PATH...   (the paths take turns; --small: no\n"
	      "         key generation)\n"
	      "         PATH: limit[:STATE_DIR] (two paths: limit, limit-switched)\n"
	      "               | core:STATE_DIR | [LABEL=]device:/dev/NAME\n"
	      "               | LABEL=unix:SOCKET | LABEL=tcp:IPV4:PORT, each with an\n"
	      "               optional @PID: the server whose CPU time is counted\n"
	      "       bench init RUNS STATE_DIR\n"
	      "       bench startup RUNS LABEL TARGET STATE_DIR PID_FILE -- COMMAND...\n"
	      "         [';' LABEL TARGET STATE_DIR PID_FILE -- COMMAND...]...  (the\n"
	      "         servers take turns)\n"
	      "       bench state /dev/NAME\n"
	      "       bench nvloop /dev/NAME LABEL\n"
	      "       bench busy /dev/NAME\n"
	      "       bench ping /dev/NAME...\n"
	      "       bench floor\n"
	      "       bench loop /dev/NAME|unix:SOCKET N [poll]\n"
	      "       bench exec LABEL RUNS -- COMMAND...\n"
	      "       bench rmcmp LABEL=TCTI... | LABEL=direct:/dev/NAME\n"
	      "BENCH_SCALE=F multiplies every iteration count (default 1).\n",
	      stderr);
}

/* A device's two transports (blocking, polling) as LABEL and LABEL-poll. */
static void label_device(struct transport *t, const char *label)
{
	static char names[BENCH_MAX_PATHS][64];
	static size_t used;

	if (!label || used == BENCH_MAX_PATHS)
		return;
	snprintf(names[used], sizeof(names[used]), "%s-poll", label);
	t[0].label = label;
	t[1].label = names[used++];
}

/*
 * Opens the transports one PATH of "run" names (device: two, blocking and
 * polling, on one descriptor; limit: two, warm and after a process switch,
 * on one libtpms); how many, or 0.  PATH may end in @PID, the
 * server process whose CPU time and context switches are counted.
 */
static size_t open_path(struct transport *t, size_t room, char *spec)
{
	char *at = strrchr(spec, '@'), *eq, *label = NULL;
	size_t n = 0, i;
	int pid = 0;

	if (at) {
		*at = '\0';
		pid = atoi(at + 1);
	}
	eq = strchr(spec, '=');
	if (eq && eq > spec) {
		*eq = '\0'; /* LABEL=...: the label ends here */
		label = spec;
		spec = eq + 1;
	}
	if ((strcmp(spec, "limit") == 0 || strncmp(spec, "limit:", 6) == 0) &&
	    room >= 2) {
		/* t[0] is libtpms' owner, and closes it after t[1] */
		if (limit_open(&t[0], spec[5] ? spec + 6 : NULL) == 0)
			n = limit_attach_switched(&t[1]) == 0 ? 2 : 1;
	} else if (strncmp(spec, "core:", 5) == 0)
		n = core_open(t, spec + 5) ? 0 : 1;
	else if (strncmp(spec, "device:", 7) == 0 && room >= 2) {
		if (device_open(&t[0], spec + 7, false) == 0) {
			/* t[0] closes the descriptor they share */
			device_attach(&t[1], t[0].fd, true);
			label_device(t, label);
			n = 2;
		}
	} else if (label && socket_open(t, spec) == 0) {
		t->label = label;
		n = 1;
	} else
		fprintf(stderr, "bench: cannot use path %s\n", spec);
	for (i = 0; i < n; i++)
		t[i].pid = pid;
	return n;
}

/*
 * bench run PATH...: figure 1's workload through every PATH, taking turns.
 * libtpms is one per process: "limit" and "core" exclude each other.
 */
static int cmd_run(int argc, char **argv)
{
	struct transport t[BENCH_MAX_PATHS];
	bool small = argc > 1 && strcmp(argv[1], "--small") == 0;
	size_t n = 0, got;
	int i, rc = 1;

	if (argc < 2 + small) {
		usage();
		return 2;
	}
	for (i = 1 + small; i < argc; i++) {
		got = open_path(&t[n], BENCH_MAX_PATHS - n, argv[i]);
		if (!got || n + got > BENCH_MAX_PATHS)
			goto out;
		n += got;
	}
	rc = workload_run(t, n, small) ? 1 : 0;
out:
	while (n--)
		if (t[n].close)
			t[n].close(&t[n]);
	return rc;
}

/*
 * bench mkstate DIR: the state every path starts from.  The same seeds make
 * the same primary keys, whose cost (the RSA prime search above all) would
 * otherwise differ from one TPM to the next.
 */
static int cmd_mkstate(int argc, char **argv)
{
	struct transport t;
	int rc;

	if (argc != 2 || core_open(&t, argv[1]) < 0)
		return 1;
	rc = workload_prepare(&t);
	t.close(&t);
	return rc ? 1 : 0;
}

/* bench ping DEV...: one GetRandom through each, for daemons just started. */
static int cmd_ping(int argc, char **argv)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[RESP_MAX];
	struct transport t;
	int i, failed = 0;

	for (i = 1; i < argc; i++) {
		if (device_open(&t, argv[i], false) < 0) {
			failed++;
			continue;
		}
		if (tpm_call(&t, cmd, tpm2_get_random(cmd, 32), resp, NULL)) {
			fprintf(stderr, "bench: GetRandom through %s failed\n", argv[i]);
			failed++;
		}
		t.close(&t);
	}
	if (!failed)
		printf("%d\n", argc - 1);
	return failed ? 1 : 0;
}

/*
 * bench loop /dev/NAME|unix:SOCKET N [poll]: N GetRandom(32) through the
 * device (blocking or O_NONBLOCK + poll) or a socket data channel, untimed:
 * a known number of commands for strace -c, perf or callgrind to count over.
 */
static int cmd_loop(int argc, char **argv)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[RESP_MAX];
	struct transport t;
	unsigned i, n;
	size_t len;
	int rc = 0;

	if (argc < 3 || argc > 4)
		die("usage: bench loop /dev/NAME|unix:SOCKET N [poll]");
	n = (unsigned)atoi(argv[2]);
	if (strncmp(argv[1], "unix:", 5) == 0 ? socket_open(&t, argv[1]) < 0
	    : device_open(&t, argv[1],
			  argc == 4 && strcmp(argv[3], "poll") == 0) < 0)
		return 1;
	len = tpm2_get_random(cmd, 32);
	for (i = 0; i < n && !rc; i++)
		rc = tpm_call(&t, cmd, len, resp, NULL) ? 1 : 0;
	t.close(&t);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{ "run", cmd_run },	  { "init", cmd_init },
		{ "startup", cmd_startup }, { "state", cmd_state },
		{ "nvloop", cmd_nvloop }, { "busy", cmd_busy },
		{ "ping", cmd_ping },     { "mkstate", cmd_mkstate },
		{ "floor", cmd_floor },   { "exec", cmd_exec },
		{ "rmcmp", cmd_rmcmp },
		{ "loop", cmd_loop },
	};
	size_t i;

	if (argc >= 2)
		for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (strcmp(argv[1], cmds[i].name) == 0)
				return cmds[i].fn(argc - 1, argv + 1);
	usage();
	return 2;
}
