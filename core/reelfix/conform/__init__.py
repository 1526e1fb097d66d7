"""Timeline conform through OpenTimelineIO: restore the clips of an edit, write an edit that uses them.

    reelfix conform EDIT.otio -p PIPELINE.yaml -o OUT_DIR [--handles 8] [--farm openjd]

* `pipeline_file` - the pipeline file: a job without input/output (`pipeline`, `colorspace`, `output`);
* `media`         - what a clip's media reference points at; OTIO time <-> core frame numbers;
* `plan`          - used frames per clip (+handles, clamped), merged per source into spans;
* `relink`        - restored clips get `ImageSequenceReference`s in the same media time (same cut);
* `run`           - the whole conform: plan, restore each span once (here or farm job files), relink, write.

Works with any editor that writes OTIO, Resolve's free version included (see docs/resolve.md).
"""

from .pipeline_file import PipelineFile, load_pipeline_file, pipeline_from_data
from .run import ConformReport, conform, iter_lines

__all__ = ["ConformReport", "PipelineFile", "conform", "iter_lines", "load_pipeline_file", "pipeline_from_data"]
