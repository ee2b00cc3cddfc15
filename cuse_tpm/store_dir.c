/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The state directory backend: one file per blob under swtpm's names
 * (tpm2-00.permall, TMP2-00.permall while it is written), and the lock on
 * DIR/.lock.
 */
#include "store_backend.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct store_dir {
	struct store s; /* first: a struct store * is one of these */
	int dirfd;
	int lockfd; /* -1 while unlocked */
};

static struct store_dir *to_dir(struct store *s)
{
	return (struct store_dir *)s;
}

static const struct store_dir *to_cdir(const struct store *s)
{
	return (const struct store_dir *)s;
}

static void file_name(const struct store *s, enum store_blob b, bool tmp,
		      char *buf, size_t size)
{
	snprintf(buf, size, "%s-00.%s",
		 tmp ? (s->tpm2 ? "TMP2" : "TMP") : (s->tpm2 ? "tpm2" : "tpm"),
		 store_blob_name(b));
}

static int dir_read(struct store *s, enum store_blob b, uint8_t **buf,
		    size_t *len)
{
	char name[64];

	file_name(s, b, false, name, sizeof(name));
	return store_read_file(to_dir(s)->dirfd, name, buf, len);
}

static int dir_write(struct store *s, enum store_blob b, const uint8_t *buf,
		     size_t len)
{
	char tmp[64], name[64];

	file_name(s, b, true, tmp, sizeof(tmp));
	file_name(s, b, false, name, sizeof(name));
	return store_replace_file(to_dir(s)->dirfd, tmp, name, s->mode,
				  s->durable, buf, len, NULL);
}

static int dir_remove(struct store *s, enum store_blob b)
{
	struct store_dir *d = to_dir(s);
	char name[64];

	file_name(s, b, false, name, sizeof(name));
	if (unlinkat(d->dirfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	if (s->durable)
		fsync(d->dirfd);
	return 0;
}

static int dir_size(struct store *s, enum store_blob b, size_t *size)
{
	struct store_dir *d = to_dir(s);
	struct stat st;
	char name[64];

	if (d->dirfd < 0)
		return -ENOENT; /* probed, and there is no directory */
	file_name(s, b, false, name, sizeof(name));
	if (fstatat(d->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	*size = (size_t)st.st_size;
	return 0;
}

static int lock_dir(int dirfd, unsigned retries)
{
	int fd, rc;

	fd = store_open_regular(dirfd, ".lock", O_WRONLY | O_CREAT, 0660);
	if (fd < 0)
		return fd;
	rc = store_lock_fd(fd, retries);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

static int dir_lock(struct store *s, unsigned retries)
{
	struct store_dir *d = to_dir(s);
	int fd = lock_dir(d->dirfd, retries);

	if (fd < 0)
		return fd;
	d->lockfd = fd;
	return 0;
}

static void dir_unlock(struct store *s)
{
	struct store_dir *d = to_dir(s);

	if (d->lockfd >= 0)
		close(d->lockfd);
	d->lockfd = -1;
}

static bool dir_locked(const struct store *s)
{
	return to_cdir(s)->lockfd >= 0;
}

/*
 * A state directory removed and made anew keeps its path but not its inode:
 * our descriptor still names the removed one, where nothing can be created.
 * Move to the new one, take its lock if we held the old one's, and write
 * everything we know into it (the removal took the files too).
 */
static int dir_reattach(struct store *s)
{
	struct store_dir *d = to_dir(s);
	struct stat now, then;
	int fd, lockfd, i;

	fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &now) < 0 || fstat(d->dirfd, &then) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	if (now.st_dev == then.st_dev && now.st_ino == then.st_ino) {
		close(fd);
		return 0;
	}
	if (s->confined) {
		/* a rule binds an inode: the new directory is not ours */
		close(fd);
		if (!s->told_confined)
			log_err("state directory %s was made anew, but Landlock "
				"lets this process write only the directory it "
				"started with: the state stays in memory; take it "
				"out (cuse_tpm_ioctl --save) or restart the vTPM",
				s->path);
		s->told_confined = true;
		return -EACCES;
	}
	if (d->lockfd >= 0) {
		lockfd = lock_dir(fd, 0);
		if (lockfd < 0) {
			close(fd);
			return lockfd;
		}
		close(d->lockfd);
		d->lockfd = lockfd;
	}
	close(d->dirfd);
	d->dirfd = fd;
	for (i = 0; i < STORE_NBLOBS; i++)
		if (s->cache[i].valid)
			s->cache[i].unsaved = true;
	log_warn("state directory %s was made anew: writing the state into it",
		 s->path);
	return 0;
}

static void dir_blob_path(const struct store *s, enum store_blob b, char *buf,
			  size_t size)
{
	char name[64];

	file_name(s, b, false, name, sizeof(name));
	snprintf(buf, size, "%s/%s", s->path, name);
}

static void dir_free(struct store *s)
{
	struct store_dir *d = to_dir(s);

	if (d->dirfd >= 0)
		close(d->dirfd);
	free(d);
}

static const struct store_ops dir_ops = {
	.read = dir_read,
	.write = dir_write,
	.remove = dir_remove,
	.size = dir_size,
	.lock = dir_lock,
	.unlock = dir_unlock,
	.locked = dir_locked,
	.reattach = dir_reattach,
	.blob_path = dir_blob_path,
	.free = dir_free,
};

static int open_dir(struct store **out, const char *dir, mode_t mode,
		    bool tpm2, bool durable, bool probe)
{
	struct store_dir *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return -ENOMEM;
	d->lockfd = -1;
	d->dirfd = -1;
	rc = store_init(&d->s, &dir_ops, dir, mode, tpm2, durable);
	if (rc == 0 && !probe && mkdir(dir, 0750) < 0 && errno != EEXIST)
		rc = -errno;
	if (rc == 0) {
		d->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d->dirfd < 0 && !(probe && errno == ENOENT))
			rc = -errno;
	}
	if (rc < 0) {
		free(d->s.path);
		dir_free(&d->s);
		return rc;
	}
	*out = &d->s;
	return 0;
}

int store_open(struct store **s, const char *dir, mode_t mode, bool tpm2,
	       bool durable)
{
	return open_dir(s, dir, mode, tpm2, durable, false);
}

int store_probe_dir(struct store **s, const char *dir, bool tpm2)
{
	return open_dir(s, dir, 0, tpm2, false, true);
}
