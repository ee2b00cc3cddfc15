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
int store_lock(struct store *s, unsigned retries)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	const struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };
	int fd;

	if (s->lockfd >= 0)
		return 0;
	fd = openat(s->dirfd, ".lock", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		    0660);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
			break;
		if ((errno != EAGAIN && errno != EACCES) || retries-- == 0) {
			int err = errno == EACCES ? EAGAIN : errno;

			close(fd);
			return -err;
		}
		nanosleep(&pause, NULL);
	}
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
}

int store_load(struct store *s, enum store_blob b, uint8_t **data, size_t *len)
{
	char name[64];
	uint8_t *file = NULL;
	size_t flen = 0;
	int rc;

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
		log_err("cannot write %s state to %s: %s", blob_names[b], s->dir,
			strerror(-rc));
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
	if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	if (s->durable)
		fsync(s->dirfd);
	cache_set(&s->cache[b], NULL, 0);
	return 0;
}
