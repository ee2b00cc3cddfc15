/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The command line, in swtpm's syntax: getopt_long for the options and
 * "key=value,flag,..." sub-options (subopt.h), key specs included.  No I/O:
 * the result is a plain struct.
 *
 * Two dialects share one parser.  swtpm's own command lines (a first word
 * "cuse", "socket" or "chardev", or the program run as "swtpm") mean what
 * they mean to swtpm: a TPM 1.2 unless --tpm2, and -f/--fd, -p, -t as in
 * swtpm socket.  The bare form (cuse_tpm -n NAME ...) serves a TPM 2.0 by
 * default and -f keeps it in the foreground.
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

enum options_mode {
	MODE_BARE,    /* cuse_tpm -n NAME ...: our defaults */
	MODE_CUSE,    /* "cuse": swtpm cuse's meaning */
	MODE_SOCKET,  /* "socket": swtpm socket's meaning */
	MODE_CHARDEV, /* "chardev": accepted, its data channel is not */
};

/* Where the state lives: --tpmstate dir=|backend-uri=. */
enum state_backend {
	STATE_BACKEND_DIR,  /* dir=PATH, backend-uri=dir://PATH */
	STATE_BACKEND_FILE, /* backend-uri=file://PATH: swtpm's linear file */
};

enum options_action {
	ACTION_RUN,
	ACTION_HELP,
	ACTION_VERSION,
	ACTION_PRINT_CAPABILITIES,
	ACTION_PRINT_STATES,
	ACTION_PRINT_INFO,
};

struct options {
	enum options_action action;
	enum options_mode mode;
	bool swtpm_defaults;    /* swtpm's dialect: TPM 1.2 unless --tpm2 */
	bool tpm_chosen;        /* --tpm2 or --tpm12 given */
	struct cuse_device_config dev;
	struct vtpm_config tpm;
	struct log_config log;
	enum state_backend state_backend;
	const char *state_dir;  /* the backend's path */
	mode_t state_mode;
	bool durable;
	/* --key and --migration-key, or NULL: allocated when given, since a
	 * spec holds a PATH_MAX path and the options live on main()'s stack */
	struct crypt_key_spec *key_spec;
	struct crypt_key_spec *migration_key_spec;
	enum seccomp_action seccomp; /* --seccomp action= */
	const char *runas;      /* user to become once /dev/cuse is open */
	const char *rm_node;    /* --rm-node on|off|NAME, or NULL */
	const char *chroot_dir; /* --chroot: the root once /dev/cuse is open */
	const char *pid_file;
	int pid_fd;
	bool foreground;
	struct endpoint ctrl;   /* --ctrl: the CMD_* socket */
	struct endpoint data;   /* --server: the TPM command socket */
	bool terminate_on_data_close; /* --terminate */
	unsigned print_info;    /* --print-info FLAGS */
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

/*
 * A --key / --migration-key value: "file=PATH|fd=N[,format=hex|binary]
 * [,mode=M][,remove[=BOOL]]" or "pwdfile=PATH|pwdfd=N[,mode=M]
 * [,remove[=BOOL]][,kdf=sha512|pbkdf2]", M one of aes-cbc, aes-128-cbc,
 * aes-256-cbc.  Stricter than swtpm: exactly one source, nothing the
 * source would ignore.  Returns 0, or -1 with a reason in @err.
 */
int options_parse_key(const char *arg, struct crypt_key_spec *spec,
		      char *err, size_t errlen);
void options_usage(const char *prog);

#endif
