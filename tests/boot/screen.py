"""Check text on a QEMU screendump against hvrt's console font.

The framebuffer console draws 8x16 cells from the top-left corner, light grey
(0xaaaaaa) on black; arch/x86_64/font8x16.c holds the glyphs. A cell matches
when every one of its 128 pixels is lit exactly where the glyph's bit is set.
"""
import re

FONT_C = "arch/x86_64/font8x16.c"
FG = (0xAA, 0xAA, 0xAA)
BG = (0, 0, 0)


def load_font(path=FONT_C):
    """Glyph rows by character code - 0x20, from the C file's designated initializers."""
    text = re.sub(r"/\*.*?\*/", "", open(path).read(), flags=re.S)
    glyphs = {}
    for code, body in re.findall(r"\[(0x[0-9a-fA-F]+) - FONT8X16_FIRST\]\s*=\s*\{(.*?)\}", text, re.S):
        rows = [int(v, 16) for v in re.findall(r"0x[0-9a-fA-F]+", body)]
        if len(rows) != 16:
            raise ValueError("glyph %s has %d rows" % (code, len(rows)))
        glyphs[int(code, 16) - 0x20] = rows
    if len(glyphs) < 0x7f - 0x20:
        raise ValueError("only %d glyphs in %s" % (len(glyphs), path))
    return [glyphs[i] for i in sorted(glyphs)]


def load_ppm(path):
    data = open(path, "rb").read()
    magic, dims, maxval, pixels = data.split(b"\n", 3)
    if magic != b"P6" or maxval != b"255":
        raise ValueError("not a binary 8-bit PPM")
    width, height = map(int, dims.split())
    return width, height, pixels


def check_text(ppm, row, text, font=None):
    """Returns None when text is drawn at text row `row`, column 0, else why not."""
    font = font or load_font()
    width, height, px = load_ppm(ppm)
    for col, ch in enumerate(text):
        glyph = font[ord(ch) - 0x20]
        for y in range(16):
            for x in range(8):
                px_x, px_y = col * 8 + x, row * 16 + y
                if px_x >= width or px_y >= height:
                    return "text row %d runs off the %dx%d screen" % (row, width, height)
                o = (px_y * width + px_x) * 3
                got = tuple(px[o:o + 3])
                want = FG if glyph[y] & (0x80 >> x) else BG
                if got != want:
                    return ("row %d column %d (%r): pixel (%d,%d) is %s, expected %s"
                            % (row, col, ch, x, y, got, want))
    return None
