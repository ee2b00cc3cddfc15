/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The resource manager against the real libtpms, through the core: spaces
 * past the TPM's three object slots, virtual handles, isolation between
 * openers and from the raw path, flush and close, limits, the commands it
 * answers or refuses itself, and its command table against libtpms' own.
 */
#include "check.h"
#include "rm.h"
#include "rm_cmd.h"
#include "tpm2.h"
#include "vtpm.h"

#include <dirent.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <unistd.h>

struct reply {
	uint8_t buf[4096];
	uint32_t len;
};

struct fixture {
	char dir[64];
	struct store *store;
	struct vtpm *v;
	struct rm *rm;
};

static struct fixture *live;

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	rmdir(dir);
}

static void finish(struct fixture *f)
{
	rm_free(f->rm);
	vtpm_free(f->v);
	store_close(f->store);
	remove_dir(f->dir);
	live = NULL;
}

static void cleanup(void)
{
	if (live)
		finish(live);
}

/* A started TPM 2.0 and a resource manager with @lim (NULL: defaults). */
static bool start(struct fixture *f, const struct rm_limits *lim)
{
	struct vtpm_config cfg = { .tpm2 = true, .lock = true };
	uint8_t cmd[TPM2_CMD_MAX], resp[64];

	cleanup();
	live = f;
	snprintf(f->dir, sizeof(f->dir), "/tmp/cuse_tpm_rm.XXXXXX");
	if (!mkdtemp(f->dir) || store_open(&f->store, f->dir, 0600, true,
					   false) < 0)
		abort();
	f->v = vtpm_new(&cfg, f->store, NULL, NULL);
	if (!f->v || vtpm_init(f->v, 0))
		return false;
	if (vtpm_execute(f->v, cmd, (uint32_t)tpm2_startup(cmd, TPM2_SU_CLEAR),
			 resp, sizeof(resp)) != 10 ||
	    tpm2_rc(resp))
		return false;
	f->rm = rm_new(f->v, lim);
	return f->rm != NULL;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint32_t rm_tx(struct rm_space *s, const uint8_t *cmd, size_t len,
		      struct reply *r)
{
	r->len = rm_execute(s, cmd, (uint32_t)len, r->buf, sizeof(r->buf));
	if (r->len < 10 || tpm2_size(r->buf) != r->len)
		return ~0u;
	return tpm2_rc(r->buf);
}

static uint32_t raw_tx(struct vtpm *v, const uint8_t *cmd, size_t len,
		       struct reply *r)
{
	int n = vtpm_execute(v, cmd, (uint32_t)len, r->buf, sizeof(r->buf));

	r->len = n > 0 ? (uint32_t)n : 0;
	return r->len < 10 ? ~0u : tpm2_rc(r->buf);
}

/* How many handles GetCapability lists from @first, and the first few. */
static int handles_of(struct reply *r, uint32_t *list, unsigned max)
{
	uint32_t n, i;

	if (r->len < 19 || tpm2_rc(r->buf))
		return -1;
	n = be32(r->buf + 15);
	if (r->len != 19 + 4 * n)
		return -1;
	for (i = 0; i < n && i < max; i++)
		list[i] = be32(r->buf + 19 + 4 * i);
	return (int)n;
}

static int rm_count(struct rm_space *s, uint32_t first, uint32_t *list,
		    unsigned max)
{
	uint8_t cmd[TPM2_CMD_MAX];
	struct reply r;

	if (rm_tx(s, cmd, tpm2_get_handles(cmd, first, 64), &r))
		return -1;
	return handles_of(&r, list, max);
}

static int raw_count(struct vtpm *v, uint32_t first)
{
	uint8_t cmd[TPM2_CMD_MAX];
	uint32_t list[1];
	struct reply r;

	if (raw_tx(v, cmd, tpm2_get_handles(cmd, first, 64), &r))
		return -1;
	return handles_of(&r, list, 0);
}

/* Nothing transient in the TPM: no object, no session loaded or saved. */
static bool tpm_empty(struct vtpm *v)
{
	return raw_count(v, 0x80000000) == 0 && raw_count(v, 0x02000000) == 0 &&
	       raw_count(v, 0x03000000) == 0;
}

/* A command of hand-laid bytes: header, then @n big-endian words. */
static size_t words(uint8_t *buf, uint16_t tag, uint32_t cc,
		    const uint32_t *w, unsigned n)
{
	size_t len = 10 + 4 * n;
	unsigned i;

	buf[0] = (uint8_t)(tag >> 8);
	buf[1] = (uint8_t)tag;
	for (i = 0; i < 4; i++) {
		buf[2 + i] = (uint8_t)(len >> (24 - 8 * i));
		buf[6 + i] = (uint8_t)(cc >> (24 - 8 * i));
	}
	for (i = 0; i < 4 * n; i++)
		buf[10 + i] = (uint8_t)(w[i / 4] >> (24 - 8 * (i % 4)));
	return len;
}

/* Sets the header's size field to @n; returns @n. */
static size_t sized(uint8_t *buf, size_t n)
{
	buf[2] = (uint8_t)(n >> 24);
	buf[3] = (uint8_t)(n >> 16);
	buf[4] = (uint8_t)(n >> 8);
	buf[5] = (uint8_t)n;
	return n;
}

static size_t context_save(uint8_t *buf, uint32_t handle)
{
	return words(buf, RM_ST_NO_SESSIONS, RM_CC_CONTEXT_SAVE, &handle, 1);
}

static size_t context_load(uint8_t *buf, const uint8_t *ctx, uint32_t len)
{
	size_t n = words(buf, RM_ST_NO_SESSIONS, RM_CC_CONTEXT_LOAD, NULL, 0);

	memcpy(buf + n, ctx, len);
	return sized(buf, n + len);
}

/* PolicyGetDigest: a session in the handle area. */
static size_t policy_get_digest(uint8_t *buf, uint32_t session)
{
	return words(buf, RM_ST_NO_SESSIONS, 0x189, &session, 1);
}

/* A policy session instead of the HMAC session tpm2.c starts. */
static size_t start_policy_session(uint8_t *buf)
{
	size_t n = tpm2_start_auth_session(buf);

	buf[n - 5] = 0x01; /* TPM_SE_POLICY */
	return n;
}

/* ReadPublic of @handle with @session (empty nonce and HMAC) as auth. */
static size_t read_public_with(uint8_t *buf, uint32_t handle,
			       uint32_t session)
{
	const uint32_t w[] = { handle, 9, session };
	size_t n = words(buf, RM_ST_SESSIONS, 0x173, w, 3);

	buf[n++] = 0; /* nonce */
	buf[n++] = 0;
	buf[n++] = 1; /* continueSession */
	buf[n++] = 0; /* hmac */
	buf[n++] = 0;
	return sized(buf, n);
}

/*
 * PCR_Extend of PCR 16, authorized by the unbound, unsalted HMAC session
 * @ses (empty session key, empty PCR auth): the HMAC covers the TPM's last
 * nonce, so it only verifies if the session came back as it was left.
 */
static size_t pcr_extend_hmac(uint8_t *buf, uint32_t ses,
			      const uint8_t nonce_tpm[16])
{
	static const uint8_t nonce[16] = { 0x5a };
	uint8_t params[4 + 2 + 32], digest[32], cphash[32], hmac[32];
	uint8_t msg[32 + 16 + 16 + 1];
	const uint32_t w[] = { 16, 4 + 2 + 16 + 1 + 2 + 32, ses };
	unsigned hmac_len = 0, i;
	size_t n;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	memset(digest, 0x42, sizeof(digest));
	memcpy(params, "\0\0\0\1\0\x0b", 6); /* one SHA-256 digest */
	memcpy(params + 6, digest, 32);
	/* cpHash = SHA-256(commandCode || name of PCR 16 || parameters) */
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, "\0\0\x01\x82", 4);
	EVP_DigestUpdate(md, "\0\0\0\x10", 4);
	EVP_DigestUpdate(md, params, sizeof(params));
	EVP_DigestFinal_ex(md, cphash, NULL);
	EVP_MD_CTX_free(md);
	memcpy(msg, cphash, 32);
	memcpy(msg + 32, nonce, 16);     /* nonceNewer: the caller's */
	memcpy(msg + 48, nonce_tpm, 16); /* nonceOlder: the TPM's last */
	msg[64] = 1;                     /* continueSession */
	HMAC(EVP_sha256(), "", 0, msg, sizeof(msg), hmac, &hmac_len);

	n = words(buf, RM_ST_SESSIONS, 0x182, w, 3);
	buf[n++] = 0;
	buf[n++] = 16;
	memcpy(buf + n, nonce, 16);
	n += 16;
	buf[n++] = 1;
	buf[n++] = 0;
	buf[n++] = 32;
	for (i = 0; i < 32; i++)
		buf[n++] = hmac[i];
	memcpy(buf + n, params, sizeof(params));
	return sized(buf, n + sizeof(params));
}

/* ---- tests ---------------------------------------------------------------- */

static void cc_table_is_libtpms(void)
{
	static struct fixture f;
	const uint32_t w[] = { 2 /* TPM_CAP_COMMANDS */, 0x11f, 256 };
	uint8_t cmd[TPM2_CMD_MAX];
	struct reply r;
	uint32_t n, i;

	CHECK(start(&f, NULL));
	CHECK_EQ(raw_tx(f.v, cmd, words(cmd, RM_ST_NO_SESSIONS, 0x17a, w, 3),
			&r),
		 0);
	n = be32(r.buf + 15);
	CHECK(n > 100);
	for (i = 0; i < n; i++) {
		uint32_t attrs = be32(r.buf + 19 + 4 * i);
		uint8_t handles;
		bool rhandle;

		CHECK_EQ(rm_cc_at(i), attrs & 0xffff);
		CHECK(rm_cc_lookup(attrs & 0xffff, &handles, &rhandle));
		CHECK_EQ(handles, (attrs >> 25) & 7);
		CHECK_EQ(rhandle, (attrs >> 28) & 1);
	}
	CHECK_EQ(rm_cc_at(n), 0);
	finish(&f);
}

/* More objects than the TPM has slots, virtual handles, nothing left loaded. */
static void objects_past_the_tpm_slots(void)
{
	static struct fixture f;
	uint8_t cmd[TPM2_CMD_MAX];
	uint32_t h[8], list[8];
	struct rm_space *s;
	struct reply r;
	unsigned i;

	CHECK(start(&f, NULL));
	CHECK((s = rm_space_new(f.rm)));
	for (i = 0; i < 6; i++) {
		CHECK_EQ(rm_tx(s, cmd, tpm2_create_primary(cmd, TPM2_KEY_ECC_P256),
			       &r),
			 0);
		h[i] = tpm2_created_handle(r.buf);
		CHECK_EQ(h[i], 0x80ffffff - i);
		/* the TPM holds none of them between commands */
		CHECK_EQ(raw_count(f.v, 0x80000000), 0);
	}
	for (i = 0; i < 6; i++)
		CHECK_EQ(rm_tx(s, cmd, tpm2_read_public(cmd, h[i]), &r), 0);
	/* ascending, as a TPM lists them */
	CHECK_EQ(rm_count(s, 0x80000000, list, 8), 6);
	CHECK_EQ(list[0], 0x80fffffa);
	CHECK_EQ(list[5], 0x80ffffff);
	CHECK_EQ(rm_count(s, 0x80fffffe, list, 8), 2);
	/* a count of 2 from the start: two, and more data */
	CHECK_EQ(rm_tx(s, cmd, tpm2_get_handles(cmd, 0x80000000, 2), &r), 0);
	CHECK_EQ(r.buf[10], 1);
	CHECK_EQ(handles_of(&r, list, 8), 2);
	/* FlushContext of a virtual handle; the handle then reads as gone */
	CHECK_EQ(rm_tx(s, cmd, tpm2_flush_context(cmd, h[2]), &r), 0);
	CHECK_EQ(rm_tx(s, cmd, tpm2_read_public(cmd, h[2]), &r),
		 RM_RC_REFERENCE_H0);
	CHECK_EQ(rm_tx(s, cmd, tpm2_flush_context(cmd, h[2]), &r),
		 RM_RC_HANDLE_P1);
	CHECK_EQ(rm_count(s, 0x80000000, list, 8), 5);
	/* the free slot is taken again */
	CHECK_EQ(rm_tx(s, cmd, tpm2_create_primary(cmd, TPM2_KEY_ECC_P256), &r),
		 0);
	CHECK_EQ(tpm2_created_handle(r.buf), h[2]);
	rm_space_free(s);
	CHECK(tpm_empty(f.v));
	finish(&f);
}

/* One opener can neither name, read nor flush another's objects or sessions. */
static void openers_are_isolated(void)
{
	static struct fixture f;
	uint8_t cmd[TPM2_CMD_MAX];
	struct rm_space *a, *b;
	uint32_t obj, ses, list[4];
	struct reply r;

	CHECK(start(&f, NULL));
	CHECK((a = rm_space_new(f.rm)) && (b = rm_space_new(f.rm)));
	CHECK_EQ(rm_tx(a, cmd, tpm2_create_primary(cmd, TPM2_KEY_ECC_P256), &r),
		 0);
	obj = tpm2_created_handle(r.buf);
	CHECK_EQ(rm_tx(a, cmd, start_policy_session(cmd), &r), 0);
	ses = tpm2_created_handle(r.buf);
	CHECK(rm_is_session(ses));

	/* B names A's object and session: not loaded, as far as it can tell */
	CHECK_EQ(rm_tx(b, cmd, tpm2_read_public(cmd, obj), &r),
		 RM_RC_REFERENCE_H0);
	CHECK_EQ(rm_tx(b, cmd, policy_get_digest(cmd, ses), &r),
		 RM_RC_REFERENCE_H0);
	CHECK_EQ(rm_tx(b, cmd, read_public_with(cmd, 0x81000000, ses), &r),
		 RM_RC_REFERENCE_S0);
	CHECK_EQ(rm_tx(b, cmd, tpm2_flush_context(cmd, ses), &r),
		 RM_RC_HANDLE_P1);
	CHECK_EQ(rm_tx(b, cmd, tpm2_flush_context(cmd, obj), &r),
		 RM_RC_HANDLE_P1);
	CHECK_EQ(rm_tx(b, cmd, context_save(cmd, obj), &r), RM_RC_REFERENCE_H0);
	CHECK_EQ(rm_tx(b, cmd, context_save(cmd, ses), &r), RM_RC_REFERENCE_H0);
	CHECK_EQ(rm_count(b, 0x80000000, list, 4), 0);
	CHECK_EQ(rm_count(b, 0x02000000, list, 4), 0);
	CHECK_EQ(rm_count(b, 0x03000000, list, 4), 0);
	/* the physical handles the raw path uses are nobody's here either */
	CHECK_EQ(rm_tx(b, cmd, tpm2_read_public(cmd, 0x80000000), &r),
		 RM_RC_REFERENCE_H0);

	/* B's own object gets the same virtual handle, and is B's */
	CHECK_EQ(rm_tx(b, cmd, tpm2_create_primary(cmd, TPM2_KEY_RSA2048), &r),
		 0);
	CHECK_EQ(tpm2_created_handle(r.buf), obj);
	CHECK_EQ(rm_tx(b, cmd, tpm2_read_public(cmd, obj), &r), 0);
	CHECK_EQ(r.buf[12], 0x00); /* TPM_ALG_RSA */
	CHECK_EQ(r.buf[13], 0x01);
	CHECK_EQ(rm_tx(a, cmd, tpm2_read_public(cmd, obj), &r), 0);
	CHECK_EQ(r.buf[12], 0x00); /* TPM_ALG_ECC */
	CHECK_EQ(r.buf[13], 0x23);

	/* A's session is intact, and A sees only its own */
	CHECK_EQ(rm_tx(a, cmd, policy_get_digest(cmd, ses), &r), 0);
	CHECK_EQ(rm_count(a, 0x02000000, list, 4), 1);
	CHECK_EQ(list[0], ses);
	CHECK_EQ(rm_count(a, 0x80000000, list, 4), 1);

	/* closing B leaves A's alone; closing A leaves nothing */
	rm_space_free(b);
	CHECK_EQ(rm_tx(a, cmd, policy_get_digest(cmd, ses), &r), 0);
	rm_space_free(a);
	CHECK(tpm_empty(f.v));
	finish(&f);
}

/* Sessions in the authorization area are loaded and saved around a command. */
static void sessions_follow_their_opener(void)
{
	static struct fixture f;
	uint8_t cmd[TPM2_CMD_MAX];
	uint32_t ses[4], obj;
	struct rm_space *s;
	struct reply r;
	unsigned i, objects, sessions;

	CHECK(start(&f, NULL));
	CHECK((s = rm_space_new(f.rm)));
	/* more sessions than the TPM can hold loaded (3) */
	for (i = 0; i < 4; i++) {
		CHECK_EQ(rm_tx(s, cmd, start_policy_session(cmd), &r), 0);
		ses[i] = tpm2_created_handle(r.buf);
		CHECK_EQ(raw_count(f.v, 0x02000000), 0);
		CHECK_EQ(raw_count(f.v, 0x03000000), (int)i + 1);
	}
	for (i = 0; i < 4; i++)
		CHECK_EQ(rm_tx(s, cmd, policy_get_digest(cmd, ses[i]), &r), 0);
	CHECK_EQ(rm_tx(s, cmd, tpm2_create_primary(cmd, TPM2_KEY_ECC_P256), &r),
		 0);
	obj = tpm2_created_handle(r.buf);
	/*
	 * A policy session with an empty policy does not authorize this
	 * object, but the TPM got to judge it: the session was loaded.
	 */
	CHECK(rm_tx(s, cmd, read_public_with(cmd, obj, ses[0]), &r) !=
	      RM_RC_REFERENCE_S0);
	rm_space_count(s, &objects, &sessions);
	CHECK_EQ(objects, 1);
	CHECK_EQ(sessions, 4);
	/* FlushContext of an own session ends it in the TPM */
	CHECK_EQ(rm_tx(s, cmd, tpm2_flush_context(cmd, ses[1]), &r), 0);
	CHECK_EQ(raw_count(f.v, 0x03000000), 3);
	CHECK_EQ(rm_tx(s, cmd, policy_get_digest(cmd, ses[1]), &r),
		 RM_RC_REFERENCE_H0);
	rm_space_free(s);
	CHECK(tpm_empty(f.v));
	finish(&f);
}

/* Contexts an opener saves itself: objects stay, sessions leave its space. */
static void contexts_saved_by_the_opener(void)
{
	static struct fixture f;
	uint8_t cmd[TPM2_CMD_MAX], octx[2048], sctx[512];
	uint32_t obj, ses, olen, slen, list[4];
	struct rm_space *a, *b;
	struct reply r;

	CHECK(start(&f, NULL));
	CHECK((a = rm_space_new(f.rm)) && (b = rm_space_new(f.rm)));
	CHECK_EQ(rm_tx(a, cmd, tpm2_create_primary(cmd, TPM2_KEY_ECC_P256), &r),
		 0);
	obj = tpm2_created_handle(r.buf);
	CHECK_EQ(rm_tx(a, cmd, context_save(cmd, obj), &r), 0);
	olen = r.len - 10;
	CHECK(olen < sizeof(octx));
	memcpy(octx, r.buf + 10, olen);
	CHECK_EQ(rm_tx(a, cmd, tpm2_read_public(cmd, obj), &r), 0);

	CHECK_EQ(rm_tx(a, cmd, start_policy_session(cmd), &r), 0);
	ses = tpm2_created_handle(r.buf);
	CHECK_EQ(rm_tx(a, cmd, context_save(cmd, ses), &r), 0);
	slen = r.len - 10;
	CHECK(slen < sizeof(sctx));
	memcpy(sctx, r.buf + 10, slen);
	/* A's saved session is no longer loaded, for A as on a TPM */
	CHECK_EQ(rm_tx(a, cmd, policy_get_digest(cmd, ses), &r),
		 RM_RC_REFERENCE_H0);
	CHECK_EQ(rm_count(a, 0x02000000, list, 4), 0);
	/* closing A leaves that session to whoever loads it: tpm2-tools do */
	rm_space_free(a);
	CHECK_EQ(raw_count(f.v, 0x03000000), 1);
	CHECK_EQ(rm_tx(b, cmd, context_load(cmd, sctx, slen), &r), 0);
	CHECK_EQ(tpm2_created_handle(r.buf), ses);
	CHECK_EQ(rm_tx(b, cmd, policy_get_digest(cmd, ses), &r), 0);
	/* and A's object context loads into B under a virtual handle of B's */
	CHECK_EQ(rm_tx(b, cmd, context_load(cmd, octx, olen), &r), 0);
	CHECK_EQ(tpm2_created_handle(r.buf), 0x80ffffff);
	CHECK_EQ(rm_tx(b, cmd, tpm2_read_public(cmd, 0x80ffffff), &r), 0);
	rm_space_free(b);
	CHECK(tpm_empty(f.v));
	finish(&f);
}

/* Sessions saved out and never loaded again: the oldest go past the limit. */
static void saved_out_sessions_are_bounded(void)
{
	static struct fixture f;
	const struct rm_limits lim = { .objects = 4, .sessions = 4,
				       .context_bytes = 65536, .detached = 2 };
	uint8_t cmd[TPM2_CMD_MAX];
	struct rm_space *s;
	struct reply r;
	unsigned i;

	CHECK(start(&f, &lim));
	CHECK((s = rm_space_new(f.rm)));
	for (i = 0; i < 5; i++) {
		CHECK_EQ(rm_tx(s, cmd, start_policy_session(cmd), &r), 0);
		CHECK_EQ(rm_tx(s, cmd,
			       context_save(cmd, tpm2_created_handle(r.buf)),
			       &r),
			 0);
		CHECK_EQ(raw_count(f.v, 0x03000000), i < 2 ? (int)i + 1 : 2);
	}
	rm_space_free(s);
	rm_free(f.rm);
	f.rm = NULL;
	CHECK(tpm_empty(f.v));
	finish(&f);
}

static void limits_answer_like_a_full_tpm(void)
{
	static struct fixture f;
	const struct rm_limits lim = { .objects = 2, .sessions = 1,
				       .context_bytes = 65536, .detached = 4 };
	const struct rm_limits tiny = { .objects = 2, .sessions = 2,
					.context_bytes = 100, .detached = 4 };
	uint8_t cmd[TPM2_CMD_MAX];
	struct rm_space *s;
	struct reply r;
	unsigned objects, sessions;

	CHECK(start(&f, &lim));
	CHECK((s = rm_space_new(f.rm)));
	CHECK_EQ(rm_tx(s, cmd, tpm2_create_primary(cmd, TPM2_KEY_ECC_P256), &r),
		 0);
	CHECK_EQ(rm_tx(s, cmd, tpm2_create_primary(cmd, TPM2_KEY_ECC_P256), &r),
		 0);
	CHECK_EQ(rm_tx(s, cmd, tpm2_create_primary(cmd, TPM2_KEY_ECC_P256), &r),
		 RM_RC_OBJECT_MEMORY);
	CHECK_EQ(rm_tx(s, cmd, start_policy_session(cmd), &r), 0);
	CHECK_EQ(rm_tx(s, cmd, start_policy_session(cmd), &r),
		 RM_RC_SESSION_MEMORY);
	rm_space_count(s, &objects, &sessions);
	CHECK_EQ(objects, 2);
	CHECK_EQ(sessions, 1);
	/* what was refused is not left in the TPM */
	CHECK_EQ(raw_count(f.v, 0x80000000), 0);
	CHECK_EQ(raw_count(f.v, 0x03000000), 1);
	rm_space_free(s);
	CHECK(tpm_empty(f.v));
	rm_free(f.rm);

	/* context memory: an object's context is far more than 100 bytes */
	CHECK((f.rm = rm_new(f.v, &tiny)));
	CHECK((s = rm_space_new(f.rm)));
	CHECK_EQ(rm_tx(s, cmd, tpm2_create_primary(cmd, TPM2_KEY_ECC_P256), &r),
		 RM_RC_MEMORY);
	rm_space_count(s, &objects, &sessions);
	CHECK_EQ(objects, 0);
	rm_space_free(s);
	CHECK(tpm_empty(f.v));
	finish(&f);
}

/* An HMAC session's nonces roll on across saves, loads and other openers. */
static void hmac_session_survives_swapping(void)
{
	static struct fixture f;
	uint8_t cmd[TPM2_CMD_MAX], nonce_tpm[16];
	struct rm_space *a, *b;
	uint32_t ses;
	struct reply r;
	int i;

	CHECK(start(&f, NULL));
	CHECK((a = rm_space_new(f.rm)) && (b = rm_space_new(f.rm)));
	CHECK_EQ(rm_tx(a, cmd, tpm2_start_auth_session(cmd), &r), 0);
	ses = tpm2_created_handle(r.buf);
	CHECK_EQ(r.buf[14] << 8 | r.buf[15], 16);
	memcpy(nonce_tpm, r.buf + 16, 16);
	for (i = 0; i < 5; i++) {
		/* B's session and objects come and go in between */
		CHECK_EQ(rm_tx(b, cmd, tpm2_start_auth_session(cmd), &r), 0);
		CHECK_EQ(rm_tx(b, cmd, tpm2_create_primary(cmd,
							  TPM2_KEY_ECC_P256),
			       &r),
			 0);
		CHECK_EQ(rm_tx(a, cmd, pcr_extend_hmac(cmd, ses, nonce_tpm), &r),
			 0);
		/* parameterSize 0, then the TPM's next nonce */
		CHECK_EQ(r.buf[14] << 8 | r.buf[15], 16);
		memcpy(nonce_tpm, r.buf + 16, 16);
		CHECK_EQ(rm_tx(b, cmd, tpm2_flush_context(cmd, 0x80ffffff), &r),
			 0);
	}
	/* a stale nonce fails: the TPM really checks these HMACs */
	nonce_tpm[0] ^= 1;
	CHECK(rm_tx(a, cmd, pcr_extend_hmac(cmd, ses, nonce_tpm), &r) != 0);
	rm_space_free(a);
	rm_space_free(b);
	CHECK(tpm_empty(f.v));
	finish(&f);
}

/*
 * A session left saved while another is saved and loaded again and again:
 * the TPM's context counter runs far ahead of the idle one's.
 */
static void idle_session_and_busy_one(void)
{
	static struct fixture f;
	uint8_t cmd[TPM2_CMD_MAX];
	struct rm_space *a, *b;
	uint32_t idle, busy;
	struct reply r;
	int i;

	CHECK(start(&f, NULL));
	CHECK((a = rm_space_new(f.rm)) && (b = rm_space_new(f.rm)));
	CHECK_EQ(rm_tx(a, cmd, start_policy_session(cmd), &r), 0);
	idle = tpm2_created_handle(r.buf);
	CHECK_EQ(rm_tx(b, cmd, start_policy_session(cmd), &r), 0);
	busy = tpm2_created_handle(r.buf);
	for (i = 0; i < 600; i++)
		CHECK_EQ(rm_tx(b, cmd, policy_get_digest(cmd, busy), &r), 0);
	CHECK_EQ(rm_tx(a, cmd, policy_get_digest(cmd, idle), &r), 0);
	rm_space_free(a);
	rm_space_free(b);
	CHECK(tpm_empty(f.v));
	finish(&f);
}

/* Commands refused before they reach the TPM, as the kernel refuses them. */
static void malformed_commands_are_refused(void)
{
	static struct fixture f;
	uint8_t cmd[TPM2_CMD_MAX];
	const uint32_t h = 0x80ffffff;
	struct rm_space *s;
	struct reply r;
	size_t n;

	CHECK(start(&f, NULL));
	CHECK((s = rm_space_new(f.rm)));
	/* a code the TPM does not have: the kernel's RM-layer answer */
	CHECK_EQ(rm_tx(s, cmd, words(cmd, RM_ST_NO_SESSIONS, 0x1ff, NULL, 0),
		       &r),
		 0xb0143);
	CHECK_EQ(rm_tx(s, cmd, words(cmd, RM_ST_NO_SESSIONS, 0x20000000, NULL,
				     0),
		       &r),
		 0xb0143);
	CHECK_EQ(rm_tx(s, cmd, words(cmd, 0x00c1, 0x17b, NULL, 0), &r),
		 RM_RC_BAD_TAG);
	/* ReadPublic with no room for its handle */
	CHECK_EQ(rm_tx(s, cmd, words(cmd, RM_ST_NO_SESSIONS, 0x173, NULL, 0),
		       &r),
		 RM_RC_COMMAND_SIZE);
	/* a header size that is not the length */
	n = tpm2_read_public(cmd, h);
	cmd[5]++;
	CHECK_EQ(rm_tx(s, cmd, n, &r), RM_RC_COMMAND_SIZE);
	/* an authorization area longer than the command */
	n = read_public_with(cmd, 0x81000000, RM_RS_PW);
	cmd[17] = 0x40;
	CHECK_EQ(rm_tx(s, cmd, n, &r), RM_RC_AUTHSIZE);
	/* FlushContext with sessions */
	CHECK_EQ(rm_tx(s, cmd, words(cmd, RM_ST_SESSIONS, 0x165, &h, 1), &r),
		 RM_RC_AUTH_CONTEXT);
	/* GetCapability of handles with sessions: the kernel fails it too */
	{
		const uint32_t w[] = { 9, RM_RS_PW };
		const uint32_t p[] = { 1, 0x80000000, 8 };

		n = words(cmd, RM_ST_SESSIONS, 0x17a, w, 2);
		memcpy(cmd + n, "\0\0\1\0\0", 5);
		n += 5;
		for (unsigned i = 0; i < 12; i++) /* the parameters */
			cmd[n++] = (uint8_t)(p[i / 4] >> (24 - 8 * (i % 4)));
		CHECK_EQ(rm_tx(s, cmd, sized(cmd, n), &r), 0xb0143);
	}
	/* persistent handles, NV and the rest go to the TPM as they are */
	CHECK_EQ(rm_tx(s, cmd, tpm2_read_public(cmd, 0x81000000), &r),
		 0x18b); /* TPM_RC_HANDLE, handle 1 */
	CHECK_EQ(rm_tx(s, cmd, tpm2_nv_define(cmd, 0x01500001, 8), &r), 0);
	CHECK_EQ(rm_tx(s, cmd, tpm2_nv_read(cmd, 0x01500001, 8, 0), &r),
		 0x14a); /* TPM_RC_NV_UNINITIALIZED */
	CHECK_EQ(rm_tx(s, cmd, tpm2_get_handles(cmd, 0x01000000, 8), &r), 0);
	CHECK_EQ(handles_of(&r, NULL, 0), 1);
	rm_space_free(s);
	finish(&f);
}

/* The raw path and the resource manager share the TPM, one at a time. */
static void raw_path_alongside(void)
{
	static struct fixture f;
	uint8_t cmd[TPM2_CMD_MAX];
	uint32_t raw_obj, list[4];
	struct rm_space *s;
	struct reply r;

	CHECK(start(&f, NULL));
	CHECK((s = rm_space_new(f.rm)));
	CHECK_EQ(raw_tx(f.v, cmd, tpm2_create_primary(cmd, TPM2_KEY_ECC_P256),
			&r),
		 0);
	raw_obj = tpm2_created_handle(r.buf);
	CHECK_EQ(raw_obj, 0x80000000);
	CHECK_EQ(rm_tx(s, cmd, tpm2_create_primary(cmd, TPM2_KEY_ECC_P256), &r),
		 0);
	CHECK_EQ(rm_tx(s, cmd, tpm2_read_public(cmd, raw_obj), &r),
		 RM_RC_REFERENCE_H0);
	CHECK_EQ(rm_count(s, 0x80000000, list, 4), 1);
	CHECK_EQ(list[0], 0x80ffffff);
	/* the raw owner's object is still its own, and alone in the TPM */
	CHECK_EQ(raw_tx(f.v, cmd, tpm2_read_public(cmd, raw_obj), &r), 0);
	CHECK_EQ(raw_count(f.v, 0x80000000), 1);
	CHECK_EQ(raw_tx(f.v, cmd, tpm2_flush_context(cmd, raw_obj), &r), 0);
	rm_space_free(s);
	CHECK(tpm_empty(f.v));
	finish(&f);
}

CHECK_MAIN_AFTER(cleanup, TEST(cc_table_is_libtpms),
		 TEST(objects_past_the_tpm_slots), TEST(openers_are_isolated),
		 TEST(sessions_follow_their_opener),
		 TEST(hmac_session_survives_swapping),
		 TEST(contexts_saved_by_the_opener),
		 TEST(idle_session_and_busy_one),
		 TEST(saved_out_sessions_are_bounded),
		 TEST(limits_answer_like_a_full_tpm),
		 TEST(malformed_commands_are_refused),
		 TEST(raw_path_alongside))
