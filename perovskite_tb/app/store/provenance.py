"""Provenance of result files: package and library versions, and the history of the runs that wrote a file.

Every writer session (:class:`perovskite_tb.app.store.io.ResultWriter`) appends one entry to the root
attribute ``provenance_history_json`` (a JSON list): UTC time, kind, package version, ``git
describe``, the SHA-256 of the run (its run-file text, else its resolved run TOML or job
configuration), the text itself the first time that SHA-256 appears, and the complete rows per model
group before the session. The root attributes ``run_toml``, ``run_file_text`` … describe the latest
run; ``created`` stays the first run's time and ``modified`` is the latest.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import subprocess
from pathlib import Path

import h5py
import numba
import numpy as np
import scipy

from perovskite_tb import __version__

__all__ = ["provenance", "history"]


def _git_describe() -> str:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                             text=True, cwd=Path(__file__).parent, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    return out or "unknown"


def provenance() -> dict:
    """Package version, git describe, library versions and creation time (strings)."""
    return {
        "package_version": __version__, "git_describe": _git_describe(),
        "numpy_version": np.__version__, "scipy_version": scipy.__version__,
        "numba_version": numba.__version__, "h5py_version": h5py.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _run_sha(a) -> tuple[str, str]:
    """(SHA-256, text) of the run that wrote root attributes ``a``: its run file, else its resolved inputs."""
    text = str(a.get("run_file_text") or a.get("run_toml") or a.get("config_json") or "")
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(), text


def history(f, new: dict) -> list:
    """Provenance history: one entry per writer session (time, versions, run SHA-256, rows before it).

    The text of a run file is kept in the first entry with its SHA-256, so a different run file aimed
    at the same output adds an entry and loses nothing. A file written before the history existed gets
    an entry for its recorded run first.
    """
    old = dict(f.attrs)
    hist = json.loads(old.get("provenance_history_json", "[]"))
    if not hist and ("run_toml" in old or "config_json" in old):
        hist.append(_entry(old, old.get("created", ""), None))
    rows = {m: int(f[m]["rows"].attrs.get("n_complete", 0)) for m in f
            if isinstance(f[m], h5py.Group) and "rows" in f[m]}
    entry = _entry(new, new["modified"], rows)
    if entry["run_sha256"] in {e.get("run_sha256") for e in hist}:
        entry.pop("run_text", None)
    return [*hist, entry]


def _entry(a, time, rows) -> dict:
    sha, text = _run_sha(a)
    e = {"time": str(time), "kind": str(a.get("kind", "")), "package_version": str(a.get("package_version", "")),
         "git_describe": str(a.get("git_describe", "")), "run_sha256": sha, "run_text": text}
    if rows is not None:
        e["rows_before"] = rows
    return e
