/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz-options: the command-line parser (cuse_tpm/options.c).
 *
 * The input, split on NUL bytes, is argv[1..] (argv[0] is "cuse_tpm"); every
 * argument is its own exact-size heap allocation so ASan sees any read past
 * one.  Checks, besides ASan/UBSan/LSan:
 *  - the result is 0 or -1; on -1 there is a NUL-terminated message;
 *  - on 0 with ACTION_RUN, a device name is valid and a state directory is
 *    set, and every string in the result is readable;
 *  - the parser writes nothing into argv but getopt's permutation;
 *  - it keeps no state between calls: the same argv parsed again (into the
 *    same struct, as options.h allows) gives the same result, and after the
 *    fuzzed argv is freed a fixed command line gives exactly the expected
 *    result (getopt's hidden state pointing into freed strings would show
 *    here as a use-after-free or a different result);
 *  - options_free() releases everything (LSan).
 *
 * FUZZ_IGNORE=argv-writes,getopt-state skips the permutation check and
 * resets getopt before each call, to fuzz past those two known findings.
 */
#include "options.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 64

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "fuzz-options: " __VA_ARGS__);                 \
		fputc('\n', stderr);                                           \
		abort();                                                       \
	} while (0)

/* What a parse produced, as text: compares two parses field by field. */
static void describe(const struct options *o, int rc, const char *err,
		     char *out, size_t size)
{
#define S(x) ((x) ? (x) : "(null)")
	if (rc) {
		snprintf(out, size, "rc=%d err=%s", rc, err);
		return;
	}
	snprintf(out, size,
		 "action=%d name=%s maj=%u min=%u tpm2=%d nni=%d startup=%d "
		 "das=%d rl4=%d inc=%d lock=%d dir=%s mode=%o durable=%d "
		 "pid=%s/%d fg=%d log=%s/%d/%u/%s/%d ctrl=%d/%s/%s/%u/%d/%o/%d "
		 "data=%d/%s/%s/%u/%d/%o/%d term=%d",
		 o->action, S(o->dev.name), o->dev.major, o->dev.minor,
		 o->tpm.tpm2, o->tpm.not_need_init, o->tpm.startup,
		 o->tpm.disable_auto_shutdown, o->tpm.reject_locality_4,
		 o->tpm.incoming, o->tpm.lock, S(o->state_dir),
		 (unsigned)o->state_mode, o->durable, S(o->pid_file), o->pid_fd,
		 o->foreground, S(o->log.file), o->log.fd, o->log.level,
		 S(o->log.prefix), o->log.truncate, o->ctrl.type,
		 S(o->ctrl.path), S(o->ctrl.bindaddr), o->ctrl.port, o->ctrl.fd,
		 (unsigned)o->ctrl.mode, o->ctrl.terminate, o->data.type,
		 S(o->data.path), S(o->data.bindaddr), o->data.port, o->data.fd,
		 (unsigned)o->data.mode, o->data.disconnect,
		 o->terminate_on_data_close);
#undef S
}

static void check_result(const struct options *o, int rc, const char *err)
{
	if (rc != 0 && rc != -1)
		FAIL("options_parse returned %d", rc);
	if (rc) {
		if (!memchr(err, '\0', 256) || !err[0])
			FAIL("failure without a message");
		return;
	}
	if (o->ncopies > OPTIONS_MAX_COPIES)
		FAIL("ncopies %zu", o->ncopies);
	if (o->action == ACTION_RUN) {
		if (o->dev.name && (!*o->dev.name || strchr(o->dev.name, '/')))
			FAIL("accepted an invalid device name '%s'", o->dev.name);
		if (!o->state_dir || !*o->state_dir)
			FAIL("accepted without a state directory");
	}
	if (o->state_mode & ~0777u)
		FAIL("state mode 0%o", (unsigned)o->state_mode);
	if (o->dev.major > 65535 || o->dev.minor > 65535)
		FAIL("device number out of range");
}

static bool ignore_argv_writes, ignore_getopt_state;

/* What options_parse would need to do to start getopt afresh. */
static void reset_getopt(void)
{
	char a0[] = "x";
	char *av[] = { a0, NULL };

	optind = 0;
	getopt(1, av, "");
}

/* A fixed line after the fuzzed one: what it gives must not depend on it. */
static void check_fresh_parse(void)
{
	char a0[] = "cuse_tpm", a1[] = "-n", a2[] = "vtpm-fuzz",
	     a3[] = "--tpmstate", a4[] = "dir=/tmp/fuzz,mode=0600";
	char *argv[] = { a0, a1, a2, a3, a4, NULL };
	struct options o;
	char err[256] = "";

	memset(&o, 0, sizeof(o));
	if (ignore_getopt_state)
		reset_getopt();
	if (options_parse(&o, 5, argv, err, sizeof(err)) != 0)
		FAIL("a valid fixed command line failed after the fuzzed one: %s",
		     err);
	if (o.action != ACTION_RUN || o.foreground || !o.tpm.tpm2 ||
	    !o.tpm.lock || !o.durable || o.tpm.not_need_init ||
	    o.state_mode != 0600 || strcmp(o.dev.name, "vtpm-fuzz") != 0 ||
	    strcmp(o.state_dir, "/tmp/fuzz") != 0 || o.pid_fd != -1 ||
	    o.log.fd != -1 || o.dev.major || o.dev.minor)
		FAIL("the fixed command line parsed differently after the "
		     "fuzzed one: state leaked between calls");
	options_free(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* the parser falls back to $TPM_PATH: make the result not depend on it */
	unsetenv("TPM_PATH");
	/* FUZZ_IGNORE=argv-writes: keep fuzzing past that known finding */
	ignore_argv_writes = getenv("FUZZ_IGNORE") &&
			     strstr(getenv("FUZZ_IGNORE"), "argv-writes");
	ignore_getopt_state = getenv("FUZZ_IGNORE") &&
			      strstr(getenv("FUZZ_IGNORE"), "getopt-state");
	return 0;
}

/*
 * Is @after the same pointers as @before, in any order?  getopt may permute
 * argv; anything else is the parser writing into its caller's array.
 */
static void check_permutation(char **before, char **after, int argc)
{
	int i, j;

	for (i = 0; i < argc; i++) {
		int nb = 0, na = 0;

		for (j = 0; j < argc; j++) {
			nb += before[j] == before[i];
			na += after[j] == before[i];
		}
		if (nb != na)
			FAIL("options_parse changed argv beyond getopt's "
			     "permutation: argument '%s' appears %d times "
			     "instead of %d", before[i], na, nb);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *owned[MAX_ARGS + 1], *args[MAX_ARGS + 1];
	char first[4096], second[4096];
	int argc = 0, rc, i;
	struct options o;
	char err[256];
	size_t start = 0, pos;

	owned[argc++] = strdup("cuse_tpm");
	for (pos = 0; pos <= size && argc < MAX_ARGS; pos++) {
		if (pos == size || data[pos] == '\0') {
			size_t len = pos - start;
			char *a = malloc(len + 1);

			if (!a)
				abort();
			memcpy(a, data + start, len);
			a[len] = '\0';
			owned[argc++] = a;
			start = pos + 1;
		}
	}
	owned[argc] = NULL;

	memcpy(args, owned, sizeof(args));
	memset(&o, 0, sizeof(o));
	memset(err, 0x55, sizeof(err));
	err[sizeof(err) - 1] = '\0';
	if (ignore_getopt_state)
		reset_getopt();
	rc = options_parse(&o, argc, args, err, sizeof(err));
	check_result(&o, rc, err);
	if (!ignore_argv_writes)
		check_permutation(owned, args, argc);
	describe(&o, rc, err, first, sizeof(first));
	/*
	 * The same command line again, into the same struct ("zeroed or
	 * parsed before"): the same result, or the parser keeps state.
	 */
	memcpy(args, owned, sizeof(args));
	if (ignore_getopt_state)
		reset_getopt();
	rc = options_parse(&o, argc, args, err, sizeof(err));
	check_result(&o, rc, err);
	describe(&o, rc, err, second, sizeof(second));
	if (strcmp(first, second) != 0)
		FAIL("the same command line parsed differently the second "
		     "time:\n  %s\n  %s", first, second);
	options_free(&o);
	for (i = 0; i < argc; i++)
		free(owned[i]);
	check_fresh_parse();
	return 0;
}
