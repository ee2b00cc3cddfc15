/* SPDX-License-Identifier: BSD-3-Clause */
#include "identity.h"

#include "log.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int identity_find(struct identity *id, const char *user, char *err,
		  size_t errlen)
{
	const struct passwd *pw = getpwnam(user);
	int n = (int)(sizeof(id->groups) / sizeof(id->groups[0]));

	if (!pw) {
		snprintf(err, errlen, "--runas: no such user '%s'", user);
		return -1;
	}
	id->uid = pw->pw_uid;
	id->gid = pw->pw_gid;
	if (getgrouplist(pw->pw_name, pw->pw_gid, id->groups, &n) < 0) {
		snprintf(err, errlen, "--runas %s: too many groups", user);
		return -1;
	}
	id->ngroups = (size_t)n;
	return 0;
}

int identity_resolve(const char *s, bool group, unsigned *id)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!errno && *s && !*end && *s != '-' && v < UINT_MAX) {
		*id = (unsigned)v;
		return 0;
	}
	if (group) {
		const struct group *gr = getgrnam(s);

		if (gr) {
			*id = gr->gr_gid;
			return 0;
		}
	} else {
		const struct passwd *pw = getpwnam(s);

		if (pw) {
			*id = pw->pw_uid;
			return 0;
		}
	}
	return -1;
}

int identity_become(const struct identity *id, const char *user, char *err,
		    size_t errlen)
{
	if (setgroups(id->ngroups, id->groups) < 0 || setgid(id->gid) < 0 ||
	    setuid(id->uid) < 0) {
		snprintf(err, errlen, "cannot become %s: %s", user,
			 strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) { /* must be impossible now */
		snprintf(err, errlen, "could regain root after --runas %s", user);
		return -1;
	}
	log_info("running as %s (uid %u)", user, (unsigned)id->uid);
	return 0;
}

/*
 * --chroot happens once /dev/cuse is open and the node made, so the jail
 * needs no /dev at all.  Every later path (--tpmstate, --pid, --key files,
 * socket paths) is inside it, as in swtpm; the log is already open.
 */
int identity_chroot(const char *dir, char *err, size_t errlen)
{
	if (chdir(dir) < 0 || chroot(".") < 0 || chdir("/") < 0) {
		snprintf(err, errlen, "--chroot %s: %s", dir, strerror(errno));
		return -1;
	}
	log_info("changed root to %s", dir);
	return 0;
}
