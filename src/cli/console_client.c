// SPDX-License-Identifier: MIT
/*
 * `vessel console NAME`: attach the terminal to the VM's serial console
 * socket.  The terminal goes raw; Ctrl-] or Ctrl-A x detaches (the VM
 * keeps running), Ctrl-A Ctrl-A sends one Ctrl-A.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/mgmt.h"
#include "util/util.h"

#define CTRL_A 0x01
#define CTRL_RBRACKET 0x1d

/* Filter keyboard input for escapes; returns true to detach. */
static bool console_filter(const char *in, size_t n, char *out, size_t *outn, bool *esc)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char ch = in[i];

		if (*esc) {
			*esc = false;
			if (ch == 'x' || ch == 'X' || ch == 'q')
				return true;
			if (ch != CTRL_A)
				out[o++] = CTRL_A;
			out[o++] = ch;
			continue;
		}
		if (ch == CTRL_RBRACKET)
			return true;
		if (ch == CTRL_A) {
			*esc = true;
			continue;
		}
		out[o++] = ch;
	}
	*outn = o;
	return false;
}

/*
 * The VMM's refusal of a second client (chardev.c accept_handler): the
 * whole of what it sends before closing, "vessel: NAME already in use".
 */
static bool is_busy_line(const char *buf, size_t n)
{
	static const char tail[] = " already in use\r\n";

	return n > 8 + sizeof(tail) - 1 && n < 96 && !memcmp(buf, "vessel: ", 8) &&
	       !memcmp(buf + n - (sizeof(tail) - 1), tail, sizeof(tail) - 1) &&
	       !memchr(buf, '\n', n - 1);
}

static int console_open_pty(struct mgmt *m)
{
	struct json_object *o = NULL, *p;
	char err[256];
	int fd = -1;

	if (mgmt_api(m, "GET", "/vm", NULL, &o, err, sizeof(err)) != 200 || !o) {
		cli_error("VM '%s': %s", m->vm.name, err);
	} else if (!json_object_object_get_ex(o, "console_path", &p) ||
		   strncmp(json_object_get_string(p), "/dev/", 5)) {
		cli_error("VM '%s' has no console to attach to (console mode none or file)",
			  m->vm.name);
	} else {
		fd = open(json_object_get_string(p), O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			cli_error("%s: %s", json_object_get_string(p), strerror(errno));
	}
	json_object_put(o);
	return fd;
}

int cmd_console(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct termios saved, raw;
	bool tty, esc = false, detached = false, busy = false, seen = false;
	char hold[96];
	size_t held = 0;
	struct mgmt m;
	int fd;

	if (mgmt_help(argc, argv,
		      "vessel console NAME\n\nAttach to the serial console; Ctrl-] or Ctrl-A x "
		      "detaches."))
		return 0;
	if (argc != 2)
		return cli_usage("vessel console NAME");
	if (mgmt_open(argv[1], &m) || mgmt_require_running(&m, NULL))
		return 1;
	if (access(m.vm.console, F_OK) != 0) {
		/* A "pty" console: the VMM publishes the pty's name in GET /vm. */
		fd = console_open_pty(&m);
		if (fd < 0)
			return 1;
	} else {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return cli_error("socket: %s", strerror(errno));
		/* state_vm_init() checked that the path fits. */
		memcpy(sa.sun_path, m.vm.console, strlen(m.vm.console) + 1);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fd);
			return cli_error("VM '%s': console socket %s: %s", argv[1], m.vm.console,
					 strerror(errno));
		}
	}
	tty = isatty(0) && tcgetattr(0, &saved) == 0;
	if (tty) {
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(0, TCSANOW, &raw);
	}
	fprintf(stderr, "Connected to VM '%s' (detach: Ctrl-] or Ctrl-A x)%s", argv[1],
		tty ? "\r\n" : "\n");
	for (;;) {
		struct pollfd p[2] = { { .fd = 0, .events = POLLIN },
				       { .fd = fd, .events = POLLIN } };
		char buf[4096], out[8192];
		ssize_t n;
		size_t on;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(fd, buf, sizeof(buf));
			if (n <= 0) {
				/* Only the refusal, then EOF: another client has it. */
				busy = held != 0;
				break;
			}
			if (!seen && is_busy_line(buf, (size_t)n)) {
				/* Hold it: it is the refusal only if EOF follows. */
				memcpy(hold, buf, (size_t)n);
				held = (size_t)n;
				seen = true;
				continue;
			}
			seen = true;
			if (held && write_full(1, hold, held))
				break;
			held = 0;
			if (write_full(1, buf, (size_t)n))
				break;
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(0, buf, sizeof(buf));
			if (n <= 0) {
				/* End of input (a pipe): keep showing output briefly, then go. */
				shutdown(fd, SHUT_WR);
				detached = true;
				break;
			}
			if (console_filter(buf, (size_t)n, out, &on, &esc)) {
				detached = true;
				break;
			}
			if (on && write_full(fd, out, on))
				break;
		}
	}
	if (tty)
		tcsetattr(0, TCSANOW, &saved);
	close(fd);
	if (busy)
		return cli_error("VM '%s': its console is in use by another client", argv[1]);
	if (held)
		(void)!write_full(1, hold, held);
	fprintf(stderr, "\n%s from VM '%s'\n", detached ? "Detached" : "Disconnected", argv[1]);
	return 0;
}
