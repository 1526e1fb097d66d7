"""A stand-in for the `reelfix` executable (fast, no pixels): the commands the Resolve adapter uses.

    check-pipeline FILE --json     echo the (JSON) pipeline with output defaults
    nodes --json                   one node declaration
    run JOB --progress json        touch each output frame, one JSON progress line per frame on stderr
    farm KIND JOB --chunk N -o T   write T
    report MANIFEST -o FOLDER      write FOLDER/index.html (exit 2 when neither MANIFEST nor its farm chunks exist)

Like the real core, `run` resumes: a frame whose output exists is skipped (status "skipped").
FAKE_REELFIX_LOG (a file) records every command line; FAKE_REELFIX_ENV (a file) records, per call,
whether PYTHONHOME/PYTHONPATH reached it and whether its stdin is /dev/null; FAKE_REELFIX_FAIL=N fails frame N.
"""

import glob
import json
import os
import stat
import sys


def _stdin_is_devnull():
    try:
        here, null = os.fstat(0), os.stat(os.devnull)
    except OSError:
        return True  # closed
    return stat.S_ISCHR(here.st_mode) and here.st_rdev == null.st_rdev


def main(argv):
    log = os.environ.get("FAKE_REELFIX_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write(json.dumps(argv) + "\n")
    env_log = os.environ.get("FAKE_REELFIX_ENV")
    if env_log:
        with open(env_log, "a") as fh:
            seen = {k: os.environ[k] for k in ("PYTHONHOME", "PYTHONPATH") if k in os.environ}
            fh.write(json.dumps({"cmd": argv[0], "env": seen, "stdin_devnull": _stdin_is_devnull()}) + "\n")
    cmd = argv[0]
    if cmd == "check-pipeline":
        with open(argv[1]) as fh:
            data = json.load(fh)
        data.setdefault("output", {}).setdefault("format", "exr")
        print(json.dumps(data))
        return 0
    if cmd == "nodes":
        print(json.dumps([{"name": "upscale", "label": "Upscale", "help": "Super-resolution", "params": [
            {"name": "scale", "type": "int", "default": 2, "help": "factor", "choices": [2, 3, 4]},
            {"name": "model", "type": "str", "default": "", "help": "model"}]}]))
        return 0
    if cmd == "farm":
        target = argv[argv.index("-o") + 1]
        with open(os.path.join(target, "job.txt") if os.path.isdir(target) else target, "w") as fh:
            fh.write("farm " + argv[1])
        return 0
    if cmd == "run":
        with open(argv[1]) as fh:
            job = json.load(fh)
        first, last = (int(x) for x in job["input"]["frames"].split("-"))
        out = job["output"]["path"]
        os.makedirs(os.path.dirname(out), exist_ok=True)
        fail = int(os.environ.get("FAKE_REELFIX_FAIL", "-999999"))
        total, failed = last - first + 1, 0
        for i, n in enumerate(range(first, last + 1)):
            path = out.replace("####", "%04d" % n)
            status = "failed" if n == fail else ("skipped" if os.path.exists(path) else "done")
            if status == "done":
                with open(path, "w") as fh:
                    fh.write(job["input"]["path"] + "#" + str(n))
            elif status == "failed":
                failed += 1
            event = {"event": "frame", "frame": n, "status": status, "done": i + 1, "total": total, "path": path}
            if failed and n == fail:
                event["error"] = "cannot read frame %d" % n
            sys.stderr.write(json.dumps(event) + "\n")
        manifest = os.path.join(os.path.dirname(out), os.path.basename(out).split("#")[0].rstrip("._-") + ".reelfix.json")
        with open(manifest, "w") as fh:
            json.dump({"job": job}, fh)
        print("reelfix: %d done" % (total - failed))
        print("manifest: " + manifest)
        return 1 if failed else 0
    if cmd == "report":  # the real one: the page of MANIFEST (or of its farm chunks NAME.reelfix.*.json) into -o FOLDER
        manifest, folder = argv[1], argv[argv.index("-o") + 1]
        chunks = glob.glob(glob.escape(manifest[: -len(".json")]) + ".*.json")
        if not os.path.isfile(manifest) and not chunks:
            sys.stderr.write("error: manifest %s does not exist\n" % manifest)
            return 2
        if not os.path.isdir(folder):
            os.makedirs(folder)
        page = os.path.join(folder, "index.html")
        with open(page, "w") as fh:
            fh.write("<title>reelfix review</title>" + " ".join(sorted([manifest] + chunks)))
        print("report: " + page)
        return 0
    sys.stderr.write("fake reelfix: unknown command %r\n" % cmd)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
