"""The documentation builds with warnings as errors (README "Documentation"; CI runs it through pytest).

One Sphinx HTML build of ``docs/`` into a temporary folder (notebooks are rendered, not executed;
≈ 20–40 s on the 2-core machine). It is the README command with one difference: the ``docutils``
warnings that ``docs/conf.py`` suppresses are switched back on here, and each of them must be one of
the known docstring slips in ``KNOWN_DOCSTRING_SLIPS`` (to be fixed by the modules' owners, then
removed from the list). Every other warning fails: broken cross-references, toctree and include
errors, duplicate object descriptions, modules that fail to import, MyST and notebook problems.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# (object whose docstring it is, start of the docutils message). Known, rendered acceptably.
KNOWN_DOCSTRING_SLIPS: set = set()  # the three found by the first build were fixed

_MESSAGE = re.compile(r"^(?P<where>.*?):? ?(?P<level>WARNING|ERROR|CRITICAL|SEVERE): (?P<text>.*)$")
_DOCSTRING = re.compile(r"docstring of (?P<obj>[\w.]+)")


def _messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if _MESSAGE.match(line)]


def _known(line: str) -> bool:
    m = _MESSAGE.match(line)
    d = _DOCSTRING.search(m["where"])
    return bool(d) and any(
        d["obj"] == obj and m["text"].startswith(text) for obj, text in KNOWN_DOCSTRING_SLIPS
    )


def test_docs_build_with_warnings_as_errors(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_nb")
    pytest.importorskip("numpydoc")
    cmd = [
        sys.executable, "-m", "sphinx", "-W", "--keep-going", "-j", "1", "-q", "-b", "html",
        "-D", "suppress_warnings=",  # conf.py's docutils suppression off: checked against the list
        "-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(tmp_path / "html"),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    messages = _messages(proc.stderr)
    unexpected = [line for line in messages if not _known(line)]
    assert not unexpected, "Sphinx warnings (README 'Documentation'):\n" + "\n".join(unexpected)
    # exit 1 only from the known docstring slips; anything else (a crash, exit 2) fails with stderr
    assert proc.returncode == 0 or (proc.returncode == 1 and messages), proc.stderr[-4000:]
    assert (tmp_path / "html" / "index.html").is_file()
    api = tmp_path / "html" / "_autosummary"
    for module in ("perovskite_tb.gfactor", "perovskite_tb.model", "kp.confinement"):
        assert (api / f"{module}.html").is_file(), f"API page of {module} missing"
    assert sorted(p.stem for p in (tmp_path / "html" / "notebooks").glob("*.html")) == sorted(
        p.stem for p in (ROOT / "notebooks").glob("*.ipynb")
    )
