#!/usr/bin/env python3
"""Render a terminal screen captured as ANSI text (``tmux capture-pane -e -p``) to a PNG.

The screen is laid out on an exact cell grid: every character is drawn in its own cell, so
columns line up whatever the font's fractional advance. Supported:

* SGR: reset, bold, dim, italic, underline, blink (ignored), reverse, hidden, strikethrough
  and their resets; 16 colours (30-37, 90-97, 40-47, 100-107), 256 colours (38;5;n / 48;5;n)
  and true colour (38;2;r;g;b / 48;2;r;g;b, with ``;`` or ``:`` separators); default
  colours (39 / 49).
* Other escape sequences (CSI, OSC, charset selection) are skipped.
* Wide characters (East Asian Wide/Fullwidth) take two cells; combining marks join the
  previous cell.
* Box drawing (light, heavy, double, rounded corners, half lines), block elements (halves,
  eighths, quadrants, shades) and braille patterns are drawn as geometry rather than font
  glyphs, so borders join seamlessly across cells and shades come out as blended colours,
  as most terminals do it.

Usage:
    python3 ansi2png.py INPUT.ans OUTPUT.png [--cols 150 --rows 45] [--font-size 15]
                        [--palette tango|xterm] [--padding 14] [--scale 1]

INPUT may be ``-`` for standard input. Needs Pillow and the DejaVu Sans Mono fonts
(Debian: fonts-dejavu-core).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import unicodedata
from dataclasses import dataclass, replace

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
# Used only if installed, for wide (CJK) characters.
FALLBACK_FONTS = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
]

# The 16 base colours. Tango is the classic GNOME Terminal palette; xterm is xterm's own.
PALETTES = {
    "tango": [
        (0x2E, 0x34, 0x36), (0xCC, 0x00, 0x00), (0x4E, 0x9A, 0x06), (0xC4, 0xA0, 0x00),
        (0x34, 0x65, 0xA4), (0x75, 0x50, 0x7B), (0x06, 0x98, 0x9A), (0xD3, 0xD7, 0xCF),
        (0x55, 0x57, 0x53), (0xEF, 0x29, 0x29), (0x8A, 0xE2, 0x34), (0xFC, 0xE9, 0x4F),
        (0x72, 0x9F, 0xCF), (0xAD, 0x7F, 0xA8), (0x34, 0xE2, 0xE2), (0xEE, 0xEE, 0xEC),
    ],
    "xterm": [
        (0x00, 0x00, 0x00), (0xCD, 0x00, 0x00), (0x00, 0xCD, 0x00), (0xCD, 0xCD, 0x00),
        (0x00, 0x00, 0xEE), (0xCD, 0x00, 0xCD), (0x00, 0xCD, 0xCD), (0xE5, 0xE5, 0xE5),
        (0x7F, 0x7F, 0x7F), (0xFF, 0x00, 0x00), (0x00, 0xFF, 0x00), (0xFF, 0xFF, 0x00),
        (0x5C, 0x5C, 0xFF), (0xFF, 0x00, 0xFF), (0x00, 0xFF, 0xFF), (0xFF, 0xFF, 0xFF),
    ],
}
# Default foreground and background per palette.
DEFAULTS = {
    "tango": ((0xD3, 0xD7, 0xCF), (0x16, 0x18, 0x1A)),
    "xterm": ((0xE5, 0xE5, 0xE5), (0x00, 0x00, 0x00)),
}


def color256(n: int, base: list) -> tuple:
    """The xterm 256-colour palette: 16 base colours, a 6x6x6 cube, a 24-step grey ramp."""
    if n < 16:
        return base[n]
    if n < 232:
        n -= 16
        steps = (0, 95, 135, 175, 215, 255)
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + 10 * (n - 232)
    return (v, v, v)


@dataclass(frozen=True)
class Style:
    fg: object = None  # None = default, int = palette index, tuple = RGB
    bg: object = None
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    reverse: bool = False
    hidden: bool = False
    strike: bool = False


DEFAULT_STYLE = Style()


def parse_extended(params: list, i: int):
    """Parse the colour after 38/48 at params[i]; return (colour, next index)."""
    if i < len(params) and params[i] == 5 and i + 1 < len(params):
        return params[i + 1], i + 2
    if i < len(params) and params[i] == 2 and i + 3 < len(params):
        r, g, b = params[i + 1 : i + 4]
        return (r & 255, g & 255, b & 255), i + 4
    return None, len(params)


def apply_sgr(style: Style, raw: str) -> Style:
    # Colon-separated sub-parameters (38:2::r:g:b, 38:5:n) come as one group.
    groups = raw.split(";") if raw else ["0"]
    params: list = []
    for g in groups:
        if ":" in g:
            sub = [int(x) if x else 0 for x in g.split(":")]
            if sub[0] in (38, 48, 58) and len(sub) >= 2 and sub[1] == 2 and len(sub) >= 6:
                # 38:2:<colourspace>:r:g:b
                sub = [sub[0], 2] + sub[-3:]
            params.extend(sub)
        else:
            params.append(int(g) if g else 0)
    i = 0
    s = style
    while i < len(params):
        p = params[i]
        i += 1
        if p == 0:
            s = DEFAULT_STYLE
        elif p == 1:
            s = replace(s, bold=True)
        elif p == 2:
            s = replace(s, dim=True)
        elif p == 3:
            s = replace(s, italic=True)
        elif p in (4, 21):
            s = replace(s, underline=True)
        elif p == 7:
            s = replace(s, reverse=True)
        elif p == 8:
            s = replace(s, hidden=True)
        elif p == 9:
            s = replace(s, strike=True)
        elif p == 22:
            s = replace(s, bold=False, dim=False)
        elif p == 23:
            s = replace(s, italic=False)
        elif p == 24:
            s = replace(s, underline=False)
        elif p == 27:
            s = replace(s, reverse=False)
        elif p == 28:
            s = replace(s, hidden=False)
        elif p == 29:
            s = replace(s, strike=False)
        elif 30 <= p <= 37:
            s = replace(s, fg=p - 30)
        elif p == 38:
            c, i = parse_extended(params, i)
            s = replace(s, fg=c)
        elif p == 39:
            s = replace(s, fg=None)
        elif 40 <= p <= 47:
            s = replace(s, bg=p - 40)
        elif p == 48:
            c, i = parse_extended(params, i)
            s = replace(s, bg=c)
        elif p == 49:
            s = replace(s, bg=None)
        elif p == 58:  # underline colour: parse and ignore
            _, i = parse_extended(params, i)
        elif 90 <= p <= 97:
            s = replace(s, fg=p - 90 + 8)
        elif 100 <= p <= 107:
            s = replace(s, bg=p - 100 + 8)
        # anything else (blink, fonts, overline, ...) is ignored
    return s


ESCAPE = re.compile(
    r"\x1b\[([0-9;:?<=>]*)([ -/]*)([@-~])"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC ... BEL or ST
    r"|\x1b[()*+][0-9A-Za-z]"  # charset designation
    r"|\x1b[@-Z\\-_]"  # other two-byte escapes
)


def char_width(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 2
    return 1


def parse_screen(text: str, cols: int | None, rows: int | None):
    """Return a grid: a list of rows, each a list of (text, style) cells; a wide
    character's second cell is ``None``."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    grid = []
    style = DEFAULT_STYLE  # tmux carries the style across lines
    for line in lines:
        row: list = []
        pos = 0
        for m in ESCAPE.finditer(line + "\x1b[Z"):  # sentinel flushes the tail
            chunk = line[pos : m.start()] if m.start() <= len(line) else line[pos:]
            for ch in chunk:
                if ch in "\r\x07" or (ord(ch) < 32 and ch != "\t"):
                    continue
                if ch == "\t":
                    row.extend([(" ", style)] * (8 - len(row) % 8))
                    continue
                w = char_width(ch)
                if w == 0:
                    if row:
                        # attach to the last real cell
                        k = len(row) - 1
                        while k > 0 and row[k] is None:
                            k -= 1
                        t, st = row[k]
                        row[k] = (t + ch, st)
                    continue
                row.append((ch, style))
                if w == 2:
                    row.append(None)
            pos = m.end()
            if m.group(3) == "m" and m.group(2) == "" and not (m.group(1) or "").startswith(("?", "<", ">", "=")):
                style = apply_sgr(style, m.group(1) or "")
        grid.append(row)
    if rows is None:
        rows = len(grid)
    if cols is None:
        cols = max((len(r) for r in grid), default=1)
    grid = grid[:rows] + [[] for _ in range(rows - len(grid))]
    out = []
    for r in grid:
        r = r[:cols]
        if r and r[-1] is not None and len(r) == cols and char_width(r[-1][0][0]) == 2:
            r[-1] = (" ", r[-1][1])
        out.append(r + [(" ", DEFAULT_STYLE)] * (cols - len(r)))
    return out, cols, rows


# ---- box drawing -----------------------------------------------------------------------
# Arms (up, right, down, left): 0 none, 1 light, 2 heavy, 3 double.
BOX: dict = {}


def _box(chars: str, arms):
    for ch, a in zip(chars, arms):
        BOX[ch] = a


_box("─━│┃", [(0, 1, 0, 1), (0, 2, 0, 2), (1, 0, 1, 0), (2, 0, 2, 0)])
_box("┌┍┎┏", [(0, 1, 1, 0), (0, 2, 1, 0), (0, 1, 2, 0), (0, 2, 2, 0)])
_box("┐┑┒┓", [(0, 0, 1, 1), (0, 0, 1, 2), (0, 0, 2, 1), (0, 0, 2, 2)])
_box("└┕┖┗", [(1, 1, 0, 0), (1, 2, 0, 0), (2, 1, 0, 0), (2, 2, 0, 0)])
_box("┘┙┚┛", [(1, 0, 0, 1), (1, 0, 0, 2), (2, 0, 0, 1), (2, 0, 0, 2)])
_box("├┝┞┟┠┡┢┣", [(1, 1, 1, 0), (1, 2, 1, 0), (2, 1, 1, 0), (1, 1, 2, 0),
                  (2, 1, 2, 0), (2, 2, 1, 0), (1, 2, 2, 0), (2, 2, 2, 0)])
_box("┤┥┦┧┨┩┪┫", [(1, 0, 1, 1), (1, 0, 1, 2), (2, 0, 1, 1), (1, 0, 2, 1),
                  (2, 0, 2, 1), (2, 0, 1, 2), (1, 0, 2, 2), (2, 0, 2, 2)])
_box("┬┭┮┯┰┱┲┳", [(0, 1, 1, 1), (0, 1, 1, 2), (0, 2, 1, 1), (0, 2, 1, 2),
                  (0, 1, 2, 1), (0, 1, 2, 2), (0, 2, 2, 1), (0, 2, 2, 2)])
_box("┴┵┶┷┸┹┺┻", [(1, 1, 0, 1), (1, 1, 0, 2), (1, 2, 0, 1), (1, 2, 0, 2),
                  (2, 1, 0, 1), (2, 1, 0, 2), (2, 2, 0, 1), (2, 2, 0, 2)])
_box("┼╋", [(1, 1, 1, 1), (2, 2, 2, 2)])
_box("═║", [(0, 3, 0, 3), (3, 0, 3, 0)])
_box("╒╓╔╕╖╗╘╙╚╛╜╝", [(0, 3, 1, 0), (0, 1, 3, 0), (0, 3, 3, 0),
                      (0, 0, 1, 3), (0, 0, 3, 1), (0, 0, 3, 3),
                      (1, 3, 0, 0), (3, 1, 0, 0), (3, 3, 0, 0),
                      (1, 0, 0, 3), (3, 0, 0, 1), (3, 0, 0, 3)])
_box("╞╟╠╡╢╣╤╥╦╧╨╩╪╫╬", [(1, 3, 1, 0), (3, 1, 3, 0), (3, 3, 3, 0),
                         (1, 0, 1, 3), (3, 0, 3, 1), (3, 0, 3, 3),
                         (0, 3, 1, 3), (0, 1, 3, 1), (0, 3, 3, 3),
                         (1, 3, 0, 3), (3, 1, 0, 1), (3, 3, 0, 3),
                         (1, 3, 1, 3), (3, 1, 3, 1), (3, 3, 3, 3)])
_box("╴╵╶╷╸╹╺╻", [(0, 0, 0, 1), (1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0),
                  (0, 0, 0, 2), (2, 0, 0, 0), (0, 2, 0, 0), (0, 0, 2, 0)])
_box("╼╽╾╿", [(0, 2, 0, 1), (1, 0, 2, 0), (0, 1, 0, 2), (2, 0, 1, 0)])
ROUNDED = {"╭": (0, 1, 1, 0), "╮": (0, 0, 1, 1), "╯": (1, 0, 0, 1), "╰": (1, 1, 0, 0)}


class Renderer:
    def __init__(self, font_size: int, palette: str, font_dir: str, scale: int):
        self.scale = scale
        size = font_size * scale
        def load(name):
            return ImageFont.truetype(os.path.join(font_dir, name), size)
        self.fonts = {
            (False, False): load("DejaVuSansMono.ttf"),
            (True, False): load("DejaVuSansMono-Bold.ttf"),
            (False, True): load("DejaVuSansMono-Oblique.ttf"),
            (True, True): load("DejaVuSansMono-BoldOblique.ttf"),
        }
        # For characters DejaVu Sans Mono lacks: the first of these that exists.
        self.fallbacks = []
        for path in [os.path.join(font_dir, "DejaVuSans.ttf")] + FALLBACK_FONTS:
            if os.path.exists(path):
                try:
                    self.fallbacks.append(ImageFont.truetype(path, size))
                except OSError:
                    pass
        regular = self.fonts[(False, False)]
        ascent, descent = regular.getmetrics()
        self.ascent = ascent
        self.cw = max(1, round(regular.getlength("M")))
        self.ch = ascent + descent
        self.base = PALETTES[palette]
        self.default_fg, self.default_bg = DEFAULTS[palette]
        self.light = max(1, round(self.cw / 9))
        self.heavy = max(self.light + 1, round(self.cw / 4.5))
        self._notdef = self._mask_bytes(regular, "\U000F0000")
        self._has: dict = {}

    # -- colours --
    def rgb(self, c, default):
        if c is None:
            return default
        if isinstance(c, int):
            return color256(c, self.base)
        return c

    def colours(self, st: Style):
        fg = self.rgb(st.fg, self.default_fg)
        bg = self.rgb(st.bg, self.default_bg)
        if st.reverse:
            fg, bg = bg, fg
        if st.dim:
            fg = blend(fg, bg, 0.5)
        if st.hidden:
            fg = bg
        return fg, bg

    # -- glyph coverage --
    @staticmethod
    def _mask_bytes(font, ch):
        try:
            m = font.getmask(ch)
            return (m.size, bytes(m))
        except Exception:
            return None

    def font_for(self, ch: str, bold: bool, italic: bool):
        f = self.fonts[(bold, italic)]
        key = (ch[0], bold, italic)
        if key not in self._has:
            found = f
            if ch[0] != " " and self._mask_bytes(f, ch[0]) == self._notdef:
                for fb in self.fallbacks:
                    if self._mask_bytes(fb, ch[0]) != self._mask_bytes(fb, "\U000F0000"):
                        found = fb
                        break
            self._has[key] = found
        return self._has[key]

    # -- drawing --
    def render(self, grid, cols, rows, padding: int) -> Image.Image:
        pad = padding * self.scale
        w = cols * self.cw + 2 * pad
        h = rows * self.ch + 2 * pad
        img = Image.new("RGB", (w, h), self.default_bg)
        draw = ImageDraw.Draw(img)
        # Backgrounds first, then foreground, so glyphs overhanging a cell are not cut.
        cells = []
        for y, row in enumerate(grid):
            for x, cell in enumerate(row):
                if cell is None:
                    continue
                text, st = cell
                fg, bg = self.colours(st)
                wide = x + 1 < cols and row[x + 1] is None
                x0 = pad + x * self.cw
                y0 = pad + y * self.ch
                x1 = x0 + self.cw * (2 if wide else 1)
                if bg != self.default_bg:
                    draw.rectangle([x0, y0, x1 - 1, y0 + self.ch - 1], fill=bg)
                cells.append((x0, y0, x1, text, st, fg, bg))
        for x0, y0, x1, text, st, fg, bg in cells:
            if text != " " and not st.hidden:
                if not self.draw_special(draw, text, x0, y0, x1, fg, bg):
                    font = self.font_for(text, st.bold, st.italic)
                    draw.text((x0, y0 + self.ascent), text, font=font, fill=fg, anchor="ls")
            if st.underline:
                uy = y0 + self.ascent + max(1, self.ch // 10)
                draw.rectangle([x0, uy, x1 - 1, uy + self.light - 1], fill=fg)
            if st.strike:
                sy = y0 + self.ascent - self.ch // 4
                draw.rectangle([x0, sy, x1 - 1, sy + self.light - 1], fill=fg)
        return img

    def draw_special(self, draw, text, x0, y0, x1, fg, bg) -> bool:
        ch = text[0]
        cw, chh = x1 - x0, self.ch
        if ch in BOX:
            self.draw_box(draw, BOX[ch], x0, y0, cw, chh, fg)
            return True
        if ch in ROUNDED:
            self.draw_rounded(draw, ROUNDED[ch], x0, y0, cw, chh, fg)
            return True
        o = ord(ch)
        if 0x2580 <= o <= 0x259F:
            return self.draw_block(draw, o, x0, y0, cw, chh, fg, bg)
        if 0x2800 <= o <= 0x28FF:
            self.draw_braille(draw, o - 0x2800, x0, y0, cw, chh, fg)
            return True
        return False

    def _centre(self, x0, y0, cw, chh):
        return x0 + cw // 2, y0 + chh // 2

    def draw_box(self, draw, arms, x0, y0, cw, chh, fg):
        up, right, down, left = arms
        cx, cy = self._centre(x0, y0, cw, chh)
        x1, y1 = x0 + cw - 1, y0 + chh - 1
        lw, hw = self.light, self.heavy
        gap = max(lw + 1, round(cw / 4.5))  # half distance between the lines of a double

        def thick(kind):
            return hw if kind == 2 else lw

        def hline(xa, xb, y, t):
            if xb < xa:
                xa, xb = xb, xa
            draw.rectangle([xa, y - t // 2, xb, y - t // 2 + t - 1], fill=fg)

        def vline(ya, yb, x, t):
            if yb < ya:
                ya, yb = yb, ya
            draw.rectangle([x - t // 2, ya, x - t // 2 + t - 1, yb], fill=fg)

        has_double = 3 in arms
        vt = max(thick(up) if up else 0, thick(down) if down else 0)
        ht = max(thick(left) if left else 0, thick(right) if right else 0)
        if not has_double:
            # Light and heavy arms: each arm runs from its edge across the perpendicular
            # line (so corners are square and nothing sticks out).
            if left:
                hline(x0, cx - vt // 2 + vt - 1 if vt else cx, cy, thick(left))
            if right:
                hline(cx - vt // 2 if vt else cx, x1, cy, thick(right))
            if up:
                vline(y0, cy - ht // 2 + ht - 1 if ht else cy, cx, thick(up))
            if down:
                vline(cy - ht // 2 if ht else cy, y1, cx, thick(down))
            return
        # With double lines (drawn light): a double arm is two lines at +/- gap. A line
        # stops at the near line of a perpendicular double pair when an arm lies on its
        # side of the cell, and runs on to the far line otherwise; that makes the corners,
        # tees and crosses (╔ ╦ ╬ ╠ ╤ ╪ ...) join as in the fonts.
        vdouble = 3 in (up, down)
        hdouble = 3 in (left, right)

        def arm_h(side, kind):  # side -1 left, +1 right
            xe = x0 if side < 0 else x1
            for dy in ([-gap, gap] if kind == 3 else [0]):
                if not (up or down):
                    stop = cx
                elif not vdouble:
                    stop = cx - lw // 2 + lw - 1 if side < 0 else cx - lw // 2
                else:
                    near, far = cx + side * gap, cx - side * gap
                    if kind == 3:
                        blocked = up if dy < 0 else down
                    else:
                        other = right if side < 0 else left
                        blocked = up == 3 and down == 3 and not other
                    stop = near if blocked else far
                    # reach the far edge of the perpendicular line
                    stop += (lw - 1 - lw // 2) if side < 0 else -(lw // 2)
                hline(xe, stop, cy + dy, lw)

        def arm_v(side, kind):  # side -1 up, +1 down
            ye = y0 if side < 0 else y1
            for dx in ([-gap, gap] if kind == 3 else [0]):
                if not (left or right):
                    stop = cy
                elif not hdouble:
                    stop = cy - lw // 2 + lw - 1 if side < 0 else cy - lw // 2
                else:
                    near, far = cy + side * gap, cy - side * gap
                    if kind == 3:
                        blocked = left if dx < 0 else right
                    else:
                        # a single line meets a double pair: it stops at the near line
                        # unless it continues on the other side (╪)
                        other = down if side < 0 else up
                        blocked = left == 3 and right == 3 and not other
                    stop = near if blocked else far
                    stop += (lw - 1 - lw // 2) if side < 0 else -(lw // 2)
                vline(ye, stop, cx + dx, lw)

        if left:
            arm_h(-1, left)
        if right:
            arm_h(1, right)
        if up:
            arm_v(-1, up)
        if down:
            arm_v(1, down)

    def draw_rounded(self, draw, arms, x0, y0, cw, chh, fg):
        up, right, down, left = arms
        cx, cy = self._centre(x0, y0, cw, chh)
        lw = self.light
        r = max(1, min(cw, chh) // 2 - 1)

        def rect(xa, ya, xb, yb):  # inclusive corners, skipped when empty
            if xb >= xa and yb >= ya:
                draw.rectangle([xa, ya, xb, yb], fill=fg)

        top = cy - lw // 2  # the line's first row / column, as in draw_box
        lft = cx - lw // 2
        # Straight parts from the cell edges to where the arc starts.
        if left:
            rect(x0, top, cx - r, top + lw - 1)
        if right:
            rect(cx + r, top, x0 + cw - 1, top + lw - 1)
        if up:
            rect(lft, y0, lft + lw - 1, cy - r)
        if down:
            rect(lft, cy + r, lft + lw - 1, y0 + chh - 1)
        # The arc: a quarter circle of radius r whose centre sits diagonally off (cx, cy).
        ox = cx + (r if right else -r)
        oy = cy + (r if down else -r)
        start = {(0, 1, 1, 0): 180, (0, 0, 1, 1): 270, (1, 0, 0, 1): 0, (1, 1, 0, 0): 90}[arms]
        # PIL draws the arc's width inwards from its box: grow the box by the outer half.
        o = lw - lw // 2
        draw.arc([ox - r - lw // 2, oy - r - lw // 2, ox + r + o - 1, oy + r + o - 1],
                 start, start + 90, fill=fg, width=lw)

    def draw_block(self, draw, o, x0, y0, cw, chh, fg, bg) -> bool:
        x1, y1 = x0 + cw, y0 + chh

        def rect(xa, ya, xb, yb, colour=fg):
            if xb > xa and yb > ya:
                draw.rectangle([xa, ya, xb - 1, yb - 1], fill=colour)

        if o == 0x2580:  # ▀
            rect(x0, y0, x1, y0 + chh // 2)
        elif 0x2581 <= o <= 0x2588:  # ▁..█ lower eighths
            n = o - 0x2580
            rect(x0, y1 - round(chh * n / 8), x1, y1)
        elif 0x2589 <= o <= 0x258F:  # ▉..▏ left eighths
            n = 8 - (o - 0x2588)
            rect(x0, y0, x0 + max(1, round(cw * n / 8)), y1)
        elif o == 0x2590:  # ▐
            rect(x0 + cw // 2, y0, x1, y1)
        elif 0x2591 <= o <= 0x2593:  # ░ ▒ ▓ as pixel patterns, as VTE and kitty do
            rect(x0, y0, x1, y1, bg)
            s = self.scale
            for py in range(y0, y1, s):
                for px in range(x0, x1, s):
                    gx, gy = (px - x0) // s, (py - y0) // s
                    if o == 0x2591:
                        on = gx % 2 == 0 and gy % 2 == 0
                    elif o == 0x2592:
                        on = (gx + gy) % 2 == 0
                    else:
                        on = not (gx % 2 == 1 and gy % 2 == 1)
                    if on:
                        rect(px, py, px + s, py + s)
        elif o == 0x2594:  # ▔
            rect(x0, y0, x1, y0 + max(1, round(chh / 8)))
        elif o == 0x2595:  # ▕
            rect(x1 - max(1, round(cw / 8)), y0, x1, y1)
        else:  # quadrants ▖▗▘▙▚▛▜▝▞▟
            quads = {
                0x2596: "3", 0x2597: "4", 0x2598: "1", 0x2599: "134", 0x259A: "14",
                0x259B: "123", 0x259C: "124", 0x259D: "2", 0x259E: "23", 0x259F: "234",
            }[o]
            mx, my = x0 + cw // 2, y0 + chh // 2
            boxes = {"1": (x0, y0, mx, my), "2": (mx, y0, x1, my),
                     "3": (x0, my, mx, y1), "4": (mx, my, x1, y1)}
            for q in quads:
                rect(*boxes[q])
        return True

    def draw_braille(self, draw, bits, x0, y0, cw, chh, fg):
        # Dot numbering: 1 2 3 7 down the left column, 4 5 6 8 down the right.
        order = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (0, 3), (1, 3)]
        r = max(1, round(cw / 7))
        for i, (cx, cy) in enumerate(order):
            if bits & (1 << i):
                px = x0 + round(cw * (1 + 2 * cx) / 4)
                py = y0 + round(chh * (1 + 2 * cy) / 8)
                draw.ellipse([px - r, py - r, px + r - 1, py + r - 1], fill=fg)


def blend(fg, bg, frac):
    return tuple(round(f * frac + b * (1 - frac)) for f, b in zip(fg, bg))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="ANSI text (tmux capture-pane -e -p), or - for stdin")
    ap.add_argument("output", help="PNG file to write")
    ap.add_argument("--cols", type=int, help="grid width (default: longest line)")
    ap.add_argument("--rows", type=int, help="grid height (default: number of lines)")
    ap.add_argument("--font-size", type=int, default=15, help="pixels (default 15)")
    ap.add_argument("--font-dir", default=FONT_DIR, help="where the DejaVu fonts are")
    ap.add_argument("--palette", choices=sorted(PALETTES), default="tango")
    ap.add_argument("--padding", type=int, default=14, help="margin in pixels (default 14)")
    ap.add_argument("--scale", type=int, default=1, help="render at N times the size (HiDPI)")
    args = ap.parse_args(argv)

    if args.input == "-":
        text = sys.stdin.buffer.read().decode("utf-8", "replace")
    else:
        with open(args.input, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    grid, cols, rows = parse_screen(text, args.cols, args.rows)
    r = Renderer(args.font_size, args.palette, args.font_dir, args.scale)
    img = r.render(grid, cols, rows, args.padding)
    img.save(args.output, optimize=True)
    print(f"{args.output}: {img.width}x{img.height} ({cols}x{rows} cells of {r.cw}x{r.ch} px)")


if __name__ == "__main__":
    main()
