"""The study job (app.study): variants over the sweep engine, RMS against the measured g-factors."""

import math

import numpy as np
import pytest

from perovskite_tb.app.jobs import study
from perovskite_tb.measured import load_measured
from perovskite_tb.errors import InputError


def test_spheres_have_the_volume_of_the_cubes():
    a = 0.6289
    for N, D in zip((6, 10, 20), study.sphere_diameters((6, 10, 20), a)):
        assert math.pi / 6 * D**3 == pytest.approx((N * a) ** 3, rel=1e-5)


def _measured(carrier):
    return sorted((r["energy_eV"], r["g"]) for r in load_measured()
                  if r["carrier"] == carrier and not r["abs_only"] and np.isfinite(r["energy_eV"])
                  and abs(r["temperature_K"] - 6) <= 1)


def _curve_through_data(shift_e=0.0, shift_h=0.0):
    pe, ph = _measured("e"), _measured("h")
    # the measured energies are grid points, so interpolating the model there returns the data exactly
    E = np.unique(np.concatenate([np.linspace(1.60, 2.40, 81), [x for x, _ in pe + ph]]))
    # piecewise-linear through the (averaged) measured points: interpolation at them returns them exactly
    def through(pts):
        xs = sorted({x for x, _ in pts})
        ys = [np.mean([g for x2, g in pts if x2 == x]) for x in xs]
        return np.interp(E, xs, ys)
    g_e, g_h = through(pe) + shift_e, through(ph) + shift_h
    return {"E_optical": E, "E_single": E + 0.05, "g_e": g_e, "g_h": g_h, "g_X": g_e + g_h, "size_nm": E * 0}


def test_rms_is_zero_on_the_data_and_equals_a_constant_offset():
    rows = study.score_variants({("s", "cube", "pbx6"): _curve_through_data(),
                                 ("s", "cube", "csx"): _curve_through_data(0.3, -0.2)})
    by = {(r["termination"], r["axis"]): r for r in rows}
    exact, shifted = by[("pbx6", "optical")], by[("csx", "optical")]
    # duplicated energies with different values (two papers) leave a floor: the spread of the data itself
    pe = _measured("e")
    floor_e = np.sqrt(np.mean([(g - np.mean([h for x, h in pe if x == E])) ** 2 for E, g in pe]))
    assert exact["rms_g_e"] == pytest.approx(floor_e, abs=1e-12)
    assert shifted["rms_g_e"] == pytest.approx(np.sqrt(floor_e**2 + 0.3**2), abs=1e-12)
    assert exact["n_e"] == len(pe) and exact["out_e"] == 0
    # the g_X term: constant g_X of the synthetic curve vs +2.2 over 1.69–2.25 eV
    c = _curve_through_data()
    win = (c["E_optical"] >= 1.69) & (c["E_optical"] <= 2.25)
    assert exact["rms_g_X"] == pytest.approx(np.sqrt(np.mean((c["g_X"][win] - 2.2) ** 2)), abs=1e-12)
    # the better variant ranks first
    assert rows[0]["termination"] == "pbx6"


def test_points_outside_the_model_range_are_counted_not_extrapolated():
    c = _curve_through_data()
    m = c["E_optical"] >= 1.75
    short = {k: v[m] for k, v in c.items()}
    row = next(r for r in study.score_variants({("s", "cube", "pbx6"): short}) if r["axis"] == "optical")
    n_low = sum(1 for E, _ in _measured("e") if E < 1.75)
    assert row["out_e"] == n_low and row["n_e"] == len(_measured("e")) - n_low


def test_bad_study_inputs_are_refused_in_one_line(tmp_path):
    with pytest.raises(InputError, match="termination 'cs'"):
        study.study_run(study.StudyConfig(terminations=("cs",)))
    with pytest.raises(InputError, match="shape"):
        study.study_run(study.StudyConfig(shapes=("cuboid",)))
    with pytest.raises(InputError, match=".md"):
        study.study_run(study.StudyConfig(report=str(tmp_path / "r.txt")))


def test_tiny_study_end_to_end(tmp_path):
    cfg = study.StudyConfig(parameter_sets=("nestoklon2023",), terminations=("pbx6",), n_cells=(2, 3),
                            output=str(tmp_path / "s.h5"), plot=str(tmp_path / "s.png"),
                            report=str(tmp_path / "s.md"), workers=1)
    rows = study.run_study(cfg, progress=False)
    curves = study.variant_curves(cfg.output)
    assert set(curves) == {("nestoklon2023", "cube", "pbx6"), ("nestoklon2023", "sphere", "pbx6")}
    for c in curves.values():
        assert c["E_optical"].size == 2 and np.all(c["E_optical"] < c["E_single"])  # E_C > 0
        np.testing.assert_allclose(c["g_X"], c["g_e"] + c["g_h"])
    assert len(rows) == 4 and (tmp_path / "s.png").stat().st_size > 0
    assert "| rank |" in (tmp_path / "s.md").read_text()
