/* SPDX-License-Identifier: BSD-3-Clause */
/* Readiness for a service manager (systemd's Type=notify). */
#ifndef CUSE_TPM_NOTIFY_H
#define CUSE_TPM_NOTIFY_H

/*
 * Sends READY=1 to the socket $NOTIFY_SOCKET names: 0 when sent or when no
 * service manager asked for it, else -errno.
 */
int notify_ready(void);

#endif
