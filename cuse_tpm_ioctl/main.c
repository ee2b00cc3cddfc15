/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cuse_tpm_ioctl: send one control command to a vTPM (cuse_tpm or swtpm),
 * through its CUSE device or its socket control channel.
 *
 * Command line, stdout, stderr and exit codes are swtpm_ioctl's, so a
 * script moves over by changing the program name; our explanations follow
 * on lines of their own, and run as swtpm_ioctl (a link of that name) the
 * tool leaves them out (report.h).
 *
 * Every option is written once, in options[]: getopt's table, the command
 * dispatch and --help are made from it.
 */
#include "client.h"
#include "commands.h"
#include "report.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * clang-tidy's insecureAPI check wants C11 Annex K (memcpy_s, snprintf_s,
 * ...); glibc has none, and each call here is bounded by a sizeof.
 */
/* NOLINTBEGIN(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */

#ifndef CUSE_TPM_VERSION
#define CUSE_TPM_VERSION "0.1.0"
#endif

/* swtpm_ioctl's default control port for --tcp (its man page says 6545). */
#define DEFAULT_TCP_PORT 6546u

struct command {
	const char *option; /* the one spelling swtpm_ioctl accepts */
	const char *arg;    /* the argument's name for --help; NULL: none */
	/*
	 * Takes the option's argument: for a command the word after the
	 * option's (as swtpm_ioctl takes it), else getopt's optarg.
	 * -1: an error, said; 1: done (--help, --version); 0: go on.
	 */
	int (*parse)(struct args *a, const char *arg);
	int (*run)(struct client *c, const struct args *a); /* NULL: no command */
	bool takes_file;    /* a file name follows the argument */
	const char *help;   /* "\n" starts an indented line */
};

/* ------------------------------------------------------------------------ */
/* Arguments */

/*
 * Numbers are read the way swtpm_ioctl reads them (sscanf "%u": leading
 * blanks and a sign allowed, trailing text ignored), so that every command
 * line it accepts means the same here.
 */
static int parse_locality(struct args *a, const char *arg)
{
	if (sscanf(arg, "%u", &a->number) != 1) {
		say("Could not get locality number from %s.\n", arg);
		return -1;
	}
	if (a->number > 4) {
		say("Locality outside valid range of [0..4].\n");
		return -1;
	}
	return 0;
}

static int parse_buffersize(struct args *a, const char *arg)
{
	if (sscanf(arg, "%u", &a->number) != 1) {
		say("Could not get buffersize from %s.\n", arg);
		return -1;
	}
	return 0;
}

static int parse_retries(struct args *a, const char *arg)
{
	if (sscanf(arg, "%u", &a->number) != 1) {
		say("Could not get number of retries from %s.\n", arg);
		return -1;
	}
	return 0;
}

static int parse_info_flags(struct args *a, const char *arg)
{
	char *end;

	errno = 0;
	a->info_flags = strtoull(arg, &end, 0);
	/* like swtpm_ioctl, strtoul's rules: "" is 0, "-1" is all bits */
	if (errno || *end) {
		say("Cannot parse info flags.\n");
		why("--info takes the flags as an integer, e.g. 1 or 0x3");
		return -1;
	}
	return 0;
}

static int parse_hash_data(struct args *a, const char *arg)
{
	a->hash_data = arg;
	return 0;
}

static int parse_blob_type(struct args *a, const char *arg)
{
	a->blob_type = arg;
	return 0;
}

static int parse_device(struct args *a, const char *arg)
{
	a->device = arg;
	return 0;
}

static int parse_unix(struct args *a, const char *arg)
{
	a->unix_path = arg;
	return 0;
}

/*
 * The port as swtpm_ioctl takes it: "%u" into an int, and only 65536 and
 * more refused (so ":-1" is port 65535).  Its message quotes the --tcp
 * argument from its second character on, whatever the host.
 */
static int parse_port(const char *s, const char *arg, unsigned int *port)
{
	unsigned int u;
	int n;

	if (sscanf(s, "%u", &u) != 1) {
		say("Invalid port '%s'\n", s);
		return -1;
	}
	n = (int)u;
	if (n >= 65536) {
		say("Port '%s' outside valid range.\n", arg + 1);
		return -1;
	}
	*port = (uint16_t)n;
	return 0;
}

/*
 * HOST, :PORT, HOST:PORT or ":" as swtpm_ioctl takes them; the last colon
 * splits, so "::1:6546" works, and a bracketed "[::1]" host is unwrapped.
 */
static int parse_tcp(struct args *a, const char *arg)
{
	const char *colon = strrchr(arg, ':');
	const char *host = arg;
	size_t host_len = colon ? (size_t)(colon - arg) : strlen(arg);

	a->tcp_port = DEFAULT_TCP_PORT;
	if (colon == arg) {
		host = "127.0.0.1";
		host_len = strlen(host);
		if (colon[1] && parse_port(colon + 1, arg, &a->tcp_port))
			return -1;
	} else if (colon && parse_port(colon + 1, arg, &a->tcp_port)) {
		return -1;
	}
	if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
		host++;
		host_len -= 2;
	}
	free(a->tcp_host);
	a->tcp_host = strndup(host, host_len);
	if (!a->tcp_host) {
		say("Out of memory.\n");
		return -1;
	}
	return 0;
}

static int print_version(struct args *a, const char *arg)
{
	(void)a;
	(void)arg;
	printf(PROG " (cuse_tpm) " CUSE_TPM_VERSION "\n");
	return 1;
}

static int print_help(struct args *a, const char *arg);

/* ------------------------------------------------------------------------ */
/* The options */

/* In swtpm_ioctl's order, so that getopt words an ambiguity the same. */
static const struct command options[] = {
	{"--tpm-device", "DEV", parse_device, NULL, false,
	 "the CUSE device, e.g. /dev/vtpm-NAME (usually given\n"
	 "after the command, without the option)"},
	{"--tcp", "[HOST][:PORT]", parse_tcp, NULL, false,
	 "the control port (default 127.0.0.1:6546)"},
	{"--unix", "PATH", parse_unix, NULL, false,
	 "the control socket at PATH"},
	{"-c", NULL, NULL, cmd_capabilities, false,
	 "print the capability bits"},
	{"-i", NULL, NULL, cmd_init, false,
	 "power-cycle (init) the TPM; saved volatile state\n"
	 "is resumed once, then deleted"},
	{"--stop", NULL, NULL, cmd_stop, false,
	 "stop the TPM; the server keeps running"},
	{"-s", NULL, NULL, cmd_shutdown, false,
	 "stop the TPM and end the server"},
	{"-e", NULL, NULL, cmd_established, false,
	 "print the tpmEstablished bit"},
	{"-r", "LOC", parse_locality, cmd_reset_established, false,
	 "reset tpmEstablished from locality LOC (3 or 4)"},
	{"-v", NULL, NULL, cmd_store_volatile, false,
	 "write the volatile state to storage"},
	{"-C", NULL, NULL, cmd_cancel, false,
	 "cancel the command in progress"},
	{"-l", "LOC", parse_locality, cmd_locality, false,
	 "use locality LOC (0-4) for commands"},
	{"-h", "DATA", parse_hash_data, cmd_hash, false,
	 "hash DATA (DRTM sequence); '-' reads stdin"},
	{"-g", NULL, NULL, cmd_config, false,
	 "print the configuration flags (keys in use)"},
	{"-b", "SIZE", parse_buffersize, cmd_buffersize, false,
	 "set the I/O buffer size (0: just query) and print\n"
	 "the current, smallest and largest sizes"},
	{"--save", "TYPE", parse_blob_type, cmd_save, true,
	 "write state blob TYPE to FILE"},
	{"--load", "TYPE", parse_blob_type, cmd_load, true,
	 "load state blob TYPE from FILE into a stopped TPM\n"
	 "TYPE: permanent, volatile or savestate"},
	{"--version", NULL, print_version, NULL, false,
	 "print the version"},
	{"--info", "FLAGS", parse_info_flags, cmd_info, false,
	 "print the TPM's JSON description (1: spec,\n"
	 "2: attributes, 4: features)"},
	{"--lock-storage", "N", parse_retries, cmd_lock_storage, false,
	 "take the storage lock, trying N more times 10 ms apart"},
	{"--help", NULL, print_help, NULL, false,
	 "print this text"},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* getopt's values: OPT_BASE + the index in options[] */
#define OPT_BASE 256

static void help_line(const struct command *o)
{
	char left[40];
	const char *p = o->help;

	snprintf(left, sizeof(left), "%s%s%s%s", o->option, o->arg ? " " : "",
		 o->arg ? o->arg : "", o->takes_file ? " FILE" : "");
	printf("  %-21s ", left);
	for (; *p; p++) {
		putchar(*p);
		if (*p == '\n')
			printf("%24s", "");
	}
	putchar('\n');
}

/* Where the vTPM is, the commands, the rest: each group in table order. */
static int print_help(struct args *a, const char *arg)
{
	static const char *const groups[] = {
		"Where the vTPM is:", "Commands (exactly one):", "Others:",
	};

	(void)arg;
	print_version(a, NULL);
	printf("\nSend one control command to a vTPM and print its answer.\n"
	       "\n"
	       "Usage: %s COMMAND DEVICE\n"
	       "       %s COMMAND --unix PATH | --tcp [HOST][:PORT]\n",
	       a->prog, a->prog);
	for (int g = 0; g < 3; g++) {
		printf("\n%s\n", groups[g]);
		for (size_t i = 0; i < N_OPTIONS; i++) {
			const struct command *o = &options[i];
			int group = o->run ? 1 : o->arg ? 0 : 2;

			if (group == g)
				help_line(o);
		}
	}
	printf("\nEnvironment: SWTPM_IOCTL_BUFFERSIZE=N moves state blobs over "
	       "a device with\nread()/write() in N-byte pieces instead of "
	       "ioctls only.\n");
	return 1;
}

/* getopt's table, made from options[] */
static void getopt_table(struct option *out)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const char *o = options[i].option;

		out[i].name = o + (o[1] == '-' ? 2 : 1);
		out[i].has_arg = options[i].arg ? required_argument : no_argument;
		out[i].flag = NULL;
		out[i].val = OPT_BASE + (int)i;
	}
	out[N_OPTIONS] = (struct option){NULL, 0, NULL, 0};
}

/* The command whose one spelling is @token, or NULL. */
static const struct command *command_spelled(const char *token)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (options[i].run && !strcmp(options[i].option, token))
			return &options[i];
	return NULL;
}

/*
 * --save and --load take a second argument, the file, which must not look
 * like an option.
 */
static int take_file_arg(int argc, char **argv, struct args *a,
			 const char *option)
{
	if (optind >= argc || argv[optind][0] == '-') {
		say("Missing filename argument for %s option\n", option);
		return -1;
	}
	a->blob_file = argv[optind++];
	return 0;
}

/* A command option: its argument, then "only one command". */
static int take_command(int argc, char **argv, struct args *a,
			const struct command *cmd)
{
	const char *token;

	if (cmd->takes_file && take_file_arg(argc, argv, a, cmd->option))
		return -1;
	if (cmd->parse) {
		int at = optind - (cmd->takes_file ? 2 : 1);

		token = argv[at - 1];
		if (cmd->parse(a, argv[at]))
			return -1;
	} else {
		token = argv[optind - 1];
	}
	if (a->cmd_token && token != a->cmd_token) {
		say("Only one command may be given.\n");
		why("%s and %s are two commands", a->cmd->option, cmd->option);
		return -1;
	}
	a->cmd = cmd;
	a->cmd_token = token;
	return 0;
}

enum parse_result { PARSE_ERROR = -1, PARSE_OK = 0, PARSE_DONE = 1 };

/*
 * swtpm_ioctl's rules, step for step, since its messages and their order
 * are ours: getopt_long_only() with glibc's own messages (so "-c", "--c",
 * "-stop" and abbreviations all parse); an option's argument is the word
 * after the option's word, even in the "--info=1" form; each command is
 * checked as it comes, then "only one command"; an unknown option is
 * reported and ignored.
 */
static enum parse_result parse_args(int argc, char **argv, struct args *a)
{
	struct option longopts[N_OPTIONS + 1];
	int opt;

	getopt_table(longopts);
	a->prog = argv[0];
	while ((opt = getopt_long_only(argc, argv, "", longopts, NULL)) != -1) {
		const struct command *o;
		int r;

		if (opt < OPT_BASE)
			continue; /* '?': getopt said why */
		o = &options[opt - OPT_BASE];
		if (o->run)
			r = take_command(argc, argv, a, o);
		else
			r = o->parse(a, optarg);
		if (r)
			return r < 0 ? PARSE_ERROR : PARSE_DONE;
	}

	if (!a->cmd_token) {
		say("No valid command.\n");
		why("give one command, e.g. -c; see --help");
		return PARSE_ERROR;
	}
	if (!a->device && !a->tcp_host && !a->unix_path) {
		if (optind >= argc) {
			say("Error: Missing device name.\n");
			why("name the device (e.g. /dev/vtpm-NAME) or use "
			    "--unix or --tcp");
			return PARSE_ERROR;
		}
		a->device = argv[optind];
	}
	return PARSE_OK;
}

/* ------------------------------------------------------------------------ */
/* Connecting */

static int open_device(struct client *c, const char *path, size_t rw_chunk)
{
	struct stat st;
	int err = client_open_device(c, path, rw_chunk);

	if (!err)
		return 0;
	say("Unable to open device '%s'.\n", path);
	if (err == -ENOENT)
		why("no such device: is cuse_tpm running?");
	else if (err == -EBUSY)
		why("the device is busy (is QEMU or another client using it?)");
	else if (err == -ENXIO && stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		why("it is a socket; use --unix %s", path);
	else if (err == -EACCES)
		why("permission denied (run as root or as the device's owner)");
	else
		why("%s", strerror(-err));
	return -1;
}

static int open_unix(struct client *c, const char *path)
{
	int err = client_open_unix(c, path);

	if (!err)
		return 0;
	if (err == -ENAMETOOLONG) {
		say("Socket path is too long.\n");
		why("'%s' is longer than a socket address allows", path);
		return -1;
	}
	say("Connect failed: %s\n", strerror(-err));
	if (err == -ENOENT)
		why("no such socket as '%s': is the vTPM running?", path);
	else if (err == -ECONNREFUSED)
		why("nobody listens at '%s' (stale socket of a vTPM that "
		    "ended?)", path);
	return -1;
}

static int open_tcp(struct client *c, const char *host, unsigned int port,
		    char *where, size_t where_size)
{
	int gai_err = 0;
	int err = client_open_tcp(c, host, port, where, where_size, &gai_err);

	if (!err)
		return 0;
	if (gai_err) {
		say("getaddrinfo failed on host '%s': %s\n", host,
		    gai_strerror(gai_err));
		return -1;
	}
	say("Could not connect to host '%s' on port '%u' using TCP socket: "
	    "%s\n", host, port, strerror(-err));
	if (err == -ECONNREFUSED)
		why("is the vTPM's control port %s?", where);
	return -1;
}

/* swtpm_ioctl reads the variable like sscanf "%zu"; nonsense means 1. */
static size_t rw_chunk_from_env(void)
{
	const char *s = getenv("SWTPM_IOCTL_BUFFERSIZE");
	size_t n;

	if (!s)
		return 0;
	if (sscanf(s, "%zu", &n) != 1 || n < 1)
		return 1;
	return n;
}

/* Same precedence as swtpm_ioctl: device, then TCP, then Unix. */
static int connect_to_tpm(struct client *c, const struct args *a, char *where,
			  size_t where_size)
{
	if (a->device)
		return open_device(c, a->device, rw_chunk_from_env());
	if (a->tcp_host)
		return open_tcp(c, a->tcp_host, a->tcp_port, where, where_size);
	if (a->unix_path)
		return open_unix(c, a->unix_path);
	return -1; /* parse_args() leaves one of the three set */
}

/* Run as swtpm_ioctl (a link of that name), it is swtpm_ioctl exactly. */
static bool runs_as_swtpm_ioctl(const char *argv0)
{
	const char *base = argv0 ? strrchr(argv0, '/') : NULL;

	base = base ? base + 1 : argv0;
	return base && !strcmp(base, "swtpm_ioctl");
}

int main(int argc, char **argv)
{
	const struct command *cmd;
	struct args a;
	struct client c;
	char tcp_where[300];
	int ret = EXIT_FAILURE;

	report_set_explain(!runs_as_swtpm_ioctl(argv[0]));
	memset(&a, 0, sizeof(a));
	switch (parse_args(argc, argv, &a)) {
	case PARSE_DONE:
		ret = fflush(stdout) ? EXIT_FAILURE : EXIT_SUCCESS;
		goto out;
	case PARSE_ERROR:
		goto out;
	default:
		break;
	}

	if (connect_to_tpm(&c, &a, tcp_where, sizeof(tcp_where)))
		goto out;
	/* swtpm_ioctl knows a command only by its exact spelling, and
	 * answers anything else with its usage text and a failure */
	cmd = command_spelled(a.cmd_token);
	if (!cmd) {
		print_help(&a, NULL);
		why("write the command as '%s', not '%s'", a.cmd->option,
		    a.cmd_token);
	} else if (cmd->run(&c, &a) == 0) {
		ret = EXIT_SUCCESS;
	}
	client_close(&c);
	if (fflush(stdout) != 0) {
		why("cannot write to stdout: %s", strerror(errno));
		ret = EXIT_FAILURE;
	}
out:
	free(a.tcp_host);
	return ret;
}
/* NOLINTEND(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */
