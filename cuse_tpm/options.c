/* SPDX-License-Identifier: BSD-3-Clause */
#include "options.h"

#include "log.h"
#include "optvalue.h"

#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_TPMSTATE = 256,
	OPT_TPM2,
	OPT_TPM12,
	OPT_FLAGS,
	OPT_LOG,
	OPT_PID,
	OPT_LOCALITY,
	OPT_MIGRATION,
	OPT_KEY,
	OPT_MIGRATION_KEY,
	OPT_SECCOMP,
	OPT_NODE,
	OPT_PRINT_CAPABILITIES,
	OPT_CTRL,
	OPT_SERVER,
	OPT_PRINT_STATES,
	OPT_PRINT_INFO,
	OPT_FD,
	OPT_VTPM_PROXY,
	OPT_RM_NODE,
};

static const struct option long_options[] = {
	{ "name", required_argument, NULL, 'n' },
	{ "maj", required_argument, NULL, 'M' },
	{ "min", required_argument, NULL, 'm' },
	{ "tpmstate", required_argument, NULL, OPT_TPMSTATE },
	{ "tpm2", no_argument, NULL, OPT_TPM2 },
	{ "tpm12", no_argument, NULL, OPT_TPM12 },
	{ "flags", required_argument, NULL, OPT_FLAGS },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "pid", required_argument, NULL, OPT_PID },
	{ "locality", required_argument, NULL, OPT_LOCALITY },
	{ "migration", required_argument, NULL, OPT_MIGRATION },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "migration-key", required_argument, NULL, OPT_MIGRATION_KEY },
	{ "seccomp", required_argument, NULL, OPT_SECCOMP },
	{ "node", required_argument, NULL, OPT_NODE },
	{ "rm-node", required_argument, NULL, OPT_RM_NODE },
	{ "runas", required_argument, NULL, 'r' },
	{ "chroot", required_argument, NULL, 'R' },
	{ "print-capabilities", no_argument, NULL, OPT_PRINT_CAPABILITIES },
	{ "ctrl", required_argument, NULL, OPT_CTRL },
	{ "server", required_argument, NULL, OPT_SERVER },
	{ "terminate", no_argument, NULL, 't' },
	{ "print-states", no_argument, NULL, OPT_PRINT_STATES },
	{ "print-info", required_argument, NULL, OPT_PRINT_INFO },
	{ "daemon", no_argument, NULL, 'd' },
	{ "foreground", no_argument, NULL, 'f' },
	/* swtpm socket and chardev */
	{ "fd", required_argument, NULL, OPT_FD },
	{ "port", required_argument, NULL, 'p' },
	{ "chardev", required_argument, NULL, 'c' },
	{ "vtpm-proxy", no_argument, NULL, OPT_VTPM_PROXY },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};

/* Parses @arg into sub-options; @o keeps the copy its strings point into. */
static int run_subopts(struct options *o, optvalue_fn *h, const char *opt,
		       const char *arg, char *err, size_t errlen)
{
	struct subopts so;
	char why[192];

	if (o->ncopies == OPTIONS_MAX_COPIES)
		return fail_with(err, errlen, "--%s: too many options", opt);
	if (subopts_split(&so, arg, why, sizeof(why)) < 0) {
		free(so.copy);
		return fail_with(err, errlen, "--%s: %s", opt, why);
	}
	o->copies[o->ncopies++] = so.copy;
	return h(o, &so, err, errlen);
}

static int run_key(struct crypt_key_spec **spec, const char *opt,
		   const char *arg, char *err, size_t errlen)
{
	char why[256];

	if (!*spec)
		*spec = malloc(sizeof(**spec));
	if (!*spec)
		return fail_with(err, errlen, "--%s: out of memory", opt);
	if (options_parse_key(arg, *spec, why, sizeof(why)) < 0)
		return fail_with(err, errlen, "--%s: %s", opt, why);
	return 0;
}

/*
 * The dialect: swtpm's when its mode word comes first or the program runs
 * under swtpm's name.  Returns how many words to skip after argv[0].
 */
static int pick_dialect(struct options *o, int argc, char *argv[])
{
	static const struct {
		const char *word;
		enum options_mode mode;
	} modes[] = {
		{ "cuse", MODE_CUSE },
		{ "socket", MODE_SOCKET },
		{ "chardev", MODE_CHARDEV },
	};
	char prog[PATH_MAX];
	const char *base;
	size_t i;

	snprintf(prog, sizeof(prog), "%s", argc > 0 && argv[0] ? argv[0] : "");
	base = basename(prog);
	o->swtpm_defaults = !strcmp(base, "swtpm") || !strcmp(base, "swtpm_cuse");
	if (!strcmp(base, "swtpm_cuse"))
		o->mode = MODE_CUSE;
	for (i = 0; argc > 1 && i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (!strcmp(argv[1], modes[i].word)) {
			o->mode = modes[i].mode;
			o->swtpm_defaults = true;
			return 1;
		}
	}
	return 0;
}

static void defaults(struct options *o)
{
	options_free(o);
	memset(o, 0, sizeof(*o));
	o->tpm.lock = true;
	o->state_mode = 0640;
	o->durable = true;
	o->pid_fd = -1;
	o->log.fd = -1;
	o->ctrl.fd = o->ctrl.conn_fd = -1;
	o->data.fd = o->data.conn_fd = -1;
}

/* swtpm's -p PORT and -f/--fd FD, as their --server equivalents. */
static int socket_shorthand(struct options *o, int c, const char *arg,
			    char *err, size_t errlen)
{
	char spec[64];
	unsigned long v;

	if (o->mode != MODE_SOCKET && o->mode != MODE_CHARDEV)
		return fail_with(err, errlen, "--%s belongs to swtpm's socket "
				 "mode: start with 'cuse_tpm socket'",
				 c == 'p' ? "port" : "fd");
	if (c == 'p' && subopt_uint(arg, 65535, &v) == 0)
		snprintf(spec, sizeof(spec), "type=tcp,port=%lu,disconnect", v);
	else if (c != 'p' && subopt_uint(arg, INT_MAX, &v) == 0)
		snprintf(spec, sizeof(spec), "type=tcp,fd=%lu", v);
	else
		return fail_with(err, errlen, "%s: '%s' is not a number",
				 c == 'p' ? "--port" : "--fd", arg);
	if (c != 'p' && v < 3)
		return fail_with(err, errlen, "--fd: not 0, 1 or 2 (stdin, "
				 "stdout, stderr)");
	return run_subopts(o, optvalue_server, "server", spec, err, errlen);
}

/* One option from getopt; 1 when parsing is over (help, version). */
static int take_option(struct options *o, int c, char *err, size_t errlen)
{
	unsigned long v;

	switch (c) {
	case OPT_RM_NODE:
		o->rm_node = optarg;
		return 0;
	case 'n':
		o->dev.name = optarg;
		if (!*optarg || strchr(optarg, '/') || !strcmp(optarg, ".") ||
		    !strcmp(optarg, ".."))
			return fail_with(err, errlen, "-n: '%s' is not a device "
					 "name (no '/', not empty)", optarg);
		return 0;
	case 'M':
	case 'm':
		if (subopt_uint(optarg, 65535, &v) < 0)
			return fail_with(err, errlen, "-%c: '%s' is not a number "
					 "from 0 to 65535", c, optarg);
		if (c == 'M')
			o->dev.major = (unsigned)v;
		else
			o->dev.minor = (unsigned)v;
		return 0;
	case OPT_TPMSTATE:
		return run_subopts(o, optvalue_tpmstate, "tpmstate", optarg,
				   err, errlen);
	case OPT_TPM2:
	case OPT_TPM12:
		o->tpm.tpm2 = c == OPT_TPM2;
		o->tpm_chosen = true;
		return 0;
	case OPT_FLAGS:
		return run_subopts(o, optvalue_flags, "flags", optarg, err, errlen);
	case OPT_LOG:
		return run_subopts(o, optvalue_log, "log", optarg, err, errlen);
	case OPT_PID:
		return run_subopts(o, optvalue_pid, "pid", optarg, err, errlen);
	case OPT_LOCALITY:
		return run_subopts(o, optvalue_locality, "locality", optarg,
				   err, errlen);
	case OPT_MIGRATION:
		return run_subopts(o, optvalue_migration, "migration", optarg,
				   err, errlen);
	case OPT_SECCOMP:
		return run_subopts(o, optvalue_seccomp, "seccomp", optarg, err,
				   errlen);
	case OPT_NODE:
		return run_subopts(o, optvalue_node, "node", optarg, err, errlen);
	case OPT_CTRL:
		return run_subopts(o, optvalue_ctrl, "ctrl", optarg, err, errlen);
	case OPT_SERVER:
		return run_subopts(o, optvalue_server, "server", optarg, err,
				   errlen);
	case OPT_KEY:
		return run_key(&o->key_spec, "key", optarg, err, errlen);
	case OPT_MIGRATION_KEY:
		return run_key(&o->migration_key_spec, "migration-key", optarg,
			       err, errlen);
	case 'r':
		o->runas = optarg;
		return 0;
	case 'R':
		if (!*optarg)
			return fail_with(err, errlen, "--chroot needs a directory");
		o->chroot_dir = optarg;
		return 0;
	case OPT_PRINT_CAPABILITIES:
		o->action = ACTION_PRINT_CAPABILITIES;
		return 0;
	case OPT_PRINT_STATES:
		o->action = ACTION_PRINT_STATES;
		return 0;
	case OPT_PRINT_INFO:
		if (subopt_uint(optarg, UINT_MAX, &v) < 0)
			return fail_with(err, errlen, "--print-info: '%s' is not "
					 "a number", optarg);
		o->print_info = (unsigned)v;
		o->action = ACTION_PRINT_INFO;
		return 0;
	case 't':
		o->terminate_on_data_close = true;
		return 0;
	case 'd':
		o->foreground = false;
		return 0;
	case 'f':
		if (o->mode == MODE_SOCKET || o->mode == MODE_CHARDEV)
			return socket_shorthand(o, 'f', optarg, err, errlen);
		o->foreground = true;
		return 0;
	case OPT_FD:
	case 'p':
		return socket_shorthand(o, c, optarg, err, errlen);
	case 'c':
	case OPT_VTPM_PROXY:
		return fail_with(err, errlen, "%s: a character device as the data "
				 "channel is not supported; use 'cuse_tpm cuse' "
				 "or 'cuse_tpm socket'",
				 c == 'c' ? "--chardev" : "--vtpm-proxy");
	case 'h':
		o->action = ACTION_HELP;
		return 1;
	case 'v':
		o->action = ACTION_VERSION;
		return 1;
	default:
		return fail_with(err, errlen, "internal error: option %d", c);
	}
}

/* What getopt could not take: an unknown option or a missing value. */
static int getopt_failure(int c, char *argv[], char *err, size_t errlen)
{
	/* inside "-abc" getopt has not moved on: name the letter */
	if (c == ':' && optopt && optopt < 256)
		return fail_with(err, errlen, "option '-%c' needs a value", optopt);
	if (c == ':')
		return fail_with(err, errlen, "option '%s' needs a value",
				 argv[optind - 1]);
	if (optopt && optopt < 256)
		return fail_with(err, errlen, "unknown option '-%c'", optopt);
	return fail_with(err, errlen, "unknown option '%s'", argv[optind - 1]);
}

/*
 * --rm-node on|off|NAME: the resource-managed node beside /dev/NAME, on by
 * default for a TPM 2.0 in our own dialect (swtpm never makes a second
 * node, so in its dialect only when asked).  Its name follows the kernel's
 * tpm0/tpmrm0: vtpm-X gives vtpmrm-X; any other NAME gives NAME-rm.
 */
static int resolve_rm_node(struct options *o, char *err, size_t errlen)
{
	const char *want = o->rm_node;
	bool named = want && strcmp(want, "on") && strcmp(want, "off");
	char *name;
	int n;

	if (want ? !strcmp(want, "off") : o->swtpm_defaults)
		return 0;
	if (!o->dev.name || !o->tpm.tpm2) {
		if (!named)
			return 0; /* on by default only where it can be */
		return fail_with(err, errlen, "--rm-node needs -n NAME and a "
				 "TPM 2.0");
	}
	if (named && (!*want || strchr(want, '/') || !strcmp(want, o->dev.name)))
		return fail_with(err, errlen, "--rm-node: '%s' cannot name the "
				 "resource-managed node", want);
	if (o->ncopies == OPTIONS_MAX_COPIES)
		return fail_with(err, errlen, "too many options");
	if (named)
		n = asprintf(&name, "%s", want);
	else if (!strncmp(o->dev.name, "vtpm-", 5))
		n = asprintf(&name, "vtpmrm-%s", o->dev.name + 5);
	else
		n = asprintf(&name, "%s-rm", o->dev.name);
	if (n < 0)
		return fail_with(err, errlen, "out of memory");
	o->copies[o->ncopies++] = name;
	o->dev.rm_name = name;
	return 0;
}

/* After the options: what a run needs, and defaults that depend on others. */
static int finish(struct options *o, char *err, size_t errlen)
{
	if (!o->tpm_chosen)
		o->tpm.tpm2 = !o->swtpm_defaults;
	/* swtpm's unixio sockets are 0770 unless mode= says otherwise */
	if (o->swtpm_defaults && o->ctrl.type == ENDPOINT_UNIX && o->ctrl.path &&
	    !o->ctrl.mode)
		o->ctrl.mode = 0770;
	if (o->swtpm_defaults && o->data.type == ENDPOINT_UNIX && o->data.path &&
	    !o->data.mode)
		o->data.mode = 0770;
	if (!o->state_dir)
		o->state_dir = getenv("TPM_PATH");
	if (o->action == ACTION_PRINT_STATES && !o->state_dir)
		return fail_with(err, errlen, "--print-states needs --tpmstate dir=DIR");
	if (o->action != ACTION_RUN)
		return 0;
	if (o->mode == MODE_CUSE && !o->dev.name)
		return fail_with(err, errlen, "cuse: -n NAME (the device /dev/NAME) "
				 "is required");
	if (!o->dev.name && o->ctrl.type == ENDPOINT_NONE &&
	    o->data.type == ENDPOINT_NONE)
		return fail_with(err, errlen, "-n NAME (the device /dev/NAME) or "
			    "--ctrl/--server (sockets) is required");
	if (!o->dev.name && (o->dev.owner || o->dev.group || o->dev.has_mode))
		return fail_with(err, errlen, "--node needs -n NAME (the device)");
	if (resolve_rm_node(o, err, errlen) < 0)
		return -1;
	if (!o->state_dir)
		return fail_with(err, errlen, "--tpmstate dir=DIR is required (or set "
			    "TPM_PATH)");
	return 0;
}

int options_parse(struct options *o, int argc, char *argv[], char *err,
		  size_t errlen)
{
	const char *optstring;
	int c, skip;

	defaults(o);
	skip = pick_dialect(o, argc, argv);
	/* swtpm socket stays in the foreground unless -d; cuse goes */
	o->foreground = o->mode == MODE_SOCKET || o->mode == MODE_CHARDEV;
	/* there -f is --fd, as in swtpm; elsewhere it is --foreground */
	optstring = o->foreground ? ":n:M:m:r:R:f:p:c:tdhv" : ":n:M:m:r:R:ftdhv";
	/* getopt takes argv[0] only for messages, which are off */
	argv += skip;
	argc -= skip;
	/* 0, not 1: glibc then also forgets a half-read "-abc" cluster */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, long_options, NULL)) != -1) {
		int rc = c == ':' || c == '?' ? getopt_failure(c, argv, err, errlen)
					      : take_option(o, c, err, errlen);

		if (rc < 0)
			return -1;
		if (rc > 0)
			return 0;
	}
	if (optind < argc)
		return fail_with(err, errlen, "unexpected argument '%s'", argv[optind]);
	return finish(o, err, errlen);
}

void options_free(struct options *o)
{
	free(o->key_spec);
	free(o->migration_key_spec);
	o->key_spec = o->migration_key_spec = NULL;
	while (o->ncopies)
		free(o->copies[--o->ncopies]);
}

void options_usage(const char *prog)
{
	printf("Usage: %s [cuse|socket] -n NAME|--ctrl ...|--server ... --tpmstate dir=DIR [options]\n"
	       "\n"
	       "Serve a software TPM as the character device /dev/NAME (CUSE), on\n"
	       "sockets (QEMU's -tpmdev emulator), or both.\n"
	       "\n"
	       "With a first word 'cuse', 'socket' or 'chardev', or run as 'swtpm', the\n"
	       "command line means what it means to swtpm: a TPM 1.2 unless --tpm2, and\n"
	       "in socket mode -f/--fd FD, -p/--port PORT, -t. Without it a TPM 2.0 is\n"
	       "the default and -f stays in the foreground.\n"
	       "\n"
	       "  -n, --name NAME        device name; the node is /dev/NAME\n"
	       "  -M, --maj MAJOR        device major number (0: let the kernel pick)\n"
	       "  -m, --min MINOR        device minor number\n"
	       "      --tpmstate dir=DIR|backend-uri=dir://DIR[,mode=0640][,lock[=BOOL]][,fsync[=BOOL]]\n"
	       "      --tpmstate backend-uri=file://FILE[,mode=0640][,lock[=BOOL]]\n"
	       "                         where the TPM keeps its state (default: $TPM_PATH);\n"
	       "                         files are replaced atomically and fsync'ed unless fsync=false\n"
	       "      --tpm2             emulate a TPM 2.0\n"
	       "      --tpm12            emulate a TPM 1.2\n"
	       "      --flags [not-need-init][,startup-clear|startup-state|startup-deactivated|startup-none]\n"
	       "              [,disable-auto-shutdown]\n"
	       "                         power the TPM on at start, optionally sending TPM_Startup\n"
	       "      --key file=F|fd=N[,format=hex|binary][,mode=aes-128-cbc|aes-256-cbc][,remove]\n"
	       "      --key pwdfile=F|pwdfd=N[,mode=...][,kdf=pbkdf2|sha512][,remove]\n"
	       "                         encrypt the state files (swtpm's format)\n"
	       "      --migration-key ...  the same syntax: encrypt blobs that leave by\n"
	       "                         GET_STATEBLOB\n"
	       "      --locality reject-locality-4\n"
	       "      --migration [incoming][,release-lock-outgoing]\n"
	       "                         take the state lock only once state arrives; give\n"
	       "                         it up once the savestate blob has been fetched\n"
	       "      --print-states     print the state blobs in --tpmstate as JSON\n"
	       "      --print-info FLAGS print libtpms' TPMLIB_GetInfo(FLAGS) JSON\n"
	       "      --log [file=PATH|fd=N][,level=N][,prefix=STR][,truncate]\n"
	       "                         level 5 and up adds libtpms' own debug output\n"
	       "      --pid file=PATH|fd=N\n"
	       "      --ctrl type=unixio,path=P|fd=N|clientfd=N[,mode=0600][,uid=N][,gid=N][,terminate]\n"
	       "      --ctrl type=tcp,port=N[,bindaddr=A]|fd=N|clientfd=N[,terminate]\n"
	       "                         a control socket speaking the CMD_* protocol (QEMU's\n"
	       "                         -tpmdev emulator); clientfd= is a connected one\n"
	       "      --server type=tcp[,port=6545][,bindaddr=A][,disconnect]|type=unixio,path=P\n"
	       "      --server type=tcp|unixio,fd=N\n"
	       "                         a socket for TPM commands; fd= is a connected one\n"
	       "  -t, --terminate        end when the data connection closes\n"
	       "      --print-capabilities\n"
	       "                         print the supported features as JSON\n"
	       "  -r, --runas USER       become USER (and its groups) once /dev/cuse and the\n"
	       "                         sockets are open; the state dir is then USER's\n"
	       "  -R, --chroot DIR       change the root to DIR once /dev/cuse, the log and\n"
	       "                         the sockets are open; later paths are inside DIR\n"
	       "      --node [owner=USER][,group=GROUP][,mode=0660]\n"
	       "                         owner and mode of /dev/NAME (and of the node below),\n"
	       "                         set as root once the kernel has made it (for hosts\n"
	       "                         without the udev rule)\n"
	       "      --rm-node on|off|NAME\n"
	       "                         for a TPM 2.0, a resource-managed node beside\n"
	       "                         /dev/NAME, as /dev/tpmrm0 beside /dev/tpm0: any\n"
	       "                         number of clients at once (default on, but off in\n"
	       "                         swtpm's dialect; its name is vtpmrm-X for vtpm-X,\n"
	       "                         else NAME-rm)\n"
	       "      --seccomp action=kill|log|none\n"
	       "                         a system call outside the allow-list kills the\n"
	       "                         process (the default), is logged, or no filter\n"
	       "  -f, --foreground       stay in the foreground (not in socket mode)\n"
	       "  -d, --daemon           go to the background once ready (the default,\n"
	       "                         except after 'socket')\n"
	       "  -h, --help             this text\n"
	       "  -v, --version          the version\n"
	       "\n"
	       "In the background the program returns once the TPM is ready, or fails\n"
	       "with the reason.\n",
	       prog);
}
