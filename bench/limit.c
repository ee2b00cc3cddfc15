/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * "The limit": libtpms called in this process, with its NVRAM held in
 * memory.  No thread hop, no file, no kernel: what any transport adds is
 * measured against this.
 */
#include "bench.h"
#include "store.h"
#include "tpm2.h"

#include <errno.h>
#include <libtpms/tpm_error.h>
#include <libtpms/tpm_library.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* libtpms' state files, kept in memory by name. */
struct mem_file {
	const char *name;
	unsigned char *data;
	uint32_t len;
	bool present;
};

static struct mem_file files[] = {
	{ .name = "permall" },
	{ .name = "volatilestate" },
	{ .name = "savestate" },
};

static struct mem_file *file_named(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (strcmp(files[i].name, name) == 0)
			return &files[i];
	return NULL;
}

static void forget_all_files(void)
{
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		free(files[i].data);
		files[i].data = NULL;
		files[i].len = 0;
		files[i].present = false;
	}
}

static TPM_RESULT mem_nvram_init(void)
{
	return TPM_SUCCESS;
}

static TPM_RESULT mem_load(unsigned char **data, uint32_t *length,
			   uint32_t tpm_number, const char *name)
{
	struct mem_file *f = file_named(name);

	(void)tpm_number;
	if (!f || !f->present)
		return TPM_RETRY; /* libtpms' word for "no such state yet" */
	*data = malloc(f->len ? f->len : 1); /* libtpms frees it */
	if (!*data)
		return TPM_FAIL;
	memcpy(*data, f->data, f->len);
	*length = f->len;
	return TPM_SUCCESS;
}

static TPM_RESULT mem_store(const unsigned char *data, uint32_t length,
			    uint32_t tpm_number, const char *name)
{
	struct mem_file *f = file_named(name);
	unsigned char *copy;

	(void)tpm_number;
	if (!f)
		return TPM_FAIL;
	copy = malloc(length ? length : 1);
	if (!copy)
		return TPM_FAIL;
	memcpy(copy, data, length);
	free(f->data);
	f->data = copy;
	f->len = length;
	f->present = true;
	return TPM_SUCCESS;
}

static TPM_RESULT mem_delete(uint32_t tpm_number, const char *name,
			     TPM_BOOL must_exist)
{
	struct mem_file *f = file_named(name);

	(void)tpm_number;
	(void)must_exist;
	if (!f)
		return TPM_FAIL;
	free(f->data);
	f->data = NULL;
	f->len = 0;
	f->present = false;
	return TPM_SUCCESS;
}

static TPM_RESULT io_init(void)
{
	return TPM_SUCCESS;
}

static TPM_RESULT locality_zero(TPM_MODIFIER_INDICATOR *loc, uint32_t tpm_number)
{
	(void)tpm_number;
	*loc = 0;
	return TPM_SUCCESS;
}

static TPM_RESULT no_physical_presence(TPM_BOOL *pp, uint32_t tpm_number)
{
	(void)tpm_number;
	*pp = FALSE;
	return TPM_SUCCESS;
}

static void setup_libtpms(void)
{
	static struct libtpms_callbacks cbs = {
		.sizeOfStruct = sizeof(struct libtpms_callbacks),
		.tpm_nvram_init = mem_nvram_init,
		.tpm_nvram_loaddata = mem_load,
		.tpm_nvram_storedata = mem_store,
		.tpm_nvram_deletename = mem_delete,
		.tpm_io_init = io_init,
		.tpm_io_getlocality = locality_zero,
		.tpm_io_getphysicalpresence = no_physical_presence,
	};

	if (TPMLIB_ChooseTPMVersion(TPMLIB_TPM_VERSION_2) != TPM_SUCCESS ||
	    TPMLIB_RegisterCallbacks(&cbs) != TPM_SUCCESS)
		die("libtpms offers no TPM 2.0");
}

/* libtpms' response buffer, grown by libtpms and reused across calls. */
static unsigned char *lib_resp;
static uint32_t lib_resp_cap;

static int limit_transact(struct transport *t, const uint8_t *cmd, size_t len,
			  uint8_t *resp, size_t *resp_len)
{
	uint32_t n = 0;

	(void)t;
	/* libtpms takes a non-const buffer but does not write to it */
	if (TPMLIB_Process(&lib_resp, &n, &lib_resp_cap, (unsigned char *)cmd,
			   (uint32_t)len) != TPM_SUCCESS ||
	    n < 10 || n > RESP_MAX) {
		fprintf(stderr, "bench: libtpms could not process a command\n");
		return -1;
	}
	memcpy(resp, lib_resp, n);
	*resp_len = n;
	return 0;
}

/* Powers the TPM on and sends Startup(CLEAR); its time in ns, 0 on failure. */
static uint64_t power_on(struct transport *t)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[RESP_MAX];
	uint64_t t0 = now_ns();

	if (TPMLIB_MainInit() != TPM_SUCCESS)
		return 0;
	if (tpm_call(t, cmd, tpm2_startup(cmd, TPM2_SU_CLEAR), resp, NULL))
		return 0;
	return now_ns() - t0;
}

/* As the daemon powers off: an orderly Shutdown(STATE), then Terminate. */
static void power_off(struct transport *t)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[RESP_MAX];

	tpm_call(t, cmd, tpm2_shutdown(cmd, TPM2_SU_STATE), resp, NULL);
	TPMLIB_Terminate();
}

static void limit_close(struct transport *t)
{
	power_off(t);
	free(lib_resp);
	lib_resp = NULL;
	lib_resp_cap = 0;
	forget_all_files();
}

/* Fills the in-memory NVRAM from a state directory's files. */
static int preload(const char *dir)
{
	struct store *st;
	size_t i, len;
	int b, rc = 0;

	if (store_open(&st, dir, 0640, true, false) < 0) {
		fprintf(stderr, "bench: cannot read state directory %s\n", dir);
		return -1;
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		uint8_t *data = NULL;

		b = store_blob_by_name(files[i].name);
		rc = store_load(st, b, &data, &len);
		if (rc == -ENOENT) {
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
		files[i].data = data;
		files[i].len = (uint32_t)len;
		files[i].present = true;
	}
	store_close(st);
	return rc;
}

int limit_open(struct transport *t, const char *state_dir)
{
	t->label = "limit";
	t->transact = limit_transact;
	t->prepare = NULL;
	t->before_command = NULL;
	t->close = limit_close;
	t->fd = -1;
	t->ctx = NULL;
	t->pid = 0;
	if (state_dir && preload(state_dir) < 0)
		return -1;
	setup_libtpms();
	if (!power_on(t)) {
		fprintf(stderr, "bench: libtpms failed to start the TPM\n");
		return -1;
	}
	return 0;
}

/*
 * limit-switched: a process switch away and back before each command, not
 * timed.  A server's command always runs right after one (the client's
 * write wakes it), and that costs the command its caches and, under TCG,
 * its whole TLB: the limit's tight loop never pays that.
 */
static void switch_away(struct transport *t)
{
	char c = 0;

	if (write(t->fd, &c, 1) != 1 || read(t->fd, &c, 1) != 1)
		die("limit-switched: its echo process is gone");
}

static void switched_close(struct transport *t)
{
	int status;

	close(t->fd);
	t->fd = -1;
	waitpid((pid_t)(intptr_t)t->ctx, &status, 0);
}

int limit_attach_switched(struct transport *t)
{
	int sv[2];
	pid_t pid;
	char c;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    (pid = fork()) < 0) {
		fprintf(stderr, "bench: limit-switched: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) { /* the echo: one byte back for each byte in */
		/* holding no device or socket the parent opened before */
		if (dup2(sv[1], 3) < 0)
			_exit(1);
		closefrom(4);
		while (read(3, &c, 1) == 1 && write(3, &c, 1) == 1)
			;
		_exit(0);
	}
	close(sv[1]);
	t->label = "limit-switched";
	t->transact = limit_transact;
	t->prepare = NULL;
	t->before_command = switch_away;
	t->close = switched_close;
	t->fd = sv[0];
	t->ctx = (void *)(intptr_t)pid;
	t->pid = 0; /* its CPU is not a server's */
	return 0;
}

static void print_init_times(const char *path, bool fresh, struct samples *s)
{
	result_begin("startup", path, fresh ? "fresh" : "existing");
	result_kv("runs", "%zu", s->n);
	result_kv("median_ms", "%.3f", samples_median_ms(s));
	result_kv("min_ms", "%.3f", samples_pct_us(s, 0.001) / 1e3);
	result_kv("max_ms", "%.3f", samples_pct_us(s, 100) / 1e3);
	result_end();
}

/*
 * The first power-on in a new process, as a daemon's: libtpms' one-time
 * set-up (its crypto library) included.  Forked, so the parent must not have
 * touched libtpms yet; the child inherits the NVRAM files in memory.
 */
static uint64_t time_cold_power_on(void)
{
	struct transport t = { .transact = limit_transact, .fd = -1 };
	uint64_t ns = 0;
	int pfd[2], status;
	pid_t pid;

	if (pipe(pfd) < 0 || (pid = fork()) < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		uint64_t t0 = now_ns();

		setup_libtpms();
		if (power_on(&t))
			ns = now_ns() - t0;
		_exit(write(pfd[1], &ns, sizeof(ns)) == sizeof(ns) ? 0 : 1);
	}
	close(pfd[1]);
	if (read(pfd[0], &ns, sizeof(ns)) != sizeof(ns))
		ns = 0;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	if (!ns)
		die("libtpms failed to start the TPM");
	return ns;
}

static void time_cold(unsigned runs, bool fresh, const char *state_dir)
{
	struct samples s;
	unsigned i;

	forget_all_files();
	if (!fresh && preload(state_dir) < 0)
		die("cannot load the state in %s", state_dir);
	samples_init(&s, runs);
	for (i = 0; i < runs; i++)
		samples_add(&s, time_cold_power_on());
	print_init_times("limit-cold", fresh, &s);
	samples_free(&s);
}

/* Power-ons in a process that has had libtpms running already. */
static void time_warm(struct transport *t, unsigned runs, bool fresh)
{
	struct samples s;
	unsigned i;
	uint64_t ns;

	samples_init(&s, runs);
	for (i = 0; i < runs; i++) {
		if (fresh)
			forget_all_files();
		ns = power_on(t);
		if (!ns)
			die("libtpms failed to start the TPM");
		samples_add(&s, ns);
		power_off(t);
	}
	print_init_times("limit-warm", fresh, &s);
	samples_free(&s);
}

/*
 * bench init RUNS STATE_DIR: libtpms' own MainInit + Startup(CLEAR), from
 * no state and from the state in STATE_DIR.
 */
int cmd_init(int argc, char **argv)
{
	struct transport t = { .transact = limit_transact, .fd = -1 };
	unsigned runs;

	if (argc != 3 || !(runs = (unsigned)atoi(argv[1])))
		die("usage: bench init RUNS STATE_DIR");
	time_cold(runs, true, NULL);
	time_cold(runs, false, argv[2]);
	/* from here on libtpms is set up in this process */
	setup_libtpms();
	forget_all_files();
	time_warm(&t, runs, true);
	forget_all_files();
	if (preload(argv[2]) < 0)
		die("cannot load the state in %s", argv[2]);
	time_warm(&t, runs, false);
	forget_all_files();
	free(lib_resp);
	lib_resp = NULL;
	return 0;
}
