/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_UTIL_REAPER_H
#define VESSEL_UTIL_REAPER_H

#include <stdbool.h>

/*
 * The cleanup helper (docs/seccomp.md).  Under its seccomp filter a VMM
 * can no longer remove the sockets it listens on when it exits.  So the
 * VMM names them here while it starts, and reaper_start(), the last step
 * before the filter, spawns a small unfiltered process (vessel itself,
 * exec'ed: it holds none of the VMM's memory or fds) that waits for the
 * VMM to finish, or to die, and then removes each socket that is still
 * the one the VMM bound (same device and inode).  reaper_finish() at a
 * clean exit waits until it has, so a caller that sees the VMM gone also
 * sees its sockets gone.
 */

/* Remember a socket to remove; 0 or -errno (it must exist now). */
int reaper_add_unlink(const char *path);
/*
 * Run a command (argv[0] a full path, at most 9 words) once the VMM is
 * gone, e.g. OVS forgetting the port of a tap the VMM held; 0 or -errno.
 */
int reaper_add_command(const char *const argv[]);
/* Whether the helper runs: cleanup left to it (net/tap.c). */
bool reaper_active(void);
/* Spawn the helper if anything was added; 0 or -errno. */
int reaper_start(void);
/* Let the helper run now and wait until it is done (a no-op without one). */
void reaper_finish(void);
/*
 * A jailed VMM: its jail's outer process, on the other end of fd, is the
 * helper (util/jail.h); entries go to fd, ack closes when it is done,
 * and reaper_start spawns none.
 */
void reaper_attach(int fd, int ack);
/* The helper's side: read the entries from fd until EOF (the VMM gone)... */
void reaper_serve(int fd);
/* ...then remove and run what they name. */
void reaper_run_cleanup(void);
/* `vessel __reaper`: the helper's own main (reaper_serve on fd 3). */
int reaper_main(int argc, char **argv);

#endif
