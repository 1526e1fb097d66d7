"""Automation: `python -m reelfix_resolve restore ...` against a running Resolve (Studio's external
scripting), the same work as the menu script without dialogs, a summary line per clip.

Exit codes: 0 done (skipped clips are listed), 1 some clips failed, 2 nothing could start
(Resolve unreachable, no reelfix core, bad pipeline or options).
"""

import argparse
import json
import sys
from typing import Any, List, Optional

from . import connect, conventions, core, restore

COLORS = ("Orange", "Apricot", "Yellow", "Lime", "Olive", "Green", "Teal", "Navy", "Blue", "Purple", "Violet", "Pink",
          "Tan", "Beige", "Brown", "Chocolate")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reelfix_resolve", description="reelfix for DaVinci Resolve (automation)")
    sub = parser.add_subparsers(dest="command")
    r = sub.add_parser("restore", help="restore clips of a timeline and add the results as takes")
    r.add_argument("--clip-color", choices=COLORS, help="clips with this clip colour")
    r.add_argument("--track", type=int, help="clips on this video track (1 = V1)")
    r.add_argument("--marks", action="store_true", help="clips between the timeline's in and out marks")
    r.add_argument("--pipeline", "-p", required=True, help="pipeline file (.yaml or .json; read by the core)")
    r.add_argument("--handles", type=int, default=8, help="extra frames each side, clamped to the media (default 8)")
    r.add_argument("--as", dest="mode", choices=("take", "track"), default="take",
                   help="take: add as a take and select it (default); track: place on a new track above")
    r.add_argument("--timeline", help="timeline name (default: the current timeline)")
    r.add_argument("--out", help="folder for restored media and jobs (default: ~/reelfix/resolve/<project>)")
    r.add_argument("--farm", choices=("openjd", "deadline"), help="write farm jobs instead of restoring here")
    r.add_argument("--chunk", type=int, default=10, help="frames per farm task (default 10)")
    r.add_argument("--reelfix", help="the reelfix executable (default: config.json, REELFIX_BIN, PATH)")
    r.add_argument("--convention", action="append", default=[], metavar="NAME=VALUE",
                   help="override an unverified Resolve convention (see `conventions`)")
    c = sub.add_parser("conventions", help="print the Resolve conventions in force, as JSON")
    c.add_argument("--convention", action="append", default=[], metavar="NAME=VALUE")
    return parser


def _err(text: str) -> None:
    sys.stderr.write("reelfix_resolve: " + text + "\n")


def main(argv: Optional[List[str]] = None, resolve: Any = None, dvr: Any = None) -> int:
    """Run the command line; `resolve`/`dvr` replace the real connection (tests)."""
    args = _parser().parse_args(argv)
    if not args.command:
        _parser().print_help()
        return 2
    config = core.read_config()
    try:
        conv = conventions.load(config, assignments=args.convention)
    except conventions.ConventionError as exc:
        _err(str(exc))
        return 2
    if args.command == "conventions":
        print(json.dumps(conv.as_dict(), indent=2, sort_keys=True))
        return 0
    try:
        options = restore.Options(args.pipeline, args.clip_color, args.track, args.marks, args.handles, args.mode,
                                  args.timeline, args.out, args.farm, args.chunk)
        app = resolve if resolve is not None else connect.connect(conv, dvr)
        reelfix = args.reelfix or core.find_reelfix(config)
        reports = restore.restore(app, options, conv, reelfix, config=config)
    except connect.Unreachable as exc:
        _err("cannot reach DaVinci Resolve: " + str(exc))
        return 2
    except (core.CoreError, restore.RestoreError) as exc:
        _err(str(exc))
        return 2
    if not reports:
        print("no clips matched")
    for report in reports:
        print(report.line())
    return 1 if any(r.status == "failed" for r in reports) else 0
