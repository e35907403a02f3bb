/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_UTIL_LISTEN_H
#define VESSEL_UTIL_LISTEN_H

/*
 * The one policy for every Unix socket vessel listens on: the REST API,
 * the serial console, virtio-console and vhost-user.
 *
 *  - Anything at path that is not a socket is never removed: -EEXIST.
 *    A typo in --api-socket must not delete the user's file.
 *  - A socket someone is listening on is never taken over: -EADDRINUSE.
 *  - A stale socket, left by a process that died, is replaced.
 *  - The socket is created mode 0600 whatever the umask: whoever can
 *    connect controls the VM or reads its console.
 *
 *  - "fd:N" is a socket the caller listens on, handed over.
 *
 * Returns a listening SOCK_STREAM fd (non-blocking, close-on-exec) or
 * -errno.  The caller unlinks path when it closes the fd.
 */
int unix_listen(const char *path, int backlog);
/* Unlink the socket unix_listen made at path (nothing for "fd:N"). */
void unix_listen_remove(const char *path);

/* What a unix_listen error means, for "cannot listen on PATH: %s". */
const char *unix_listen_strerror(int err);

#endif
