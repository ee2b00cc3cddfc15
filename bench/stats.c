/* SPDX-License-Identifier: BSD-3-Clause */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void sleep_us(unsigned us)
{
	struct timespec ts = { .tv_sec = us / 1000000,
			       .tv_nsec = (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void samples_init(struct samples *s, size_t cap)
{
	s->n = 0;
	s->total = 0;
	s->cap = cap ? cap : 1;
	s->ns = malloc(s->cap * sizeof(*s->ns));
	if (!s->ns)
		die("out of memory");
}

void samples_add(struct samples *s, uint64_t ns)
{
	if (s->n == s->cap) {
		uint64_t *p = realloc(s->ns, 2 * s->cap * sizeof(*s->ns));

		if (!p)
			die("out of memory");
		s->ns = p;
		s->cap *= 2;
	}
	s->ns[s->n++] = ns;
	s->total += ns;
}

void samples_free(struct samples *s)
{
	free(s->ns);
	s->ns = NULL;
	s->n = s->cap = 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

double samples_pct_us(struct samples *s, double p)
{
	double want;
	size_t rank;

	if (!s->n)
		return 0;
	qsort(s->ns, s->n, sizeof(*s->ns), cmp_u64);
	want = p / 100 * (double)s->n;
	rank = (size_t)want;
	if ((double)rank < want)
		rank++; /* the nearest rank rounds up */
	if (rank < 1)
		rank = 1;
	return (double)s->ns[rank - 1] / 1e3;
}

double samples_median_ms(struct samples *s)
{
	return samples_pct_us(s, 50) / 1e3;
}

unsigned scaled(unsigned base, unsigned min)
{
	const char *env = getenv("BENCH_SCALE");
	double f = env ? strtod(env, NULL) : 1.0;
	double n = f > 0 ? base * f : base;

	return n < min ? min : (unsigned)n;
}

const char *bench_env(void)
{
	const char *g = getenv("VM_GUEST");

	return g && *g == '1' ? "vm" : "host";
}

void result_begin(const char *figure, const char *path, const char *item)
{
	printf("%s %s %s %s", figure, bench_env(), path, item);
}

void result_kv(const char *key, const char *fmt, ...)
{
	va_list ap;

	printf(" %s=", key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

void result_end(void)
{
	putchar('\n');
	fflush(stdout);
}

void result_latencies(struct samples *s)
{
	double total_s = (double)s->total / 1e9;

	result_kv("n", "%zu", s->n);
	result_kv("ops", "%.1f", total_s > 0 ? (double)s->n / total_s : 0);
	result_kv("mean", "%.1f", s->n ? total_s * 1e6 / (double)s->n : 0);
	result_kv("p50", "%.1f", samples_pct_us(s, 50));
	result_kv("p99", "%.1f", samples_pct_us(s, 99));
	result_kv("max", "%.1f", samples_pct_us(s, 100));
}
