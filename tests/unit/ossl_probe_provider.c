/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An OpenSSL 3 provider that offers nothing and, when loaded, makes a
 * system call no allow-list of the daemon has (getpgid), as a host's
 * provider or engine module may.  test_openssl_conf.sh names it in an
 * OPENSSL_CONF: the daemon must load it before its seccomp filter goes on.
 */
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <sys/syscall.h>
#include <unistd.h>

int OSSL_provider_init(const OSSL_CORE_HANDLE *handle,
		       const OSSL_DISPATCH *in, const OSSL_DISPATCH **out,
		       void **provctx);

static const OSSL_DISPATCH nothing[] = { { 0, NULL } };

int OSSL_provider_init(const OSSL_CORE_HANDLE *handle,
		       const OSSL_DISPATCH *in, const OSSL_DISPATCH **out,
		       void **provctx)
{
	(void)handle;
	(void)in;
	syscall(SYS_getpgid, 0);
	*out = nothing;
	*provctx = NULL;
	return 1;
}
