/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The floor under every transport: what one round trip costs here with no
 * TPM at all, between two processes (a byte over a socketpair and back) and
 * between two threads (a condition variable each way).  A path that needs k
 * such hops per command cannot beat k times these, whatever its code does.
 */
#include "bench.h"

#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void print_floor(const char *item, struct samples *s)
{
	result_begin("floor", "-", item);
	result_latencies(s);
	result_end();
}

/* The child echoes every byte back until the socket closes. */
static void echo_bytes(int fd)
{
	char c;

	while (read(fd, &c, 1) == 1)
		if (write(fd, &c, 1) != 1)
			break;
	_exit(0);
}

static void process_round_trips(unsigned n)
{
	struct samples s;
	uint64_t t0;
	int sv[2];
	unsigned i;
	pid_t pid;
	char c = 'x';

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    (pid = fork()) < 0)
		die("socketpair/fork failed");
	if (pid == 0) {
		close(sv[0]);
		echo_bytes(sv[1]);
	}
	close(sv[1]);
	samples_init(&s, n);
	for (i = 0; i < n; i++) {
		t0 = now_ns();
		if (write(sv[0], &c, 1) != 1 || read(sv[0], &c, 1) != 1)
			die("socketpair round trip failed");
		samples_add(&s, now_ns() - t0);
	}
	print_floor("process", &s);
	close(sv[0]);
	waitpid(pid, NULL, 0);
	samples_free(&s);
}

/* A ball passed between two threads: whose turn it is, under one lock. */
struct ball {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned turn; /* odd: the other thread's */
	unsigned n;
};

static void *return_ball(void *arg)
{
	struct ball *b = arg;
	unsigned i;

	pthread_mutex_lock(&b->lock);
	for (i = 0; i < b->n; i++) {
		while (b->turn % 2 == 0)
			pthread_cond_wait(&b->cond, &b->lock);
		b->turn++;
		pthread_cond_signal(&b->cond);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

static void thread_round_trips(unsigned n)
{
	struct ball b = { .n = n };
	struct samples s;
	uint64_t t0;
	pthread_t other;
	unsigned i;

	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.cond, NULL);
	if (pthread_create(&other, NULL, return_ball, &b))
		die("pthread_create failed");
	samples_init(&s, n);
	for (i = 0; i < n; i++) {
		t0 = now_ns();
		pthread_mutex_lock(&b.lock);
		b.turn++;
		pthread_cond_signal(&b.cond);
		while (b.turn % 2)
			pthread_cond_wait(&b.cond, &b.lock);
		pthread_mutex_unlock(&b.lock);
		samples_add(&s, now_ns() - t0);
	}
	print_floor("thread", &s);
	pthread_join(other, NULL);
	pthread_cond_destroy(&b.cond);
	pthread_mutex_destroy(&b.lock);
	samples_free(&s);
}

/* bench floor: round trips between processes and between threads. */
int cmd_floor(int argc, char **argv)
{
	unsigned n = scaled(300, 10);

	(void)argc;
	(void)argv;
	process_round_trips(n);
	thread_round_trips(n);
	return 0;
}
