"""Review reports: a self-contained HTML page per run (before/after wipes through an OCIO view,
curves of luminance, repairs and weave, mattes, provenance), written while the job runs
(`ReportCollector` as the pipeline's frame observer, then `write_report`) or afterwards from a
run's manifest (`report_from_manifest`)."""

from __future__ import annotations

from .build import load_manifest, write_report
from .collect import ReportCollector, plan_previews
from .from_manifest import report_from_manifest

__all__ = ["ReportCollector", "load_manifest", "plan_previews", "report_from_manifest", "write_report"]
