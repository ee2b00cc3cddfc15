/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The admin tool's commands, one function each: it turns the parsed
 * command line into control operations on a connected client, prints on
 * stdout what swtpm_ioctl prints, reports failures (report.h) and returns
 * 0, or -1 when the command failed.
 */
#ifndef CUSE_TPM_IOCTL_COMMANDS_H
#define CUSE_TPM_IOCTL_COMMANDS_H

#include <stdint.h>

#include "client.h"

struct command;

/* The command line, parsed. */
struct args {
	const char *prog;          /* argv[0] */
	const struct command *cmd; /* the last command option getopt saw */
	/*
	 * The command as swtpm_ioctl sees it: the word before an option's
	 * argument, or the option itself.  It is compared by address (a
	 * second command is another word) and, once connected, by spelling.
	 */
	const char *cmd_token;
	const char *device;
	const char *unix_path;
	char *tcp_host;
	unsigned int tcp_port;
	unsigned int number;    /* locality, buffer size or lock retries */
	uint64_t info_flags;
	const char *hash_data;  /* "-": stdin */
	const char *blob_type;  /* as typed; checked once connected */
	const char *blob_file;
};

int cmd_capabilities(struct client *c, const struct args *a);
int cmd_init(struct client *c, const struct args *a);
int cmd_shutdown(struct client *c, const struct args *a);
int cmd_stop(struct client *c, const struct args *a);
int cmd_cancel(struct client *c, const struct args *a);
int cmd_store_volatile(struct client *c, const struct args *a);
int cmd_established(struct client *c, const struct args *a);
int cmd_reset_established(struct client *c, const struct args *a);
int cmd_locality(struct client *c, const struct args *a);
int cmd_config(struct client *c, const struct args *a);
int cmd_buffersize(struct client *c, const struct args *a);
int cmd_lock_storage(struct client *c, const struct args *a);
int cmd_info(struct client *c, const struct args *a);
int cmd_hash(struct client *c, const struct args *a);
int cmd_save(struct client *c, const struct args *a);
int cmd_load(struct client *c, const struct args *a);

#endif
