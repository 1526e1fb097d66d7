"""The Workspace > Scripts > reelfix Restore entry: ask, restore, report.

Resolve runs menu scripts with `resolve`, `fusion` and `bmd` in their globals; the script
passes its globals here. The UIManager dialog is used when `fusion.UIManager` exists,
console prompts (Workspace > Console) otherwise.
"""

import os
from typing import Any, Dict, List, Optional

from . import conventions, core, dialog, restore


def _app(namespace: Dict[str, Any]) -> Any:
    app = namespace.get("resolve")
    bmd = namespace.get("bmd")
    if app is None and bmd is not None:
        app = bmd.scriptapp("Resolve")
    return app


def main(namespace: Dict[str, Any], ask: Any = None) -> Optional[List[restore.ClipReport]]:
    """Run the menu entry; returns the clip reports (None when it stopped early)."""
    app, fusion, bmd = _app(namespace), namespace.get("fusion"), namespace.get("bmd")
    use_ui = ask is None and fusion is not None and bmd is not None and getattr(fusion, "UIManager", None) is not None
    say = restore.Reporter()
    if app is None:
        say.message("this script runs from DaVinci Resolve's Workspace > Scripts menu")
        return None
    config = core.read_config()
    try:
        conv = conventions.load(config)
        reelfix = core.find_reelfix(config)
        nodes = core.list_nodes(reelfix)
        answers = dialog.ui_answers(fusion, bmd, nodes) if use_ui else dialog.console_answers(nodes, ask)
        if not answers:
            return None
        project = app.GetProjectManager().GetCurrentProject()
        if not project:
            raise restore.RestoreError("no project is open")
        out_dir = restore.default_out_dir(project, config)
        options = dialog.options_from_answers(answers, nodes, os.path.join(out_dir, "pipelines"))
        options.out_dir = out_dir
        reporter = dialog.UIReporter(fusion, bmd) if use_ui else say
        try:
            reports = restore.restore(app, options, conv, reelfix, reporter, config)
        finally:
            if isinstance(reporter, dialog.UIReporter):
                reporter.close()
    except (core.CoreError, restore.RestoreError, conventions.ConventionError) as exc:
        say.message("stopped: {}".format(exc))
        return None
    for report in reports:
        say.message(report.line())
    if not reports:
        say.message("no clips matched")
    return reports
