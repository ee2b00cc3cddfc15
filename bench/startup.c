/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Start-up (figure 2): from exec of a daemon to its first answered command.
 * The daemon is started as a service manager would, in the background: the
 * command returns once it serves, and then one GetRandom must succeed.
 */
#include "bench.h"
#include "tpm2.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Waits at most this long for a daemon and its node to go. */
#define STOP_TRIES 1000
#define STOP_PAUSE_US 5000

/* Empties a state directory (it has no subdirectories), or creates it. */
static void empty_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d) {
		if (mkdir(path, 0750) < 0)
			die("cannot create %s: %s", path, strerror(errno));
		return;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

/*
 * Runs @argv and waits for it: the daemon's parent returns when it serves.
 * Returns the CPU time (user + system) that the parent spent, in ns.
 */
static uint64_t start_daemon(char *const *argv)
{
	struct rusage ru;
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		/* our stdout carries the result lines: none of its chatter */
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execvp(argv[0], argv);
		fprintf(stderr, "bench: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		die("%s did not start", argv[0]);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) *
		       1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

/*
 * User + system CPU time of process @pid so far, in ns, from /proc/PID/stat
 * (in clock ticks, but with the threads that have ended); 0 if unknown.
 */
static uint64_t stat_cpu_ns(pid_t pid)
{
	unsigned long long utime, stime;
	char path[64], buf[1024], *p;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the name may hold spaces */
	if (!p || hz <= 0 ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
		   &utime, &stime) != 2)
		return 0;
	return (utime + stime) * (1000000000ull / (unsigned long long)hz);
}

/*
 * The same to the nanosecond from the live threads' schedstat, unless the
 * ticks, which count the ended threads too, say more.
 */
static uint64_t process_cpu_ns(pid_t pid)
{
	uint64_t ticks = stat_cpu_ns(pid);
	struct usage u;

	if (usage_read(pid, &u) < 0 || u.cpu_ns < ticks)
		return ticks;
	return u.cpu_ns;
}

static int open_target(struct transport *t, const char *target)
{
	if (target[0] == '/')
		return device_open(t, target, false);
	return socket_open(t, target);
}

static void first_command(const char *target)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[RESP_MAX];
	struct transport t;

	if (open_target(&t, target) < 0)
		die("cannot reach %s", target);
	if (tpm_call(&t, cmd, tpm2_get_random(cmd, 32), resp, NULL))
		die("the first GetRandom through %s failed", target);
	t.close(&t);
}

static pid_t read_pid(const char *file)
{
	FILE *f = fopen(file, "r");
	int pid = 0;

	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return pid;
}

/* SIGTERM, then wait for the process and (for a device) its node to go. */
static void stop_daemon(const char *pid_file, const char *target)
{
	pid_t pid = read_pid(pid_file);
	struct stat st;
	int i;

	if (pid <= 0)
		die("no pid in %s", pid_file);
	kill(pid, SIGTERM);
	/* we are its subreaper: its parent exited, so it is our child now */
	waitpid(pid, NULL, 0);
	for (i = 0; i < STOP_TRIES; i++) {
		if (target[0] != '/' || stat(target, &st) < 0)
			return;
		sleep_us(STOP_PAUSE_US);
	}
	die("%s is still there after its daemon stopped", target);
}

/* One server's start-ups: what to start, and what they took. */
struct server_start {
	const char *label, *target, *state_dir, *pid_file;
	char **argv;
	struct samples wall, cpu;
};

/* Starts @s once, times it to its first answered command, and stops it. */
static void time_one_start(struct server_start *s, bool fresh)
{
	uint64_t t0, parent_ns;

	if (fresh)
		empty_dir(s->state_dir);
	t0 = now_ns();
	parent_ns = start_daemon(s->argv);
	first_command(s->target);
	samples_add(&s->wall, now_ns() - t0);
	/* the daemon's own CPU, and its parent's before the fork */
	samples_add(&s->cpu, parent_ns + process_cpu_ns(read_pid(s->pid_file)));
	stop_daemon(s->pid_file, s->target);
}

/*
 * @runs start-ups of each of @n servers, from no state or from the state
 * an earlier run left; the servers take turns, so that a drift of the
 * machine's speed (a guest's, above all) reaches them all alike.
 */
static void time_starts(struct server_start *srv, size_t n, unsigned runs,
			bool fresh)
{
	unsigned i;
	size_t k;

	for (k = 0; k < n; k++) {
		samples_init(&srv[k].wall, runs);
		samples_init(&srv[k].cpu, runs);
		if (!fresh) { /* leaves the state that the timed runs find */
			start_daemon(srv[k].argv);
			first_command(srv[k].target);
			stop_daemon(srv[k].pid_file, srv[k].target);
		}
	}
	for (i = 0; i < runs; i++)
		for (k = 0; k < n; k++)
			time_one_start(&srv[k], fresh);
	for (k = 0; k < n; k++) {
		struct server_start *s = &srv[k];

		result_begin("startup", s->label, fresh ? "fresh" : "existing");
		result_kv("runs", "%u", runs);
		result_kv("median_ms", "%.2f", samples_median_ms(&s->wall));
		result_kv("min_ms", "%.2f", samples_pct_us(&s->wall, 0.001) / 1e3);
		result_kv("max_ms", "%.2f", samples_pct_us(&s->wall, 100) / 1e3);
		result_kv("cpu_ms", "%.2f", samples_median_ms(&s->cpu));
		result_end();
		samples_free(&s->wall);
		samples_free(&s->cpu);
	}
}

#define MAX_SERVERS 8

/*
 * bench startup RUNS LABEL TARGET STATE_DIR PID_FILE -- COMMAND...
 *                    [';' LABEL TARGET STATE_DIR PID_FILE -- COMMAND...]...
 * TARGET is /dev/NAME or a socket address; COMMAND must use STATE_DIR and
 * write PID_FILE.  Times RUNS starts of each server from no state, then
 * RUNS from the state an earlier run left, the servers taking turns.
 */
int cmd_startup(int argc, char **argv)
{
	struct server_start srv[MAX_SERVERS];
	unsigned runs;
	size_t n = 0;
	int i = 2;

	runs = argc > 1 ? (unsigned)atoi(argv[1]) : 0;
	if (!runs)
		die("usage: bench startup RUNS LABEL TARGET STATE_DIR PID_FILE -- COMMAND... [';' ...]");
	while (i < argc) {
		if (n == MAX_SERVERS || argc - i < 6 || strcmp(argv[i + 4], "--") != 0)
			die("usage: bench startup RUNS LABEL TARGET STATE_DIR PID_FILE -- COMMAND... [';' ...]");
		srv[n] = (struct server_start){ .label = argv[i], .target = argv[i + 1],
						.state_dir = argv[i + 2],
						.pid_file = argv[i + 3],
						.argv = argv + i + 5 };
		for (i += 5; i < argc && strcmp(argv[i], ";") != 0; i++)
			;
		if (i < argc)
			argv[i++] = NULL; /* ends this server's command */
		n++;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		die("cannot become a subreaper: %s", strerror(errno));
	time_starts(srv, n, runs, true);
	time_starts(srv, n, runs, false);
	return 0;
}

/*
 * bench exec LABEL RUNS -- COMMAND...: how long COMMAND (e.g. the daemon's
 * --version) takes from exec to exit; for a daemon, the part of its start-up
 * that is loading the program and its libraries.
 */
int cmd_exec(int argc, char **argv)
{
	struct samples s;
	unsigned runs, i;
	uint64_t t0;

	if (argc < 5 || strcmp(argv[3], "--") != 0)
		die("usage: bench exec LABEL RUNS -- COMMAND...");
	runs = (unsigned)atoi(argv[2]);
	if (!runs)
		die("RUNS must be a positive number");
	samples_init(&s, runs);
	for (i = 0; i < runs; i++) {
		t0 = now_ns();
		start_daemon(argv + 4);
		samples_add(&s, now_ns() - t0);
	}
	result_begin("startup", argv[1], "exec");
	result_kv("runs", "%u", runs);
	result_kv("median_ms", "%.2f", samples_median_ms(&s));
	result_end();
	samples_free(&s);
	return 0;
}
