/* SPDX-License-Identifier: BSD-3-Clause */
#define FUSE_USE_VERSION 312
#include "cuse.h"

#include "cuse_dev.h"
#include "cuse_ioctl.h"
#include "identity.h"
#include "log.h"
#include "rm.h"
#include "stop_signals.h"

#include <cuse_lowlevel.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* One node: its CUSE session and the data path behind it. */
struct cuse_node {
	struct cuse_dev path;      /* the data path of /dev/<name> */
	struct fuse_session *se;
	char node[288];            /* /dev/<name> */
	bool node_made;            /* the kernel took our CUSE_INIT reply */
	pthread_t loop_thread;
};

/*
 * The raw node /dev/<name>, and the resource-managed one beside it if
 * configured; the raw node's loop runs on the caller's thread, the other's
 * on a thread of its own.
 */
struct cuse_device {
	struct cuse_node raw, rm;
	bool has_rm;
	int dev_fd;                /* /dev, which --chroot may hide */
	cuse_ready_fn ready;
	void *ready_ctx;
	const struct cuse_device_config *cfg;
	pthread_t keeper;          /* see keep_device() */
	atomic_bool probed;        /* the keeper's probe is through */
	atomic_bool ending;        /* the probe must not report readiness */
};

/* Both nodes open the same way: an opener of their data path, no more. */
static void node_open(fuse_req_t req, struct fuse_file_info *fi)
{
	struct cuse_node *n = fuse_req_userdata(req);

	cuse_dev_open(req, fi, &n->path);
}

/* The resource-managed node has no control channel, as /dev/tpmrm0. */
static void rm_node_ioctl(fuse_req_t req, int cmd, void *arg,
			  struct fuse_file_info *fi, unsigned flags,
			  const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	(void)cmd;
	(void)arg;
	(void)fi;
	(void)flags;
	(void)in_buf;
	(void)in_bufsz;
	(void)out_bufsz;
	fuse_reply_err(req, ENOTTY);
}

/*
 * The kernel has created the node; confirm that it opens.  On the keeper
 * thread: the loop's threads must stay free to serve that open.
 */
static void probe_node(struct cuse_device *d)
{
	int fd = openat(d->dev_fd, d->cfg->name, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	int err = fd < 0 ? -errno : 0;

	/*
	 * After --runas the node (root's until udev acts) is not ours to open;
	 * that it exists as a character device is what we can know.
	 */
	if (err == -EACCES || err == -EPERM) {
		struct stat st;

		if (fstatat(d->dev_fd, d->cfg->name, &st, 0) == 0 &&
		    S_ISCHR(st.st_mode))
			err = 0;
	}
	/* the kernel waits for our own RELEASE here: see end_connection() */
	if (fd >= 0)
		close(fd);
	if (d->ready && !atomic_load(&d->ending))
		d->ready(d->ready_ctx, err);
	atomic_store(&d->probed, true);
}

static void dev_init_done(void *userdata)
{
	struct cuse_node *n = userdata;

	n->node_made = true;
}

/* --node: owner, group and mode, for hosts where no udev rule sets them. */
static int apply_node_owner(const struct cuse_device *d,
			    const struct cuse_node *n, char *err, size_t errlen)
{
	const struct cuse_device_config *c = d->cfg;
	unsigned uid = (unsigned)-1, gid = (unsigned)-1;

	if (c->owner && identity_resolve(c->owner, false, &uid) < 0)
		return fail_with(err, errlen, "--node: no such user '%s'",
				 c->owner);
	if (c->group && identity_resolve(c->group, true, &gid) < 0)
		return fail_with(err, errlen, "--node: no such group '%s'",
				 c->group);
	if ((c->owner || c->group) &&
	    lchown(n->node, (uid_t)uid, (gid_t)gid) < 0)
		return fail_with(err, errlen, "--node: chown %s: %s", n->node,
				 strerror(errno));
	if (c->has_mode && chmod(n->node, c->mode) < 0)
		return fail_with(err, errlen, "--node: chmod %s: %s", n->node,
				 strerror(errno));
	return 0;
}

/* Answers the kernel's CUSE_INIT for @n and waits for its node. */
static int create_node(struct cuse_node *n, char *err, size_t errlen)
{
	struct fuse_buf buf = { .mem = NULL };
	struct stat st;
	int rc, i;

	/* the kernel's first request is CUSE_INIT; our reply makes the node */
	while (!n->node_made && !fuse_session_exited(n->se)) {
		rc = fuse_session_receive_buf(n->se, &buf);
		if (rc == -EINTR)
			continue;
		if (rc <= 0)
			break;
		fuse_session_process_buf(n->se, &buf);
	}
	free(buf.mem);
	if (!n->node_made)
		return fail_with(err, errlen, "the kernel did not start the CUSE "
				 "session for %s", n->node);
	/* devtmpfs makes it before the reply's write returns; allow a lag */
	for (i = 0; i < 100 && lstat(n->node, &st) < 0; i++)
		usleep(10000);
	if (i == 100 || !S_ISCHR(st.st_mode))
		return fail_with(err, errlen, "the kernel did not create %s: is "
				 "the name already taken by another CUSE device?",
				 n->node);
	return 0;
}

int cuse_device_create_node(struct cuse_device *d, char *err, size_t errlen)
{
	if (create_node(&d->raw, err, errlen) < 0 ||
	    apply_node_owner(d, &d->raw, err, errlen) < 0)
		return -1;
	if (d->has_rm && (create_node(&d->rm, err, errlen) < 0 ||
			  apply_node_owner(d, &d->rm, err, errlen) < 0))
		return -1;
	return 0;
}

const char *cuse_device_node(const struct cuse_device *d)
{
	return d->raw.node;
}

const char *cuse_device_rm_node(const struct cuse_device *d)
{
	return d->has_rm ? d->rm.node : NULL;
}

static const struct cuse_lowlevel_ops node_ops = {
	.init_done = dev_init_done,
	.open = node_open,
	.read = cuse_dev_read,
	.write = cuse_dev_write,
	.release = cuse_dev_release,
	.ioctl = cuse_ioctl,
	.poll = cuse_dev_poll,
};

static const struct cuse_lowlevel_ops rm_node_ops = {
	.init_done = dev_init_done,
	.open = node_open,
	.read = cuse_dev_read,
	.write = cuse_dev_write,
	.release = cuse_dev_release,
	.ioctl = rm_node_ioctl,
	.poll = cuse_dev_poll,
};

/* A CUSE session for /dev/<name>, not yet answered; -1 and @err. */
static int node_new(struct cuse_node *n, const struct cuse_device_config *cfg,
		    const char *name, unsigned minor,
		    const struct cuse_lowlevel_ops *ops, char *err,
		    size_t errlen)
{
	char devname[300], fdpath[32];
	const char *dev_info[] = { devname };
	char *argv[] = { "cuse_tpm", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	struct cuse_info ci = {
		.dev_major = cfg->major,
		.dev_minor = minor,
		.dev_info_argc = 1,
		.dev_info_argv = dev_info,
		/* restricted ioctls: struct sizes are fixed by the ABI */
		.flags = 0,
	};
	struct stat st;
	int fd;

	if (snprintf(devname, sizeof(devname), "DEVNAME=%s", name) >=
	    (int)sizeof(devname))
		return fail_with(err, errlen, "device name too long: %s", name);
	snprintf(n->node, sizeof(n->node), "/dev/%s", name);
	if (lstat(n->node, &st) == 0)
		return fail_with(err, errlen, "%s already exists: another vTPM "
				 "or device uses that name", n->node);
	fd = open("/dev/cuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENODEV)
			return fail_with(err, errlen,
					 "no /dev/cuse: this kernel has no CUSE "
					 "loaded; try 'modprobe cuse' (or use a "
					 "kernel with CONFIG_CUSE)");
		return fail_with(err, errlen, "cannot open /dev/cuse: %s",
				 strerror(errno));
	}
	if (cuse_dev_init(&n->path, NULL) < 0) {
		close(fd);
		return fail_with(err, errlen, "cannot set up the data path: %s",
				 strerror(errno));
	}
	n->se = cuse_lowlevel_new(&args, &ci, ops, n);
	fuse_opt_free_args(&args);
	snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", fd);
	if (!n->se || fuse_session_mount(n->se, fdpath) != 0) {
		if (n->se)
			fuse_session_destroy(n->se);
		n->se = NULL;
		close(fd);
		cuse_dev_destroy(&n->path);
		return fail_with(err, errlen,
				 "libfuse could not set up the CUSE session");
	}
	return 0;
}

static void node_free(struct cuse_node *n)
{
	if (!n->se)
		return;
	fuse_session_destroy(n->se);
	cuse_dev_destroy(&n->path);
	n->se = NULL;
}

struct cuse_device *cuse_device_new(const struct cuse_device_config *cfg,
				    cuse_ready_fn ready, void *ready_ctx, char *err,
				    size_t errlen)
{
	struct cuse_device *d = calloc(1, sizeof(*d));

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->ready = ready;
	d->ready_ctx = ready_ctx;
	d->cfg = cfg;
	d->dev_fd = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (d->dev_fd < 0) {
		snprintf(err, errlen, "/dev: %s", strerror(errno));
		free(d);
		return NULL;
	}
	if (node_new(&d->raw, cfg, cfg->name, cfg->minor, &node_ops, err,
		     errlen) < 0)
		goto fail;
	d->has_rm = cfg->rm_name != NULL;
	/* -m MIN fixes the raw node's minor; the other takes the next one */
	if (d->has_rm &&
	    node_new(&d->rm, cfg, cfg->rm_name,
		     cfg->major || cfg->minor ? cfg->minor + 1 : 0,
		     &rm_node_ops, err, errlen) < 0)
		goto fail;
	return d;
fail:
	node_free(&d->raw);
	close(d->dev_fd);
	free(d);
	return NULL;
}

/* Ends a sem_wait() or read() of the loop, nothing more. */
static void wake_loop(int sig)
{
	(void)sig;
}

/*
 * The resource-managed node's loop.  The signals that end the daemon are
 * blocked here (and in the workers it starts): they must reach the raw
 * node's loop, whose end ends this one.
 */
static void *rm_loop(void *arg)
{
	struct cuse_node *n = arg;
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	sigset_t set;

	stop_signal_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (!cfg)
		return NULL;
	fuse_loop_cfg_set_max_threads(cfg, CUSE_MAX_THREADS);
	fuse_session_loop_mt(n->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return NULL;
}

static int start_rm_node(struct cuse_device *d, struct vtpm *vtpm)
{
	struct sigaction sa = { .sa_handler = wake_loop };

	d->rm.path.vtpm = vtpm;
	d->rm.path.rm = rm_new(vtpm, NULL);
	if (!d->rm.path.rm)
		return -1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0 ||
	    pthread_create(&d->rm.loop_thread, NULL, rm_loop, &d->rm) != 0) {
		rm_free(d->rm.path.rm);
		d->rm.path.rm = NULL;
		return -1;
	}
	return 0;
}

static void stop_rm_node(struct cuse_device *d)
{
	struct timespec ts;

	if (!d->rm.path.rm)
		return;
	fuse_session_exit(d->rm.se);
	/* a wake-up that lands just before its sem_wait() is lost: repeat */
	do {
		pthread_kill(d->rm.loop_thread, SIGUSR1);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
	} while (pthread_timedjoin_np(d->rm.loop_thread, NULL, &ts) != 0);
	/* the sessions saved out go; spaces of openers still open are moot */
	rm_free(d->rm.path.rm);
	d->rm.path.rm = NULL;
}

/*
 * libfuse's signal handlers only mark the session to end; its loop then
 * waits for every FUSE thread, one of which may be deep in a key
 * generation or a LOCK_STORAGE wait.  A stop signal also wakes the keeper,
 * which quiesces the core (ends its waits, cancels the command), so the
 * loop ends at once.  File scope: a signal handler has no other way.
 */
static struct sigaction fuse_actions[N_STOP_SIGNALS];
static int keeper_pipe[2] = { -1, -1 }; /* 's': a stop signal, 'q': end */

static void on_stop_signal(int sig)
{
	int saved = errno;
	size_t i;

	if (write(keeper_pipe[1], "s", 1) < 0)
		errno = saved; /* a full pipe holds a byte already: enough */
	for (i = 0; i < N_STOP_SIGNALS; i++)
		if (stop_signals[i] == sig &&
		    fuse_actions[i].sa_handler != SIG_DFL &&
		    fuse_actions[i].sa_handler != SIG_IGN)
			fuse_actions[i].sa_handler(sig);
	errno = saved;
}

/*
 * The device's one thread of its own, beside the FUSE loops' (whose
 * threads a request may hold for seconds): it probes the raw node for
 * readiness, then answers the O_NONBLOCK writes held past their time and
 * turns stop signals into a quiesced core, until told to end.
 */
static void *keep_device(void *arg)
{
	struct cuse_device *d = arg;
	struct pollfd p[2] = {
		{ .fd = keeper_pipe[0], .events = POLLIN },
		{ .fd = cuse_dev_timer_fd(&d->raw.path), .events = POLLIN },
	};
	char why;

	probe_node(d);
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("the CUSE keeper cannot wait: %s", strerror(errno));
			break;
		}
		if (p[1].revents & POLLIN)
			cuse_dev_timer_fired(&d->raw.path);
		if (!(p[0].revents & POLLIN) || read(keeper_pipe[0], &why, 1) != 1)
			continue;
		if (why == 'q')
			break;
		vtpm_quiesce(d->raw.path.vtpm);
	}
	cuse_dev_hold_writes(&d->raw.path, false);
	return NULL;
}

/*
 * Starts the keeper, which takes no signal (they go to the loop), and
 * chains on_stop_signal before libfuse's handlers; -1 if it cannot start.
 */
static int start_keeper(struct cuse_device *d)
{
	struct sigaction sa;
	sigset_t all, old;
	size_t i;
	int err;

	if (pipe2(keeper_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&d->keeper, NULL, keep_device, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		close(keeper_pipe[0]);
		close(keeper_pipe[1]);
		keeper_pipe[0] = keeper_pipe[1] = -1;
		return -1;
	}
	/* the resource-managed node never holds them: see cuse_dev.h */
	cuse_dev_hold_writes(&d->raw.path, true);
	if (cuse_dev_timer_fd(&d->raw.path) < 0)
		log_info("O_NONBLOCK writes will not wait for short commands");
	for (i = 0; i < N_STOP_SIGNALS; i++) {
		sigaction(stop_signals[i], NULL, &fuse_actions[i]);
		sa = fuse_actions[i];
		sa.sa_handler = on_stop_signal;
		sa.sa_flags &= ~SA_SIGINFO;
		sigaction(stop_signals[i], &sa, NULL);
	}
	return 0;
}

/*
 * A loop that ends while the probe runs can leave the probe's OPEN, or the
 * RELEASE that its close() waits for (unkillably: the kernel forces
 * RELEASE), unanswered for good: libfuse drops what its workers read once
 * the loop ends.  Only the end of the connection frees the keeper then: the
 * session's descriptor goes, and its number stays taken (by a copy of
 * /dev's) for fuse_session_destroy() to close.  The node goes with it.
 */
static void end_connection(struct cuse_device *d)
{
	atomic_store(&d->ending, true);
	if (!atomic_load(&d->probed) &&
	    dup2(d->dev_fd, fuse_session_fd(d->raw.se)) < 0)
		log_err("cannot end the CUSE connection: %s", strerror(errno));
}

/* Ends the keeper and gives libfuse its handlers back. */
static void stop_keeper(struct cuse_device *d)
{
	size_t i;

	end_connection(d);
	if (write(keeper_pipe[1], "q", 1) < 0)
		log_warn("cannot end the CUSE keeper");
	pthread_join(d->keeper, NULL);
	for (i = 0; i < N_STOP_SIGNALS; i++)
		sigaction(stop_signals[i], &fuse_actions[i], NULL);
	close(keeper_pipe[0]);
	close(keeper_pipe[1]);
	keeper_pipe[0] = keeper_pipe[1] = -1;
}

int cuse_device_run(struct cuse_device *d, struct vtpm *vtpm)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	sigset_t stop_set;
	int rc;

	if (!cfg)
		return -1;
	d->raw.path.vtpm = vtpm;
	fuse_loop_cfg_set_max_threads(cfg, CUSE_MAX_THREADS);
	d->raw.loop_thread = pthread_self();
	/*
	 * libfuse leaves alone a signal that is ignored, and a shell starts
	 * background jobs with SIGINT ignored: take them back, a vTPM must
	 * stop in order on any of them.
	 */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (fuse_set_signal_handlers(d->raw.se) != 0) {
		fuse_loop_cfg_destroy(cfg);
		return -1;
	}
	/* before either loop runs, until both ended: a stop quiesces the core */
	if (start_keeper(d) < 0) {
		log_err("cannot start the CUSE keeper thread");
		fuse_remove_signal_handlers(d->raw.se);
		fuse_loop_cfg_destroy(cfg);
		return -1;
	}
	/* main() blocked them while the TPM booted: one that came acts now */
	stop_signal_set(&stop_set);
	pthread_sigmask(SIG_UNBLOCK, &stop_set, NULL);
	if (d->has_rm && start_rm_node(d, vtpm) < 0) {
		log_err("cannot serve %s", d->rm.node);
		rc = -1;
	} else {
		rc = fuse_session_loop_mt(d->raw.se, cfg);
		stop_rm_node(d);
	}
	stop_keeper(d);
	fuse_remove_signal_handlers(d->raw.se);
	fuse_loop_cfg_destroy(cfg);
	/* a signal that ended the loop is reported as its number: not an error */
	return rc < 0 ? -1 : 0;
}

void cuse_device_exit(void *arg)
{
	struct cuse_device *d = arg;

	fuse_session_exit(d->raw.se);
	/* wake the loop's main thread, which waits for exactly this */
	pthread_kill(d->raw.loop_thread, SIGTERM);
}

void cuse_device_free(struct cuse_device *d)
{
	if (!d)
		return;
	node_free(&d->raw);
	if (d->has_rm)
		node_free(&d->rm);
	close(d->dev_fd);
	free(d);
}
