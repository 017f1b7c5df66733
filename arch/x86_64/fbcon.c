/*
 * Text console on a linear 32-bit framebuffer.
 *
 * Nothing is read back from the screen except when scrolling, and there is no
 * shadow buffer: the runtime has no allocator this early, and on Hyper-V and
 * QEMU the framebuffer is ordinary cacheable RAM, so scrolling with memmove
 * is cheap enough for a log console.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arch/x86_64/fbcon.h"

#define TAB_WIDTH 8

uint32_t fbcon_pixel(uint32_t format, uint8_t r, uint8_t g, uint8_t b)
{
	/* Both formats are little-endian 32-bit words; only the byte order of
	 * the colour channels in memory differs. */
	if (format == FBCON_FORMAT_RGBX)
		return (uint32_t)b << 16 | (uint32_t)g << 8 | r;
	return (uint32_t)r << 16 | (uint32_t)g << 8 | b;
}

static uint32_t *scanline(const struct fbcon *con, size_t y)
{
	return con->pixels + y * con->stride;
}

/* Fills scan lines [first, first + count) with the background, up to width. */
static void clear_lines(struct fbcon *con, size_t first, size_t count)
{
	for (size_t y = first; y < first + count; y++) {
		uint32_t *p = scanline(con, y);

		for (uint32_t x = 0; x < con->width; x++)
			p[x] = con->bg;
	}
}

void fbcon_clear(struct fbcon *con)
{
	if (!con->pixels)
		return;
	clear_lines(con, 0, con->height);
	con->col = 0;
	con->row = 0;
}

int fbcon_init(struct fbcon *con, const struct hvrt_framebuffer *fb)
{
	uint64_t bytes;

	memset(con, 0, sizeof(*con));
	if (fb->base == 0 || fb->base % sizeof(uint32_t) != 0)
		return -EINVAL;
	if (fb->width < FONT8X16_WIDTH || fb->height < FONT8X16_HEIGHT)
		return -EINVAL;
	if (fb->stride < fb->width)
		return -EINVAL;
	if (fb->format != FBCON_FORMAT_BGRX && fb->format != FBCON_FORMAT_RGBX)
		return -EINVAL;
	/* stride * height is below 2^64 for 32-bit factors; only the scaling
	 * to bytes and the end address can overflow. */
	bytes = (uint64_t)fb->stride * fb->height;
	if (bytes > UINT64_MAX / sizeof(uint32_t))
		return -EINVAL;
	bytes *= sizeof(uint32_t);
	if (bytes > fb->size || bytes > UINT64_MAX - fb->base)
		return -EINVAL;
#if SIZE_MAX < UINT64_MAX
	/* Offsets into the buffer are computed in size_t. */
	if (bytes > SIZE_MAX || fb->base > UINTPTR_MAX - bytes)
		return -EINVAL;
#endif

	con->pixels = (uint32_t *)(uintptr_t)fb->base;
	con->width = fb->width;
	con->height = fb->height;
	con->stride = fb->stride;
	con->format = fb->format;
	con->cols = fb->width / FONT8X16_WIDTH;
	con->rows = fb->height / FONT8X16_HEIGHT;
	con->fg = fbcon_pixel(fb->format, 0xaa, 0xaa, 0xaa);
	con->bg = fbcon_pixel(fb->format, 0x00, 0x00, 0x00);
	fbcon_clear(con);
	return 0;
}

static void draw_glyph(struct fbcon *con, uint32_t col, uint32_t row,
		       unsigned char c)
{
	size_t index = FONT8X16_REPLACEMENT;
	const uint8_t *glyph;
	uint32_t *p;

	if (c >= FONT8X16_FIRST && c <= FONT8X16_LAST)
		index = c - FONT8X16_FIRST;
	glyph = font8x16[index];
	p = scanline(con, (size_t)row * FONT8X16_HEIGHT) +
	    (size_t)col * FONT8X16_WIDTH;
	for (unsigned y = 0; y < FONT8X16_HEIGHT; y++, p += con->stride) {
		unsigned bits = glyph[y];

		for (unsigned x = 0; x < FONT8X16_WIDTH; x++)
			p[x] = (bits & (0x80u >> x)) ? con->fg : con->bg;
	}
}

static void scroll_up(struct fbcon *con)
{
	size_t kept = (size_t)(con->rows - 1) * FONT8X16_HEIGHT;

	/*
	 * One copy per scan line: source and destination lines never overlap, so
	 * memcpy (newlib's is rep movs) serves, where -Os newlib's memmove goes a
	 * byte at a time. Only the visible part of each line moves: stride
	 * padding may belong to someone else, or not be memory at all.
	 */
	for (size_t y = 0; y < kept; y++)
		memcpy(scanline(con, y), scanline(con, y + FONT8X16_HEIGHT), con->width * sizeof(uint32_t));
	clear_lines(con, kept, FONT8X16_HEIGHT);
}

static void newline(struct fbcon *con)
{
	con->col = 0;
	if (con->row + 1 < con->rows)
		con->row++;
	else
		scroll_up(con);
}

void fbcon_write(struct fbcon *con, const char *buf, size_t len)
{
	if (!con->pixels)
		return;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		switch (c) {
		case '\n':
			newline(con);
			break;
		case '\r':
			con->col = 0;
			break;
		case '\t':
			/* A tab past the last stop leaves the wrap pending, so
			 * what follows starts the next line. */
			if (con->col < con->cols) {
				con->col = (con->col / TAB_WIDTH + 1) * TAB_WIDTH;
				if (con->col > con->cols)
					con->col = con->cols;
			}
			break;
		case '\b':
			/* From a pending wrap this lands on the last cell, which
			 * is where the cursor visually is, so "\b \b" erases. */
			if (con->col > 0)
				con->col--;
			break;
		default:
			if (con->col >= con->cols)
				newline(con);
			draw_glyph(con, con->col, con->row, c);
			con->col++;
			break;
		}
	}
}
