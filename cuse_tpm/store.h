/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The state directory: swtpm's file names (tpm2-00.permall, ...), the blob
 * container around each file, atomic durable replacement, and the lock that
 * makes one process the owner of the directory.
 */
#ifndef CUSE_TPM_STORE_H
#define CUSE_TPM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypt.h"

enum store_blob {
	STORE_PERMALL,
	STORE_VOLATILE,
	STORE_SAVESTATE,
	STORE_NBLOBS,
};

struct store_cache {
	uint8_t *data; /* plain TPM state as last loaded or saved */
	size_t len;
	bool valid;    /* data mirrors the file (or its absence) */
	bool unsaved;  /* data (NULL: no file) is newer than the file */
};

struct store {
	char *dir;
	int dirfd;
	int lockfd;       /* -1 while unlocked */
	mode_t mode;      /* of state files */
	bool tpm2;        /* selects tpm2-00.* or tpm-00.* names */
	bool durable;     /* fsync file and directory before acknowledging */
	const struct crypt_key *key; /* --key: files are encrypted, or NULL */
	/* Landlock: only the directory we started with can be written */
	bool confined;
	bool told_confined; /* ... and the log has said so */
	struct store_cache cache[STORE_NBLOBS];
};

/* Creates @dir if missing; 0 or -errno. */
int store_open(struct store *s, const char *dir, mode_t mode, bool tpm2,
	       bool durable);
void store_close(struct store *s);

/* Takes the directory's lock, retrying @retries times 10 ms apart. */
int store_lock(struct store *s, unsigned retries);
void store_unlock(struct store *s);
bool store_locked(const struct store *s);

/* Maps libtpms' names ("permall", ...) to blobs; -1 if unknown. */
int store_blob_by_name(const char *name);

/*
 * Loads a blob's plain contents (newly allocated).  0, -ENOENT if there is
 * no such file, -EBADMSG if the file is not a valid container, or -errno.
 */
int store_load(struct store *s, enum store_blob b, uint8_t **data, size_t *len);
/*
 * Replaces the file atomically; does nothing if the contents are unchanged.
 * 0 or -errno; a failed write leaves the old file as it was.
 */
int store_save(struct store *s, enum store_blob b, const uint8_t *data,
	       size_t len);
int store_delete(struct store *s, enum store_blob b);

/*
 * After a failed store_save (or store_delete: @data NULL), keeps @data as
 * the blob's newest contents: store_load returns it, store_flush writes it.
 * 0 or -ENOMEM.
 */
int store_keep_unsaved(struct store *s, enum store_blob b, const uint8_t *data,
		       size_t len);
/* Whether some blob's newest contents have not reached the disk. */
bool store_has_unsaved(const struct store *s);
/*
 * Writes what store_keep_unsaved kept, first following the directory's path
 * to a directory made anew there (and locking that one if this store holds
 * the lock).  0 once nothing is unsaved, or -errno.
 */
int store_flush(struct store *s);
/* "DIR/tpm2-00.permall": for messages. */
void store_file_path(const struct store *s, enum store_blob b, char *buf,
		     size_t size);

#endif
