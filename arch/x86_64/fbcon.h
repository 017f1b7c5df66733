/*
 * Text console drawn on a linear framebuffer (UEFI GOP), for after
 * ExitBootServices has taken the firmware's own console away.
 *
 * The console keeps no state of its own: everything lives in the struct fbcon
 * the caller owns, so the runtime can place it wherever suits it and unit
 * tests can drive several consoles over malloc'd "framebuffers".
 *
 * Output is light grey on black, 8x16 pixel cells, no escape sequences. The
 * area right of the last whole column and below the last whole row is cleared
 * once and never drawn on; stride padding is never written.
 */
#ifndef HVRT_ARCH_FBCON_H
#define HVRT_ARCH_FBCON_H

#include <stddef.h>
#include <stdint.h>

#include "hvrt/boot.h"

/* Font geometry and layout of font8x16[] (arch/x86_64/font8x16.c). */
#define FONT8X16_WIDTH 8
#define FONT8X16_HEIGHT 16
#define FONT8X16_FIRST 0x20 /* first character with a glyph */
#define FONT8X16_LAST 0x7e  /* last character with a glyph */
/* Index of the glyph drawn for every byte outside FIRST..LAST: a solid box. */
#define FONT8X16_REPLACEMENT (FONT8X16_LAST - FONT8X16_FIRST + 1)
#define FONT8X16_GLYPHS (FONT8X16_REPLACEMENT + 1)

/* One byte per glyph row, most significant bit is the leftmost pixel. */
extern const uint8_t font8x16[FONT8X16_GLYPHS][FONT8X16_HEIGHT];

/* Values of struct hvrt_framebuffer.format. */
#define FBCON_FORMAT_BGRX 0
#define FBCON_FORMAT_RGBX 1

struct fbcon {
	uint32_t *pixels; /* first pixel of the framebuffer; NULL: console off */
	uint32_t width;   /* visible pixels per scan line */
	uint32_t height;  /* scan lines */
	uint32_t stride;  /* pixels from one scan line to the next */
	uint32_t format;  /* FBCON_FORMAT_* */
	uint32_t cols;    /* text cells per line */
	uint32_t rows;    /* text lines */
	/*
	 * Cursor. col == cols means the last cell of the line was just
	 * written and the wrap is still pending: the next printable character
	 * wraps first, while '\n' or '\r' do not, so an exactly full line
	 * followed by "\r\n" does not leave an empty line behind.
	 */
	uint32_t col;
	uint32_t row;
	uint32_t fg; /* foreground pixel value, in the framebuffer's format */
	uint32_t bg; /* background pixel value */
};

/*
 * Returns the 32-bit pixel value that shows colour (r, g, b) on a framebuffer
 * of the given FBCON_FORMAT_*; an unknown format is treated as BGRx.
 */
uint32_t fbcon_pixel(uint32_t format, uint8_t r, uint8_t g, uint8_t b);

/*
 * Sets up con to draw on fb and clears the screen to black.
 *
 * con: state to fill in; owned by the caller, needs no initialisation.
 * fb:  the framebuffer the firmware handed over. base must be non-zero and
 *      4-byte aligned, width at least one glyph (8) and height at least one
 *      glyph (16), stride >= width, format 0 or 1, and stride * height * 4
 *      bytes must fit in size (products checked for overflow) and in the
 *      address space.
 *
 * Returns 0, or -EINVAL when fb is unusable. On failure con is zeroed, which
 * makes fbcon_write() on it a harmless no-op, so a caller may write to the
 * console unconditionally.
 */
int fbcon_init(struct fbcon *con, const struct hvrt_framebuffer *fb);

/*
 * Draws len bytes of text at the cursor.
 *
 * con: a console set up by fbcon_init() (or zeroed: then nothing happens).
 * buf: the bytes; not NUL-terminated, a NUL draws the replacement box.
 * len: how many bytes of buf to draw.
 *
 * '\n' moves to the start of the next line, '\r' to the start of this one,
 * '\t' to the next multiple of 8 columns, '\b' one column left (without
 * erasing, and never past the start of the line). Long lines wrap; passing
 * the bottom scrolls everything up one text line. Bytes outside 0x20..0x7e
 * other than those draw a solid box.
 */
void fbcon_write(struct fbcon *con, const char *buf, size_t len);

/*
 * Clears the whole screen to the background colour and puts the cursor in
 * the top left corner. A zeroed con is left alone.
 */
void fbcon_clear(struct fbcon *con);

#endif
