"""Draw the plugin's 24x24 menu icons (stdlib only): a film frame with sprocket holes and a letter.

    python3 nuke_plugin/tools/make_icons.py      # rewrites nuke_plugin/reelfix_nuke/icons/*.png

Nodes without their own icon get `reelfix_node.png` (the plugin falls back to it), so new
core nodes need no icon to appear in the menu.
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import Dict, List, Tuple

SIZE = 24
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reelfix_nuke", "icons")

GLYPHS = {  # 5x7 bitmaps
    "R": ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
    "U": ["10001", "10001", "10001", "10001", "10001", "10001", "01110"],
    "D": ["11110", "10001", "10001", "10001", "10001", "10001", "11110"],
    "G": ["01110", "10001", "10000", "10111", "10001", "10001", "01111"],
    "B": ["11110", "10001", "10001", "11110", "10001", "10001", "11110"],
    "S": ["01111", "10000", "10000", "01110", "00001", "00001", "11110"],
    "F": ["11111", "10000", "10000", "11110", "10000", "10000", "10000"],
    "T": ["11111", "00100", "00100", "00100", "00100", "00100", "00100"],
    "P": ["11110", "10001", "10001", "11110", "10000", "10000", "10000"],
    "N": ["10001", "11001", "10101", "10011", "10001", "10001", "10001"],
}

ICONS: Dict[str, Tuple[str, Tuple[int, int, int]]] = {
    "reelfix": ("R", (230, 170, 60)),
    "upscale": ("U", (90, 170, 240)),
    "degrain": ("D", (120, 200, 120)),
    "regrain": ("G", (200, 200, 110)),
    "denoise": ("N", (110, 210, 200)),
    "dustbust": ("B", (230, 120, 90)),
    "scratch": ("S", (220, 90, 160)),
    "deflicker": ("F", (250, 210, 80)),
    "stabilize": ("T", (150, 130, 240)),
    "pipeline": ("P", (230, 170, 60)),
    "node": ("N", (170, 170, 170)),
}


def draw(letter: str, colour: Tuple[int, int, int]) -> List[List[Tuple[int, int, int, int]]]:
    film = (38, 38, 42, 255)
    clear = (0, 0, 0, 0)
    px = [[clear] * SIZE for _ in range(SIZE)]
    for y in range(1, SIZE - 1):
        for x in range(1, SIZE - 1):
            px[y][x] = film
    for y in range(3, SIZE - 3, 4):  # sprocket holes down both edges
        for x in (2, SIZE - 4):
            for dy in range(2):
                for dx in range(2):
                    px[y + dy][x + dx] = (200, 200, 200, 255)
    glyph = GLYPHS[letter]
    ox, oy = (SIZE - 10) // 2, (SIZE - 14) // 2
    for gy, row in enumerate(glyph):
        for gx, bit in enumerate(row):
            if bit == "1":
                for dy in range(2):
                    for dx in range(2):
                        px[oy + 2 * gy + dy][ox + 2 * gx + dx] = colour + (255,)
    return px


def png(pixels: List[List[Tuple[int, int, int, int]]]) -> bytes:
    raw = b"".join(b"\x00" + b"".join(struct.pack("4B", *p) for p in row) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", len(pixels[0]), len(pixels), 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    for name, (letter, colour) in ICONS.items():
        with open(os.path.join(OUT, "reelfix_{}.png".format(name)) if name != "reelfix" else os.path.join(OUT, "reelfix.png"), "wb") as fh:
            fh.write(png(draw(letter, colour)))
    print("icons written to", OUT)


if __name__ == "__main__":
    main()
