"""Refresh the bundled node declarations (used only when the core cannot be run).

    python3 nuke_plugin/tools/update_snapshot.py [path/to/reelfix]

Run it with REELFIX_PLUGINS unset so only the core's own nodes are bundled.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

SNAPSHOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reelfix_nuke", "nodes_snapshot.json")


def main() -> int:
    binary = sys.argv[1] if len(sys.argv) > 1 else (os.environ.get("REELFIX_BIN") or shutil.which("reelfix") or "")
    if not binary:
        print("give the reelfix executable: update_snapshot.py /path/to/venv/bin/reelfix", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env.pop("REELFIX_PLUGINS", None)
    data = json.loads(subprocess.run([binary, "nodes", "--json"], check=True, stdout=subprocess.PIPE, env=env).stdout)
    with open(SNAPSHOT, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    print("{} node(s) written to {}".format(len(data), SNAPSHOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
