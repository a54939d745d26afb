#!/usr/bin/python3
"""Draws a terminal screen captured with its colours (`tmux capture-pane -e
-p`) as a PNG: monospace text on a dark background, with the SGR attributes
a screen uses (bold, underline, reverse, the 8 + 8 colours and 256-colour
codes).  Used by tools/top_screenshot.sh for the README's picture of
`mtp-trace --top`.  Needs python3-matplotlib.

Usage: ansi_png.py SCREEN.ans OUT.png [COLUMNS]"""
import re
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BG, FG = "#1e2127", "#d7dae0"
PALETTE = ["#3f4451", "#e06c75", "#98c379", "#e5c07b", "#61afef", "#c678dd", "#56b6c2",
           "#d7dae0", "#4f5666", "#ff7b86", "#b1e18b", "#f0d197", "#67cdff", "#e48bff",
           "#63d4e0", "#ffffff"]
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def colour256(n):
    if n < 16:
        return PALETTE[n]
    if n >= 232:
        v = 8 + 10 * (n - 232)
        return "#%02x%02x%02x" % (v, v, v)
    n -= 16
    steps = [0, 95, 135, 175, 215, 255]
    return "#%02x%02x%02x" % (steps[n // 36], steps[n // 6 % 6], steps[n % 6])


def apply(style, params):
    codes = [int(p) if p else 0 for p in params.split(";")]
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            style = {}
        elif c in (1, 4, 7):
            style = dict(style, **{{1: "bold", 4: "under", 7: "rev"}[c]: True})
        elif c in (22, 24, 27):
            style = {k: v for k, v in style.items() if k != {22: "bold", 24: "under", 27: "rev"}[c]}
        elif 30 <= c <= 37 or 90 <= c <= 97:
            style = dict(style, fg=PALETTE[c - 30 if c < 90 else c - 82])
        elif 40 <= c <= 47 or 100 <= c <= 107:
            style = dict(style, bg=PALETTE[c - 40 if c < 100 else c - 92])
        elif c in (38, 48) and i + 2 < len(codes) and codes[i + 1] == 5:
            style = dict(style, **{"fg" if c == 38 else "bg": colour256(codes[i + 2])})
            i += 2
        elif c == 39:
            style = {k: v for k, v in style.items() if k != "fg"}
        elif c == 49:
            style = {k: v for k, v in style.items() if k != "bg"}
        i += 1
    return style


def cells(line):
    """[(char, style)] for one captured line."""
    out, style, pos = [], {}, 0
    for m in SGR.finditer(line):
        out += [(ch, style) for ch in line[pos:m.start()] if ch >= " "]
        style = apply(style, m.group(1))
        pos = m.end()
    return out + [(ch, style) for ch in line[pos:] if ch >= " "]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
        rows = [cells(l.rstrip("\n")) for l in f]
    cols = int(sys.argv[3]) if len(sys.argv) > 3 else max(len(r) for r in rows)
    size, cw, ch = 11.0, 0.6, 1.3  # points; a cell's width and height in ems
    fig = plt.figure(figsize=((cols * cw + 2) * size / 72, (len(rows) * ch + 2) * size / 72),
                     dpi=110, facecolor=BG)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(-1, cols + 1 / cw)
    ax.set_ylim(len(rows) + 1 / ch, -1 / ch)
    ax.axis("off")
    for y, row in enumerate(rows):
        for x, (c, st) in enumerate(row[:cols]):
            fg, bg = st.get("fg", FG), st.get("bg")
            if st.get("rev"):
                fg, bg = bg or BG, fg
            if bg:
                ax.add_patch(plt.Rectangle((x, y - 0.5), 1, 1, color=bg, lw=0))
            if c != " ":
                ax.text(x, y, c, family="DejaVu Sans Mono", size=size, color=fg, va="center",
                        ha="left", weight="bold" if st.get("bold") else "normal")
            if st.get("under"):
                ax.plot([x, x + 1], [y + 0.45, y + 0.45], color=fg, lw=0.8)
    fig.savefig(sys.argv[2], facecolor=BG)


if __name__ == "__main__":
    main()
