/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz-rm: the resource manager's handle translation (cuse_tpm/rm_cmd.c,
 * cuse_tpm/rm.c).  The first input byte chooses how:
 *
 *  even  the command walker alone: the rest of the input is one command,
 *        in an exact-size heap buffer, through rm_cmd_parse(); then, if it
 *        is a handle query, rm_handles_response() over handles taken from
 *        the input, into an exact-size buffer.
 *  odd   spaces on a real core (core_harness.c): up to MAX_OPS operations,
 *        each on one of three spaces: a command of fuzzed bytes, a
 *        well-formed command naming a handle picked from the space's own,
 *        another space's, the last context a command saved, or the input,
 *        or closing the space and opening a new one.  Limits are small,
 *        so the fuzzer reaches them.
 *
 * Checks, besides ASan/UBSan/LSan: the walker's offsets lie inside the
 * command and in order, and it says the same twice; a handle list is
 * sorted, from the first handle asked, no longer than asked, its length
 * field true.  On the core: every response is 10 bytes or more with a
 * true size; after every command nothing of any space is left loaded in
 * the TPM; a command never changes what another space holds; a space
 * never holds more than its limits; once every space is closed and the
 * manager freed, the TPM holds no transient object and no session.
 */
#include "input.h"
#include "core_harness.c"

#include "byteorder.h"
#include "rm.h"
#include "rm_cmd.h"

#define MAX_OPS 32
#define SPACES 3

static void fuzz_walker(struct input *in)
{
	size_t len = in->n;
	uint8_t *cmd = malloc(len ? len : 1);
	struct rm_cmd c, again;
	uint32_t rc, first, count, prev = 0;
	unsigned i;

	in_bytes(in, cmd, len);
	rc = rm_cmd_parse(cmd, (uint32_t)len, &c);
	if (rm_cmd_parse(cmd, (uint32_t)len, &again) != rc ||
	    memcmp(&c, &again, sizeof(c)))
		H_FAIL("the walker said two things of one command");
	if (rc == RM_RC_SUCCESS) {
		if (c.nhandles > RM_CMD_HANDLES || c.nsessions > RM_CMD_SESSIONS)
			H_FAIL("%u handles, %u sessions", c.nhandles,
			       c.nsessions);
		for (i = 0; i < c.nhandles; i++) {
			if (c.handles[i].off != 10 + 4 * i ||
			    c.handles[i].off + 4 > len ||
			    be32(cmd + c.handles[i].off) != c.handles[i].handle)
				H_FAIL("handle %u at %u of %zu", i,
				       c.handles[i].off, len);
			prev = c.handles[i].off;
		}
		for (i = 0; i < c.nsessions; i++) {
			if (c.sessions[i].off <= prev ||
			    c.sessions[i].off + 9 > len ||
			    be32(cmd + c.sessions[i].off) != c.sessions[i].handle)
				H_FAIL("session %u at %u of %zu", i,
				       c.sessions[i].off, len);
			prev = c.sessions[i].off;
		}
		if (c.params > len || c.params < 10 + 4u * c.nhandles)
			H_FAIL("parameters at %u of %zu", c.params, len);
		if (rm_cmd_handle_query(cmd, (uint32_t)len, &c, &first,
					&count) &&
		    (c.cc != RM_CC_GET_CAPABILITY || c.params + 12 > len ||
		     first != be32(cmd + c.params + 4)))
			H_FAIL("a handle query that is none");
	}
	free(cmd);
}

/* A handle list for a query, as a space would give it: sorted by index. */
static void fuzz_handle_list(struct input *in)
{
	uint32_t handles[RM_CAP_HANDLES_MAX], first = in_u32(in);
	uint32_t count = in_u32(in), size = in_u16(in) % 1200, len, n, i;
	unsigned nh = in_u8(in) % (RM_CAP_HANDLES_MAX + 1);
	uint8_t *resp = malloc(size ? size : 1);

	for (i = 0; i < nh; i++) {
		uint32_t h = in_u32(in), k;

		for (k = i; k > 0 && (handles[k - 1] & RM_HANDLE_INDEX) >
					     (h & RM_HANDLE_INDEX);
		     k--)
			handles[k] = handles[k - 1];
		handles[k] = h;
	}
	if (size < 10) {
		free(resp);
		return; /* the contract asks for room for a header */
	}
	len = rm_handles_response(resp, size, handles, nh, first, count);
	if (len < 10 || len > size || be32(resp + 2) != len)
		H_FAIL("a %u-byte answer in %u bytes", len, size);
	if (be32(resp + 6) == RM_RC_SUCCESS) {
		n = be32(resp + 15);
		if (len != 19 + 4 * n || n > count || n > RM_CAP_HANDLES_MAX)
			H_FAIL("%u handles in %u bytes, %u asked", n, len,
			       count);
		for (i = 0; i < n; i++) {
			uint32_t h = be32(resp + 19 + 4 * i);

			if ((h & RM_HANDLE_INDEX) < (first & RM_HANDLE_INDEX) ||
			    (i && (h & RM_HANDLE_INDEX) <
					  (be32(resp + 15 + 4 * i) &
					   RM_HANDLE_INDEX)))
				H_FAIL("handle 0x%08x out of order", h);
		}
	}
	free(resp);
}

/* ---- spaces on the core ---------------------------------------------------- */

struct fuzz_space {
	struct rm_space *s;
	uint32_t handles[8]; /* what its responses returned */
	unsigned nhandles;
};

static struct fuzz_space spaces[SPACES];
static uint8_t saved_ctx[VTPM_IO_MAX];
static uint32_t saved_len;

static uint32_t raw(const uint8_t *cmd, size_t len, uint8_t *resp)
{
	int n = vtpm_execute(vtpm, cmd, (uint32_t)len, resp, VTPM_IO_MAX);

	return n < 10 ? ~0u : tpm2_rc(resp);
}

/* Handles of @first's kind in the TPM, or -1 if it does not say. */
static int raw_count(uint32_t first)
{
	uint8_t cmd[TPM2_CMD_MAX], resp[VTPM_IO_MAX];

	if (raw(cmd, tpm2_get_handles(cmd, first, 64), resp))
		return -1;
	return (int)be32(resp + 15);
}

static size_t header(uint8_t *cmd, uint16_t tag, uint32_t cc, size_t len)
{
	cmd[0] = (uint8_t)(tag >> 8);
	cmd[1] = (uint8_t)tag;
	put_be32(cmd + 2, (uint32_t)len);
	put_be32(cmd + 6, cc);
	return len;
}

/* Two bytes: whose handle (or where from), and which. */
static uint32_t pick_handle(struct input *in, unsigned self)
{
	uint8_t how = in_u8(in), which = in_u8(in);
	const struct fuzz_space *f = &spaces[(self + 1 + how % 2) % SPACES];

	switch (how >> 5) {
	case 0:
	case 1:
	case 2:
		f = &spaces[self];
		/* fall through */
	case 3:
	case 4:
		return f->nhandles ? f->handles[which % f->nhandles]
				   : 0x80ffffff;
	case 5:
		return 0x80000000 | which; /* a physical handle */
	default:
		return (uint32_t)which << 24 | in_u16(in);
	}
}

/* A well-formed command that names a handle. */
static size_t well_formed(struct input *in, unsigned self, uint8_t *cmd)
{
	uint32_t h = pick_handle(in, self);

	switch (in_u8(in) % 9) {
	case 0:
		return tpm2_create_primary(cmd, TPM2_KEY_ECC_P256);
	case 1:
		return tpm2_start_auth_session(cmd);
	case 2:
		return tpm2_read_public(cmd, h);
	case 3:
		return tpm2_flush_context(cmd, h);
	case 4:
		put_be32(cmd + 10, h); /* PolicyGetDigest */
		return header(cmd, RM_ST_NO_SESSIONS, 0x189, 14);
	case 5:
		put_be32(cmd + 10, h);
		return header(cmd, RM_ST_NO_SESSIONS, RM_CC_CONTEXT_SAVE, 14);
	case 6:
		memcpy(cmd + 10, saved_ctx, saved_len);
		return header(cmd, RM_ST_NO_SESSIONS, RM_CC_CONTEXT_LOAD,
			      10 + saved_len);
	case 7:
		return tpm2_get_handles(cmd, h, in_u8(in));
	default: /* ReadPublic with @h as its session */
		put_be32(cmd + 10, pick_handle(in, self));
		put_be32(cmd + 14, 9);
		put_be32(cmd + 18, h);
		memcpy(cmd + 22, "\0\0\1\0\0", 5);
		return header(cmd, RM_ST_SESSIONS, 0x173, 27);
	}
}

static void remember(struct fuzz_space *f, const uint8_t *cmd,
		     const uint8_t *resp, uint32_t n)
{
	uint32_t cc = be32(cmd + 6);

	if (n < 14 || tpm2_rc(resp))
		return;
	if (cc == RM_CC_CONTEXT_SAVE && n - 10 <= sizeof(saved_ctx)) {
		saved_len = n - 10;
		memcpy(saved_ctx, resp + 10, saved_len);
	} else if (cc == 0x131 || cc == 0x176 || cc == RM_CC_CONTEXT_LOAD) {
		f->handles[f->nhandles++ % 8] = be32(resp + 10);
		if (f->nhandles > 8)
			f->nhandles = 8;
	}
}

static void one_op(struct input *in, struct rm *rm,
		   const struct rm_limits *lim)
{
	uint8_t kind = in_u8(in), cmd[VTPM_IO_MAX], resp[VTPM_IO_MAX];
	unsigned self = kind % SPACES, i, before[SPACES][2];
	struct fuzz_space *f = &spaces[self];
	uint32_t len, n;

	if ((kind >> 2) % 8 == 0) { /* close it, open another */
		rm_space_free(f->s);
		*f = (struct fuzz_space){ .s = rm_space_new(rm) };
		if (!f->s)
			H_FAIL("rm_space_new");
		return;
	}
	if ((kind >> 2) % 8 < 3) {
		len = in_u16(in) % (VTPM_IO_MAX + 1);
		in_bytes(in, cmd, len);
	} else {
		len = (uint32_t)well_formed(in, self, cmd);
	}
	for (i = 0; i < SPACES; i++)
		rm_space_count(spaces[i].s, &before[i][0], &before[i][1]);
	n = rm_execute(f->s, cmd, len, resp, sizeof(resp));
	TRACE("space %u: cc 0x%x -> 0x%x\n", self, len >= 10 ? be32(cmd + 6) : 0,
	      n >= 10 ? tpm2_rc(resp) : 0);
	if (n < 10 || n > sizeof(resp) || be32(resp + 2) != n)
		H_FAIL("a %u-byte response", n);
	if (len >= 10)
		remember(f, cmd, resp, n);
	for (i = 0; i < SPACES; i++) {
		unsigned objects, sessions;

		rm_space_count(spaces[i].s, &objects, &sessions);
		if (objects > lim->objects || sessions > lim->sessions)
			H_FAIL("space %u holds %u objects, %u sessions", i,
			       objects, sessions);
		if (i != self &&
		    (objects != before[i][0] || sessions != before[i][1]))
			H_FAIL("a command of space %u changed space %u", self,
			       i);
	}
	if (raw_count(0x80000000) > 0 || raw_count(0x02000000) > 0)
		H_FAIL("cc 0x%x left something loaded in the TPM",
		       be32(cmd + 6));
}

static void fuzz_spaces(struct input *in)
{
	const struct rm_limits lim = { .objects = 3, .sessions = 2,
				       .context_bytes = 4096, .detached = 2 };
	struct rm *rm = rm_new(vtpm, &lim);
	unsigned i;

	if (!rm)
		H_FAIL("rm_new");
	saved_len = 0;
	for (i = 0; i < SPACES; i++) {
		spaces[i] = (struct fuzz_space){ .s = rm_space_new(rm) };
		if (!spaces[i].s)
			H_FAIL("rm_space_new");
	}
	for (i = 0; i < MAX_OPS && in->n; i++)
		one_op(in, rm, &lim);
	for (i = 0; i < SPACES; i++)
		rm_space_free(spaces[i].s);
	rm_free(rm);
	/* -1: a fuzzed Shutdown left a TPM that answers nothing */
	if (raw_count(0x80000000) > 0 || raw_count(0x02000000) > 0 ||
	    raw_count(0x03000000) > 0)
		H_FAIL("closed spaces left objects or sessions in the TPM");
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	core_init("fuzz-rm");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	uint8_t mode = in_u8(&in);

	if (mode & 1) {
		restore_tpm();
		fuzz_spaces(&in);
	} else if (mode & 2) {
		fuzz_handle_list(&in);
	} else {
		fuzz_walker(&in);
	}
	return 0;
}
