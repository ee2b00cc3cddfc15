/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The values of swtpm's sub-option arguments (--tpmstate, --flags, --log,
 * --ctrl, --key ...), one handler each: each reads the items it knows from
 * @so into @o and fails on any other.  Internal to options.c; no I/O.
 */
#ifndef CUSE_TPM_OPTVALUE_H
#define CUSE_TPM_OPTVALUE_H

#include "options.h"
#include "subopt.h"

typedef int optvalue_fn(struct options *o, struct subopts *so, char *err,
			size_t errlen);

optvalue_fn optvalue_tpmstate;
optvalue_fn optvalue_flags;
optvalue_fn optvalue_log;
optvalue_fn optvalue_pid;
optvalue_fn optvalue_locality;
optvalue_fn optvalue_migration;
optvalue_fn optvalue_ctrl;
optvalue_fn optvalue_server;
optvalue_fn optvalue_seccomp;
optvalue_fn optvalue_node;

#endif
