"""Render-farm jobs: a reelfix job split into frame chunks for the farm a studio already has.

Every farm task runs the same command, ``reelfix run JOB --frames A-B``: it writes frames
A..B and reads the neighbours its temporal nodes need from the whole input range, so a farm
render is identical, bit for bit, to one local run; frames are written atomically and a
rerun skips finished frames, so retries (and two workers given the same chunk) are safe.

* `prepare`: the job checked for farm use, its frames, the farm job file, the executable;
* `paths`: every path inside a job (input, output, mattes, node files such as models);
* `pathmap`: OpenJD ``pathmapping-1.0`` rules applied to those paths (no openjd package needed);
* `openjd`: Open Job Description templates (Deadline Cloud, ``openjd run``);
* `bundle`: what a Deadline Cloud job bundle declares for job attachments;
* `deadline`: Deadline 10 job files (the Reelfix plugin or the stock CommandLine plugin) and submission.

OpenCue, Tractor and other schedulers wrap the same chunk command (docs/farm.md).
"""

from __future__ import annotations

from .prepare import FarmJob, contiguous_runs, prepare, range_expression

__all__ = ["FarmJob", "contiguous_runs", "prepare", "range_expression"]
