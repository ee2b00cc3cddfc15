/* SPDX-License-Identifier: BSD-3-Clause */
#include "report.h"

#include <errno.h>
#include <libtpms/tpm_error.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/*
 * Process-wide, like stderr itself: main() decides once from the program's
 * name, and every message of the run follows that choice.
 */
static bool explain_failures = true;

void report_set_explain(bool on)
{
	explain_failures = on;
}

bool report_explains(void)
{
	return explain_failures;
}

void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

void why(const char *fmt, ...)
{
	va_list ap;

	if (!explain_failures)
		return;
	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void why_newline(void)
{
	if (explain_failures)
		fputc('\n', stderr);
}

/*
 * Transport errors travel as -errno.  Some get a text that says what
 * happened on the control channel rather than what the errno once meant
 * (see client.h).
 */
static const char *errtext(int err)
{
	switch (err) {
	case ENODATA:
		return "the server closed the connection before it replied";
	case EPROTO:
		return "the reply does not follow the control protocol";
	case ETIMEDOUT:
		return "no reply within 10 seconds (is another client connected "
		       "to the control channel?)";
	default:
		return strerror(err);
	}
}

static const char *tpm_result_name(uint32_t res)
{
	static const struct {
		uint32_t code;
		const char *name;
	} names[] = {
		{TPM_AUTHFAIL, "TPM_AUTHFAIL"},
		{TPM_BADINDEX, "TPM_BADINDEX"},
		{TPM_BAD_PARAMETER, "TPM_BAD_PARAMETER"},
		{TPM_FAIL, "TPM_FAIL"},
		{TPM_BAD_ORDINAL, "TPM_BAD_ORDINAL"},
		{TPM_KEYNOTFOUND, "TPM_KEYNOTFOUND"},
		{TPM_NOSPACE, "TPM_NOSPACE"},
		{TPM_RESOURCES, "TPM_RESOURCES"},
		{TPM_SIZE, "TPM_SIZE"},
		{TPM_BAD_PARAM_SIZE, "TPM_BAD_PARAM_SIZE"},
		{TPM_IOERROR, "TPM_IOERROR"},
		{TPM_ENCRYPT_ERROR, "TPM_ENCRYPT_ERROR"},
		{TPM_DECRYPT_ERROR, "TPM_DECRYPT_ERROR"},
		{TPM_INVALID_POSTINIT, "TPM_INVALID_POSTINIT"},
		{TPM_BAD_DATASIZE, "TPM_BAD_DATASIZE"},
		{TPM_BAD_VERSION, "TPM_BAD_VERSION"},
		{TPM_BAD_LOCALITY, "TPM_BAD_LOCALITY"},
		{TPM_RETRY, "TPM_RETRY"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].code == res)
			return names[i].name;
	return "unknown result code";
}

/* Whether the server advertises op; true when it cannot tell. */
static bool server_has(struct client *c, const struct ctrl_op *op)
{
	ptm_cap caps = 0;

	if (!op->cap ||
	    client_call(c, CTRL_GET_CAPABILITY, &caps, 0, sizeof(caps)))
		return true;
	return (caps & op->cap) != 0;
}

static const char *explain_bad_ordinal(struct client *c,
				       const struct ctrl_op *op)
{
	if (!server_has(c, op))
		return "the server does not support this operation";
	switch (op->need) {
	case CTRL_NEED_RUNNING:
		return "the TPM is not running; initialize it first with -i";
	case CTRL_NEED_STOPPED:
		return "the TPM is running; stop it first with --stop";
	default:
		return "the server does not know this operation";
	}
}

static const char *explain(struct client *c, const struct ctrl_op *op,
			   uint32_t res)
{
	enum ctrl_op_id id = (enum ctrl_op_id)(op - ctrl_op_table);

	switch (res) {
	case TPM_BAD_ORDINAL:
		return explain_bad_ordinal(c, op);
	case TPM_BAD_LOCALITY:
		if (id == CTRL_RESET_TPMESTABLISHED)
			return "the tpmEstablished bit can only be reset from "
			       "locality 3 or 4";
		return "the server refuses this locality (is it started with "
		       "reject-locality-4?)";
	case TPM_BAD_DATASIZE:
	case TPM_BAD_VERSION:
	case TPM_BAD_PARAMETER:
		if (id == CTRL_SET_STATEBLOB)
			return "the server rejected the state blob: the file is "
			       "not a valid blob of this type (corrupt or "
			       "truncated?)";
		if (id == CTRL_GET_INFO)
			return "the server rejected the info flags or offset";
		return "the server rejected the request's parameters";
	case TPM_KEYNOTFOUND:
		return "the blob is encrypted with a key the server does not "
		       "have (check --key / --migration-key)";
	case TPM_IOERROR:
		if (id == CTRL_SET_STATEBLOB)
			return "the server could not lock or access its state "
			       "storage (is another instance using it?)";
		return "the server had an I/O error; see its log";
	case TPM_FAIL:
		if (id == CTRL_INIT)
			return "the TPM could not be started; see the server's "
			       "log (state files, storage lock, keys)";
		if (id == CTRL_LOCK_STORAGE)
			return "the storage lock is still held by another "
			       "process";
		if (id == CTRL_CANCEL_TPM_CMD)
			return "the TPM cannot cancel a command now";
		if (id == CTRL_STORE_VOLATILE)
			return "the volatile state could not be written; see "
			       "the server's log";
		return "the operation failed in the server; see its log";
	case TPM_SIZE:
		return "the server could not produce the data";
	default:
		return "see the server's log";
	}
}

void report_result(struct client *c, const struct ctrl_op *op, uint32_t res)
{
	say("TPM result from %s: 0x%x\n", op->name, res);
	/* explain() may ask the server: only when it will be printed */
	if (explain_failures)
		why("%s failed: TPM result 0x%x (%s): %s", op->name, res,
		    tpm_result_name(res), explain(c, op, res));
}

void report_transport(const struct client *c, const struct ctrl_op *op,
		      int err)
{
	const char *hint = "";

	if (c->tp == &client_device && (err == -ENOTTY || err == -EINVAL))
		hint = " (not a vTPM device, or the server does not know "
		       "this ioctl)";
	else if (c->tp == &client_device &&
		 (err == -ENODEV || err == -ENOTCONN || err == -ECONNABORTED))
		hint = " (the vTPM server behind the device has gone away)";
	say("Could not execute %s: %s\n", op->exec_name, strerror(-err));
	why("%s on %s failed: %s%s", op->name, c->where, errtext(-err), hint);
}

int run_op(struct client *c, enum ctrl_op_id id, void *msg, size_t req_len,
	   size_t msg_size)
{
	const struct ctrl_op *op = &ctrl_op_table[id];
	uint32_t res;
	int err = client_call(c, id, msg, req_len, msg_size);

	if (err) {
		report_transport(c, op, err);
		return -1;
	}
	memcpy(&res, msg, sizeof(res));
	if (res != TPM_SUCCESS) {
		report_result(c, op, res);
		return -1;
	}
	return 0;
}

int run_simple(struct client *c, enum ctrl_op_id id)
{
	ptm_res res = 0;

	return run_op(c, id, &res, 0, sizeof(res));
}
