/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The confinement the daemon installs, in forked children: the seccomp
 * allow-list kills or logs a call outside it and lets normal I/O through;
 * Landlock refuses writes outside the state directory.  The logged call
 * is getpgid (121 on x86_64): the VM suite finds it in the kernel log.
 */
#include "check.h"
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Outside the allow-list in every build: harmless if it runs. */
#define FORBIDDEN SYS_getpgid

static char dir[] = "/tmp/cuse_tpm_sandbox.XXXXXX";

static bool under_valgrind(void)
{
	/* valgrind's own system calls would meet the filter */
	return getenv("CUSE_TPM_UNDER_VALGRIND") != NULL;
}

/* Runs @fn in a child; its wait status. */
static int in_child(int (*fn)(void))
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(fn());
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

static int normal_io(void)
{
	char path[64], buf[8];
	int fd;

	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, "abc", 3) != 3 || fsync(fd) < 0 ||
	    pread(fd, buf, 3, 0) != 3 || close(fd) < 0 || unlink(path) < 0)
		return 3;
	return 0;
}

static int killed_child(void)
{
	char err[256];

	if (sandbox_filter_syscalls(SECCOMP_KILL, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (normal_io())
		return 3;
	syscall(FORBIDDEN, 0);
	return 0; /* must not get here */
}

/* syslog's socket is fine, a new network socket is not */
static int inet_socket_child(void)
{
	char err[256];
	int fd;

	if (sandbox_filter_syscalls(SECCOMP_KILL, err, sizeof(err)) < 0)
		return 2;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 3;
	close(fd);
	socket(AF_INET, SOCK_STREAM, 0);
	return 0; /* must not get here */
}

static int logged_child(void)
{
	char err[256];

	if (sandbox_filter_syscalls(SECCOMP_LOG, err, sizeof(err)) < 0)
		return 2;
	/* logged, and it runs: getpgid(0) is our own group */
	return syscall(FORBIDDEN, 0) == getpgrp() ? 0 : 4;
}

static int status_child(void)
{
	char err[256], line[128];
	int seccomp = -1, nnp = -1;
	FILE *f;

	if (sandbox_filter_syscalls(SECCOMP_KILL, err, sizeof(err)) < 0)
		return 2;
	f = fopen("/proc/self/status", "re");
	if (!f)
		return 3;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Seccomp: %d", &seccomp) == 1)
			continue;
		sscanf(line, "NoNewPrivs: %d", &nnp);
	}
	fclose(f);
	return seccomp == 2 && nnp == 1 ? 0 : 4;
}

static int wait_pipe[2];

/* Waits until told, then makes the call outside the list. */
static void *call_forbidden_later(void *arg)
{
	char c;

	(void)arg;
	if (read(wait_pipe[0], &c, 1) == 1)
		syscall(FORBIDDEN, 0);
	return NULL;
}

/* A thread that runs before the filter goes on is bound by it too. */
static int running_thread_child(void)
{
	char err[256];
	pthread_t t;

	if (pipe(wait_pipe) < 0 ||
	    pthread_create(&t, NULL, call_forbidden_later, NULL) != 0)
		return 3;
	if (sandbox_filter_syscalls(SECCOMP_KILL, err, sizeof(err)) < 0)
		return 2;
	if (write(wait_pipe[1], "x", 1) != 1)
		return 3;
	pthread_join(t, NULL);
	return 0; /* must not get here */
}

static void *nothing(void *arg)
{
	return arg;
}

/* New threads yes (glibc falls back from clone3 to clone), processes no. */
static int fork_child(void)
{
	char err[256];
	pthread_t t;

	if (sandbox_filter_syscalls(SECCOMP_KILL, err, sizeof(err)) < 0)
		return 2;
	if (pthread_create(&t, NULL, nothing, NULL) != 0 ||
	    pthread_join(t, NULL) != 0)
		return 3;
	if (SANDBOX_SANITIZED)
		return 0; /* the leak check forks: allowed there */
	if (fork() == 0)
		_exit(0);
	return 4; /* must not get here */
}

static void make_dir(void)
{
	strcpy(dir, "/tmp/cuse_tpm_sandbox.XXXXXX");
	if (!mkdtemp(dir))
		dir[0] = '\0';
}

static void remove_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s %s.out", dir, dir);
	if (dir[0] && system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* @fn, run in a child under the filter, dies of the filter's SIGSYS. */
static void check_killed(int (*fn)(void))
{
	int st;

	if (under_valgrind())
		return;
	st = in_child(fn);
	CHECK(WIFSIGNALED(st));
	CHECK_EQ(WTERMSIG(st), SIGSYS);
}

/* @fn, run in a child under the filter, returns 0. */
static void check_exits_cleanly(int (*fn)(void))
{
	int st;

	if (under_valgrind())
		return;
	st = in_child(fn);
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
}

static void seccomp_kill_ends_the_process(void)
{
	make_dir();
	check_killed(killed_child);
}

static void seccomp_only_local_sockets(void)
{
	check_killed(inet_socket_child);
}

static void seccomp_log_lets_the_call_run(void)
{
	check_exits_cleanly(logged_child);
}

static void seccomp_filter_is_in_force(void)
{
	check_exits_cleanly(status_child);
}

static void seccomp_reaches_running_threads(void)
{
	check_killed(running_thread_child);
}

static void seccomp_threads_but_no_processes(void)
{
	if (SANDBOX_SANITIZED)
		check_exits_cleanly(fork_child);
	else
		check_killed(fork_child);
}

/*
 * Writes: the state directory yes, elsewhere no, not even beside a file
 * that may be removed; reads anywhere.
 */
static int landlocked_child(void)
{
	char err[256], out[64], pid[80], pid2[80];
	struct sandbox_paths p = { .state_dir = dir };
	int fd;

	/* a pid file in a directory of its own: removable, nothing more */
	snprintf(out, sizeof(out), "%s.out", dir);
	snprintf(pid, sizeof(pid), "%s.out/pid", dir);
	snprintf(pid2, sizeof(pid2), "%s.out/new", dir);
	if (mkdir(out, 0700) < 0)
		return 6;
	fd = open(pid, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return 6;
	close(fd);
	p.removed[0] = pid;
	if (sandbox_restrict_files(&p, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (normal_io())
		return 3;
	fd = open(pid2, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0 || errno != EACCES)
		return 4;
	if (unlink(pid) < 0)
		return 7;
	fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 5;
	close(fd);
	return 0;
}

static bool have_landlock(void)
{
	return syscall(SYS_landlock_create_ruleset, NULL, 0, 1UL) >= 1;
}

static void landlock_refuses_writes_outside(void)
{
	int st;

	make_dir();
	CHECK(dir[0]);
	st = in_child(landlocked_child);
	CHECK(WIFEXITED(st));
	if (!have_landlock() || SANDBOX_SANITIZED) {
		/* no Landlock: the same rules are a clean no-op */
		CHECK(WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 4);
		return;
	}
	CHECK_EQ(WEXITSTATUS(st), 0);
}

static void check_after(void)
{
	remove_dir();
	dir[0] = '\0';
}

CHECK_MAIN_AFTER(check_after, TEST(seccomp_kill_ends_the_process),
		 TEST(seccomp_only_local_sockets),
		 TEST(seccomp_log_lets_the_call_run),
		 TEST(seccomp_filter_is_in_force),
		 TEST(seccomp_reaches_running_threads),
		 TEST(seccomp_threads_but_no_processes),
		 TEST(landlock_refuses_writes_outside))
