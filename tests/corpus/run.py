"""Run the bad-input corpus through the real CLI in subprocesses and count outcomes by class.

``python tests/corpus/run.py [--pythonpath DIR] [--cases-from DIR]`` prints a table: per class the number
of cases that gave a clean one-line error, a traceback, silent acceptance (exit 0), a vague or
multi-line message, or a memory runaway (killed at the 4 GB address-space limit or the 120 s timeout).
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from corpus.bad_inputs import all_cases, materialise  # noqa: E402

LIMIT = 4 * 1024**3


def _limit():  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def classify(case, rc, out, err) -> str:
    """One of: error, traceback, silent, vague, runaway."""
    if rc is None or "MemoryError" in err or rc < 0:
        return "runaway"
    if "Traceback" in err:
        return "traceback"
    if rc == 0:
        return "silent"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if rc == 2 and len(lines) == 1 and lines[0].startswith("perovskite-tb: error:") and \
            all(m in lines[0] for m in case.must_mention) and len(lines[0]) < 400:
        return "error"
    return "vague"


def run_one(case, pythonpath):
    with tempfile.TemporaryDirectory() as d:
        argv = materialise(case, Path(d))
        env = dict(os.environ, PYTHONPATH=pythonpath) if pythonpath else dict(os.environ)
        try:
            r = subprocess.run([sys.executable, "-m", "perovskite_tb", *argv], capture_output=True, text=True,
                               timeout=120, preexec_fn=_limit, env=env, cwd=d)
            return case, classify(case, r.returncode, r.stdout, r.stderr), r.stderr.strip()[-300:]
        except subprocess.TimeoutExpired:
            return case, "runaway", "timeout"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pythonpath", default=None)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()
    counts = collections.defaultdict(collections.Counter)
    with ThreadPoolExecutor(a.jobs) as ex:
        for case, kind, tail in ex.map(lambda c: run_one(c, a.pythonpath), all_cases()):
            counts[case.cls][kind] += 1
            if a.v and kind != "error":
                print(f"{case.cls:8s} {case.name:30s} {kind:9s} {tail!r}", flush=True)
    kinds = ("error", "traceback", "silent", "vague", "runaway")
    print("| class | cases | " + " | ".join(kinds) + " |")
    print("|---|---|" + "---|" * len(kinds))
    tot = collections.Counter()
    for cls, c in sorted(counts.items()):
        tot.update(c)
        print(f"| {cls} | {sum(c.values())} | " + " | ".join(str(c[k]) for k in kinds) + " |")
    print(f"| all | {sum(tot.values())} | " + " | ".join(str(tot[k]) for k in kinds) + " |")


if __name__ == "__main__":
    main()
