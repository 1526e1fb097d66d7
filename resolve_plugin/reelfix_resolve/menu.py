"""The Workspace > Scripts > reelfix Restore entry: ask, restore, report.

Resolve runs menu scripts with `resolve`, `fusion` and `bmd` in their globals; the script
passes its globals here. The UIManager dialog is used when `fusion.UIManager` exists (Studio,
and the free version before 19.1); the free version 19.1+ has none and its Console gives a
script no stdin, so there the options come from a settings file (`settings`), with a message
saying where. Whatever happens, the script ends with a message, never a traceback.
"""

import os
from typing import Any, Dict, List, Optional

from . import conventions, core, dialog, restore, settings


def _app(namespace: Dict[str, Any]) -> Any:
    app = namespace.get("resolve")
    bmd = namespace.get("bmd")
    if app is None and bmd is not None:
        app = bmd.scriptapp("Resolve")
    return app


def _script_dir(namespace: Dict[str, Any]) -> str:
    here = namespace.get("__file__")
    return os.path.dirname(os.path.abspath(str(here))) if here else ""


def main(namespace: Dict[str, Any]) -> Optional[List[restore.ClipReport]]:
    """Run the menu entry; returns the clip reports (None when it stopped early)."""
    say = restore.Reporter()
    try:
        return _main(namespace, say)
    except settings.SettingsMissing as exc:
        say.message(str(exc))
    except (core.CoreError, restore.RestoreError, conventions.ConventionError) as exc:
        say.message("stopped: {}".format(exc))
    except Exception as exc:  # noqa: BLE001 - a menu script must end with a message, not a traceback
        say.message("stopped on an unexpected error ({}: {}); please report it with this line".format(type(exc).__name__, exc))
    return None


def _main(namespace: Dict[str, Any], say: restore.Reporter) -> Optional[List[restore.ClipReport]]:
    app, fusion, bmd = _app(namespace), namespace.get("fusion"), namespace.get("bmd")
    use_ui = fusion is not None and bmd is not None and getattr(fusion, "UIManager", None) is not None
    if app is None:
        say.message("this script runs from DaVinci Resolve's Workspace > Scripts menu")
        return None
    config = core.read_config()
    conv = conventions.load(config)
    reelfix = core.find_reelfix(config)
    nodes = core.list_nodes(reelfix)
    if use_ui:
        answers = dialog.ui_answers(fusion, bmd, nodes)
        if not answers:
            return None
        settings.save_last_used(answers)
    else:
        answers, where = settings.load(_script_dir(namespace))
        say.message("no dialog in this Resolve (the free version has no UIManager): options from {} "
                    "(edit that file to change them)".format(where))
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
    for report in reports:
        say.message(report.line())
    if not reports:
        say.message("no clips matched")
    return reports
