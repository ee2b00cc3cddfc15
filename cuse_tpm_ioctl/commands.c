/* SPDX-License-Identifier: BSD-3-Clause */
#include "commands.h"

#include "io.h"
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libtpms/tpm_error.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * clang-tidy's insecureAPI check wants C11 Annex K (memcpy_s, snprintf_s,
 * ...) for every memcpy/memset/snprintf; glibc has no Annex K, and each
 * call here is bounded by a sizeof, so the check is off for this file.
 */
/* NOLINTBEGIN(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

static uint32_t blob_type_of(const char *name)
{
	if (!strcmp(name, "permanent"))
		return PTM_BLOB_TYPE_PERMANENT;
	if (!strcmp(name, "volatile"))
		return PTM_BLOB_TYPE_VOLATILE;
	if (!strcmp(name, "savestate"))
		return PTM_BLOB_TYPE_SAVESTATE;
	return 0;
}

int cmd_capabilities(struct client *c, const struct args *a)
{
	const struct ctrl_op *op = &ctrl_op_table[CTRL_GET_CAPABILITY];
	ptm_cap caps = 0;
	int err = client_call(c, CTRL_GET_CAPABILITY, &caps, 0, sizeof(caps));

	(void)a;
	if (err) {
		report_transport(c, op, err);
		return -1;
	}
	/* On a socket the upper half is the result word; swtpm_ioctl prints
	 * it as part of the value, and so do we, but we say so. */
	if (c->tp == &client_socket && (caps >> 32))
		why("warning: the server also returned TPM result 0x%x",
		       (uint32_t)(caps >> 32));
	printf("ptm capability is 0x%" PRIx64 "\n", (uint64_t)caps);
	return 0;
}

int cmd_init(struct client *c, const struct args *a)
{
	struct ptm_init init;

	(void)a;
	memset(&init, 0, sizeof(init));
	init.u.req.init_flags = PTM_INIT_FLAG_DELETE_VOLATILE;
	return run_op(c, CTRL_INIT, &init, sizeof(init.u.req), sizeof(init));
}

int cmd_shutdown(struct client *c, const struct args *a)
{
	(void)a;
	return run_simple(c, CTRL_SHUTDOWN);
}

int cmd_stop(struct client *c, const struct args *a)
{
	(void)a;
	return run_simple(c, CTRL_STOP);
}

int cmd_cancel(struct client *c, const struct args *a)
{
	(void)a;
	return run_simple(c, CTRL_CANCEL_TPM_CMD);
}

int cmd_store_volatile(struct client *c, const struct args *a)
{
	(void)a;
	return run_simple(c, CTRL_STORE_VOLATILE);
}

int cmd_established(struct client *c, const struct args *a)
{
	struct ptm_est est;

	(void)a;
	memset(&est, 0, sizeof(est));
	if (run_op(c, CTRL_GET_TPMESTABLISHED, &est, 0, sizeof(est)))
		return -1;
	printf("tpmEstablished is %d\n", est.u.resp.bit);
	return 0;
}

int cmd_reset_established(struct client *c, const struct args *a)
{
	struct ptm_reset_est re;

	memset(&re, 0, sizeof(re));
	re.u.req.loc = (uint8_t)a->number;
	return run_op(c, CTRL_RESET_TPMESTABLISHED, &re, sizeof(re.u.req),
		      sizeof(re));
}

int cmd_locality(struct client *c, const struct args *a)
{
	struct ptm_loc loc;

	memset(&loc, 0, sizeof(loc));
	loc.u.req.loc = (uint8_t)a->number;
	return run_op(c, CTRL_SET_LOCALITY, &loc, sizeof(loc.u.req),
		      sizeof(loc));
}

int cmd_config(struct client *c, const struct args *a)
{
	struct ptm_getconfig cfg;

	(void)a;
	memset(&cfg, 0, sizeof(cfg));
	if (run_op(c, CTRL_GET_CONFIG, &cfg, 0, sizeof(cfg)))
		return -1;
	printf("ptm configuration flags: 0x%x\n", cfg.u.resp.flags);
	return 0;
}

int cmd_buffersize(struct client *c, const struct args *a)
{
	struct ptm_setbuffersize sb;

	memset(&sb, 0, sizeof(sb));
	sb.u.req.buffersize = a->number;
	if (run_op(c, CTRL_SET_BUFFERSIZE, &sb, sizeof(sb.u.req), sizeof(sb)))
		return -1;
	printf("TPM buffersize: %u\nminimum size  : %u\nmaximum size  : %u\n",
	       sb.u.resp.buffersize, sb.u.resp.minsize, sb.u.resp.maxsize);
	return 0;
}

int cmd_lock_storage(struct client *c, const struct args *a)
{
	struct ptm_lockstorage ls;

	memset(&ls, 0, sizeof(ls));
	ls.u.req.retries = a->number;
	return run_op(c, CTRL_LOCK_STORAGE, &ls, sizeof(ls.u.req), sizeof(ls));
}

/* The JSON may be longer than one reply; it is fetched by offset. */
int cmd_info(struct client *c, const struct args *a)
{
	struct client_blob json = {NULL, 0};
	uint32_t offset = 0;
	int ret = -1;

	for (;;) {
		struct ptm_getinfo gi;
		uint32_t len;

		memset(&gi, 0, sizeof(gi));
		gi.u.req.flags = a->info_flags;
		gi.u.req.offset = offset;
		if (run_op(c, CTRL_GET_INFO, &gi, sizeof(gi.u.req), sizeof(gi)))
			goto out;
		len = (uint32_t)min_size(gi.u.resp.length,
					 sizeof(gi.u.resp.buffer));
		if (client_blob_append(&json, gi.u.resp.buffer, len)) {
			say("Out of memory.\n");
			goto out;
		}
		offset += len;
		/* totlength counts the terminating NUL */
		if (len == 0 || (uint64_t)offset + 1 >= gi.u.resp.totlength)
			break;
	}
	if (json.len)
		fwrite(json.data, 1,
		       strnlen((const char *)json.data, json.len), stdout);
	putchar('\n');
	ret = 0;
out:
	free(json.data);
	return ret;
}

/* Most data one PTM_HASH_DATA carries on the device. */
#define HASH_CHUNK 4096
_Static_assert(sizeof(((struct ptm_hdata *)0)->u.req.data) == HASH_CHUNK,
	       "HASH_CHUNK must match struct ptm_hdata");

/* Sends one HASH_DATA; len may be 0, as swtpm_ioctl sends at end of stdin. */
static int hash_chunk(struct client *c, const void *data, size_t len)
{
	struct ptm_hdata hd;

	memset(&hd, 0, sizeof(hd));
	hd.u.req.length = (uint32_t)len;
	if (len)
		memcpy(hd.u.req.data, data, len);
	return run_op(c, CTRL_HASH_DATA, &hd, sizeof(hd.u.req.length) + len,
		      sizeof(hd));
}

static int hash_stdin(struct client *c)
{
	uint8_t buf[HASH_CHUNK];

	for (;;) {
		ssize_t n = io_read_upto(STDIN_FILENO, buf, sizeof(buf));

		if (n < 0) {
			why("cannot read the data to hash from stdin: %s",
			    strerror((int)-n));
			return -1;
		}
		if (hash_chunk(c, buf, (size_t)n))
			return -1;
		if ((size_t)n < sizeof(buf))
			return 0;
	}
}

static int hash_string(struct client *c, const char *s)
{
	size_t len = strlen(s);

	for (size_t off = 0; off < len; off += HASH_CHUNK)
		if (hash_chunk(c, s + off, min_size(HASH_CHUNK, len - off)))
			return -1;
	return 0;
}

int cmd_hash(struct client *c, const struct args *a)
{
	int err;

	if (run_simple(c, CTRL_HASH_START))
		return -1;
	if (!strcmp(a->hash_data, "-"))
		err = hash_stdin(c);
	else
		err = hash_string(c, a->hash_data);
	if (err)
		return -1;
	return run_simple(c, CTRL_HASH_END);
}

/* swtpm_ioctl checks the type once connected, and ends the line unended. */
static void report_blob_type(const char *name)
{
	say("Unknown TPM state type '%s'", name);
	why_newline();
	why("the state blob types are permanent, volatile and savestate");
}

/*
 * Replaces the content of a regular file and makes it durable; anything
 * else (/dev/stdout, a pipe) just gets the bytes.
 */
static int write_blob_file(int fd, const struct client_blob *b)
{
	struct stat st;
	bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	int err;

	if (regular && ftruncate(fd, 0) < 0)
		return -errno;
	err = io_write_all(fd, b->data, b->len);
	if (err)
		return err;
	if (regular && fsync(fd) < 0)
		return -errno;
	return 0;
}

/*
 * The file is opened before the TPM is asked, so a bad path costs no
 * transfer (fetching savestate unlocks the server's storage), and it is
 * only overwritten once the blob is here.
 */
int cmd_save(struct client *c, const struct args *a)
{
	struct client_blob b = {NULL, 0};
	uint32_t res = 0, type = blob_type_of(a->blob_type);
	bool created = true;
	int ret = -1, err, fd;

	if (!type) {
		report_blob_type(a->blob_type);
		return -1;
	}
	fd = open(a->blob_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		created = false;
		fd = open(a->blob_file, O_WRONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		say("Could not open file '%s' for writing: %s\n", a->blob_file,
		    strerror(errno));
		return -1;
	}

	err = c->tp->get_blob(c, type, &b, &res);
	if (err) {
		report_transport(c, &ctrl_op_table[CTRL_GET_STATEBLOB], err);
		goto out;
	}
	if (ctrl_res_is_error(res)) {
		report_result(c, &ctrl_op_table[CTRL_GET_STATEBLOB], res);
		goto out;
	}
	err = write_blob_file(fd, &b);
	if (err) {
		say("Could not write to file '%s': %s\n", a->blob_file,
		    strerror(-err));
		goto out;
	}
	ret = 0;
out:
	if (close(fd) < 0 && ret == 0) {
		say("Could not write to file '%s': %s\n", a->blob_file,
		    strerror(errno));
		ret = -1;
	}
	if (ret && created)
		unlink(a->blob_file);
	free(b.data);
	return ret;
}

/*
 * Reads the blob to load.  swtpm_ioctl words a read error after the
 * transfer it chose: streamed (a socket and a non-empty file, or
 * SWTPM_IOCTL_BUFFERSIZE on a device) or in 3 KiB ioctls.
 */
static int read_blob_file(const struct client *c, const char *path,
			  struct client_blob *b)
{
	uint8_t buf[4096];
	struct stat st;
	bool streamed = c->rw_chunk != 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		say("Could not open file '%s' for reading: %s\n", path,
		    strerror(errno));
		return -1;
	}
	if (c->tp == &client_socket)
		streamed = fstat(fd, &st) == 0 && st.st_size > 0;
	for (;;) {
		ssize_t n = io_read_upto(fd, buf, sizeof(buf));

		if (n < 0 && streamed) {
			say("Could not read from file: %s\n", strerror((int)-n));
			break;
		}
		if (n < 0) {
			say("Could not read from file '%s': %s\n", path,
			    strerror((int)-n));
			break;
		}
		if (client_blob_append(b, buf, (size_t)n)) {
			why("'%s' is too large for a state blob", path);
			break;
		}
		if ((size_t)n < sizeof(buf)) {
			close(fd);
			return 0;
		}
	}
	close(fd);
	return -1;
}

int cmd_load(struct client *c, const struct args *a)
{
	struct client_blob b = {NULL, 0};
	uint32_t res = 0, type = blob_type_of(a->blob_type);
	int ret = -1, err;

	if (!type) {
		report_blob_type(a->blob_type);
		return -1;
	}
	if (read_blob_file(c, a->blob_file, &b))
		goto out;
	err = c->tp->set_blob(c, type, &b, &res);
	if (err) {
		report_transport(c, &ctrl_op_table[CTRL_SET_STATEBLOB], err);
		goto out;
	}
	if (res != TPM_SUCCESS) {
		report_result(c, &ctrl_op_table[CTRL_SET_STATEBLOB], res);
		goto out;
	}
	ret = 0;
out:
	free(b.data);
	return ret;
}
/* NOLINTEND(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */
