// SPDX-License-Identifier: MIT
/*
 * boottime: time one VMM boot of the Linux lane's guest.
 *
 *   boottime MARKER -- VMM [ARGS...]
 *
 * Runs the VMM with its stdout (the guest's serial console) on a pipe and
 * prints one line:
 *
 *   marker_ms=N exit_ms=N init_s=F status=N
 *
 * marker_ms: exec until a console line containing MARKER (the guest's
 * init prints it); exit_ms: exec until the VMM is gone (the guest powers
 * off right after); init_s: the guest kernel's own printk timestamp of
 * "Run /init", which guest.sh's bench check echoes from dmesg: it
 * separates the kernel's share of the boot from the VMM's.  bench/boot
 * runs it inside the L1 host, where busybox has no clock finer than a
 * second.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* "[    1.234567] Run /init as init process": the kernel's timestamp. */
static double init_stamp(const char *line)
{
	const char *b = strchr(line, '[');

	if (!b || !strstr(line, "Run /init"))
		return -1;
	return strtod(b + 1, NULL);
}

int main(int argc, char **argv)
{
	double t0, marker = -1, init = -1;
	char line[4096], last[4][256] = { 0 };
	int fds[2], status, nlast = 0;
	size_t len = 0, n;
	pid_t pid;
	FILE *in;

	if (argc < 4 || strcmp(argv[2], "--")) {
		fprintf(stderr, "usage: boottime MARKER -- VMM [ARGS...]\n");
		return 2;
	}
	if (pipe(fds) < 0) {
		perror("boottime: pipe");
		return 1;
	}
	t0 = now_ms();
	pid = fork();
	if (pid < 0) {
		perror("boottime: fork");
		return 1;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[3], argv + 3);
		fprintf(stderr, "boottime: %s: %s\n", argv[3], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	if (!in) {
		perror("boottime: fdopen");
		return 1;
	}
	/* Line by line, but a marker is seen as soon as its bytes arrive. */
	for (int c; (c = fgetc(in)) != EOF;) {
		if (len < sizeof(line) - 1)
			line[len++] = (char)c;
		line[len] = '\0';
		if (marker < 0 && strstr(line, argv[1]))
			marker = now_ms() - t0;
		if (c == '\n') {
			if (init < 0)
				init = init_stamp(line);
			if (getenv("BOOTTIME_ECHO"))
				fputs(line, stderr);
			n = len < sizeof(last[0]) - 1 ? len : sizeof(last[0]) - 1;
			memcpy(last[nlast % 4], line, n);
			last[nlast++ % 4][n] = '\0';
			len = 0;
		}
	}
	fclose(in);
	if (waitpid(pid, &status, 0) < 0) {
		perror("boottime: waitpid");
		return 1;
	}
	/* A failed boot says why: the VMM's last lines. */
	if (marker < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		for (int i = 0; i < 4; i++)
			fprintf(stderr, "boottime: %s: %s", argv[3], last[(nlast + i) % 4]);
	printf("marker_ms=%.1f exit_ms=%.1f init_s=%.3f status=%d\n", marker, now_ms() - t0, init,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return marker < 0;
}
