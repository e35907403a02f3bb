/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_UTIL_UTIL_H
#define VESSEL_UTIL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a)-1)) == 0)
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#define KiB (1024ull)
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)

/* Parse "512M", "2G", "4096" (bytes), "1.5G" is refused. */
int parse_size(const char *s, uint64_t *out);
/* Parse a non-negative decimal or 0x-prefixed integer that fits in max. */
int parse_u64(const char *s, uint64_t max, uint64_t *out);
/*
 * "fd:N", the spelling of a file descriptor handed over instead of a path
 * (disks, listening sockets): N, or -1 if s is not one.
 */
int parse_handed_fd(const char *s);
/*
 * Note the fds open when the process starts (main() calls it first): only
 * those can have been handed over.  Without it, every open fd counts.
 */
void handed_fds_record(void);
/* 0 if fd was open at start (handed_fds_record), -EBADF otherwise. */
int handed_fd_check(int fd);
/* Parse a CPU list such as "0-3,8,10-11" into a bitmap of `nbits` bits. */
int parse_cpulist(const char *s, uint64_t *bitmap, unsigned int nbits);
/* Format a size with a binary suffix ("512M", "1.5G"). */
void format_size(uint64_t bytes, char *buf, size_t len);

/* Read/write exactly len bytes, retrying on EINTR and short counts. */
int read_full(int fd, void *buf, size_t len);
int write_full(int fd, const void *buf, size_t len);
int pread_full(int fd, void *buf, size_t len, off_t off);
int pwrite_full(int fd, const void *buf, size_t len, off_t off);
/* Read a whole small file into a malloc'd NUL-terminated buffer. */
int read_file(const char *path, char **out, size_t *len);
/* Read a sysfs/procfs file holding one integer. */
int read_sysfs_u64(const char *path, uint64_t *out);

/*
 * Length (1..4) of the valid UTF-8 sequence at p, with its code point in
 * *cp; 0 if p does not start one (overlong forms, surrogates, beyond
 * U+10FFFF, a truncated sequence).  Reads no further than a NUL.
 */
int utf8_char(const unsigned char *p, uint32_t *cp);
/*
 * A string from an untrusted source (an image's backing file or snapshot
 * name) made safe for a terminal, malloc'd (NULL without memory):
 * printable ASCII and printable UTF-8 (U+00A0 and up) as they are, a
 * backslash as "\\", every other byte (controls, DEL, C1 controls,
 * bytes that are not UTF-8) as "\xNN".
 */
char *str_escape(const char *s);

uint64_t now_ns(void);

#endif
