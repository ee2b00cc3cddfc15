/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * LD_PRELOAD=onethread.so: a program with one idle thread more, from its
 * start and again in a child it forks (as daemon() does).  make bench runs
 * swtpm socket with it: what a second thread costs swtpm's own data path
 * (glibc's locks and cancellation points go multi-threaded), which our
 * socket channel pays for answering control during a command.
 */
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

static void *idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/* The thread takes no signal: they stay the program's main thread's. */
static void start_idle_thread(void)
{
	sigset_t all, old;
	pthread_t t;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&t, NULL, idle, NULL) == 0)
		pthread_detach(t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

__attribute__((constructor)) static void onethread_init(void)
{
	start_idle_thread();
	pthread_atfork(NULL, NULL, start_idle_thread);
}
