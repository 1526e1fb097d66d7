"""Run reelfix commands as after `make install` (base + farm extra): the packages only the
convert/train/dev extras bring cannot be imported. Used by test_readme.py in a child process:

    python tests/reliability/no_extras.py '[["nodes"], ["models", "list"]]'

prints one JSON list: for each command its exit code, output, and the traceback if one escaped."""

from __future__ import annotations

import importlib.abc
import json
import sys
import traceback

BLOCKED = {"torch", "torchvision", "spandrel", "onnx2torch", "onnxscript", "safetensors", "einops", "ncnn", "psutil",
           "pytest", "hypothesis", "mypy", "vermin"}


class Blocker(importlib.abc.MetaPathFinder):
    """Makes the dev-only packages absent, as in a plain install."""

    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        if fullname.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named '{fullname}'", name=fullname)
        return None


def main() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in BLOCKED:
            del sys.modules[name]
    sys.meta_path.insert(0, Blocker())
    from typer.testing import CliRunner

    from reelfix.cli import app

    results = []
    for args in json.loads(sys.argv[1]):
        r = CliRunner().invoke(app, args)
        escaped = r.exception is not None and not isinstance(r.exception, SystemExit)
        tb = "".join(traceback.format_exception(*r.exc_info)) if escaped and r.exc_info else ""
        results.append({"args": args, "code": r.exit_code, "output": r.output, "traceback": tb})
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()
