/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The signals that end the daemon in order, for the two places that take
 * them: main.c's sigwait() in socket mode, and the CUSE loop's handlers.
 */
#ifndef CUSE_TPM_STOP_SIGNALS_H
#define CUSE_TPM_STOP_SIGNALS_H

#include <signal.h>
#include <stddef.h>

static const int stop_signals[] = { SIGTERM, SIGINT, SIGHUP };
#define N_STOP_SIGNALS (sizeof(stop_signals) / sizeof(stop_signals[0]))

static inline void stop_signal_set(sigset_t *set)
{
	size_t i;

	sigemptyset(set);
	for (i = 0; i < N_STOP_SIGNALS; i++)
		sigaddset(set, stop_signals[i]);
}

#endif
