/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The notification protocol is one datagram to the AF_UNIX socket named in
 * $NOTIFY_SOCKET (a path, or an abstract name written with a leading '@').
 * systemd documents it as a stable interface for programs that do not link
 * libsystemd; linking it would load six more libraries (libgcrypt, liblzma,
 * libzstd, liblz4, libcap, libgpg-error) into every vTPM at every start.
 */
#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int notify_ready(void)
{
	static const char msg[] = "READY=1";
	const char *name = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	ssize_t n;
	int fd, err;

	if (!name || !*name)
		return 0;
	len = strlen(name);
	if ((name[0] != '/' && name[0] != '@') || len >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	n = sendto(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL,
		   (const struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}
