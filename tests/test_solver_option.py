"""--solver / [execution].solver: the back-end is chosen by name on every path and recorded per row;
the physics does not depend on it."""

import numpy as np
import pytest

from perovskite_tb.app.jobs import curve as curve_mod
from perovskite_tb.app.store.io import open_results, read_curve, read_rows
from perovskite_tb.app.plot import energies
from perovskite_tb.app.engine.runfile import parse_run
from perovskite_tb.app.engine.sweep import run_sweep
from perovskite_tb.errors import InputError


def _sweep(tmp_path, name, solver):
    ex = {"workers": 1} if solver is None else {"workers": 1, "solver": solver}
    spec = parse_run({"axes": {"n_cells": [2, 3]}, "execution": ex, "output": str(tmp_path / name)}, source="t")
    run_sweep(spec, progress=False)
    with open_results(tmp_path / name) as f:
        return read_rows(f, "etb")


def test_run_file_solver_is_used_recorded_and_changes_no_number(tmp_path):
    auto = _sweep(tmp_path, "a.h5", None)
    dense = _sweep(tmp_path, "d.h5", "dense")
    assert list(dense["solver"].astype(str)) == ["dense", "dense"]
    assert "dense" not in set(auto["solver"].astype(str))  # auto picks shift-invert for these sizes
    np.testing.assert_allclose(dense["E_e"], auto["E_e"], atol=1e-9)
    np.testing.assert_allclose(dense["g_e"], auto["g_e"], atol=1e-6)
    np.testing.assert_allclose(dense["g_h"], auto["g_h"], atol=1e-6)


def test_unknown_solver_is_refused_naming_the_key():
    with pytest.raises(InputError, match=r"\[execution\]\.solver.*'fast'"):
        parse_run({"axes": {"n_cells": [2]}, "execution": {"solver": "fast"}}, source="run.toml")


def test_curve_solver_and_energy_axes(tmp_path):
    cfg = curve_mod.CurveConfig(n_cells_list=(2, 3), output=str(tmp_path / "c.h5"), plot=str(tmp_path / "c.png"),
                                solver="dense")
    curve_mod.run_curve(cfg, progress=False)
    d = read_curve(cfg.output)
    assert set(d["solver"].astype(str)) == {"dense"}
    E_opt, E_sp = energies(d, "optical"), energies(d, "single-particle")
    # the figure's axes are the stored columns: optical = E_e − E_h − E_C + self-energies, single = E_e − E_h
    np.testing.assert_array_equal(E_opt, d["optical_transition_energy"])
    np.testing.assert_array_equal(E_sp, d["transition_energy"])
    assert np.all(d["coulomb"] > 0) and np.all(E_opt < E_sp)
    with pytest.raises(InputError, match="energy axis"):
        curve_mod.run_curve(curve_mod.CurveConfig(n_cells_list=(2,), output=str(tmp_path / "x.h5"), plot=None,
                                                  energy_axis="laser"), progress=False)
    with pytest.raises(InputError, match="solver"):
        curve_mod.run_curve(curve_mod.CurveConfig(n_cells_list=(2,), output=str(tmp_path / "y.h5"), plot=None,
                                                  solver="fast"), progress=False)
