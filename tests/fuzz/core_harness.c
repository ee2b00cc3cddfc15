/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A real core for the fuzz targets that need one (#included by
 * cuse_harness.c and fuzz_ctrl.c; not a target of its own): one struct
 * vtpm per process, TPM 2 with libtpms running, its state in a temporary
 * directory removed at exit, made once by core_init().  restore_tpm() puts
 * it back into one known state before each input (stopped, the pristine
 * permanent state, default buffer size, locality 0, INIT,
 * TPM2_Startup(CLEAR)), so that an input means the same thing every time.
 *
 * FUZZ_VERBOSE=1 keeps the daemon's and libtpms' log on stderr;
 * FUZZ_TRACE=1 lets a target print what it does.
 */
#include "log.h"
#include "store.h"
#include "tpm2.h"
#include "vtpm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libtpms/tpm_library.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define H_FAIL(...)                                                            \
	do {                                                                   \
		fprintf(stderr, "%s: ", harness_name);                         \
		fprintf(stderr, __VA_ARGS__);                                  \
		fputc('\n', stderr);                                           \
		abort();                                                       \
	} while (0)

static const char *harness_name = "fuzz-cuse";
/* FUZZ_TRACE=1: every request and answer on stderr, to read an input */
static bool trace;

#define TRACE(...)                                                             \
	do {                                                                   \
		if (trace)                                                     \
			fprintf(stderr, "  " __VA_ARGS__);                     \
	} while (0)

static struct vtpm *vtpm;
static struct store *store;
static char state_dir[64];
static uint8_t *pristine_perm;
static uint32_t pristine_perm_len;
static uint32_t default_buffersize;
/* PTM_SHUTDOWN / CMD_SHUTDOWN asked the process to end */
static unsigned exit_requests;

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void restore_tpm(void)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[64];
	uint32_t a, b, c;
	int n;

	vtpm_stop(vtpm);
	vtpm_set_buffersize(vtpm, default_buffersize, &a, &b, &c);
	vtpm_set_locality(vtpm, 0);
	if (vtpm_set_stateblob(vtpm, PTM_BLOB_TYPE_PERMANENT, 0, pristine_perm,
			       pristine_perm_len))
		H_FAIL("cannot restore the pristine permanent state");
	vtpm_set_stateblob(vtpm, PTM_BLOB_TYPE_VOLATILE, 0, NULL, 0);
	vtpm_set_stateblob(vtpm, PTM_BLOB_TYPE_SAVESTATE, 0, NULL, 0);
	if (vtpm_init(vtpm, PTM_INIT_FLAG_DELETE_VOLATILE))
		H_FAIL("PTM_INIT of the pristine state failed");
	n = vtpm_execute(vtpm, cmd, (uint32_t)tpm2_startup(cmd, TPM2_SU_CLEAR),
			 resp, sizeof(resp));
	if (n < TPM_HEADER_SIZE || tpm2_rc(resp) != 0)
		H_FAIL("TPM2_Startup of the pristine state failed");
}

static void on_exit_request(void *ctx)
{
	(void)ctx;
	exit_requests++; /* PTM_SHUTDOWN: the daemon would end its loop */
}

static void remove_state_dir(void)
{
	DIR *d = opendir(state_dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' || (e->d_name[1] && e->d_name[1] != '.'))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(state_dir);
}

static void core_init(const char *name)
{
	struct vtpm_config cfg = { .tpm2 = true, .lock = true };
	struct log_config lc = { .file = "-", .fd = -1 };
	uint8_t *blob;
	uint32_t len, flags, c;

	harness_name = name;
	trace = getenv("FUZZ_TRACE") != NULL;
	if (!getenv("FUZZ_VERBOSE"))
		log_open(&lc);
	snprintf(state_dir, sizeof(state_dir), "/tmp/cuse_tpm_fuzz.XXXXXX");
	if (!mkdtemp(state_dir))
		H_FAIL("mkdtemp: %s", strerror(errno));
	atexit(remove_state_dir);
	/* not durable: fsync would only slow the fuzzer down */
	if (store_open(&store, state_dir, 0600, true, false) < 0)
		H_FAIL("store_open %s", state_dir);
	vtpm = vtpm_new(&cfg, store, on_exit_request, NULL);
	if (!vtpm)
		H_FAIL("vtpm_new: %s", strerror(errno));
	if (!getenv("FUZZ_VERBOSE"))
		/* libtpms' own complaints about fuzzed state blobs */
		TPMLIB_SetDebugFD(open("/dev/null", O_WRONLY | O_CLOEXEC));
	if (vtpm_set_buffersize(vtpm, 0, &default_buffersize, &c, &c))
		H_FAIL("cannot query the buffer size");
	if (vtpm_init(vtpm, 0))
		H_FAIL("PTM_INIT failed");
	{
		uint8_t cmd[TPM2_CMD_MAX], resp[64];
		int n = vtpm_execute(vtpm, cmd,
				     (uint32_t)tpm2_startup(cmd, TPM2_SU_CLEAR),
				     resp, sizeof(resp));

		if (n < TPM_HEADER_SIZE || tpm2_rc(resp) != 0)
			H_FAIL("TPM2_Startup failed");
	}
	if (vtpm_get_stateblob(vtpm, PTM_BLOB_TYPE_PERMANENT, 0, &blob, &len,
			       &flags) || !blob)
		H_FAIL("cannot read the permanent state");
	pristine_perm = blob;
	pristine_perm_len = len;
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "%s: state in %s, permanent blob %u bytes, "
			"buffer size %u\n", name, state_dir, len,
			default_buffersize);
}
