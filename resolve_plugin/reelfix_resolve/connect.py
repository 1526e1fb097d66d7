"""Reaching a running Resolve from outside (automation): `DaVinciResolveScript.scriptapp("Resolve")`.

The module lives in `$RESOLVE_SCRIPT_API/Modules` and loads `$RESOLVE_SCRIPT_LIB`
(fusionscript); both get the per-OS defaults from Resolve's scripting README when unset.
`scriptapp` returns None when Resolve is not running, when external scripting is off
(Preferences > System > General > External scripting using), or (by default, see
`conventions.free_external_scripting`) in the free version, which only runs scripts from
its own Workspace > Scripts menu.
"""

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any, List, Mapping, MutableMapping, Optional, Tuple

from .conventions import Conventions

if TYPE_CHECKING:
    from fusionscript import Resolve

DEFAULTS = {  # (RESOLVE_SCRIPT_API, RESOLVE_SCRIPT_LIB) per OS
    "darwin": ("/Library/Application Support/Blackmagic Design/DaVinci Resolve/Developer/Scripting",
               "/Applications/DaVinci Resolve/DaVinci Resolve.app/Contents/Libraries/Fusion/fusionscript.so"),
    "win32": (r"%PROGRAMDATA%\Blackmagic Design\DaVinci Resolve\Support\Developer\Scripting",
              r"C:\Program Files\Blackmagic Design\DaVinci Resolve\fusionscript.dll"),
    "linux": ("/opt/resolve/Developer/Scripting", "/opt/resolve/libs/Fusion/fusionscript.so"),
}


class Unreachable(Exception):
    """Resolve cannot be reached; `reasons` lists what to check."""

    def __init__(self, summary: str, reasons: List[str]) -> None:
        self.summary, self.reasons = summary, reasons
        super(Unreachable, self).__init__(summary + "".join("\n  - " + r for r in reasons))


def _os_key(platform: str) -> str:
    return "win32" if platform.startswith("win") else ("darwin" if platform == "darwin" else "linux")


def script_paths(environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None) -> Tuple[str, str]:
    """(RESOLVE_SCRIPT_API, RESOLVE_SCRIPT_LIB): the environment's, else the OS default."""
    env = os.environ if environ is None else environ
    api, lib = DEFAULTS[_os_key(platform or sys.platform)]
    api = env.get("RESOLVE_SCRIPT_API") or os.path.expandvars(api)
    lib = env.get("RESOLVE_SCRIPT_LIB") or lib
    return api, lib


def import_dvr(environ: Optional[MutableMapping[str, str]] = None) -> Any:
    """The DaVinciResolveScript module (its folder is added to sys.path when needed)."""
    env = os.environ if environ is None else environ
    try:
        return importlib.import_module("DaVinciResolveScript")
    except ImportError:
        pass
    api, lib = script_paths(env)
    env.setdefault("RESOLVE_SCRIPT_API", api)
    env.setdefault("RESOLVE_SCRIPT_LIB", lib)
    modules = os.path.join(api, "Modules")
    if modules not in sys.path:
        sys.path.append(modules)
    try:
        return importlib.import_module("DaVinciResolveScript")
    except ImportError as exc:
        raise Unreachable("cannot load Resolve's scripting module DaVinciResolveScript", [
            "looked in {} and on PYTHONPATH ({})".format(modules, exc),
            "is DaVinci Resolve installed here? set RESOLVE_SCRIPT_API to its Developer/Scripting folder",
            "and RESOLVE_SCRIPT_LIB to its fusionscript library ({})".format(lib),
        ])


def unreachable_reasons(conv: Conventions) -> List[str]:
    reasons = [
        "Resolve is not running (start it first; render nodes can run `resolve -nogui`)",
        "external scripting is off: Preferences > System > General > External scripting using: Local",
    ]
    if not conv.free_external_scripting:
        reasons.append("external scripting (a Python process outside Resolve, like this one) needs DaVinci Resolve Studio; "
                       "the free version only runs scripts from its own menu: use Workspace > Scripts > reelfix Restore "
                       "there, or the OTIO route: File > Export > Timeline (.otio), then `reelfix conform EDIT.otio -p "
                       "PIPELINE -o OUT_DIR`, then File > Import > Timeline with OUT_DIR/EDIT.restored.otio "
                       "(docs/resolve.md, Route 2)")
    return reasons


def connect(conv: Conventions, dvr: Any = None) -> "Resolve":
    """The running Resolve; Unreachable with the reasons to check when it does not answer."""
    module = dvr if dvr is not None else import_dvr()
    try:
        resolve = module.scriptapp("Resolve")
    except Exception as exc:  # noqa: BLE001 - fusionscript raises anything when its library is missing
        raise Unreachable("DaVinciResolveScript.scriptapp failed: {}".format(exc), unreachable_reasons(conv))
    if resolve is None:
        raise Unreachable('DaVinciResolveScript.scriptapp("Resolve") returned None', unreachable_reasons(conv))
    return resolve  # type: ignore[no-any-return]
