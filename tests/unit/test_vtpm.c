/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The core against the real libtpms, with no transport in front: power
 * cycles, commands, every control operation, state blobs and cancellation.
 */
#include "check.h"
#include "tpm2.h"
#include "vtpm.h"

#include <errno.h>
#include <libtpms/tpm_error.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

struct reply {
	pthread_mutex_t lock;
	bool done;
	uint8_t buf[4096];
	uint32_t len;
};

/* Runs one command and returns its response code. */
static uint32_t transact(struct vtpm *v, const uint8_t *cmd, size_t len,
			 struct reply *r)
{
	int n = vtpm_execute(v, cmd, (uint32_t)len, r->buf, sizeof(r->buf));

	if (n < 10)
		return ~0u;
	r->len = (uint32_t)n;
	return tpm2_rc(r->buf);
}

/* A command on a thread of its own, as a second client's would run. */
struct background {
	pthread_t thread;
	struct vtpm *v;
	uint8_t cmd[TPM2_CMD_MAX];
	size_t len;
	struct reply r;
};

static void *run_background(void *arg)
{
	struct background *b = arg;
	struct reply r;

	transact(b->v, b->cmd, b->len, &r);
	pthread_mutex_lock(&b->r.lock);
	memcpy(b->r.buf, r.buf, sizeof(r.buf));
	b->r.len = r.len;
	b->r.done = true;
	pthread_mutex_unlock(&b->r.lock);
	return NULL;
}

static int start_background(struct background *b, struct vtpm *v)
{
	pthread_mutex_init(&b->r.lock, NULL);
	b->r.done = false;
	b->v = v;
	return pthread_create(&b->thread, NULL, run_background, b);
}

static bool background_done(struct background *b)
{
	bool done;

	pthread_mutex_lock(&b->r.lock);
	done = b->r.done;
	pthread_mutex_unlock(&b->r.lock);
	return done;
}

struct fixture {
	char dir[64];
	struct store *store;
	struct vtpm *v;
};

static int exits;
/* A failed CHECK returns early: the next start() ends what it left. */
static struct fixture *live;

static void count_exit(void *ctx)
{
	(void)ctx;
	exits++;
}

static void finish(struct fixture *f);

static struct vtpm *start_with(struct fixture *f, const char *dir,
			       const struct vtpm_config *cfg)
{
	if (live)
		finish(live);
	live = f;

	if (dir) {
		snprintf(f->dir, sizeof(f->dir), "%s", dir);
	} else {
		snprintf(f->dir, sizeof(f->dir), "/tmp/cuse_tpm_vtpm.XXXXXX");
		if (!mkdtemp(f->dir))
			abort();
	}
	if (store_open(&f->store, f->dir, 0600, true, false) < 0)
		abort();
	f->v = vtpm_new(cfg, f->store, count_exit, NULL);
	return f->v;
}

static struct vtpm *start(struct fixture *f, const char *dir)
{
	const struct vtpm_config cfg = { .tpm2 = true, .lock = true };

	return start_with(f, dir, &cfg);
}

static void finish(struct fixture *f)
{
	vtpm_free(f->v);
	store_close(f->store);
	live = NULL;
}

static uint32_t powered(struct vtpm *v)
{
	uint8_t cmd[TPM2_CMD_MAX];
	struct reply r;

	if (vtpm_init(v, 0))
		return ~0u;
	return transact(v, cmd, tpm2_startup(cmd, TPM2_SU_CLEAR), &r);
}

/* A migration source (--migration release-lock-outgoing), powered on. */
static bool start_outgoing(struct fixture *f)
{
	const struct vtpm_config cfg = { .tpm2 = true, .lock = true,
					 .release_lock_outgoing = true };

	return start_with(f, NULL, &cfg) && powered(f->v) == 0;
}

/* The savestate blob goes out: the source lets go of the state. */
static bool hand_over(struct fixture *f)
{
	uint32_t len, flags;
	uint8_t *blob;

	if (vtpm_get_stateblob(f->v, PTM_BLOB_TYPE_SAVESTATE, 0, &blob, &len,
			       &flags))
		return false;
	free(blob);
	return true;
}

static void commands_need_init(void)
{
	static struct fixture f;
	uint8_t cmd[TPM2_CMD_MAX], bit;
	struct reply r;

	CHECK(start(&f, NULL));
	/* off: a well-formed failure response, and control ops say so */
	CHECK_EQ(transact(f.v, cmd, tpm2_get_random(cmd, 8), &r), TPM2_RC_FAILURE);
	CHECK_EQ(r.len, 10);
	CHECK_EQ(vtpm_get_established(f.v, &bit), TPM_BAD_ORDINAL);
	CHECK_EQ(vtpm_hash_start(f.v), TPM_BAD_ORDINAL);
	CHECK_EQ(vtpm_store_volatile(f.v), TPM_BAD_ORDINAL);
	CHECK_EQ(vtpm_cancel(f.v), TPM_BAD_ORDINAL);
	CHECK_EQ(vtpm_reset_established(f.v, 3), TPM_BAD_ORDINAL);
	/* on: commands work */
	CHECK_EQ(powered(f.v), TPM2_RC_SUCCESS);
	CHECK_EQ(transact(f.v, cmd, tpm2_get_random(cmd, 8), &r), 0);
	CHECK_EQ(r.len, 10 + 2 + 8);
	CHECK_EQ(vtpm_get_established(f.v, &bit), 0);
	CHECK_EQ(bit, 0);
	/* INIT is a power cycle: the TPM wants Startup again */
	CHECK_EQ(vtpm_init(f.v, 0), 0);
	CHECK_EQ(transact(f.v, cmd, tpm2_get_random(cmd, 8), &r),
		 TPM2_RC_INITIALIZE);
	CHECK_EQ(vtpm_stop(f.v), 0);
	CHECK_EQ(transact(f.v, cmd, tpm2_get_random(cmd, 8), &r), TPM2_RC_FAILURE);
	finish(&f);
}

static void locality_rules(void)
{
	static struct fixture f;

	CHECK(start(&f, NULL));
	/* works with the TPM off, sticks, rejects > 4 */
	CHECK_EQ(vtpm_set_locality(f.v, 3), 0);
	CHECK_EQ(vtpm_set_locality(f.v, 4), 0);
	CHECK_EQ(vtpm_set_locality(f.v, 5), TPM_BAD_LOCALITY);
	CHECK_EQ(vtpm_set_locality(f.v, 255), TPM_BAD_LOCALITY);
	/* the last good one stuck: TPM2_Startup is not allowed from 4 */
	CHECK_EQ(powered(f.v), TPM2_RC_LOCALITY);
	CHECK_EQ(vtpm_set_locality(f.v, 0), 0);
	CHECK_EQ(powered(f.v), 0);
	CHECK_EQ(vtpm_reset_established(f.v, 5), TPM_BAD_LOCALITY);
	CHECK_EQ(vtpm_reset_established(f.v, 3), 0);
	CHECK_EQ(vtpm_reset_established(f.v, 0), TPM_BAD_LOCALITY);
	finish(&f);
}

/* The locality-4 hash sequence sets the established bit; reset clears it. */
static void hash_sequence_sets_established(void)
{
	static struct fixture f;
	uint8_t bit = 0;
	uint8_t data[4096];

	memset(data, 0xa5, sizeof(data));
	CHECK(start(&f, NULL));
	CHECK_EQ(powered(f.v), 0);
	CHECK_EQ(vtpm_hash_start(f.v), 0);
	CHECK_EQ(vtpm_hash_data(f.v, data, sizeof(data)), 0);
	CHECK_EQ(vtpm_hash_end(f.v), 0);
	CHECK_EQ(vtpm_get_established(f.v, &bit), 0);
	CHECK_EQ(bit, 1);
	CHECK_EQ(vtpm_reset_established(f.v, 4), 0);
	CHECK_EQ(vtpm_get_established(f.v, &bit), 0);
	CHECK_EQ(bit, 0);
	finish(&f);
}

static void buffer_size_clamps(void)
{
	static struct fixture f;
	uint32_t cur, min, max;

	CHECK(start(&f, NULL));
	CHECK_EQ(vtpm_set_buffersize(f.v, 0, &cur, &min, &max), 0);
	CHECK_EQ(cur, 4096);
	CHECK_EQ(max, 4096);
	CHECK(min > 1000 && min < 4096);
	CHECK_EQ(vtpm_set_buffersize(f.v, 100, &cur, &min, &max), 0);
	CHECK_EQ(cur, min);
	CHECK_EQ(vtpm_max_command(f.v), min);
	CHECK_EQ(vtpm_set_buffersize(f.v, 100000, &cur, &min, &max), 0);
	CHECK_EQ(cur, 4096);
	CHECK_EQ(powered(f.v), 0);
	/* a change while running is refused, a query is not */
	CHECK_EQ(vtpm_set_buffersize(f.v, 3000, &cur, &min, &max), TPM_BAD_ORDINAL);
	CHECK_EQ(vtpm_set_buffersize(f.v, 0, &cur, &min, &max), 0);
	CHECK_EQ(cur, 4096);
	finish(&f);
}

static void info_is_libtpms_json(void)
{
	static struct fixture f;
	char *json = NULL;

	CHECK(start(&f, NULL));
	CHECK_EQ(vtpm_get_info(f.v, 1, &json), 0);
	CHECK(json && strstr(json, "\"TPMSpecification\":{\"family\":\"2.0\""));
	free(json);
	CHECK_EQ(vtpm_get_info(f.v, 2, &json), 0);
	CHECK(json && strstr(json, "TPMAttributes"));
	free(json);
	finish(&f);
}

/* GET_INFO's paging, which both codecs use: windows add up to the JSON. */
static void info_windows_page_the_json(void)
{
	static struct fixture f;
	char *json = NULL, page[16], whole[4096];
	uint32_t len, total, off = 0;

	CHECK(start(&f, NULL));
	CHECK_EQ(vtpm_get_info(f.v, 2, &json), 0);
	CHECK(json && strlen(json) > 2 * sizeof(page) &&
	      strlen(json) < sizeof(whole));
	while (off < strlen(json)) {
		CHECK_EQ(vtpm_get_info_window(f.v, 2, off, page, sizeof(page),
					      &len, &total), 0);
		CHECK_EQ(total, strlen(json) + 1);
		CHECK(len > 0 && len <= sizeof(page) && off + len <= total);
		memcpy(whole + off, page, len);
		off += len;
	}
	CHECK_EQ(off, strlen(json) + 1);  /* the NUL came in the last window */
	CHECK(memcmp(whole, json, off) == 0);
	/* from the NUL on there is nothing to page */
	CHECK_EQ(vtpm_get_info_window(f.v, 2, off - 1, page, sizeof(page), &len,
				      &total), TPM_BAD_PARAMETER);
	CHECK_EQ(len, 0);
	CHECK_EQ(total, 0);
	CHECK_EQ(vtpm_get_info_window(f.v, 2, 0xffffffff, page, sizeof(page),
				      &len, &total), TPM_BAD_PARAMETER);
	free(json);
	finish(&f);
}

/*
 * Three blobs out of one TPM into a fresh one: extended PCRs, NV data, a
 * loaded transient key and an open session all come along.
 */
static void state_blobs_migrate(void)
{
	static const uint32_t types[] = { PTM_BLOB_TYPE_PERMANENT,
					  PTM_BLOB_TYPE_VOLATILE,
					  PTM_BLOB_TYPE_SAVESTATE };
	uint8_t cmd[TPM2_CMD_MAX], digest[32], pcr_before[64], nvdata[8];
	uint8_t pub_before[64];
	uint32_t key, session;
	static struct fixture a, b;
	uint8_t *blob[3];
	uint32_t len[3], flags;
	struct reply r;
	int i;

	memset(digest, 0x11, sizeof(digest));
	memcpy(nvdata, "migrate!", 8);
	CHECK(start(&a, NULL));
	CHECK_EQ(powered(a.v), 0);
	CHECK_EQ(transact(a.v, cmd, tpm2_pcr_extend(cmd, 16, digest), &r), 0);
	CHECK_EQ(transact(a.v, cmd, tpm2_pcr_read(cmd, 16), &r), 0);
	memcpy(pcr_before, r.buf + r.len - 32, 32);
	CHECK_EQ(transact(a.v, cmd, tpm2_nv_define(cmd, 0x01500001, 8), &r), 0);
	CHECK_EQ(transact(a.v, cmd, tpm2_nv_write(cmd, 0x01500001, nvdata, 8, 0),
			  &r),
		 0);
	CHECK_EQ(transact(a.v, cmd, tpm2_create_primary(cmd, TPM2_KEY_ECC_P256), &r),
		 0);
	key = tpm2_created_handle(r.buf);
	CHECK_EQ(transact(a.v, cmd, tpm2_read_public(cmd, key), &r), 0);
	memcpy(pub_before, r.buf, sizeof(pub_before));
	CHECK_EQ(transact(a.v, cmd, tpm2_start_auth_session(cmd), &r), 0);
	session = tpm2_created_handle(r.buf);
	for (i = 0; i < 3; i++) {
		CHECK_EQ(vtpm_get_stateblob(a.v, types[i], PTM_STATE_FLAG_DECRYPTED,
					    &blob[i], &len[i], &flags),
			 0);
		CHECK_EQ(flags, 0);
	}
	CHECK(len[0] > 1000 && len[1] > 1000);
	finish(&a);

	CHECK(start(&b, NULL));
	for (i = 0; i < 3; i++) {
		CHECK_EQ(vtpm_set_stateblob(b.v, types[i], 0, blob[i], len[i]), 0);
		free(blob[i]);
	}
	CHECK_EQ(vtpm_init(b.v, PTM_INIT_FLAG_DELETE_VOLATILE), 0);
	/* the volatile state came along: no Startup needed, PCR intact */
	CHECK_EQ(transact(b.v, cmd, tpm2_pcr_read(cmd, 16), &r), 0);
	CHECK(memcmp(r.buf + r.len - 32, pcr_before, 32) == 0);
	CHECK_EQ(transact(b.v, cmd, tpm2_nv_read(cmd, 0x01500001, 8, 0), &r), 0);
	CHECK(memcmp(r.buf + r.len - 5 - 8, nvdata, 8) == 0);
	/* the transient key is loaded, with the same public part */
	CHECK_EQ(transact(b.v, cmd, tpm2_read_public(cmd, key), &r), 0);
	CHECK(memcmp(r.buf, pub_before, sizeof(pub_before)) == 0);
	/*
	 * The session is still open: TPM_CAP_HANDLES from its handle lists
	 * it (the response ends with a count of 1 and the handle).
	 */
	CHECK_EQ(transact(b.v, cmd, tpm2_get_handles(cmd, session, 1), &r), 0);
	CHECK_EQ(r.len, 10 + 1 + 4 + 4 + 4);
	CHECK_EQ(r.buf[18], 1);
	CHECK_EQ(tpm2_created_handle(r.buf + 9), session);
	finish(&b);
}

static void bad_blobs_change_nothing(void)
{
	uint8_t junk[64] = { 2, 1, 0, 10, 0, 4, 0, 0, 0, 64 };
	uint8_t cmd[TPM2_CMD_MAX];
	static struct fixture f;
	struct reply r;

	CHECK(start(&f, NULL));
	CHECK_EQ(powered(f.v), 0);
	/* running: SET is refused outright */
	CHECK_EQ(vtpm_set_stateblob(f.v, PTM_BLOB_TYPE_PERMANENT, 0, junk, 64),
		 TPM_BAD_ORDINAL);
	CHECK_EQ(vtpm_stop(f.v), 0);
	CHECK(vtpm_set_stateblob(f.v, PTM_BLOB_TYPE_PERMANENT, 0, junk, 64) != 0);
	CHECK(vtpm_set_stateblob(f.v, PTM_BLOB_TYPE_PERMANENT, 0, junk, 7) != 0);
	CHECK_EQ(vtpm_set_stateblob(f.v, 9, 0, junk, 64), TPM_BAD_PARAMETER);
	CHECK_EQ(vtpm_set_stateblob(f.v, PTM_BLOB_TYPE_PERMANENT,
				    PTM_STATE_FLAG_ENCRYPTED, junk, 64),
		 TPM_KEYNOTFOUND);
	/* the TPM still comes up with its own state */
	CHECK_EQ(vtpm_init(f.v, 0), 0);
	CHECK_EQ(transact(f.v, cmd, tpm2_startup(cmd, TPM2_SU_STATE), &r), 0);
	finish(&f);
}

/* State persists across processes' worth of start/stop on one directory. */
static void nv_survives_restart(void)
{
	uint8_t cmd[TPM2_CMD_MAX], data[4] = { 1, 2, 3, 4 };
	static struct fixture f;
	char dir[64];
	struct reply r;

	CHECK(start(&f, NULL));
	snprintf(dir, sizeof(dir), "%s", f.dir);
	CHECK_EQ(powered(f.v), 0);
	CHECK_EQ(transact(f.v, cmd, tpm2_nv_define(cmd, 0x01500002, 4), &r), 0);
	CHECK_EQ(transact(f.v, cmd, tpm2_nv_write(cmd, 0x01500002, data, 4, 0), &r),
		 0);
	finish(&f);
	CHECK(start(&f, dir));
	CHECK_EQ(powered(f.v), 0);
	CHECK_EQ(transact(f.v, cmd, tpm2_nv_read(cmd, 0x01500002, 4, 0), &r), 0);
	CHECK(memcmp(r.buf + r.len - 5 - 4, data, 4) == 0);
	finish(&f);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * While CreatePrimary RSA-2048 runs, control operations answer at once and
 * a cancel ends it with TPM_RC_CANCELED.
 */
static void control_while_busy_and_cancel(void)
{
	uint8_t cmd[TPM2_CMD_MAX], bit;
	static struct fixture f;
	static struct background keygen;
	struct reply r;
	char *json;
	double t0, slowest = 0;
	int polls = 0;

	CHECK(start(&f, NULL));
	CHECK_EQ(powered(f.v), 0);
	/* a key of its own: libtpms must generate it, not recall it */
	keygen.len = tpm2_create_primary_rsa_unique(keygen.cmd, 7);
	CHECK_EQ(start_background(&keygen, f.v), 0);
	while (polls < 5) {
		t0 = now();
		CHECK_EQ(vtpm_get_capability(f.v), 0x16fff);
		CHECK_EQ(vtpm_get_established(f.v, &bit), 0);
		CHECK_EQ(vtpm_get_info(f.v, 1, &json), 0);
		free(json);
		if (now() - t0 > slowest)
			slowest = now() - t0;
		polls++;
	}
	CHECK(slowest < 0.25); /* also under valgrind */
	/*
	 * libtpms polls its cancel flag between prime candidates and clears
	 * it when a command starts: keep raising it until the command ends.
	 */
	while (!background_done(&keygen)) {
		CHECK_EQ(vtpm_cancel(f.v), 0);
		usleep(50);
	}
	pthread_join(keygen.thread, NULL);
	pthread_mutex_destroy(&keygen.r.lock);
	printf("# CreatePrimary RSA after cancel: rc 0x%x\n",
	       tpm2_rc(keygen.r.buf));
	/*
	 * valgrind runs one thread at a time and may not let the cancel in
	 * before the key is done; there the path runs but its effect is not
	 * asserted (the plain, ASan and VM runs assert it).
	 */
	if (!getenv("CUSE_TPM_UNDER_VALGRIND"))
		CHECK_EQ(tpm2_rc(keygen.r.buf), TPM2_RC_CANCELED);
	/* the next command is not affected by the old cancel */
	CHECK_EQ(transact(f.v, cmd, tpm2_create_primary(cmd, TPM2_KEY_ECC_P256), &r),
		 0);
	finish(&f);
}

/*
 * Another process tries the lock once (a POSIX lock, which conflicts with
 * our OFD lock): 0 if it got it.  It runs python3 rather than a fork of
 * this process, so leak checkers judge only our own image.
 */
static int other_process_locks(const char *dir)
{
	static const char probe[] =
		"import fcntl, os, sys\n"
		"fd = os.open(sys.argv[1] + '/.lock', os.O_WRONLY)\n"
		"try:\n"
		"    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
		"except OSError:\n"
		"    sys.exit(1)\n";
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		execlp("python3", "python3", "-c", probe, dir, (char *)NULL);
		_exit(2);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* --migration release-lock-outgoing: the savestate blob frees the lock. */
static void release_lock_outgoing(void)
{
	static struct fixture f;
	uint8_t *blob;
	uint32_t len, flags;

	CHECK(start_outgoing(&f));
	CHECK_EQ(other_process_locks(f.dir), 1);
	CHECK_EQ(vtpm_get_stateblob(f.v, PTM_BLOB_TYPE_PERMANENT, 0, &blob, &len,
				    &flags),
		 0);
	free(blob);
	CHECK_EQ(other_process_locks(f.dir), 1); /* not yet */
	CHECK_EQ(vtpm_get_stateblob(f.v, PTM_BLOB_TYPE_SAVESTATE, 0, &blob, &len,
				    &flags),
		 0);
	free(blob);
	CHECK_EQ(other_process_locks(f.dir), 0); /* the destination may lock */
	CHECK_EQ(vtpm_lock_storage(f.v, 10), 0); /* a failed migration */
	CHECK_EQ(other_process_locks(f.dir), 1);
	finish(&f);
}

/*
 * --migration incoming: the first blob takes the lock, but one that is
 * refused leaves the directory unlocked for its owner (the source of a
 * failed migration on shared storage).
 */
static void incoming_refused_blob_leaves_lock(void)
{
	struct vtpm_config cfg = { .tpm2 = true, .lock = true, .incoming = true };
	uint8_t junk[64] = { 2, 1, 0, 10, 0, 4, 0, 0, 0, 64 };
	static struct fixture src, dst;
	uint8_t *blob = NULL;
	uint32_t len, flags;
	int refused_lock, taken_lock;
	ptm_res refused, taken;

	CHECK(start(&src, NULL));
	CHECK_EQ(powered(src.v), 0);
	CHECK_EQ(vtpm_get_stateblob(src.v, PTM_BLOB_TYPE_PERMANENT, 0, &blob,
				    &len, &flags),
		 0);
	if (!start(&dst, NULL)) {
		free(blob);
		CHECK(!"no destination");
	}
	vtpm_free(dst.v);
	dst.v = vtpm_new(&cfg, dst.store, count_exit, NULL);
	if (!dst.v) {
		free(blob);
		CHECK(!"no incoming destination");
	}
	refused = vtpm_set_stateblob(dst.v, PTM_BLOB_TYPE_PERMANENT, 0, junk, 64);
	refused_lock = other_process_locks(dst.dir);
	taken = vtpm_set_stateblob(dst.v, PTM_BLOB_TYPE_PERMANENT, flags, blob,
				   len);
	taken_lock = other_process_locks(dst.dir);
	free(blob);
	CHECK(refused != 0);
	CHECK_EQ(refused_lock, 0); /* the owner may lock */
	CHECK_EQ(taken, 0);
	CHECK_EQ(taken_lock, 1); /* now it is ours */
	finish(&dst);
}

/* A whole file, or NULL if there is none; *len its size. */
static uint8_t *slurp(const char *dir, const char *name, size_t *len)
{
	char path[128];
	uint8_t *buf = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	*len = 0;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		long size = ftell(f);

		buf = size > 0 ? malloc((size_t)size) : NULL;
		rewind(f);
		if (buf && fread(buf, 1, (size_t)size, f) == (size_t)size)
			*len = (size_t)size;
	}
	fclose(f);
	return buf;
}

/*
 * Once the savestate blob went out, the directory is the migration
 * destination's (shared storage): the source, told to stop or to store its
 * volatile state, writes nothing into it.
 */
static void handed_over_state_left_alone(void)
{
	static struct fixture f;
	static struct store *dest;
	uint8_t *before, *after, *volatile_file;
	size_t before_len, after_len, volatile_len;
	ptm_res stored;
	int same;

	CHECK(start_outgoing(&f));
	CHECK(hand_over(&f));
	/* the destination: an open file description of its own, locked */
	CHECK_EQ(store_open(&dest, f.dir, 0600, true, false), 0);
	if (store_lock(dest, 0) < 0) {
		store_close(dest);
		CHECK(!"the destination could not lock");
	}
	before = slurp(f.dir, "tpm2-00.permall", &before_len);
	stored = vtpm_store_volatile(f.v);
	vtpm_stop(f.v);
	after = slurp(f.dir, "tpm2-00.permall", &after_len);
	volatile_file = slurp(f.dir, "tpm2-00.volatilestate", &volatile_len);
	same = before && after && before_len == after_len &&
	       memcmp(before, after, before_len) == 0;
	free(before);
	free(after);
	free(volatile_file);
	store_close(dest);
	CHECK_EQ(stored, TPM_FAIL);
	CHECK(!volatile_file);
	CHECK(same);
	finish(&f);
}

/*
 * A write failed, then the savestate went out and the destination took the
 * lock: the state kept in memory for the retry is not written at exit over
 * the destination's files (it once was, by the flush in store_close).
 */
static void unsaved_state_not_forced_on_lock_holder(void)
{
	static const uint8_t stale[] = "state a failed write left in memory";
	static struct fixture f;
	static struct store *dest;
	uint8_t *before, *after;
	size_t before_len, after_len;
	int same;

	CHECK(start_outgoing(&f));
	CHECK(hand_over(&f));
	CHECK(!store_locked(f.store));
	/* as tpmlib.c keeps it after a failed write */
	CHECK_EQ(store_keep_unsaved(f.store, STORE_PERMALL, stale,
				    sizeof(stale)),
		 0);
	CHECK_EQ(store_open(&dest, f.dir, 0600, true, false), 0);
	if (store_lock(dest, 0) < 0) {
		store_close(dest);
		CHECK(!"the destination could not lock");
	}
	before = slurp(f.dir, "tpm2-00.permall", &before_len);
	vtpm_free(f.v);
	f.v = NULL;
	store_close(f.store);
	f.store = NULL;
	after = slurp(f.dir, "tpm2-00.permall", &after_len);
	same = before && after && before_len == after_len &&
	       memcmp(before, after, before_len) == 0;
	free(before);
	free(after);
	store_close(dest);
	CHECK(same);
	live = NULL;
}

/*
 * LOCK_STORAGE while another process holds the lock: the TPM stays free
 * for commands while it waits, its retries are capped, and quiescing the
 * core ends the wait at once.
 */
struct lock_waiter {
	pthread_t thread;
	struct vtpm *v;
	uint32_t retries;
	ptm_res result;
	bool done;
	pthread_mutex_t lock;
};

static void *wait_for_lock(void *arg)
{
	struct lock_waiter *w = arg;
	ptm_res rc = vtpm_lock_storage(w->v, w->retries);

	pthread_mutex_lock(&w->lock);
	w->result = rc;
	w->done = true;
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void lock_storage_waits_without_the_tpm(void)
{
	static struct fixture f;
	static struct store *dest;
	static struct lock_waiter w = { .lock = PTHREAD_MUTEX_INITIALIZER };
	static struct background b;
	struct timespec wait_for;
	int i;

	CHECK(start_outgoing(&f));
	CHECK(hand_over(&f));
	CHECK_EQ(store_open(&dest, f.dir, 0600, true, false), 0);
	CHECK_EQ(store_lock(dest, 0), 0);
	w.v = f.v;
	w.retries = 0xffffffff;
	w.done = false;
	CHECK_EQ(pthread_create(&w.thread, NULL, wait_for_lock, &w), 0);
	/* a command is answered (refused: the lock is not ours) meanwhile */
	b.len = tpm2_get_random(b.cmd, 8);
	CHECK_EQ(start_background(&b, f.v), 0);
	for (i = 0; i < 3000 && !background_done(&b); i++)
		usleep(10000);
	CHECK(background_done(&b));
	pthread_join(b.thread, NULL);
	vtpm_quiesce(f.v);
	clock_gettime(CLOCK_REALTIME, &wait_for);
	wait_for.tv_sec += 30;
	CHECK_EQ(pthread_timedjoin_np(w.thread, NULL, &wait_for), 0);
	CHECK(w.done && w.result == TPM_FAIL);
	store_close(dest);
	finish(&f);
}

/* Inside vtpm_exclusive(): the TPM is taken, a quick command must not wait. */
static void quick_while_held(struct vtpm_exclusive *x, void *ctx)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[VTPM_IO_MAX];

	*(int *)ctx = vtpm_execute_quick(x->v, cmd, (uint32_t)tpm2_get_random(cmd, 8),
					 resp, sizeof(resp));
}

static void quick_commands_never_wait(void)
{
	static struct fixture f;
	uint8_t cmd[TPM2_CMD_MAX], resp[VTPM_IO_MAX];
	int n = 0;

	CHECK(start(&f, NULL));
	CHECK_EQ(powered(f.v), 0);
	/* GetRandom runs, and answers as vtpm_execute() would */
	n = vtpm_execute_quick(f.v, cmd, (uint32_t)tpm2_get_random(cmd, 8), resp,
			       sizeof(resp));
	CHECK_EQ(n, 10 + 2 + 8);
	CHECK_EQ(tpm_header_code(resp), 0);
	/* key generation is never quick: nothing runs */
	CHECK_EQ(vtpm_execute_quick(f.v, cmd,
				    (uint32_t)tpm2_create_primary(cmd, TPM2_KEY_ECC_P256),
				    resp, sizeof(resp)),
		 -EAGAIN);
	/* neither is a command while the TPM is taken */
	vtpm_exclusive(f.v, quick_while_held, &n);
	CHECK_EQ(n, -EAGAIN);
	finish(&f);
}

static void shutdown_asks_to_exit(void)
{
	static struct fixture f;

	exits = 0;
	CHECK(start(&f, NULL));
	CHECK_EQ(powered(f.v), 0);
	CHECK_EQ(vtpm_shutdown(f.v), 0);
	CHECK_EQ(exits, 1);
	finish(&f);
}

CHECK_MAIN(TEST(commands_need_init), TEST(locality_rules),
	   TEST(hash_sequence_sets_established), TEST(buffer_size_clamps),
	   TEST(info_is_libtpms_json), TEST(info_windows_page_the_json),
	   TEST(state_blobs_migrate),
	   TEST(bad_blobs_change_nothing), TEST(nv_survives_restart),
	   TEST(control_while_busy_and_cancel), TEST(release_lock_outgoing),
	   TEST(handed_over_state_left_alone),
	   TEST(incoming_refused_blob_leaves_lock),
	   TEST(unsaved_state_not_forced_on_lock_holder),
	   TEST(lock_storage_waits_without_the_tpm),
	   TEST(quick_commands_never_wait), TEST(shutdown_asks_to_exit))
