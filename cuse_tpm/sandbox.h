/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Confinement once the node, the sockets and the files are open, before
 * the TPM boots: Landlock limits which files can still be written, a
 * seccomp allow-list (compiled at build time, seccomp_policy.c) limits the
 * system calls.  Both are inherited by threads created later; only the
 * seccomp filter also reaches threads that exist already.
 */
#ifndef CUSE_TPM_SANDBOX_H
#define CUSE_TPM_SANDBOX_H

#include <stddef.h>

/*
 * Sanitizer builds: their leak check forks and ptraces, their reports go
 * to files anywhere (ASAN_OPTIONS=log_path): seccomp allows that, and
 * Landlock stays off.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define SANDBOX_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SANDBOX_SANITIZED 1
#endif
#endif
#ifndef SANDBOX_SANITIZED
#define SANDBOX_SANITIZED 0
#endif

/* --seccomp action=...: what a call outside the allow-list does. */
enum seccomp_action {
	SECCOMP_KILL,  /* the process dies of SIGSYS (the default) */
	SECCOMP_LOG,   /* the kernel logs it and lets it run */
	SECCOMP_NONE,  /* no filter at all */
};

#define SANDBOX_MAX_REMOVED 3

/* Files the process may still write; NULL entries are skipped. */
struct sandbox_paths {
	const char *state_dir; /* full access below it */
	const char *state_file; /* a block device holding the state: read, write */
	const char *node;      /* /dev/NAME: read and write */
	/* removed at the end (pid file, unix sockets): their directories
	 * allow removal */
	const char *removed[SANDBOX_MAX_REMOVED];
};

/*
 * PR_SET_NO_NEW_PRIVS, then a Landlock rule set: read anything, execute
 * nothing, write only what @p names.  Call before any thread starts (Landlock binds
 * the calling thread and its future children only).  Without Landlock in
 * the kernel (or in a sanitizer build) it logs that at debug level and
 * returns 0; 1 once the rules are in force.  -1 with a reason in @err on
 * failure.
 */
int sandbox_restrict_files(const struct sandbox_paths *p, char *err,
			   size_t errlen);

/*
 * Installs the system call allow-list on every thread of the process
 * (PR_SET_NO_NEW_PRIVS included).  0, or -1 with a reason in @err.
 */
int sandbox_filter_syscalls(enum seccomp_action action, char *err,
			    size_t errlen);

#endif
