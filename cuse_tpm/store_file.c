/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * swtpm's linear file backend (backend-uri=file://PATH): every blob in one
 * regular file or block device.  The format, little-endian, is swtpm's:
 *
 *   header (192 bytes): u64 magic "swtpmlin", u8 version 1, u8 pad,
 *                       u16 hdrsize, 15 x {u32 offset, u32 data_length,
 *                       u32 section_length}
 *   slot 0 permall, 1 volatilestate, 2 savestate (offset 0: no blob);
 *   each blob, in its container as a state file holds it, at its offset
 *   in a section whose length is its size rounded up to a power of two;
 *   the sections follow one another without gaps.
 *
 * swtpm maps the file and changes it in place.  Here every change writes a
 * whole new image, so that a crash leaves the old state or the new one:
 *  - a regular file: a temporary file beside it, fsync, rename over it,
 *    fsync of the directory (the file gets a new inode);
 *  - a block device: the new sections go where the current ones are not,
 *    are synced, and then one write of the header, inside the first sector,
 *    switches to them.  Only when the device has no such room are they
 *    written in place, and the log says so.
 * The lock, if asked for, is on the file itself, as swtpm's is.
 */
#include "store_backend.h"

#include "io.h"
#include "log.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIN_MAGIC 0x737774706d6c696eull /* "swtpmlin" */
#define LIN_VERSION 1
#define LIN_SLOTS 15
#define LIN_SLOT_SIZE 12
#define LIN_HDR_SIZE (12 + LIN_SLOTS * LIN_SLOT_SIZE)

struct store_file {
	struct store s; /* first: a struct store * is one of these */
	int dirfd;      /* a regular file's directory; -1 for a device */
	char *name;     /* ... and its name there */
	char *tmp;      /* the temporary file beside it */
	int fd;         /* a device; a regular file's fd while locked */
	bool device;
	bool locked;
	uint64_t device_size;
};

struct slot {
	uint32_t offset, data_len, section_len;
};

/* A parsed image: the blobs' places, and the bytes they are in. */
struct image {
	uint8_t *buf;
	size_t len;
	uint16_t hdrsize;
	struct slot slots[STORE_NBLOBS];
};

static struct store_file *to_file(struct store *s)
{
	return (struct store_file *)s;
}

static const struct store_file *to_cfile(const struct store *s)
{
	return (const struct store_file *)s;
}

static uint32_t section_len(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

/*
 * Reads the header of @buf.  A buffer without swtpm's magic (empty, new,
 * or something else) holds no blobs, as for swtpm, which formats it.
 */
static int parse_header(const uint8_t *buf, size_t len, size_t avail,
			struct image *im)
{
	uint64_t magic;
	int i;

	memset(im->slots, 0, sizeof(im->slots));
	im->hdrsize = LIN_HDR_SIZE;
	if (len < LIN_HDR_SIZE)
		return 0;
	memcpy(&magic, buf, 8);
	if (le64toh(magic) != LIN_MAGIC)
		return 0;
	if (buf[8] > LIN_VERSION)
		return -EPROTO;
	im->hdrsize = (uint16_t)(buf[10] | buf[11] << 8);
	if (im->hdrsize < LIN_HDR_SIZE)
		return -EBADMSG;
	for (i = 0; i < STORE_NBLOBS; i++) {
		const uint8_t *e = buf + 12 + i * LIN_SLOT_SIZE;
		struct slot *sl = &im->slots[i];

		sl->offset = get_le32(e);
		sl->data_len = get_le32(e + 4);
		sl->section_len = get_le32(e + 8);
		if (sl->offset &&
		    ((uint64_t)sl->offset + sl->data_len > avail ||
		     sl->offset < im->hdrsize || sl->data_len > sl->section_len))
			return -EBADMSG;
	}
	return 0;
}

/* Where the used sections end (the header's end if there are none). */
static uint64_t image_end(const struct image *im)
{
	uint64_t end = im->hdrsize;
	int i;

	for (i = 0; i < STORE_NBLOBS; i++)
		if (im->slots[i].offset &&
		    im->slots[i].offset + (uint64_t)im->slots[i].section_len > end)
			end = im->slots[i].offset +
			      (uint64_t)im->slots[i].section_len;
	return end;
}

/* Where the used sections begin. */
static uint64_t image_start(const struct image *im)
{
	uint64_t start = UINT64_MAX;
	int i;

	for (i = 0; i < STORE_NBLOBS; i++)
		if (im->slots[i].offset && im->slots[i].offset < start)
			start = im->slots[i].offset;
	return start == UINT64_MAX ? im->hdrsize : start;
}

/* The whole image: a file's bytes, or a device's header and sections. */
static int read_image(struct store_file *f, struct image *im)
{
	uint8_t hdr[LIN_HDR_SIZE];
	uint64_t end;
	int rc;

	memset(im, 0, sizeof(*im));
	if (!f->device) {
		if (f->dirfd < 0)
			return 0; /* probed: no directory, so no file */
		rc = store_read_file(f->dirfd, f->name, &im->buf, &im->len);
		if (rc == -ENOENT)
			return parse_header(NULL, 0, 0, im);
		if (rc < 0)
			return rc;
		rc = parse_header(im->buf, im->len, im->len, im);
		goto out;
	}
	rc = io_pread_full(f->fd, hdr, sizeof(hdr), 0);
	if (rc == 0)
		rc = parse_header(hdr, sizeof(hdr), f->device_size, im);
	if (rc < 0)
		return rc;
	end = image_end(im); /* at least the header */
	if (end > f->device_size)
		return -EBADMSG; /* sections past the device's end */
	im->buf = malloc(end > sizeof(hdr) ? end : sizeof(hdr));
	if (!im->buf)
		return -ENOMEM;
	im->len = end;
	memcpy(im->buf, hdr, sizeof(hdr));
	rc = io_pread_full(f->fd, im->buf + sizeof(hdr), end - sizeof(hdr),
			sizeof(hdr));
out:
	if (rc < 0) {
		free(im->buf);
		im->buf = NULL;
	}
	return rc;
}

/*
 * A new image: the header, then the blobs packed from @start on; @blobs[i]
 * NULL for none.  @buf gets the whole image from byte 0 (the bytes between
 * the header and @start are zero).
 */
static int build_image(uint64_t start, const uint8_t *const blobs[],
		       const size_t lens[], struct image *out)
{
	uint64_t end = start;
	uint8_t *p;
	uint64_t magic = htole64(LIN_MAGIC);
	int i;

	for (i = 0; i < STORE_NBLOBS; i++)
		if (blobs[i])
			end += section_len((uint32_t)lens[i]);
	if (end > UINT32_MAX)
		return -EFBIG;
	p = calloc(1, end);
	if (!p)
		return -ENOMEM;
	memcpy(p, &magic, 8);
	p[8] = LIN_VERSION;
	p[10] = LIN_HDR_SIZE & 0xff;
	p[11] = LIN_HDR_SIZE >> 8;
	memset(out->slots, 0, sizeof(out->slots));
	end = start;
	for (i = 0; i < STORE_NBLOBS; i++) {
		uint8_t *e = p + 12 + i * LIN_SLOT_SIZE;
		struct slot *sl = &out->slots[i];

		if (!blobs[i])
			continue;
		sl->offset = (uint32_t)end;
		sl->data_len = (uint32_t)lens[i];
		sl->section_len = section_len(sl->data_len);
		put_le32(e, sl->offset);
		put_le32(e + 4, sl->data_len);
		put_le32(e + 8, sl->section_len);
		memcpy(p + end, blobs[i], lens[i]);
		end += sl->section_len;
	}
	out->buf = p;
	out->len = end;
	out->hdrsize = LIN_HDR_SIZE;
	return 0;
}

static int sync_device(struct store_file *f)
{
	return f->s.durable && fdatasync(f->fd) < 0 ? -errno : 0;
}

/*
 * A device: the sections first, where the current ones are not, then the
 * header.  @im's sections start at @start.
 */
static int write_device(struct store_file *f, const struct image *im,
			uint64_t start)
{
	int rc;

	rc = io_pwrite_full(f->fd, im->buf + start, im->len - start, (off_t)start);
	if (rc == 0)
		rc = sync_device(f);
	if (rc == 0)
		rc = io_pwrite_full(f->fd, im->buf, LIN_HDR_SIZE, 0);
	if (rc == 0)
		rc = sync_device(f);
	return rc;
}

/* Where new sections of @need bytes go on a device that holds @cur. */
static uint64_t device_room(const struct store_file *f, const struct image *cur,
			    uint64_t need, bool *in_place)
{
	uint64_t start = image_start(cur), end = image_end(cur);

	*in_place = false;
	if (LIN_HDR_SIZE + need <= start)
		return LIN_HDR_SIZE;   /* before the current sections */
	if (end + need <= f->device_size)
		return end;            /* after them */
	*in_place = true;
	return LIN_HDR_SIZE;
}

static int write_image(struct store_file *f, const uint8_t *const blobs[],
		       const size_t lens[], const struct image *cur)
{
	struct image im;
	uint64_t need = 0, start = LIN_HDR_SIZE;
	bool in_place = false;
	int i, rc;

	if (f->device) {
		for (i = 0; i < STORE_NBLOBS; i++)
			if (blobs[i])
				need += section_len((uint32_t)lens[i]);
		start = device_room(f, cur, need, &in_place);
		if (start + need > f->device_size)
			return -ENOSPC;
		if (in_place)
			log_warn("%s: no room beside the current state: writing "
				 "over it (a crash now would lose it)",
				 f->s.path);
	}
	rc = build_image(start, blobs, lens, &im);
	if (rc < 0)
		return rc;
	if (f->device)
		rc = write_device(f, &im, start);
	else
		rc = store_replace_file(f->dirfd, f->tmp, f->name, f->s.mode,
					f->s.durable, im.buf, im.len,
					f->locked ? &f->fd : NULL);
	free(im.buf);
	return rc;
}

/* Replaces (or with @buf NULL removes) one blob, keeping the others. */
static int change_blob(struct store_file *f, enum store_blob b,
		       const uint8_t *buf, size_t len)
{
	const uint8_t *blobs[STORE_NBLOBS];
	size_t lens[STORE_NBLOBS];
	struct image cur;
	int i, rc;

	rc = read_image(f, &cur);
	if (rc < 0)
		return rc;
	if (!buf && !cur.slots[b].offset) {
		free(cur.buf);
		return 0; /* nothing to remove */
	}
	for (i = 0; i < STORE_NBLOBS; i++) {
		blobs[i] = cur.slots[i].offset ? cur.buf + cur.slots[i].offset
					       : NULL;
		lens[i] = cur.slots[i].data_len;
	}
	blobs[b] = buf;
	lens[b] = len;
	rc = write_image(f, blobs, lens, &cur);
	free(cur.buf);
	return rc;
}

static int file_read(struct store *s, enum store_blob b, uint8_t **buf,
		     size_t *len)
{
	struct image im;
	const struct slot *sl;
	int rc;

	rc = read_image(to_file(s), &im);
	if (rc < 0)
		return rc;
	sl = &im.slots[b];
	if (!sl->offset) {
		free(im.buf);
		return -ENOENT;
	}
	*buf = malloc(sl->data_len ? sl->data_len : 1);
	if (*buf) {
		memcpy(*buf, im.buf + sl->offset, sl->data_len);
		*len = sl->data_len;
	}
	free(im.buf);
	return *buf ? 0 : -ENOMEM;
}

static int file_write(struct store *s, enum store_blob b, const uint8_t *buf,
		      size_t len)
{
	return change_blob(to_file(s), b, buf, len);
}

static int file_remove(struct store *s, enum store_blob b)
{
	return change_blob(to_file(s), b, NULL, 0);
}

static int file_size(struct store *s, enum store_blob b, size_t *size)
{
	struct image im;
	int rc;

	rc = read_image(to_file(s), &im);
	if (rc < 0)
		return rc;
	free(im.buf);
	if (!im.slots[b].offset)
		return -ENOENT;
	*size = im.slots[b].data_len;
	return 0;
}

static int file_lock(struct store *s, unsigned retries)
{
	struct store_file *f = to_file(s);
	int fd = f->fd, rc;

	if (!f->device) {
		/* what swtpm locks: the file at the path, made if missing */
		fd = store_open_regular(f->dirfd, f->name, O_RDWR | O_CREAT,
					s->mode);
		if (fd < 0)
			return fd;
	}
	rc = store_lock_fd(fd, retries);
	if (rc < 0) {
		if (!f->device)
			close(fd);
		return rc;
	}
	f->fd = fd;
	f->locked = true;
	return 0;
}

static void file_unlock(struct store *s)
{
	struct store_file *f = to_file(s);
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

	if (!f->locked)
		return;
	if (f->device) {
		fcntl(f->fd, F_OFD_SETLK, &fl);
	} else {
		close(f->fd);
		f->fd = -1;
	}
	f->locked = false;
}

static bool file_locked(const struct store *s)
{
	return to_cfile(s)->locked;
}

static void file_blob_path(const struct store *s, enum store_blob b, char *buf,
			   size_t size)
{
	snprintf(buf, size, "%s (%s)", s->path, store_blob_name(b));
}

static void file_free(struct store *s)
{
	struct store_file *f = to_file(s);

	if (f->fd >= 0)
		close(f->fd);
	if (f->dirfd >= 0)
		close(f->dirfd);
	free(f->name);
	free(f->tmp);
	free(f);
}

static const struct store_ops file_ops = {
	.read = file_read,
	.write = file_write,
	.remove = file_remove,
	.size = file_size,
	.lock = file_lock,
	.unlock = file_unlock,
	.locked = file_locked,
	.blob_path = file_blob_path,
	.free = file_free,
};

/* A block device is used as it is; a regular file is found through its directory. */
static int attach(struct store_file *f, const char *path, bool probe)
{
	const char *slash = strrchr(path, '/');
	struct stat st;
	char *dir;

	if (stat(path, &st) == 0 && S_ISBLK(st.st_mode)) {
		f->device = true;
		f->fd = open(path, (probe ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (f->fd < 0)
			return -errno;
		if (ioctl(f->fd, BLKGETSIZE64, &f->device_size) < 0)
			return -errno;
		return f->device_size < LIN_HDR_SIZE ? -ENOSPC : 0;
	}
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return -EINVAL;
	f->name = strdup(slash ? slash + 1 : path);
	dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path))
		    : strdup(".");
	if (!f->name || !dir || asprintf(&f->tmp, ".%s.tmp", f->name) < 0) {
		f->tmp = NULL;
		free(dir);
		return -ENOMEM;
	}
	if (!*f->name) {
		free(dir);
		return -EISDIR;
	}
	f->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (f->dirfd < 0 && !(probe && errno == ENOENT))
		return -errno;
	return 0;
}

static int open_file(struct store **out, const char *path, mode_t mode,
		     bool tpm2, bool durable, bool probe)
{
	struct store_file *f = calloc(1, sizeof(*f));
	struct image im = { 0 };
	int rc;

	if (!f)
		return -ENOMEM;
	f->fd = -1;
	f->dirfd = -1;
	rc = store_init(&f->s, &file_ops, path, mode, tpm2, durable);
	if (rc == 0)
		rc = attach(f, path, probe);
	if (rc == 0)
		rc = read_image(f, &im); /* refuse what we cannot read at once */
	if (rc < 0) {
		free(f->s.path);
		file_free(&f->s);
		return rc;
	}
	free(im.buf);
	*out = &f->s;
	return 0;
}

int store_open_file(struct store **s, const char *path, mode_t mode, bool tpm2,
		    bool durable)
{
	return open_file(s, path, mode, tpm2, durable, false);
}

int store_probe_file(struct store **s, const char *path, bool tpm2)
{
	return open_file(s, path, 0, tpm2, false, true);
}
