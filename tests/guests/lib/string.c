// SPDX-License-Identifier: MIT
/*
 * string.c - the few libc functions the guests and GCC need.  Built with
 * -fno-tree-loop-distribute-patterns so these loops are not turned back
 * into calls to themselves.
 */
#include "guest.h"

void *memset(void *d, int c, size_t n)
{
	u8 *p = d;

	while (n--)
		*p++ = (u8)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	u8 *dp = d;
	const u8 *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	u8 *dp = d;
	const u8 *sp = s;

	if (dp <= sp || dp >= sp + n)
		return memcpy(d, s, n);
	while (n--)
		dp[n] = sp[n];
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const u8 *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (u8)*a - (u8)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (u8)*a - (u8)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

char *strstr(const char *h, const char *n)
{
	size_t len = strlen(n);

	for (; *h; h++)
		if (!strncmp(h, n, len))
			return (char *)h;
	return len ? NULL : (char *)h;
}

/* Decimal, or hex with 0x; a K/M/G suffix multiplies. */
u64 str_to_u64(const char *s, const char **end)
{
	u64 v = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		for (;; s++) {
			char c = *s;
			if (c >= '0' && c <= '9')
				v = v * 16 + (u64)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v = v * 16 + (u64)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				v = v * 16 + (u64)(c - 'A' + 10);
			else
				break;
		}
	} else {
		for (; *s >= '0' && *s <= '9'; s++)
			v = v * 10 + (u64)(*s - '0');
	}
	if (*s == 'K' || *s == 'k')
		v <<= 10, s++;
	else if (*s == 'M' || *s == 'm')
		v <<= 20, s++;
	else if (*s == 'G' || *s == 'g')
		v <<= 30, s++;
	if (end)
		*end = s;
	return v;
}
