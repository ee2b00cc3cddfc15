/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench: the measurements behind `make bench`, one subcommand each.
 * bench/run.sh runs them on the host and inside the test VM and hands their
 * result lines to bench/report.awk.
 */
#include "bench.h"
#include "tpm2.h"

#include <stdio.h>
#include <string.h>

static void usage(void)
{
	fputs("usage: bench mkstate STATE_DIR\n"
	      "       bench run PATH...   (the paths take turns)\n"
	      "         PATH: limit[:STATE_DIR] | core:STATE_DIR | device:/dev/NAME\n"
	      "               | LABEL=unix:SOCKET | LABEL=tcp:IPV4:PORT\n"
	      "       bench init RUNS STATE_DIR\n"
	      "       bench startup LABEL TARGET STATE_DIR PID_FILE RUNS -- COMMAND...\n"
	      "       bench state /dev/NAME\n"
	      "       bench nvloop /dev/NAME LABEL\n"
	      "       bench busy /dev/NAME\n"
	      "       bench ping /dev/NAME...\n"
	      "       bench floor\n"
	      "       bench exec LABEL RUNS -- COMMAND...\n"
	      "       bench rmcmp LABEL=TCTI... | LABEL=direct:/dev/NAME\n"
	      "BENCH_SCALE=F multiplies every iteration count (default 1).\n",
	      stderr);
}

/*
 * Opens the transports one PATH of "run" names (device: two, blocking and
 * polling, on one descriptor); how many, or 0.
 */
static size_t open_path(struct transport *t, size_t room, char *spec)
{
	char *eq = strchr(spec, '=');
	int fd;

	if (strcmp(spec, "limit") == 0)
		return limit_open(t, NULL) ? 0 : 1;
	if (strncmp(spec, "limit:", 6) == 0)
		return limit_open(t, spec + 6) ? 0 : 1;
	if (strncmp(spec, "core:", 5) == 0)
		return core_open(t, spec + 5) ? 0 : 1;
	if (strncmp(spec, "device:", 7) == 0 && room >= 2) {
		if (device_open(&t[0], spec + 7, false) < 0)
			return 0;
		fd = t[0].fd;
		device_attach(&t[1], fd, true); /* t[0] closes it */
		return 2;
	}
	if (eq && eq > spec && socket_open(t, eq + 1) == 0) {
		*eq = '\0'; /* LABEL=ADDRESS: the label ends here */
		t->label = spec;
		return 1;
	}
	fprintf(stderr, "bench: cannot use path %s\n", spec);
	return 0;
}

/*
 * bench run PATH...: figure 1's workload through every PATH, taking turns.
 * libtpms is one per process: "limit" and "core" exclude each other.
 */
static int cmd_run(int argc, char **argv)
{
	struct transport t[BENCH_MAX_PATHS];
	size_t n = 0, got;
	int i, rc = 1;

	if (argc < 2) {
		usage();
		return 2;
	}
	for (i = 1; i < argc; i++) {
		got = open_path(&t[n], BENCH_MAX_PATHS - n, argv[i]);
		if (!got || n + got > BENCH_MAX_PATHS)
			goto out;
		n += got;
	}
	rc = workload_run(t, n) ? 1 : 0;
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
	};
	size_t i;

	if (argc >= 2)
		for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (strcmp(argv[1], cmds[i].name) == 0)
				return cmds[i].fn(argc - 1, argv + 1);
	usage();
	return 2;
}
