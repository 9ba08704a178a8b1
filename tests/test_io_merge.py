"""Rows of another parameter file or another run file aimed at an existing output: refused or kept apart."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest

from perovskite_tb.app.cli import main
from perovskite_tb.app.store.export import load_results

ROOT = Path(__file__).resolve().parents[1]
SET = ROOT / "parameters" / "CsPbI3.nestoklon2021-sp3.etb.toml"


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_curve_refuses_rows_of_another_file_with_the_same_set_name(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b, c = tmp_path / "a" / "p.etb.toml", tmp_path / "b" / "p.etb.toml", tmp_path / "c.etb.toml"
    a.write_text(SET.read_text())
    text = SET.read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("E_p_Pb"))
    val = line.split("value = ")[1].split(",")[0]
    c.write_text(text.replace(line, line.replace(f"value = {val}", f"value = {float(val) + 0.05!r}")))
    common = ("--n-cells", "2", "-o", "c.h5", "--plot", "none", "--no-progress")
    rc, _, err = _run(capsys, "curve", "--parameter-set", str(a), *common)
    assert rc == 0, err
    before = (tmp_path / "c.h5").read_bytes()
    rc, out, err = _run(capsys, "curve", "--parameter-set", str(c), "--n-cells", "3", *common[2:])
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "another parameter file" in err and "nestoklon2021-sp3" in err and "SHA-256" in err
    assert (tmp_path / "c.h5").read_bytes() == before  # refused before the file was opened for writing
    # an identical copy at another path (same SHA-256) merges: its rows are the same physics
    b.write_text(a.read_text())
    rc, _, err = _run(capsys, "curve", "--parameter-set", str(b), "--n-cells", "3", *common[2:])
    assert rc == 0, err
    assert len(load_results(tmp_path / "c.h5")) == 2


RUN = """output = "{out}"
[axes]
parameter_set = ["nestoklon2021-sp3"]
model = ["etb"]
n_cells = {sizes}
temperature_K = [6.0]
[execution]
workers = 1
"""


def test_a_second_run_file_on_one_output_keeps_both_provenances(tmp_path, capsys):
    r1, r2 = tmp_path / "r1.toml", tmp_path / "r2.toml"
    out = tmp_path / "s.h5"
    r1.write_text(RUN.format(out=out, sizes="[2]"))
    r2.write_text(RUN.format(out=out, sizes="[2, 3]") + "# the second run\n")
    for r in (r1, r2):
        rc, _, err = _run(capsys, "sweep", str(r), "--no-progress")
        assert rc == 0, err
    with h5py.File(out) as f:
        hist = json.loads(f.attrs["provenance_history_json"])
        assert f.attrs["run_file_text"] == r2.read_text()
    assert [h["run_text"] for h in hist] == [r1.read_text(), r2.read_text()]
    assert [h["rows_before"] for h in hist] == [{}, {"etb": 1}]
    assert hist[0]["run_sha256"] != hist[1]["run_sha256"] and all(h["time"] for h in hist)
    assert len(load_results(out)) == 2


def test_sweep_refuses_a_changed_parameter_file_under_the_same_label(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = tmp_path / "p.etb.toml"
    p.write_text(SET.read_text())
    run = tmp_path / "r.toml"
    run.write_text(RUN.format(out="s.h5", sizes="[2]").replace('"nestoklon2021-sp3"', '"p.etb.toml"'))
    rc, _, err = _run(capsys, "sweep", str(run), "--no-progress")
    assert rc == 0, err
    p.write_text(SET.read_text().replace("[meta]", "[meta]\n", 1) + "\n")
    rc, out, err = _run(capsys, "sweep", str(run), "--no-progress")
    assert rc == 2 and "changed since the file was written" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("garbage", [b"", b"not hdf5 at all\n" * 10])
def test_export_and_resume_of_a_non_hdf5_file_are_one_line(tmp_path, capsys, garbage):
    q = tmp_path / "x.h5"
    q.write_bytes(garbage)
    for argv in (("export", str(q), "--csv"), ("export", str(q), "--csv", "--salvage")):
        rc, out, err = _run(capsys, *argv)
        assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    run = tmp_path / "r.toml"
    run.write_text(RUN.format(out=q, sizes="[2]"))
    rc, out, err = _run(capsys, "sweep", str(run), "--no-progress")
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert q.read_bytes() == garbage
