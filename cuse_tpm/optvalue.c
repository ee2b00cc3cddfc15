/* SPDX-License-Identifier: BSD-3-Clause */
#include "optvalue.h"

#include "log.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An option whose value is file=PATH or fd=N: one of the two. */
static int parse_file_or_fd(struct subopts *so, const char *opt,
			    const char **file, int *fd, char *err,
			    size_t errlen)
{
	struct subopt *f = subopts_find(so, "file");
	struct subopt *d = subopts_find(so, "fd");

	if ((f && d) || (!f && !d))
		return fail_with(err, errlen,
				 "--%s: give exactly one of file= or fd=", opt);
	if (f) {
		if (!f->value || !*f->value)
			return fail_with(err, errlen, "--%s: file= needs a path",
					 opt);
		*file = f->value;
		return 0;
	}
	if (subopt_fd(d->value, fd) < 0)
		return fail_with(err, errlen,
				 "--%s: fd= needs a file descriptor number", opt);
	return 0;
}

/* backend-uri=SCHEME://PATH: the one place that knows the schemes. */
static int parse_backend_uri(struct options *o, const char *uri, char *err,
			     size_t errlen)
{
	static const char dir[] = "dir://", file[] = "file://";

	if (uri && !strncmp(uri, dir, sizeof(dir) - 1)) {
		o->state_backend = STATE_BACKEND_DIR;
		o->state_dir = uri + sizeof(dir) - 1;
		return 0;
	}
	if (uri && !strncmp(uri, file, sizeof(file) - 1)) {
		/* swtpm's linear file: unlocked unless asked, as in swtpm */
		o->state_backend = STATE_BACKEND_FILE;
		o->state_dir = uri + sizeof(file) - 1;
		o->tpm.lock = false;
		return 0;
	}
	return fail_with(err, errlen, "--tpmstate: backend-uri '%s' is not "
			 "supported (dir://DIR or file://FILE)", uri ? uri : "");
}

int optvalue_tpmstate(struct options *o, struct subopts *so, char *err,
			size_t errlen)
{
	struct subopt *dir = subopts_find(so, "dir");
	struct subopt *uri = subopts_find(so, "backend-uri");
	struct subopt *mode = subopts_find(so, "mode");
	struct subopt *lock = subopts_find(so, "lock");
	struct subopt *fsync = subopts_find(so, "fsync");
	struct subopt *backup = subopts_find(so, "backup");

	if ((dir && uri) || (!dir && !uri))
		return fail_with(err, errlen,
			    "--tpmstate: give exactly one of dir= or backend-uri=");
	if (uri) {
		if (parse_backend_uri(o, uri->value, err, errlen) < 0)
			return -1;
	} else {
		o->state_backend = STATE_BACKEND_DIR;
		o->state_dir = dir->value;
	}
	if (!o->state_dir || !*o->state_dir)
		return fail_with(err, errlen, "--tpmstate: the path is empty");
	if (mode && subopt_mode(mode->value, &o->state_mode) < 0)
		return fail_with(err, errlen,
			    "--tpmstate: mode= needs an octal file mode, at most 0777");
	if (lock && subopt_bool(lock, &o->tpm.lock) < 0)
		return fail_with(err, errlen, "--tpmstate: lock= needs true or false");
	if (fsync && subopt_bool(fsync, &o->durable) < 0)
		return fail_with(err, errlen, "--tpmstate: fsync= needs true or false");
	if (o->state_backend == STATE_BACKEND_FILE && (fsync || backup))
		return fail_with(err, errlen, "--tpmstate: file:// takes neither "
			    "fsync nor backup: its writes are always synced and atomic");
	if (backup)
		return fail_with(err, errlen, "--tpmstate: backup is not supported: "
			    "every write is atomic, so there is nothing to restore");
	return subopts_check_used(so, "tpmstate", err, errlen);
}

int optvalue_flags(struct options *o, struct subopts *so, char *err,
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

/* file= or fd= is optional: level= alone raises the default sink's level. */
int optvalue_log(struct options *o, struct subopts *so, char *err,
		   size_t errlen)
{
	struct subopt *level = subopts_find(so, "level");
	struct subopt *prefix = subopts_find(so, "prefix");
	struct subopt *trunc = subopts_find(so, "truncate");
	unsigned long v;

	if ((subopts_find(so, "file") || subopts_find(so, "fd")) &&
	    parse_file_or_fd(so, "log", &o->log.file, &o->log.fd, err, errlen))
		return -1;
	if (level) {
		if (subopt_uint(level->value, UINT_MAX, &v) < 0)
			return fail_with(err, errlen, "--log: level= needs a number");
		o->log.level = (unsigned)v;
	}
	if (prefix)
		o->log.prefix = prefix->value ? prefix->value : "";
	if (trunc && subopt_bool(trunc, &o->log.truncate) < 0)
		return fail_with(err, errlen, "--log: truncate takes no value");
	return subopts_check_used(so, "log", err, errlen);
}

int optvalue_pid(struct options *o, struct subopts *so, char *err,
		   size_t errlen)
{
	if (parse_file_or_fd(so, "pid", &o->pid_file, &o->pid_fd, err, errlen))
		return -1;
	return subopts_check_used(so, "pid", err, errlen);
}

int optvalue_locality(struct options *o, struct subopts *so, char *err,
			size_t errlen)
{
	if (subopts_find(so, "reject-locality-4"))
		o->tpm.reject_locality_4 = true;
	if (subopts_find(so, "allow-set-locality"))
		return fail_with(err, errlen, "--locality: allow-set-locality is not "
			    "supported: use the PTM_SET_LOCALITY ioctl");
	return subopts_check_used(so, "locality", err, errlen);
}

int optvalue_migration(struct options *o, struct subopts *so, char *err,
			 size_t errlen)
{
	if (subopts_find(so, "incoming"))
		o->tpm.incoming = true;
	if (subopts_find(so, "release-lock-outgoing"))
		o->tpm.release_lock_outgoing = true;
	return subopts_check_used(so, "migration", err, errlen);
}

/*
 * --ctrl and --server, swtpm's syntax.  --ctrl fd= is a listening socket
 * and clientfd= a connected one; --server fd= is a connected one (swtpm_setup
 * hands over one end of a socketpair).  A connected one ends the process
 * when it closes, as in swtpm.
 */
static int parse_endpoint(struct endpoint *ep, struct subopts *so,
			  const char *opt, bool is_ctrl, char *err,
			  size_t errlen)
{
	struct subopt *type = subopts_find(so, "type");
	struct subopt *path = subopts_find(so, "path");
	struct subopt *port = subopts_find(so, "port");
	struct subopt *addr = subopts_find(so, "bindaddr");
	struct subopt *fd = subopts_find(so, "fd");
	struct subopt *cfd = is_ctrl ? subopts_find(so, "clientfd") : NULL;
	struct subopt *mode = subopts_find(so, "mode");
	struct subopt *uid = subopts_find(so, "uid");
	struct subopt *gid = subopts_find(so, "gid");
	struct subopt *term = is_ctrl ? subopts_find(so, "terminate") : NULL;
	struct subopt *disc = is_ctrl ? NULL : subopts_find(so, "disconnect");
	unsigned long v;
	int n;

	ep->fd = ep->conn_fd = -1;
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
	if (fd && cfd)
		return fail_with(err, errlen, "--%s: give fd= or clientfd=, not both",
				 opt);
	if (fd || cfd) {
		if (subopt_fd((fd ? fd : cfd)->value, &n) < 0)
			return fail_with(err, errlen, "--%s: %s= needs a number",
					 opt, fd ? "fd" : "clientfd");
		if (fd && is_ctrl)
			ep->fd = n;
		else
			ep->conn_fd = n;
	} else if (ep->type == ENDPOINT_UNIX) {
		if (!path || !path->value || !*path->value)
			return fail_with(err, errlen, "--%s: path= is required", opt);
		ep->path = path->value;
	} else {
		ep->port = is_ctrl ? 0 : 6545;
		if (port && subopt_uint(port->value, 65535, &v) < 0)
			return fail_with(err, errlen, "--%s: port= needs a number", opt);
		if (port)
			ep->port = (unsigned)v;
		if (!ep->port)
			return fail_with(err, errlen, "--%s: port= is required", opt);
		ep->bindaddr = addr ? addr->value : NULL;
	}
	if (mode && subopt_mode(mode->value, &ep->mode) < 0)
		return fail_with(err, errlen,
			    "--%s: mode= needs an octal mode, at most 0777", opt);
	if (uid) {
		if (subopt_uint(uid->value, INT_MAX, &v) < 0)
			return fail_with(err, errlen, "--%s: uid= needs a number", opt);
		ep->uid = (uid_t)v;
	}
	if (gid) {
		if (subopt_uint(gid->value, INT_MAX, &v) < 0)
			return fail_with(err, errlen, "--%s: gid= needs a number", opt);
		ep->gid = (gid_t)v;
	}
	ep->terminate = term != NULL || ep->conn_fd >= 0;
	ep->disconnect = disc != NULL;
	return subopts_check_used(so, opt, err, errlen);
}

int optvalue_ctrl(struct options *o, struct subopts *so, char *err,
		    size_t errlen)
{
	return parse_endpoint(&o->ctrl, so, "ctrl", true, err, errlen);
}

int optvalue_server(struct options *o, struct subopts *so, char *err,
		      size_t errlen)
{
	return parse_endpoint(&o->data, so, "server", false, err, errlen);
}

/* --seccomp action=kill|log|none, as swtpm spells it (kill by default). */
int optvalue_seccomp(struct options *o, struct subopts *so, char *err,
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
int optvalue_node(struct options *o, struct subopts *so, char *err,
		    size_t errlen)
{
	struct subopt *owner = subopts_find(so, "owner");
	struct subopt *group = subopts_find(so, "group");
	struct subopt *mode = subopts_find(so, "mode");

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
		if (subopt_mode(mode->value, &o->dev.mode) < 0)
			return fail_with(err, errlen,
					 "--node: mode= needs an octal mode (0660)");
		o->dev.has_mode = true;
	}
	if (!owner && !group && !mode)
		return fail_with(err, errlen,
				 "--node: give owner=, group= or mode=");
	return subopts_check_used(so, "node", err, errlen);
}

/* ---- --key / --migration-key --------------------------------------------- */

static int key_path(const struct subopt *p, struct crypt_key_spec *spec,
		    char *err, size_t errlen)
{
	if (!p->value || !*p->value)
		return fail_with(err, errlen, "%s= needs a path", p->key);
	if (strlen(p->value) >= sizeof(spec->path))
		return fail_with(err, errlen, "%s= path is too long", p->key);
	snprintf(spec->path, sizeof(spec->path), "%s", p->value);
	return 0;
}

/* Exactly one of file=, fd=, pwdfile=, pwdfd=: where the key comes from. */
static int key_source(struct subopts *so, struct crypt_key_spec *spec,
		      char *err, size_t errlen)
{
	static const struct {
		const char *name;
		enum crypt_key_source source;
	} sources[] = {
		{ "file", CRYPT_KEY_FILE },
		{ "fd", CRYPT_KEY_FD },
		{ "pwdfile", CRYPT_PWD_FILE },
		{ "pwdfd", CRYPT_PWD_FD },
	};
	const struct subopt *p = NULL;
	size_t i;

	for (i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		const struct subopt *s = subopts_find(so, sources[i].name);

		if (!s)
			continue;
		if (p)
			return fail_with(err, errlen, "give only one of file=, "
					 "fd=, pwdfile= or pwdfd=");
		p = s;
		spec->source = sources[i].source;
	}
	if (!p)
		return fail_with(err, errlen,
				 "needs one of file=, fd=, pwdfile= or pwdfd=");
	if (spec->source == CRYPT_KEY_FILE || spec->source == CRYPT_PWD_FILE)
		return key_path(p, spec, err, errlen);
	if (subopt_fd(p->value, &spec->fd) < 0)
		return fail_with(err, errlen, "%s= needs a file descriptor number",
				 p->key);
	return 0;
}

static bool value_is(const struct subopt *p, const char *s)
{
	return p->value && !strcmp(p->value, s);
}

/* format=, mode=, remove=, kdf=: how the key is read or derived. */
static int key_settings(struct subopts *so, struct crypt_key_spec *spec,
			char *err, size_t errlen)
{
	const struct subopt *format = subopts_find(so, "format");
	const struct subopt *mode = subopts_find(so, "mode");
	const struct subopt *remove = subopts_find(so, "remove");
	const struct subopt *kdf = subopts_find(so, "kdf");
	bool pwd = spec->source == CRYPT_PWD_FILE || spec->source == CRYPT_PWD_FD;
	bool by_fd = spec->source == CRYPT_KEY_FD || spec->source == CRYPT_PWD_FD;

	/* what swtpm would silently ignore hides a mistake: refuse it */
	if (format && pwd)
		return fail_with(err, errlen, "format= applies to file= and fd= "
				 "only; a passphrase has no format");
	if (kdf && !pwd)
		return fail_with(err, errlen,
				 "kdf= applies to pwdfile= and pwdfd= only");
	if (remove && by_fd)
		return fail_with(err, errlen,
				 "remove applies to file= and pwdfile= only");
	if (format && value_is(format, "binary"))
		spec->format = CRYPT_FORMAT_BINARY;
	else if (format && !value_is(format, "hex"))
		return fail_with(err, errlen, "format= must be hex or binary");
	if (mode && value_is(mode, "aes-256-cbc"))
		spec->key_len = 32;
	else if (mode && !value_is(mode, "aes-cbc") &&
		 !value_is(mode, "aes-128-cbc"))
		return fail_with(err, errlen, "mode= must be aes-cbc, "
				 "aes-128-cbc or aes-256-cbc");
	if (remove && subopt_bool(remove, &spec->remove) < 0)
		return fail_with(err, errlen, "remove= must be true or false");
	if (kdf && value_is(kdf, "sha512"))
		spec->kdf = CRYPT_KDF_SHA512;
	else if (kdf && !value_is(kdf, "pbkdf2"))
		return fail_with(err, errlen, "kdf= must be pbkdf2 or sha512");
	return 0;
}

/* Every item but the flag "remove" is key=value. */
static int key_values_given(const struct subopts *so, char *err,
			    size_t errlen)
{
	size_t i;

	for (i = 0; i < so->n; i++)
		if (!so->item[i].value && strcmp(so->item[i].key, "remove"))
			return fail_with(err, errlen, "%s needs a value",
					 so->item[i].key);
	return 0;
}

int options_parse_key(const char *arg, struct crypt_key_spec *spec,
		      char *err, size_t errlen)
{
	struct subopts so;
	size_t i;
	int rc;

	memset(spec, 0, sizeof(*spec));
	spec->fd = -1;
	spec->format = CRYPT_FORMAT_HEX;
	spec->key_len = 16;
	spec->kdf = CRYPT_KDF_PBKDF2;
	if (!arg || !*arg)
		return fail_with(err, errlen, "needs a value such as file=PATH "
				 "or pwdfile=PATH");
	rc = subopts_split(&so, arg, err, errlen);
	if (rc == 0)
		rc = key_values_given(&so, err, errlen);
	if (rc == 0)
		rc = key_source(&so, spec, err, errlen);
	if (rc == 0)
		rc = key_settings(&so, spec, err, errlen);
	for (i = 0; i < so.n && rc == 0; i++)
		if (!so.item[i].used)
			rc = fail_with(err, errlen, "unknown parameter '%s'",
				       so.item[i].key);
	free(so.copy);
	return rc;
}
