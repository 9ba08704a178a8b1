"""CLI, run-file and job surfaces of the exciton physics (issue 20 items 1–3, 5, 8).

Small NCs only (≤ 3 cells per edge here): the CI basis of N = 4 doublets on a 3-cell cube takes seconds.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from exciton_helpers import cli_error_line

from perovskite_tb.observables.excitons import DEFAULT_DOUBLETS

from perovskite_tb.app.cli import main
from perovskite_tb.app.store.io import open_results, read_rows
from perovskite_tb.app.store.results import EXCITON_OBSERVABLES

NC3 = ("nc", "--material", "CsPbBr3", "--n-cells", "3", "3", "3", "--json")
FINE = ("exciton_bright_dark_meV", "exciton_bright_splittings_meV", "exciton_bright_axes", "radiative_lifetime_ps",
        "g_X_bright")
COMPLEXES = ("trion_negative_binding_meV", "trion_positive_binding_meV", "biexciton_binding_meV")


def _json(capsys, argv) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def cube_excitons():
    """``nc --excitons --ci-levels 4`` of a 3-cell CsPbBr3 cube (run once)."""
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main([*NC3, "--excitons", "--ci-levels", "4"]) == 0
    return json.loads(buf.getvalue())


def test_nc_excitons_keys_units_and_cube_degeneracy(cube_excitons):
    d = cube_excitons
    for k in FINE + COMPLEXES + ("screening", "ci_levels"):
        assert k in d, k
    assert d["screening"] == "epsilon-inf" and d["ci_levels"] == 4
    assert math.isfinite(d["exciton_bright_dark_meV"]) and d["exciton_bright_dark_meV"] > 0  # dark below, meV
    s = d["exciton_bright_splittings_meV"]
    assert len(s) == 3 and min(s) == 0.0 and max(s) <= 1e-6  # cube: degenerate bright triplet (meV)
    axes = np.array(d["exciton_bright_axes"])
    assert axes.shape == (3, 3) and np.allclose(np.linalg.norm(axes, axis=1), 1.0)
    assert np.allclose(np.abs(axes @ axes.T), np.eye(3), atol=1e-6)
    tau = d["radiative_lifetime_ps"]
    assert len(tau) == 3 and all(10.0 < t < 1e6 for t in tau)  # ps: ns scale
    assert math.isfinite(d["g_X_bright"]) and abs(d["g_X_bright"] - (d["g_e"] + d["g_h"])) < 0.5
    for k in COMPLEXES:  # meV, tens of meV at 1.8 nm
        assert math.isfinite(d[k]) and abs(d[k]) < 500.0


def test_nc_excitons_default_basis_has_no_complexes(capsys):
    d = _json(capsys, ("nc", "--material", "CsPbBr3", "--n-cells", "2", "2", "2", "--json", "--excitons", "--ci-levels",
                       "1"))
    assert d["ci_levels"] == 1 and "biexciton_binding_meV" in d
    d = _json(capsys, (*NC3, "--excitons"))  # 2-cell cubes hold too few levels for N = 4
    assert d["ci_levels"] == DEFAULT_DOUBLETS == 8 and d["screening"] == "epsilon-inf"
    assert all(k in d for k in FINE) and not any(k in d for k in COMPLEXES)


def test_nc_without_excitons_has_no_exciton_keys(capsys):
    d = _json(capsys, ("nc", "--material", "CsPbBr3", "--n-cells", "2", "2", "2", "--json"))
    for k in FINE + COMPLEXES + ("screening", "ci_levels"):
        assert k not in d, k
    assert "g_X" in d and "coulomb_eV" in d  # the other observables stay


def test_nc_excitons_screening_of_cspbi3(capsys):
    d = _json(capsys, ("nc", "--material", "CsPbI3", "--n-cells", "2", "2", "2", "--json", "--excitons", "--ci-levels",
                       "1", "--screening", "epsilon-0"))
    assert d["screening"] == "epsilon-0" and math.isfinite(d["biexciton_binding_meV"])


@pytest.mark.parametrize("argv, needle", [
    (("--excitons", "--ci-levels", "0"), "0"),
    (("--excitons", "--ci-levels", "13"), "13"),
    (("--excitons", "--screening", "rpa"), "rpa"),
    (("--screening", "epsilon-inf"), "--excitons"),
    (("--ci-levels", "4"), "--excitons"),
])
def test_nc_excitons_bad_input_one_line(capsys, argv, needle):
    argv = ["nc", "--material", "CsPbBr3", "--n-cells", "2", "2", "2", "--json", *argv]
    assert needle in cli_error_line(capsys, argv)


@pytest.mark.parametrize("screening, needle", [("epsilon-0", "eps_static"), ("polaron", "MISSING")])
def test_nc_excitons_missing_constant_one_line(capsys, screening, needle):
    """CsPbCl3 has no sourced ε_s / LO frequency (parameters/excitons.toml): refused before the solve."""
    err = cli_error_line(capsys, ["nc", "--material", "CsPbCl3", "--n-cells", "2", "2", "2", "--json", "--excitons",
                                  "--screening", screening])
    assert needle in err and "CsPbCl3" in err


RUN = """output = "r.h5"
[axes]
material = ["CsPbBr3"]
n_cells = [2]
temperature_K = 0.0
[options]
%s
"""


def test_run_file_excitons_stores_the_columns_and_resume_checks_them(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.toml").write_text(RUN % "excitons = true\nci_levels = 1")
    assert main(["sweep", "r.toml"]) == 0
    with open_results(tmp_path / "r.h5") as f:
        d = read_rows(f, "etb")
    for k in EXCITON_OBSERVABLES:
        assert np.isfinite(np.asarray(d[k], float)).all(), k
    capsys.readouterr()
    (tmp_path / "r.toml").write_text(RUN % "excitons = true\nci_levels = 1\nscreening = \"epsilon-inf\"")
    assert main(["sweep", "r.toml"]) == 0  # same model: resumes
    assert "0 points computed" in capsys.readouterr().out
    (tmp_path / "r.toml").write_text(RUN % "excitons = true\nci_levels = 2")
    assert main(["sweep", "r.toml"]) == 2
    assert "ci_levels" in capsys.readouterr().err


def test_run_file_without_excitons_leaves_nan(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.toml").write_text(RUN % "")
    assert main(["sweep", "r.toml"]) == 0
    with open_results(tmp_path / "r.h5") as f:
        d = read_rows(f, "etb")
    for k in EXCITON_OBSERVABLES:
        assert np.isnan(np.asarray(d[k], float)).all(), k


def test_run_file_excitons_fine_structure_without_complexes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.toml").write_text((RUN % "excitons = true").replace("n_cells = [2]", "n_cells = [3]"))
    assert main(["sweep", "r.toml"]) == 0
    with open_results(tmp_path / "r.h5") as f:
        d = read_rows(f, "etb")
    assert np.isfinite(d["exciton_bright_dark"]).all() and np.isnan(d["biexciton_binding"]).all()


def test_quick_excitons_job_writes_three_files_and_resumes(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["excitons", "--quick", "--no-progress"]
    assert main(argv) == 0
    assert "(3 points computed)" in capsys.readouterr().out
    for name in ("excitons.h5", "excitons.png", "excitons.md"):
        assert (tmp_path / name).stat().st_size > 0, name
    with open_results(tmp_path / "excitons.h5") as f:
        d = read_rows(f, "etb")
    assert len(d["material"]) == 3 and np.isfinite(np.asarray(d["biexciton_binding"], float)).all()
    md = (tmp_path / "excitons.md").read_text()
    assert "epsilon-inf" in md and "Amara" in md and "not confirmed" in md
    assert main(argv) == 0  # resume: nothing recomputed
    assert "(0 points computed)" in capsys.readouterr().out


def test_excitons_job_empirical_law_and_units():
    from perovskite_tb.app.jobs.excitons import empirical_binding_meV, exciton_units

    # binding = −(A + B/L²): trion 10 + 780/L², biexciton 16.5 + 1370/L² (meV, L in nm)
    assert empirical_binding_meV("trion", 10.0) == pytest.approx(17.8)
    assert empirical_binding_meV("biexciton", 10.0) == pytest.approx(30.2)
    Ry, aB = exciton_units("CsPbBr3")
    assert 5.0 < Ry < 100.0 and 1.0 < aB < 10.0  # meV, nm
