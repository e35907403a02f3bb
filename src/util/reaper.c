// SPDX-License-Identifier: MIT
/*
 * The cleanup helper (reaper.h): the removals a filtered VMM cannot do.
 *
 * Protocol: the helper gets the read end of a pipe on fd 3 and the write
 * end of another on fd 4.  The VMM writes each entry on fd 3 as words,
 * each NUL-terminated.  Reading fd 3 returns 0 when the VMM closes its
 * end (reaper_finish) or its last copy goes away with the process (a
 * crash, a SIGKILL).  The helper then removes each path whose device and
 * inode are still those recorded at start-up, runs the commands, and
 * exits, which closes fd 4: reaper_finish's read returns.  A jailed VMM
 * writes the same words to its jail's outer process instead
 * (reaper_attach), which does the same once the VMM is gone.
 */
#include "util/reaper.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define REAPER_MAX 64 /* words: 2 per socket, 2 + its words per command */

static char *reaper_args[REAPER_MAX];
static unsigned int reaper_nr;
static int reaper_wfd = -1, reaper_ack = -1;
static pid_t reaper_pid;
static bool reaper_attached;

/* Words go to the helper as they come once it runs, each NUL-terminated. */
static void reaper_send(unsigned int from)
{
	for (unsigned int i = from; reaper_wfd >= 0 && i < reaper_nr; i++)
		if (write_full(reaper_wfd, reaper_args[i], strlen(reaper_args[i]) + 1))
			break;
}

int reaper_add_unlink(const char *path)
{
	unsigned int from = reaper_nr;
	struct stat st;
	char *a;

	if (reaper_nr + 2 > REAPER_MAX)
		return -ENOSPC;
	if (lstat(path, &st) < 0)
		return -errno;
	if (asprintf(&a, "%ju:%ju:%s", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino, path) < 0)
		return -ENOMEM;
	reaper_args[reaper_nr++] = "-u";
	reaper_args[reaper_nr++] = a;
	reaper_send(from);
	return 0;
}

int reaper_add_command(const char *const argv[])
{
	unsigned int n = 0, from = reaper_nr;
	char *count;

	while (argv[n])
		n++;
	if (!n || n > 9 || reaper_nr + 2 + n > REAPER_MAX)
		return -ENOSPC;
	if (asprintf(&count, "%u", n) < 0)
		return -ENOMEM;
	reaper_args[reaper_nr++] = "-x";
	reaper_args[reaper_nr++] = count;
	for (unsigned int i = 0; i < n; i++)
		if (!(reaper_args[reaper_nr++] = strdup(argv[i])))
			return -ENOMEM;
	reaper_send(from);
	return 0;
}

/* The helper runs a command: its output goes where the VMM's went. */
static void reaper_run(char **argv)
{
	extern char **environ;
	int status;
	pid_t pid;

	if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ))
		return;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

bool reaper_active(void)
{
	return reaper_pid != 0 || reaper_attached;
}

void reaper_attach(int fd, int ack)
{
	reaper_wfd = fd;
	reaper_ack = ack;
	reaper_attached = true;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	fcntl(ack, F_SETFD, FD_CLOEXEC);
	reaper_send(0);
}

int reaper_start(void)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { "vessel", "__reaper", NULL };
	int go[2], ack[2], r;
	extern char **environ;

	if (!reaper_nr || reaper_pid || reaper_attached)
		return 0;
	if (pipe2(go, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(ack, O_CLOEXEC) < 0) {
		r = -errno;
		close(go[0]);
		close(go[1]);
		return r;
	}
	/*
	 * The entries so far go into the pipe before the helper exists, so a
	 * VMM that dies the moment after still leaves them with it (they
	 * are far below a pipe's 64 KiB).
	 */
	reaper_wfd = go[1];
	reaper_send(0);
	reaper_wfd = -1;
	posix_spawn_file_actions_init(&fa);
	/* dup2 clears close-on-exec; closefrom: nothing else of the VMM's */
	posix_spawn_file_actions_adddup2(&fa, go[0], 3);
	posix_spawn_file_actions_adddup2(&fa, ack[1], 4);
	posix_spawn_file_actions_addclosefrom_np(&fa, 5);
	r = -posix_spawn(&reaper_pid, "/proc/self/exe", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(go[0]);
	close(ack[1]);
	if (r) {
		reaper_pid = 0;
		close(go[1]);
		close(ack[0]);
		return r;
	}
	reaper_wfd = go[1];
	reaper_ack = ack[0];
	return 0;
}

void reaper_finish(void)
{
	char c;

	if (reaper_wfd < 0)
		return;
	close(reaper_wfd);
	reaper_wfd = -1;
	/* 0 (EOF) once the helper exited; it is reaped by init or our parent */
	while (read(reaper_ack, &c, 1) < 0 && errno == EINTR)
		;
	close(reaper_ack);
	reaper_ack = -1;
}

/* --- the helper's side: the words in, then the cleanup --- */

#define REAPER_BUF (REAPER_MAX * 4200)

static char *serve_buf;
static size_t serve_len;

void reaper_serve(int fd)
{
	ssize_t n;

	serve_buf = malloc(REAPER_BUF);
	if (!serve_buf)
		return;
	/* 0 (EOF): the VMM closed its end, or its last copy died with it */
	for (;;) {
		n = read(fd, serve_buf + serve_len, REAPER_BUF - 1 - serve_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		serve_len += (size_t)n;
		if (serve_len >= REAPER_BUF - 1)
			serve_len = 0; /* more than any VMM sends: drop, keep draining */
	}
	serve_buf[serve_len] = '\0';
}

void reaper_run_cleanup(void)
{
	char *argv[REAPER_MAX + 1];
	int argc = 0;

	for (size_t off = 0; serve_buf && off < serve_len && argc < REAPER_MAX;) {
		argv[argc++] = serve_buf + off;
		off += strlen(serve_buf + off) + 1;
	}
	for (int i = 0; i < argc; i++) {
		uintmax_t dev, ino;
		struct stat st;
		int n = 0;

		if (!strcmp(argv[i], "-x") && i + 1 < argc) {
			/* reaper_add_command's words, NULL-terminated here */
			int words = atoi(argv[i + 1]);
			char *cmd[10];

			if (words < 1 || words > 9 || words > argc - i - 2)
				break;
			for (int k = 0; k < words; k++)
				cmd[k] = argv[i + 2 + k];
			cmd[words] = NULL;
			reaper_run(cmd);
			i += 1 + words;
			continue;
		}
		if (strcmp(argv[i], "-u") || i + 1 >= argc)
			continue;
		i++;
		if (sscanf(argv[i], "%ju:%ju:%n", &dev, &ino, &n) != 2 || !n)
			continue;
		if (lstat(argv[i] + n, &st) == 0 && (uintmax_t)st.st_dev == dev &&
		    (uintmax_t)st.st_ino == ino)
			unlink(argv[i] + n);
	}
	free(serve_buf);
	serve_buf = NULL;
	serve_len = 0;
}

int reaper_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	prctl(PR_SET_NAME, "vessel-reaper");
	/* The VMM's terminal signals are the VMM's to handle. */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	reaper_serve(3);
	reaper_run_cleanup();
	return 0;
}
