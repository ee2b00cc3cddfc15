/* SPDX-License-Identifier: BSD-3-Clause */
#include "probe.h"

#include "store.h"
#include "tpmlib.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef CUSE_TPM_VERSION
#define CUSE_TPM_VERSION "0.1.0"
#endif

#define FEATURES_MAX 40

struct features {
	const char *name[FEATURES_MAX];
	char keysize[8][24]; /* "rsa-keysize-N", from libtpms */
	size_t n, nkeysizes;
};

static void add(struct features *f, const char *name)
{
	if (f->n < FEATURES_MAX)
		f->name[f->n++] = name;
}

/*
 * "rsa-keysize-N" for each N in libtpms' "RSAKeySizes":[...], the list
 * swtpm_setup picks EK key sizes from.
 */
static void add_rsa_keysizes(struct features *f, bool tpm2)
{
	static const char needle[] = "\"RSAKeySizes\":[";
	char *info = tpmlib_probe_info(tpm2, TPMLIB_INFO_TPMFEATURES);
	const char *p = info ? strstr(info, needle) : NULL;

	for (p = p ? p + sizeof(needle) - 1 : NULL; p && *p != ']';) {
		char *end;
		unsigned long bits = strtoul(p, &end, 10);

		if (end == p || (*end != ',' && *end != ']') ||
		    f->nkeysizes == sizeof(f->keysize) / sizeof(f->keysize[0]))
			break;
		snprintf(f->keysize[f->nkeysizes], sizeof(f->keysize[0]),
			 "rsa-keysize-%lu", bits);
		add(f, f->keysize[f->nkeysizes++]);
		p = *end == ',' ? end + 1 : end;
	}
	free(info);
}

/*
 * swtpm 0.9.1's names in swtpm 0.9.1's order for every feature both have,
 * then the ones only newer swtpm or cuse_tpm has.  Left out: swtpm socket's
 * tpm-send-command-header (the TCG simulator's framing on the data socket,
 * which cuse_tpm does not speak) and profiles (libtpms 0.10).
 */
int probe_print_capabilities(const struct options *o)
{
	struct features f = { .n = 0 };
	size_t i;

	if (tpmlib_has_version(false))
		add(&f, "tpm-1.2");
	if (tpmlib_has_version(true))
		add(&f, "tpm-2.0");
	add(&f, "flags-opt-startup");
	add(&f, "flags-opt-disable-auto-shutdown");
	add(&f, "ctrl-opt-terminate");
	add(&f, "cmdarg-seccomp");
	add(&f, "cmdarg-key-fd");
	add(&f, "cmdarg-pwd-fd");
	add(&f, "cmdarg-print-states");
	add(&f, "cmdarg-chroot");
	add(&f, "cmdarg-migration");
	add(&f, "nvram-backend-dir");
	add(&f, "nvram-backend-file");
	add_rsa_keysizes(&f, o->tpm.tpm2);
	/* newer swtpm's names, in its order */
	add(&f, "cmdarg-print-info");
	add(&f, "tpmstate-opt-lock");
	add(&f, "tpmstate-dir-backend-opt-fsync");
	add(&f, "systemd-notify");
	printf("{ \"type\": \"swtpm\", \"features\": [ ");
	for (i = 0; i < f.n; i++)
		printf("%s\"%s\"", i ? ", " : "", f.name[i]);
	printf(" ], \"version\": \"%s\" }\n", CUSE_TPM_VERSION);
	return 0;
}

/* swtpm's --print-states: which blobs the state holds, as the store sees them. */
int probe_print_states(const struct options *o)
{
	const char *sep = "";
	struct store *s;
	char path[PATH_MAX];
	size_t size;
	int b, rc;

	rc = store_probe(&s, o->state_dir,
			 o->state_backend == STATE_BACKEND_FILE, o->tpm.tpm2);
	if (rc < 0) {
		fprintf(stderr, "cuse_tpm: %s: %s\n", o->state_dir, strerror(-rc));
		return 1;
	}
	printf("{ \"type\": \"swtpm\", \"states\": [");
	for (b = 0; b < STORE_NBLOBS; b++) {
		rc = store_stored_size(s, b, &size);
		if (rc == -ENOENT)
			continue;
		if (rc < 0) {
			store_blob_path(s, b, path, sizeof(path));
			fprintf(stderr, "cuse_tpm: %s: %s\n", path, strerror(-rc));
			store_close(s);
			return 1;
		}
		printf("%s {\"name\": \"%s\", \"size\": %zu}", sep,
		       store_blob_name(b), size);
		sep = ",";
	}
	printf("%s] }\n", *sep ? " " : "");
	store_close(s);
	return 0;
}

/* swtpm's --print-info FLAGS: libtpms' TPMLIB_GetInfo() JSON. */
int probe_print_info(const struct options *o)
{
	char *info = tpmlib_probe_info(o->tpm.tpm2, o->print_info);

	if (!info) {
		fprintf(stderr, "cuse_tpm: libtpms has no TPM %s\n",
			o->tpm.tpm2 ? "2.0" : "1.2");
		return 1;
	}
	printf("%s\n", info);
	free(info);
	return 0;
}
