"""After a farm run each task wrote its own manifest (`NAME.reelfix.FRAMES.json`) and there is no
`NAME.reelfix.json`: the report of the job's manifest merges the chunks (every frame, every run)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from reelfix.jobs.load import job_from_data
from reelfix.pipeline import run_job
from reelfix.report.merge import chunk_manifests, read_manifest
from tests.report.conftest import reelfix
from tests.report.test_report import dustbust_job

CHUNKS = ("1-2", "3-4", "5-6")


def test_three_chunk_manifests_make_one_report_with_every_frame(tmp_path: Path) -> None:
    data = dustbust_job(tmp_path, range(1, 7))
    job = job_from_data(data, "test")
    for chunk in CHUNKS:  # what the OpenJD tasks run: --frames A-B --manifest-per-chunk
        assert run_job(job, frames=chunk, manifest_per_chunk=True).count("done") == 2
    out = tmp_path / "out"
    manifest = out / "pan.reelfix.json"
    assert not manifest.exists() and sorted(p.name for p in chunk_manifests(manifest)) == [f"pan.reelfix.{c}.json" for c in CHUNKS]
    (out / "pan.reelfix.json.lock").write_text("")  # lock files and other outputs' manifests are not chunks
    (out / "other.reelfix.1-2.json").write_text(json.dumps({"frames": {"99": {"status": "done"}}, "runs": [{}]}))

    merged = read_manifest(manifest)
    assert sorted(int(n) for n in merged["frames"]) == [1, 2, 3, 4, 5, 6]
    assert merged["summary"] == {"done": 6} and len(merged["runs"]) == 3
    assert [r["frames_requested"] for r in merged["runs"]] == list(CHUNKS)

    r = reelfix("report", str(manifest), "-o", str(tmp_path / "review"), env={"REELFIX_HOME": str(tmp_path / "home")})
    assert r.returncode == 0, r.stdout + r.stderr
    page = (tmp_path / "review" / "index.html").read_text()
    shown = sorted({int(m) for m in re.findall(r"assets/(\d+)_before\.jpg", page)})
    assert shown == [1, 2, 3, 4, 5, 6]
    report = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page).group(1))
    assert [p["frame"] for p in report["shots"][0]["previews"]] == [1, 2, 3, 4, 5, 6]


def test_a_job_manifest_beside_its_chunks_is_merged_and_a_later_run_wins(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()

    def write(name: str, frames: dict, finished: str) -> None:
        runs = [{"finished": finished, "chain": [], "frames_requested": name}]
        (out / name).write_text(json.dumps({"frames": frames, "runs": runs, "job": {"n": finished}, "job_hash": finished}))

    write("a.reelfix.json", {"1": {"status": "failed"}, "2": {"status": "done"}}, "2026-01-01T10:00:00")
    write("a.reelfix.1-1.json", {"1": {"status": "done"}}, "2026-01-01T11:00:00")
    merged = read_manifest(out / "a.reelfix.json")
    assert merged["frames"] == {"1": {"status": "done"}, "2": {"status": "done"}}
    assert merged["job_hash"] == "2026-01-01T11:00:00" and [r["frames_requested"] for r in merged["runs"]] == ["a.reelfix.json", "a.reelfix.1-1.json"]
    assert read_manifest(out / "a.reelfix.1-1.json")["frames"] == {"1": {"status": "done"}}  # a chunk's own manifest: as it is
