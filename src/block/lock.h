/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_BLOCK_LOCK_H
#define VESSEL_BLOCK_LOCK_H

/*
 * Image locking, compatible with QEMU's (block/file-posix.c, "locking"
 * option, on by default since QEMU 2.10), so that vessel VMs, `vessel
 * img`, `vessel vhost-user-blk`, QEMU and qemu-img all see each other.
 *
 * Each permission a user of an image may take has a bit (QEMU's
 * BLK_PERM_*, in this order), and two bytes of the image file stand
 * for it:
 *
 *   byte 100 + bit: someone HAS the permission,
 *   byte 200 + bit: someone does NOT SHARE it (denies it to others).
 *
 * A user holds an open file description (OFD) read lock, F_OFD_SETLK
 * with F_RDLCK, on the "have" byte of each permission it takes and on
 * the "deny" byte of each one it does not share.  Read locks never
 * conflict with each other, so the bytes only record; conflicts are
 * found by asking (F_OFD_GETLK with F_WRLCK) whether another OFD holds a
 * byte: taking permission P needs nobody on 200 + P, and not sharing P
 * needs nobody on 100 + P.  Locks are taken first and checked after, as
 * QEMU does, so of two users starting at once at least one sees the
 * other.  OFD locks belong to the open file description and go away
 * when its last descriptor is closed (or the process dies), never
 * because another descriptor of the same file is closed (POSIX locks
 * would).
 *
 * Within one process every user of a file shares one OFD (a dup of the
 * first user's descriptor), holding the union of their bytes, so its
 * users never see each other through the locks: `img commit` writes the
 * base its overlay chain reads, as qemu-img does within its one block
 * graph.  Only two writers of one file in one process are refused (a VM
 * given the same disk twice).
 */

#include <stdbool.h>

struct error;

#define IMG_PERM_CONSISTENT_READ (1u << 0)
#define IMG_PERM_WRITE (1u << 1)
#define IMG_PERM_WRITE_UNCHANGED (1u << 2)
#define IMG_PERM_RESIZE (1u << 3)
#define IMG_PERM_GRAPH_MOD (1u << 4)
#define IMG_PERM_ALL 0x1fu

#define IMG_LOCK_PERM_BASE 100	 /* QEMU's RAW_LOCK_PERM_BASE */
#define IMG_LOCK_SHARED_BASE 200 /* QEMU's RAW_LOCK_SHARED_BASE */

struct image_lock;

/*
 * Take the permissions `perm` on the file open as fd, sharing `shared`
 * with other users.  Files that are neither regular files nor block
 * devices are not locked (*out is NULL, 0 returned).  Returns 0, or
 * -EBUSY with *err "<path>: image is in use by another process (...)"
 * naming the permission, or another -errno with *err naming the file.
 */
int image_lock_acquire(int fd, const char *path, unsigned int perm, unsigned int shared,
		       struct image_lock **out, struct error *err);
/* Give the permissions back (NULL: nothing). */
void image_lock_release(struct image_lock *lk);

/*
 * The permissions of an image opened read-only or read-write, as QEMU
 * takes them on the file of a qcow2 or raw image (bdrv_default_perms()):
 *  - read-only (also a backing file): consistent read; shares everything
 *    but write and resize;
 *  - read-write: consistent read, write, resize; shares the same;
 *  - force_share (read-only only, qemu-img -U): consistent read, shares
 *    everything, so it never stops a writer.
 */
void image_lock_perms(bool readonly, bool force_share, unsigned int *perm, unsigned int *shared);

#endif
