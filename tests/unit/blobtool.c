/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * blobtool: the state containers of blob.c and the keys of crypt.c on the
 * command line, for tests/unit/test_swtpm_files.sh to check them against
 * Debian's swtpm.  KEY arguments take a --key value (file=...,mode=...), or
 * "-" for none.
 *
 *   blobtool wrap-file KEY IN OUT           state -> state file
 *   blobtool unwrap-file KEY IN OUT         state file -> state
 *   blobtool wrap-migration FKEY MKEY IN OUT
 *   blobtool unwrap-migration [-e] FKEY MKEY IN OUT   (-e: flagged encrypted)
 *   blobtool wrap-legacy KEY IN OUT         state -> header-version-1 file
 *   blobtool wrap-legacy-migration KEY IN OUT  state -> header-version-1
 *         migration blob, outer layer encrypted with KEY, inner plain
 *   blobtool wrap-noiv KEY IN OUT           state -> file without IV TLV
 *   blobtool flags IN                       prints the header flags
 *   blobtool get-stateblob CTRL TYPE decrypted|encrypted OUT
 *         GET_STATEBLOB over swtpm's control channel (a Unix socket path or
 *         tcp:PORT); TYPE 1-3; "encrypted" leaves the state-key layer on
 *         (swtpm_ioctl always decrypts); prints "encrypted" or "plain"
 */
#include "blob.h"
#include "crypt.h"
#include "options.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CMD_GET_STATEBLOB 12 /* ioctl nr 11, plus one */
#define STATE_FLAG_DECRYPTED 1
#define MAX_FILE (16 * 1024 * 1024)

struct keyarg {
	struct crypt_key key;
	bool set;
};

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "blobtool: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int load_key(const char *arg, struct keyarg *k)
{
	struct crypt_key_spec spec;
	char err[512];

	k->set = false;
	if (strcmp(arg, "-") == 0)
		return 0;
	if (options_parse_key(arg, &spec, err, sizeof(err)) < 0 ||
	    crypt_key_load(&spec, &k->key, err, sizeof(err)) < 0)
		return die("key: %s", err);
	k->set = true;
	return 0;
}

static const struct crypt_key *key_of(const struct keyarg *k)
{
	return k->set ? &k->key : NULL;
}

/* The whole file in a new buffer, or NULL after saying why. */
static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;

	if (!f) {
		die("cannot open %s", path);
		return NULL;
	}
	buf = malloc(MAX_FILE);
	*len = buf ? fread(buf, 1, MAX_FILE, f) : 0;
	if (!buf || ferror(f) || *len == MAX_FILE) {
		die("cannot read %s (or it is too big)", path);
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static int write_file(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	int bad;

	if (!f)
		return die("cannot create %s", path);
	bad = fwrite(buf, 1, len, f) != len;
	bad |= fclose(f) != 0;
	return bad ? die("cannot write %s", path) : 0;
}

static int tpm_error(const char *what, uint32_t rc)
{
	fprintf(stderr, "blobtool: %s: TPM result 0x%x\n", what, rc);
	return 1;
}

enum op {
	WRAP_FILE,
	UNWRAP_FILE,
	WRAP_MIG,
	UNWRAP_MIG,
	WRAP_LEGACY,
	WRAP_LEGACY_MIG,
	WRAP_NOIV,
};

static void put_be32(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* swtpm's header: {version, min_version 1, size 10, flags, total}, BE */
static void put_header(uint8_t *p, uint8_t version, uint16_t flags,
		       size_t total)
{
	p[0] = version;
	p[1] = 1;
	p[2] = 0;
	p[3] = BLOB_HEADER_SIZE;
	p[4] = (uint8_t)(flags >> 8);
	p[5] = (uint8_t)flags;
	put_be32(p + 6, total);
}

static uint8_t *put_tlv(uint8_t *p, uint16_t tag, size_t len)
{
	p[0] = (uint8_t)(tag >> 8);
	p[1] = (uint8_t)tag;
	put_be32(p + 2, len);
	return p + 6;
}

/*
 * A header-version-1 state file as swtpm's reader takes it: AES-CBC with a
 * zero IV over SHA-256(state) || state, padded to the key length.  Written
 * here only, to prove the reader in blob_read.c against swtpm's.
 */
static uint32_t wrap_legacy(const uint8_t *data, size_t len,
			    const struct crypt_key *key, uint16_t flags,
			    uint8_t **out, size_t *outlen)
{
	static const uint8_t zero_iv[CRYPT_AES_BLOCK];
	size_t plain = CRYPT_SHA256_SIZE + len;
	size_t pad = key->len - plain % key->len;
	size_t total = BLOB_HEADER_SIZE + plain + pad;
	uint8_t *buf = malloc(total), *p;

	if (!buf)
		return 1;
	p = buf + BLOB_HEADER_SIZE;
	put_header(buf, 1, flags, total);
	memcpy(p + CRYPT_SHA256_SIZE, data, len);
	memset(p + plain, (int)pad, pad);
	if (crypt_sha256(data, len, p) < 0 ||
	    crypt_aes_cbc(key, zero_iv, true, p, plain + pad, p) < 0) {
		free(buf);
		return 1;
	}
	*out = buf;
	*outlen = total;
	return 0;
}

/*
 * A state file as swtpm wrote it before the random IV: ENCRYPTED_DATA and
 * HMAC (over the ciphertext alone), no IV TLV, CBC with a zero IV.
 */
static uint32_t wrap_noiv(const uint8_t *data, size_t len,
			  const struct crypt_key *key, uint8_t **out,
			  size_t *outlen)
{
	static const uint8_t zero_iv[CRYPT_AES_BLOCK];
	size_t pad = key->len - len % key->len;
	size_t total = BLOB_HEADER_SIZE + 6 + len + pad + 6 + CRYPT_HMAC_SIZE;
	uint8_t *buf = malloc(total), *ct, *tlv;

	if (!buf)
		return 1;
	put_header(buf, 2, (uint16_t)(BLOB_FLAG_ENCRYPTED |
				      (key->len == 32 ? BLOB_FLAG_ENCRYPTED_256BIT_KEY : 0)),
		   total);
	ct = put_tlv(buf + BLOB_HEADER_SIZE, TAG_ENCRYPTED_DATA, len + pad);
	memcpy(ct, data, len);
	memset(ct + len, (int)pad, pad);
	tlv = put_tlv(ct + len + pad, TAG_HMAC, CRYPT_HMAC_SIZE);
	if (crypt_aes_cbc(key, zero_iv, true, ct, len + pad, ct) < 0 ||
	    crypt_hmac_sha256(key->bytes, key->len, ct, len + pad, NULL, 0,
			      tlv) < 0) {
		free(buf);
		return 1;
	}
	*out = buf;
	*outlen = total;
	return 0;
}

static uint32_t run_op(enum op op, bool encrypted, const struct keyarg *fk,
		       const struct keyarg *mk, const uint8_t *in,
		       size_t inlen, uint8_t **out, size_t *outlen)
{
	switch (op) {
	case WRAP_FILE:
		return blob_wrap_file_key(in, inlen, key_of(fk), out, outlen);
	case UNWRAP_FILE:
		return blob_unwrap_file_key(in, inlen, key_of(fk), out, outlen);
	case WRAP_MIG:
		return blob_wrap_migration_key(in, inlen, key_of(fk),
					       key_of(mk), out, outlen);
	case UNWRAP_MIG:
		return blob_unwrap_migration_key(in, inlen, encrypted,
						 key_of(fk), key_of(mk), out,
						 outlen);
	case WRAP_LEGACY:
		return fk->set ? wrap_legacy(in, inlen, &fk->key,
					     BLOB_FLAG_ENCRYPTED, out, outlen)
			       : 1;
	case WRAP_LEGACY_MIG:
		/* the old writer's flags: MIGRATION_DATA came with version 2 */
		return fk->set ? wrap_legacy(in, inlen, &fk->key,
					     BLOB_FLAG_MIGRATION_ENCRYPTED,
					     out, outlen)
			       : 1;
	case WRAP_NOIV:
		return fk->set ? wrap_noiv(in, inlen, &fk->key, out, outlen)
			       : 1;
	}
	return 1;
}

/* OP [-e] FKEY [MKEY] IN OUT */
static int convert(enum op op, int argc, char **argv)
{
	bool two_keys = op == WRAP_MIG || op == UNWRAP_MIG;
	bool encrypted = argc > 0 && strcmp(argv[0], "-e") == 0;
	struct keyarg fk = { 0 }, mk = { 0 };
	uint8_t *in, *out = NULL;
	size_t inlen = 0, outlen = 0;
	uint32_t rc;
	int ret;

	argc -= encrypted;
	argv += encrypted;
	if (argc != (two_keys ? 4 : 3))
		return die("%s", "wrong number of arguments");
	if (load_key(argv[0], &fk) || (two_keys && load_key(argv[1], &mk)))
		return 1;
	argv += two_keys;
	in = read_file(argv[1], &inlen);
	if (!in)
		return 1;
	rc = run_op(op, encrypted, &fk, &mk, in, inlen, &out, &outlen);
	ret = rc ? tpm_error(argv[1], rc) : write_file(argv[2], out, outlen);
	crypt_key_wipe(&fk.key);
	crypt_key_wipe(&mk.key);
	free(in);
	free(out);
	return ret;
}

static int print_flags(const char *path)
{
	uint8_t *in;
	size_t len;
	uint16_t flags;
	uint32_t rc;

	in = read_file(path, &len);
	if (!in)
		return 1;
	rc = blob_flags(in, len, &flags);
	free(in);
	if (rc)
		return tpm_error(path, rc);
	printf("0x%02x\n", flags);
	return 0;
}

/* "tcp:PORT" (on 127.0.0.1) or the path of a Unix socket */
static int connect_ctrl(const char *where)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr *sa = (struct sockaddr *)&sun;
	socklen_t salen = sizeof(sun);
	int fd;

	if (strncmp(where, "tcp:", 4) == 0) {
		sin.sin_port = htons((uint16_t)atoi(where + 4));
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa = (struct sockaddr *)&sin;
		salen = sizeof(sin);
	} else if (strlen(where) < sizeof(sun.sun_path)) {
		memcpy(sun.sun_path, where, strlen(where) + 1);
	} else {
		return -1;
	}
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, sa, salen) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int read_full(int fd, uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = read(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* swtpm's control channel answers with the whole blob in one reply. */
static int get_stateblob(int argc, char **argv)
{
	uint32_t req[4], resp[4];
	uint8_t *blob;
	size_t len;
	int fd, ret;

	if (argc != 4)
		return die("%s", "get-stateblob SOCKET TYPE decrypted|encrypted OUT");
	fd = connect_ctrl(argv[0]);
	if (fd < 0)
		return die("cannot connect to %s", argv[0]);
	req[0] = htonl(CMD_GET_STATEBLOB);
	req[1] = htonl(strcmp(argv[2], "decrypted") == 0 ? STATE_FLAG_DECRYPTED
							  : 0);
	req[2] = htonl((uint32_t)atoi(argv[1]));
	req[3] = 0; /* offset */
	if (write(fd, req, sizeof(req)) != (ssize_t)sizeof(req) ||
	    read_full(fd, (uint8_t *)resp, sizeof(resp)) < 0) {
		close(fd);
		return die("%s", "GET_STATEBLOB failed");
	}
	if (ntohl(resp[0]) != 0) {
		close(fd);
		return tpm_error("GET_STATEBLOB", ntohl(resp[0]));
	}
	len = ntohl(resp[3]);
	blob = malloc(len ? len : 1);
	if (!blob || read_full(fd, blob, len) < 0) {
		free(blob);
		close(fd);
		return die("%s", "short GET_STATEBLOB reply");
	}
	close(fd);
	printf("%s\n", (ntohl(resp[1]) & 2) ? "encrypted" : "plain");
	ret = write_file(argv[3], blob, len);
	free(blob);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		enum op op;
	} ops[] = {
		{ "wrap-file", WRAP_FILE },	  { "unwrap-file", UNWRAP_FILE },
		{ "wrap-migration", WRAP_MIG },	  { "unwrap-migration", UNWRAP_MIG },
		{ "wrap-legacy", WRAP_LEGACY },	  { "wrap-noiv", WRAP_NOIV },
		{ "wrap-legacy-migration", WRAP_LEGACY_MIG },
	};
	size_t i;

	if (argc < 2)
		return die("%s", "usage: see the top of tests/unit/blobtool.c");
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(argv[1], ops[i].name) == 0)
			return convert(ops[i].op, argc - 2, argv + 2);
	if (strcmp(argv[1], "flags") == 0 && argc == 3)
		return print_flags(argv[2]);
	if (strcmp(argv[1], "get-stateblob") == 0)
		return get_stateblob(argc - 2, argv + 2);
	return die("unknown command %s", argv[1]);
}
