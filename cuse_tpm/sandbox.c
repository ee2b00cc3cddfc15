/* SPDX-License-Identifier: BSD-3-Clause */
#include "sandbox.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- Landlock ----------------------------------------------------------- */

/* Newer than the oldest headers we build with (Linux 6.1's). */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
/* What a file (as opposed to a directory) can be granted. */
#define FS_FILE_RW (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
		    LANDLOCK_ACCESS_FS_TRUNCATE)
/* The state directory: its files are created, replaced and removed. */
#define FS_STATE (FS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | \
		  LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_MAKE_REG | \
		  LANDLOCK_ACCESS_FS_REMOVE_FILE)

/* Every right of ABI @abi: the rest is then refused unless a rule grants it. */
static uint64_t landlock_handled(int abi)
{
	uint64_t all = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;

	if (abi >= 2)
		all |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		all |= LANDLOCK_ACCESS_FS_TRUNCATE;
	return all;
}

static int landlock_allow(int ruleset, const char *path, uint64_t access,
			  uint64_t handled, char *err, size_t errlen)
{
	struct landlock_path_beneath_attr rule = {
		.allowed_access = access & handled,
	};
	int fd, rc;

	if (!path)
		return 0;
	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return fail_with(err, errlen, "landlock: %s: %s", path,
				 strerror(errno));
	rule.parent_fd = fd;
	rc = (int)syscall(SYS_landlock_add_rule, ruleset,
			  LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
	close(fd);
	if (rc < 0)
		return fail_with(err, errlen, "landlock: rule for %s: %s", path,
				 strerror(errno));
	return 0;
}

/* The directory part of @path, in @buf ("." if it has none). */
static const char *dir_of(const char *path, char *buf, size_t len)
{
	const char *slash;

	if (!path)
		return NULL;
	slash = strrchr(path, '/');
	if (!slash)
		return ".";
	if (slash == path)
		return "/";
	snprintf(buf, len, "%.*s", (int)(slash - path), path);
	return buf;
}

int sandbox_restrict_files(const struct sandbox_paths *p, char *err,
			   size_t errlen)
{
	struct landlock_ruleset_attr attr = { 0 };
	char dir[4096];
	int abi, ruleset;
	size_t i;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail_with(err, errlen, "no_new_privs: %s", strerror(errno));
	if (SANDBOX_SANITIZED) {
		/* their reports go to files anywhere (ASAN_OPTIONS=log_path) */
		log_debug("landlock: skipped in a sanitizer build");
		return 0;
	}
	abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0,
			   LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1) {
		log_debug("landlock: not in this kernel (%s): file access is "
			  "not restricted", strerror(errno));
		return 0;
	}
	attr.handled_access_fs = landlock_handled(abi);
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (ruleset < 0)
		return fail_with(err, errlen, "landlock: %s", strerror(errno));
	/*
	 * Libraries read what they like (locale, openssl.cnf, /proc); what
	 * is written is the state, the node and, at the end, the removal of
	 * the pid file and the sockets.  The log and /dev/cuse are open
	 * already.
	 */
	if (landlock_allow(ruleset, "/", FS_READ, attr.handled_access_fs, err,
			   errlen) < 0 ||
	    landlock_allow(ruleset, p->state_dir, FS_STATE,
			   attr.handled_access_fs, err, errlen) < 0 ||
	    landlock_allow(ruleset, p->state_file, FS_FILE_RW,
			   attr.handled_access_fs, err, errlen) < 0 ||
	    landlock_allow(ruleset, p->node, FS_FILE_RW, attr.handled_access_fs,
			   err, errlen) < 0 ||
	    /* a --chroot jail may have no /dev at all */
	    landlock_allow(ruleset,
			   access("/dev/null", F_OK) == 0 ? "/dev/null" : NULL,
			   FS_FILE_RW,
			   attr.handled_access_fs, err, errlen) < 0)
		goto fail;
	for (i = 0; i < SANDBOX_MAX_REMOVED; i++)
		if (landlock_allow(ruleset, dir_of(p->removed[i], dir, sizeof(dir)),
				   LANDLOCK_ACCESS_FS_REMOVE_FILE,
				   attr.handled_access_fs, err, errlen) < 0)
			goto fail;
	if (syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) {
		fail_with(err, errlen, "landlock: %s", strerror(errno));
		goto fail;
	}
	close(ruleset);
	log_debug("landlock (ABI %d): writes only to %s", abi,
		  p->state_dir ? p->state_dir
			       : p->state_file ? p->state_file : "nothing");
	return 1;
fail:
	close(ruleset);
	return -1;
}

/* ---- seccomp ------------------------------------------------------------ */

/*
 * What libfuse, libtpms, OpenSSL, glibc and our threads call once start-up
 * is over: no exec, no new files outside the normal I/O, no mounts, no
 * identity changes, no ptrace.  Names the running kernel or libseccomp do
 * not know are skipped.
 */
static const char *const allowed[] = {
	/* memory and threads */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise",
	"futex", "set_robust_list", "get_robust_list", "rseq",
	"sched_yield", "sched_getaffinity", "getcpu", "membarrier",
	"exit", "exit_group", "gettid", "getpid", "tgkill", "tkill",
	/* signals */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait",
	"rt_sigsuspend", "sigaltstack", "restart_syscall",
	/* time */
	"clock_gettime", "clock_getres", "gettimeofday", "time",
	"nanosleep", "clock_nanosleep", "timerfd_settime",
	/* files: the state directory, the log, the node */
	"read", "write", "readv", "writev", "pread64", "pwrite64",
	"lseek", "close", "open", "openat", "fstat", "stat", "lstat",
	"newfstatat", "statx", "fcntl", "flock", "fsync", "fdatasync",
	"ftruncate", "unlink", "unlinkat", "rename", "renameat", "renameat2",
	"getdents64", "readlink", "readlinkat", "access", "faccessat",
	"faccessat2", "umask", "fstatfs", "statfs", "getcwd", "dup", "dup2",
	"dup3", "ioctl", "getrandom",
	/* libfuse's loop (splice when the kernel offers it) */
	"poll", "ppoll", "select", "pselect6", "splice", "pipe", "pipe2",
	"vmsplice", "tee", "epoll_create1", "epoll_ctl", "epoll_wait",
	"epoll_pwait",
	/* the sockets, syslog and sd_notify */
	"accept", "accept4", "recvfrom", "recvmsg", "sendto", "sendmsg",
	"shutdown", "connect", "getsockopt", "setsockopt",
	"getsockname", "getpeername",
	/* who we are (glibc and libraries ask) */
	"getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
	"getgroups", "uname", "sysinfo", "prctl", "getrlimit", "prlimit64",
	"getpriority",
};

/* What only sanitizer builds call: leak checks ptrace the threads. */
static const char *const allowed_sanitized[] = {
	"clone", "clone3", "fork", "vfork", "wait4", "waitid", "ptrace", "getdents",
	"execve", "kill", "getppid", "setrlimit", "sched_getparam",
	"sched_getscheduler", "process_vm_readv",
};

static int seccomp_allow_names(scmp_filter_ctx ctx, const char *const *names,
			       size_t n, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		int rc;

		if (nr == __NR_SCMP_ERROR)
			continue;
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (rc < 0 && rc != -EEXIST)
			return fail_with(err, errlen, "seccomp: %s: %s",
					 names[i], strerror(-rc));
	}
	return 0;
}

/*
 * New sockets are local only (syslog, sd_notify): the TCP listeners are
 * bound before the filter, and accept() needs no socket().
 */
static int seccomp_allow_local_sockets(scmp_filter_ctx ctx)
{
	/* spelt out: SCMP_A0() leaves datum_b to the compiler */
	const struct scmp_arg_cmp unix_only = {
		.arg = 0, .op = SCMP_CMP_EQ, .datum_a = AF_UNIX, .datum_b = 0
	};

	return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				      &unix_only);
}

/*
 * Threads yes, processes no: clone() only with CLONE_THREAD, and clone3()
 * (whose flags a filter cannot see) fails with ENOSYS, so glibc falls back
 * to clone().
 */
static int seccomp_allow_threads(scmp_filter_ctx ctx)
{
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				  SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD,
					  CLONE_THREAD));

	if (rc < 0)
		return rc;
	return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
}

int sandbox_filter_syscalls(enum seccomp_action action, char *err,
			    size_t errlen)
{
	scmp_filter_ctx ctx;
	int rc;

	if (action == SECCOMP_NONE) {
		log_debug("seccomp: off (--seccomp action=none)");
		return 0;
	}
	ctx = seccomp_init(action == SECCOMP_LOG ? SCMP_ACT_LOG
						  : SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return fail_with(err, errlen, "seccomp: cannot set up a filter "
				 "(is seccomp() itself forbidden, e.g. by a "
				 "systemd SystemCallFilter=?)");
	/* libseccomp sets no_new_privs itself (SCMP_FLTATR_CTL_NNP) */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc < 0) {
		fail_with(err, errlen, "seccomp: %s", strerror(-rc));
		goto fail;
	}
	if (seccomp_allow_names(ctx, allowed, sizeof(allowed) / sizeof(allowed[0]),
				err, errlen) < 0)
		goto fail;
	rc = seccomp_allow_local_sockets(ctx);
	if (rc < 0) {
		fail_with(err, errlen, "seccomp: socket: %s", strerror(-rc));
		goto fail;
	}
	if (SANDBOX_SANITIZED)
		rc = seccomp_allow_names(ctx, allowed_sanitized,
					 sizeof(allowed_sanitized) /
						 sizeof(allowed_sanitized[0]),
					 err, errlen);
	else
		rc = seccomp_allow_threads(ctx);
	if (rc < 0) {
		if (!SANDBOX_SANITIZED)
			fail_with(err, errlen, "seccomp: clone: %s", strerror(-rc));
		goto fail;
	}
	rc = seccomp_load(ctx);
	if (rc < 0) {
		fail_with(err, errlen, "seccomp: cannot install the filter: %s",
			  strerror(-rc));
		goto fail;
	}
	seccomp_release(ctx);
	log_debug("seccomp: allow-list installed (others %s)",
		  action == SECCOMP_LOG ? "logged" : "kill the process");
	return 0;
fail:
	seccomp_release(ctx);
	return -1;
}
