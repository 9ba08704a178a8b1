"""tstudy scoring (laser selection, slopes against sample #1), ensemble optical axis, nc --thermal-average."""

import json
import math

import numpy as np
import pytest

from perovskite_tb.app.cli import main
from perovskite_tb.app.jobs.ensemble_io import curve_from_rows
from perovskite_tb.app.jobs.tstudy import LASER_EV, MEASURED_SLOPES, laser_select, score
from perovskite_tb.errors import InputError


def test_measured_slopes_are_the_shipped_points():
    assert MEASURED_SLOPES["e"] == (6.0, 90.0, pytest.approx(-0.51))
    assert MEASURED_SLOPES["h"] == (6.0, 65.0, pytest.approx(0.48))
    assert LASER_EV == {6.0: 1.703, 30.0: 1.710, 65.0: 1.725, 90.0: 1.759}


def test_laser_selection_interpolates_in_optical_energy_and_refuses_to_extrapolate():
    # g linear in E: g_e = 2 - 3 (E - 1.7), g_h = 2 (E - 1.7); sizes at 1.68, 1.74, 1.80 eV at every T
    curve = {(N, T): {"E_opt": E, "g_e": 2 - 3 * (E - 1.7), "g_h": 2 * (E - 1.7), "E_sp": E + 0.05}
             for T in (6.0, 65.0, 90.0) for N, E in ((16, 1.68), (14, 1.74), (12, 1.80))}
    s = {T: laser_select(curve, T) for T in (6.0, 65.0, 90.0)}
    assert s[90.0]["g_e"] == pytest.approx(2 - 3 * (1.759 - 1.7))
    sc = score(s)
    # selection alone: Δg_e = −3 × 56 meV, Δg_h = 2 × 22 meV
    assert sc["dg_e"] == pytest.approx(-3 * 0.056)
    assert sc["dg_h"] == pytest.approx(2 * 0.022)
    assert sc["ratio_e"] == pytest.approx(0.168 / 0.51)
    assert sc["miss"] == pytest.approx(abs(math.log2(0.044 / 0.48)))
    assert not sc["within_2"]
    far = {k: {**v, "E_opt": v["E_opt"] + 0.2} for k, v in curve.items()}
    assert math.isnan(laser_select(far, 6.0)["g_e"])


def test_ensemble_curve_uses_the_optical_axis():
    rows = {"transition_energy": np.array([1.9, 1.8, 1.7]), "optical_transition_energy": np.array([1.8, 1.72, 1.64]),
            "edge_nm": np.array([6.0, 8.0, 10.0]), "g_e": np.array([1.5, 2.0, 2.5]), "g_h": np.array([0.6, 0.3, 0.0])}
    assert curve_from_rows(rows).E_range == (1.64, 1.8)
    assert curve_from_rows(rows, energy_axis="single-particle").E_range == (1.7, 1.9)
    bad = {**rows, "optical_transition_energy": np.array([1.8, np.nan, 1.64])}
    with pytest.raises(InputError, match="optical"):
        curve_from_rows(bad)
    with pytest.raises(InputError):
        curve_from_rows(rows, energy_axis="laser")


def test_nc_thermal_average_flag(capsys):
    assert main(["nc", "--n-cells", "2", "2", "2", "--thermal-average", "--json"]) != 0
    assert "--temperature-K" in capsys.readouterr().err
    assert main(["nc", "--n-cells", "5", "5", "5", "--temperature-K", "60", "--thermal-average", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert math.isfinite(d["g_e_thermal"]) and math.isfinite(d["g_h_thermal"])
    assert abs(d["g_e_thermal"] - d["g_e"]) < 0.05  # levels of a 5-cell cube lie ≫ k_B·60 K above the edge
