/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the admin tool says on stderr.  Each failure first gets
 * swtpm_ioctl's own line, byte for byte (say(), and the report_*()
 * helpers), then, unless the program runs as swtpm_ioctl, our explanation
 * on a line of its own that starts with "cuse_tpm_ioctl: " (why()).
 */
#ifndef CUSE_TPM_IOCTL_REPORT_H
#define CUSE_TPM_IOCTL_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "client.h"

#define PROG "cuse_tpm_ioctl"

/* Whether why() prints: set once, before anything is printed. */
void report_set_explain(bool on);
bool report_explains(void);

/* A line of swtpm_ioctl's (fmt carries its own newline, or none). */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Our explanation, as a line of its own. */
void why(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Ends a line swtpm_ioctl leaves unended, when an explanation follows. */
void why_newline(void);

/* "TPM result from PTM_X: 0xN", then what it means for @op on @c's server
 * (which may cost a PTM_GET_CAPABILITY to find out). */
void report_result(struct client *c, const struct ctrl_op *op, uint32_t res);
/* "Could not execute PTM_X: <errno text>", then what it means. */
void report_transport(const struct client *c, const struct ctrl_op *op,
		      int err);

/*
 * Runs an operation whose reply starts with a TPM result and reports any
 * failure.  0 only when the transport worked and the TPM agreed.
 */
int run_op(struct client *c, enum ctrl_op_id id, void *msg, size_t req_len,
	   size_t msg_size);
/* The same for an operation with an empty request and a bare result. */
int run_simple(struct client *c, enum ctrl_op_id id);

#endif
