/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The core: one virtual TPM, its power state and every control operation,
 * independent of how a client reaches it.  The CUSE device and the socket
 * channel are codecs in front of these functions; each takes and returns
 * host-order values and answers with a TPM result code (0 = success).
 *
 * libtpms keeps global state, so one lock in the core serialises every call
 * into it; an operation that needs libtpms runs on the caller's thread once
 * the TPM is free.  Those that do not (capabilities, locality, established
 * bit, cancel, config, info) never take that lock and answer at once, even
 * while a long command runs on another thread.
 *
 * vtpm.c holds power, the data path and the control operations;
 * vtpm_state.c the state crossing the process's edge (state blobs, the
 * volatile file, the state directory's lock).
 */
#ifndef CUSE_TPM_VTPM_H
#define CUSE_TPM_VTPM_H

#include <stdbool.h>
#include <stdint.h>

#include "cuse_tpm/tpm_ioctl.h"
#include "store.h"
#include "tpmlib.h"

struct vtpm_config {
	bool tpm2;
	bool not_need_init;        /* power on at start, without PTM_INIT */
	enum tpm_startup startup;  /* TPM_Startup sent at process start */
	bool disable_auto_shutdown;
	bool reject_locality_4;
	bool incoming;             /* lock the state only once state arrives */
	bool release_lock_outgoing; /* unlock once the savestate blob is out */
	bool lock;                 /* lock the state directory at all */
	/* --migration-key: blobs leave and arrive encrypted with it, or NULL */
	const struct crypt_key *migration_key;
};

/* Called once PTM_SHUTDOWN has ended the TPM: the process should exit. */
typedef void (*vtpm_exit_fn)(void *ctx);

struct vtpm;

/* NULL with errno set on failure. */
struct vtpm *vtpm_new(const struct vtpm_config *cfg, struct store *store,
		      vtpm_exit_fn exit_fn, void *exit_ctx);
/* Ends the TPM in order (unless disabled). */
void vtpm_free(struct vtpm *v);

/* Process start: INIT and Startup as the configuration asks. */
ptm_res vtpm_boot(struct vtpm *v);

/*
 * The data path: runs one command on this thread, waiting while another
 * holds the TPM; the response (at most @resp_size bytes) lands in @resp.
 * Returns its length.  A TPM that is off answers with a TPM error.
 */
int vtpm_execute(struct vtpm *v, const uint8_t *cmd, uint32_t len,
		 uint8_t *resp, uint32_t resp_size);
/*
 * The same, but only for a TPM 2.0 command that never takes long (no key
 * generation, no asymmetric cryptography: GetRandom, PCR_Extend, NV_Write,
 * Hash, ...) and only if the TPM is free at once; -EAGAIN otherwise, and
 * nothing ran.  For a client that must not wait (O_NONBLOCK), run where no
 * timer can be armed for it.
 */
int vtpm_execute_quick(struct vtpm *v, const uint8_t *cmd, uint32_t len,
		       uint8_t *resp, uint32_t resp_size);
uint32_t vtpm_max_command(struct vtpm *v);

/*
 * A sequence of commands no other client's command comes between (the
 * resource manager's load, command, save): @fn runs on this thread while
 * it holds the TPM, and sends each command with vtpm_exclusive_execute().
 * The handle is valid only inside @fn.
 */
struct vtpm_exclusive {
	struct vtpm *v;
};
typedef void (*vtpm_exclusive_fn)(struct vtpm_exclusive *x, void *ctx);
void vtpm_exclusive(struct vtpm *v, vtpm_exclusive_fn fn, void *ctx);
/* vtpm_execute() for @fn: the TPM is already held. */
int vtpm_exclusive_execute(struct vtpm_exclusive *x, const uint8_t *cmd,
			   uint32_t len, uint8_t *resp, uint32_t resp_size);

/* Control operations, one per PTM_* ioctl / CMD_* code. */
ptm_cap vtpm_get_capability(struct vtpm *v);
ptm_res vtpm_init(struct vtpm *v, uint32_t init_flags);
ptm_res vtpm_shutdown(struct vtpm *v);
ptm_res vtpm_get_established(struct vtpm *v, uint8_t *bit);
ptm_res vtpm_set_locality(struct vtpm *v, uint8_t loc);
ptm_res vtpm_hash_start(struct vtpm *v);
ptm_res vtpm_hash_data(struct vtpm *v, const uint8_t *data, uint32_t len);
ptm_res vtpm_hash_end(struct vtpm *v);
ptm_res vtpm_cancel(struct vtpm *v);
ptm_res vtpm_store_volatile(struct vtpm *v);
ptm_res vtpm_reset_established(struct vtpm *v, uint8_t loc);
/* The whole blob, newly allocated; *flags_out gets PTM_STATE_FLAG_*. */
ptm_res vtpm_get_stateblob(struct vtpm *v, uint32_t type, uint32_t flags_in,
			   uint8_t **blob, uint32_t *len, uint32_t *flags_out);
ptm_res vtpm_set_stateblob(struct vtpm *v, uint32_t type, uint32_t flags,
			   const uint8_t *blob, uint32_t len);
ptm_res vtpm_stop(struct vtpm *v);
ptm_res vtpm_get_config(struct vtpm *v, uint32_t *flags);
ptm_res vtpm_set_buffersize(struct vtpm *v, uint32_t wanted, uint32_t *actual,
			    uint32_t *min, uint32_t *max);
/* libtpms' JSON, newly allocated. */
ptm_res vtpm_get_info(struct vtpm *v, uint64_t flags, char **json);
/*
 * GET_INFO's paging: the window of libtpms' JSON (its NUL included) that
 * starts at @offset, at most @size bytes of it into @buf; *len is the
 * window's length, *total the whole's.  TPM_BAD_PARAMETER if @offset is at
 * the NUL or past it (then, or on any error, *len = *total = 0).
 */
ptm_res vtpm_get_info_window(struct vtpm *v, uint64_t flags, uint32_t offset,
			     char *buf, uint32_t size, uint32_t *len,
			     uint32_t *total);
/*
 * Takes the state directory's lock back, trying @retries more times
 * VTPM_LOCK_RETRY_MS apart (at most VTPM_LOCK_RETRIES_MAX, 3 s: what QEMU
 * asks for) while another process holds it.  The TPM stays free for
 * commands between tries, only one caller at a time waits (others try
 * once), and vtpm_quiesce() ends the wait.
 */
#define VTPM_LOCK_RETRY_MS 10
#define VTPM_LOCK_RETRIES_MAX 300u
ptm_res vtpm_lock_storage(struct vtpm *v, uint32_t retries);

/*
 * The process is ending: waits in the core end, and a command running in
 * libtpms is cancelled, so that every thread is soon free to be joined and
 * vtpm_free() ends the TPM in order.
 */
void vtpm_quiesce(struct vtpm *v);

/* libtpms' largest command and response. */
#define VTPM_IO_MAX 4096u

/* Largest state blob a client may set: keeps a hostile SET bounded. */
#define VTPM_MAX_BLOB (512u * 1024)

#endif
