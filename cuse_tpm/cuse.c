/* SPDX-License-Identifier: BSD-3-Clause */
#define FUSE_USE_VERSION 312
#include "cuse.h"

#include "cuse_dev.h"
#include "cuse_ioctl.h"
#include "log.h"

#include <cuse_lowlevel.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Upper bound on FUSE threads: each blocking write/read/ioctl holds one. */
#define CUSE_MAX_THREADS 64

/* One node: its CUSE session and the data path behind it. */
struct cuse_device {
	struct cuse_dev path;      /* the data path of /dev/<name> */
	struct fuse_session *se;
	char node[288];            /* /dev/<name> */
	int dev_fd;                /* /dev, which --chroot may hide */
	pthread_t loop_thread;
	cuse_ready_fn ready;
	void *ready_ctx;
	const struct cuse_device_config *cfg;
	bool node_made;            /* the kernel took our CUSE_INIT reply */
};

/* /dev/<name> is the raw TPM node: an opener of its data path, no more. */
static void node_open(fuse_req_t req, struct fuse_file_info *fi)
{
	struct cuse_device *d = fuse_req_userdata(req);

	cuse_dev_open(req, fi, &d->path);
}

/*
 * The kernel has created the node; confirm from another thread that it
 * opens (this FUSE thread must stay free to serve that open).
 */
static void *probe_node(void *arg)
{
	struct cuse_device *d = arg;
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

	if (fd >= 0)
		close(fd);
	d->ready(d->ready_ctx, err);
	return NULL;
}

static void dev_init_done(void *userdata)
{
	struct cuse_device *d = userdata;

	d->node_made = true;
}

/* The readiness probe, once the loop can answer its open(). */
static void start_probe(struct cuse_device *d)
{
	pthread_t t;

	if (!d->ready)
		return;
	if (pthread_create(&t, NULL, probe_node, d) == 0)
		pthread_detach(t);
	else
		d->ready(d->ready_ctx, -EAGAIN);
}

/* A user or group as a name or a number; -1 with a reason in @err. */
static int resolve_id(const char *s, bool group, unsigned *id, char *err,
		      size_t errlen)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!errno && *s && !*end && *s != '-' && v < UINT_MAX) {
		*id = (unsigned)v;
		return 0;
	}
	if (group) {
		const struct group *gr = getgrnam(s);

		if (gr) {
			*id = gr->gr_gid;
			return 0;
		}
	} else {
		const struct passwd *pw = getpwnam(s);

		if (pw) {
			*id = pw->pw_uid;
			return 0;
		}
	}
	return fail_with(err, errlen, "--node: no such %s '%s'",
			 group ? "group" : "user", s);
}

/* --node: owner, group and mode, for hosts where no udev rule sets them. */
static int apply_node_owner(const struct cuse_device *d, char *err,
			    size_t errlen)
{
	const struct cuse_device_config *c = d->cfg;
	unsigned uid = (unsigned)-1, gid = (unsigned)-1;

	if ((c->owner && resolve_id(c->owner, false, &uid, err, errlen) < 0) ||
	    (c->group && resolve_id(c->group, true, &gid, err, errlen) < 0))
		return -1;
	if ((c->owner || c->group) &&
	    lchown(d->node, (uid_t)uid, (gid_t)gid) < 0)
		return fail_with(err, errlen, "--node: chown %s: %s", d->node,
				 strerror(errno));
	if (c->has_mode && chmod(d->node, c->mode) < 0)
		return fail_with(err, errlen, "--node: chmod %s: %s", d->node,
				 strerror(errno));
	return 0;
}

int cuse_device_create_node(struct cuse_device *d, char *err, size_t errlen)
{
	struct fuse_buf buf = { .mem = NULL };
	struct stat st;
	int n, i;

	/* the kernel's first request is CUSE_INIT; our reply makes the node */
	while (!d->node_made && !fuse_session_exited(d->se)) {
		n = fuse_session_receive_buf(d->se, &buf);
		if (n == -EINTR)
			continue;
		if (n <= 0)
			break;
		fuse_session_process_buf(d->se, &buf);
	}
	free(buf.mem);
	if (!d->node_made)
		return fail_with(err, errlen, "the kernel did not start the CUSE "
				 "session for %s", d->node);
	/* devtmpfs makes it before the reply's write returns; allow a lag */
	for (i = 0; i < 100 && lstat(d->node, &st) < 0; i++)
		usleep(10000);
	if (i == 100 || !S_ISCHR(st.st_mode))
		return fail_with(err, errlen, "the kernel did not create %s: is "
				 "the name already taken by another CUSE device?",
				 d->node);
	return apply_node_owner(d, err, errlen);
}

const char *cuse_device_node(const struct cuse_device *d)
{
	return d->node;
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

struct cuse_device *cuse_device_new(const struct cuse_device_config *cfg,
				    cuse_ready_fn ready, void *ready_ctx, char *err,
				    size_t errlen)
{
	char devname[300], fdpath[32];
	const char *dev_info[] = { devname };
	char *argv[] = { "cuse_tpm", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	struct cuse_info ci = {
		.dev_major = cfg->major,
		.dev_minor = cfg->minor,
		.dev_info_argc = 1,
		.dev_info_argv = dev_info,
		/* restricted ioctls: struct sizes are fixed by the ABI */
		.flags = 0,
	};
	struct cuse_device *d;
	struct stat st;
	int fd;

	if (snprintf(devname, sizeof(devname), "DEVNAME=%s", cfg->name) >=
	    (int)sizeof(devname)) {
		snprintf(err, errlen, "device name too long: %s", cfg->name);
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->dev_fd = -1;
	snprintf(d->node, sizeof(d->node), "/dev/%s", cfg->name);
	d->dev_fd = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (d->dev_fd < 0) {
		snprintf(err, errlen, "/dev: %s", strerror(errno));
		goto fail;
	}
	if (lstat(d->node, &st) == 0) {
		snprintf(err, errlen,
			 "%s already exists: another vTPM or device uses that name",
			 d->node);
		goto fail;
	}
	fd = open("/dev/cuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENODEV)
			snprintf(err, errlen,
				 "no /dev/cuse: this kernel has no CUSE loaded; "
				 "try 'modprobe cuse' (or use a kernel with "
				 "CONFIG_CUSE)");
		else
			snprintf(err, errlen, "cannot open /dev/cuse: %s",
				 strerror(errno));
		goto fail;
	}
	d->ready = ready;
	d->ready_ctx = ready_ctx;
	d->cfg = cfg;
	if (cuse_dev_init(&d->path, NULL) < 0) {
		snprintf(err, errlen, "cannot set up the data path: %s",
			 strerror(errno));
		close(fd);
		goto fail;
	}
	d->se = cuse_lowlevel_new(&args, &ci, &node_ops, d);
	fuse_opt_free_args(&args);
	snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", fd);
	if (!d->se || fuse_session_mount(d->se, fdpath) != 0) {
		snprintf(err, errlen, "libfuse could not set up the CUSE session");
		if (d->se)
			fuse_session_destroy(d->se);
		close(fd);
		cuse_dev_destroy(&d->path);
		goto fail;
	}
	return d;
fail:
	if (d->dev_fd >= 0)
		close(d->dev_fd);
	free(d);
	return NULL;
}

int cuse_device_run(struct cuse_device *d, struct vtpm *vtpm)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int rc;

	if (!cfg)
		return -1;
	d->path.vtpm = vtpm;
	fuse_loop_cfg_set_max_threads(cfg, CUSE_MAX_THREADS);
	d->loop_thread = pthread_self();
	/*
	 * libfuse leaves alone a signal that is ignored, and a shell starts
	 * background jobs with SIGINT ignored: take them back, a vTPM must
	 * stop in order on any of them.
	 */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (fuse_set_signal_handlers(d->se) != 0) {
		fuse_loop_cfg_destroy(cfg);
		return -1;
	}
	start_probe(d);
	rc = fuse_session_loop_mt(d->se, cfg);
	fuse_remove_signal_handlers(d->se);
	fuse_loop_cfg_destroy(cfg);
	/* a signal that ended the loop is reported as its number: not an error */
	return rc < 0 ? -1 : 0;
}

void cuse_device_exit(void *arg)
{
	struct cuse_device *d = arg;

	fuse_session_exit(d->se);
	/* wake the loop's main thread, which waits for exactly this */
	pthread_kill(d->loop_thread, SIGTERM);
}

void cuse_device_free(struct cuse_device *d)
{
	if (!d)
		return;
	fuse_session_destroy(d->se);
	if (d->dev_fd >= 0)
		close(d->dev_fd);
	cuse_dev_destroy(&d->path);
	free(d);
}
