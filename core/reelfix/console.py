"""Terminal output for the CLI: a rich progress bar on a terminal, plain log lines otherwise
(farm logs), the run summary, and error messages without tracebacks."""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .errors import ReelfixError
from .pipeline import FrameResult, ProgressFn, RunSummary

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def error(exc: ReelfixError) -> None:
    err.print(f"[bold red]error:[/] {escape(exc.message)}", markup=True, soft_wrap=True)  # paths and hints may hold [brackets]
    if exc.hint:
        err.print(f"  -> {exc.hint}", markup=False, soft_wrap=True)


def warning(message: str) -> None:
    err.print(f"[yellow]warning:[/] {message}" if err.is_terminal else f"warning: {message}", soft_wrap=True)


PROGRESS_STYLES = ("auto", "bar", "plain", "json", "openjd")


def _json_lines(label: str) -> ProgressFn:
    """One JSON object per frame on stderr, for host adapters (Nuke, Resolve) to parse."""

    def emit(result: FrameResult, done: int, total: int) -> None:
        record = {"event": "frame", "frame": result.number, "status": result.status, "done": done, "total": total,
                  "path": result.path, "seconds": round(result.seconds, 3)}
        if result.error:
            record["error"] = result.error
        print(json.dumps(record), file=sys.stderr, flush=True)

    return emit


def _openjd_lines(label: str) -> ProgressFn:
    """`openjd_progress:` / `openjd_status:` lines on stdout, read by the OpenJD runtime and Deadline Cloud."""

    def emit(result: FrameResult, done: int, total: int) -> None:
        print(f"openjd_status: {label}: frame {result.number} {result.status}", flush=True)
        print(f"openjd_progress: {100.0 * done / max(total, 1):.1f}", flush=True)
        if result.error:
            print(f"frame {result.number} failed: {result.error}", file=sys.stderr, flush=True)

    return emit


@contextmanager
def progress_reporter(label: str, style: str = "auto") -> Iterator[ProgressFn]:
    """A progress callback: a live bar with frames/s and ETA on a terminal, else one line per
    frame; `json` and `openjd` give machine-readable lines for hosts and farms."""
    if style == "json":
        yield _json_lines(label)
    elif style == "openjd":
        yield _openjd_lines(label)
    elif style == "bar" or (style == "auto" and err.is_terminal):
        bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
        )
        task = bar.add_task(label, total=None, rate="")
        started = time.perf_counter()

        def update(result: FrameResult, done: int, total: int) -> None:
            rate = done / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=done, total=total, rate=f"{rate:.2f} frames/s")
            if result.status == "failed":
                bar.console.print(f"[red]failed[/] frame {result.number}: {result.error}", soft_wrap=True)

        with bar:
            yield update
    else:
        started = time.perf_counter()

        def line(result: FrameResult, done: int, total: int) -> None:
            elapsed = time.perf_counter() - started
            rate = done / max(elapsed, 1e-9)
            eta = (total - done) / rate if rate > 0 else 0.0
            text = f"{label}: frame {result.number} {result.status} ({done}/{total}, {rate:.2f} frames/s, ETA {eta:.0f}s)"
            if result.error:
                text += f": {result.error}"
            print(text, file=sys.stderr, flush=True)

        yield line


def summary_event(summary: RunSummary) -> None:
    """The closing JSON line of `--progress json`: counts, providers, manifest, failures."""
    record = {
        "event": "summary",
        "done": summary.count("done"),
        "skipped": summary.count("skipped"),
        "failed": [{"frame": r.number, "path": r.path, "error": r.error} for r in summary.failed],
        "providers": summary.providers,
        "manifest": summary.manifest,
        "seconds": round(summary.seconds, 3),
    }
    print(json.dumps(record), file=sys.stderr, flush=True)


def print_summary(summary: RunSummary) -> None:
    out.print(f"reelfix: {summary.line()}; provider: {', '.join(summary.providers) or 'none'}")
    for r in summary.failed:
        out.print(f"  failed frame {r.number} -> {r.path}: {r.error}", soft_wrap=True, markup=False)
    out.print(f"manifest: {summary.manifest}", soft_wrap=True, markup=False)
