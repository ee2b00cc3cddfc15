/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cuse_tpm: options -> one core -> the CUSE front end.  Without -f the
 * process forks and the parent waits on a pipe until the child reports that
 * /dev/NAME opens, or why it could not get there.
 */
#include "crypt.h"
#include "cuse.h"
#include "identity.h"
#include "log.h"
#include "notify.h"
#include "options.h"
#include "probe.h"
#include "sandbox.h"
#include "server.h"
#include "stop_signals.h"
#include "store.h"
#include "tpmlib.h"
#include "vtpm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CUSE_TPM_VERSION
#define CUSE_TPM_VERSION "0.1.0"
#endif

struct daemon {
	struct options opts;
	int ready_fd;     /* pipe to the waiting parent, or -1 */
	bool ready;
	bool failed;      /* a failure was reported already */
	struct store *store;
	struct crypt_key file_key, migration_key;
	struct vtpm *vtpm;
	struct cuse_device *dev; /* with -n */
	struct server *srv;      /* with --ctrl or --server */
	pthread_t main_thread;
	int pid_fd;       /* the pid file, open before the sandbox, or -1 */
	char *state_dir; /* the state's full path, for messages and the sandbox */
	struct identity runas; /* looked up before --chroot */
};

/* Before readiness, failures go to the terminal that started us. */
static void report_failure(struct daemon *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void report_failure(struct daemon *d, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->failed = true;
	log_err("%s", msg);
	if (d->ready_fd >= 0) {
		if (write(d->ready_fd, msg, n < (int)sizeof(msg) ? n : (int)sizeof(msg) - 1) < 0)
			return;
		close(d->ready_fd);
		d->ready_fd = -1;
	} else if (log_fd() != STDERR_FILENO) {
		fprintf(stderr, "cuse_tpm: %s\n", msg);
	}
}

/*
 * The pid file is opened (made) during start-up, while the sandbox still
 * lets us create it, and filled in once the device is ready.
 */
static int open_pid_file(struct daemon *d)
{
	const struct options *o = &d->opts;
	struct stat st;

	if (!o->pid_file) {
		d->pid_fd = o->pid_fd;
		return 0;
	}
	/* a FIFO there must not block start-up, nor a device take our pid */
	d->pid_fd = open(o->pid_file,
			 O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
			 0644);
	if (d->pid_fd < 0)
		return errno == ENXIO ? -EINVAL : -errno;
	if (fstat(d->pid_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(d->pid_fd);
		d->pid_fd = -1;
		return -EINVAL;
	}
	return 0;
}

static int write_pid_file(struct daemon *d)
{
	char buf[32];
	int n, err = 0;

	if (d->pid_fd < 0)
		return 0;
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if ((d->opts.pid_file && ftruncate(d->pid_fd, 0) < 0) ||
	    write(d->pid_fd, buf, n) != n)
		err = -errno;
	close(d->pid_fd);
	d->pid_fd = -1;
	return err;
}

/* In the foreground: where the TPM is, and something to try on it. */
static void print_ready(const struct daemon *d)
{
	const struct options *o = &d->opts;

	if (o->dev.name)
		printf("cuse_tpm: /dev/%s is ready (TPM %s, state in %s)\n"
		       "Try:     tpm2_getrandom -T device:/dev/%s --hex 16\n",
		       o->dev.name, o->tpm.tpm2 ? "2.0" : "1.2", d->state_dir,
		       o->dev.name);
	else
		printf("cuse_tpm: TPM %s ready (state in %s)\n",
		       o->tpm.tpm2 ? "2.0" : "1.2", d->state_dir);
	if (o->dev.rm_name)
		printf("Shared:  /dev/%s, for any number of clients at once\n",
		       o->dev.rm_name);
	if (o->ctrl.type == ENDPOINT_UNIX && o->ctrl.path)
		printf("Control: cuse_tpm_ioctl --unix %s -c\n", o->ctrl.path);
	else if (o->ctrl.type == ENDPOINT_TCP)
		printf("Control: cuse_tpm_ioctl --tcp %s:%u -c\n",
		       o->ctrl.bindaddr ? o->ctrl.bindaddr : "127.0.0.1",
		       o->ctrl.port);
	fflush(stdout);
}

static void on_tpm_exit(void *ctx);

/* From the CUSE front end: the node exists and opens, or it does not. */
static void on_device_ready(void *ctx, int err)
{
	struct daemon *d = ctx;
	int rc;

	if (err) {
		report_failure(d, "/dev/%s was created but cannot be opened: %s",
			       d->opts.dev.name, strerror(-err));
		on_tpm_exit(d);
		return;
	}
	rc = write_pid_file(d);
	if (rc < 0) {
		report_failure(d, "cannot write pid file: %s", strerror(-rc));
		on_tpm_exit(d);
		return;
	}
	d->ready = true;
	rc = notify_ready();
	if (rc < 0)
		log_warn("cannot tell the service manager we are ready: %s",
			 strerror(-rc));
	log_info("%s%s is ready", d->opts.dev.name ? "/dev/" : "the TPM",
		 d->opts.dev.name ? d->opts.dev.name : "");
	if (d->opts.dev.rm_name)
		log_info("/dev/%s is ready, its resource-managed twin",
			 d->opts.dev.rm_name);
	if (d->ready_fd >= 0) {
		if (write(d->ready_fd, "", 1) < 0)
			log_warn("the starting process went away");
		close(d->ready_fd);
		d->ready_fd = -1;
	} else {
		print_ready(d);
	}
}

/*
 * Returns in the child (or without -f, in the only process); the parent
 * exits with the child's verdict.
 */
static void daemonize(struct daemon *d)
{
	char msg[1024];
	int pfd[2], null;
	ssize_t n;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		perror("cuse_tpm: pipe");
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		perror("cuse_tpm: fork");
		exit(1);
	}
	if (pid > 0) {
		close(pfd[1]);
		n = read(pfd[0], msg, sizeof(msg) - 1);
		if (n == 1 && msg[0] == '\0')
			exit(0);
		if (n <= 0) {
			int status;

			waitpid(pid, &status, 0);
			fprintf(stderr, "cuse_tpm: the daemon exited before "
					"the device was ready\n");
			exit(1);
		}
		msg[n] = '\0';
		fprintf(stderr, "cuse_tpm: %s\n", msg);
		/* once we return, what the child made (the node) is gone */
		waitpid(pid, NULL, 0);
		exit(1);
	}
	close(pfd[0]);
	d->ready_fd = pfd[1];
	setsid();
	/* stderr is about to go: without a log of its own, use the journal */
	if (!d->opts.log.file && d->opts.log.fd < 0)
		log_to_syslog();
	/*
	 * Keep no descriptor of the starting terminal or pipe: a caller that
	 * reads our output until EOF must not wait for the daemon's end.  What
	 * goes wrong before readiness travels through the pipe instead.
	 */
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
}

/* PTM_SHUTDOWN, or a client leaving with terminate: end the process. */
static void on_tpm_exit(void *ctx)
{
	struct daemon *d = ctx;

	if (d->dev)
		cuse_device_exit(d->dev);
	else
		pthread_kill(d->main_thread, SIGTERM);
}

static void block_stop_signals(void)
{
	sigset_t set;

	stop_signal_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* Without a device, the main thread just waits for the end. */
static void wait_for_exit(void)
{
	sigset_t set;
	int sig;

	stop_signal_set(&set);
	sigwait(&set, &sig);
	log_info("signal %d: ending the TPM", sig);
}

/*
 * Where the state is written: its directory, or for a linear file the
 * directory it is replaced in, or the block device itself.
 */
static void state_paths(const struct daemon *d, struct sandbox_paths *p,
			char *parent, size_t size)
{
	const char *slash = strrchr(d->state_dir, '/');
	struct stat st;

	p->state_dir = d->state_dir;
	if (d->opts.state_backend != STATE_BACKEND_FILE)
		return;
	if (stat(d->state_dir, &st) == 0 && S_ISBLK(st.st_mode)) {
		p->state_dir = NULL;
		p->state_file = d->state_dir;
		return;
	}
	if (!slash)
		snprintf(parent, size, ".");
	else
		snprintf(parent, size, "%.*s",
			 slash == d->state_dir ? 1 : (int)(slash - d->state_dir),
			 d->state_dir);
	p->state_dir = parent;
}

/* Writes only to the state and the node from here on; removes only our files. */
static int confine_files(struct daemon *d)
{
	struct sandbox_paths paths = {
		/* in a --chroot jail the node is out of sight, and unneeded */
		.node = d->dev && !d->opts.chroot_dir ? cuse_device_node(d->dev)
						      : NULL,
		.removed = {
			d->opts.pid_file,
			d->opts.ctrl.type == ENDPOINT_UNIX ? d->opts.ctrl.path : NULL,
			d->opts.data.type == ENDPOINT_UNIX ? d->opts.data.path : NULL,
		},
	};
	char err[512], parent[PATH_MAX];
	int rc;

	state_paths(d, &paths, parent, sizeof(parent));
	rc = sandbox_restrict_files(&paths, err, sizeof(err));

	if (rc < 0) {
		report_failure(d, "%s", err);
		return -1;
	}
	if (rc > 0)
		store_set_confined(d->store);
	return 0;
}

static int serve(struct daemon *d)
{
	const struct options *o = &d->opts;
	bool stopped_early = false;
	char err[512];
	int rc;

	if (o->runas &&
	    identity_find(&d->runas, o->runas, err, sizeof(err)) < 0) {
		report_failure(d, "%s", err);
		return 1;
	}
	if (o->dev.name) {
		d->dev = cuse_device_new(&o->dev, on_device_ready, d, err,
					 sizeof(err));
		/* the node, and its --node owner and mode, while still root */
		if (!d->dev ||
		    cuse_device_create_node(d->dev, err, sizeof(err)) < 0) {
			report_failure(d, "%s", err);
			goto out;
		}
	}
	if (o->chroot_dir &&
	    identity_chroot(o->chroot_dir, err, sizeof(err)) < 0) {
		report_failure(d, "%s", err);
		goto out;
	}
	if ((o->key_spec &&
	     crypt_key_load(o->key_spec, &d->file_key, err, sizeof(err)) < 0) ||
	    (o->migration_key_spec &&
	     crypt_key_load(o->migration_key_spec, &d->migration_key, err,
			    sizeof(err)) < 0)) {
		report_failure(d, "%s", err);
		goto out;
	}
	if (o->migration_key_spec)
		d->opts.tpm.migration_key = &d->migration_key;
	if (o->ctrl.type != ENDPOINT_NONE || o->data.type != ENDPOINT_NONE) {
		d->srv = server_new(&o->ctrl, &o->data, err, sizeof(err));
		if (!d->srv) {
			report_failure(d, "%s", err);
			goto out;
		}
	}
	/* root was for /dev/cuse and the sockets; the state is the user's */
	if (o->runas &&
	    identity_become(&d->runas, o->runas, err, sizeof(err)) < 0) {
		report_failure(d, "%s", err);
		goto out;
	}
	if (o->state_backend == STATE_BACKEND_FILE)
		rc = store_open_file(&d->store, o->state_dir, o->state_mode,
				     o->tpm.tpm2, o->durable);
	else
		rc = store_open(&d->store, o->state_dir, o->state_mode,
				o->tpm.tpm2, o->durable);
	if (rc < 0) {
		report_failure(d, "state %s %s is unusable: %s",
			       o->state_backend == STATE_BACKEND_FILE ? "file"
								      : "directory",
			       o->state_dir,
			       rc == -EPROTO ? "a newer format than swtpm's "
					       "linear file version 1"
					     : strerror(-rc));
		goto out;
	}
	if (o->key_spec)
		store_set_key(d->store, &d->file_key);
	d->state_dir = realpath(o->state_dir, NULL);
	if (!d->state_dir)
		d->state_dir = strdup(o->state_dir);
	if (!d->state_dir) {
		report_failure(d, "out of memory");
		goto out;
	}
	/*
	 * The lock is ours before any state is read, and in this process.
	 * As in swtpm, --migration incoming postpones it until state arrives,
	 * and release-lock-outgoing without not-need-init until PTM_INIT:
	 * until then nothing reads or writes the state.
	 */
	if (o->tpm.lock && !o->tpm.incoming &&
	    (o->tpm.not_need_init || !o->tpm.release_lock_outgoing)) {
		rc = store_lock(d->store, 0);
		if (rc < 0) {
			report_failure(d, "state %s is in use: %s",
				       d->state_dir,
				       rc == -EAGAIN ? "another TPM holds its lock"
						     : strerror(-rc));
			goto out;
		}
	}
	rc = open_pid_file(d);
	if (rc < 0) {
		report_failure(d, "cannot write pid file %s: %s", o->pid_file,
			       rc == -EINVAL ? "not a regular file"
					     : strerror(-rc));
		goto out;
	}
	/* before any thread starts: Landlock binds this thread's children */
	if (confine_files(d) < 0)
		goto out;
	crypt_init();
	/* only the allow-listed calls from here: the state is parsed confined */
	if (sandbox_filter_syscalls(o->seccomp, err, sizeof(err)) < 0) {
		report_failure(d, "%s", err);
		goto out;
	}
	d->vtpm = vtpm_new(&o->tpm, d->store, on_tpm_exit, d);
	if (!d->vtpm) {
		report_failure(d, "cannot start the TPM: %s", strerror(errno));
		goto out;
	}
	rc = vtpm_boot(d->vtpm);
	if (rc) {
		report_failure(d, "the TPM failed to power on: TPM error 0x%x",
			       rc);
		goto out;
	}
	if (d->srv && server_start(d->srv, d->vtpm, on_tpm_exit, d) < 0) {
		report_failure(d, "cannot start the socket threads");
		goto out;
	}
	if (!d->dev) {
		on_device_ready(d, 0);
		wait_for_exit();
	} else if (cuse_device_run(d->dev, d->vtpm) < 0) {
		if (!d->ready && !d->failed)
			report_failure(d, "cannot serve /dev/%s", o->dev.name);
		log_err("the CUSE loop failed");
	} else if (!d->ready && !d->failed) {
		/*
		 * A stop signal, or PTM_SHUTDOWN, before the probe was through:
		 * what the starter waits for failed, the stop itself did not.
		 */
		report_failure(d, "stopped before /dev/%s was ready",
			       o->dev.name);
		stopped_early = true;
	}
out:
	/*
	 * Waits in the core end and a long command is cancelled, so that
	 * the clients' threads are free; then the TPM ends in order, then the
	 * device goes.
	 */
	vtpm_quiesce(d->vtpm);
	server_free(d->srv);
	vtpm_free(d->vtpm);
	cuse_device_free(d->dev);
	store_close(d->store);
	crypt_key_wipe(&d->file_key);
	crypt_key_wipe(&d->migration_key);
	free(d->state_dir);
	/* ours to remove: filled in at readiness, or made and never filled */
	if (o->pid_file && (d->ready || d->pid_fd >= 0))
		unlink(o->pid_file);
	if (o->pid_file && d->pid_fd >= 0)
		close(d->pid_fd);
	return d->ready || stopped_early ? 0 : 1;
}

int main(int argc, char *argv[])
{
	struct daemon d = { .ready_fd = -1, .pid_fd = -1 };
	char err[512];
	int rc;

	if (options_parse(&d.opts, argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "cuse_tpm: %s\nTry 'cuse_tpm --help'.\n", err);
		options_free(&d.opts);
		return 1;
	}
	switch (d.opts.action) {
	case ACTION_HELP:
		options_usage("cuse_tpm");
		options_free(&d.opts);
		return 0;
	case ACTION_VERSION:
		printf("cuse_tpm %s (libtpms %u.%u.%u)\n", CUSE_TPM_VERSION,
		       (tpmlib_version() >> 16) & 0xff,
		       (tpmlib_version() >> 8) & 0xff, tpmlib_version() & 0xff);
		options_free(&d.opts);
		return 0;
	case ACTION_PRINT_CAPABILITIES:
		rc = probe_print_capabilities(&d.opts);
		options_free(&d.opts);
		return rc;
	case ACTION_PRINT_STATES:
		rc = probe_print_states(&d.opts);
		options_free(&d.opts);
		return rc;
	case ACTION_PRINT_INFO:
		rc = probe_print_info(&d.opts);
		options_free(&d.opts);
		return rc;
	case ACTION_RUN:
		break;
	}
	/*
	 * libtpms runs on whichever thread holds the TPM lock, one at a time:
	 * one malloc arena serves them all, where glibc would give every FUSE
	 * thread an arena of its own and the daemon's memory would grow with
	 * the thread pool.
	 */
	mallopt(M_ARENA_MAX, 1);
	/*
	 * A command deep in libtpms touches enough of a thread's stack for a
	 * kernel with transparent huge pages always on to back it with a 2 MiB
	 * page: each FUSE thread that ever ran a command would hold one.
	 */
	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	rc = log_open(&d.opts.log);
	if (rc < 0) {
		fprintf(stderr, "cuse_tpm: cannot open log %s: %s\n",
			d.opts.log.file,
			rc == -EINVAL ? "not a regular file or a device"
				      : strerror(-rc));
		options_free(&d.opts);
		return 1;
	}
	if (!d.opts.foreground)
		daemonize(&d);
	/* at level 5 and up libtpms' own lines join the log, as in swtpm
	 * (not the journal: libtpms writes to a descriptor) */
	tpmlib_debug(log_fd(), d.opts.log.level, d.opts.log.prefix);
	d.main_thread = pthread_self();
	/* a client that hangs up mid-reply is an error return, not our end */
	signal(SIGPIPE, SIG_IGN);
	d.opts.data.terminate |= d.opts.terminate_on_data_close;
	/*
	 * A stop signal waits until it can end the TPM in order: without a
	 * device the main thread sigwait()s for it, with one the CUSE loop
	 * takes it once its handlers are in place (cuse_device_run()).
	 */
	block_stop_signals();
	rc = serve(&d);
	log_close();
	options_free(&d.opts);
	return rc;
}
