/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Load on the real device (or on the socket channel): control ioctls from
 * several openers while one runs commands, thousands of open/close cycles
 * with things left behind, and many daemons started and stopped at once.
 * No hang, no lost or doubled response, no leaked descriptor or thread, RSS
 * flat.
 *
 *   VTPM_DEV         the device under test (started with
 *                    --flags not-need-init,startup-clear, fresh state)
 *   VTPM_CTRL, VTPM_DATA   or, without VTPM_DEV, the control and data
 *                    sockets of a `cuse_tpm socket` (CMD_* for the ioctls)
 *   VTPM_PID         its daemon's pid, for /proc
 *   CUSE_TPM         the daemon binary, CUSE_TPM_IOCTL the admin tool
 *   LOAD_SECONDS     how long the ioctl hammer runs (default 12)
 *   LOAD_OPENERS     its threads, each its own opener (default 4)
 *   LOAD_CYCLES      open/close cycles (default 3000), LOAD_CYCLE_SECONDS
 *                    their time limit (default 30)
 *   LOAD_RSS_SLACK_KB  how far RSS may rise over the cycles (default 256;
 *                    0: not checked, for ASan's quarantine)
 *   LOAD_DAEMONS     daemons started at once (default 50; 0: none)
 */
#include "check.h"
#include "cuse_tpm/tpm_ioctl.h"
#include "tpm2.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RESP_MAX 4096
#define MAX_OPENERS 64
#define NV_COUNTER 0x01500040 /* rewritten by the command mix */
#define NV_BULK 0x01500041    /* makes the permanent blob span chunks */
#define NV_COUNTER_SIZE 32
#define PCR_LOAD 16
/*
 * libfuse's loop starts a thread when a request finds none idle and (as
 * configured) never ends one: the pool grows to a high-water mark.  With
 * N+1 clients it stays near N+1 (a thread that has replied but not yet
 * gone back to wait still counts as busy): seen 7 to 9 for 5 clients in
 * TCG; far from the loop's cap of 64, and from one per request.
 */
#define THREAD_GROWTH_MAX(openers) (4 * ((openers) + 1))

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && *v ? v : dflt;
}

static long env_long(const char *name, long dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 10) : dflt;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Where the vTPM is served: a device node, or a control and a data socket. */
struct target {
	const char *dev; /* NULL: the sockets */
	const char *ctrl, *data;
	pid_t pid;
};

static struct target target_from_env(void)
{
	struct target t = {
		.dev = getenv("VTPM_DEV"),
		.ctrl = env_or("VTPM_CTRL", ""),
		.data = env_or("VTPM_DATA", ""),
		.pid = (pid_t)env_long("VTPM_PID", 0),
	};

	if (!t.dev && !*t.ctrl)
		t.dev = "/dev/vtpm-test";
	return t;
}

/* A hung daemon fails the test instead of hanging it. */
#define SOCKET_TIMEOUT_S 20

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = SOCKET_TIMEOUT_S };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* An opener of the data path (@flags: O_NONBLOCK, for the device). */
static int open_data(const struct target *t, int flags)
{
	return t->dev ? open(t->dev, O_RDWR | O_CLOEXEC | flags)
		      : connect_unix(t->data);
}

/* An opener of the control path: the same node, or the control socket. */
static int open_ctrl(const struct target *t)
{
	return t->dev ? open(t->dev, O_RDWR | O_CLOEXEC) : connect_unix(t->ctrl);
}

static int read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static bool is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/*
 * write() one command, read() its whole response and check that it is
 * well formed: a TPM 2.0 tag, a header size equal to what the device's
 * one read() returned (a socket may deliver it in parts), and an error
 * only with the no-sessions tag.  Its code, or ~0u.
 */
static uint32_t transact(int fd, const uint8_t *cmd, size_t len, uint8_t *resp,
			 size_t *resp_len)
{
	ssize_t n;
	uint16_t tag;

	if (write(fd, cmd, len) != (ssize_t)len)
		return ~0u;
	n = read(fd, resp, RESP_MAX);
	if (n > 0 && is_socket(fd)) {
		if (n < 10 && read_full(fd, resp + n, 10 - (size_t)n))
			return ~0u;
		n = n < 10 ? 10 : n;
		if (tpm2_size(resp) > RESP_MAX || tpm2_size(resp) < (uint32_t)n ||
		    read_full(fd, resp + n, tpm2_size(resp) - (size_t)n))
			return ~0u;
		n = (ssize_t)tpm2_size(resp);
	}
	if (n < 10 || tpm2_size(resp) != (uint32_t)n)
		return ~0u;
	tag = (uint16_t)(resp[0] << 8 | resp[1]);
	if (tag != 0x8001 && tag != 0x8002)
		return ~0u;
	if (tpm2_rc(resp) && tag != 0x8001)
		return ~0u;
	if (resp_len)
		*resp_len = (size_t)n;
	return tpm2_rc(resp);
}

static void sha256(const uint8_t *data, size_t len, uint8_t out[32])
{
	EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL);
}

/* ---- what the daemon holds ---------------------------------------------- */

struct usage {
	int fds;
	int threads;
	long rss_kb;
};

static int count_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/* The number after "@key:" in a /proc file, or -1. */
static long proc_field(pid_t pid, const char *file, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/*
 * A socket server closes a connection's descriptor when it next sees the
 * client gone, a moment after close() returned here: let it.
 */
#define SETTLE_US 100000

static struct usage usage_of(pid_t pid)
{
	struct usage u = {
		.fds = count_fds(pid),
		.threads = (int)proc_field(pid, "status", "Threads"),
		.rss_kb = proc_field(pid, "smaps_rollup", "Rss"),
	};

	return u;
}

/* ---- 1. control ioctls while commands run -------------------------------- */

struct hammer {
	pthread_t thread;
	const struct target *t;
	atomic_bool *stop;
	unsigned long rounds; /* each is six ioctls */
	unsigned long opens;
	double slowest;
	char err[200];
};

/* One round of the six control ioctls; false with @h->err set on a fault. */
static bool ioctl_round(struct hammer *h, int fd)
{
	struct ptm_est est;
	struct ptm_getconfig cfg;
	struct ptm_getinfo gi;
	struct ptm_loc loc;
	ptm_cap caps = 0;
	ptm_res res = ~0u;

	if (ioctl(fd, PTM_GET_CAPABILITY, &caps) || caps != 0x16fff) {
		snprintf(h->err, sizeof(h->err), "GET_CAPABILITY: %m, 0x%llx",
			 (unsigned long long)caps);
		return false;
	}
	memset(&est, 0xff, sizeof(est));
	if (ioctl(fd, PTM_GET_TPMESTABLISHED, &est) || est.u.resp.tpm_result) {
		snprintf(h->err, sizeof(h->err), "GET_TPMESTABLISHED: %m, 0x%x",
			 est.u.resp.tpm_result);
		return false;
	}
	memset(&cfg, 0xff, sizeof(cfg));
	if (ioctl(fd, PTM_GET_CONFIG, &cfg) || cfg.u.resp.tpm_result ||
	    cfg.u.resp.flags) {
		snprintf(h->err, sizeof(h->err), "GET_CONFIG: %m, 0x%x",
			 cfg.u.resp.tpm_result);
		return false;
	}
	memset(&gi, 0, sizeof(gi));
	gi.u.req.flags = SWTPM_INFO_TPMSPECIFICATION;
	if (ioctl(fd, PTM_GET_INFO, &gi) || gi.u.resp.tpm_result ||
	    !strstr(gi.u.resp.buffer, "TPMSpecification") ||
	    gi.u.resp.totlength != strlen(gi.u.resp.buffer) + 1) {
		snprintf(h->err, sizeof(h->err), "GET_INFO: %m, 0x%x",
			 gi.u.resp.tpm_result);
		return false;
	}
	memset(&loc, 0, sizeof(loc));
	if (ioctl(fd, PTM_SET_LOCALITY, &loc) || loc.u.resp.tpm_result) {
		snprintf(h->err, sizeof(h->err), "SET_LOCALITY: %m, 0x%x",
			 loc.u.resp.tpm_result);
		return false;
	}
	if (ioctl(fd, PTM_CANCEL_TPM_CMD, &res) || res) {
		snprintf(h->err, sizeof(h->err), "CANCEL_TPM_CMD: %m, 0x%x", res);
		return false;
	}
	return true;
}

static uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/*
 * One CMD_* request of @code with @body, and its reply's first @want bytes
 * (none after a result word that is not 0); the result word, or ~0u.
 */
static uint32_t ctrl_call(int fd, uint32_t code, const uint8_t *body,
			  size_t blen, uint8_t *reply, size_t want)
{
	uint8_t req[64] = { code >> 24, code >> 16, code >> 8, code };

	if (blen > sizeof(req) - 4)
		return ~0u;
	if (blen)
		memcpy(req + 4, body, blen);
	if (write(fd, req, 4 + blen) != (ssize_t)(4 + blen) ||
	    read_full(fd, reply, 4))
		return ~0u;
	if (be32_at(reply) == 0 && want > 4 && read_full(fd, reply + 4, want - 4))
		return ~0u;
	return be32_at(reply);
}

/* The same round as CMD_* requests on the control socket. */
static bool ctrl_round(struct hammer *h, int fd)
{
	static const uint8_t info_req[16] = { [7] = SWTPM_INFO_TPMSPECIFICATION };
	static const uint8_t locality0[1];
	uint8_t r[16 + PTM_GETINFO_BUFFER_SIZE];
	uint32_t res, n;

	/* caps: one big-endian 64-bit word, without a result */
	res = ctrl_call(fd, CMD_GET_CAPABILITY, NULL, 0, r, 8);
	if (res != 0 || (be32_at(r + 4) & 0x16fff) != 0x16fff) {
		snprintf(h->err, sizeof(h->err), "CMD_GET_CAPABILITY: 0x%x", res);
		return false;
	}
	res = ctrl_call(fd, CMD_GET_TPMESTABLISHED, NULL, 0, r, 8);
	if (res) {
		snprintf(h->err, sizeof(h->err), "CMD_GET_TPMESTABLISHED: 0x%x", res);
		return false;
	}
	res = ctrl_call(fd, CMD_GET_CONFIG, NULL, 0, r, 8);
	if (res || be32_at(r + 4)) {
		snprintf(h->err, sizeof(h->err), "CMD_GET_CONFIG: 0x%x", res);
		return false;
	}
	res = ctrl_call(fd, CMD_GET_INFO, info_req, sizeof(info_req), r, 12);
	n = res ? 0 : be32_at(r + 8);
	if (res || n > PTM_GETINFO_BUFFER_SIZE || read_full(fd, r + 12, n) ||
	    n < 2 || r[12 + n - 1] || !strstr((char *)r + 12, "TPMSpecification") ||
	    be32_at(r + 4) != n) {
		snprintf(h->err, sizeof(h->err), "CMD_GET_INFO: 0x%x", res);
		return false;
	}
	res = ctrl_call(fd, CMD_SET_LOCALITY, locality0, 1, r, 4);
	if (res) {
		snprintf(h->err, sizeof(h->err), "CMD_SET_LOCALITY: 0x%x", res);
		return false;
	}
	res = ctrl_call(fd, CMD_CANCEL_TPM_CMD, NULL, 0, r, 4);
	if (res) {
		snprintf(h->err, sizeof(h->err), "CMD_CANCEL_TPM_CMD: 0x%x", res);
		return false;
	}
	return true;
}

/*
 * Each hammer opens afresh after this many rounds: opens and releases too.
 * (The control socket serves one client at a time: the others queue.)
 */
#define ROUNDS_PER_OPEN 16

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	int fd = -1;

	while (!atomic_load(h->stop)) {
		double t0 = now(), took;

		if (h->rounds % ROUNDS_PER_OPEN == 0) {
			if (fd >= 0)
				close(fd);
			fd = open_ctrl(h->t);
			if (fd < 0) {
				snprintf(h->err, sizeof(h->err), "open: %m");
				return NULL;
			}
			h->opens++;
		}
		if (!(h->t->dev ? ioctl_round(h, fd) : ctrl_round(h, fd)))
			break;
		took = now() - t0;
		if (took > h->slowest)
			h->slowest = took;
		h->rounds++;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

enum mix { MIX_RANDOM, MIX_EXTEND, MIX_PRIMARY, MIX_NV, MIX_KINDS };

static const char *const mix_name[MIX_KINDS] = { "GetRandom", "PCR_Extend",
						 "CreatePrimary+Flush",
						 "NV_Write" };

static uint32_t read_pcr(int fd, uint8_t out[32])
{
	uint8_t cmd[TPM2_CMD_MAX], resp[RESP_MAX];
	size_t len = 0;
	uint32_t rc = transact(fd, cmd, tpm2_pcr_read(cmd, PCR_LOAD), resp, &len);

	if (rc == 0 && len >= 32)
		memcpy(out, resp + len - 32, 32);
	return rc;
}

static uint32_t nv_define(int fd, uint32_t index, uint16_t size)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[RESP_MAX];
	uint32_t rc = transact(fd, cmd, tpm2_nv_define(cmd, index, size), resp, NULL);

	return rc == 0x14c ? 0 : rc; /* TPM_RC_NV_DEFINED: from an earlier run */
}

/* One command of the mix; 0 or why it failed. */
static const char *run_mix(int fd, enum mix kind, unsigned long seq,
			   uint8_t pcr[32], uint8_t nv[NV_COUNTER_SIZE],
			   unsigned long *cancelled)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[RESP_MAX], chain[64];
	size_t len = 0;
	uint32_t rc;

	switch (kind) {
	case MIX_RANDOM:
		rc = transact(fd, cmd, tpm2_get_random(cmd, 32), resp, &len);
		return rc || len != 10 + 2 + 32 ? "GetRandom" : NULL;
	case MIX_EXTEND:
		memcpy(chain, pcr, 32);
		sha256((const uint8_t *)&seq, sizeof(seq), chain + 32);
		if (transact(fd, cmd, tpm2_pcr_extend(cmd, PCR_LOAD, chain + 32),
			     resp, NULL))
			return "PCR_Extend";
		sha256(chain, sizeof(chain), pcr);
		return NULL;
	case MIX_PRIMARY:
		rc = transact(fd, cmd, tpm2_create_primary(cmd, TPM2_KEY_ECC_P256),
			      resp, NULL);
		if (rc == TPM2_RC_CANCELED) { /* the hammer's CANCEL hit it */
			(*cancelled)++;
			return NULL;
		}
		if (rc)
			return "CreatePrimary ECC";
		return transact(fd, cmd,
				tpm2_flush_context(cmd, tpm2_created_handle(resp)),
				resp, NULL) ? "FlushContext" : NULL;
	case MIX_NV:
		memset(nv, (int)(seq & 0xff), NV_COUNTER_SIZE);
		memcpy(nv, &seq, sizeof(seq));
		return transact(fd, cmd, tpm2_nv_write(cmd, NV_COUNTER, nv,
						       NV_COUNTER_SIZE, 0),
				resp, NULL) ? "NV_Write" : NULL;
	default:
		return "no such command";
	}
}

/*
 * The data opener a test holds, closed after it fails: a socket serves one
 * client at a time, so a leftover would starve the next test.
 */
static int held_fd = -1;

static void close_held(void)
{
	if (held_fd >= 0)
		close(held_fd);
	held_fd = -1;
}

static void ioctls_while_commands_run(void)
{
	const struct target t = target_from_env();
	double seconds = (double)env_long("LOAD_SECONDS", 12), t0, deadline;
	static struct hammer h[MAX_OPENERS];
	long openers = env_long("LOAD_OPENERS", 4);
	unsigned long count[MIX_KINDS] = { 0 }, seq = 0, cancelled = 0, rounds = 0;
	unsigned long opens = 0;
	uint8_t cmd[TPM2_CMD_MAX], resp[RESP_MAX], pcr[32], got[32];
	uint8_t nv[NV_COUNTER_SIZE] = { 0 };
	atomic_bool stop = false;
	const char *bad = NULL;
	double slowest = 0;
	size_t len = 0;
	uint32_t pcr_rc, nv_rc;
	int fd, i, started = 0;
	struct usage u0, u1;

	usleep(SETTLE_US);
	u0 = usage_of(t.pid);
	held_fd = fd = open_data(&t, 0);
	CHECK(fd >= 0);
	CHECK_EQ(nv_define(fd, NV_COUNTER, NV_COUNTER_SIZE), 0);
	CHECK_EQ(read_pcr(fd, pcr), 0);
	memset(h, 0, sizeof(h));
	CHECK(openers > 0 && openers <= MAX_OPENERS);
	for (i = 0; i < openers; i++) {
		h[i].t = &t;
		h[i].stop = &stop;
		if (pthread_create(&h[i].thread, NULL, hammer_run, &h[i]))
			break;
		started++;
	}
	t0 = now();
	deadline = t0 + seconds;
	while (started == openers && now() < deadline) {
		enum mix kind = (enum mix)(seq % MIX_KINDS);

		bad = run_mix(fd, kind, seq, pcr, nv, &cancelled);
		if (bad)
			break;
		count[kind]++;
		seq++;
	}
	atomic_store(&stop, true);
	for (i = 0; i < started; i++) {
		pthread_join(h[i].thread, NULL);
		rounds += h[i].rounds;
		opens += h[i].opens;
		if (h[i].slowest > slowest)
			slowest = h[i].slowest;
	}
	/* what the TPM holds at the end; then every client is gone */
	pcr_rc = read_pcr(fd, got);
	nv_rc = transact(fd, cmd, tpm2_nv_read(cmd, NV_COUNTER, NV_COUNTER_SIZE, 0),
			 resp, &len);
	close_held();
	usleep(SETTLE_US);
	u1 = usage_of(t.pid);
	printf("# %d threads: %lu rounds of 6 control ioctls (%lu ioctls) on "
	       "%lu opens, slowest round %.1f ms; meanwhile %lu commands in "
	       "%.1f s:",
	       started, rounds, rounds * 6, opens, slowest * 1e3, seq,
	       now() - t0);
	for (i = 0; i < MIX_KINDS; i++)
		printf(" %lu %s", count[i], mix_name[i]);
	printf(" (%lu CreatePrimary cancelled)\n", cancelled);
	printf("# daemon before/after: %d/%d fds, %d/%d threads, %ld/%ld kB RSS\n",
	       u0.fds, u1.fds, u0.threads, u1.threads, u0.rss_kb, u1.rss_kb);
	CHECK_EQ(started, openers);
	for (i = 0; i < openers; i++)
		if (h[i].err[0]) {
			check_now.why = h[i].err;
			return;
		}
	if (bad) {
		static char why[64];

		snprintf(why, sizeof(why), "%s after %lu commands", bad, seq);
		check_now.why = why;
		return;
	}
	/* nothing lost, nothing doubled: the PCR is the chain of our extends */
	CHECK_EQ(pcr_rc, 0);
	CHECK(memcmp(got, pcr, 32) == 0);
	CHECK_EQ(nv_rc, 0);
	/* header, parameterSize, TPM2B size, then the data */
	CHECK(len >= 16 + NV_COUNTER_SIZE);
	CHECK(memcmp(resp + 16, nv, NV_COUNTER_SIZE) == 0);
	CHECK(count[MIX_EXTEND] > 0 && count[MIX_NV] > 0 && rounds > 0);
	CHECK_EQ(u1.fds, u0.fds);
	CHECK(u1.threads <= u0.threads + THREAD_GROWTH_MAX(openers));
}

/* ---- 2. open/close cycles ------------------------------------------------ */

enum cycle {
	CY_IOCTL,       /* a control ioctl only */
	CY_ANSWERED,    /* a command and its whole response */
	CY_UNREAD,      /* a command whose response is never read */
	CY_PARTIAL,     /* a response read only in part */
	CY_HALF_BLOB,   /* a state blob whose first chunk alone is read */
	CY_MID_COMMAND, /* closed while its command still runs */
	CY_KINDS
};

/* Every this many closed-mid-command cycles, the command is a slow one. */
#define SLOW_EVERY 5

static const char *const cycle_name[CY_KINDS] = {
	"ioctl-only", "answered", "unread-response", "half-read-response",
	"half-read-blob", "closed-mid-command"
};

/* The control socket's cycles: a request, or a blob left half read. */
static const char *ctrl_cycle(int fd, enum cycle kind)
{
	/* state_flags, type, offset */
	static const uint8_t get_perm[12] = { [7] = PTM_BLOB_TYPE_PERMANENT };
	uint8_t r[16 + 64];

	if (kind == CY_IOCTL)
		return ctrl_call(fd, CMD_GET_CAPABILITY, NULL, 0, r, 8) ||
		       (be32_at(r + 4) & 0x16fff) != 0x16fff ?
			       "CMD_GET_CAPABILITY" : NULL;
	/* result, flags, totlength, length; then the whole blob */
	if (ctrl_call(fd, CMD_GET_STATEBLOB, get_perm, sizeof(get_perm), r, 16) ||
	    be32_at(r + 8) <= PTM_STATE_BLOB_CHUNK || be32_at(r + 12) != be32_at(r + 8) ||
	    read_full(fd, r + 16, 64))
		return "CMD_GET_STATEBLOB";
	return NULL;
}

/*
 * Flushes the transient objects a closed opener's CreatePrimary left; how
 * many, or -1.  Its first command waits for any command still running.
 */
static int flush_transients(const struct target *t)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[RESP_MAX];
	size_t got = 0;
	uint32_t i, n, handles[16];
	int fd = open_data(t, 0), flushed = 0;

	if (fd < 0)
		return -1;
	/* header, moreData, capability, count, then the handles */
	if (transact(fd, cmd, tpm2_get_handles(cmd, 0x80000000, 16), resp, &got) ||
	    got < 19) {
		close(fd);
		return -1;
	}
	n = be32_at(resp + 15);
	if (n > 16 || 19 + 4 * n > got) {
		close(fd);
		return -1;
	}
	for (i = 0; i < n; i++)
		handles[i] = be32_at(resp + 19 + 4 * i);
	for (i = 0; i < n; i++) {
		if (transact(fd, cmd, tpm2_flush_context(cmd, handles[i]), resp,
			     NULL))
			break;
		flushed++;
	}
	close(fd);
	return flushed;
}

/* The device's control cycles: an ioctl, or a blob left half read. */
static const char *ioctl_cycle(int fd, enum cycle kind)
{
	static struct ptm_getstate gs;
	ptm_cap caps = 0;

	if (kind == CY_IOCTL)
		return ioctl(fd, PTM_GET_CAPABILITY, &caps) || caps != 0x16fff ?
			       "GET_CAPABILITY" : NULL;
	memset(&gs, 0, sizeof(gs));
	gs.u.req.type = PTM_BLOB_TYPE_PERMANENT;
	if (ioctl(fd, PTM_GET_STATEBLOB, &gs) || gs.u.resp.tpm_result ||
	    gs.u.resp.length != PTM_STATE_BLOB_CHUNK ||
	    gs.u.resp.totlength <= gs.u.resp.length)
		return "first chunk of a multi-chunk blob";
	return NULL;
}

/* The data path's cycles: a command, its response read whole, in part or not. */
static const char *data_cycle(int fd, enum cycle kind, bool slow)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[RESP_MAX];
	size_t len = slow ? tpm2_create_primary(cmd, TPM2_KEY_ECC_P256)
			  : tpm2_get_random(cmd, 16);
	size_t got = 0;

	switch (kind) {
	case CY_ANSWERED:
		return transact(fd, cmd, len, resp, &got) || got != 10 + 2 + 16 ?
			       "GetRandom lost or malformed" : NULL;
	case CY_UNREAD:
	case CY_MID_COMMAND:
		return write(fd, cmd, len) != (ssize_t)len ? "write" : NULL;
	case CY_PARTIAL:
		return write(fd, cmd, len) != (ssize_t)len ||
			       read(fd, resp, 10) != 10 || tpm2_rc(resp) ||
			       tpm2_size(resp) != 10 + 2 + 16 ?
			       "half-read GetRandom" : NULL;
	default:
		return "no such cycle";
	}
}

/*
 * One open/close cycle; NULL or what went wrong.  A @slow closed-mid-command
 * cycle runs an ECC CreatePrimary (tens of ms in TCG), so the close surely
 * overtakes it; the key it made is then flushed and counted in @keys.
 */
static const char *cycle(const struct target *t, enum cycle kind, bool slow,
			 unsigned long *keys)
{
	bool on_ctrl = kind == CY_IOCTL || kind == CY_HALF_BLOB;
	int fd = on_ctrl ? open_ctrl(t)
			 : open_data(t, kind == CY_MID_COMMAND ? O_NONBLOCK : 0);
	const char *bad;

	if (fd < 0)
		return "open";
	if (on_ctrl)
		bad = t->dev ? ioctl_cycle(fd, kind) : ctrl_cycle(fd, kind);
	else
		bad = data_cycle(fd, kind, slow);
	close(fd);
	if (slow && !bad) {
		if (flush_transients(t) != 1)
			return "the closed opener's CreatePrimary did not run once";
		(*keys)++;
	}
	return bad;
}

/* Enough NV data that the permanent blob spans several chunks. */
static uint32_t fill_nv(const struct target *t)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[RESP_MAX], fill[1024];
	int fd = open_data(t, 0);
	uint32_t rc;

	if (fd < 0)
		return ~0u;
	memset(fill, 0x5a, sizeof(fill));
	rc = nv_define(fd, NV_BULK, 2048);
	if (!rc)
		rc = transact(fd, cmd, tpm2_nv_write(cmd, NV_BULK, fill, 1024, 0),
			      resp, NULL);
	if (!rc)
		rc = transact(fd, cmd, tpm2_nv_write(cmd, NV_BULK, fill, 1024, 1024),
			      resp, NULL);
	close(fd);
	return rc;
}

#define SAMPLES 5

static void open_close_cycles(void)
{
	const struct target t = target_from_env();
	long cycles = env_long("LOAD_CYCLES", 3000), done = 0, warm = cycles / 10;
	long step = (cycles - warm) / SAMPLES;
	double limit = (double)env_long("LOAD_CYCLE_SECONDS", 30), t0 = now();
	long rss_slack = env_long("LOAD_RSS_SLACK_KB", 256);
	unsigned long count[CY_KINDS] = { 0 }, keys = 0;
	struct usage first, base, sample[SAMPLES + 1], last;
	pid_t pid = t.pid;
	const char *bad = NULL;
	long rss_max = 0;
	int nsamples = 0, i;

	CHECK(pid > 0 && step > 0);
	CHECK_EQ(fill_nv(&t), 0);
	usleep(SETTLE_US);
	first = base = usage_of(pid);
	CHECK(first.fds > 0 && first.threads > 0 && first.rss_kb > 0);
	for (done = 0; done < cycles && now() - t0 < limit; done++) {
		enum cycle kind = (enum cycle)(done % CY_KINDS);
		bool slow = kind == CY_MID_COMMAND &&
			    done / CY_KINDS % SLOW_EVERY == 0;

		bad = cycle(&t, kind, slow, &keys);
		if (bad)
			break;
		count[kind]++;
		/* after a warm-up (malloc arenas, the FUSE threads) the baseline */
		if (done + 1 == warm) {
			bad = cycle(&t, CY_ANSWERED, false, NULL);
			usleep(SETTLE_US);
			base = usage_of(pid);
		} else if (done + 1 > warm && (done + 1 - warm) % step == 0 &&
			   nsamples < SAMPLES) {
			bad = cycle(&t, CY_ANSWERED, false, NULL);
			usleep(SETTLE_US);
			sample[nsamples++] = usage_of(pid);
		}
		if (bad)
			break;
	}
	/* a command left running has ended once the next one is answered */
	if (!bad)
		bad = cycle(&t, CY_ANSWERED, false, NULL);
	usleep(SETTLE_US);
	last = usage_of(pid);
	sample[nsamples++] = last;
	printf("# %ld open/close cycles in %.1f s%s:", done, now() - t0,
	       done < cycles ? " (the time limit)" : "");
	for (i = 0; i < CY_KINDS; i++)
		printf(" %lu %s", count[i], cycle_name[i]);
	printf(" (%lu of them ECC CreatePrimary, each run to the end)", keys);
	printf("\n# daemon at start: %d fds, %d threads, %ld kB RSS; after %ld "
	       "warm-up cycles: %d fds, %d threads, %ld kB\n",
	       first.fds, first.threads, first.rss_kb, warm, base.fds,
	       base.threads, base.rss_kb);
	printf("# then every %ld cycles (fds/threads/RSS kB):", step);
	for (i = 0; i < nsamples; i++) {
		printf(" %d/%d/%ld", sample[i].fds, sample[i].threads,
		       sample[i].rss_kb);
		if (sample[i].rss_kb > rss_max)
			rss_max = sample[i].rss_kb;
	}
	printf("\n");
	if (bad) {
		static char why[96];

		snprintf(why, sizeof(why), "cycle %ld (%s): %s", done,
			 cycle_name[done % CY_KINDS], bad);
		check_now.why = why;
		return;
	}
	/* a busy machine may cut the run short: it still needs a sample */
	CHECK(done >= warm + step);
	for (i = 0; i < nsamples; i++) {
		CHECK_EQ(sample[i].fds, base.fds);
		CHECK_EQ(sample[i].threads, base.threads);
	}
	CHECK_EQ(last.fds, first.fds);
	CHECK(rss_slack <= 0 || rss_max <= base.rss_kb + rss_slack);
}

/* ---- 3. many daemons at once --------------------------------------------- */

#define MAX_DAEMONS 128

struct vdaemon {
	char node[48], ctrl[96], data[96], dir[80], pidfile[96], log[96];
	struct target t; /* how to reach it */
	pid_t launcher, pid, stopper;
};

/* fork and exec @argv with stdin and stdout on /dev/null; the child's pid. */
static pid_t spawn(char *const argv[])
{
	pid_t p = fork();

	if (p == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	return p;
}

static bool exited_ok(pid_t p)
{
	int st;

	return p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st) &&
	       WEXITSTATUS(st) == 0;
}

/* Ended: no such process, or a zombie its new parent has yet to reap. */
static bool process_gone(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	bool zombie = false;

	if (kill(pid, 0) && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] == ' ')
		zombie = p[2] == 'Z' || p[2] == 'X';
	fclose(f);
	return zombie;
}

/* Its device node, or its two sockets, are gone. */
static bool endpoints_gone(const struct vdaemon *v)
{
	if (v->t.dev)
		return access(v->node, F_OK) != 0;
	return access(v->ctrl, F_OK) != 0 && access(v->data, F_OK) != 0;
}

/* Nobody holds the state directory's lock (it excludes swtpm too). */
static bool dir_unlocked(const struct vdaemon *v)
{
	char path[96];
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd;
	bool free_;

	snprintf(path, sizeof(path), "%s/.lock", v->dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	free_ = fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type == F_UNLCK;
	close(fd);
	return free_;
}

static pid_t read_pidfile(const char *path)
{
	FILE *f = fopen(path, "re");
	long pid = 0;

	if (f) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return (pid_t)pid;
}

static bool answers(const struct target *t)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[RESP_MAX];
	size_t got = 0;
	int fd = open_data(t, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = transact(fd, cmd, tpm2_get_random(cmd, 8), resp, &got) == 0 &&
	     got == 10 + 2 + 8;
	close(fd);
	return ok;
}

/* Daemon @i of those under @root, as a device like @like or on sockets. */
static pid_t start_vdaemon(struct vdaemon *v, const char *root, long i,
			   const struct target *like, const char *bin)
{
	char tpmstate[96], pidopt[112], logopt[128], ctrlopt[128], dataopt[128];
	char *dev_argv[] = { (char *)bin, "-n", v->node + 5, "--tpmstate",
			     tpmstate, "--pid", pidopt, "--flags",
			     "not-need-init,startup-clear", "--log", logopt,
			     NULL };
	char *sock_argv[] = { (char *)bin, "socket", "--tpm2", "-d", "--tpmstate",
			      tpmstate, "--ctrl", ctrlopt, "--server", dataopt,
			      "--pid", pidopt, "--flags",
			      "not-need-init,startup-clear", "--log", logopt,
			      NULL };

	snprintf(v->node, sizeof(v->node), "/dev/vtpm-load-%02ld", i);
	snprintf(v->ctrl, sizeof(v->ctrl), "%s/%02ld.ctrl", root, i);
	snprintf(v->data, sizeof(v->data), "%s/%02ld.data", root, i);
	snprintf(v->dir, sizeof(v->dir), "%s/%02ld", root, i);
	snprintf(v->pidfile, sizeof(v->pidfile), "%s/%02ld.pid", root, i);
	snprintf(v->log, sizeof(v->log), "%s/%02ld.log", root, i);
	snprintf(tpmstate, sizeof(tpmstate), "dir=%s", v->dir);
	snprintf(pidopt, sizeof(pidopt), "file=%s", v->pidfile);
	snprintf(logopt, sizeof(logopt), "file=%s,level=1", v->log);
	snprintf(ctrlopt, sizeof(ctrlopt), "type=unixio,path=%s", v->ctrl);
	snprintf(dataopt, sizeof(dataopt), "type=unixio,path=%s", v->data);
	v->t.dev = like->dev ? v->node : NULL;
	v->t.ctrl = v->ctrl;
	v->t.data = v->data;
	return spawn(like->dev ? dev_argv : sock_argv);
}

/* Half get SIGTERM, the others the admin tool's -s (PTM_SHUTDOWN). */
static bool stop_vdaemon(struct vdaemon *v, long i, const char *tool)
{
	char *dev_argv[] = { (char *)tool, "-s", v->node, NULL };
	char *sock_argv[] = { (char *)tool, "--unix", v->ctrl, "-s", NULL };

	if (i % 2 == 0)
		return kill(v->pid, SIGTERM) == 0;
	v->stopper = spawn(v->t.dev ? dev_argv : sock_argv);
	return v->stopper > 0;
}

static void many_daemons(void)
{
	static struct vdaemon v[MAX_DAEMONS];
	const struct target like = target_from_env();
	const char *bin = env_or("CUSE_TPM", "build/cuse_tpm");
	const char *tool = env_or("CUSE_TPM_IOCTL", "build/cuse_tpm_ioctl");
	long n = env_long("LOAD_DAEMONS", 50), i;
	int started = 0, answered = 0, locked = 0, stopped = 0, gone = 0;
	int unlocked = 0;
	double t0, t_start, t_answer, t_stop, deadline;
	char root[] = "/tmp/vtpm-load.XXXXXX", rm[64];
	long rss_kb = 0;

	if (n == 0) {
		printf("# LOAD_DAEMONS=0: no daemons started\n");
		return;
	}
	CHECK(n > 0 && n <= MAX_DAEMONS);
	CHECK(mkdtemp(root));
	t0 = now();
	for (i = 0; i < n; i++)
		v[i].launcher = start_vdaemon(&v[i], root, i, &like, bin);
	/* each launcher returns once its node or sockets serve */
	for (i = 0; i < n; i++)
		if (exited_ok(v[i].launcher) &&
		    (v[i].pid = read_pidfile(v[i].pidfile)) > 0)
			started++;
	t_start = now() - t0;
	for (i = 0; i < n; i++) {
		if (v[i].pid <= 0)
			continue;
		answered += answers(&v[i].t);
		rss_kb += proc_field(v[i].pid, "smaps_rollup", "Rss");
		locked += !dir_unlocked(&v[i]);
	}
	t_answer = now() - t0 - t_start;
	/* all stopped at once */
	t0 = now();
	for (i = 0; i < n; i++)
		stopped += v[i].pid > 0 && stop_vdaemon(&v[i], i, tool);
	for (i = 1; i < n; i += 2)
		if (v[i].stopper > 0 && !exited_ok(v[i].stopper))
			stopped--;
	deadline = now() + 60;
	for (i = 0; i < n; i++) {
		while (now() < deadline && v[i].pid > 0 && !process_gone(v[i].pid))
			usleep(20000);
		while (now() < deadline && !endpoints_gone(&v[i]))
			usleep(20000);
		gone += v[i].pid > 0 && process_gone(v[i].pid) &&
			endpoints_gone(&v[i]);
	}
	t_stop = now() - t0;
	for (i = 0; i < n; i++)
		unlocked += dir_unlocked(&v[i]);
	printf("# %ld daemons: %d started in %.1f s, %d answered GetRandom in "
	       "%.1f s, %d held their state dir's lock, %ld kB RSS in all (%ld "
	       "kB each); %d stopped (half SIGTERM, half %s -s), %d processes "
	       "and %s gone in %.1f s, %d state dirs unlocked\n",
	       n, started, t_start, answered, t_answer, locked, rss_kb,
	       started ? rss_kb / started : 0, stopped, tool, gone,
	       like.dev ? "nodes" : "sockets", t_stop, unlocked);
	snprintf(rm, sizeof(rm), "rm -rf %s", root);
	if (gone == n && system(rm) != 0)
		printf("# could not remove %s\n", root);
	CHECK_EQ(started, n);
	CHECK_EQ(answered, n);
	CHECK_EQ(locked, n);
	CHECK_EQ(stopped, n);
	CHECK_EQ(gone, n);
	CHECK_EQ(unlocked, n);
}

CHECK_MAIN_AFTER(close_held, TEST(ioctls_while_commands_run),
		 TEST(open_close_cycles), TEST(many_daemons))
