// SPDX-License-Identifier: MIT
/*
 * The cleanup helper (reaper.h): the removals a filtered VMM cannot do.
 *
 * Protocol: the helper gets the read end of a pipe on fd 3 and the write
 * end of another on fd 4.  It blocks reading fd 3, which returns 0 when
 * the VMM closes its end (reaper_finish) or its last copy goes away
 * with the process (a crash, a SIGKILL).  It then removes each path whose
 * device and inode are still those recorded at start-up, and exits,
 * which closes fd 4: reaper_finish's read returns.
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

#define REAPER_MAX 64 /* argv words: 2 per socket, 2 + its words per command */

static char *reaper_args[REAPER_MAX];
static unsigned int reaper_nr;
static int reaper_wfd = -1, reaper_ack = -1;
static pid_t reaper_pid;

int reaper_add_unlink(const char *path)
{
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
	return 0;
}

int reaper_add_command(const char *const argv[])
{
	unsigned int n = 0;
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
	return reaper_pid != 0;
}

int reaper_start(void)
{
	posix_spawn_file_actions_t fa;
	char *argv[REAPER_MAX + 3];
	int go[2], ack[2], r;
	extern char **environ;

	if (!reaper_nr || reaper_pid)
		return 0;
	if (pipe2(go, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(ack, O_CLOEXEC) < 0) {
		r = -errno;
		close(go[0]);
		close(go[1]);
		return r;
	}
	argv[0] = "vessel";
	argv[1] = "__reaper";
	for (unsigned int i = 0; i < reaper_nr; i++)
		argv[2 + i] = reaper_args[i];
	argv[2 + reaper_nr] = NULL;
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

int reaper_main(int argc, char **argv)
{
	char c;

	prctl(PR_SET_NAME, "vessel-reaper");
	/* The VMM's terminal signals are the VMM's to handle. */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	while (read(3, &c, 1) < 0 && errno == EINTR)
		;
	for (int i = 1; i < argc; i++) {
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
	return 0;
}
