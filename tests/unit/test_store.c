/* SPDX-License-Identifier: BSD-3-Clause */
#include "check.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];

static void fresh_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/cuse_tpm_store.XXXXXX");
	if (!mkdtemp(dir))
		abort();
}

static void save_load_round_trip(void)
{
	const uint8_t data[] = "permanent state";
	struct store *s;
	uint8_t *back;
	size_t len;
	struct stat st;
	char path[128];

	fresh_dir();
	CHECK_EQ(store_open(&s, dir, 0600, true, true), 0);
	CHECK(store_load(s, STORE_PERMALL, &back, &len) == -ENOENT);
	CHECK_EQ(store_save(s, STORE_PERMALL, data, sizeof(data)), 0);
	snprintf(path, sizeof(path), "%s/tpm2-00.permall", dir);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK_EQ(st.st_size, 16 + sizeof(data));
	store_close(s);
	/* a new process view: read back from the file */
	CHECK_EQ(store_open(&s, dir, 0600, true, true), 0);
	CHECK_EQ(store_load(s, STORE_PERMALL, &back, &len), 0);
	CHECK_EQ(len, sizeof(data));
	CHECK(memcmp(back, data, len) == 0);
	free(back);
	CHECK_EQ(store_delete(s, STORE_PERMALL), 0);
	CHECK_EQ(stat(path, &st), -1);
	store_close(s);
}

static void tpm12_names(void)
{
	struct store *s;
	char path[128];

	fresh_dir();
	CHECK_EQ(store_open(&s, dir, 0640, false, false), 0);
	CHECK_EQ(store_save(s, STORE_VOLATILE, (const uint8_t *)"x", 1), 0);
	snprintf(path, sizeof(path), "%s/tpm-00.volatilestate", dir);
	CHECK_EQ(access(path, F_OK), 0);
	store_close(s);
}

/* Rewriting the same bytes leaves the file alone (same inode). */
static void unchanged_state_is_not_rewritten(void)
{
	const uint8_t data[] = "same";
	struct store *s;
	struct stat a, b;
	char path[128];

	fresh_dir();
	CHECK_EQ(store_open(&s, dir, 0600, true, true), 0);
	CHECK_EQ(store_save(s, STORE_PERMALL, data, sizeof(data)), 0);
	snprintf(path, sizeof(path), "%s/tpm2-00.permall", dir);
	CHECK_EQ(stat(path, &a), 0);
	CHECK_EQ(store_save(s, STORE_PERMALL, data, sizeof(data)), 0);
	CHECK_EQ(stat(path, &b), 0);
	CHECK_EQ(a.st_ino, b.st_ino);
	CHECK_EQ(store_save(s, STORE_PERMALL, (const uint8_t *)"new", 3), 0);
	CHECK_EQ(stat(path, &b), 0);
	CHECK(a.st_ino != b.st_ino);
	store_close(s);
}

static void corrupt_file_is_refused(void)
{
	struct store *s;
	uint8_t *back;
	size_t len;
	char path[128];
	int fd;

	fresh_dir();
	snprintf(path, sizeof(path), "%s/tpm2-00.permall", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "garbage!!!!!", 12), 12);
	close(fd);
	CHECK_EQ(store_open(&s, dir, 0600, true, true), 0);
	CHECK(store_load(s, STORE_PERMALL, &back, &len) == -EBADMSG);
	store_close(s);
}

/* The lock excludes other processes, and survives our own fork. */
static void lock_excludes_another_process(void)
{
	struct store *a;
	pid_t pid;
	int status;

	fresh_dir();
	CHECK_EQ(store_open(&a, dir, 0600, true, true), 0);
	CHECK_EQ(store_lock(a, 0), 0);
	pid = fork();
	if (pid == 0) {
		struct store *b;

		if (store_open(&b, dir, 0600, true, true) < 0)
			_exit(2);
		/* the inherited lock is ours, a new open is another owner */
		_exit(store_lock(b, 3) == -EAGAIN ? 0 : 1);
	}
	CHECK(pid > 0);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	store_unlock(a);
	store_close(a);
}

/*
 * A write that fails is kept: loads see it, a flush writes it once the
 * directory is back, and a directory made anew is followed and locked.
 */
static void unsaved_state_is_kept_and_flushed(void)
{
	const uint8_t old[] = "old", newer[] = "newer";
	struct store *s;
	uint8_t *back;
	size_t len;
	char path[128];

	fresh_dir();
	CHECK_EQ(store_open(&s, dir, 0600, true, true), 0);
	CHECK_EQ(store_lock(s, 0), 0);
	CHECK_EQ(store_save(s, STORE_PERMALL, old, sizeof(old)), 0);
	CHECK_EQ(store_save(s, STORE_VOLATILE, old, sizeof(old)), 0);
	/* the directory goes away under the store */
	snprintf(path, sizeof(path), "%s/tpm2-00.permall", dir);
	CHECK_EQ(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/tpm2-00.volatilestate", dir);
	CHECK_EQ(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/.lock", dir);
	CHECK_EQ(unlink(path), 0);
	CHECK_EQ(rmdir(dir), 0);
	CHECK(!store_has_unsaved(s));
	CHECK_EQ(store_save(s, STORE_PERMALL, newer, sizeof(newer)), -ENOENT);
	CHECK_EQ(store_keep_unsaved(s, STORE_PERMALL, newer, sizeof(newer)), 0);
	CHECK(store_has_unsaved(s));
	CHECK_EQ(store_load(s, STORE_PERMALL, &back, &len), 0);
	CHECK(len == sizeof(newer) && memcmp(back, newer, len) == 0);
	free(back);
	CHECK_EQ(store_flush(s), -ENOENT);
	CHECK(store_has_unsaved(s));
	/* back: both blobs land in the new directory, under its lock */
	CHECK_EQ(mkdir(dir, 0700), 0);
	CHECK_EQ(store_flush(s), 0);
	CHECK(!store_has_unsaved(s));
	snprintf(path, sizeof(path), "%s/.lock", dir);
	CHECK_EQ(access(path, F_OK), 0);
	store_unlock(s);
	store_close(s);
	CHECK_EQ(store_open(&s, dir, 0600, true, true), 0);
	CHECK_EQ(store_load(s, STORE_PERMALL, &back, &len), 0);
	CHECK(len == sizeof(newer) && memcmp(back, newer, len) == 0);
	free(back);
	CHECK_EQ(store_load(s, STORE_VOLATILE, &back, &len), 0);
	CHECK(len == sizeof(old) && memcmp(back, old, len) == 0);
	free(back);
	store_close(s);
}

/* swtpm's linear file: its layout, byte for byte where swtpm fixes it. */
static void linear_file_layout(void)
{
	const uint8_t perm[] = "permanent state", vol[] = "volatile";
	struct store *s;
	uint8_t *back, img[512];
	size_t len;
	char path[128];
	struct stat st;
	int fd;

	fresh_dir();
	snprintf(path, sizeof(path), "%s/tpm.img", dir);
	CHECK_EQ(store_open_file(&s, path, 0600, true, true), 0);
	CHECK(store_load(s, STORE_PERMALL, &back, &len) == -ENOENT);
	CHECK_EQ(store_save(s, STORE_PERMALL, perm, sizeof(perm)), 0);
	CHECK_EQ(store_save(s, STORE_VOLATILE, vol, sizeof(vol)), 0);
	store_close(s);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(read(fd, img, sizeof(img)), st.st_size);
	close(fd);
	/* "swtpmlin" little-endian, version 1, header 192 bytes */
	CHECK(memcmp(img, "nilmptws\1\0\xc0\0", 12) == 0);
	/* permall at 192: a 32-byte container in a 32-byte section */
	CHECK(memcmp(img + 12, "\xc0\0\0\0\x20\0\0\0\x20\0\0\0", 12) == 0);
	/* volatilestate right after it: 25 bytes in 32 */
	CHECK(memcmp(img + 24, "\xe0\0\0\0\x19\0\0\0\x20\0\0\0", 12) == 0);
	CHECK_EQ(st.st_size, 192 + 32 + 32);
	CHECK_EQ(img[192], 2); /* the container, as in a state file */
	CHECK_EQ(store_open_file(&s, path, 0600, true, true), 0);
	CHECK_EQ(store_load(s, STORE_VOLATILE, &back, &len), 0);
	CHECK(len == sizeof(vol) && memcmp(back, vol, len) == 0);
	free(back);
	CHECK_EQ(store_delete(s, STORE_PERMALL), 0);
	CHECK(store_load(s, STORE_PERMALL, &back, &len) == -ENOENT);
	CHECK_EQ(store_stored_size(s, STORE_VOLATILE, &len), 0);
	CHECK_EQ(len, 25);
	store_close(s);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_size, 192 + 32);
}

/* A newer version is refused; a file without the magic holds nothing. */
static void linear_file_versions(void)
{
	struct store *s;
	uint8_t img[192] = "nilmptws\2\0\xc0\0";
	char path[128];
	int fd;

	fresh_dir();
	snprintf(path, sizeof(path), "%s/tpm.img", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, img, sizeof(img)), (ssize_t)sizeof(img));
	close(fd);
	CHECK_EQ(store_open_file(&s, path, 0600, true, true), -EPROTO);
	/* version 1, but permall would end past the file's end */
	img[8] = 1;
	memcpy(img + 12, "\xc0\0\0\0\x40\0\0\0\x40\0\0\0", 12);
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK_EQ(write(fd, img, sizeof(img)), (ssize_t)sizeof(img));
	close(fd);
	CHECK_EQ(store_open_file(&s, path, 0600, true, true), -EBADMSG);
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK_EQ(write(fd, "not a TPM", 9), 9);
	close(fd);
	CHECK_EQ(store_open_file(&s, path, 0600, true, true), 0);
	CHECK_EQ(store_save(s, STORE_SAVESTATE, (const uint8_t *)"x", 1), 0);
	store_close(s);
}

/* The lock is on the file itself, and stays on it across a rewrite. */
static void linear_file_lock(void)
{
	struct store *a;
	char path[128];
	pid_t pid;
	int status;

	fresh_dir();
	snprintf(path, sizeof(path), "%s/tpm.img", dir);
	CHECK_EQ(store_open_file(&a, path, 0600, true, true), 0);
	CHECK_EQ(store_lock(a, 0), 0);
	CHECK_EQ(store_save(a, STORE_PERMALL, (const uint8_t *)"x", 1), 0);
	pid = fork();
	if (pid == 0) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int fd = open(path, O_RDWR);

		/* swtpm's lock: a POSIX record lock on the file */
		_exit(fd >= 0 && fcntl(fd, F_SETLK, &fl) < 0 ? 0 : 1);
	}
	CHECK(pid > 0);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	store_close(a);
}

CHECK_MAIN(TEST(linear_file_layout), TEST(linear_file_versions),
	   TEST(linear_file_lock), TEST(save_load_round_trip), TEST(tpm12_names),
	   TEST(unchanged_state_is_not_rewritten), TEST(corrupt_file_is_refused),
	   TEST(lock_excludes_another_process),
	   TEST(unsaved_state_is_kept_and_flushed))
