/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The benchmark: one program, one subcommand per measurement.  Every figure
 * leaves as one line on stdout,
 *
 *     FIGURE ENV PATH ITEM key=value ...
 *
 * (ENV is "vm" inside the test VM, else "host"), which bench/report.awk
 * turns into the table.  Diagnostics go to stderr.
 */
#ifndef CUSE_TPM_BENCH_H
#define CUSE_TPM_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest TPM response we read; the TPM's own buffer is 4 KiB. */
#define RESP_MAX 4096

/* ---- stats.c: clocks, samples, result lines --------------------------- */

uint64_t now_ns(void);
void sleep_us(unsigned us);

/* Latencies of one measurement, in nanoseconds. */
struct samples {
	uint64_t *ns;
	size_t n, cap;
	uint64_t total;
};

void samples_init(struct samples *s, size_t cap);
void samples_add(struct samples *s, uint64_t ns);
void samples_free(struct samples *s);
/* Nearest-rank percentile (0 < p <= 100) in µs; sorts the samples. */
double samples_pct_us(struct samples *s, double p);
double samples_median_ms(struct samples *s);

/* BENCH_SCALE times @base, at least @min. */
unsigned scaled(unsigned base, unsigned min);

/* "vm" or "host". */
const char *bench_env(void);
/* Starts a result line: "FIGURE ENV PATH ITEM"; end it with result_end(). */
void result_begin(const char *figure, const char *path, const char *item);
void result_kv(const char *key, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void result_end(void);
/* n=, ops=, mean=, p50=, p99=, max= of @s (ops/s over the samples' sum). */
void result_latencies(struct samples *s);

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- usage.c: what a process spent -------------------------------------- */

struct usage {
	uint64_t cpu_ns;      /* on-CPU time, user + system */
	uint64_t vcsw, ivcsw; /* voluntary and involuntary context switches */
	unsigned threads;
};

/* Summed over the threads of process @pid; 0 or -1. */
int usage_read(int pid, struct usage *u);
/* The calling thread's own. */
void usage_self(struct usage *u);
/* @sum += @after - @before (threads: @after's) */
void usage_add_delta(struct usage *sum, const struct usage *before,
		     const struct usage *after);

/* ---- transports: one TPM command in, its whole response out ----------- */

struct transport {
	const char *label; /* the PATH of its result lines */
	/* 0, or -1 with a message on stderr */
	int (*transact)(struct transport *t, const uint8_t *cmd, size_t len,
			uint8_t *resp, size_t *resp_len);
	/* if set, called before each block of timed commands (not timed) */
	void (*prepare)(struct transport *t);
	/* if set, called before each timed command (not timed itself) */
	void (*before_command)(struct transport *t);
	/* if set, releases what the open function took */
	void (*close)(struct transport *t);
	int fd;
	void *ctx;
	int pid; /* the server process behind it, if known: its usage is counted */
};

/* limit.c: libtpms in this process, NVRAM in memory (from @state_dir). */
int limit_open(struct transport *t, const char *state_dir);
/*
 * The same libtpms as "limit-switched": each command right after a round
 * trip to another process, as a server runs it.  @limit closes libtpms.
 */
int limit_attach_switched(struct transport *t);
/* core.c: the vtpm core, state in @dir, no front end. */
int core_open(struct transport *t, const char *dir);
/* device.c: /dev/NAME with blocking write/read, or O_NONBLOCK and poll. */
int device_open(struct transport *t, const char *path, bool nonblock);
/*
 * The same around a descriptor the caller opened and closes; the two kinds
 * may share one descriptor, each sets O_NONBLOCK as it needs it.
 */
void device_attach(struct transport *t, int fd, bool nonblock);
/* socket.c: a swtpm-style data channel: "unix:PATH" or "tcp:HOST:PORT". */
int socket_open(struct transport *t, const char *addr);

/* One command; its TPM response code, or ~0u if the transport failed. */
uint32_t tpm_call(struct transport *t, const uint8_t *cmd, size_t len,
		  uint8_t *resp, size_t *resp_len);

/* ---- workload.c --------------------------------------------------------- */

/* Defines the NV index the NV_Write commands use (if it is not there). */
int workload_prepare(struct transport *t);
/*
 * Every command of figure 1 through every one of @paths, one "cmd" line per
 * path and command; 0 or -1.  The paths take turns, a block of commands at
 * a time, so that whatever else the machine does then slows them alike.
 * @small: only the small commands (no key generation).
 */
int workload_run(struct transport *paths, size_t npaths, bool small);

#define BENCH_MAX_PATHS 16

#define BENCH_NV_INDEX 0x01500b00u
#define BENCH_NV_SIZE 64

/* ---- subcommands ---------------------------------------------------------- */

int cmd_init(int argc, char **argv);    /* limit.c */
int cmd_state(int argc, char **argv);   /* devctl.c */
int cmd_busy(int argc, char **argv);    /* devctl.c */
int cmd_nvloop(int argc, char **argv);  /* devctl.c */
int cmd_startup(int argc, char **argv); /* startup.c */
int cmd_exec(int argc, char **argv);    /* startup.c */
int cmd_floor(int argc, char **argv);   /* floor.c */
int cmd_rmcmp(int argc, char **argv);   /* abrmd.c */

#endif
