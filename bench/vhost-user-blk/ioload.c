// SPDX-License-Identifier: MIT
/*
 * A small fio stand-in that runs inside the bench guest (busybox has no
 * fio): O_DIRECT I/O on a block device through Linux native AIO
 * (io_submit), `qd` requests in flight, for `secs` seconds.
 *
 *   ioload DEV randread|randwrite|read|write BS QD SECS SPAN_MB
 *
 * Prints "IOLOAD mode bs qd ops bytes secs iops mbps" on one line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_QD 64

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int main(int argc, char **argv)
{
	struct iocb cbs[MAX_QD], *ptrs[1];
	struct io_event evs[MAX_QD];
	aio_context_t ctx = 0;
	uint64_t span, blocks, seq = 0, seed = 0x9e3779b97f4a7c15ull, ops = 0;
	unsigned long bs, qd;
	double secs, t0, end;
	int fd, rnd, wr, inflight = 0;
	char *buf;

	if (argc != 7) {
		fprintf(stderr,
			"usage: ioload DEV randread|randwrite|read|write BS QD SECS SPAN_MB\n");
		return 2;
	}
	rnd = !strncmp(argv[2], "rand", 4);
	wr = strstr(argv[2], "write") != NULL;
	bs = strtoul(argv[3], NULL, 0);
	qd = strtoul(argv[4], NULL, 0);
	secs = atof(argv[5]);
	span = strtoull(argv[6], NULL, 0) << 20;
	if (!bs || bs % 512 || !qd || qd > MAX_QD || span < bs)
		return 2;
	blocks = span / bs;
	fd = open(argv[1], (wr ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0 || syscall(SYS_io_setup, qd, &ctx) < 0) {
		perror("ioload");
		return 1;
	}
	if (posix_memalign((void **)&buf, 4096, bs * qd))
		return 1;
	memset(buf, 0x5a, bs * qd);
	t0 = now();
	end = t0 + secs;
	for (;;) {
		double t = now();

		while (t < end && inflight < (int)qd) {
			struct iocb *cb = &cbs[inflight];
			uint64_t blk = rnd ? rng(&seed) % blocks : seq++ % blocks;

			memset(cb, 0, sizeof(*cb));
			cb->aio_fildes = fd;
			cb->aio_lio_opcode = wr ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
			cb->aio_buf = (uint64_t)(uintptr_t)(buf + bs * inflight);
			cb->aio_nbytes = bs;
			cb->aio_offset = (int64_t)(blk * bs);
			cb->aio_data = (uint64_t)inflight;
			ptrs[0] = cb;
			if (syscall(SYS_io_submit, ctx, 1, ptrs) != 1) {
				perror("io_submit");
				return 1;
			}
			inflight++;
		}
		if (!inflight)
			break;
		/* Reap one or more, then refill the freed slots in order. */
		long n = syscall(SYS_io_getevents, ctx, 1, (long)inflight, evs, NULL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("io_getevents");
			return 1;
		}
		for (long i = 0; i < n; i++) {
			if (evs[i].res != (int64_t)bs) {
				fprintf(stderr, "ioload: I/O failed (%lld)\n",
					(long long)evs[i].res);
				return 1;
			}
		}
		ops += (uint64_t)n;
		/* Slots are interchangeable: the buffers are not checked. */
		inflight -= (int)n;
	}
	secs = now() - t0;
	printf("IOLOAD %s %lu %lu %llu %llu %.3f %.0f %.2f\n", argv[2], bs, qd,
	       (unsigned long long)ops, (unsigned long long)(ops * bs), secs, ops / secs,
	       ops * bs / secs / 1e6);
	return 0;
}
