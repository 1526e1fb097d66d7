"""Checking a file just written before it is renamed into place.

A full disk or a file-size limit (`ulimit -f`) can leave a short file while OpenImageIO's
writer reports success (seen with EXR). Reading the header and the last scanline or tile back
is cheap (0.2-30 ms for a 4K EXR or DPX) and finds a file cut short.
"""

from __future__ import annotations

import OpenImageIO as oiio


def _clean(message: str) -> str:
    return " ".join(message.split())[:300]


def unreadable_end(path: str, spec: oiio.ImageSpec) -> str:
    """What is wrong with the file at `path` written with `spec`, or "" when it reads back whole."""
    inp = oiio.ImageInput.open(path)
    if inp is None:
        return _clean(oiio.geterror()) or "cannot be opened"
    try:
        got = inp.spec()
        if (got.width, got.height, got.nchannels) != (spec.width, spec.height, spec.nchannels):
            return f"{got.width}x{got.height}x{got.nchannels} on disk"
        if got.tile_width:
            x = got.x + (got.width - 1) // got.tile_width * got.tile_width
            y = got.y + (got.height - 1) // got.tile_height * got.tile_height
            data = inp.read_tile(x, y, got.z, "float")
        else:
            data = inp.read_scanline(got.y + got.height - 1, got.z, "float")
        return "" if data is not None else (_clean(inp.geterror()) or "its last pixels cannot be read")
    finally:
        inp.close()
