/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hostile openers on the real device (issue 12), each tried the way it once
 * broke the daemon:
 *
 *  - a thousand openers park state blob transfers: the daemon's memory
 *    stays under a bound that does not grow with them, the ones past it
 *    get a clear ENOMEM or EBUSY, and the owner's commands go on;
 *  - 64 non-owner writers at once: each gets EBUSY without a FUSE thread
 *    sleeping out the release grace for it, and the owner's commands go on;
 *  - a hundred ioctls that need the TPM queued behind an RSA key
 *    generation: cancel, capability and the established bit still answer
 *    while the key is being made, and the cancel ends it.
 *
 * Timing is reported ("# ..." lines), never asserted tightly: the bounds
 * only tell a wait from a hang, or a sleep of the grace from none.
 *
 *   VTPM_DEV              the device (TPM 2.0, powered and started)
 *   VTPM_PID              its daemon's pid, for /proc
 *   HOSTILE_OPENERS       openers that park transfers (default 1000)
 *   HOSTILE_RSS_MAX_KB    how far the daemon's RSS may grow (default 32768)
 */
#include "check.h"
#include "cuse_tpm/tpm_ioctl.h"
#include "tpm2.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define RESP_MAX 4096
#define OWNER_SAMPLES 200
#define NON_OWNERS 64
#define NON_OWNER_WRITES 5
#define QUEUED_IOCTLS 100
/* the daemon's release grace (cuse.c): a write that slept it took this */
#define RELEASE_GRACE_S 0.2

static long env_long(const char *name, long dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 10) : dflt;
}

static const char *dev(void)
{
	const char *d = getenv("VTPM_DEV");

	return d ? d : "/dev/vtpm-test";
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A number of the daemon's /proc/PID/status ("VmRSS:", "Threads:"), or -1. */
static long daemon_status(const char *key)
{
	char path[64], line[256];
	size_t n = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status",
		 env_long("VTPM_PID", 0));
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n)) {
			v = strtol(line + n, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* write() one command and read() the whole response; its code or ~0. */
static uint32_t transact(int fd, const uint8_t *cmd, size_t len)
{
	uint8_t resp[RESP_MAX];
	ssize_t n;

	if (write(fd, cmd, len) != (ssize_t)len)
		return ~0u;
	n = read(fd, resp, sizeof(resp));
	if (n < 10 || tpm2_size(resp) != (uint32_t)n)
		return ~0u;
	return tpm2_rc(resp);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The p99 of @n samples (sorted in place). */
static double p99(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
}

/*
 * The owner's p99 over OWNER_SAMPLES GetRandom commands, or -1 if one
 * failed.
 */
static double owner_p99(int fd)
{
	static double lat[OWNER_SAMPLES];
	uint8_t cmd[TPM2_CMD_MAX];
	size_t len = tpm2_get_random(cmd, 16);
	int i;

	for (i = 0; i < OWNER_SAMPLES; i++) {
		double t0 = now();

		if (transact(fd, cmd, len) != 0)
			return -1;
		lat[i] = now() - t0;
	}
	return p99(lat, OWNER_SAMPLES);
}

static double idle_p99 = -1;

/* NV data enough that the permanent blob spans several ioctl chunks. */
#define NV_BULK 0x01500051

static uint32_t fill_nv(int fd)
{
	uint8_t cmd[TPM2_CMD_MAX], fill[1024];
	uint32_t rc, off;

	memset(fill, 0x5a, sizeof(fill));
	rc = transact(fd, cmd, tpm2_nv_define(cmd, NV_BULK, 2048));
	if (rc == 0x14c)
		rc = 0; /* TPM_RC_NV_DEFINED: from an earlier run */
	for (off = 0; !rc && off < 2048; off += sizeof(fill))
		rc = transact(fd, cmd,
			      tpm2_nv_write(cmd, NV_BULK, fill, sizeof(fill),
					    (uint16_t)off));
	return rc;
}

/* ---- 1. a thousand openers park blob transfers --------------------------- */

static int *parked;
static long nparked;
/* a test's own descriptors: a failed test's are closed after it */
static int owner = -1, ctl = -1;

static void close_leftovers(void)
{
	long i;

	for (i = 0; i < nparked; i++)
		if (parked[i] >= 0)
			close(parked[i]);
	free(parked);
	parked = NULL;
	nparked = 0;
	if (owner >= 0)
		close(owner);
	if (ctl >= 0)
		close(ctl);
	owner = ctl = -1;
}

/*
 * Parks a write()-fed SET_STATEBLOB: an empty ioctl opens it, then up to
 * 512 KiB follow.  0 once parked, or the errno that refused it.
 */
static int park_set(int fd)
{
	static uint8_t chunk[128 * 1024];
	struct ptm_setstate ss;
	int i;

	memset(&ss, 0, sizeof(ss));
	ss.u.req.type = PTM_BLOB_TYPE_PERMANENT;
	if (ioctl(fd, PTM_SET_STATEBLOB, &ss) < 0)
		return errno;
	if (ss.u.resp.tpm_result)
		return EPROTO;
	memset(chunk, 0xa5, sizeof(chunk));
	for (i = 0; i < 4; i++)
		if (write(fd, chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
			return errno;
	return 0;
}

/* Parks a GET_STATEBLOB read only up to its first chunk. */
static int park_get(int fd)
{
	struct ptm_getstate gs;

	memset(&gs, 0, sizeof(gs));
	gs.u.req.type = PTM_BLOB_TYPE_PERMANENT;
	if (ioctl(fd, PTM_GET_STATEBLOB, &gs) < 0)
		return errno;
	return gs.u.resp.tpm_result ? EPROTO : 0;
}

static void parked_transfers_stay_bounded(void)
{
	long n = env_long("HOSTILE_OPENERS", 1000);
	long bound = env_long("HOSTILE_RSS_MAX_KB", 32768);
	struct rlimit rl = { .rlim_cur = n + 64, .rlim_max = n + 64 };
	long rss0, rss1, rss2, i, set_ok = 0, get_ok = 0, refused = 0, odd = 0;
	double loaded;
	int fd, err;

	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0 ||
	      getrlimit(RLIMIT_NOFILE, &rl) == 0);
	parked = calloc((size_t)n, sizeof(*parked));
	CHECK(parked);
	owner = open(dev(), O_RDWR);
	CHECK(owner >= 0);
	CHECK_EQ(fill_nv(owner), 0);
	idle_p99 = owner_p99(owner);
	CHECK(idle_p99 > 0);
	rss0 = daemon_status("VmRSS:");
	for (i = 0; i < n; i++) {
		fd = open(dev(), O_RDWR);
		if (fd < 0)
			break;
		parked[nparked++] = fd;
		err = i % 2 ? park_get(fd) : park_set(fd);
		if (!err && i % 2)
			get_ok++;
		else if (!err)
			set_ok++;
		else if (err == ENOMEM || err == EBUSY)
			refused++;
		else
			odd++;
	}
	rss1 = daemon_status("VmRSS:");
	loaded = owner_p99(owner);
	printf("# %ld openers: %ld SET (512 KiB each) and %ld GET (permanent "
	       "blob, first chunk read) transfers parked, %ld refused, %ld other errors; daemon RSS %ld -> %ld "
	       "KiB (+%ld, bound +%ld); owner p99 %.2f ms idle, %.2f ms "
	       "loaded (%.1fx)\n",
	       nparked, set_ok, get_ok, refused, odd, rss0, rss1, rss1 - rss0,
	       bound, idle_p99 * 1e3, loaded * 1e3, loaded / idle_p99);
	CHECK_EQ(nparked, n);
	CHECK_EQ(odd, 0);
	CHECK(refused > 0);
	CHECK(rss1 >= 0 && rss1 - rss0 < bound);
	/* generous: parked transfers hold no thread, the owner goes on */
	CHECK(loaded > 0 && loaded < 10 * idle_p99 + 0.25);
	close_leftovers();
	rss2 = daemon_status("VmRSS:");
	printf("# after the openers closed: RSS %ld KiB\n", rss2);
	/* the budget came back: a transfer parks again */
	fd = open(dev(), O_RDWR);
	CHECK(fd >= 0);
	err = park_set(fd);
	close(fd);
	CHECK_EQ(err, 0);
}

/* ---- 2. 64 non-owner writers ------------------------------------------- */

struct writer {
	pthread_t thread;
	int fd;
	int writes;
	int busy;       /* writes refused with EBUSY */
	int other;      /* anything else */
	double lat[NON_OWNER_WRITES];
};

static void *non_owner_write(void *arg)
{
	struct writer *w = arg;
	uint8_t cmd[TPM2_CMD_MAX];
	size_t len = tpm2_get_random(cmd, 8);
	int i;

	for (i = 0; i < w->writes; i++) {
		double t0 = now();
		ssize_t n = write(w->fd, cmd, len);

		w->lat[i] = now() - t0;
		if (n < 0 && errno == EBUSY)
			w->busy++;
		else
			w->other++;
	}
	return NULL;
}

/*
 * @writes from each of the NON_OWNERS writers at once; their latencies
 * land in @lat, the refusals are counted.  The owner's p99 meanwhile if
 * @owner_p99_out, else the owner stays idle.
 */
static void run_writers(struct writer *w, int writes, double *lat,
			int *busy, int *other, double *owner_p99_out)
{
	int i, j;

	for (i = 0; i < NON_OWNERS; i++) {
		w[i].writes = writes;
		w[i].busy = w[i].other = 0;
		if (pthread_create(&w[i].thread, NULL, non_owner_write, &w[i]))
			w[i].writes = -1;
	}
	if (owner_p99_out)
		*owner_p99_out = owner_p99(owner);
	for (i = 0; i < NON_OWNERS; i++) {
		if (w[i].writes < 0) {
			(*other)++;
			continue;
		}
		pthread_join(w[i].thread, NULL);
		*busy += w[i].busy;
		*other += w[i].other;
		for (j = 0; j < writes; j++)
			lat[i * writes + j] = w[i].lat[j];
	}
}

static void non_owner_writers_wait_for_nothing(void)
{
	static struct writer w[NON_OWNERS];
	static double lat[NON_OWNERS * NON_OWNER_WRITES];
	long threads0 = daemon_status("Threads:"), threads1;
	int i, busy = 0, other = 0;
	uint8_t cmd[TPM2_CMD_MAX];
	double loaded = -1, idle_median, median;

	owner = open(dev(), O_RDWR);
	CHECK(owner >= 0);
	/* the owner: its command makes it hold the data path while open */
	CHECK_EQ(transact(owner, cmd, tpm2_get_random(cmd, 8)), 0);
	if (idle_p99 < 0)
		idle_p99 = owner_p99(owner);
	for (i = 0; i < NON_OWNERS; i++) {
		w[i].fd = open(dev(), O_RDWR);
		CHECK(w[i].fd >= 0);
	}
	/* the owner idle: each write once waited out the release grace */
	run_writers(w, 1, lat, &busy, &other, NULL);
	qsort(lat, NON_OWNERS, sizeof(lat[0]), cmp_double);
	idle_median = lat[NON_OWNERS / 2];
	/* the owner busy meanwhile */
	run_writers(w, NON_OWNER_WRITES, lat, &busy, &other, &loaded);
	for (i = 0; i < NON_OWNERS; i++)
		close(w[i].fd);
	threads1 = daemon_status("Threads:");
	qsort(lat, NON_OWNERS * NON_OWNER_WRITES, sizeof(lat[0]), cmp_double);
	median = lat[NON_OWNERS * NON_OWNER_WRITES / 2];
	printf("# %d non-owner writers: %d EBUSY, %d other; write median %.2f "
	       "ms with the owner idle, %.2f ms (p99 %.2f ms) with it busy; "
	       "owner p99 %.2f ms (idle %.2f ms, %.1fx); daemon threads %ld "
	       "-> %ld\n",
	       NON_OWNERS, busy, other, idle_median * 1e3, median * 1e3,
	       p99(lat, NON_OWNERS * NON_OWNER_WRITES) * 1e3, loaded * 1e3,
	       idle_p99 * 1e3, loaded / idle_p99, threads0, threads1);
	CHECK_EQ(busy, NON_OWNERS * (1 + NON_OWNER_WRITES));
	CHECK(loaded > 0 && loaded < 10 * idle_p99 + 0.25);
	/* once each such write slept the whole grace on a FUSE thread */
	CHECK(idle_median < RELEASE_GRACE_S / 2);
}

/* ---- 3. cancel with a hundred ioctls queued behind a key generation ----- */

/*
 * Writes an RSA CreatePrimary: once write() returns, the key is being made.
 * The write is O_NONBLOCK: a blocking one returns only once its command has
 * run, as /dev/tpm0's does.
 */
static bool start_key(int fd, uint8_t unique)
{
	uint8_t cmd[TPM2_CMD_MAX];
	size_t len = tpm2_create_primary_rsa_unique(cmd, unique);
	int flags = fcntl(fd, F_GETFL);
	bool ok;

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return false;
	ok = write(fd, cmd, len) == (ssize_t)len;
	/* the response is read once poll() says it is there */
	return fcntl(fd, F_SETFL, flags) == 0 && ok;
}

/* Whether the key's response is there (the command ended). */
static bool key_done(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* Reads the key's response; flushes the key. Its response code. */
static uint32_t finish_key(int fd)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[RESP_MAX];
	uint32_t rc;

	if (read(fd, resp, sizeof(resp)) < 10)
		return ~0u;
	rc = tpm2_rc(resp);
	if (rc == 0)
		transact(fd, cmd, tpm2_flush_context(cmd, tpm2_created_handle(resp)));
	return rc;
}

struct queued {
	pthread_t thread;
	int fd;
	int result; /* 0: answered, else the ioctl's errno */
};

static atomic_int queued_started;

/* An ioctl that needs the TPM: it waits for the key, or is refused. */
static void *queue_ioctl(void *arg)
{
	struct queued *q = arg;
	struct ptm_setbuffersize sb;

	memset(&sb, 0, sizeof(sb)); /* 0: only asks the size */
	atomic_fetch_add(&queued_started, 1);
	q->result = ioctl(q->fd, PTM_SET_BUFFERSIZE, &sb) < 0 ? errno : 0;
	return NULL;
}

static void cancel_answers_with_the_pool_busy(void)
{
	static struct queued q[QUEUED_IOCTLS];
	int i, answered, refused, other;
	bool during = false;
	struct ptm_est est;
	ptm_cap caps;
	ptm_res res;
	uint32_t rc = ~0u;
	uint8_t unique;
	double t0, quick;

	/* the key is made by the owner */
	owner = open(dev(), O_RDWR);
	ctl = open(dev(), O_RDWR);
	CHECK(owner >= 0 && ctl >= 0);
	for (i = 0; i < QUEUED_IOCTLS; i++) {
		q[i].fd = open(dev(), O_RDWR);
		CHECK(q[i].fd >= 0);
	}
	/* libtpms polls its cancel flag between prime candidates only */
	for (unique = 21; unique <= 28; unique++) {
		CHECK(start_key(owner, unique));
		atomic_store(&queued_started, 0);
		for (i = 0; i < QUEUED_IOCTLS; i++)
			CHECK_EQ(pthread_create(&q[i].thread, NULL, queue_ioctl,
						&q[i]),
				 0);
		while (atomic_load(&queued_started) < QUEUED_IOCTLS)
			usleep(1000);
		usleep(50000); /* they reach the daemon and wait there */
		t0 = now();
		CHECK_EQ(ioctl(ctl, PTM_GET_CAPABILITY, &caps), 0);
		memset(&est, 0, sizeof(est));
		CHECK_EQ(ioctl(ctl, PTM_GET_TPMESTABLISHED, &est), 0);
		res = 0xdeadbeef;
		CHECK_EQ(ioctl(ctl, PTM_CANCEL_TPM_CMD, &res), 0);
		quick = now() - t0;
		/* answered while the key was still being made? */
		during = !key_done(owner);
		/* libtpms clears its flag when a command starts: keep raising it */
		while (!key_done(owner)) {
			CHECK_EQ(ioctl(ctl, PTM_CANCEL_TPM_CMD, &res), 0);
			usleep(1000);
		}
		rc = finish_key(owner);
		answered = refused = other = 0;
		for (i = 0; i < QUEUED_IOCTLS; i++) {
			pthread_join(q[i].thread, NULL);
			if (q[i].result == 0)
				answered++;
			else if (q[i].result == EBUSY)
				refused++;
			else
				other++;
		}
		printf("# key %u: capability, established bit and cancel took "
		       "%.2f ms with %d ioctls queued (%s the keygen), rc "
		       "0x%x; queued: %d answered, %d EBUSY, %d other\n",
		       unique, quick * 1e3, QUEUED_IOCTLS,
		       during ? "during" : "after", rc, answered, refused,
		       other);
		CHECK_EQ(other, 0);
		if (during && rc == TPM2_RC_CANCELED)
			break;
	}
	CHECK(during);
	CHECK_EQ(rc, TPM2_RC_CANCELED);
	for (i = 0; i < QUEUED_IOCTLS; i++)
		close(q[i].fd);
}

CHECK_MAIN_AFTER(close_leftovers, TEST(parked_transfers_stay_bounded),
		 TEST(non_owner_writers_wait_for_nothing),
		 TEST(cancel_answers_with_the_pool_busy))
