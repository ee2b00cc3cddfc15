/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemon's system call allow-list, and its compiler: run by the build,
 * this program has libseccomp turn the list into BPF and writes the
 * programs out as a C header, which sandbox.c installs with one seccomp()
 * call.  Compiled at every start, the list cost more than the rest of the
 * confinement (0.5 ms on the host, about 10 ms in the TCG test guest) and
 * left some 110 KiB of heap touched; so the daemon does not link
 * libseccomp at all.
 *
 * The header holds four programs: a call outside the list kills the
 * process or is logged, for normal and for sanitizer builds (whose leak
 * check forks and ptraces).  Each checks the architecture the build ran
 * on: the build and the daemon run on one.
 *
 *   seccomp_policy OUTPUT.h
 */
#include <errno.h>
#include <linux/filter.h>
#include <seccomp.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * What libfuse, libtpms, OpenSSL, glibc and our threads call once the
 * sockets and the node are open: no exec, no new files outside the normal
 * I/O, no mounts, no identity changes, no ptrace.  Names libseccomp does
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

static int allow_names(scmp_filter_ctx ctx, const char *const *names,
		       size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		int rc;

		if (nr == __NR_SCMP_ERROR)
			continue;
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (rc < 0 && rc != -EEXIST) {
			fprintf(stderr, "seccomp_policy: %s: %s\n", names[i],
				strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/*
 * New sockets are local only (syslog, sd_notify): the TCP listeners are
 * bound before the filter, and accept() needs no socket().
 */
static int allow_local_sockets(scmp_filter_ctx ctx)
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
static int allow_threads(scmp_filter_ctx ctx)
{
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				  SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD,
					  CLONE_THREAD));

	if (rc < 0)
		return rc;
	return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
}

/* The allow-list with @default_action for the rest, or NULL. */
static scmp_filter_ctx compile(uint32_t default_action, bool sanitized)
{
	scmp_filter_ctx ctx = seccomp_init(default_action);
	int rc;

	if (!ctx) {
		fprintf(stderr, "seccomp_policy: libseccomp cannot start a filter\n");
		return NULL;
	}
	rc = allow_names(ctx, allowed, sizeof(allowed) / sizeof(allowed[0]));
	if (rc == 0)
		rc = allow_local_sockets(ctx);
	if (rc == 0)
		rc = sanitized ? allow_names(ctx, allowed_sanitized,
					     sizeof(allowed_sanitized) /
						     sizeof(allowed_sanitized[0]))
			       : allow_threads(ctx);
	if (rc < 0) {
		fprintf(stderr, "seccomp_policy: %s\n", strerror(-rc));
		seccomp_release(ctx);
		return NULL;
	}
	return ctx;
}

/* Writes @ctx's BPF to @out as the array @name; -1 on failure. */
static int print_program(FILE *out, const char *name, scmp_filter_ctx ctx)
{
	FILE *bpf = tmpfile();
	struct sock_filter f;
	unsigned n = 0;
	int rc = -1;

	/* libseccomp 2.5 exports only to a descriptor */
	if (!bpf || seccomp_export_bpf(ctx, fileno(bpf)) < 0 ||
	    fseek(bpf, 0, SEEK_SET) < 0)
		goto out;
	fprintf(out, "static const struct sock_filter %s[] = {\n", name);
	while (fread(&f, sizeof(f), 1, bpf) == 1) {
		fprintf(out, "\t{ 0x%04x, %u, %u, 0x%08x },\n", f.code, f.jt,
			f.jf, f.k);
		n++;
	}
	fprintf(out, "};\n");
	rc = n ? 0 : -1;
out:
	if (bpf)
		fclose(bpf);
	if (rc < 0)
		fprintf(stderr, "seccomp_policy: cannot export %s\n", name);
	return rc;
}

static int print_variant(FILE *out, bool sanitized)
{
	static const struct {
		const char *name;
		uint32_t action;
	} programs[] = {
		{ "seccomp_filter_kill", SCMP_ACT_KILL_PROCESS },
		{ "seccomp_filter_log", SCMP_ACT_LOG },
	};
	size_t i;

	for (i = 0; i < sizeof(programs) / sizeof(programs[0]); i++) {
		scmp_filter_ctx ctx = compile(programs[i].action, sanitized);
		int rc;

		if (!ctx)
			return -1;
		rc = print_program(out, programs[i].name, ctx);
		seccomp_release(ctx);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char tmp[4096];
	FILE *out;

	if (argc != 2 ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]) >= (int)sizeof(tmp)) {
		fprintf(stderr, "usage: seccomp_policy OUTPUT.h\n");
		return 2;
	}
	out = fopen(tmp, "w");
	if (!out) {
		perror(tmp);
		return 1;
	}
	fprintf(out, "/* Generated by seccomp_policy (cuse_tpm/seccomp_policy.c): "
		     "do not edit. */\n"
		     "#include <linux/filter.h>\n\n#if SANDBOX_SANITIZED\n");
	if (print_variant(out, true) < 0)
		goto fail;
	fprintf(out, "#else\n");
	if (print_variant(out, false) < 0)
		goto fail;
	fprintf(out, "#endif\n");
	if (fclose(out) != 0 || rename(tmp, argv[1]) < 0) {
		perror(argv[1]);
		unlink(tmp);
		return 1;
	}
	return 0;
fail:
	fclose(out);
	unlink(tmp);
	return 1;
}
