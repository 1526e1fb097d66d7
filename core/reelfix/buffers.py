"""Frame-sized arrays on recycled memory.

A new large array costs more than its size suggests: numpy takes arrays over 32 MB straight from
the kernel (glibc's malloc maps anything above its largest `M_MMAP_THRESHOLD`, 32 MB, afresh), and
the kernel zeroes every page on first touch. On this project's 2-core VM that is 65 ms of system
time per 100 MB (`benchmarks/host_overhead.py`: 0.12 s of a 4K frame's 0.9 CPU s went to it,
while writing into memory already touched costs nothing extra).

`empty(shape, dtype)` gives the same uninitialised array as `np.empty`, on a mapping kept for
reuse once no array uses it any more (CPython's reference count of the mapping tells: an array,
its views and their memoryview all hold it). A frame loop asks for the same sizes every frame,
so after the first frame they come back already touched. Arrays under `MIN_BYTES` are plain
`np.empty` (malloc recycles those itself), and so are arrays over a quarter of `limit()`. At most
`limit()` bytes are kept mapped in all (`set_limit`: the pipeline gives a quarter of the job's memory
budget, 512 MB by default: a 2K-to-4K upscale's working set, where 256 MB made it thrash); beyond it
the least recently used idle mappings are let go, and a request that would still not fit gets a
plain array. The mappings use ordinary pages, as numpy's arrays do while a job runs
(`small_pages`): on this VM huge pages cost more on first touch than they saved. Measured
(`benchmarks/host_overhead.py`, which runs the job with and without recycling in each round).
"""

from __future__ import annotations

import ctypes
import importlib
import mmap
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import numpy as np

MIN_BYTES = 8 * 1024**2  # smaller arrays: np.empty (malloc keeps and reuses such blocks itself)
DEFAULT_LIMIT = 512 * 1024**2  # a quarter of the default 2 GB job budget
LARGEST_SHARE = 4  # arrays over limit / 4 are plain: one would leave no room (an 8K float frame is 400 MB)

_lock = threading.Lock()
_maps: list[mmap.mmap] = []  # least recently handed out first
_limit = DEFAULT_LIMIT
_counts = {"reused": 0, "new": 0, "plain": 0}
# references to an idle mapping while `_idle` looks at it: the list, the loop's name, getrefcount's argument
_IDLE_REFS = 3


def _new_map(nbytes: int) -> mmap.mmap:
    """Anonymous private memory (Windows: the paging file's), in ordinary pages (see `small_pages`)."""
    if sys.platform == "win32":
        return mmap.mmap(-1, nbytes)
    return mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


_pages_lock = threading.Lock()
_pages_users = 0
_pages_before: bool | None = None


def _hugepage_switch() -> tuple[Any, Any] | None:
    """numpy's (get, set) of its transparent-huge-page advice for large arrays (a private numpy
    function, present since 1.20), or None."""
    for where in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            mod = importlib.import_module(where)
            return mod._get_madvise_hugepage, mod._set_madvise_hugepage
        except (ImportError, AttributeError):
            continue
    return None


@contextmanager
def small_pages() -> Iterator[None]:
    """numpy asks Linux for transparent huge pages for every large array (madvise). Where the
    kernel then compacts memory to find 2 MB pages on first touch (THP defrag `madvise`, the
    default of many distributions), a job that has written files for a while pays for it in
    system time: `benchmarks/host_overhead.py`'s job, after the peer's rounds, 0.73-0.75 s a 4K
    frame with it against 0.50-0.53 s without (recycled buffers off in both; with them on, 0.44-0.46 s).
    Off while a job runs (the outermost of nested or concurrent users restores numpy's setting)."""
    global _pages_users, _pages_before
    switch = _hugepage_switch()
    if switch is None:
        yield
        return
    with _pages_lock:
        if _pages_users == 0:
            _pages_before = bool(switch[0]())
            switch[1](False)
        _pages_users += 1
    try:
        yield
    finally:
        with _pages_lock:
            _pages_users -= 1
            if _pages_users == 0 and _pages_before is not None:
                switch[1](_pages_before)


def _idle(maps: list[mmap.mmap]) -> list[bool]:
    return [sys.getrefcount(m) <= _IDLE_REFS for m in maps]


def _let_go(free: list[bool], room: int) -> int:
    """Drop idle mappings (`free`: `_idle(_maps)`), least recently used first, until at most `room`
    bytes stay mapped or none idle is left; returns the bytes still mapped. Under `_lock`."""
    held = sum(len(m) for m in _maps)
    keep = []
    for m, idle in zip(_maps, free):
        if idle and held > room:
            held -= len(m)
            continue
        keep.append(m)
    _maps[:] = keep
    return held


def empty(shape: tuple[int, ...] | int, dtype: Any = np.float32) -> np.ndarray:
    """An uninitialised C-contiguous array, as `np.empty(shape, dtype)`, on recycled memory
    where it is large (see the module docstring). Thread-safe."""
    shape = (shape,) if isinstance(shape, int) else tuple(int(n) for n in shape)
    dt = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if nbytes < MIN_BYTES or nbytes > _limit // LARGEST_SHARE:
        return np.empty(shape, dt)
    with _lock:
        free = _idle(_maps)
        chosen = next((i for i, m in enumerate(_maps) if free[i] and len(m) == nbytes), None)
        if chosen is not None:
            m = _maps.pop(chosen)
            _counts["reused"] += 1
        else:
            held = _let_go(free, _limit - nbytes)
            if held + nbytes > _limit:
                _counts["plain"] += 1
                return np.empty(shape, dt)
            m = _new_map(nbytes)
            _counts["new"] += 1
        _maps.append(m)
        return np.frombuffer(m, dt, count=nbytes // dt.itemsize).reshape(shape)


def zeros(shape: tuple[int, ...] | int, dtype: Any = np.float32) -> np.ndarray:
    """`np.zeros` on recycled memory where `empty` would recycle it; elsewhere `np.zeros` itself,
    whose fresh pages the kernel zeroes as they are first touched (no pass over them here)."""
    out = empty(shape, dtype)
    if out.flags.owndata:
        return np.zeros(out.shape, out.dtype)
    out.fill(0)
    return out


def set_limit(nbytes: int) -> None:
    """Keep at most `nbytes` mapped (in use and idle); idle mappings beyond it are let go now."""
    global _limit
    with _lock:
        _limit = max(0, int(nbytes))
        _let_go(_idle(_maps), _limit)


def limit() -> int:
    return _limit


def release_idle() -> int:
    """Let go of every mapping no array uses (the end of a job); returns the bytes let go."""
    with _lock:
        before = sum(len(m) for m in _maps)
        return before - _let_go(_idle(_maps), 0)


def stats() -> dict[str, int]:
    """Counts since the process started ('reused', 'new', 'plain') and the bytes mapped now ('held')."""
    with _lock:
        return {**_counts, "held": sum(len(m) for m in _maps)}


@lru_cache(maxsize=1)
def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc (Linux); musl, macOS and Windows have none
    except (AttributeError, OSError, TypeError):
        return None


def trim() -> None:
    """Hand the C heap's free pages back to the system (glibc's `malloc_trim`; elsewhere nothing).
    Arrays under glibc's mmap threshold (32 MB once it has grown) live on the heap, and those a
    band loop freed otherwise stay resident under the whole-frame work that follows (8K dustbust:
    0.23 GiB)."""
    fn = _malloc_trim()
    if fn is not None:
        fn(0)
