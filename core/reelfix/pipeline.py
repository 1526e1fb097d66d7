"""Running a job: frames in, nodes in order, frames out, nothing lost.

Reads are prefetched (see graph.py) and writes happen behind compute on a writer thread.
Every frame is written atomically with its provenance in the header; a rerun skips the
frames already finished by the same job; a frame that fails is named with its reason and
the others still finish (unless fail_fast); a manifest beside the output records it all.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable

from . import __version__, buffers, colour, faults
import numpy as np

from .errors import FrameReadError, JobError, ProcessingError, ReelfixError
from .frames.frame import Frame, all_finite, picture_indices
from .frames.half import exact_half
from .frames.image_io import write_image
from .frames.sequence import SequencePattern, find_gaps, format_ranges, parse_frame_range
from .frames.sink import FrameSink, open_sink
from .frames.source import FrameSource, SequenceSource, open_source
from .analysis_store import FOLDER as ANALYSIS_FOLDER
from .analysis_store import AnalysisStore
from .graph import Graph
from .jobs.manifest import manifest_path, update_manifest
from .jobs.provenance import frame_attributes, job_hash
from .jobs.spec import Job
from .nodes import get_node
from .output_colour import output_colorspace
from .nodes.spec import NodeContext, NodeRunner
from .runtime.cpu_runtime import runtime_record
from .safety import check_outputs

log = logging.getLogger(__name__)
MAX_PENDING_WRITES = 2
BUFFER_SHARE = 4  # at most this share of the job's memory budget is kept mapped for reuse (buffers.py)


@dataclass
class FrameResult:
    number: int
    status: str  # done | skipped | failed
    path: str
    seconds: float = 0.0
    error: str = ""
    info: dict[str, Any] = field(default_factory=dict)  # what nodes reported (e.g. a deflicker curve)

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "path": self.path, "seconds": round(self.seconds, 4)} | self.info
        return out | ({"error": self.error} if self.error else {})


@dataclass
class RunSummary:
    results: list[FrameResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    manifest: str = ""
    providers: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[FrameResult]:
        return [r for r in self.results if r.status == "failed"]

    def line(self) -> str:
        return f"{self.count('done')} done, {self.count('skipped')} skipped, {self.count('failed')} failed in {self.seconds:.1f}s"


ProgressFn = Callable[[FrameResult, int, int], None]
FrameObserver = Callable[[int, Frame, Frame], None]  # (number, input frame, output frame) as each passes (a review report)


def build_runners(job: Job, ctx: NodeContext) -> tuple[list[NodeRunner], list[int], list[int]]:
    """(runners, radii, spans) of the job's nodes, in order."""
    runners, radii, spans = [], [], []
    changes_brightness: str | None = None
    for i, entry in enumerate(job.pipeline):
        spec = get_node(entry.node, f"pipeline[{i}]")
        params = spec.validate(entry.params, f"pipeline[{i}] ({entry.node})")
        span = int(spec.span(params))
        if span > 0 and changes_brightness:
            raise JobError(
                f"pipeline[{i}] ({entry.node}): it measures brightness on the input frames, so it cannot follow {changes_brightness}, "
                "which changes brightness",
                hint=f"put '{entry.node}' before {changes_brightness} in the pipeline",
            )
        if not spec.keeps_brightness and changes_brightness is None:
            changes_brightness = f"pipeline[{i}] ({entry.node})"
        runners.append(spec.factory(params, ctx))
        radii.append(int(spec.radius(params)))
        spans.append(span)
    return runners, radii, spans


def input_frames(job: Job, source: FrameSource, where: str = "input") -> tuple[list[int], list[int]]:
    """(requested, context): the job's input range, and those of its frames that exist (what nodes may read)."""
    available = source.numbers
    requested = parse_frame_range(job.input.frames) if job.input.frames else list(available)
    avail_set = set(available)
    context = [n for n in requested if n in avail_set]
    if not context:
        raise JobError(
            f"{where} {source.display}: none of the frames {job.input.frames or ''} exist",
            hint=f"frames found: {format_ranges(available) or 'none'}",
        )
    return requested, context


def _frames_to_render(job: Job, source: FrameSource, frames: str | None, warn: Callable[[str], None]) -> tuple[list[int], list[int], list[int]]:
    """(render, context, missing): the frames to write, the input frames nodes may read, the requested frames absent."""
    requested, context = input_frames(job, source)
    avail_set = set(source.numbers)
    gaps = find_gaps(context)
    if gaps:
        warn(f"input {source.display}: gaps in the sequence: " + ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in gaps))
    render_req = parse_frame_range(frames) if frames else requested
    outside = [n for n in render_req if n not in set(requested)]
    if outside:
        raise JobError(f"--frames {frames}: frames {format_ranges(outside)} are outside the job's input range {job.input.frames}")
    missing = [n for n in render_req if n not in avail_set]
    return [n for n in render_req if n in avail_set], context, missing


def run_job(
    job: Job,
    *,
    frames: str | None = None,
    resume: bool = True,
    fail_fast: bool = False,
    progress: ProgressFn | None = None,
    warn: Callable[[str], None] | None = None,
    observer: FrameObserver | None = None,
    manifest_per_chunk: bool = False,
) -> RunSummary:
    """Run `job`; `frames` restricts the frames written (a farm chunk) while neighbours
    still come from the whole input range. Raises UserError for bad jobs before any work.
    Large arrays use ordinary pages while it runs (`buffers.small_pages`: measured)."""
    with buffers.small_pages():
        return _run_job(job, frames, resume, fail_fast, progress, warn, observer, manifest_per_chunk)


def _run_job(
    job: Job,
    frames: str | None,
    resume: bool,
    fail_fast: bool,
    progress: ProgressFn | None,
    warn: Callable[[str], None] | None,
    observer: FrameObserver | None,
    manifest_per_chunk: bool,
) -> RunSummary:
    summary = RunSummary()
    started = time.perf_counter()

    def _warn(message: str) -> None:
        summary.warnings.append(message)
        log.warning(message)
        if warn:
            warn(message)

    check_outputs(job)  # before anything is written: never over a source
    buffers.set_limit(job.max_memory_bytes // BUFFER_SHARE)  # frame-sized arrays kept for reuse (buffers.py)
    ctx = NodeContext(device=job.device, max_memory=job.max_memory_bytes, warn=_warn)
    source = open_source(job.input.path, job.input.colorspace)
    try:
        render, context, missing = _frames_to_render(job, source, frames, _warn)
        first = _first_readable(source, render + context)
        in_space = colour.canonical_name(job.input.colorspace) if job.input.colorspace else colour.default_colorspace(job.input.path, first.metadata)
        if not job.input.colorspace and job.input.path.lower().endswith((".dpx", ".cin")):  # scans: log or not, the header often cannot say
            _warn(f"input {job.input.path}: no colour space given, so '{in_space}' was assumed from the file (DPX transfer: "
                  f"{first.metadata.get('dpx:Transfer') or 'not set'}); for log scans set input.colorspace or --in-colorspace "
                  "(e.g. ADX10 for Cineon/printing-density log)")
        written = output_colorspace(job.output.path, in_space, job.output.colorspace, job.output.bit_depth)
        out_space = written.name
        if written.reason:  # a display-referred file from a scene-linear/log input (output_colour.py)
            _warn(written.reason)
        fps = _fps(source, first)
        runners, radii, spans = build_runners(job, ctx)  # a bad model or parameter stops the job before the output folder exists
        sink = open_sink(
            job.output.path,
            compression=job.output.compression,
            bit_depth=job.output.bit_depth,
            fps=fps,
            timecode=first.metadata.get("smpte:TimeCode") if isinstance(first.metadata.get("smpte:TimeCode"), str) else None,
        )
        chain = [r.provenance() for r in runners]
        summary.providers = sorted({str(c.get("provider")) for c in chain if c.get("provider")})
        jhash = job_hash(job, chain, in_space, out_space)

        held = bool(getattr(runners[0], "reads_held", False)) and isinstance(source, SequenceSource)  # half files' frames as half: `Window`
        size = (first.width, first.height, first.number)  # not `first` itself: it is not kept for the whole job

        def read(number: int) -> Frame:
            faults.point("read", number)
            f = source.read(number, keep_half=True) if held else source.read(number)  # type: ignore[call-arg]
            if (f.width, f.height) != size[:2]:  # one bad size must not stop a shot's temporal nodes
                path = source.pattern.path_for(number) if isinstance(source, SequenceSource) else source.display
                raise FrameReadError(
                    path, f"it is {f.width}x{f.height}, the sequence's frames are {size[0]}x{size[1]} (frame {size[2]})",
                    hint="re-render or re-scan it at the sequence's size, or restore it in a job of its own",
                )
            f.colorspace = in_space
            return f

        store = AnalysisStore(manifest_path(job.output.path).parent / ANALYSIS_FOLDER, f"{__version__}|{in_space}") if any(spans) else None
        identity = getattr(source, "identity", None)
        graph = Graph(
            read, runners, radii, context, _warn, cuts=job.input.cuts, detect_cuts=job.input.detect_cuts, spans=spans,
            identity=identity, store=store,
        )  # fmt: skip
        first.colorspace = in_space
        half = exact_half(first.pixels) if held and first.metadata.get("reelfix:pixel_type") == "half" else None
        graph.seed(first if half is None else first.with_pixels(half))
        del first, half
        for n in missing:
            summary.results.append(FrameResult(n, "failed", sink.path_for(n), error=f"input frame {n} is missing ({source.display})"))
        try:
            _render(job, sink, graph, render, summary, jhash, chain, in_space, out_space, resume, fail_fast, progress, len(render) + len(missing), observer, _warn)
        finally:
            graph.close()
    finally:
        source.close()
        buffers.release_idle()  # the memory kept for the next frame goes back
    summary.seconds = time.perf_counter() - started
    mpath = manifest_path(job.output.path, frames if manifest_per_chunk else None)
    run_info = {
        "job": job.model_dump(mode="json"),
        "job_hash": jhash,
        "version": __version__,
        "runtime": runtime_record(),  # the CPU runtime choice (ONNX Runtime/OpenVINO), why, and versions
        "chain": chain,
        "colorspaces": {"input": in_space, "output": out_space} | ({"output_default": written.reason} if written.reason else {}),
        "frames_requested": frames or job.input.frames or "all",
        "summary": {"done": summary.count("done"), "skipped": summary.count("skipped"), "failed": summary.count("failed")},
        "seconds": round(summary.seconds, 3),
        "warnings": summary.warnings[-200:],
    }
    update_manifest(mpath, run_info, {r.number: r.record() for r in summary.results})
    summary.manifest = str(mpath)
    return summary


def _first_readable(source: FrameSource, numbers: list[int]) -> Frame:
    """The first frame that reads, for the input's metadata; a damaged first frame is not fatal."""
    error: FrameReadError | None = None
    for n in numbers:
        try:
            return source.read(n)
        except FrameReadError as exc:
            error = error or exc
    if error is None:
        raise JobError(f"input {source.display}: no frames to process")
    raise error


def _check_finite(frame: Frame, job: Job) -> None:
    """Inputs are cleaned of NaN/Inf when read, so any in a result came from a node or its model
    (an fp16 overflow, a broken model): that frame fails, nothing of it is written."""
    if all_finite(frame.pixels):
        return
    bad = int(np.count_nonzero(~np.isfinite(frame.pixels)))
    models = sorted({str(e.params["model"]) for e in job.pipeline if e.params.get("model")})
    raise ProcessingError(
        f"frame {frame.number}: the pipeline ({' -> '.join(e.node for e in job.pipeline)}) produced {bad} NaN/Inf values; nothing was written for it",
        hint=f"a model that outputs NaN/Inf{' (' + ', '.join(models) + ')' if models else ''} is broken or overflowed: try its fp32 version, another model or device",
    )


def _fill(done: Future[None], fn: Callable[[], None], ended: Callable[[BaseException | None], None]) -> None:
    """Run `fn()` on the writer's thread, tell `ended` its outcome (None: it worked), then mark
    `done` (set by the writer, so a frame it wrote is known to be written and reported whatever
    interrupted the main thread; whoever waits on `done` finds it reported). Nothing runs for a
    `done` cancelled before the writer took it."""
    if not done.set_running_or_notify_cancel():
        return
    outcome: BaseException | None = None
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - the outcome goes to `ended`
        outcome = exc
    try:
        ended(outcome)
    finally:
        done.set_result(None)  # whatever `ended` did, nobody waits on this frame for ever


def _to_space(frame: Frame, dst: str) -> Frame:
    """The frame's picture channels converted to `dst` (alpha and extra channels untouched)."""
    idx = picture_indices(frame.channels)
    pix = frame.pixels.copy()
    pix[:, :, idx] = colour.convert(np.ascontiguousarray(pix[:, :, idx]), frame.colorspace, dst)
    return frame.with_pixels(pix, colorspace=dst)


def _write_mattes(pattern: SequencePattern, frame: Frame, attrs: dict[str, str]) -> None:
    """One EXR per frame with a channel per repair node (what it changed); black when none did."""
    names = tuple(sorted(frame.mattes)) or ("none",)
    pix = np.zeros((frame.height, frame.width, len(names)), np.float32)
    for i, name in enumerate(names):
        if name in frame.mattes:
            pix[:, :, i] = frame.mattes[name]
    matte = Frame(pix, names, "", frame.number, {})
    write_image(pattern.path_for(frame.number), matte, compression="zip", attributes=attrs)


def _fps(source: FrameSource, first: Frame) -> Fraction:
    fps = getattr(source, "fps", None) or first.metadata.get("FramesPerSecond")
    try:
        return Fraction(fps).limit_denominator(1001) if fps else Fraction(24)
    except (TypeError, ValueError):
        return Fraction(24)


def _render(
    job: Job,
    sink: FrameSink,
    graph: Graph,
    render: list[int],
    summary: RunSummary,
    jhash: str,
    chain: list[dict[str, Any]],
    in_space: str,
    out_space: str,
    resume: bool,
    fail_fast: bool,
    progress: ProgressFn | None,
    total: int,
    observer: FrameObserver | None = None,
    warn: Callable[[str], None] = log.warning,
) -> None:
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reelfix-write")
    # A frame's write is listed here before it is handed to the writer, with a future the writer
    # fills: an interrupt (Ctrl-C, a host's Cancel) at any point of the hand-over leaves a frame either
    # listed and written (then reported) or never handed over (its future is cancelled, nothing reported).
    # A frame is reported as its write ends, from the writer's thread (a host's progress and a farm's
    # log see each frame when its file is in place, not once the next frame has been computed).
    pending: list[Future[None]] = []
    reporting = threading.Lock()  # the main thread reports skipped and failed frames, the writer written ones
    broken: list[Exception] = []  # what a progress callback raised on the writer's thread

    def report(result: FrameResult) -> None:
        with reporting:
            summary.results.append(result)
            if progress:
                progress(result, len(summary.results), total)

    def written(exc: BaseException | None, result: FrameResult, t0: float) -> None:
        if exc is None:
            result.status = "done"
        elif isinstance(exc, ReelfixError):
            result.status, result.error = "failed", str(exc)
        else:  # a frame's failure must not stop the others
            result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
        result.seconds = time.perf_counter() - t0
        try:
            report(result)
        except Exception as err:  # noqa: BLE001 - a failing progress callback: raised on the main thread, as it was there
            broken.append(err)

    def collect(block_until: int) -> None:
        """Wait until at most `block_until` writes are unfinished (the writer reports each one)."""
        while len(pending) > block_until:
            wait(pending[:1])  # done: written (or failed) and reported; cancelled: never handed over
            pending.pop(0)
        if broken:
            raise broken[0]

    def hand_over(frame: Frame, attrs: dict[str, str], result: FrameResult, t0: float) -> None:
        done: Future[None] = Future()
        pending.append(done)
        writer.submit(_fill, done, lambda: write(frame, attrs), lambda exc: written(exc, result, t0))

    mattes = SequencePattern.parse(job.output.mattes) if job.output.mattes else None

    def write(frame: Frame, attrs: dict[str, str]) -> None:
        if mattes is not None:
            _write_mattes(mattes, frame, attrs)
        if out_space != in_space:
            frame = _to_space(frame, out_space)
        sink.write(frame, attrs)

    aborted = False
    try:
        todo = []
        for n in render:
            if resume and sink.resumable and sink.finished(n, jhash):
                report(FrameResult(n, "skipped", sink.path_for(n)))
            else:
                todo.append(n)
        for i, n in enumerate(todo):
            t0 = time.perf_counter()
            graph.schedule(todo[i + 1 :])
            result = FrameResult(n, "failed", sink.path_for(n))
            try:
                frame = graph.get(len(graph.runners), n)
                faults.point("node", n)
                _check_finite(frame, job)
            except Exception as exc:  # noqa: BLE001 - a frame's failure is named; the others go on
                result.error = str(exc) if isinstance(exc, ReelfixError) else f"{type(exc).__name__}: {exc}"
                result.seconds = time.perf_counter() - t0
                if not isinstance(exc, ReelfixError):  # a bug: its traceback with -v (for a report), never on the terminal by default
                    log.info("frame %s failed", n, exc_info=True)
                report(result)
                if fail_fast or not sink.resumable:
                    aborted = True
                    break
                continue
            attrs = frame_attributes(
                job_hash_value=jhash, chain=chain, source=job.input.path, number=n, in_space=in_space, out_space=out_space
            )
            if (len(graph.runners), n) in graph.incomplete:
                # made without an unreadable neighbour: not this job's frame, so a rerun redoes it
                attrs["reelfix:job_hash"] = "incomplete-window"
            result.info = {k: v for k, v in frame.metadata.items() if k.startswith("reelfix:")}
            if observer is not None:
                try:
                    observer(n, graph.get(0, n), frame)
                except Exception as exc:  # noqa: BLE001 - an observer (the report) never costs a frame
                    warn(f"frame observer stopped at frame {n}: {type(exc).__name__}: {exc}")
                    observer = None
            hand_over(frame, attrs, result, t0)
            del frame
            graph.release_before(n + 1)
            collect(MAX_PENDING_WRITES - 1)
            if fail_fast and summary.failed:
                aborted = True
                break
        collect(0)
        if summary.failed and not sink.resumable:
            aborted = True
    finally:
        writer.shutdown(wait=True)  # every write handed over ends (and is reported); one interrupted before it was handed over never starts
        for fut in pending:
            fut.cancel()  # only a future the writer never took is still pending: not reported
        pending.clear()
        if aborted and not sink.resumable:
            sink.abort()
        else:
            sink.close()
