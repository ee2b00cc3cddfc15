/* SPDX-License-Identifier: BSD-3-Clause */
#include "sandbox.h"

#include "log.h"
#include "seccomp_filter.h" /* generated from seccomp_policy.c */

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
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
 * The allow-list comes compiled (seccomp_policy.c, at build time): one
 * seccomp() call installs it on every thread, TSYNC reaching those that
 * run already.
 */
int sandbox_filter_syscalls(enum seccomp_action action, char *err,
			    size_t errlen)
{
	const struct sock_filter *insns = seccomp_filter_kill;
	size_t n = sizeof(seccomp_filter_kill) / sizeof(seccomp_filter_kill[0]);
	struct sock_fprog prog;
	long rc;

	if (action == SECCOMP_NONE) {
		log_debug("seccomp: off (--seccomp action=none)");
		return 0;
	}
	if (action == SECCOMP_LOG) {
		insns = seccomp_filter_log;
		n = sizeof(seccomp_filter_log) / sizeof(seccomp_filter_log[0]);
	}
	prog.len = (unsigned short)n;
	/* the kernel only reads the program: the cast drops a const */
	prog.filter = (struct sock_filter *)insns;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail_with(err, errlen, "seccomp: no_new_privs: %s",
				 strerror(errno));
	rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		     SECCOMP_FILTER_FLAG_TSYNC, &prog);
	if (rc > 0)
		return fail_with(err, errlen, "seccomp: thread %ld cannot take "
				 "the filter", rc);
	if (rc < 0) {
		int e = errno;

		return fail_with(err, errlen, "seccomp: cannot install the "
				 "filter: %s%s", strerror(e),
				 e == EPERM || e == ENOSYS || e == EINVAL
					 ? " (is seccomp() itself forbidden, "
					   "e.g. by a systemd SystemCallFilter=?)"
					 : "");
	}
	log_debug("seccomp: allow-list installed (others %s)",
		  action == SECCOMP_LOG ? "logged" : "kill the process");
	return 0;
}
