/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The store's common part: containers and keys around the backend's bytes,
 * the copy of each blob in memory, and the writes kept after a failure.
 */
#include "store_backend.h"

#include "blob.h"
#include "io.h"
#include "log.h"

#include <libtpms/tpm_error.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

const char *store_blob_name(enum store_blob b)
{
	return blob_names[b];
}

int store_init(struct store *s, const struct store_ops *ops, const char *path,
	       mode_t mode, bool tpm2, bool durable)
{
	s->ops = ops;
	s->mode = mode;
	s->tpm2 = tpm2;
	s->durable = durable;
	s->path = strdup(path);
	return s->path ? 0 : -ENOMEM;
}

int store_probe(struct store **s, const char *path, bool linear, bool tpm2)
{
	return linear ? store_probe_file(s, path, tpm2)
		      : store_probe_dir(s, path, tpm2);
}

/* Whether this process may write the state now. */
static bool may_write(const struct store *s)
{
	return !s->need_lock || s->ops->locked(s);
}

void store_close(struct store *s)
{
	int i, rc;

	if (!s)
		return;
	rc = store_flush(s);
	if (rc < 0)
		log_err("exiting with the TPM state not written: %s still holds "
			"the state of before the failed write%s", s->path,
			rc == -ENOLCK ? " (its lock is another process's now)"
				      : "");
	store_unlock(s);
	for (i = 0; i < STORE_NBLOBS; i++)
		wipe_free(s->cache[i].data, s->cache[i].len);
	free(s->path);
	s->ops->free(s);
}

void store_set_key(struct store *s, const struct crypt_key *key)
{
	s->key = key;
}

const struct crypt_key *store_key(const struct store *s)
{
	return s->key;
}

void store_set_confined(struct store *s)
{
	s->confined = true;
}

const char *store_where(const struct store *s)
{
	return s->path;
}

void store_blob_path(const struct store *s, enum store_blob b, char *buf,
		     size_t size)
{
	s->ops->blob_path(s, b, buf, size);
}

/* ---- the lock ----------------------------------------------------------- */

/*
 * An open-file-description lock: it survives fork (unlike a POSIX record
 * lock, which swtpm lost when daemonizing) and still conflicts with swtpm's
 * fcntl() lock on the same file, so the two programs exclude each other.
 */
int store_lock_fd(int fd, unsigned retries)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	const struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };

	for (;;) {
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
			return 0;
		if ((errno != EAGAIN && errno != EACCES) || retries-- == 0)
			return errno == EACCES ? -EAGAIN : -errno;
		nanosleep(&pause, NULL);
	}
}

void store_set_need_lock(struct store *s, bool need)
{
	s->need_lock = need;
}

int store_lock(struct store *s, unsigned retries)
{
	if (s->ops->locked(s))
		return 0;
	return s->ops->lock(s, retries);
}

void store_unlock(struct store *s)
{
	s->ops->unlock(s);
}

bool store_locked(const struct store *s)
{
	return s->ops->locked(s);
}

/* ---- files, for the backends ----------------------------------------- */

int store_open_regular(int dirfd, const char *name, int flags, mode_t mode)
{
	struct stat st;
	int fd;

	fd = openat(dirfd, name, flags | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC,
		    mode);
	if (fd < 0)
		return errno == ENXIO ? -EINVAL : -errno; /* a FIFO, no reader */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int err = S_ISREG(st.st_mode) ? errno : EINVAL;

		close(fd);
		return -err;
	}
	return fd;
}

int store_read_file(int dirfd, const char *name, uint8_t **buf, size_t *len)
{
	struct stat st;
	uint8_t *p;
	int fd, err;

	fd = store_open_regular(dirfd, name, O_RDONLY, 0);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || st.st_size > STORE_MAX_FILE) {
		close(fd);
		return -EFBIG;
	}
	p = malloc(st.st_size ? st.st_size : 1);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	err = io_read_full(fd, p, st.st_size);
	if (err == -1)
		err = -EIO; /* shorter than fstat said: it changed under us */
	close(fd);
	if (err) {
		wipe_free(p, st.st_size);
		return err;
	}
	*buf = p;
	*len = (size_t)st.st_size;
	return 0;
}

/*
 * Write a temporary file, fsync it, rename it over the old one, fsync the
 * directory: after a crash the file is either the old or the new version.
 * With @lockfd (a lock held on the old file), the new file is locked before
 * it takes the name, so the name is never unlocked; *lockfd becomes it.
 */
int store_replace_file(int dirfd, const char *tmp, const char *name,
		       mode_t mode, bool durable, const uint8_t *buf,
		       size_t len, int *lockfd)
{
	bool relock = lockfd && *lockfd >= 0;
	int fd, rc;

	fd = store_open_regular(dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC, mode);
	if (fd < 0)
		return fd;
	rc = io_write_all(fd, buf, len);
	if (rc == 0 && durable && fsync(fd) < 0)
		rc = -errno;
	if (rc == 0 && relock)
		rc = store_lock_fd(fd, 0);
	if (rc == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		rc = -errno;
	if (rc < 0) {
		unlinkat(dirfd, tmp, 0);
		close(fd);
		return rc;
	}
	if (relock) {
		close(*lockfd);
		*lockfd = fd;
	} else if (close(fd) < 0) {
		rc = -errno;
	}
	if (durable && fsync(dirfd) < 0)
		return -errno;
	return rc;
}

/* ---- blobs ---------------------------------------------------------------- */

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
	wipe_free(c->data, c->len);
	c->data = copy;
	c->len = len;
	c->valid = true;
	c->unsaved = false;
}

static int cache_copy(const struct store_cache *c, uint8_t **data, size_t *len)
{
	if (!c->data)
		return -ENOENT;
	*data = malloc(c->len ? c->len : 1);
	if (!*data)
		return -ENOMEM;
	memcpy(*data, c->data, c->len);
	*len = c->len;
	return 0;
}

int store_load(struct store *s, enum store_blob b, uint8_t **data, size_t *len)
{
	char where[PATH_MAX];
	uint8_t *file = NULL;
	size_t flen = 0;
	int rc;

	if (s->cache[b].unsaved)
		return cache_copy(&s->cache[b], data, len);
	rc = s->ops->read(s, b, &file, &flen);
	if (rc == -ENOENT) {
		cache_set(&s->cache[b], NULL, 0);
		return rc;
	}
	if (rc < 0)
		return rc;
	rc = (int)blob_unwrap_file_key(file, flen, s->key, data, len);
	store_blob_path(s, b, where, sizeof(where));
	if (!rc && blob_is_legacy(file, flen))
		log_warn("%s is in the version-1 format of older swtpm releases: "
			 "it has no HMAC, so its integrity is not checked; "
			 "reading it as swtpm does (the next write makes it "
			 "version 2)", where);
	wipe_free(file, flen);
	if (rc) {
		log_err("%s cannot be read: %s", where,
			rc == TPM_KEYNOTFOUND	? "it is encrypted and no --key was given"
			: rc == TPM_DECRYPT_ERROR ? "wrong key, or the file was altered"
						  : "not a valid state file");
		return -EBADMSG;
	}
	cache_set(&s->cache[b], *data, *len);
	return 0;
}

int store_load_latest(struct store *s, enum store_blob b, uint8_t **data,
		      size_t *len)
{
	if (s->cache[b].valid || s->cache[b].unsaved)
		return cache_copy(&s->cache[b], data, len);
	return store_load(s, b, data, len);
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
	if (!may_write(s))
		return -ENOLCK;
	if (blob_wrap_file_key(data, len, s->key, &file, &flen))
		return -ENOMEM;
	rc = s->ops->write(s, b, file, flen);
	wipe_free(file, flen);
	if (rc < 0) {
		c->valid = false;
		return rc;
	}
	cache_set(c, data, len);
	return 0;
}

int store_delete(struct store *s, enum store_blob b)
{
	int rc = may_write(s) ? s->ops->remove(s, b) : -ENOLCK;

	if (rc < 0) {
		s->cache[b].valid = false;
		return rc;
	}
	cache_set(&s->cache[b], NULL, 0);
	return 0;
}

int store_stored_size(struct store *s, enum store_blob b, size_t *size)
{
	return s->ops->size(s, b, size);
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
	wipe_free(c->data, c->len);
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

int store_flush(struct store *s)
{
	int i, rc;

	if (!store_has_unsaved(s))
		return 0;
	if (!may_write(s))
		return -ENOLCK;
	if (s->ops->reattach) {
		rc = s->ops->reattach(s);
		if (rc < 0)
			return rc;
	}
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
