/*
 * policy_load N...: time and memory of loading a blocklist of N name rules (issue 5, item 6).
 * For each N a file of N distinct names (with 1 in 10 an address rule) is written to a scratch
 * directory and loaded 5 times; mN is a file of N rules mixing every form (issue 21: plain,
 * "=NAME", "*.NAME", globs, a reason on some, and addresses); prints one JSON object per N with
 * min/median/max seconds and the bytes of heap per rule (mallinfo2 before and after). Targets: 1M
 * rules <= 1 s, <= 100 B/rule.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../policy.h"

#define ROUNDS 5

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Heap in use, including the large blocks malloc takes with mmap. */
static size_t heap(void)
{
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void write_rules(const char *path, long n, bool mixed)
{
	static const char *const forms[] = {
	    "host-%ld.svc%ld.example.org\n", "=host-%ld.svc%ld.example.org\n",
	    "*.host-%ld.svc%ld.example.org\n", "api-*.host-%ld.svc%ld.example.org\n",
	    "host-%ld.svc%ld.example.org # reason %ld\n"};
	FILE *f = fopen(path, "w");

	for (long i = 0; f && i < n; i++) {
		if (i % 10 == 9)
			fprintf(f, "10.%ld.%ld.0/24\n", (i >> 16) & 255, (i >> 8) & 255);
		else
			fprintf(f, forms[mixed ? i % 5 : 0], i, i % 97, i);
	}
	if (!f || fclose(f)) {
		perror(path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/dg-bench.XXXXXX", path[64], err[512];

	if (!mkdtemp(dir))
		return 1;
	for (int a = 1; a < argc; a++) {
		bool mixed = argv[a][0] == 'm';
		long n = atol(argv[a] + mixed);
		double t[ROUNDS];
		size_t bytes = 0;

		snprintf(path, sizeof(path), "%s/rules", dir);
		write_rules(path, n, mixed);
		for (int r = 0; r < ROUNDS; r++) {
			struct policy p = {0};
			size_t before = heap();
			double t0 = now();

			if (policy_load(&p, path, err, sizeof(err))) {
				fprintf(stderr, "%s\n", err);
				return 1;
			}
			t[r] = now() - t0;
			bytes = heap() - before;
			policy_free(&p);
		}
		qsort(t, ROUNDS, sizeof(t[0]), cmp);
		printf("{\"rules\": %ld, \"mixed\": %s, \"min_s\": %.4f, \"median_s\": %.4f, "
		       "\"max_s\": %.4f, "
		       "\"bytes_per_rule\": %.1f}\n",
		       n, mixed ? "true" : "false", t[0], t[ROUNDS / 2], t[ROUNDS - 1],
		       (double)bytes / (double)n);
		unlink(path);
	}
	rmdir(dir);
	return 0;
}
