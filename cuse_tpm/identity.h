/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Who the daemon runs as, and where its root is: --runas and --chroot;
 * and the users and groups the options name.
 * The user is looked up while the host's /etc can still be read (before
 * --chroot), and taken once root's work (/dev/cuse, sockets) is done.
 * Each function but identity_resolve() returns 0, or -1 with a one-line
 * reason in @err.
 */
#ifndef CUSE_TPM_IDENTITY_H
#define CUSE_TPM_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct identity {
	uid_t uid;
	gid_t gid;
	gid_t groups[256];
	size_t ngroups;
};

/*
 * A user (or, with @group, a group) given as a name or a number, as for
 * --node's owner and group; 0, or -1 when there is no such one.
 */
int identity_resolve(const char *s, bool group, unsigned *id);
/* Looks up @user and its groups. */
int identity_find(struct identity *id, const char *user, char *err,
		  size_t errlen);
/* Becomes @id for good: dropping the uid drops every capability. */
int identity_become(const struct identity *id, const char *user, char *err,
		    size_t errlen);
/* Makes @dir the root directory and the working directory. */
int identity_chroot(const char *dir, char *err, size_t errlen);

#endif
