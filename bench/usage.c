/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What a server process spent, summed over its threads: CPU time and context
 * switches, read from /proc.  Counted per command, these tell where a path's
 * time goes whatever else the machine does: unlike latency, they do not grow
 * with other load.
 */
#include "bench.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* One task's share, from its schedstat and status files. */
static void add_task(int pid, const char *tid, struct usage *u)
{
	char path[512], line[128];
	unsigned long long ns;
	unsigned long n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", pid, tid);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%llu", &ns) == 1)
			u->cpu_ns += ns; /* on-CPU time, user and system */
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%s/status", pid, tid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "voluntary_ctxt_switches: %lu", &n) == 1)
			u->vcsw += n;
		else if (sscanf(line, "nonvoluntary_ctxt_switches: %lu", &n) == 1)
			u->ivcsw += n;
	}
	fclose(f);
	u->threads++;
}

int usage_read(int pid, struct usage *u)
{
	char path[64];
	struct dirent *e;
	DIR *d;

	memset(u, 0, sizeof(*u));
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			add_task(pid, e->d_name, u);
	closedir(d);
	return 0;
}

void usage_self(struct usage *u)
{
	struct rusage ru;

	memset(u, 0, sizeof(*u));
	if (getrusage(RUSAGE_THREAD, &ru) < 0)
		return;
	u->cpu_ns = ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) *
			    1000000000u +
		    ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
	u->vcsw = (uint64_t)ru.ru_nvcsw;
	u->ivcsw = (uint64_t)ru.ru_nivcsw;
	u->threads = 1;
}

/* b - a, or 0 where a thread that ended took its share with it */
static uint64_t grown(uint64_t a, uint64_t b)
{
	return b > a ? b - a : 0;
}

void usage_add_delta(struct usage *sum, const struct usage *before,
		     const struct usage *after)
{
	sum->cpu_ns += grown(before->cpu_ns, after->cpu_ns);
	sum->vcsw += grown(before->vcsw, after->vcsw);
	sum->ivcsw += grown(before->ivcsw, after->ivcsw);
	sum->threads = after->threads;
}
