/* SPDX-License-Identifier: BSD-3-Clause */
#include "check.h"
#include "options.h"

static int parse(struct options *o, char *err, size_t errlen, int argc,
		 char **argv)
{
	return options_parse(o, argc, argv, err, errlen);
}

#define PARSE(o, err, ...)                                                  \
	({                                                                  \
		char *argv_[] = { "cuse_tpm", __VA_ARGS__, NULL };          \
		parse(o, err, sizeof(err),                                  \
		      (int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_);  \
	})

static void swtpm_command_line(void)
{
	struct options o = { 0 };
	char err[256];

	CHECK_EQ(PARSE(&o, err, "-n", "vtpm-1", "--tpmstate",
		       "dir=/tmp/x,mode=0600,lock", "--tpm2", "--flags",
		       "not-need-init,startup-clear,disable-auto-shutdown",
		       "--log", "file=/tmp/l,level=20,prefix=X,truncate", "--pid",
		       "fd=7", "-M", "250", "--min", "3", "--locality",
		       "reject-locality-4"),
		 0);
	CHECK(strcmp(o.dev.name, "vtpm-1") == 0);
	CHECK(strcmp(o.state_dir, "/tmp/x") == 0);
	CHECK_EQ(o.state_mode, 0600);
	CHECK(o.tpm.tpm2 && o.tpm.lock && o.tpm.not_need_init);
	CHECK_EQ(o.tpm.startup, STARTUP_CLEAR);
	CHECK(o.tpm.disable_auto_shutdown && o.tpm.reject_locality_4);
	CHECK(strcmp(o.log.file, "/tmp/l") == 0 && o.log.level == 20);
	CHECK(strcmp(o.log.prefix, "X") == 0 && o.log.truncate);
	CHECK_EQ(o.pid_fd, 7);
	CHECK_EQ(o.dev.major, 250);
	CHECK_EQ(o.dev.minor, 3);
	options_free(&o);
}

static void defaults_are_tpm2_durable_locked(void)
{
	struct options o = { 0 };
	char err[256];

	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate",
		       "backend-uri=dir:///var/lib/x"),
		 0);
	CHECK(strcmp(o.state_dir, "/var/lib/x") == 0);
	CHECK(o.tpm.tpm2 && o.tpm.lock && o.durable && !o.foreground);
	CHECK_EQ(o.state_mode, 0640);
	CHECK(!o.tpm.not_need_init);
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x", "--tpm12"), 0);
	CHECK(!o.tpm.tpm2);
	options_free(&o);
}

static void errors_say_what_is_wrong(void)
{
	struct options o = { 0 };
	char err[256];

	CHECK_EQ(PARSE(&o, err, "--tpmstate", "dir=/x"), -1);
	CHECK(strstr(err, "-n NAME (the device /dev/NAME) or --ctrl"));
	CHECK_EQ(PARSE(&o, err, "-n", "a/b", "--tpmstate", "dir=/x"), -1);
	CHECK(strstr(err, "not a device name"));
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x,bogus=1"), -1);
	CHECK(strstr(err, "unknown parameter 'bogus'"));
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x", "--flags",
		       "startup-clear,startup-state"),
		 -1);
	CHECK(strstr(err, "at most one startup"));
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x", "-M", "70000"),
		 -1);
	CHECK(strstr(err, "0 to 65535"));
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x", "--log",
		       "file=/a,fd=3"),
		 -1);
	CHECK(strstr(err, "file= or fd="));
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x", "--bogus"), -1);
	CHECK(strstr(err, "unknown option"));
	CHECK_EQ(PARSE(&o, err, "-n"), -1);
	CHECK(strstr(err, "needs a value"));
	options_free(&o);
}

static void help_and_version_need_nothing_else(void)
{
	struct options o = { 0 };
	char err[256];

	CHECK_EQ(PARSE(&o, err, "-h"), 0);
	CHECK_EQ(o.action, ACTION_HELP);
	CHECK_EQ(PARSE(&o, err, "--version"), 0);
	CHECK_EQ(o.action, ACTION_VERSION);
	CHECK_EQ(PARSE(&o, err, "--print-capabilities"), 0);
	CHECK_EQ(o.action, ACTION_PRINT_CAPABILITIES);
	options_free(&o);
}

/* --seccomp as swtpm spells it (kill by default); --node owner and mode. */
static void seccomp_and_node(void)
{
	struct options o = { 0 };
	char err[256];

	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x"), 0);
	CHECK_EQ(o.seccomp, SECCOMP_KILL);
	CHECK(!o.dev.owner && !o.dev.group && !o.dev.has_mode);
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x", "--seccomp",
		       "action=log", "--node", "owner=tss,group=109,mode=0660"),
		 0);
	CHECK_EQ(o.seccomp, SECCOMP_LOG);
	CHECK(strcmp(o.dev.owner, "tss") == 0 && strcmp(o.dev.group, "109") == 0);
	CHECK(o.dev.has_mode && o.dev.mode == 0660);
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x", "--seccomp",
		       "action=none"),
		 0);
	CHECK_EQ(o.seccomp, SECCOMP_NONE);
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x", "--seccomp",
		       "action=trap"),
		 -1);
	CHECK(strstr(err, "kill, log or none"));
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x", "--seccomp",
		       "kill"),
		 -1);
	CHECK(strstr(err, "action= is required"));
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x", "--node",
		       "mode=0999"),
		 -1);
	CHECK(strstr(err, "octal mode"));
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x", "--node",
		       "uid=0"),
		 -1);
	CHECK(strstr(err, "give owner=, group= or mode="));
	options_free(&o);
}

/*
 * Every mode= is octal, as swtpm reads it, and at most 0777: "600" was once
 * read as decimal 600 = 01130, a socket the group could use.
 */
static void modes_are_octal(void)
{
	struct options o = { 0 };
	char err[256];

	CHECK_EQ(PARSE(&o, err, "socket", "--tpmstate", "dir=/x,mode=600",
		       "--ctrl", "type=unixio,path=/c,mode=600", "--server",
		       "type=unixio,path=/d,mode=660"),
		 0);
	CHECK_EQ(o.state_mode, 0600);
	CHECK_EQ(o.ctrl.mode, 0600);
	CHECK_EQ(o.data.mode, 0660);
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x", "--node",
		       "mode=640"),
		 0);
	CHECK_EQ(o.dev.mode, 0640);
	CHECK_EQ(PARSE(&o, err, "socket", "--tpmstate", "dir=/x", "--ctrl",
		       "type=unixio,path=/c,mode=1777"),
		 -1);
	CHECK(strstr(err, "at most 0777"));
	CHECK_EQ(PARSE(&o, err, "socket", "--tpmstate", "dir=/x,mode=0x1ff",
		       "--ctrl", "type=unixio,path=/c"),
		 -1);
	CHECK_EQ(PARSE(&o, err, "socket", "--tpmstate", "dir=/x,mode=8",
		       "--ctrl", "type=unixio,path=/c"),
		 -1);
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x", "--node",
		       "mode=4755"),
		 -1);
	options_free(&o);
}

#define PARSE_AS(o, err, prog, ...)                                         \
	({                                                                  \
		char *argv_[] = { prog, __VA_ARGS__, NULL };                \
		parse(o, err, sizeof(err),                                  \
		      (int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_);  \
	})

/* Finding 1: swtpm's syntax means swtpm's TPM 1.2 default. */
static void swtpm_dialect_defaults_to_tpm12(void)
{
	struct options o = { 0 };
	char err[256];

	CHECK_EQ(PARSE(&o, err, "socket", "--tpmstate", "dir=/x", "--ctrl",
		       "type=unixio,path=/c"),
		 0);
	CHECK(!o.tpm.tpm2 && o.mode == MODE_SOCKET && o.foreground);
	CHECK_EQ(o.ctrl.mode, 0770); /* swtpm's default for unixio sockets */
	CHECK_EQ(PARSE(&o, err, "cuse", "-n", "v", "--tpmstate", "dir=/x"), 0);
	CHECK(!o.tpm.tpm2 && o.mode == MODE_CUSE && !o.foreground);
	CHECK_EQ(PARSE(&o, err, "chardev", "--tpmstate", "dir=/x", "--ctrl",
		       "type=unixio,path=/c"),
		 0);
	CHECK(!o.tpm.tpm2 && o.mode == MODE_CHARDEV);
	CHECK_EQ(PARSE_AS(&o, err, "/usr/local/lib/cuse-tpm/swtpm-compat/swtpm",
			  "-n", "v", "--tpmstate", "dir=/x"),
		 0);
	CHECK(!o.tpm.tpm2);
	CHECK_EQ(PARSE(&o, err, "socket", "--tpm2", "--tpmstate", "dir=/x",
		       "--ctrl", "type=unixio,path=/c"),
		 0);
	CHECK(o.tpm.tpm2);
	/* the bare form keeps its TPM 2.0 */
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x"), 0);
	CHECK(o.tpm.tpm2 && o.mode == MODE_BARE);
	CHECK_EQ(PARSE(&o, err, "--ctrl", "type=unixio,path=/c,mode=0600",
		       "--server", "type=unixio,path=/d", "--tpmstate", "dir=/x"),
		 0);
	CHECK(o.ctrl.mode == 0600 && o.data.mode == 0); /* bare: the umask's */
	CHECK_EQ(PARSE(&o, err, "cuse", "--tpmstate", "dir=/x"), -1);
	CHECK(strstr(err, "cuse: -n NAME"));
	options_free(&o);
}

/* What swtpm_setup and libvirt pass. */
static void swtpm_setup_command_line(void)
{
	struct options o = { 0 };
	char err[256];

	CHECK_EQ(PARSE(&o, err, "socket", "--flags", "not-need-init,startup-clear",
		       "--tpmstate", "backend-uri=dir:///s,lock", "--pid",
		       "file=/p", "--tpm2", "--log", "file=/l", "--server",
		       "type=tcp,fd=7", "--ctrl", "type=unixio,clientfd=5",
		       "--key", "pwdfd=9,mode=aes-256-cbc", "--migration-key",
		       "pwdfd=10,mode=aes-256-cbc"),
		 0);
	CHECK(strcmp(o.state_dir, "/s") == 0 && o.tpm.lock);
	CHECK(o.data.conn_fd == 7 && o.data.fd == -1 && o.data.terminate);
	CHECK(o.ctrl.conn_fd == 5 && o.ctrl.fd == -1 && o.ctrl.terminate);
	CHECK(o.key_spec && o.key_spec->source == CRYPT_PWD_FD &&
	      o.key_spec->fd == 9 && o.key_spec->key_len == 32);
	CHECK(o.migration_key_spec && o.migration_key_spec->fd == 10);
	/* --ctrl fd= listens; -f in socket mode is swtpm's --fd */
	CHECK_EQ(PARSE(&o, err, "socket", "--tpmstate", "dir=/x", "--ctrl",
		       "type=unixio,fd=4", "-f", "8", "-t"),
		 0);
	CHECK(o.ctrl.fd == 4 && o.ctrl.conn_fd == -1);
	CHECK(o.data.conn_fd == 8 && o.terminate_on_data_close);
	CHECK_EQ(PARSE(&o, err, "socket", "--tpmstate", "dir=/x", "-p", "2321"),
		 0);
	CHECK(o.data.type == ENDPOINT_TCP && o.data.port == 2321 &&
	      o.data.disconnect);
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x", "--port",
		       "2321"),
		 -1);
	CHECK(strstr(err, "socket mode"));
	CHECK_EQ(PARSE(&o, err, "socket", "--tpmstate", "backend-uri=nfs://x",
		       "--ctrl", "type=unixio,path=/c"),
		 -1);
	CHECK(strstr(err, "dir://DIR or file://FILE"));
	CHECK_EQ(PARSE(&o, err, "socket", "--print-info", "0x4"), 0);
	CHECK(o.action == ACTION_PRINT_INFO && o.print_info == 4);
	options_free(&o);
}

/* Finding 4: --log level=N alone; finding 5: --chroot / -R. */
static void log_level_alone_and_chroot(void)
{
	struct options o = { 0 };
	char err[256];

	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x", "--log",
		       "level=20"),
		 0);
	CHECK(o.log.level == 20 && !o.log.file && o.log.fd == -1);
	CHECK_EQ(PARSE(&o, err, "cuse", "-n", "v", "--tpmstate", "dir=/x",
		       "--chroot", "/jail"),
		 0);
	CHECK(strcmp(o.chroot_dir, "/jail") == 0);
	CHECK_EQ(PARSE(&o, err, "socket", "-R", "/j2", "--tpmstate", "dir=/x",
		       "--ctrl", "type=unixio,path=/c"),
		 0);
	CHECK(strcmp(o.chroot_dir, "/j2") == 0);
	options_free(&o);
}

/* swtpm's linear file: unlocked unless asked, as in swtpm. */
static void linear_file_backend(void)
{
	struct options o = { 0 };
	char err[256];

	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate",
		       "backend-uri=file:///var/lib/x.img"),
		 0);
	CHECK(o.state_backend == STATE_BACKEND_FILE && strcmp(o.state_dir, "/var/lib/x.img") == 0);
	CHECK(!o.tpm.lock);
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate",
		       "backend-uri=file:///dev/sdx,lock,mode=0600"),
		 0);
	CHECK(o.state_backend == STATE_BACKEND_FILE && o.tpm.lock && o.state_mode == 0600);
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate",
		       "backend-uri=file:///x.img,fsync"),
		 -1);
	CHECK(strstr(err, "fsync") != NULL);
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "backend-uri=rbd://x"),
		 -1);
	CHECK_EQ(PARSE(&o, err, "-n", "v", "--tpmstate", "dir=/x"), 0);
	CHECK(o.state_backend == STATE_BACKEND_DIR && o.tpm.lock);
	options_free(&o);
}

/* The resource-managed node: named after the kernel's tpm0/tpmrm0. */
static void rm_node_name(void)
{
	struct options o = { 0 };
	char err[256];

	CHECK_EQ(PARSE(&o, err, "-n", "vtpm-1234", "--tpmstate", "dir=/x"), 0);
	CHECK(o.dev.rm_name && strcmp(o.dev.rm_name, "vtpmrm-1234") == 0);
	CHECK_EQ(PARSE(&o, err, "-n", "mytpm", "--tpmstate", "dir=/x"), 0);
	CHECK(o.dev.rm_name && strcmp(o.dev.rm_name, "mytpm-rm") == 0);
	CHECK_EQ(PARSE(&o, err, "-n", "vtpm-1", "--tpmstate", "dir=/x",
		       "--rm-node", "shared-1"),
		 0);
	CHECK(o.dev.rm_name && strcmp(o.dev.rm_name, "shared-1") == 0);
	CHECK_EQ(PARSE(&o, err, "-n", "vtpm-1", "--tpmstate", "dir=/x",
		       "--rm-node", "off"),
		 0);
	CHECK(!o.dev.rm_name);
	CHECK_EQ(PARSE(&o, err, "-n", "vtpm-1", "--tpmstate", "dir=/x",
		       "--rm-node", "on"),
		 0);
	CHECK(o.dev.rm_name && strcmp(o.dev.rm_name, "vtpmrm-1") == 0);
	/* swtpm's dialect makes no second node unless asked */
	CHECK_EQ(PARSE(&o, err, "cuse", "-n", "vtpm-1", "--tpm2", "--tpmstate",
		       "dir=/x"),
		 0);
	CHECK(!o.dev.rm_name);
	CHECK_EQ(PARSE(&o, err, "cuse", "-n", "vtpm-1", "--tpm2", "--tpmstate",
		       "dir=/x", "--rm-node", "on"),
		 0);
	CHECK(o.dev.rm_name && strcmp(o.dev.rm_name, "vtpmrm-1") == 0);
	/* none for a TPM 1.2; asked for, an error */
	CHECK_EQ(PARSE(&o, err, "-n", "vtpm-1", "--tpmstate", "dir=/x",
		       "--tpm12"),
		 0);
	CHECK(!o.dev.rm_name);
	CHECK_EQ(PARSE(&o, err, "-n", "vtpm-1", "--tpmstate", "dir=/x",
		       "--tpm12", "--rm-node", "x"),
		 -1);
	CHECK(strstr(err, "TPM 2.0"));
	CHECK_EQ(PARSE(&o, err, "-n", "vtpm-1", "--tpmstate", "dir=/x",
		       "--rm-node", "a/b"),
		 -1);
	CHECK_EQ(PARSE(&o, err, "-n", "vtpm-1", "--tpmstate", "dir=/x",
		       "--rm-node", "vtpm-1"),
		 -1);
	options_free(&o);
}

CHECK_MAIN(TEST(linear_file_backend), TEST(swtpm_command_line), TEST(modes_are_octal), TEST(swtpm_dialect_defaults_to_tpm12),
	   TEST(swtpm_setup_command_line), TEST(log_level_alone_and_chroot), TEST(defaults_are_tpm2_durable_locked),
	   TEST(errors_say_what_is_wrong), TEST(seccomp_and_node),
	   TEST(help_and_version_need_nothing_else), TEST(rm_node_name))
