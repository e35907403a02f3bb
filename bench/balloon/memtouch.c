// SPDX-License-Identifier: MIT
/*
 * bench/balloon's guest workload: map MIB MiB of fresh anonymous memory,
 * write every page, unmap, PASSES times; print each pass's time.  Fresh
 * memory each pass: the guest allocates and zeroes pages, and where the
 * host has taken them back (the balloon), faults them in again, so a
 * pass is slower while the balloon moves memory than when it is still.
 *
 *   memtouch MIB PASSES TAG   ->  "WORK TAG ms=12.3" per pass
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	size_t len;
	int passes;

	if (argc != 4) {
		fprintf(stderr, "usage: memtouch MIB PASSES TAG\n");
		return 2;
	}
	len = (size_t)atol(argv[1]) << 20;
	passes = atoi(argv[2]);
	for (int i = 0; i < passes; i++) {
		double t0 = now_ms();
		volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			perror("memtouch: mmap");
			return 1;
		}
		for (size_t off = 0; off < len; off += 4096)
			p[off] = 1;
		munmap((void *)p, len);
		printf("WORK %s ms=%.1f\n", argv[3], now_ms() - t0);
		fflush(stdout);
	}
	return 0;
}
