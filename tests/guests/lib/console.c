// SPDX-License-Identifier: MIT
/*
 * console.c - polled output on the COM1 16550A and a small printf.
 *
 * Registers per the NS16550A data sheet: THR/RBR +0, IER +1, FCR/IIR +2,
 * LCR +3, MCR +4, LSR +5; LSR bit 5 (THRE) says the holding register is
 * empty.  Each access is a port-I/O exit (~13 us on PVM), so there is no
 * busy-waiting beyond that.
 */
#include "guest.h"

void console_init(void)
{
	outb(COM1 + 1, 0x00); /* IER: no interrupts */
	outb(COM1 + 3, 0x80); /* LCR: DLAB */
	outb(COM1 + 0, 0x01); /* DLL: 115200 baud */
	outb(COM1 + 1, 0x00); /* DLM */
	outb(COM1 + 3, 0x03); /* LCR: 8N1 */
	outb(COM1 + 2, 0x07); /* FCR: enable and clear FIFOs */
	outb(COM1 + 4, 0x0b); /* MCR: DTR, RTS, OUT2 */
}

void console_putc(char c)
{
	int spins = 100000;

	if (c == '\n')
		console_putc('\r');
	while (!(inb(COM1 + 5) & 0x20) && --spins)
		cpu_relax();
	outb(COM1, (u8)c);
}

void console_write(const char *s, size_t n)
{
	while (n--)
		console_putc(*s++);
}

struct out {
	char *buf;
	size_t size, len;
};

static void out_c(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void out_num(struct out *o, u64 v, unsigned base, bool neg, int width, char pad, bool left)
{
	char tmp[24];
	int n = 0;

	do {
		unsigned d = (unsigned)(v % base);
		tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	if (neg && pad == '0') {
		/* "-0012": the sign goes before the zeros. */
		out_c(o, '-');
		n--;
		width--;
	}
	if (!left)
		for (int i = n; i < width; i++)
			out_c(o, pad);
	while (n)
		out_c(o, tmp[--n]);
}

/* %[-][0][width][l|ll|z]{d,i,u,x,X,p,s,c,%} */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			out_c(&o, *fmt);
			continue;
		}
		fmt++;
		bool left = false;
		char pad = ' ';
		int width = 0, lng = 0;
		if (*fmt == '-') {
			left = true;
			fmt++;
		}
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}
		size_t start = o.len;
		switch (*fmt) {
		case 'd':
		case 'i': {
			s64 v = lng ? va_arg(ap, s64) : va_arg(ap, int);
			out_num(&o, v < 0 ? (u64)-v : (u64)v, 10, v < 0, width, pad, left);
			break;
		}
		case 'u':
			out_num(&o, lng ? va_arg(ap, u64) : va_arg(ap, unsigned), 10, false, width,
				pad, left);
			break;
		case 'x':
		case 'X':
			out_num(&o, lng ? va_arg(ap, u64) : va_arg(ap, unsigned), 16, false, width,
				pad, left);
			break;
		case 'p':
			out_c(&o, '0');
			out_c(&o, 'x');
			out_num(&o, (u64)va_arg(ap, void *), 16, false, width, pad, left);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			int n = (int)strlen(s);
			if (!left)
				for (int i = n; i < width; i++)
					out_c(&o, ' ');
			while (*s)
				out_c(&o, *s++);
			break;
		}
		case 'c':
			out_c(&o, (char)va_arg(ap, int));
			break;
		case '%':
			out_c(&o, '%');
			break;
		case '\0':
			fmt--;
			break;
		default:
			out_c(&o, '%');
			out_c(&o, *fmt);
			break;
		}
		if (left)
			while ((int)(o.len - start) < width)
				out_c(&o, ' ');
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int printf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	console_write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	return n;
}
