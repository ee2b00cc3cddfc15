/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Who the daemon runs as, and where its root is: --runas and --chroot.
 * The user is looked up while the host's /etc can still be read (before
 * --chroot), and taken once root's work (/dev/cuse, sockets) is done.
 * Each function returns 0, or -1 with a one-line reason in @err.
 */
#ifndef CUSE_TPM_IDENTITY_H
#define CUSE_TPM_IDENTITY_H

#include <stddef.h>
#include <sys/types.h>

struct identity {
	uid_t uid;
	gid_t gid;
	gid_t groups[256];
	size_t ngroups;
};

/* Looks up @user and its groups. */
int identity_find(struct identity *id, const char *user, char *err,
		  size_t errlen);
/* Becomes @id for good: dropping the uid drops every capability. */
int identity_become(const struct identity *id, const char *user, char *err,
		    size_t errlen);
/* Makes @dir the root directory and the working directory. */
int identity_chroot(const char *dir, char *err, size_t errlen);

#endif
