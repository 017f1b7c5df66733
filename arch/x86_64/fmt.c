/*
 * A small snprintf for the runtime's own messages.
 *
 * The runtime prints from exception handlers and before newlib is usable, and
 * it is built -mgeneral-regs-only, so it cannot use newlib's printf. This one
 * needs no heap, no locks and no floating point.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hvrt/log.h>

struct fmt_out {
	char *buf;
	size_t size;
	size_t len; /* length the output would have */
};

static void out_char(struct fmt_out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void out_pad(struct fmt_out *o, char c, int count)
{
	while (count-- > 0)
		out_char(o, c);
}

static void out_string(struct fmt_out *o, const char *s, size_t n, int width, bool left)
{
	int pad = width > (int)n ? width - (int)n : 0;

	if (!left)
		out_pad(o, ' ', pad);
	for (size_t i = 0; i < n; i++)
		out_char(o, s[i]);
	if (left)
		out_pad(o, ' ', pad);
}

struct num_spec {
	unsigned base;
	bool upper;
	bool negative;
	bool zero_pad;
	bool left;
	int width;
	const char *prefix;
};

static void out_number(struct fmt_out *o, uint64_t v, const struct num_spec *spec)
{
	const char *digits = spec->upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = digits[v % spec->base];
		v /= spec->base;
	} while (v);

	int prefix_len = 0;
	while (spec->prefix[prefix_len])
		prefix_len++;
	int body = n + prefix_len + (spec->negative ? 1 : 0);
	int pad = spec->width > body ? spec->width - body : 0;

	if (!spec->left && !spec->zero_pad)
		out_pad(o, ' ', pad);
	if (spec->negative)
		out_char(o, '-');
	for (int i = 0; i < prefix_len; i++)
		out_char(o, spec->prefix[i]);
	if (!spec->left && spec->zero_pad)
		out_pad(o, '0', pad);
	while (n)
		out_char(o, tmp[--n]);
	if (spec->left)
		out_pad(o, ' ', pad);
}

/*
 * hvrt_vsnprintf - format into a bounded buffer
 * @buf:  destination, NUL-terminated when size > 0
 * @size: bytes available at buf
 * @fmt:  format: %d %i %u %x %X %p %s %c %%, flags '-' '0' '#', width (or *),
 *        precision for %s (or .*), length modifiers hh h l ll z
 * Return: the length the complete output has, as snprintf does.
 */
int hvrt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct fmt_out o = { .buf = buf, .size = size, .len = 0 };

	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			out_char(&o, *p);
			continue;
		}
		p++;
		struct num_spec spec = { .base = 10, .prefix = "" };
		bool alternate = false;
		for (;; p++) {
			if (*p == '-')
				spec.left = true;
			else if (*p == '0')
				spec.zero_pad = true;
			else if (*p == '#')
				alternate = true;
			else
				break;
		}
		if (*p == '*') {
			spec.width = va_arg(ap, int);
			if (spec.width < 0) {
				spec.left = true;
				spec.width = -spec.width;
			}
			p++;
		} else {
			while (*p >= '0' && *p <= '9')
				spec.width = spec.width * 10 + (*p++ - '0');
		}
		int precision = -1;
		if (*p == '.') {
			p++;
			precision = 0;
			if (*p == '*') {
				precision = va_arg(ap, int);
				p++;
			} else {
				while (*p >= '0' && *p <= '9')
					precision = precision * 10 + (*p++ - '0');
			}
		}
		int longs = 0, shorts = 0;
		bool size_t_arg = false;
		while (*p == 'l' || *p == 'h' || *p == 'z') {
			if (*p == 'l')
				longs++;
			else if (*p == 'h')
				shorts++;
			else
				size_t_arg = true;
			p++;
		}

		uint64_t uv;
		int64_t sv;
		switch (*p) {
		case 'd':
		case 'i':
			if (size_t_arg)
				sv = (int64_t)va_arg(ap, long);
			else if (longs >= 2)
				sv = va_arg(ap, long long);
			else if (longs == 1)
				sv = va_arg(ap, long);
			else
				sv = va_arg(ap, int);
			/* hh and h: the argument was promoted to int; print it at its own width. */
			if (shorts >= 2)
				sv = (signed char)sv;
			else if (shorts == 1)
				sv = (short)sv;
			spec.negative = sv < 0;
			uv = spec.negative ? (uint64_t)0 - (uint64_t)sv : (uint64_t)sv;
			out_number(&o, uv, &spec);
			break;
		case 'u':
		case 'x':
		case 'X':
			if (size_t_arg)
				uv = va_arg(ap, size_t);
			else if (longs >= 2)
				uv = va_arg(ap, unsigned long long);
			else if (longs == 1)
				uv = va_arg(ap, unsigned long);
			else
				uv = va_arg(ap, unsigned int);
			if (shorts >= 2)
				uv = (unsigned char)uv;
			else if (shorts == 1)
				uv = (unsigned short)uv;
			spec.base = *p == 'u' ? 10 : 16;
			spec.upper = *p == 'X';
			/* '#' as in C: 0x before a non-zero hexadecimal number, nothing before 0. */
			if (alternate && spec.base == 16 && uv != 0)
				spec.prefix = spec.upper ? "0X" : "0x";
			out_number(&o, uv, &spec);
			break;
		case 'p':
			spec.base = 16;
			spec.prefix = "0x";
			out_number(&o, (uint64_t)(uintptr_t)va_arg(ap, void *), &spec);
			break;
		case 'c':
			{
				char c = (char)va_arg(ap, int);
				out_string(&o, &c, 1, spec.width, spec.left);
			}
			break;
		case 's':
			{
				const char *s = va_arg(ap, const char *);
				if (!s)
					s = "(null)";
				size_t n = 0;
				while ((precision < 0 || n < (size_t)precision) && s[n])
					n++;
				out_string(&o, s, n, spec.width, spec.left);
			}
			break;
		case '%':
			out_char(&o, '%');
			break;
		case '\0':
			/* A lone '%' at the end: print it rather than read past the string. */
			out_char(&o, '%');
			p--;
			break;
		default:
			out_char(&o, '%');
			out_char(&o, *p);
			break;
		}
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int hvrt_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = hvrt_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
