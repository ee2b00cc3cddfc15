/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The command line, in swtpm's syntax: getopt_long for the options and
 * "key=value,flag,..." sub-options.  No I/O: the result is a plain struct.
 */
#ifndef CUSE_TPM_OPTIONS_H
#define CUSE_TPM_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "crypt.h"
#include "cuse.h"
#include "log.h"
#include "sandbox.h"
#include "server.h"
#include "vtpm.h"

#define OPTIONS_MAX_COPIES 16

enum options_action {
	ACTION_RUN,
	ACTION_HELP,
	ACTION_VERSION,
	ACTION_PRINT_CAPABILITIES,
	ACTION_PRINT_STATES,
};

struct options {
	enum options_action action;
	struct cuse_device_config dev;
	struct vtpm_config tpm;
	struct log_config log;
	const char *state_dir;  /* or, with state_linear, the file */
	bool state_linear;      /* --tpmstate backend-uri=file:// */
	mode_t state_mode;
	bool durable;
	bool has_key, has_migration_key;
	struct crypt_key_spec key_spec;        /* --key */
	struct crypt_key_spec migration_key_spec; /* --migration-key */
	enum seccomp_action seccomp; /* --seccomp action= */
	const char *runas;      /* user to become once /dev/cuse is open */
	const char *pid_file;
	int pid_fd;
	bool foreground;
	struct endpoint ctrl;   /* --ctrl: the CMD_* socket */
	struct endpoint data;   /* --server: the TPM command socket */
	bool terminate_on_data_close; /* --terminate */
	/* the sub-option strings above point into these copies */
	char *copies[OPTIONS_MAX_COPIES];
	size_t ncopies;
};

/*
 * Fills @opts from argv (@opts must be zeroed or parsed before).  Returns 0, or -1 with a one-line reason in @err.
 * Strings in @opts point into argv or into @opts' own storage.
 */
int options_parse(struct options *opts, int argc, char *argv[], char *err,
		  size_t errlen);
void options_free(struct options *opts);
void options_usage(const char *prog);

#endif
