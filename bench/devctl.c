/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Figures that need the device itself: state blobs through the PTM ioctls
 * (4), the NV_Write loop behind durable writes (4), and a second opener's
 * control call while the first one's command runs (5).
 */
#include "bench.h"
#include "cuse_tpm/tpm_ioctl.h"
#include "tpm2.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define BLOB_MAX (512 * 1024)
#define NBLOB_TYPES 3

static const char *const blob_names[NBLOB_TYPES + 1] = {
	"", "permanent", "volatile", "savestate"
};

static int open_device(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		die("cannot open %s: %s", path, strerror(errno));
	return fd;
}

/* An ioctl answering with a bare result word. */
static ptm_res simple_ioctl(int fd, unsigned long req)
{
	ptm_res res = 0;

	if (ioctl(fd, req, &res) < 0)
		return ~0u;
	return res;
}

static ptm_res init_tpm(int fd)
{
	struct ptm_init in = { .u.req.init_flags = 0 };

	if (ioctl(fd, PTM_INIT, &in) < 0)
		return ~0u;
	return in.u.resp.tpm_result;
}

/* ---- state blobs ----------------------------------------------------------- */

/* The whole blob through PTM_GET_STATEBLOB chunks; its length, or -1. */
static long get_blob(int fd, uint32_t type, uint8_t *blob)
{
	static struct ptm_getstate gs;
	uint32_t off = 0, total;

	do {
		memset(&gs, 0, sizeof(gs));
		gs.u.req.type = type;
		gs.u.req.state_flags = PTM_STATE_FLAG_DECRYPTED;
		gs.u.req.offset = off;
		if (ioctl(fd, PTM_GET_STATEBLOB, &gs) < 0 || gs.u.resp.tpm_result)
			return -1;
		total = gs.u.resp.totlength;
		if (total > BLOB_MAX || gs.u.resp.length > total - off)
			return -1;
		memcpy(blob + off, gs.u.resp.data, gs.u.resp.length);
		off += gs.u.resp.length;
	} while (off < total && gs.u.resp.length);
	return off == total ? (long)total : -1;
}

/*
 * PTM_SET_STATEBLOB in full chunks, ended by a shorter one.  An empty first
 * chunk opens a write() transfer instead, so an empty blob takes a second
 * empty chunk to end it.
 */
static ptm_res set_blob(int fd, uint32_t type, const uint8_t *blob, uint32_t len)
{
	static struct ptm_setstate ss;
	uint32_t off = 0, n;
	bool first = true;

	for (;;) {
		n = len - off > PTM_STATE_BLOB_CHUNK ? PTM_STATE_BLOB_CHUNK : len - off;
		memset(&ss, 0, sizeof(ss));
		ss.u.req.type = type;
		ss.u.req.length = n;
		memcpy(ss.u.req.data, blob + off, n);
		if (ioctl(fd, PTM_SET_STATEBLOB, &ss) < 0)
			return ~0u;
		if (ss.u.resp.tpm_result)
			return ss.u.resp.tpm_result;
		off += n;
		if (n < PTM_STATE_BLOB_CHUNK && !(n == 0 && first))
			return 0;
		first = false;
	}
}

/* One blob type's contents and timings. */
struct blob_times {
	uint8_t data[BLOB_MAX];
	long len;
	struct samples get, set;
};

static void print_blob_time(const char *op, const char *type, long bytes,
			    struct samples *s)
{
	char item[32];

	snprintf(item, sizeof(item), "%s-%s", op, type);
	result_begin("state", "device", item);
	result_kv("bytes", "%ld", bytes);
	result_kv("n", "%zu", s->n);
	result_kv("p50", "%.1f", samples_pct_us(s, 50));
	result_kv("max", "%.1f", samples_pct_us(s, 100));
	result_end();
}

/* GET every blob, STOP, SET them back, INIT: the TPM resumes where it was. */
static void state_cycle(int fd, struct blob_times *b, struct samples *init)
{
	uint32_t type;
	uint64_t t0;

	for (type = 1; type <= NBLOB_TYPES; type++) {
		t0 = now_ns();
		b[type].len = get_blob(fd, type, b[type].data);
		samples_add(&b[type].get, now_ns() - t0);
		if (b[type].len < 0)
			die("PTM_GET_STATEBLOB %s failed", blob_names[type]);
	}
	if (simple_ioctl(fd, PTM_STOP))
		die("PTM_STOP failed");
	for (type = 1; type <= NBLOB_TYPES; type++) {
		t0 = now_ns();
		if (set_blob(fd, type, b[type].data, (uint32_t)b[type].len))
			die("PTM_SET_STATEBLOB %s failed", blob_names[type]);
		samples_add(&b[type].set, now_ns() - t0);
	}
	t0 = now_ns();
	if (init_tpm(fd))
		die("PTM_INIT after SET_STATEBLOB failed");
	samples_add(init, now_ns() - t0);
}

/* bench state DEV: GET and SET of every blob type. */
int cmd_state(int argc, char **argv)
{
	static struct blob_times blobs[NBLOB_TYPES + 1];
	unsigned runs = scaled(20, 3), i;
	struct samples init;
	uint32_t type;
	int fd;

	if (argc < 2)
		die("usage: bench state DEV");
	fd = open_device(argv[1]);
	samples_init(&init, runs);
	for (type = 1; type <= NBLOB_TYPES; type++) {
		samples_init(&blobs[type].get, runs);
		samples_init(&blobs[type].set, runs);
	}
	for (i = 0; i < runs; i++)
		state_cycle(fd, blobs, &init);
	for (type = 1; type <= NBLOB_TYPES; type++) {
		print_blob_time("get", blob_names[type], blobs[type].len,
				&blobs[type].get);
		print_blob_time("set", blob_names[type], blobs[type].len,
				&blobs[type].set);
		samples_free(&blobs[type].get);
		samples_free(&blobs[type].set);
	}
	print_blob_time("init", "after-set", 0, &init);
	samples_free(&init);
	close(fd);
	return 0;
}

/* ---- durable writes ---------------------------------------------------- */

static double nv_write_loop(int fd, unsigned n, bool change)
{
	struct transport t;
	uint8_t cmd[TPM2_CMD_MAX], resp[RESP_MAX], data[BENCH_NV_SIZE];
	uint64_t start;
	unsigned i;

	device_attach(&t, fd, false);
	memset(data, 0x17, sizeof(data));
	start = now_ns();
	for (i = 0; i < n; i++) {
		if (change)
			memcpy(data, &i, sizeof(i));
		if (tpm_call(&t, cmd, tpm2_nv_write(cmd, BENCH_NV_INDEX, data,
						    sizeof(data), 0),
			     resp, NULL))
			die("NV_Write failed");
	}
	return n / ((double)(now_ns() - start) / 1e9);
}

/* bench nvloop DEV LABEL: NV_Write of the same and of changing bytes. */
int cmd_nvloop(int argc, char **argv)
{
	unsigned n = scaled(500, 10);
	struct transport t;
	int fd;

	if (argc < 3)
		die("usage: bench nvloop DEV LABEL");
	if (device_open(&t, argv[1], false) < 0 || workload_prepare(&t) < 0)
		die("cannot prepare the NV index");
	fd = t.fd;
	nv_write_loop(fd, n / 10 + 1, false); /* warm-up */
	result_begin("durable", argv[2], "same");
	result_kv("n", "%u", n);
	result_kv("ops", "%.1f", nv_write_loop(fd, n, false));
	result_end();
	result_begin("durable", argv[2], "change");
	result_kv("n", "%u", n);
	result_kv("ops", "%.1f", nv_write_loop(fd, n, true));
	result_end();
	close(fd);
	return 0;
}

/* ---- a second opener while the first is busy ----------------------------- */

struct busy {
	int fd;
	unsigned keys;
	atomic_bool in_command; /* a CreatePrimary is between write and read */
	atomic_bool finished;
	uint64_t busy_ns;
};

static void *make_rsa_keys(void *arg)
{
	struct busy *b = arg;
	struct transport t;
	uint8_t cmd[TPM2_CMD_MAX], resp[RESP_MAX];
	size_t len = tpm2_create_primary(cmd, TPM2_KEY_RSA2048);
	uint64_t t0;
	unsigned i;

	device_attach(&t, b->fd, false);
	for (i = 0; i < b->keys; i++) {
		uint8_t flush[TPM2_CMD_MAX];

		t0 = now_ns();
		atomic_store(&b->in_command, true);
		if (tpm_call(&t, cmd, len, resp, NULL))
			die("CreatePrimary RSA failed");
		atomic_store(&b->in_command, false);
		b->busy_ns += now_ns() - t0;
		tpm_call(&t, flush, tpm2_flush_context(flush, tpm2_created_handle(resp)),
			 resp, NULL);
	}
	atomic_store(&b->finished, true);
	return NULL;
}

static uint64_t time_established(int fd)
{
	struct ptm_est est;
	uint64_t t0 = now_ns();

	if (ioctl(fd, PTM_GET_TPMESTABLISHED, &est) < 0 || est.u.resp.tpm_result)
		die("PTM_GET_TPMESTABLISHED failed");
	return now_ns() - t0;
}

/*
 * The same control ioctl with the TPM idle: one FUSE round trip, answered
 * on the FUSE thread, which is what each write() and read() of a command
 * costs too.
 */
static void idle_control(int fd)
{
	unsigned n = scaled(200, 10), i;
	struct samples s;

	samples_init(&s, n);
	for (i = 0; i < n; i++)
		samples_add(&s, time_established(fd));
	result_begin("busy", "device", "idle");
	result_latencies(&s);
	result_end();
	samples_free(&s);
}

/* Calls from @ctl, a millisecond apart, that overlap a key generation. */
static void control_while_busy(struct busy *b, int ctl)
{
	struct samples s;
	uint64_t ns;

	samples_init(&s, 4096);
	while (!atomic_load(&b->finished)) {
		if (atomic_load(&b->in_command)) {
			ns = time_established(ctl);
			/* only what overlapped the command counts */
			if (atomic_load(&b->in_command))
				samples_add(&s, ns);
		}
		sleep_us(1000); /* a monitor's pace, not a flood */
	}
	result_begin("busy", "device", "GET_TPMESTABLISHED");
	result_kv("n", "%zu", s.n);
	result_kv("p50", "%.1f", samples_pct_us(&s, 50));
	result_kv("p99", "%.1f", samples_pct_us(&s, 99));
	result_kv("max", "%.1f", samples_pct_us(&s, 100));
	result_kv("keys", "%u", b->keys);
	result_kv("key_ms", "%.1f", (double)b->busy_ns / 1e6 / b->keys);
	result_end();
	samples_free(&s);
}

/* bench busy DEV: PTM_GET_TPMESTABLISHED latency, idle and during RSA keygen. */
int cmd_busy(int argc, char **argv)
{
	struct busy b = { .keys = scaled(3, 1) };
	pthread_t thread;
	int ctl;

	if (argc < 2)
		die("usage: bench busy DEV");
	b.fd = open_device(argv[1]);
	ctl = open_device(argv[1]);
	idle_control(ctl);
	if (pthread_create(&thread, NULL, make_rsa_keys, &b))
		die("pthread_create failed");
	control_while_busy(&b, ctl);
	pthread_join(thread, NULL);
	close(ctl);
	close(b.fd);
	return 0;
}
