"""The bad-input corpus (issue 13): every case ends in one clean error line, never a traceback or a number.

In-process through :func:`perovskite_tb.app.cli.main` (fast); the memory cases run in a child process with a
4 GB address-space limit, so a run that allocated before checking would die there instead of passing.
``python tests/corpus/run.py`` prints the same outcome counts per class.
"""

from __future__ import annotations

import pytest

from corpus.bad_inputs import all_cases, materialise
from corpus.run import classify, run_one
from perovskite_tb.app.cli import main

CASES = all_cases()


def test_the_corpus_is_large_and_covers_every_class():
    assert len(CASES) >= 170
    assert {c.cls for c in CASES} >= {"param", "edges", "memory", "args", "mismatch", "files"}


@pytest.mark.parametrize("case", [c for c in CASES if not c.subprocess], ids=lambda c: f"{c.cls}:{c.name}")
def test_bad_input_gives_one_clean_error_line(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = materialise(case, tmp_path)
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    assert classify(case, rc, out, err) == "error", err
    assert out == ""


@pytest.mark.parametrize("case", [c for c in CASES if c.subprocess], ids=lambda c: f"{c.cls}:{c.name}")
def test_oversized_runs_are_refused_before_allocating(case):
    _, kind, tail = run_one(case, None)
    assert kind == "error", tail
