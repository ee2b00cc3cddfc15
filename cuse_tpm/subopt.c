/* SPDX-License-Identifier: BSD-3-Clause */
#include "subopt.h"

#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int subopts_split(struct subopts *so, const char *s, char *err, size_t errlen)
{
	char *tok, *save = NULL;
	size_t i;

	memset(so, 0, sizeof(*so));
	so->copy = strdup(s);
	if (!so->copy)
		return fail_with(err, errlen, "out of memory");
	if (!*s)
		return fail_with(err, errlen, "needs a value");
	/* strtok_r would skip an empty item; it is a mistake, so look */
	if (s[0] == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,"))
		return fail_with(err, errlen, "empty parameter in '%s'", s);
	for (tok = strtok_r(so->copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (so->n == SUBOPTS_MAX)
			return fail_with(err, errlen, "too many parameters");
		if (eq)
			*eq++ = '\0';
		if (!*tok)
			return fail_with(err, errlen, "a parameter has no name");
		for (i = 0; i < so->n; i++)
			if (!strcmp(so->item[i].key, tok))
				return fail_with(err, errlen,
						 "%s is given twice", tok);
		so->item[so->n].key = tok;
		so->item[so->n].value = eq;
		so->n++;
	}
	return 0;
}

struct subopt *subopts_find(struct subopts *so, const char *key)
{
	size_t i;

	for (i = 0; i < so->n; i++) {
		if (strcmp(so->item[i].key, key) == 0) {
			so->item[i].used = true;
			return &so->item[i];
		}
	}
	return NULL;
}

int subopts_check_used(const struct subopts *so, const char *opt, char *err,
		       size_t errlen)
{
	size_t i;

	for (i = 0; i < so->n; i++)
		if (!so->item[i].used)
			return fail_with(err, errlen,
					 "--%s: unknown parameter '%s'", opt,
					 so->item[i].key);
	return 0;
}

int subopt_bool(const struct subopt *o, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	if (!o->value) {
		*out = true;
		return 0;
	}
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(o->value, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(o->value, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

int subopt_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

int subopt_mode(const char *s, mode_t *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || strspn(s, "01234567") != strlen(s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 8);
	if (errno || *end || v > 0777)
		return -1;
	*out = (mode_t)v;
	return 0;
}

int subopt_fd(const char *s, int *fd)
{
	long v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > INT_MAX)
			return -1;
	}
	*fd = (int)v;
	return 0;
}
