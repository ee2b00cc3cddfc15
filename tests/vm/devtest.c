/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device's contract, tested through the real kernel: data-path
 * semantics of /dev/tpm0, every ioctl (before and after INIT, with bad
 * arguments), several openers, control while busy, cancel, state blobs.
 *
 * Needs a running cuse_tpm (TPM 2.0, started without --flags) at $VTPM_DEV.
 * Tests run in order and leave the TPM powered and started.
 */
#include "check.h"
#include "cuse_tpm/tpm_ioctl.h"
#include "tpm2.h"

#include <errno.h>
#include <fcntl.h>
#include <libtpms/tpm_error.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static const char *dev(void)
{
	const char *d = getenv("VTPM_DEV");

	return d ? d : "/dev/vtpm-test";
}

/* Descriptors a test opened: a failed test's are closed after it. */
static int opened[16];
static size_t nopened;

static int open_dev(int flags)
{
	int fd = open(dev(), O_RDWR | flags);

	if (fd >= 0 && nopened < sizeof(opened) / sizeof(opened[0]))
		opened[nopened++] = fd;
	return fd;
}

static void close_leftovers(void)
{
	while (nopened)
		close(opened[--nopened]); /* EBADF for those already closed */
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* An ioctl that answers with a bare result word. */
static ptm_res simple(int fd, unsigned long req)
{
	ptm_res res = 0xdeadbeef;

	if (ioctl(fd, req, &res) < 0)
		return 0xffffffff;
	return res;
}

static ptm_res do_init(int fd, uint32_t flags)
{
	struct ptm_init in = { .u.req.init_flags = flags };

	if (ioctl(fd, PTM_INIT, &in) < 0)
		return 0xffffffff;
	return in.u.resp.tpm_result;
}

static ptm_res set_locality(int fd, uint8_t loc)
{
	struct ptm_loc l = { .u.req.loc = loc };

	if (ioctl(fd, PTM_SET_LOCALITY, &l) < 0)
		return 0xffffffff;
	return l.u.resp.tpm_result;
}

/* write() one command and read() the whole response; its code or ~0. */
static uint32_t transact(int fd, const uint8_t *cmd, size_t len, uint8_t *resp,
			 size_t *resp_len)
{
	ssize_t n;

	if (write(fd, cmd, len) != (ssize_t)len)
		return ~0u;
	n = read(fd, resp, 4096);
	if (n < 10 || tpm2_size(resp) != (uint32_t)n)
		return ~0u;
	if (resp_len)
		*resp_len = (size_t)n;
	return tpm2_rc(resp);
}

static uint32_t startup(int fd)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[4096];

	return transact(fd, cmd, tpm2_startup(cmd, TPM2_SU_CLEAR), resp, NULL);
}

static void ioctls_before_init(void)
{
	int fd = open_dev(0);
	ptm_cap caps = 0;
	struct ptm_est est;
	struct ptm_reset_est rst = { .u.req.loc = 3 };
	struct ptm_getstate gs = { .u.req.type = PTM_BLOB_TYPE_PERMANENT };
	struct ptm_getconfig cfg;
	struct ptm_setbuffersize sb = { .u.req.buffersize = 0 };
	struct ptm_getinfo gi = { .u.req.flags = 1 };
	struct ptm_lockstorage ls = { .u.req.retries = 0 };
	ptm_res res;

	CHECK(fd >= 0);
	CHECK_EQ(ioctl(fd, PTM_GET_CAPABILITY, &caps), 0);
	CHECK_EQ(caps, 0x16fff);
	CHECK_EQ(ioctl(fd, PTM_GET_TPMESTABLISHED, &est), 0);
	CHECK_EQ(est.u.resp.tpm_result, TPM_BAD_ORDINAL);
	CHECK_EQ(simple(fd, PTM_HASH_START), TPM_BAD_ORDINAL);
	CHECK_EQ(simple(fd, PTM_HASH_END), TPM_BAD_ORDINAL);
	CHECK_EQ(simple(fd, PTM_CANCEL_TPM_CMD), TPM_BAD_ORDINAL);
	CHECK_EQ(simple(fd, PTM_STORE_VOLATILE), TPM_BAD_ORDINAL);
	CHECK_EQ(ioctl(fd, PTM_RESET_TPMESTABLISHED, &rst), 0);
	CHECK_EQ(rst.u.resp.tpm_result, TPM_BAD_ORDINAL);
	CHECK_EQ(ioctl(fd, PTM_GET_STATEBLOB, &gs), 0);
	CHECK_EQ(gs.u.resp.tpm_result, TPM_BAD_ORDINAL);
	CHECK_EQ(ioctl(fd, PTM_GET_CONFIG, &cfg), 0);
	CHECK_EQ(cfg.u.resp.tpm_result, 0);
	CHECK_EQ(cfg.u.resp.flags, 0);
	CHECK_EQ(set_locality(fd, 0), 0);
	CHECK_EQ(set_locality(fd, 5), TPM_BAD_LOCALITY);
	CHECK_EQ(ioctl(fd, PTM_SET_BUFFERSIZE, &sb), 0);
	CHECK_EQ(sb.u.resp.tpm_result, 0);
	CHECK_EQ(sb.u.resp.buffersize, 4096);
	CHECK_EQ(ioctl(fd, PTM_GET_INFO, &gi), 0);
	CHECK_EQ(gi.u.resp.tpm_result, 0);
	CHECK(strstr(gi.u.resp.buffer, "TPMSpecification"));
	CHECK_EQ(gi.u.resp.totlength, strlen(gi.u.resp.buffer) + 1);
	CHECK_EQ(ioctl(fd, PTM_LOCK_STORAGE, &ls), 0);
	CHECK_EQ(ls.u.resp.tpm_result, 0);
	/* not for a device, and not ours at all */
	CHECK_EQ(ioctl(fd, PTM_SET_DATAFD, &res), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(ioctl(fd, _IOR('P', 99, ptm_res), &res), -1);
	CHECK_EQ(errno, ENOTTY);
	close(fd);
}

/* Before INIT a command gets a well-formed TPM_RC_FAILURE response. */
static void command_before_init_fails_cleanly(void)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[4096];
	size_t len = 0;
	int fd = open_dev(0);

	CHECK(fd >= 0);
	CHECK_EQ(transact(fd, cmd, tpm2_get_random(cmd, 8), resp, &len),
		 TPM2_RC_FAILURE);
	CHECK_EQ(len, 10);
	close(fd);
}

/* The locality set before INIT applies to commands after it, and sticks. */
static void locality_sticks(void)
{
	int fd = open_dev(0);

	CHECK(fd >= 0);
	CHECK_EQ(set_locality(fd, 4), 0);
	CHECK_EQ(do_init(fd, 0), 0);
	CHECK_EQ(startup(fd), TPM2_RC_LOCALITY); /* not from locality 4 */
	CHECK_EQ(set_locality(fd, 0), 0);
	CHECK_EQ(startup(fd), 0);
	close(fd);
}

static void read_write_like_tpm0(void)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[4096];
	size_t len = tpm2_get_random(cmd, 16);
	int fd = open_dev(0);
	ssize_t n;

	CHECK(fd >= 0);
	CHECK_EQ(read(fd, resp, sizeof(resp)), 0); /* nothing pending */
	CHECK_EQ(write(fd, cmd, len), (ssize_t)len);
	/* a second command before the response is read: busy */
	CHECK_EQ(write(fd, cmd, len), -1);
	CHECK_EQ(errno, EBUSY);
	/* partial reads, as tpm2-tss' device TCTI does them */
	CHECK_EQ(read(fd, resp, 10), 10);
	CHECK_EQ(tpm2_rc(resp), 0);
	CHECK_EQ(tpm2_size(resp), 10 + 2 + 16);
	CHECK_EQ(read(fd, resp + 10, 5), 5);
	n = read(fd, resp + 15, sizeof(resp) - 15);
	CHECK_EQ(n, 13);
	CHECK_EQ(read(fd, resp, sizeof(resp)), 0); /* consumed: EOF */
	/* a started response may be dropped by the next command */
	CHECK_EQ(write(fd, cmd, len), (ssize_t)len);
	CHECK_EQ(read(fd, resp, 4), 4);
	CHECK_EQ(write(fd, cmd, len), (ssize_t)len);
	CHECK_EQ(read(fd, resp, sizeof(resp)), 28);
	CHECK_EQ(tpm2_rc(resp), 0);
	close(fd);
}

static void malformed_commands_are_refused(void)
{
	static uint8_t big[8192];
	uint8_t cmd[TPM2_CMD_MAX], resp[4096];
	size_t len = tpm2_get_random(cmd, 8);
	int fd = open_dev(0);

	CHECK(fd >= 0);
	/* larger than the buffer: refused whole, never truncated */
	memcpy(big, cmd, len);
	big[2] = 0; big[3] = 0; big[4] = 0x10; big[5] = 0x01; /* 4097 */
	CHECK_EQ(write(fd, big, 4097), -1);
	CHECK_EQ(errno, E2BIG);
	CHECK_EQ(write(fd, cmd, 5), -1); /* shorter than a header */
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(write(fd, cmd, len - 1), -1); /* header says more */
	CHECK_EQ(errno, EINVAL);
	memcpy(big, cmd, len);
	CHECK_EQ(write(fd, big, len + 4), -1); /* header says less */
	CHECK_EQ(errno, EINVAL);
	/* nothing of that left a response behind */
	CHECK_EQ(read(fd, resp, sizeof(resp)), 0);
	CHECK_EQ(transact(fd, cmd, len, resp, NULL), 0);
	close(fd);
}

static void nonblocking_and_poll(void)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[4096];
	size_t len = tpm2_create_primary(cmd, TPM2_KEY_RSA2048);
	struct pollfd p;
	int fd = open_dev(O_NONBLOCK);
	ssize_t n;
	double t0 = now();

	CHECK(fd >= 0);
	p.fd = fd;
	p.events = POLLIN | POLLOUT;
	CHECK_EQ(poll(&p, 1, 0), 1);
	CHECK_EQ(p.revents, POLLOUT); /* idle: ready for a command */
	CHECK_EQ(write(fd, cmd, len), (ssize_t)len);
	/*
	 * Returned before the key was made: the keeper answered the write
	 * held for CUSE_NONBLOCK_HOLD_US, and the key is still being made.
	 */
	p.events = POLLIN;
	CHECK_EQ(poll(&p, 1, 0), 0);
	CHECK_EQ(read(fd, resp, sizeof(resp)), -1);
	CHECK_EQ(errno, EAGAIN);
	CHECK_EQ(poll(&p, 1, 120000), 1);
	CHECK(p.revents & POLLIN);
	n = read(fd, resp, sizeof(resp));
	CHECK(n > 10);
	CHECK_EQ(tpm2_rc(resp), 0);
	CHECK_EQ(fcntl(fd, F_SETFL, 0), 0); /* blocking again for transact() */
	CHECK_EQ(transact(fd, cmd, tpm2_flush_context(cmd, tpm2_created_handle(resp)),
			  resp, NULL),
		 0);
	printf("# O_NONBLOCK CreatePrimary RSA: %.0f ms\n", (now() - t0) * 1e3);
	close(fd);
}

/*
 * A quick command (no key generation) with the TPM free: the O_NONBLOCK
 * write returns with the response already there, so the first poll() finds
 * it and no notification is needed.
 */
static void nonblocking_quick_command_ready_at_write(void)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[4096];
	size_t len = tpm2_get_random(cmd, 16);
	struct pollfd p;
	int fd = open_dev(O_NONBLOCK), i;

	CHECK(fd >= 0);
	p.fd = fd;
	p.events = POLLIN;
	for (i = 0; i < 20; i++) {
		CHECK_EQ(write(fd, cmd, len), (ssize_t)len);
		CHECK_EQ(poll(&p, 1, 0), 1);
		CHECK(p.revents & POLLIN);
		CHECK_EQ(read(fd, resp, sizeof(resp)), 10 + 2 + 16);
		CHECK_EQ(tpm2_rc(resp), 0);
	}
	close(fd);
}

static void second_opener_controls_but_cannot_write(void)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[4096];
	size_t len = tpm2_get_random(cmd, 8);
	int a = open_dev(0), b = open_dev(0);
	ptm_cap caps;
	struct ptm_est est;

	CHECK(a >= 0 && b >= 0);
	CHECK_EQ(transact(a, cmd, len, resp, NULL), 0); /* a holds the path */
	CHECK_EQ(write(b, cmd, len), -1);
	CHECK_EQ(errno, EBUSY);
	CHECK_EQ(ioctl(b, PTM_GET_CAPABILITY, &caps), 0);
	CHECK_EQ(ioctl(b, PTM_GET_TPMESTABLISHED, &est), 0);
	CHECK_EQ(est.u.resp.tpm_result, 0);
	close(a);
	CHECK_EQ(transact(b, cmd, len, resp, NULL), 0); /* released on close */
	close(b);
}

static void nothing_leaks_to_the_next_opener(void)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[4096];
	size_t len = tpm2_get_random(cmd, 8);
	int a = open_dev(0), b;

	CHECK(a >= 0);
	CHECK_EQ(write(a, cmd, len), (ssize_t)len);
	close(a); /* response never read */
	b = open_dev(0);
	CHECK(b >= 0);
	CHECK_EQ(read(b, resp, sizeof(resp)), 0);
	CHECK_EQ(transact(b, cmd, len, resp, NULL), 0);
	close(b);
}

struct busy {
	int fd;
	uint8_t unique; /* a key never made before: no cached result */
	uint32_t rc;
	double took;
};

static void *run_create_primary(void *arg)
{
	struct busy *bz = arg;
	uint8_t cmd[TPM2_CMD_MAX], resp[4096];
	double t0 = now();

	bz->rc = transact(bz->fd, cmd,
			  tpm2_create_primary_rsa_unique(cmd, bz->unique), resp,
			  NULL);
	if (bz->rc == 0)
		transact(bz->fd, cmd,
			 tpm2_flush_context(cmd, tpm2_created_handle(resp)), resp,
			 NULL);
	bz->took = now() - t0;
	return NULL;
}

/*
 * While one opener waits on RSA keygen, another is answered at once, and a
 * cancel ends the keygen.  libtpms polls its cancel flag only between prime
 * candidates, and a key's last stretch may poll it seldom (a cancel raised
 * for 270 ms was seen to miss): up to eight fresh keys are tried.
 */
static void control_while_busy_then_cancel(void)
{
	struct busy bz = { .fd = open_dev(0) };
	int ctl = open_dev(0);
	struct ptm_getinfo gi;
	struct ptm_est est;
	pthread_t t;
	ptm_cap caps;
	double t0, slowest = 0;
	int i;

	CHECK(bz.fd >= 0 && ctl >= 0);
	for (bz.unique = 1; bz.unique <= 8; bz.unique++) {
		CHECK_EQ(pthread_create(&t, NULL, run_create_primary, &bz), 0);
		usleep(100000);
		for (i = 0; i < 5; i++) {
			t0 = now();
			CHECK_EQ(ioctl(ctl, PTM_GET_CAPABILITY, &caps), 0);
			CHECK_EQ(ioctl(ctl, PTM_GET_TPMESTABLISHED, &est), 0);
			CHECK_EQ(est.u.resp.tpm_result, 0);
			memset(&gi, 0, sizeof(gi));
			gi.u.req.flags = 1;
			CHECK_EQ(ioctl(ctl, PTM_GET_INFO, &gi), 0);
			CHECK_EQ(gi.u.resp.tpm_result, 0);
			if (now() - t0 > slowest)
				slowest = now() - t0;
		}
		/* libtpms clears its flag when a command starts: keep raising it */
		while (pthread_tryjoin_np(t, NULL) == EBUSY) {
			CHECK_EQ(simple(ctl, PTM_CANCEL_TPM_CMD), 0);
			usleep(1000);
		}
		printf("# key %u: 3 control ioctls during CreatePrimary: slowest "
		       "%.2f ms; command took %.0f ms, rc 0x%x\n", bz.unique,
		       slowest * 1e3, bz.took * 1e3, bz.rc);
		if (bz.rc == TPM2_RC_CANCELED)
			break;
	}
	CHECK(slowest < 0.25);
	CHECK_EQ(bz.rc, TPM2_RC_CANCELED);
	close(bz.fd);
	close(ctl);
}

static void hash_sequence_and_established(void)
{
	int fd = open_dev(0);
	static struct ptm_hdata hdata;
	struct ptm_hdata *hd = &hdata;
	struct ptm_reset_est rst = { .u.req.loc = 3 };
	struct ptm_est est;

	CHECK(fd >= 0);
	CHECK_EQ(simple(fd, PTM_HASH_START), 0);
	hd->u.req.length = 4096;
	memset(hd->u.req.data, 0x5a, 4096);
	CHECK_EQ(ioctl(fd, PTM_HASH_DATA, hd), 0);
	CHECK_EQ(hd->u.resp.tpm_result, 0);
	hd->u.req.length = 4097; /* more than the ioctl carries */
	CHECK_EQ(ioctl(fd, PTM_HASH_DATA, hd), 0);
	CHECK_EQ(hd->u.resp.tpm_result, TPM_FAIL);
	CHECK_EQ(simple(fd, PTM_HASH_END), 0);
	CHECK_EQ(ioctl(fd, PTM_GET_TPMESTABLISHED, &est), 0);
	CHECK_EQ(est.u.resp.bit, 1);
	CHECK_EQ(ioctl(fd, PTM_RESET_TPMESTABLISHED, &rst), 0);
	CHECK_EQ(rst.u.resp.tpm_result, 0);
	CHECK_EQ(ioctl(fd, PTM_GET_TPMESTABLISHED, &est), 0);
	CHECK_EQ(est.u.resp.bit, 0);
	rst.u.req.loc = 5; /* answered, not hung */
	CHECK_EQ(ioctl(fd, PTM_RESET_TPMESTABLISHED, &rst), 0);
	CHECK_EQ(rst.u.resp.tpm_result, TPM_BAD_LOCALITY);
	close(fd);
	/* the hash sequence ended the session's Startup: power-cycle */
	fd = open_dev(0);
	CHECK_EQ(do_init(fd, 0), 0);
	CHECK_EQ(startup(fd), 0);
	close(fd);
}

#define BLOB_MAX (256 * 1024)

/* The whole blob through ioctl chunks into @blob; its length or 0. */
static uint32_t get_blob_ioctl(int fd, uint32_t type, uint8_t *blob)
{
	static struct ptm_getstate gs;
	uint32_t off = 0, total = 0;

	do {
		memset(&gs, 0, sizeof(gs));
		gs.u.req.type = type;
		gs.u.req.state_flags = PTM_STATE_FLAG_DECRYPTED;
		gs.u.req.offset = off;
		if (ioctl(fd, PTM_GET_STATEBLOB, &gs) < 0 || gs.u.resp.tpm_result)
			return 0;
		total = gs.u.resp.totlength;
		if (total > BLOB_MAX || gs.u.resp.length > total - off)
			return 0;
		memcpy(blob + off, gs.u.resp.data, gs.u.resp.length);
		off += gs.u.resp.length;
	} while (off < total && gs.u.resp.length);
	return off == total ? total : 0;
}

/* The first chunk by ioctl, the rest by read() in @chunk-byte reads. */
static uint32_t get_blob_read(int fd, uint32_t type, uint8_t *blob,
			      size_t chunk)
{
	static struct ptm_getstate gs;
	uint32_t off, total;
	ssize_t n;

	memset(&gs, 0, sizeof(gs));
	gs.u.req.type = type;
	gs.u.req.state_flags = PTM_STATE_FLAG_DECRYPTED;
	if (ioctl(fd, PTM_GET_STATEBLOB, &gs) < 0 || gs.u.resp.tpm_result)
		return 0;
	total = gs.u.resp.totlength;
	if (total > BLOB_MAX)
		return 0;
	memcpy(blob, gs.u.resp.data, gs.u.resp.length);
	off = gs.u.resp.length;
	while (off < total && (n = read(fd, blob + off, chunk)) > 0)
		off += (uint32_t)n;
	return off == total ? total : 0;
}

static struct ptm_setstate ss;

static ptm_res set_blob_ioctl(int fd, uint32_t type, const uint8_t *blob,
			      uint32_t len)
{
	uint32_t off = 0, n;
	ptm_res res;

	do {
		n = len - off > 3072 ? 3072 : len - off;
		memset(&ss, 0, sizeof(ss));
		ss.u.req.type = type;
		ss.u.req.length = n;
		memcpy(ss.u.req.data, blob + off, n);
		if (ioctl(fd, PTM_SET_STATEBLOB, &ss) < 0)
			return 0xffffffff;
		res = ss.u.resp.tpm_result;
		off += n;
	} while (res == 0 && n == 3072);
	return res;
}

static ptm_res set_blob_write(int fd, uint32_t type, const uint8_t *blob,
			      uint32_t len, size_t chunk)
{
	uint32_t off = 0;

	memset(&ss, 0, sizeof(ss));
	ss.u.req.type = type; /* length 0: the data follows by write() */
	if (ioctl(fd, PTM_SET_STATEBLOB, &ss) < 0 || ss.u.resp.tpm_result)
		return 0xffffffff;
	while (off < len) {
		size_t n = len - off > chunk ? chunk : len - off;

		if (write(fd, blob + off, n) != (ssize_t)n)
			return 0xfffffffe;
		off += (uint32_t)n;
	}
	memset(&ss, 0, sizeof(ss));
	ss.u.req.type = type;
	if (ioctl(fd, PTM_SET_STATEBLOB, &ss) < 0)
		return 0xffffffff;
	return ss.u.resp.tpm_result;
}

static void state_blobs_round_trip(void)
{
	static uint8_t perm[BLOB_MAX], perm2[BLOB_MAX], vol[BLOB_MAX];
	uint8_t cmd[TPM2_CMD_MAX], resp[4096], digest[32], pcr[32];
	uint32_t plen, plen2, vlen;
	size_t rlen;
	int fd = open_dev(0), i;

	memset(digest, 0x42, sizeof(digest));
	CHECK(fd >= 0);
	/* NV contents make the permanent blob span several ioctl chunks */
	for (i = 0; i < 2; i++) {
		uint8_t fill[1024];

		memset(fill, 0x30 + i, sizeof(fill));
		CHECK_EQ(transact(fd, cmd, tpm2_nv_define(cmd, 0x01500020 + i, 2048),
				  resp, NULL),
			 0);
		CHECK_EQ(transact(fd, cmd, tpm2_nv_write(cmd, 0x01500020 + i, fill,
							 1024, 0),
				  resp, NULL),
			 0);
		CHECK_EQ(transact(fd, cmd, tpm2_nv_write(cmd, 0x01500020 + i, fill,
							 1024, 1024),
				  resp, NULL),
			 0);
	}
	CHECK_EQ(transact(fd, cmd, tpm2_pcr_extend(cmd, 16, digest), resp, NULL), 0);
	CHECK_EQ(transact(fd, cmd, tpm2_pcr_read(cmd, 16), resp, &rlen), 0);
	memcpy(pcr, resp + rlen - 32, 32);
	plen = get_blob_ioctl(fd, PTM_BLOB_TYPE_PERMANENT, perm);
	CHECK(plen > 3072); /* more than one chunk */
	plen2 = get_blob_read(fd, PTM_BLOB_TYPE_PERMANENT, perm2, 100);
	CHECK_EQ(plen2, plen);
	CHECK(memcmp(perm, perm2, plen) == 0);
	vlen = get_blob_read(fd, PTM_BLOB_TYPE_VOLATILE, vol, 4096);
	CHECK(vlen > 0);
	/* SET while running is refused */
	CHECK_EQ(set_blob_ioctl(fd, PTM_BLOB_TYPE_PERMANENT, perm, plen),
		 TPM_BAD_ORDINAL);
	CHECK_EQ(simple(fd, PTM_STOP), 0);
	CHECK_EQ(set_blob_ioctl(fd, PTM_BLOB_TYPE_PERMANENT, perm, plen), 0);
	CHECK_EQ(set_blob_write(fd, PTM_BLOB_TYPE_VOLATILE, vol, vlen, 1000), 0);
	CHECK_EQ(do_init(fd, PTM_INIT_FLAG_DELETE_VOLATILE), 0);
	/* resumed: no Startup, the PCR is as it was */
	CHECK_EQ(transact(fd, cmd, tpm2_pcr_read(cmd, 16), resp, &rlen), 0);
	CHECK(memcmp(resp + rlen - 32, pcr, 32) == 0);
	close(fd);
}

static void bad_blob_transfers(void)
{
	struct ptm_getstate gs;
	uint8_t buf[64];
	int fd = open_dev(0);

	CHECK(fd >= 0);
	memset(&gs, 0, sizeof(gs));
	gs.u.req.type = 7;
	CHECK_EQ(ioctl(fd, PTM_GET_STATEBLOB, &gs), 0);
	CHECK_EQ(gs.u.resp.tpm_result, TPM_BAD_PARAMETER);
	CHECK_EQ(simple(fd, PTM_STOP), 0);
	ss.u.req.type = PTM_BLOB_TYPE_PERMANENT;
	ss.u.req.length = 3073; /* more than one chunk holds */
	CHECK_EQ(ioctl(fd, PTM_SET_STATEBLOB, &ss), 0);
	CHECK_EQ(ss.u.resp.tpm_result, TPM_BAD_PARAMETER);
	/* a transfer by write(): reading meanwhile is an error */
	memset(&ss, 0, sizeof(ss));
	ss.u.req.type = PTM_BLOB_TYPE_PERMANENT;
	CHECK_EQ(ioctl(fd, PTM_SET_STATEBLOB, &ss), 0);
	CHECK_EQ(write(fd, "garbage garbage", 15), 15);
	CHECK_EQ(read(fd, buf, sizeof(buf)), -1);
	CHECK_EQ(errno, EIO);
	/* a corrupt blob is refused; the TPM comes up with its own state */
	memset(&ss, 0, sizeof(ss));
	ss.u.req.type = PTM_BLOB_TYPE_PERMANENT;
	ss.u.req.length = 20;
	memset(ss.u.req.data, 0x33, 20);
	CHECK_EQ(ioctl(fd, PTM_SET_STATEBLOB, &ss), 0);
	CHECK(ss.u.resp.tpm_result != 0);
	CHECK_EQ(do_init(fd, 0), 0);
	CHECK_EQ(startup(fd), 0);
	close(fd);
}

static void stop_and_init_power_cycle(void)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[4096];
	struct ptm_est est;
	int fd = open_dev(0);

	CHECK(fd >= 0);
	CHECK_EQ(simple(fd, PTM_STOP), 0);
	CHECK_EQ(transact(fd, cmd, tpm2_get_random(cmd, 8), resp, NULL),
		 TPM2_RC_FAILURE);
	CHECK_EQ(ioctl(fd, PTM_GET_TPMESTABLISHED, &est), 0);
	CHECK_EQ(est.u.resp.tpm_result, TPM_BAD_ORDINAL);
	CHECK_EQ(do_init(fd, 0), 0);
	CHECK_EQ(startup(fd), 0);
	CHECK_EQ(transact(fd, cmd, tpm2_get_random(cmd, 8), resp, NULL), 0);
	close(fd);
}

CHECK_MAIN_AFTER(close_leftovers, TEST(ioctls_before_init), TEST(command_before_init_fails_cleanly),
	   TEST(locality_sticks), TEST(read_write_like_tpm0),
	   TEST(malformed_commands_are_refused), TEST(nonblocking_and_poll),
	   TEST(nonblocking_quick_command_ready_at_write),
	   TEST(second_opener_controls_but_cannot_write),
	   TEST(nothing_leaks_to_the_next_opener),
	   TEST(control_while_busy_then_cancel),
	   TEST(hash_sequence_and_established), TEST(state_blobs_round_trip),
	   TEST(bad_blob_transfers), TEST(stop_and_init_power_cycle))
