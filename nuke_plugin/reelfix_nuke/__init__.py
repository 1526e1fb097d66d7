"""reelfix for Nuke: restoration nodes rendered by the reelfix core in its own process.

Stdlib only and Python 3.7 syntax (Nuke 13's Python). The pure logic (core discovery,
knobs from declarations, jobs and cache keys, progress) lives in modules that never import
`nuke`; the functions below import the Nuke side on first use, so `import reelfix_nuke`
is safe anywhere (`init.py`, `nuke -t`, tests without Nuke).

    register()              callbacks for every session (init.py calls it; no UI): nodes made
                            by an older plugin are upgraded when a script loads
    build_menu()            Nodes > Restore (menu.py calls it; GUI only)
    create(kind)            a Group for one node, or "pipeline"
    render_node(node)       the Render button
    send_to_farm(node)      the Send to farm button
    open_report(node)       the Open report button and Restore > Open report (the selected node)
    render_all(first, last) every reelfix node of the script, headless (`nuke -t`)
    switch_which(switch)    the internal Switch's expression (see state.py)
    refresh()               forget the cached node list and rebuild the menu
"""

from __future__ import annotations

from typing import Any, List, Optional

__version__ = "0.1.0"


def register() -> None:
    import nuke

    from . import state

    nuke.addOnScriptLoad(state.upgrade_script)


def build_menu() -> Any:
    from . import host

    return host.build_menu()


def refresh() -> Any:
    from . import host

    return host.refresh()


def create(kind: str) -> Any:
    from . import host

    return host.create(kind)


def render_node(node: Any = None) -> Any:
    from . import render

    return render.render_node(node)


def send_to_farm(node: Any = None) -> Optional[str]:
    from . import render

    return render.send_to_farm(node)


def open_report(node: Any = None) -> Any:
    from . import host

    return host.open_node_report(node)


def render_all(first: Optional[int] = None, last: Optional[int] = None) -> List[Any]:
    from . import render

    return render.render_all(first, last)


def switch_which(switch: Any) -> int:
    from . import state

    return state.switch_which(switch)
