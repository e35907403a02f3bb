// SPDX-License-Identifier: MIT
/*
 * Image locking with QEMU's byte scheme on OFD locks (see lock.h).
 *
 * The process keeps one entry per locked file (device, inode): the OFD
 * its locks live on and, per byte, how many of its users need it.  A
 * byte is locked when its first user comes and unlocked when its last
 * one goes, as QEMU's raw_apply_lock_bytes() does for one block node.
 */
#include "block/lock.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPERM 5

struct lock_file {
	struct lock_file *next;
	dev_t dev;
	ino_t ino;
	int fd;			  /* the OFD holding every user's bytes */
	unsigned int have[NPERM]; /* users holding byte 100 + i */
	unsigned int deny[NPERM]; /* users holding byte 200 + i */
	unsigned int users;
};

struct image_lock {
	struct lock_file *f;
	unsigned int perm, deny;
};

static pthread_mutex_t lock_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct lock_file *lock_files;

static const char *const perm_names[NPERM] = { "consistent read", "write", "write unchanged",
					       "resize", "graph modification" };

static int lock_byte(int fd, int byte, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };

	if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
		return -errno;
	return 0;
}

/* 1 if an OFD other than fd's holds byte, 0 if none, or -errno. */
static int byte_taken(int fd, int byte)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	return fl.l_type != F_UNLCK;
}

/* Unlock the bytes of (perm, deny) that no other user of f needs. */
static void drop_bytes(struct lock_file *f, unsigned int perm, unsigned int deny)
{
	for (int i = 0; i < NPERM; i++) {
		if ((perm & (1u << i)) && !f->have[i])
			(void)lock_byte(f->fd, IMG_LOCK_PERM_BASE + i, F_UNLCK);
		if ((deny & (1u << i)) && !f->deny[i])
			(void)lock_byte(f->fd, IMG_LOCK_SHARED_BASE + i, F_UNLCK);
	}
}

static void put_file(struct lock_file *f)
{
	struct lock_file **p;

	if (f->users)
		return;
	for (p = &lock_files; *p != f; p = &(*p)->next)
		;
	*p = f->next;
	close(f->fd);
	free(f);
}

/*
 * Lock the bytes not yet held, then look for other processes' bytes
 * that conflict.  On a conflict, *why names the permission and *we_deny
 * tells which side: we need it (someone denies it) or we deny it
 * (someone has it).
 */
static int take_bytes(struct lock_file *f, unsigned int perm, unsigned int deny,
		      const char **why, bool *we_deny)
{
	int r = 0;

	for (int i = 0; i < NPERM && !r; i++) {
		if ((perm & (1u << i)) && !f->have[i])
			r = lock_byte(f->fd, IMG_LOCK_PERM_BASE + i, F_RDLCK);
		if (!r && (deny & (1u << i)) && !f->deny[i])
			r = lock_byte(f->fd, IMG_LOCK_SHARED_BASE + i, F_RDLCK);
		if (r == -EAGAIN || r == -EACCES) {
			/* a write lock on the byte: not QEMU's, but in the way all the same */
			*why = perm_names[i];
			*we_deny = !(perm & (1u << i));
			return -EBUSY;
		}
	}
	for (int i = 0; i < NPERM && !r; i++) {
		if (perm & (1u << i)) {
			r = byte_taken(f->fd, IMG_LOCK_SHARED_BASE + i);
			if (r > 0) {
				*why = perm_names[i];
				*we_deny = false;
				return -EBUSY;
			}
		}
		if (!r && (deny & (1u << i))) {
			r = byte_taken(f->fd, IMG_LOCK_PERM_BASE + i);
			if (r > 0) {
				*why = perm_names[i];
				*we_deny = true;
				return -EBUSY;
			}
		}
	}
	return r;
}

int image_lock_acquire(int fd, const char *path, unsigned int perm, unsigned int shared,
		       struct image_lock **out, struct error *err)
{
	unsigned int deny = IMG_PERM_ALL & ~shared;
	struct image_lock *lk = NULL;
	struct lock_file *f;
	const char *why = NULL;
	bool we_deny = false;
	struct stat st;
	int r;

	*out = NULL;
	perm &= IMG_PERM_ALL;
	if (fstat(fd, &st) < 0) {
		return error_set_errno(err, -errno, "cannot stat '%s'", path);
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return 0;
	pthread_mutex_lock(&lock_mutex);
	for (f = lock_files; f; f = f->next)
		if (f->dev == st.st_dev && f->ino == st.st_ino)
			break;
	if (f && (perm & IMG_PERM_WRITE) && f->have[1]) {
		pthread_mutex_unlock(&lock_mutex);
		return error_setf(err, -EBUSY,
				  "%s: image is already open for writing in this process", path);
	}
	if (!f) {
		f = calloc(1, sizeof(*f));
		if (!f) {
			pthread_mutex_unlock(&lock_mutex);
			return error_setf(err, -ENOMEM, "cannot lock '%s': out of memory", path);
		}
		f->dev = st.st_dev;
		f->ino = st.st_ino;
		f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (f->fd < 0) {
			r = -errno;
			free(f);
			pthread_mutex_unlock(&lock_mutex);
			return error_set_errno(err, r, "cannot lock '%s'", path);
		}
		f->next = lock_files;
		lock_files = f;
	}
	r = take_bytes(f, perm, deny, &why, &we_deny);
	if (!r) {
		lk = calloc(1, sizeof(*lk));
		if (!lk)
			r = -ENOMEM;
	}
	if (r) {
		drop_bytes(f, perm, deny);
		put_file(f);
		pthread_mutex_unlock(&lock_mutex);
		if (r == -EBUSY)
			return error_setf(err, r,
					  "%s: image is in use by another process (%s%s lock)",
					  path, we_deny ? "shared " : "", why);
		return error_set_errno(err, r, "cannot lock '%s'", path);
	}
	for (int i = 0; i < NPERM; i++) {
		f->have[i] += !!(perm & (1u << i));
		f->deny[i] += !!(deny & (1u << i));
	}
	f->users++;
	lk->f = f;
	lk->perm = perm;
	lk->deny = deny;
	pthread_mutex_unlock(&lock_mutex);
	*out = lk;
	return 0;
}

void image_lock_release(struct image_lock *lk)
{
	struct lock_file *f;

	if (!lk)
		return;
	f = lk->f;
	pthread_mutex_lock(&lock_mutex);
	for (int i = 0; i < NPERM; i++) {
		f->have[i] -= !!(lk->perm & (1u << i));
		f->deny[i] -= !!(lk->deny & (1u << i));
	}
	f->users--;
	/*
	 * Unlock explicitly: closing our dup ends the locks only if no other
	 * descriptor of the description is left (the first user's own fd).
	 */
	drop_bytes(f, lk->perm, lk->deny);
	put_file(f);
	pthread_mutex_unlock(&lock_mutex);
	free(lk);
}

void image_lock_perms(bool readonly, bool force_share, unsigned int *perm, unsigned int *shared)
{
	*perm = IMG_PERM_CONSISTENT_READ;
	/* the format driver's metadata must not change under it */
	*shared = IMG_PERM_ALL & ~(IMG_PERM_WRITE | IMG_PERM_RESIZE);
	if (!readonly)
		*perm |= IMG_PERM_WRITE | IMG_PERM_RESIZE;
	else if (force_share)
		*shared = IMG_PERM_ALL;
}
