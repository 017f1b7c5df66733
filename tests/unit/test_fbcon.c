/*
 * Unit tests for the framebuffer text console (arch/x86_64/fbcon.c) and its
 * font, on malloc'd framebuffers.
 *
 * Every framebuffer is surrounded by a pattern that differs per pixel: stride
 * padding and a guard area after the last scan line. Tests check the pattern
 * is intact, so a write past width, a scroll that moves padding, or a write
 * past the end is caught even when it copies pattern from elsewhere.
 *
 * With FBCON_PNG=path in the environment, test_render_charset also writes its
 * screen as a PNG (FBCON_PNG_SCALE=n enlarges it) for a human to look at.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/fbcon.h"

#define FG 0x00aaaaaau
#define BG 0x00000000u
#define GUARD_PIXELS 256

/* A framebuffer with padding and guard, and the console drawing on it. */
struct screen {
	uint32_t *buf;
	size_t total; /* pixels in buf, guard included */
	struct hvrt_framebuffer fb;
	struct fbcon con;
};

static uint32_t pattern(size_t i)
{
	return 0xdead0000u ^ (uint32_t)(i * 2654435761u);
}

static void screen_open(struct screen *s, uint32_t width, uint32_t height,
			uint32_t stride)
{
	memset(s, 0, sizeof(*s));
	s->total = (size_t)stride * height + GUARD_PIXELS;
	s->buf = malloc(s->total * sizeof(uint32_t));
	assert_non_null(s->buf);
	for (size_t i = 0; i < s->total; i++)
		s->buf[i] = pattern(i);
	s->fb.base = (uint64_t)(uintptr_t)s->buf;
	s->fb.size = (uint64_t)stride * height * sizeof(uint32_t);
	s->fb.width = width;
	s->fb.height = height;
	s->fb.stride = stride;
	s->fb.format = FBCON_FORMAT_BGRX;
	assert_int_equal(fbcon_init(&s->con, &s->fb), 0);
}

static void screen_close(struct screen *s)
{
	free(s->buf);
	s->buf = NULL;
}

static void put(struct screen *s, const char *text)
{
	fbcon_write(&s->con, text, strlen(text));
}

static uint32_t px(const struct screen *s, uint32_t x, uint32_t y)
{
	return s->buf[(size_t)y * s->fb.stride + x];
}

/* Padding right of width and everything after the last scan line. */
static void assert_outside_intact(const struct screen *s)
{
	for (uint32_t y = 0; y < s->fb.height; y++)
		for (uint32_t x = s->fb.width; x < s->fb.stride; x++) {
			size_t i = (size_t)y * s->fb.stride + x;

			if (s->buf[i] != pattern(i))
				fail_msg("padding written at x=%u y=%u", x, y);
		}
	for (size_t i = (size_t)s->fb.stride * s->fb.height; i < s->total; i++)
		if (s->buf[i] != pattern(i))
			fail_msg("guard written at pixel %zu", i);
}

static const uint8_t *glyph_of(unsigned char c)
{
	if (c < FONT8X16_FIRST || c > FONT8X16_LAST)
		return font8x16[FONT8X16_REPLACEMENT];
	return font8x16[c - FONT8X16_FIRST];
}

/* The cell at (col, row) shows exactly the glyph of c, in FG on BG. */
static void assert_cell(const struct screen *s, uint32_t col, uint32_t row,
			unsigned char c)
{
	const uint8_t *g = glyph_of(c);

	for (uint32_t y = 0; y < FONT8X16_HEIGHT; y++)
		for (uint32_t x = 0; x < FONT8X16_WIDTH; x++) {
			uint32_t want = (g[y] & (0x80u >> x)) ? FG : BG;
			uint32_t got = px(s, col * FONT8X16_WIDTH + x,
					  row * FONT8X16_HEIGHT + y);

			if (got != want)
				fail_msg("cell (%u,%u) '%c': pixel (%u,%u) is "
					 "%08x, want %08x", col, row, c, x, y,
					 got, want);
		}
}

/* Every cell of a text row is blank. */
static void assert_row_blank(const struct screen *s, uint32_t row)
{
	for (uint32_t col = 0; col < s->con.cols; col++)
		assert_cell(s, col, row, ' ');
}

/* Each row of the screen shows the given line, padded with blanks. */
static void assert_screen(const struct screen *s, const char *const *lines)
{
	for (uint32_t row = 0; row < s->con.rows; row++) {
		size_t n = strlen(lines[row]);

		assert_true(n <= s->con.cols);
		for (uint32_t col = 0; col < s->con.cols; col++)
			assert_cell(s, col, row,
				    col < n ? (unsigned char)lines[row][col] : ' ');
	}
}

/* 80x48 pixels (10x3 cells) with a stride of 96: the default test screen. */
static int setup(void **state)
{
	struct screen *s = malloc(sizeof(*s));

	if (!s)
		return -1;
	screen_open(s, 80, 48, 96);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct screen *s = *state;

	screen_close(s);
	free(s);
	return 0;
}

static void test_pixel_formats(void **state)
{
	(void)state;
	assert_int_equal(fbcon_pixel(FBCON_FORMAT_BGRX, 0x12, 0x34, 0x56),
			 0x00123456);
	assert_int_equal(fbcon_pixel(FBCON_FORMAT_RGBX, 0x12, 0x34, 0x56),
			 0x00563412);
	assert_int_equal(fbcon_pixel(FBCON_FORMAT_BGRX, 0xaa, 0xaa, 0xaa), FG);
	assert_int_equal(fbcon_pixel(FBCON_FORMAT_RGBX, 0xaa, 0xaa, 0xaa), FG);
}

static void test_init_clears(void **state)
{
	struct screen *s = *state;

	assert_int_equal(s->con.cols, 10);
	assert_int_equal(s->con.rows, 3);
	assert_int_equal(s->con.col, 0);
	assert_int_equal(s->con.row, 0);
	assert_int_equal(s->con.fg, FG);
	assert_int_equal(s->con.bg, BG);
	for (uint32_t y = 0; y < 48; y++)
		for (uint32_t x = 0; x < 80; x++)
			assert_int_equal(px(s, x, y), BG);
	assert_outside_intact(s);
}

static void test_init_rejects(void **state)
{
	struct screen *s = *state;
	struct hvrt_framebuffer good = s->fb, fb;
	struct fbcon con;

#define REJECT(field, value)                                                  \
	do {                                                                  \
		fb = good;                                                    \
		fb.field = (value);                                           \
		memset(&con, 0x5a, sizeof(con));                              \
		assert_int_equal(fbcon_init(&con, &fb), -EINVAL);             \
		assert_null(con.pixels);                                      \
		assert_int_equal(con.cols, 0);                                \
	} while (0)
	REJECT(base, 0);
	REJECT(base, good.base + 2);
	REJECT(width, 7);
	REJECT(width, 0);
	REJECT(height, 15);
	REJECT(stride, 79);
	REJECT(format, 2);
	REJECT(size, good.size - 1);
	REJECT(size, 0);
	/* stride * height * 4 wraps to a small number in 64 bits. */
	fb = good;
	fb.width = fb.stride = 0x80000000u;
	fb.height = 0x80000000u;
	fb.size = UINT64_MAX;
	assert_int_equal(fbcon_init(&con, &fb), -EINVAL);
	fb.width = fb.stride = UINT32_MAX;
	fb.height = UINT32_MAX;
	assert_int_equal(fbcon_init(&con, &fb), -EINVAL);
	/* The buffer would run past the end of the address space. */
	fb = good;
	fb.base = UINT64_MAX - 0xfff;
	fb.size = UINT64_MAX;
	assert_int_equal(fbcon_init(&con, &fb), -EINVAL);
#undef REJECT

	/* A rejected console ignores writes instead of crashing. */
	fbcon_write(&con, "hello\n", 6);
	fbcon_clear(&con);
	assert_null(con.pixels);
	assert_outside_intact(s);

	/* Exactly big enough, stride == width, is fine. */
	fb = good;
	fb.stride = fb.width;
	fb.size = (uint64_t)fb.width * fb.height * 4;
	assert_int_equal(fbcon_init(&con, &fb), 0);
}

static void test_glyphs_drawn_in_cells(void **state)
{
	struct screen *s = *state;

	put(s, "Ab");
	assert_cell(s, 0, 0, 'A');
	assert_cell(s, 1, 0, 'b');
	assert_cell(s, 2, 0, ' ');
	assert_int_equal(s->con.col, 2);
	assert_int_equal(s->con.row, 0);
	/* A glyph has ink, and it is the foreground colour. */
	assert_int_equal(px(s, 3, 3), FG);
	assert_outside_intact(s);
}

static void test_newline_and_return(void **state)
{
	struct screen *s = *state;
	static const char *const want[] = {"ab", "cd", "Xf"};

	put(s, "ab\ncd\r\nef\rX");
	/* "\r\n" did not leave an empty line; '\r' returned to column 0. */
	assert_screen(s, want);
	assert_int_equal(s->con.col, 1);
	assert_int_equal(s->con.row, 2);
}

static void test_tab(void **state)
{
	struct screen *s = *state;
	static const char *const want[] = {"a       b", "d", "abcd    e"};

	put(s, "a\tb");
	assert_int_equal(s->con.col, 9);
	/* From column 9 of 10 the next stop is past the edge: the wrap is
	 * pending, and further tabs keep it so. */
	put(s, "\t\t");
	assert_int_equal(s->con.col, 10);
	assert_int_equal(s->con.row, 0);
	put(s, "d\n\t");
	assert_int_equal(s->con.col, 8);
	put(s, "\rabcd\t");
	assert_int_equal(s->con.col, 8);
	/* Tabs move without erasing what they pass over. */
	put(s, "\r\te");
	assert_screen(s, want);
	assert_outside_intact(s);
}

static void test_backspace(void **state)
{
	struct screen *s = *state;
	static const char *const want[] = {"aX", "Y", "0123456789"};

	put(s, "ab\bX");
	/* Backspace stops at the start of the line. */
	put(s, "\n\b\bY\n");
	/* From a pending wrap it steps onto the last cell: "\b \b" erases. */
	put(s, "012345678Z\b \b");
	assert_int_equal(s->con.col, 9);
	assert_int_equal(s->con.row, 2);
	put(s, "9");
	assert_screen(s, want);
}

static void test_wrap(void **state)
{
	struct screen *s = *state;
	static const char *const want[] = {"0123456789", "abcdefghij", "k"};

	/* A full line leaves the wrap pending: no blank line before "\n". */
	put(s, "0123456789");
	assert_int_equal(s->con.col, 10);
	assert_int_equal(s->con.row, 0);
	put(s, "\r\nabcdefghijk");
	assert_screen(s, want);
	assert_outside_intact(s);
}

static void test_scroll(void **state)
{
	struct screen *s = *state;
	static const char *const three[] = {"line 1", "line 2", "line 3"};
	static const char *const four[] = {"line 2", "line 3", "line 4 xyz"};
	static const char *const end[] = {"line 3", "line 4 xyz", ""};

	put(s, "line 1\nline 2\nline 3");
	assert_screen(s, three);
	/* Filling the bottom line does not scroll before the next character. */
	put(s, "\nline 4 xyz");
	assert_screen(s, four);
	put(s, "\n");
	assert_screen(s, end);
	assert_int_equal(s->con.row, 2);
	assert_int_equal(s->con.col, 0);
	assert_outside_intact(s);
}

/* Without padding the console scrolls with one memmove; same result. */
static void test_scroll_contiguous(void **state)
{
	struct screen s;
	static const char *const want[] = {"BBBB", "CCCC", "DDDD", ""};

	(void)state;
	/* 100 pixels: a partial column; 70 lines: partial row. */
	screen_open(&s, 100, 70, 100);
	assert_int_equal(s.con.cols, 12);
	assert_int_equal(s.con.rows, 4);
	put(&s, "AAAA\nBBBB\nCCCC\nDDDD\n");
	assert_screen(&s, want);
	/* The partial column and row stay background. */
	for (uint32_t y = 0; y < 70; y++)
		for (uint32_t x = 96; x < 100; x++)
			assert_int_equal(px(&s, x, y), BG);
	for (uint32_t y = 64; y < 70; y++)
		for (uint32_t x = 0; x < 100; x++)
			assert_int_equal(px(&s, x, y), BG);
	assert_outside_intact(&s);
	screen_close(&s);
}

/* Lots of wrapping and scrolling never writes padding or guard. */
static void test_long_output_stays_inside(void **state)
{
	struct screen *s = *state;
	char text[1000];

	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (char)(i % 7 == 6 ? '\n' : (i % 13 == 12 ? '\t' :
							  0x20 + i % 95));
	fbcon_write(&s->con, text, sizeof(text));
	assert_outside_intact(s);
	fbcon_clear(&s->con);
	for (uint32_t row = 0; row < s->con.rows; row++)
		assert_row_blank(s, row);
	assert_outside_intact(s);
}

static void test_replacement_glyph(void **state)
{
	struct screen *s = *state;

	fbcon_write(&s->con, "\x01\x7f\xff\0a", 5);
	for (uint32_t col = 0; col < 4; col++)
		assert_cell(s, col, 0, 0x7f);
	assert_cell(s, 4, 0, 'a');
	/* The box is visible, and unlike any printable glyph. */
	for (int c = FONT8X16_FIRST; c <= FONT8X16_LAST; c++)
		assert_memory_not_equal(font8x16[FONT8X16_REPLACEMENT],
					font8x16[c - FONT8X16_FIRST],
					FONT8X16_HEIGHT);
}

static void test_rgbx_colours(void **state)
{
	struct screen s;

	(void)state;
	memset(&s, 0, sizeof(s));
	screen_open(&s, 16, 16, 16);
	s.fb.format = FBCON_FORMAT_RGBX;
	assert_int_equal(fbcon_init(&s.con, &s.fb), 0);
	assert_int_equal(s.con.format, FBCON_FORMAT_RGBX);
	put(&s, "#W");
	assert_cell(&s, 0, 0, '#');
	assert_cell(&s, 1, 0, 'W');
	assert_outside_intact(&s);
	screen_close(&s);
}

/* Properties the drawings in tools/mkfont.py must keep. */
static void test_font_shape(void **state)
{
	(void)state;
	for (int c = FONT8X16_FIRST; c <= FONT8X16_LAST; c++) {
		const uint8_t *g = font8x16[c - FONT8X16_FIRST];
		unsigned ink = 0;

		for (int y = 0; y < FONT8X16_HEIGHT; y++) {
			ink |= g[y];
			/* Column 7 is letter spacing; only '_' joins up. */
			if (c != '_' && (g[y] & 1))
				fail_msg("'%c' touches column 7", c);
		}
		/* Rows 0-1 and 15 keep lines apart. */
		if (g[0] | g[1] | g[15])
			fail_msg("'%c' uses rows 0, 1 or 15", c);
		if ((c == ' ') != (ink == 0))
			fail_msg("'%c' has %s ink", c, ink ? "" : "no");
		/* Catches a glyph pasted twice in the generator. */
		for (int d = FONT8X16_FIRST; d < c; d++)
			if (!memcmp(g, font8x16[d - FONT8X16_FIRST],
				    FONT8X16_HEIGHT))
				fail_msg("'%c' and '%c' look the same", c, d);
	}
}

/* ---- PNG output for looking at the font (stored deflate, no zlib). ---- */

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
	}
	return ~crc;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void png_chunk(FILE *f, const char *type, const uint8_t *data,
		      size_t len)
{
	uint8_t hdr[8], crc[4];
	uint32_t c;

	put_be32(hdr, (uint32_t)len);
	memcpy(hdr + 4, type, 4);
	c = crc32_update(0, hdr + 4, 4);
	c = crc32_update(c, data, len);
	put_be32(crc, c);
	fwrite(hdr, 1, 8, f);
	if (len)
		fwrite(data, 1, len, f);
	fwrite(crc, 1, 4, f);
}

static void write_png(const char *path, const struct screen *s, uint32_t scale)
{
	uint32_t w = s->fb.width * scale, h = s->fb.height * scale;
	size_t line = 1 + (size_t)w * 3, raw_len = line * h;
	size_t blocks = (raw_len + 65534) / 65535;
	uint8_t *raw = malloc(raw_len);
	uint8_t *z = malloc(2 + raw_len + blocks * 5 + 4);
	uint8_t ihdr[13] = {0};
	size_t zl = 0;
	uint32_t a = 1, b = 0;
	FILE *f;

	assert_non_null(raw);
	assert_non_null(z);
	for (uint32_t y = 0; y < h; y++) {
		uint8_t *p = raw + y * line;

		*p++ = 0; /* filter: none */
		for (uint32_t x = 0; x < w; x++) {
			uint32_t v = px(s, x / scale, y / scale);

			*p++ = (uint8_t)(v >> 16);
			*p++ = (uint8_t)(v >> 8);
			*p++ = (uint8_t)v;
		}
	}
	z[zl++] = 0x78;
	z[zl++] = 0x01;
	for (size_t off = 0; off < raw_len; off += 65535) {
		size_t n = raw_len - off < 65535 ? raw_len - off : 65535;

		z[zl++] = off + n == raw_len; /* BFINAL, BTYPE 00: stored */
		z[zl++] = (uint8_t)n;
		z[zl++] = (uint8_t)(n >> 8);
		z[zl++] = (uint8_t)~n;
		z[zl++] = (uint8_t)(~n >> 8);
		memcpy(z + zl, raw + off, n);
		zl += n;
	}
	for (size_t i = 0; i < raw_len; i++) {
		a = (a + raw[i]) % 65521;
		b = (b + a) % 65521;
	}
	put_be32(z + zl, b << 16 | a);
	zl += 4;

	put_be32(ihdr, w);
	put_be32(ihdr + 4, h);
	ihdr[8] = 8; /* bits per channel */
	ihdr[9] = 2; /* truecolour */
	f = fopen(path, "wb");
	assert_non_null(f);
	fwrite("\x89PNG\r\n\x1a\n", 1, 8, f);
	png_chunk(f, "IHDR", ihdr, sizeof(ihdr));
	png_chunk(f, "IDAT", z, zl);
	png_chunk(f, "IEND", NULL, 0);
	assert_int_equal(fclose(f), 0);
	free(raw);
	free(z);
}

static void test_render_charset(void **state)
{
	static const char charset[] =
		" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";
	static const char sample[] =
		"\n\nThe quick brown fox jumps over the lazy dog. 0O 1lI| rn m\n"
		"THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG! 5S 2Z 8B 6G 9g\n"
		"hvrt: mem 0x0000000000100000-0x000000007fffffff RAM (2047 MiB)\n"
		"if (a[i] != b->c && (x % 4) == ~y) { return -EINVAL; } \x01\n"
		"ACPI RSDP @ 0xf5a10; ./run.sh --flag=\"v\" 'q' `cmd` $HOME ^_^";
	const char *path = getenv("FBCON_PNG");
	const char *scale = getenv("FBCON_PNG_SCALE");
	struct screen s;

	(void)state;
	screen_open(&s, 640, 128, 640);
	put(&s, charset);
	/* 95 characters on 80 columns: wrapped after 'o'. */
	for (uint32_t i = 0; i < sizeof(charset) - 1; i++)
		assert_cell(&s, i % 80, i / 80, (unsigned char)charset[i]);
	put(&s, sample);
	assert_outside_intact(&s);
	if (path && *path)
		write_png(path, &s, scale ? (uint32_t)atoi(scale) : 1);
	screen_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pixel_formats),
		cmocka_unit_test_setup_teardown(test_init_clears, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_glyphs_drawn_in_cells,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_newline_and_return, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tab, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backspace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scroll, setup, teardown),
		cmocka_unit_test(test_scroll_contiguous),
		cmocka_unit_test_setup_teardown(test_long_output_stays_inside,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_replacement_glyph, setup,
						teardown),
		cmocka_unit_test(test_rgbx_colours),
		cmocka_unit_test(test_font_shape),
		cmocka_unit_test(test_render_charset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
