/* SPDX-License-Identifier: BSD-3-Clause */
#include "store.h"

#include "blob.h"
#include "io.h"
#include "log.h"

#include <libtpms/tpm_error.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const blob_names[STORE_NBLOBS] = {
	[STORE_PERMALL] = "permall",
	[STORE_VOLATILE] = "volatilestate",
	[STORE_SAVESTATE] = "savestate",
};

/* Larger files are not TPM state: refuse before reading them into memory. */
#define STORE_MAX_FILE (16u << 20)

int store_blob_by_name(const char *name)
{
	int i;

	for (i = 0; i < STORE_NBLOBS; i++)
		if (strcmp(name, blob_names[i]) == 0)
			return i;
	return -1;
}

static void file_name(const struct store *s, enum store_blob b, bool tmp,
		      char *buf, size_t size)
{
	snprintf(buf, size, "%s-00.%s",
		 tmp ? (s->tpm2 ? "TMP2" : "TMP") : (s->tpm2 ? "tpm2" : "tpm"),
		 blob_names[b]);
}

int store_open(struct store *s, const char *dir, mode_t mode, bool tpm2,
	       bool durable)
{
	memset(s, 0, sizeof(*s));
	s->lockfd = -1;
	s->mode = mode;
	s->tpm2 = tpm2;
	s->durable = durable;
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		return -errno;
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0)
		return -errno;
	s->dir = strdup(dir);
	if (!s->dir) {
		close(s->dirfd);
		return -ENOMEM;
	}
	return 0;
}

void store_close(struct store *s)
{
	int i;

	if (!s->dir)
		return; /* never opened */
	if (store_flush(s) < 0)
		log_err("exiting with the TPM state not written: %s still holds "
			"the state of before the failed write", s->dir);
	store_unlock(s);
	for (i = 0; i < STORE_NBLOBS; i++)
		free(s->cache[i].data);
	close(s->dirfd);
	free(s->dir);
	s->dir = NULL;
}

/*
 * An open-file-description lock: it survives fork (unlike a POSIX record
 * lock, which swtpm lost when daemonizing) and still conflicts with swtpm's
 * fcntl() lock on the same file, so the two programs exclude each other.
 */
static int lock_dir(int dirfd, unsigned retries)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	const struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };
	int fd;

	fd = openat(dirfd, ".lock", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		    0660);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
			return fd;
		if ((errno != EAGAIN && errno != EACCES) || retries-- == 0) {
			int err = errno == EACCES ? EAGAIN : errno;

			close(fd);
			return -err;
		}
		nanosleep(&pause, NULL);
	}
}

int store_lock(struct store *s, unsigned retries)
{
	int fd;

	if (s->lockfd >= 0)
		return 0;
	fd = lock_dir(s->dirfd, retries);
	if (fd < 0)
		return fd;
	s->lockfd = fd;
	return 0;
}

void store_unlock(struct store *s)
{
	if (s->lockfd >= 0)
		close(s->lockfd);
	s->lockfd = -1;
}

bool store_locked(const struct store *s)
{
	return s->lockfd >= 0;
}

static int read_file(int dirfd, const char *name, uint8_t **buf, size_t *len)
{
	struct stat st;
	size_t got = 0;
	uint8_t *p;
	int fd, err;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > STORE_MAX_FILE) {
		err = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		close(fd);
		return -err;
	}
	p = malloc(st.st_size ? st.st_size : 1);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, p + got, st.st_size - got);

		if (n <= 0) {
			err = n < 0 ? errno : EIO;
			free(p);
			close(fd);
			return -err;
		}
		got += n;
	}
	close(fd);
	*buf = p;
	*len = got;
	return 0;
}

static void cache_set(struct store_cache *c, const uint8_t *data, size_t len)
{
	uint8_t *copy = NULL;

	if (data) {
		copy = malloc(len ? len : 1);
		if (!copy) {
			c->valid = false; /* only a missed skip-write, not an error */
			return;
		}
		memcpy(copy, data, len);
	}
	free(c->data);
	c->data = copy;
	c->len = len;
	c->valid = true;
	c->unsaved = false;
}

int store_load(struct store *s, enum store_blob b, uint8_t **data, size_t *len)
{
	char name[64];
	uint8_t *file = NULL;
	size_t flen = 0;
	int rc;

	if (s->cache[b].unsaved) {
		const struct store_cache *c = &s->cache[b];

		if (!c->data)
			return -ENOENT;
		*data = malloc(c->len ? c->len : 1);
		if (!*data)
			return -ENOMEM;
		memcpy(*data, c->data, c->len);
		*len = c->len;
		return 0;
	}
	file_name(s, b, false, name, sizeof(name));
	rc = read_file(s->dirfd, name, &file, &flen);
	if (rc == -ENOENT) {
		cache_set(&s->cache[b], NULL, 0);
		return rc;
	}
	if (rc < 0)
		return rc;
	rc = (int)blob_unwrap_file_key(file, flen, s->key, data, len);
	if (rc) {
		log_err("%s/%s cannot be read: %s", s->dir, name,
			rc == TPM_KEYNOTFOUND	? "it is encrypted and no --key was given"
			: rc == TPM_DECRYPT_ERROR ? "wrong key, or the file was altered"
						  : "not a valid state file");
		free(file);
		return -EBADMSG;
	}
	free(file);
	cache_set(&s->cache[b], *data, *len);
	return 0;
}

/*
 * Write a temporary file, fsync it, rename it over the old one, fsync the
 * directory: after a crash the file is either the old or the new version.
 */
static int replace_file(struct store *s, enum store_blob b, const uint8_t *buf,
			size_t len)
{
	char tmp[64], final[64];
	int fd, rc;

	file_name(s, b, true, tmp, sizeof(tmp));
	file_name(s, b, false, final, sizeof(final));
	fd = openat(s->dirfd, tmp,
		    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, s->mode);
	if (fd < 0)
		return -errno;
	rc = io_write_all(fd, buf, len);
	if (rc == 0 && s->durable && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(s->dirfd, tmp, s->dirfd, final) < 0)
		rc = -errno;
	if (rc < 0) {
		unlinkat(s->dirfd, tmp, 0);
		return rc;
	}
	if (s->durable && fsync(s->dirfd) < 0)
		return -errno;
	return 0;
}

int store_save(struct store *s, enum store_blob b, const uint8_t *data,
	       size_t len)
{
	struct store_cache *c = &s->cache[b];
	uint8_t *file;
	size_t flen;
	int rc;

	if (c->valid && c->data && c->len == len && memcmp(c->data, data, len) == 0)
		return 0;
	if (blob_wrap_file_key(data, len, s->key, &file, &flen))
		return -ENOMEM;
	rc = replace_file(s, b, file, flen);
	free(file);
	if (rc < 0) {
		c->valid = false;
		return rc;
	}
	cache_set(c, data, len);
	return 0;
}

int store_delete(struct store *s, enum store_blob b)
{
	char name[64];

	file_name(s, b, false, name, sizeof(name));
	if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT) {
		s->cache[b].valid = false;
		return -errno;
	}
	if (s->durable)
		fsync(s->dirfd);
	cache_set(&s->cache[b], NULL, 0);
	return 0;
}

int store_keep_unsaved(struct store *s, enum store_blob b, const uint8_t *data,
		       size_t len)
{
	struct store_cache *c = &s->cache[b];
	uint8_t *copy = NULL;

	if (data) {
		copy = malloc(len ? len : 1);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, data, len);
	}
	free(c->data);
	c->data = copy;
	c->len = data ? len : 0;
	c->valid = false;
	c->unsaved = true;
	return 0;
}

bool store_has_unsaved(const struct store *s)
{
	int i;

	for (i = 0; i < STORE_NBLOBS; i++)
		if (s->cache[i].unsaved)
			return true;
	return false;
}

/*
 * A state directory removed and made anew keeps its path but not its inode:
 * our descriptor still names the removed one, where nothing can be created.
 * Move to the new one, take its lock if we held the old one's, and write
 * everything we know into it (the removal took the files too).
 */
static int follow_dir(struct store *s)
{
	struct stat now, then;
	int fd, lockfd, i;

	fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &now) < 0 || fstat(s->dirfd, &then) < 0) {
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
				s->dir);
		s->told_confined = true;
		return -EACCES;
	}
	if (store_locked(s)) {
		lockfd = lock_dir(fd, 0);
		if (lockfd < 0) {
			close(fd);
			return lockfd;
		}
		close(s->lockfd);
		s->lockfd = lockfd;
	}
	close(s->dirfd);
	s->dirfd = fd;
	for (i = 0; i < STORE_NBLOBS; i++)
		if (s->cache[i].valid)
			s->cache[i].unsaved = true;
	log_warn("state directory %s was made anew: writing the state into it",
		 s->dir);
	return 0;
}

int store_flush(struct store *s)
{
	int i, rc;

	if (!store_has_unsaved(s))
		return 0;
	rc = follow_dir(s);
	if (rc < 0)
		return rc;
	for (i = 0; i < STORE_NBLOBS; i++) {
		struct store_cache *c = &s->cache[i];

		if (!c->unsaved)
			continue;
		c->valid = false; /* no skipped write: the file is behind */
		rc = c->data ? store_save(s, i, c->data, c->len)
			     : store_delete(s, i);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void store_file_path(const struct store *s, enum store_blob b, char *buf,
		     size_t size)
{
	char name[64];

	file_name(s, b, false, name, sizeof(name));
	snprintf(buf, size, "%s/%s", s->dir, name);
}
