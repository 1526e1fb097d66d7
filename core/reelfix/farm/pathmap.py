"""OpenJD path mapping (``pathmapping-1.0``) applied by reelfix itself: no openjd package needed.

A farm session hands each task a JSON file (``{{Session.PathMappingRulesFile}}``) that says where
the submitting machine's folders are on this worker. The format and the order of application
are those of the Open Job Description specification ("How Jobs Are Run", *Path Mapping*,
openjd-specifications wiki, 2023-09):

* ``{"version": "pathmapping-1.0", "path_mapping_rules": [{"source_path_format": "POSIX" |
  "WINDOWS", "source_path": ..., "destination_path": ...}, ...]}``; the file may hold the empty
  object ``{}`` (or an empty list) when there are no rules;
* "the path mapping rules that are supplied are applied in order of decreasing length of the
  source path, and processing stops for a particular value once a rule matches".

Details the specification leaves to the runtime follow openjd-sessions 0.13 (checked by
tests against it where it is installed): a source path matches whole path components only
(``/studio`` maps ``/studio/x`` but not ``/studiox``); a ``WINDOWS`` source compares components
case-insensitively (ASCII letters) and accepts ``\\`` or ``/`` in the path; the rest of the path
is joined to the destination with this machine's separator, and a trailing separator is kept.
Length is counted in path components (then characters). URI sources (an EXPR-extension
addition) are not part of ``pathmapping-1.0`` and are refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Any

from ..errors import UserError
from ..jobs.spec import Job
from .paths import with_paths

VERSION = "pathmapping-1.0"
FORMATS = ("POSIX", "WINDOWS")


@dataclass(frozen=True)
class Rule:
    """One path mapping rule: paths under `source` (in `source_format`) move to `destination`."""

    source_format: str
    source: str
    destination: str

    def _source_parts(self) -> tuple[str, ...]:
        return _parts(self.source, self.source_format)

    def apply(self, path: str) -> str | None:
        """`path` under this rule's destination, or None when the rule does not match."""
        parts = _parts(path, self.source_format)
        source = self._source_parts()
        if len(parts) < len(source):
            return None
        fold = _ascii_lower if self.source_format == "WINDOWS" else (lambda s: s)
        if any(fold(a) != fold(b) for a, b in zip(parts, source)):
            return None
        mapped = str(PurePath(self.destination, *parts[len(source):]))
        trailing = path.endswith("/") or (self.source_format == "WINDOWS" and path.endswith("\\"))
        return mapped + os.sep if trailing and not mapped.endswith(os.sep) else mapped


def _ascii_lower(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def _parts(path: str, fmt: str) -> tuple[str, ...]:
    return (PureWindowsPath(path) if fmt == "WINDOWS" else PurePosixPath(path)).parts


def parse_rules(data: Any, where: str) -> list[Rule]:
    """Rules from a parsed ``pathmapping-1.0`` document, in the order they are tried."""
    if not data:
        return []
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise UserError(f"{where}: not an OpenJD path mapping file (version {VERSION})")
    entries = data.get("path_mapping_rules") or []
    if not isinstance(entries, list):
        raise UserError(f"{where}: path_mapping_rules must be a list")
    rules = []
    for i, entry in enumerate(entries):
        keys = {"source_path_format", "source_path", "destination_path"}
        if not isinstance(entry, dict) or set(entry) != keys or not all(isinstance(entry[k], str) for k in keys):
            raise UserError(f"{where}: path_mapping_rules[{i}] needs exactly the strings {sorted(keys)}, got {entry!r}")
        fmt = entry["source_path_format"].upper()
        if fmt not in FORMATS:
            raise UserError(f"{where}: path_mapping_rules[{i}]: source_path_format must be POSIX or WINDOWS, got {entry['source_path_format']!r}")
        if not entry["source_path"] or not entry["destination_path"]:
            raise UserError(f"{where}: path_mapping_rules[{i}]: empty source_path or destination_path")
        rules.append(Rule(fmt, entry["source_path"], entry["destination_path"]))
    # longest source first; sorted() is stable, so equal lengths keep the file's order
    return sorted(rules, key=lambda r: (-len(r._source_parts()), -len(r.source)))


def load_rules(path: str | Path) -> list[Rule]:
    """The rules of a path mapping file (``{}`` or an empty list: none)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read path mapping rules {path}: {exc}", hint="pass the session's {{Session.PathMappingRulesFile}}") from None
    return parse_rules(data, str(path))


def map_path(path: str, rules: list[Rule]) -> str:
    """`path` with the first matching rule applied (unchanged when none matches)."""
    for rule in rules:
        mapped = rule.apply(path)
        if mapped is not None:
            return mapped
    return path


def map_job(job: Job, rules: list[Rule]) -> Job:
    """The job with every path in it mapped: input, output, mattes and the node parameters that
    name files (models). The job hash ignores folders, so frames written before and after
    mapping still resume."""
    if not rules:
        return job
    return with_paths(job, lambda p: map_path(p, rules))
