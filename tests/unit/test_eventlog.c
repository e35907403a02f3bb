// SPDX-License-Identifier: MIT
/*
 * The lifecycle log (src/util/eventlog.c): the line format, control
 * characters that cannot forge a line, rotation at the cap with
 * EVENTLOG_KEEP old files, and concurrent writers (processes, as the CLI,
 * the monitor and the VMM are) whose lines are neither lost, torn nor
 * interleaved, across rotations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/eventlog.h"
#include "util/util.h"

static char path[256];

static void remove_all(void)
{
	char p[300];

	unlink(path);
	for (int i = 1; i <= EVENTLOG_KEEP + 1; i++) {
		snprintf(p, sizeof(p), "%s.%d", path, i);
		unlink(p);
	}
}

static int setup(void **state)
{
	const char *d = getenv("UNIT_TMPDIR");

	(void)state;
	snprintf(path, sizeof(path), "%s/events-%d.log", d ? d : "/tmp", (int)getpid());
	remove_all();
	unsetenv("VESSEL_EVENT_LOG_MAX");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	remove_all();
	unsetenv("VESSEL_EVENT_LOG_MAX");
	return 0;
}

static char *slurp(const char *p)
{
	char *text = NULL;
	size_t len;

	if (read_file(p, &text, &len))
		return NULL;
	return text;
}

static void test_line_format(void **state)
{
	regex_t re;
	char *text;

	(void)state;
	assert_int_equal(eventlog_append(path, "paused"), 0);
	assert_int_equal(eventlog_append(path, "api error: %s -> %d", "PUT /vm/x", 404), 0);
	text = slurp(path);
	assert_non_null(text);
	assert_int_equal(
		regcomp(&re,
			"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}"
			"\\+0000 \\[pid [0-9]+\\] paused\n"
			"[0-9-]+ [0-9:.]+\\+0000 \\[pid [0-9]+\\] api error: PUT /vm/x -> 404\n$",
			REG_EXTENDED),
		0);
	assert_int_equal(regexec(&re, text, 0, NULL, 0), 0);
	regfree(&re);
	free(text);
}

/* A client's "\n2026-... crashed" must stay inside its own line. */
static void test_controls_cannot_forge_lines(void **state)
{
	char *text;

	(void)state;
	assert_int_equal(
		eventlog_append(path, "api error: %s", "/vm\n2026-01-01 fake\r\x1b[2J\x7f"), 0);
	text = slurp(path);
	assert_non_null(text);
	assert_non_null(strstr(text, "api error: /vm?2026-01-01 fake??[2J?\n"));
	assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1);
	free(text);
}

/* A long event is cut, still one line ending in a newline. */
static void test_long_event_is_one_line(void **state)
{
	char big[4000], *text;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(eventlog_append(path, "%s", big), 0);
	text = slurp(path);
	assert_non_null(text);
	assert_true(strlen(text) <= 1024 && strlen(text) > 900);
	assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1);
	free(text);
}

static size_t file_size(const char *p)
{
	struct stat sb;

	return stat(p, &sb) ? 0 : (size_t)sb.st_size;
}

static void test_rotation_keeps_the_newest(void **state)
{
	char p[300], *text;
	int i;

	(void)state;
	setenv("VESSEL_EVENT_LOG_MAX", "4096", 1);
	/* ~60 bytes a line: 400 lines are about six files' worth */
	for (i = 0; i < 400; i++)
		assert_int_equal(eventlog_append(path, "event %04d", i), 0);
	assert_true(file_size(path) <= 4096);
	for (int k = 1; k <= EVENTLOG_KEEP; k++) {
		snprintf(p, sizeof(p), "%s.%d", path, k);
		assert_true(file_size(p) > 3000 && file_size(p) <= 4096);
	}
	snprintf(p, sizeof(p), "%s.%d", path, EVENTLOG_KEEP + 1);
	assert_int_equal(access(p, F_OK), -1);
	/* the newest line is in NAME.log, the one before it ends NAME.log.1 */
	text = slurp(path);
	assert_non_null(strstr(text, "event 0399\n"));
	free(text);
	snprintf(p, sizeof(p), "%s.1", path);
	text = slurp(p);
	assert_null(strstr(text, "event 0399"));
	free(text);
	/* below the minimum the default cap applies: no rotation at 100 bytes */
	remove_all();
	setenv("VESSEL_EVENT_LOG_MAX", "100", 1);
	for (i = 0; i < 20; i++)
		assert_int_equal(eventlog_append(path, "event %04d", i), 0);
	snprintf(p, sizeof(p), "%s.1", path);
	assert_int_equal(access(p, F_OK), -1);
}

/*
 * A VMM under its seccomp filter appends through the fd it opened at
 * start (event_log_set_path) and cannot rotate; the CLI's appends rotate
 * by copy and truncate, so that fd still writes the live NAME.log.
 */
static void test_held_fd_survives_rotation(void **state)
{
	char p[300], *text;

	(void)state;
	setenv("VESSEL_EVENT_LOG_MAX", "4096", 1);
	event_log_set_path(path);
	event_log_lockdown();
	event_log("vmm started");
	/* ~54 bytes a line: one rotation, at about line 75 */
	for (int i = 0; i < 100; i++)
		assert_int_equal(eventlog_append(path, "cli event %04d", i), 0);
	event_log("vmm after rotation");
	text = slurp(path);
	assert_non_null(strstr(text, "vmm after rotation\n"));
	assert_null(strstr(text, "vmm started"));
	free(text);
	/* its first line went into a rotated file with the CLI's older ones */
	snprintf(p, sizeof(p), "%s.1", path);
	text = slurp(p);
	assert_non_null(text);
	assert_non_null(strstr(text, "vmm started\n"));
	free(text);
	/* the VMM alone never rotates: the file grows past the cap instead */
	for (int i = 0; i < 100; i++)
		event_log("vmm event %04d", i);
	assert_true(file_size(path) > 4096);
	snprintf(p, sizeof(p), "%s.%d", path, EVENTLOG_KEEP + 1);
	assert_int_equal(access(p, F_OK), -1);
	event_log_set_path(NULL);
}

/* Writers in four processes, through rotations: every line once, whole. */
static void test_concurrent_writers(void **state)
{
	enum { WRITERS = 4, LINES = 300 };
	static bool seen[WRITERS][LINES];
	char p[300];
	int total = 0;

	(void)state;
	setenv("VESSEL_EVENT_LOG_MAX", "65536", 1);
	for (int w = 0; w < WRITERS; w++) {
		pid_t c = fork();

		assert_true(c >= 0);
		if (c == 0) {
			for (int i = 0; i < LINES; i++)
				if (eventlog_append(path, "writer %d line %d end", w, i))
					_exit(1);
			_exit(0);
		}
	}
	for (int w = 0; w < WRITERS; w++) {
		int st;

		assert_true(wait(&st) > 0);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	/* 1200 lines of ~60 bytes: about one rotation at 64 KiB */
	for (int k = 0; k <= EVENTLOG_KEEP; k++) {
		char *text, *line, *save = NULL;

		if (k)
			snprintf(p, sizeof(p), "%s.%d", path, k);
		else
			snprintf(p, sizeof(p), "%s", path);
		text = slurp(p);
		if (!text)
			continue;
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			int w, i, n = -1;
			const char *e = strstr(line, "] writer ");

			assert_non_null(e);
			assert_int_equal(sscanf(e, "] writer %d line %d end%n", &w, &i, &n), 2);
			assert_int_equal((size_t)n, strlen(e));
			assert_true(w >= 0 && w < WRITERS && i >= 0 && i < LINES);
			assert_false(seen[w][i]);
			seen[w][i] = true;
			total++;
		}
		free(text);
	}
	assert_int_equal(total, WRITERS * LINES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_line_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_controls_cannot_forge_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_event_is_one_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_keeps_the_newest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_fd_survives_rotation, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
