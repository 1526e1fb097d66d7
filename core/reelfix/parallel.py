"""Work on the rows of a frame split over threads.

numpy's casts and arithmetic on large arrays, OpenCV and OpenColorIO release the GIL, so
independent bands of rows run truly in parallel: on a GPU machine with many cores the host
work around the model (post-processing, float16 encoding for EXR) otherwise runs on one
core while the others wait. Bands write disjoint rows, so the result is the same as one
pass, bit for bit, whatever the number of threads.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Callable


def workers() -> int:
    """Threads for host work: `REELFIX_HOST_THREADS` when set (a whole number >= 1), else the
    CPUs this process may use, at most 8."""
    env = os.environ.get("REELFIX_HOST_THREADS", "").strip()
    if env.isdigit() and int(env) >= 1:
        return int(env)
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(n, 8))


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="reelfix-rows")


def over_rows(height: int, band: Callable[[int, int], None], rows: int = 256) -> None:
    """Call band(r0, r1) for consecutive bands of at most `rows` rows covering [0, height),
    on the pool when there is more than one band (exceptions propagate). `band` must only
    write its own rows and must not itself wait on this pool."""
    edges = list(range(0, height, max(1, rows))) + [height]
    spans = [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    if len(spans) <= 1 or workers() == 1:
        for a, b in spans:
            band(a, b)
        return
    for fut in [_pool().submit(band, a, b) for a, b in spans]:
        fut.result()
