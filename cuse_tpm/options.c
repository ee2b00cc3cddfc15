/* SPDX-License-Identifier: BSD-3-Clause */
#include "options.h"

#include "log.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SUBOPTS 16

/* One "key=value" or "flag" of a sub-option string. */
struct subopt {
	char *key;
	char *value; /* NULL for a bare flag */
	bool used;
};

struct subopts {
	char *copy;
	struct subopt item[MAX_SUBOPTS];
	size_t n;
};

static int subopts_split(struct subopts *so, const char *s)
{
	char *tok, *save = NULL;

	memset(so, 0, sizeof(*so));
	so->copy = strdup(s);
	if (!so->copy)
		return -1;
	for (tok = strtok_r(so->copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (so->n == MAX_SUBOPTS)
			return -1;
		if (eq)
			*eq++ = '\0';
		so->item[so->n].key = tok;
		so->item[so->n].value = eq;
		so->n++;
	}
	return 0;
}

static struct subopt *subopts_find(struct subopts *so, const char *key)
{
	size_t i;

	for (i = 0; i < so->n; i++) {
		if (strcmp(so->item[i].key, key) == 0) {
			so->item[i].used = true;
			return &so->item[i];
		}
	}
	return NULL;
}

/* Reports the first key no handler asked for. */
static int subopts_check_used(struct subopts *so, const char *opt, char *err,
			      size_t errlen)
{
	size_t i;

	for (i = 0; i < so->n; i++)
		if (!so->item[i].used)
			return fail_with(err, errlen, "--%s: unknown parameter '%s'",
				    opt, so->item[i].key);
	return 0;
}

static void subopts_free(struct subopts *so)
{
	free(so->copy);
	so->copy = NULL;
}

/* A bare flag, or flag=true|false|1|0|yes|no. */
static int parse_bool(const struct subopt *o, bool *out)
{
	if (!o->value) {
		*out = true;
		return 0;
	}
	if (!strcmp(o->value, "true") || !strcmp(o->value, "1") ||
	    !strcmp(o->value, "yes") || !strcmp(o->value, "on"))
		*out = true;
	else if (!strcmp(o->value, "false") || !strcmp(o->value, "0") ||
		 !strcmp(o->value, "no") || !strcmp(o->value, "off"))
		*out = false;
	else
		return -1;
	return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v > max || *s == '-')
		return -1;
	*out = v;
	return 0;
}

/* An option whose value is file=PATH or fd=N: one of the two. */
static int parse_file_or_fd(struct subopts *so, const char *opt,
			    const char **file, int *fd, char *err,
			    size_t errlen)
{
	struct subopt *f = subopts_find(so, "file");
	struct subopt *d = subopts_find(so, "fd");
	unsigned long v;

	if ((f && d) || (!f && !d))
		return fail_with(err, errlen, "--%s: give exactly one of file= or fd=",
			    opt);
	if (f) {
		if (!f->value || !*f->value)
			return fail_with(err, errlen, "--%s: file= needs a path", opt);
		*file = f->value;
		return 0;
	}
	if (parse_uint(d->value, INT_MAX, &v) < 0)
		return fail_with(err, errlen, "--%s: fd= needs a file descriptor number",
			    opt);
	*fd = (int)v;
	return 0;
}

static int opt_tpmstate(struct options *o, struct subopts *so, char *err,
			size_t errlen)
{
	struct subopt *dir = subopts_find(so, "dir");
	struct subopt *uri = subopts_find(so, "backend-uri");
	struct subopt *mode = subopts_find(so, "mode");
	struct subopt *lock = subopts_find(so, "lock");
	struct subopt *fsync = subopts_find(so, "fsync");
	struct subopt *backup = subopts_find(so, "backup");
	unsigned long m;

	if ((dir && uri) || (!dir && !uri))
		return fail_with(err, errlen,
			    "--tpmstate: give exactly one of dir= or backend-uri=");
	if (uri && uri->value && strncmp(uri->value, "file://", 7) == 0) {
		/* swtpm's linear file: unlocked unless asked, as in swtpm */
		o->state_dir = uri->value + 7;
		o->state_linear = true;
		o->tpm.lock = false;
		if (fsync || backup)
			return fail_with(err, errlen, "--tpmstate: file:// takes "
				    "neither fsync nor backup: its writes are "
				    "always synced and atomic");
	} else if (uri) {
		if (!uri->value || strncmp(uri->value, "dir://", 6) != 0)
			return fail_with(err, errlen, "--tpmstate: backend-uri= "
				    "must be dir://DIR or file://FILE");
		o->state_dir = uri->value + 6;
	} else {
		o->state_dir = dir->value;
	}
	if (!o->state_dir || !*o->state_dir)
		return fail_with(err, errlen, "--tpmstate: the path is empty");
	if (mode) {
		if (parse_uint(mode->value, 0777, &m) < 0)
			return fail_with(err, errlen,
				    "--tpmstate: mode= needs an octal file mode");
		o->state_mode = (mode_t)m;
	}
	if (lock && parse_bool(lock, &o->tpm.lock) < 0)
		return fail_with(err, errlen, "--tpmstate: lock= needs true or false");
	if (fsync && parse_bool(fsync, &o->durable) < 0)
		return fail_with(err, errlen, "--tpmstate: fsync= needs true or false");
	if (backup)
		return fail_with(err, errlen, "--tpmstate: backup is not supported: "
			    "every write is atomic, so there is nothing to restore");
	return subopts_check_used(so, "tpmstate", err, errlen);
}

static int opt_flags(struct options *o, struct subopts *so, char *err,
		     size_t errlen)
{
	static const struct {
		const char *name;
		enum tpm_startup type;
	} startups[] = {
		{ "startup-clear", STARTUP_CLEAR },
		{ "startup-state", STARTUP_STATE },
		{ "startup-deactivated", STARTUP_DEACTIVATED },
		{ "startup-none", STARTUP_NONE },
	};
	int nstartup = 0;
	size_t i;

	if (subopts_find(so, "not-need-init"))
		o->tpm.not_need_init = true;
	if (subopts_find(so, "disable-auto-shutdown"))
		o->tpm.disable_auto_shutdown = true;
	for (i = 0; i < sizeof(startups) / sizeof(startups[0]); i++) {
		if (!subopts_find(so, startups[i].name))
			continue;
		nstartup++;
		o->tpm.startup = startups[i].type;
		/* a TPM_Startup needs a powered TPM; startup-none does not */
		if (startups[i].type != STARTUP_NONE)
			o->tpm.not_need_init = true;
	}
	if (nstartup > 1)
		return fail_with(err, errlen, "--flags: give at most one startup-* flag");
	return subopts_check_used(so, "flags", err, errlen);
}

static int opt_log(struct options *o, struct subopts *so, char *err,
		   size_t errlen)
{
	struct subopt *level = subopts_find(so, "level");
	struct subopt *prefix = subopts_find(so, "prefix");
	struct subopt *trunc = subopts_find(so, "truncate");
	unsigned long v;

	if (parse_file_or_fd(so, "log", &o->log.file, &o->log.fd, err, errlen))
		return -1;
	if (level) {
		if (parse_uint(level->value, 20, &v) < 0)
			return fail_with(err, errlen, "--log: level= needs a number");
		o->log.level = (unsigned)v;
	}
	if (prefix)
		o->log.prefix = prefix->value ? prefix->value : "";
	if (trunc && parse_bool(trunc, &o->log.truncate) < 0)
		return fail_with(err, errlen, "--log: truncate takes no value");
	return subopts_check_used(so, "log", err, errlen);
}

static int opt_pid(struct options *o, struct subopts *so, char *err,
		   size_t errlen)
{
	if (parse_file_or_fd(so, "pid", &o->pid_file, &o->pid_fd, err, errlen))
		return -1;
	return subopts_check_used(so, "pid", err, errlen);
}

static int opt_locality(struct options *o, struct subopts *so, char *err,
			size_t errlen)
{
	if (subopts_find(so, "reject-locality-4"))
		o->tpm.reject_locality_4 = true;
	if (subopts_find(so, "allow-set-locality"))
		return fail_with(err, errlen, "--locality: allow-set-locality is not "
			    "supported: use the PTM_SET_LOCALITY ioctl");
	return subopts_check_used(so, "locality", err, errlen);
}

static int opt_migration(struct options *o, struct subopts *so, char *err,
			 size_t errlen)
{
	if (subopts_find(so, "incoming"))
		o->tpm.incoming = true;
	if (subopts_find(so, "release-lock-outgoing"))
		o->tpm.release_lock_outgoing = true;
	return subopts_check_used(so, "migration", err, errlen);
}

/* --ctrl and --server: where a socket listens, swtpm's syntax. */
static int parse_endpoint(struct endpoint *ep, struct subopts *so,
			  const char *opt, bool is_ctrl, char *err,
			  size_t errlen)
{
	struct subopt *type = subopts_find(so, "type");
	struct subopt *path = subopts_find(so, "path");
	struct subopt *port = subopts_find(so, "port");
	struct subopt *addr = subopts_find(so, "bindaddr");
	struct subopt *fd = subopts_find(so, "fd");
	struct subopt *mode = subopts_find(so, "mode");
	struct subopt *uid = subopts_find(so, "uid");
	struct subopt *gid = subopts_find(so, "gid");
	struct subopt *term = is_ctrl ? subopts_find(so, "terminate") : NULL;
	struct subopt *disc = is_ctrl ? NULL : subopts_find(so, "disconnect");
	unsigned long v;

	ep->fd = -1;
	ep->uid = (uid_t)-1;
	ep->gid = (gid_t)-1;
	if (!type || !type->value)
		return fail_with(err, errlen, "--%s: type=unixio or type=tcp is required",
			    opt);
	if (!strcmp(type->value, "unixio"))
		ep->type = ENDPOINT_UNIX;
	else if (!strcmp(type->value, "tcp"))
		ep->type = ENDPOINT_TCP;
	else
		return fail_with(err, errlen, "--%s: unknown type '%s'", opt,
			    type->value);
	if (fd) {
		if (parse_uint(fd->value, INT_MAX, &v) < 0)
			return fail_with(err, errlen, "--%s: fd= needs a number", opt);
		ep->fd = (int)v;
	} else if (ep->type == ENDPOINT_UNIX) {
		if (!path || !path->value || !*path->value)
			return fail_with(err, errlen, "--%s: path= is required", opt);
		ep->path = path->value;
	} else {
		ep->port = is_ctrl ? 0 : 6545;
		if (port && parse_uint(port->value, 65535, &v) < 0)
			return fail_with(err, errlen, "--%s: port= needs a number", opt);
		if (port)
			ep->port = (unsigned)v;
		if (!ep->port)
			return fail_with(err, errlen, "--%s: port= is required", opt);
		ep->bindaddr = addr ? addr->value : NULL;
	}
	if (mode) {
		if (parse_uint(mode->value, 07777, &v) < 0)
			return fail_with(err, errlen, "--%s: mode= needs an octal mode",
				    opt);
		ep->mode = (mode_t)v;
	}
	if (uid) {
		if (parse_uint(uid->value, INT_MAX, &v) < 0)
			return fail_with(err, errlen, "--%s: uid= needs a number", opt);
		ep->uid = (uid_t)v;
	}
	if (gid) {
		if (parse_uint(gid->value, INT_MAX, &v) < 0)
			return fail_with(err, errlen, "--%s: gid= needs a number", opt);
		ep->gid = (gid_t)v;
	}
	ep->terminate = term != NULL;
	ep->disconnect = disc != NULL;
	return subopts_check_used(so, opt, err, errlen);
}

static int opt_ctrl(struct options *o, struct subopts *so, char *err,
		    size_t errlen)
{
	return parse_endpoint(&o->ctrl, so, "ctrl", true, err, errlen);
}

static int opt_server(struct options *o, struct subopts *so, char *err,
		      size_t errlen)
{
	return parse_endpoint(&o->data, so, "server", false, err, errlen);
}

/* --seccomp action=kill|log|none, as swtpm spells it (kill by default). */
static int opt_seccomp(struct options *o, struct subopts *so, char *err,
		       size_t errlen)
{
	struct subopt *a = subopts_find(so, "action");

	if (!a || !a->value)
		return fail_with(err, errlen, "--seccomp: action= is required");
	if (!strcmp(a->value, "kill"))
		o->seccomp = SECCOMP_KILL;
	else if (!strcmp(a->value, "log"))
		o->seccomp = SECCOMP_LOG;
	else if (!strcmp(a->value, "none"))
		o->seccomp = SECCOMP_NONE;
	else
		return fail_with(err, errlen, "--seccomp: action= is kill, log "
				 "or none, not '%s'", a->value);
	return subopts_check_used(so, "seccomp", err, errlen);
}

/* --node owner=U,group=G,mode=0660: for hosts without the udev rule. */
static int opt_node(struct options *o, struct subopts *so, char *err,
		    size_t errlen)
{
	struct subopt *owner = subopts_find(so, "owner");
	struct subopt *group = subopts_find(so, "group");
	struct subopt *mode = subopts_find(so, "mode");
	unsigned long m;

	if (owner) {
		if (!owner->value || !*owner->value)
			return fail_with(err, errlen, "--node: owner= needs a user");
		o->dev.owner = owner->value;
	}
	if (group) {
		if (!group->value || !*group->value)
			return fail_with(err, errlen, "--node: group= needs a group");
		o->dev.group = group->value;
	}
	if (mode) {
		if (parse_uint(mode->value, 0777, &m) < 0)
			return fail_with(err, errlen,
					 "--node: mode= needs an octal mode (0660)");
		o->dev.mode = (mode_t)m;
		o->dev.has_mode = true;
	}
	if (!owner && !group && !mode)
		return fail_with(err, errlen,
				 "--node: give owner=, group= or mode=");
	return subopts_check_used(so, "node", err, errlen);
}

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
	OPT_TERMINATE,
	OPT_PRINT_STATES,
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
	{ "runas", required_argument, NULL, 'r' },
	{ "chroot", required_argument, NULL, 'R' },
	{ "print-capabilities", no_argument, NULL, OPT_PRINT_CAPABILITIES },
	{ "ctrl", required_argument, NULL, OPT_CTRL },
	{ "server", required_argument, NULL, OPT_SERVER },
	{ "terminate", no_argument, NULL, OPT_TERMINATE },
	{ "print-states", no_argument, NULL, OPT_PRINT_STATES },
	{ "daemon", no_argument, NULL, 'd' },
	{ "foreground", no_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};

typedef int (*subopt_handler)(struct options *, struct subopts *, char *,
			      size_t);

/* Parses @arg into sub-options; @o keeps the copy its strings point into. */
static int run_subopts(struct options *o, subopt_handler h, const char *opt,
		       const char *arg, char *err, size_t errlen)
{
	struct subopts so;

	if (o->ncopies == OPTIONS_MAX_COPIES)
		return fail_with(err, errlen, "--%s: too many options", opt);
	if (subopts_split(&so, arg) < 0) {
		subopts_free(&so);
		return fail_with(err, errlen, "--%s: cannot parse '%s'", opt, arg);
	}
	o->copies[o->ncopies++] = so.copy;
	return h(o, &so, err, errlen);
}

static void defaults(struct options *o)
{
	options_free(o);
	memset(o, 0, sizeof(*o));
	o->tpm.tpm2 = true; /* TPM 2.0 unless asked otherwise */
	o->tpm.lock = true;
	o->state_mode = 0640;
	o->durable = true;
	o->pid_fd = -1;
	o->log.fd = -1;
}

int options_parse(struct options *o, int argc, char *argv[], char *err,
		  size_t errlen)
{
	unsigned long v;
	int c;

	defaults(o);
	/*
	 * swtpm's command lines name a mode first; "socket" serves sockets
	 * only and, as there, stays in the foreground unless -d.
	 */
	if (argc > 1 && (!strcmp(argv[1], "socket") || !strcmp(argv[1], "cuse"))) {
		o->foreground = !strcmp(argv[1], "socket");
		/* getopt takes argv[0] only for messages, which are off */
		argv++;
		argc--;
	}
	/* 0, not 1: glibc then also forgets a half-read "-abc" cluster */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:M:m:r:R:fdhv", long_options,
				NULL)) != -1) {
		int rc = 0;

		switch (c) {
		case 'n':
			o->dev.name = optarg;
			if (!*optarg || strchr(optarg, '/') ||
			    !strcmp(optarg, ".") || !strcmp(optarg, ".."))
				return fail_with(err, errlen, "-n: '%s' is not a device "
					    "name (no '/', not empty)", optarg);
			break;
		case 'M':
		case 'm':
			if (parse_uint(optarg, 65535, &v) < 0)
				return fail_with(err, errlen, "-%c: '%s' is not a number "
					    "from 0 to 65535", c, optarg);
			if (c == 'M')
				o->dev.major = (unsigned)v;
			else
				o->dev.minor = (unsigned)v;
			break;
		case OPT_TPMSTATE:
			rc = run_subopts(o, opt_tpmstate, "tpmstate", optarg,
					 err, errlen);
			break;
		case OPT_TPM2:
			o->tpm.tpm2 = true;
			break;
		case OPT_TPM12:
			o->tpm.tpm2 = false;
			break;
		case OPT_FLAGS:
			rc = run_subopts(o, opt_flags, "flags", optarg, err,
					 errlen);
			break;
		case OPT_LOG:
			rc = run_subopts(o, opt_log, "log", optarg, err,
					 errlen);
			break;
		case OPT_PID:
			rc = run_subopts(o, opt_pid, "pid", optarg, err,
					 errlen);
			break;
		case OPT_LOCALITY:
			rc = run_subopts(o, opt_locality, "locality", optarg,
					 err, errlen);
			break;
		case OPT_MIGRATION:
			rc = run_subopts(o, opt_migration, "migration",
					 optarg, err, errlen);
			break;
		case OPT_SECCOMP:
			rc = run_subopts(o, opt_seccomp, "seccomp", optarg, err,
					 errlen);
			break;
		case OPT_NODE:
			rc = run_subopts(o, opt_node, "node", optarg, err,
					 errlen);
			break;
		case OPT_KEY:
			if (crypt_key_spec_parse(optarg, &o->key_spec, err,
						 errlen) < 0)
				return -1;
			o->has_key = true;
			break;
		case OPT_MIGRATION_KEY:
			if (crypt_key_spec_parse(optarg, &o->migration_key_spec,
						 err, errlen) < 0)
				return -1;
			o->has_migration_key = true;
			break;
		case 'r':
			o->runas = optarg;
			break;
		case 'R':
			return fail_with(err, errlen, "--chroot is not supported");
		case OPT_PRINT_CAPABILITIES:
			o->action = ACTION_PRINT_CAPABILITIES;
			break;
		case OPT_CTRL:
			rc = run_subopts(o, opt_ctrl, "ctrl", optarg, err, errlen);
			break;
		case OPT_SERVER:
			rc = run_subopts(o, opt_server, "server", optarg, err,
					 errlen);
			break;
		case OPT_PRINT_STATES:
			o->action = ACTION_PRINT_STATES;
			break;
		case OPT_TERMINATE:
			o->terminate_on_data_close = true;
			break;
		case 'd':
			o->foreground = false;
			break;
		case 'f':
			o->foreground = true;
			break;
		case 'h':
			o->action = ACTION_HELP;
			return 0;
		case 'v':
			o->action = ACTION_VERSION;
			return 0;
		case ':':
			if (optopt && optopt < 256)
				return fail_with(err, errlen,
						 "option '-%c' needs a value", optopt);
			return fail_with(err, errlen, "option '%s' needs a value",
				    argv[optind - 1]);
		default:
			/* inside "-abc" getopt has not moved on: name the letter */
			if (optopt && optopt < 256)
				return fail_with(err, errlen, "unknown option '-%c'",
						 optopt);
			return fail_with(err, errlen, "unknown option '%s'",
				    argv[optind - 1]);
		}
		if (rc)
			return rc;
	}
	if (optind < argc)
		return fail_with(err, errlen, "unexpected argument '%s'", argv[optind]);
	if (o->action == ACTION_PRINT_STATES && !o->state_dir)
		o->state_dir = getenv("TPM_PATH");
	if (o->action == ACTION_PRINT_STATES && !o->state_dir)
		return fail_with(err, errlen, "--print-states needs --tpmstate dir=DIR");
	if (o->action != ACTION_RUN)
		return 0;
	if (!o->dev.name && o->ctrl.type == ENDPOINT_NONE &&
	    o->data.type == ENDPOINT_NONE)
		return fail_with(err, errlen, "-n NAME (the device /dev/NAME) or "
			    "--ctrl/--server (sockets) is required");
	if (!o->dev.name && (o->dev.owner || o->dev.group || o->dev.has_mode))
		return fail_with(err, errlen, "--node needs -n NAME (the device)");
	if (!o->state_dir)
		o->state_dir = getenv("TPM_PATH");
	if (!o->state_dir)
		return fail_with(err, errlen, "--tpmstate dir=DIR is required (or set "
			    "TPM_PATH)");
	return 0;
}

void options_free(struct options *o)
{
	while (o->ncopies)
		free(o->copies[--o->ncopies]);
}

void options_usage(const char *prog)
{
	printf("Usage: %s [socket] -n NAME|--ctrl ... --tpmstate dir=DIR [options]\n"
	       "\n"
	       "Serve a software TPM as the character device /dev/NAME (CUSE).\n"
	       "\n"
	       "  -n, --name NAME        device name; the node is /dev/NAME\n"
	       "  -M, --maj MAJOR        device major number (0: let the kernel pick)\n"
	       "  -m, --min MINOR        device minor number\n"
	       "      --tpmstate dir=DIR|backend-uri=dir://DIR[,mode=0640][,lock[=BOOL]][,fsync[=BOOL]]\n"
	       "      --tpmstate backend-uri=file://FILE[,mode=0640][,lock[=BOOL]]\n"
	       "                         where the TPM keeps its state (default: $TPM_PATH);\n"
	       "                         files are replaced atomically and fsync'ed unless fsync=false\n"
	       "      --tpm2             emulate a TPM 2.0 (the default)\n"
	       "      --tpm12            emulate a TPM 1.2 instead\n"
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
	       "      --log file=PATH|fd=N[,level=N][,prefix=STR][,truncate]\n"
	       "      --pid file=PATH|fd=N\n"
	       "      --ctrl type=unixio,path=P[,mode=0600][,uid=N][,gid=N][,terminate]\n"
	       "      --ctrl type=tcp,port=N[,bindaddr=A][,terminate]\n"
	       "                         a control socket speaking the CMD_* protocol (QEMU's\n"
	       "                         -tpmdev emulator); with or without -n\n"
	       "      --server type=tcp[,port=6545][,bindaddr=A][,disconnect]|type=unixio,path=P\n"
	       "                         a socket for TPM commands\n"
	       "      --terminate        end when the data connection closes\n"
	       "      --print-capabilities\n"
	       "                         print the supported features as JSON\n"
	       "  -r, --runas USER       become USER (and its groups) once /dev/cuse and the\n"
	       "                         sockets are open; the state dir is then USER's to\n"
	       "                         open or create\n"
	       "      --node [owner=USER][,group=GROUP][,mode=0660]\n"
	       "                         owner and mode of /dev/NAME, set as root once the\n"
	       "                         kernel has made it (for hosts without the udev rule)\n"
	       "      --seccomp action=kill|log|none\n"
	       "                         a system call outside the allow-list kills the\n"
	       "                         process (the default), is logged, or no filter\n"
	       "  -f, --foreground       stay in the foreground\n"
	       "  -d, --daemon           go to the background once ready (the default,\n"
	       "                         except after 'socket')\n"
	       "  -h, --help             this text\n"
	       "  -v, --version          the version\n"
	       "\n"
	       "Without -f the program returns once /dev/NAME is ready, or fails with the reason.\n",
	       prog);
}
