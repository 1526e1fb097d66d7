"""Pull evaluation of a node chain over frames, with temporal windows.

Level 0 is the source; level k is the output of node k. A frame at level k is computed
from the window of level k-1 frames its node needs (centre +- radius, limited to the
context frames that exist), computed once and kept while later frames may need it.
Source reads are prefetched on a background thread so decoding overlaps compute.

A node that declares a span (deflicker's trend over a shot) also gets `Analysis`: its
runner's `measure` of every input frame in two fixed, half-overlapping segments of 2 x
span frames around the centre, limited to the centre's shot. Those frames are read and
measured once each and dropped (only the small statistics stay), so a long span holds no
pictures; the segments sit at fixed frame numbers, so a farm chunk sees the same ones.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np

from .errors import FrameReadError
from .cuts import signature, signatures_cut
from .frames.frame import Frame, all_finite
from .frames.half import widened
from .analysis_store import AnalysisStore
from .nodes.spec import Analysis, NodeRunner, Window

log = logging.getLogger(__name__)
HALF_MAX = 65504.0


def sanitise(frame: Frame, warn: Callable[[str], None]) -> Frame:
    """Replace NaN with 0 and +-Inf with +-65504 (half float's largest value), with a warning."""
    pix = frame.pixels
    if all_finite(pix):
        return frame
    count = int(np.count_nonzero(~np.isfinite(pix)))
    if count:
        pix = np.nan_to_num(pix, nan=0.0, posinf=HALF_MAX, neginf=-HALF_MAX)
        warn(f"frame {frame.number}: {count} NaN/Inf values replaced (NaN -> 0, Inf -> +-{HALF_MAX:g})")
        frame = frame.with_pixels(pix.astype(np.float32, copy=False))
    return frame


class Graph:
    def __init__(
        self,
        read: Callable[[int], Frame],
        runners: Sequence[NodeRunner],
        radii: Sequence[int],
        context: Sequence[int],
        warn: Callable[[str], None],
        prefetch: int = 1,
        cuts: Sequence[int] = (),
        detect_cuts: bool = True,
        spans: Sequence[int] = (),
        identity: Callable[[int], str | None] | None = None,
        store: AnalysisStore | None = None,
    ) -> None:
        self.read = read
        self.runners = list(runners)
        self.radii = list(radii)
        self.context = sorted(set(context))
        self._index = {n: i for i, n in enumerate(self.context)}
        self.cuts = set(cuts)
        self.detect_cuts = detect_cuts
        self._cut_cache: dict[tuple[int, int], bool] = {}
        self._signatures: dict[int, tuple[tuple[int, int], np.ndarray]] = {}
        self.spans = list(spans) or [0] * len(self.runners)
        self._stats: dict[tuple[int, int], Any] = {}  # (level, number) -> the level's runner's measure of input frame number
        self._left_out: set[int] = set()  # unreadable frames already reported as left out of an analysis
        self.identity, self.store = identity, store  # measurements kept beside the output (analysis_store)
        self._context_set = set(self.context)
        self.warn = warn
        self.prefetch = prefetch
        self.total_radius = sum(self.radii)
        self.cache: list[dict[int, Frame | Future[Frame]]] = [{} for _ in range(len(self.runners) + 1)]
        self.bad_inputs: dict[int, FrameReadError] = {}
        # (level, number) of frames computed from a window that left out an unreadable input
        self.incomplete: set[tuple[int, int]] = set()
        # the first node may take the frames as read (float16 from a half file: `Window`); others get float32
        self._held = bool(self.runners) and bool(getattr(self.runners[0], "reads_held", False))
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reelfix-read")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def seed(self, frame: Frame) -> None:
        """Hand over a source frame already read (the one the run read for metadata)."""
        self.cache[0][frame.number] = sanitise(frame, self.warn)

    def _read_sanitised(self, number: int) -> Frame:
        return sanitise(self.read(number), self.warn)

    def _submit_read(self, number: int) -> None:
        if number in self._context_set and number not in self.cache[0] and number not in self.bad_inputs:
            self.cache[0][number] = self._pool.submit(self._read_sanitised, number)

    def schedule(self, upcoming: Sequence[int]) -> None:
        """Start reading the source frames the next output frames will need."""
        for n in upcoming[: self.prefetch]:
            for m in range(n - self.total_radius, n + self.total_radius + 1):
                self._submit_read(m)

    def neighbours(self, level: int, number: int) -> list[int]:
        """Readable frames within +-radius of `number` in the same shot (windows stop at cuts)."""
        r = self.radii[level - 1]
        found = [number]
        for step in (-1, 1):
            prev = number
            i = self._index[number] + step
            while 0 <= i < len(self.context) and abs(self.context[i] - number) <= r:
                m = self.context[i]
                i += step
                if m in self.bad_inputs:
                    continue
                pair = (min(prev, m), max(prev, m))
                if self._is_cut(*pair):
                    break
                found.append(m)
                prev = m
        return sorted(n for n in found if n not in self.bad_inputs or n == number)

    def _is_cut(self, a: int, b: int) -> bool:
        """Whether a shot starts at b (b follows a): listed in the job, or found from the two pictures."""
        if b in self.cuts:
            return True
        if not self.detect_cuts:
            return False
        if (a, b) not in self._cut_cache:
            try:
                self._cut_cache[(a, b)] = signatures_cut(self._signature(a), self._signature(b))
            except FrameReadError:
                return False  # an unreadable frame is left out of windows anyway
        return self._cut_cache[(a, b)]

    def _signature(self, number: int) -> tuple[tuple[int, int], np.ndarray]:
        if number not in self._signatures:
            self._signatures[number] = signature(self._source(number))
        return self._signatures[number]

    def _measured(self, level: int, number: int) -> bool:
        """Measure input frame `number` for the node at `level` (reading it if it is not held,
        without keeping it); False when it cannot be read."""
        if (level, number) in self._stats:
            return True
        if number in self.bad_inputs:
            return False
        runner = self.runners[level - 1]
        kind = getattr(runner, "measure_kind", None)
        ident = self.identity(number) if self.store is not None and self.identity is not None and kind else None
        if ident is not None and self.store is not None:
            kept = self.store.load(ident, kind)
            if kept is not None and "thumb" in kept and "hw" in kept:
                self._stats[(level, number)] = runner.unpack(kept)  # type: ignore[attr-defined]
                hw = (int(kept["hw"][0]), int(kept["hw"][1]))
                self._signatures.setdefault(number, (hw, kept["thumb"]))
                return True
        try:
            if number in self.cache[0]:
                frame = self.get(0, number)
            else:  # read on the reading thread (decoders are not thread-safe), not kept
                frame = widened(self._pool.submit(self._read_sanitised, number).result())
        except FrameReadError as exc:
            self.bad_inputs[number] = exc
            self.cache[0].pop(number, None)
            return False
        self._signatures.setdefault(number, signature(frame))
        stats = runner.measure(frame)  # type: ignore[attr-defined]
        self._stats[(level, number)] = stats
        if ident is not None and self.store is not None:
            hw, thumb = self._signatures[number]
            self.store.save(ident, kind, {**runner.pack(stats), "hw": np.array(hw), "thumb": thumb})  # type: ignore[attr-defined]
        return True

    def analysis(self, level: int, number: int) -> Analysis:
        """The two segments of 2 x span frames (starting at multiples of span) that hold
        `number`, limited to its shot, with their blend weights, and the statistics of their frames."""
        span = self.spans[level - 1]
        k = number // span
        lo, hi = (k - 1) * span, (k + 2) * span
        shot = [number]
        for step in (-1, 1):
            prev = number
            i = self._index[number] + step
            while 0 <= i < len(self.context) and lo <= self.context[i] < hi:
                m = self.context[i]
                i += step
                if not self._measured(level, m):
                    if m not in self._left_out:  # once per frame, not once per frame that would have used it
                        self._left_out.add(m)
                        self.warn(f"input frame {m} is unreadable and was left out of the analysis of frames around it (from frame {number})")
                    self.incomplete.add((level, number))
                    continue
                if self._is_cut(min(prev, m), max(prev, m)):
                    break
                shot.append(m)
                prev = m
        shot.sort()
        upper = (number - k * span) / span  # weight of the later segment, [0, 1)
        segments = []
        for weight, start in ((1.0 - upper, (k - 1) * span), (upper, k * span)):
            if weight > 0:
                segments.append((weight, tuple(m for m in shot if start <= m < start + 2 * span)))
        return Analysis(tuple(segments), {m: self._stats[(level, m)] for m in shot})

    def _source(self, number: int) -> Frame:
        """The sanitised source frame `number` as read (float16 where the job reads half files so)."""
        cached = self.cache[0].get(number)
        if isinstance(cached, Frame):
            return cached
        if number in self.bad_inputs:
            raise self.bad_inputs[number]
        if cached is None:
            self._submit_read(number)
            cached = self.cache[0][number]
        try:
            frame = cached.result()
        except FrameReadError as exc:
            self.bad_inputs[number] = exc
            del self.cache[0][number]
            raise
        self.cache[0][number] = frame
        return frame

    def get(self, level: int, number: int) -> Frame:
        """The frame `number` after `level` nodes (level 0: the sanitised source frame, float32:
        one read as half is cast once, exactly, and kept so)."""
        if level == 0:
            frame = self._source(number)
            if frame.pixels.dtype == np.float16:
                frame = self.cache[0][number] = widened(frame)
            return frame
        cached = self.cache[level].get(number)
        if isinstance(cached, Frame):
            return cached
        below = self._source if level == 1 and self._held else lambda m: self.get(level - 1, m)
        frames: dict[int, Frame] = {}
        for m in self.neighbours(level, number):
            try:
                frames[m] = below(m)
            except FrameReadError:
                if m == number:
                    raise
                self.warn(f"frame {number}: neighbour {m} is unreadable and was left out of the window")
                self.incomplete.add((level, number))
        if number not in frames:
            frames[number] = below(number)
        analysis = None
        if self.spans[level - 1] > 0:
            self._measured(level, number)
            analysis = self.analysis(level, number)
        out = self.runners[level - 1].process(Window(number, frames, analysis))
        r = self.radii[level - 1]
        left_out = level == 1 and any(m in self.bad_inputs for m in range(number - r, number + r + 1))
        if left_out or any((level - 1, m) in self.incomplete for m in frames):
            self.incomplete.add((level, number))
        if level < len(self.runners):  # final frames go straight to the writer, never cached
            self.cache[level][number] = out
        return out

    def release_before(self, number: int) -> None:
        """Forget frames no later output can need (everything older than number - total radius)."""
        keep_from = number - self.total_radius
        for level_cache in self.cache:
            for m in [m for m in level_cache if m < keep_from]:
                del level_cache[m]
        stats_from = keep_from - 2 * max(self.spans, default=0)
        for key in [key for key in self._stats if key[1] < stats_from]:
            del self._stats[key]
        for m in [m for m in self._signatures if m < stats_from]:
            del self._signatures[m]


def run_frames(runners: Sequence[NodeRunner], radii: Sequence[int], spans: Sequence[int], frames: Sequence[Frame], warn: Callable[[str], None] = lambda m: None) -> list[Frame]:
    """A node chain over frames held in memory (tests, benchmarks, hosts' previews): the same
    windows, analysis segments and cut handling as a job."""
    by_number = {f.number: f for f in frames}
    graph = Graph(lambda n: by_number[n], runners, radii, sorted(by_number), warn, spans=spans)
    try:
        out = []
        for n in sorted(by_number):
            out.append(graph.get(len(runners), n))
            graph.release_before(n)
        return out
    finally:
        graph.close()
