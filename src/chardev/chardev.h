/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_CHARDEV_CHARDEV_H
#define VESSEL_CHARDEV_CHARDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/*
 * Character backends: where a console's bytes go and come from.  One
 * module for the serial console (devices/console.c) and virtio-console
 * (virtio/console.c), and later the TPM's control channel.
 *
 * The spec is typed and parsed once, from the command line
 * ("socket=PATH") or JSON ({"mode": "socket", "path": PATH}); devices get
 * the struct, never a prefixed string.
 *
 * Modes:
 *   STDIO   output to stdout, input from stdin.  When stdin is a
 *           terminal in vessel's foreground process group it is put in
 *           raw mode (restored at exit, on fatal signals and by
 *           chardev_restore_terminal()), and chardev_escapes() is true:
 *           the frontend interprets Ctrl-A commands.  EOF on stdin only
 *           ends input.
 *   PTY     a pseudo-terminal in raw mode; "vessel: NAME on /dev/pts/N"
 *           is printed on stderr.  The slave side stays open so the
 *           master never reports a hang-up when nobody is attached.
 *   FILE    output appended to path (created 0644); no input.
 *   SOCKET  a Unix stream socket at path (util/listen.c: 0600, its
 *           directory's policy, a live listener is never stolen); one
 *           client at a time, a second is told so and closed.  With
 *           CHARDEV_REPLAY a new client first gets the last 64 KiB of
 *           output (`vessel console NAME` relies on it).
 *   NONE    output discarded, no input.
 */
enum chardev_mode { CHARDEV_STDIO, CHARDEV_PTY, CHARDEV_FILE, CHARDEV_SOCKET, CHARDEV_NONE };

#define CHARDEV_MODE_BIT(m) (1u << (m))
#define CHARDEV_MODES_ALL 0x1fu

struct chardev_spec {
	enum chardev_mode mode;
	char *path; /* FILE and SOCKET: heap, owned; else NULL */
};

struct error;
struct json_object;
struct evloop;

extern const char *const chardev_mode_names[]; /* "stdio", ..., NULL */

/*
 * "stdio", "pty", "none", "file=PATH", "socket=PATH"; only the modes in
 * `allowed` (CHARDEV_MODE_BIT) are accepted.  On error *spec is unchanged.
 */
int chardev_spec_parse(struct chardev_spec *spec, const char *s, unsigned int allowed,
		       struct error *err);
/* "MODE" or {"mode": MODE, "path": PATH}; messages start with `where`. */
int chardev_spec_from_json(struct chardev_spec *spec, struct json_object *o, const char *where,
			   unsigned int allowed, struct error *err);
/* {"mode": MODE[, "path": PATH]} */
struct json_object *chardev_spec_to_json(const struct chardev_spec *spec);
int chardev_spec_set(struct chardev_spec *spec, enum chardev_mode mode, const char *path);
void chardev_spec_free(struct chardev_spec *spec);
/* A FILE or SOCKET spec without a path: "this console mode needs a path". */
int chardev_spec_check(const struct chardev_spec *spec, const char *what, struct error *err);

/* --- the running backend --- */

struct chardev;

#define CHARDEV_REPLAY 0x1u /* SOCKET: replay recent output to a new client */

struct chardev_opts {
	const char *name; /* "console", "virtio-console": messages, pty banner */
	unsigned int flags;
	/*
	 * Input is ready on the loop thread: the frontend calls
	 * chardev_read(v) (now or later, after chardev_input_poll()).
	 */
	void (*readable)(void *opaque);
	void *opaque;
};

/*
 * Open the backend.  `loop` may be NULL for output-only use (FILE, PTY
 * output, NONE; unit tests); SOCKET needs it.  Input starts paused:
 * chardev_input_poll(cd, true) asks for readable().
 */
int chardev_open(const struct chardev_spec *spec, const struct chardev_opts *o, struct evloop *loop,
		 struct chardev **out, struct error *err);
/* Close everything (the socket file is unlinked); NULL is fine. */
void chardev_close(struct chardev *cd);

/*
 * Read input into iov: > 0 bytes, or 0 when there is nothing now.  EOF
 * and errors are handled here (a socket client is dropped, stdin or a
 * pty stops being watched), so a frontend only needs the count.
 */
ssize_t chardev_readv(struct chardev *cd, const struct iovec *iov, int iovcnt);
ssize_t chardev_read(struct chardev *cd, void *buf, size_t len);
/* Watch input (readable() when there is some) or not; loop thread only. */
void chardev_input_poll(struct chardev *cd, bool on);
/* Stop reading input for good (Ctrl-A x). */
void chardev_input_close(struct chardev *cd);

/*
 * Write output without blocking: returns the bytes delivered (0..len);
 * what could not be delivered is dropped and counted.  Any thread; in SOCKET mode output goes
 * into the replay ring and to the client (under the chardev's own lock,
 * which is only ever taken before the event loop's lock).
 */
ssize_t chardev_write(struct chardev *cd, const void *buf, size_t len);
/*
 * The output fd of STDIO/PTY/FILE (-1 for SOCKET and NONE), for a
 * frontend with its own bounded write path (the UART's grace period).
 */
int chardev_output_fd(const struct chardev *cd);

enum chardev_mode chardev_mode(const struct chardev *cd);
/* The pty's or socket's path, else NULL. */
const char *chardev_path(const struct chardev *cd);
/* STDIO on a raw terminal: the frontend interprets Ctrl-A commands. */
bool chardev_escapes(const struct chardev *cd);

struct chardev_stats {
	uint64_t out_dropped; /* chardev_write bytes no one took */
	uint64_t clients;     /* SOCKET: clients accepted */
};
void chardev_get_stats(struct chardev *cd, struct chardev_stats *st);

/* Put the terminal back the way vessel found it; async-signal-safe, idempotent. */
void chardev_restore_terminal(void);

#endif
