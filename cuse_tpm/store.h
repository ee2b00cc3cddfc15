/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Where the TPM state lives, behind one interface (as QEMU's backends/tpm
 * puts each backend behind one ops table): a state directory with swtpm's
 * file names (tpm2-00.permall, ...; store_dir.c), or swtpm's linear file,
 * all blobs in one regular file or block device (store_file.c).  Either way
 * each blob sits in swtpm's container (blob.h), encrypted with --key if one
 * is set; every write replaces the old contents durably or leaves them; a
 * lock makes one process the owner.  What is kept in memory (the last
 * contents, writes that failed) stays in here.
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

struct store;

/*
 * The state directory @dir, created if missing; 0 or -errno.  @durable:
 * fsync file and directory before a write counts as done.
 */
int store_open(struct store **s, const char *dir, mode_t mode, bool tpm2,
	       bool durable);
/*
 * swtpm's linear file (backend-uri=file://@path): a regular file, made on
 * the first write, or a block device.  0 or -errno (-EPROTO: the file
 * carries a newer format version than swtpm's 1).
 */
int store_open_file(struct store **s, const char *path, mode_t mode, bool tpm2,
		    bool durable);
/* Reading only, creating nothing: for --print-states. */
int store_probe(struct store **s, const char *path, bool linear, bool tpm2);
/* Writes what is unsaved, unlocks, frees; @s may be NULL. */
void store_close(struct store *s);

/* --key: files are encrypted with @key (kept by the caller), or NULL. */
void store_set_key(struct store *s, const struct crypt_key *key);
const struct crypt_key *store_key(const struct store *s);
/* Landlock lets this process write only what it opened at start. */
void store_set_confined(struct store *s);

/*
 * With @need: nothing is written (store_save, store_delete, store_flush)
 * unless this process holds the lock; such writes fail with -ENOLCK.
 */
void store_set_need_lock(struct store *s, bool need);
/* Takes the lock, retrying @retries times 10 ms apart; 0 or -errno. */
int store_lock(struct store *s, unsigned retries);
void store_unlock(struct store *s);
bool store_locked(const struct store *s);

/* Maps libtpms' names ("permall", ...) to blobs; -1 if unknown. */
int store_blob_by_name(const char *name);
/* ... and back: swtpm's names, also those of --print-states. */
const char *store_blob_name(enum store_blob b);

/*
 * Loads a blob's plain contents (newly allocated).  0, -ENOENT if there is
 * no such blob, -EBADMSG if it is not a valid container, or -errno.
 */
int store_load(struct store *s, enum store_blob b, uint8_t **data, size_t *len);
/*
 * The same, but what this process last loaded or saved if it has that in
 * memory: the savestate, which lives nowhere else once libtpms wrote it.
 */
int store_load_latest(struct store *s, enum store_blob b, uint8_t **data,
		      size_t *len);
/*
 * Replaces the blob atomically; does nothing if the contents are unchanged.
 * 0 or -errno; a failed write leaves the old blob as it was.
 */
int store_save(struct store *s, enum store_blob b, const uint8_t *data,
	       size_t len);
int store_delete(struct store *s, enum store_blob b);
/* The stored (container) size of a blob: 0, or -ENOENT, or -errno. */
int store_stored_size(struct store *s, enum store_blob b, size_t *size);

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
 * Writes what store_keep_unsaved kept, first following the path to a
 * directory made anew there (and locking that one if this store holds the
 * lock).  0 once nothing is unsaved, or -errno.
 */
int store_flush(struct store *s);
/* "DIR" or "FILE": where the state is, for messages. */
const char *store_where(const struct store *s);
/* "DIR/tpm2-00.permall" or "FILE (permall)": for messages. */
void store_blob_path(const struct store *s, enum store_blob b, char *buf,
		     size_t size);

#endif
