/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * swtpm's sub-option language: "key=value,flag,..." split into items that
 * the option handlers look up by key, and the typed values they hold.  No
 * I/O, no allocation but the one copy the items point into.
 */
#ifndef CUSE_TPM_SUBOPT_H
#define CUSE_TPM_SUBOPT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SUBOPTS_MAX 16

/* One "key=value" or "flag". */
struct subopt {
	const char *key;
	const char *value; /* NULL for a bare flag */
	bool used;         /* a handler asked for it */
};

struct subopts {
	char *copy; /* the items point into it; the caller frees it */
	struct subopt item[SUBOPTS_MAX];
	size_t n;
};

/*
 * Splits @s.  Returns 0, or -1 with a reason in @err: an empty item, a key
 * given twice, too many items, out of memory.  @so->copy is to be freed
 * (also after a failure).
 */
int subopts_split(struct subopts *so, const char *s, char *err, size_t errlen);

/* The item named @key, marked used, or NULL. */
struct subopt *subopts_find(struct subopts *so, const char *key);

/* -1 and "--@opt: unknown parameter 'k'" for the first item never asked for. */
int subopts_check_used(const struct subopts *so, const char *opt, char *err,
		       size_t errlen);

/* A bare flag (true) or flag=true|false|yes|no|on|off|1|0: 0 or -1. */
int subopt_bool(const struct subopt *o, bool *out);

/* A number from 0 to @max (decimal, 0x hex or 0 octal): 0 or -1. */
int subopt_uint(const char *s, unsigned long max, unsigned long *out);

/*
 * A file mode, always octal as swtpm reads it ("600" is 0600, never
 * decimal 600 = 01130), at most 0777 (no setuid, setgid or sticky bit):
 * 0 or -1.
 */
int subopt_mode(const char *s, mode_t *out);

/* A file descriptor number, decimal: 0 or -1. */
int subopt_fd(const char *s, int *fd);

#endif
