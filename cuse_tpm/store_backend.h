/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inside the store: what a backend (store_dir.c, store_file.c) provides to
 * the common part (store.c).  A backend moves container bytes, the blobs as
 * they are on disk; store.c does the containers, the keys and the memory.
 * Only the store's own files include this.
 */
#ifndef CUSE_TPM_STORE_BACKEND_H
#define CUSE_TPM_STORE_BACKEND_H

#include "store.h"

struct store_cache {
	uint8_t *data; /* plain TPM state as last loaded or saved */
	size_t len;
	bool valid;    /* data mirrors the stored blob (or its absence) */
	bool unsaved;  /* data (NULL: no blob) is newer than the stored one */
};

struct store_ops {
	/* The stored bytes, newly allocated; -ENOENT if there are none. */
	int (*read)(struct store *s, enum store_blob b, uint8_t **buf,
		    size_t *len);
	/* Replaces them durably, or leaves them as they were; 0 or -errno. */
	int (*write)(struct store *s, enum store_blob b, const uint8_t *buf,
		     size_t len);
	int (*remove)(struct store *s, enum store_blob b);
	int (*size)(struct store *s, enum store_blob b, size_t *size);
	int (*lock)(struct store *s, unsigned retries);
	void (*unlock)(struct store *s);
	bool (*locked)(const struct store *s);
	/*
	 * Before unsaved blobs are written again: find the place anew if it
	 * was removed and made again (may mark more blobs unsaved); or NULL.
	 */
	int (*reattach)(struct store *s);
	void (*blob_path)(const struct store *s, enum store_blob b, char *buf,
			  size_t size);
	void (*free)(struct store *s);
};

/* The common part; a backend's own struct starts with it. */
struct store {
	const struct store_ops *ops;
	char *path;       /* the directory or the file */
	mode_t mode;      /* of files made */
	bool tpm2;        /* selects tpm2-00.* or tpm-00.* names */
	bool durable;     /* fsync before a write counts as done */
	/*
	 * Files are written only while the lock is held (the lock option):
	 * otherwise a write, a flush at exit included, fails with -ENOLCK and
	 * what it would have written stays unsaved, never lands on another
	 * lock holder's files.
	 */
	bool need_lock;
	const struct crypt_key *key; /* --key, or NULL */
	/* Landlock: only what we started with can be written */
	bool confined;
	bool told_confined; /* ... and the log has said so */
	struct store_cache cache[STORE_NBLOBS];
};

/* The backends' openers for store_probe: they create nothing. */
int store_probe_dir(struct store **s, const char *dir, bool tpm2);
int store_probe_file(struct store **s, const char *path, bool tpm2);

/* Fills the common part; 0 or -ENOMEM. */
int store_init(struct store *s, const struct store_ops *ops, const char *path,
	       mode_t mode, bool tpm2, bool durable);

/*
 * Opens a file that must be a regular file: a FIFO or a device planted
 * there would block the open or the I/O, and that while the TPM lock is
 * held.  O_NONBLOCK, O_NOFOLLOW and O_CLOEXEC are added to @flags.  The
 * descriptor, or -errno.
 */
int store_open_regular(int dirfd, const char *name, int flags, mode_t mode);
/* Reads a whole regular file below @dirfd (or an absolute @name): 0 or -errno. */
int store_read_file(int dirfd, const char *name, uint8_t **buf, size_t *len);
/* Writes @name below @dirfd through a temporary file; see store_dir.c. */
int store_replace_file(int dirfd, const char *tmp, const char *name,
		       mode_t mode, bool durable, const uint8_t *buf,
		       size_t len, int *lockfd);
/*
 * An open-file-description lock on @fd, retried @retries times 10 ms apart:
 * 0 or -errno (-EAGAIN: another holds it).
 */
int store_lock_fd(int fd, unsigned retries);

#endif
