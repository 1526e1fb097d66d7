"""Per-frame analysis kept beside the output, so farm chunks and reruns measure a frame once.

A node with a span (deflicker) measures every input frame of the segments around the
frames it writes: a farm chunk of ten frames reads up to 3 x span input frames for that.
The measurements are small (a deflicker frame: about 100 kB) and depend only on the input
file and the node's measuring code, so they are kept in `<output folder>/.reelfix-analysis/`
under a key made of the file's path, size and modification time, the frame's colour space,
the kind of measurement and the reelfix version. A chunk that finds a frame there does not
read it; what it loads is exactly what it would have computed (arrays saved losslessly),
so chunks still give identical frames. Files are written atomically (a temp name, then a
rename), read without pickle, and a damaged or unreadable entry is simply measured again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

FOLDER = ".reelfix-analysis"


class AnalysisStore:
    """Load and save per-frame measurements (dicts of arrays) by input-file identity."""

    def __init__(self, folder: Path, salt: str) -> None:
        self.folder = Path(folder)
        self.salt = salt
        self.writable = True

    def _path(self, identity: str, kind: str) -> Path:
        digest = hashlib.sha256(f"{self.salt}\n{kind}\n{identity}".encode()).hexdigest()[:40]
        return self.folder / kind / f"{digest}.npz"

    def load(self, identity: str, kind: str) -> dict[str, np.ndarray] | None:
        path = self._path(identity, kind)
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError, KeyError, EOFError):
            return None  # absent or damaged: measured again

    def save(self, identity: str, kind: str, arrays: dict[str, np.ndarray]) -> None:
        """Write atomically; an output folder that cannot take it only loses the saving."""
        if not self.writable:
            return
        path = self._path(identity, kind)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    np.savez(fh, **arrays)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            self.writable = False


def file_identity(path: str | os.PathLike[str]) -> str | None:
    """`path|size|mtime_ns` of a file, or None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"
