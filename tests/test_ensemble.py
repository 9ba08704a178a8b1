"""Ensemble spin dephasing: distributions, sub-ensemble moments, ODMR linewidth, T2*, TRFE traces."""

import math

import h5py
import numpy as np
import pytest
from scipy.optimize import curve_fit

from perovskite_tb.app.jobs.ensemble import (
    MUB_OVER_HBAR_PER_PS_T,
    EnsembleConfig,
    LogNormal,
    ModelCurve,
    config_from_dict,
    odmr_linewidth_mT,
    run_ensemble,
    subensemble,
    t2star_exp_ps,
    t2star_gauss_ps,
    trfe_trace,
    weighted_moments,
)
from perovskite_tb.errors import InputError

DGDE = -4.0  # 1/eV, slope of the synthetic g_e(E)


def _curve(g_const=False):
    """Synthetic model curve: E = 1.65 + 9.56/L² (physics ref. §4 two-point form), g linear in E."""
    L = np.linspace(4.0, 16.0, 25)
    E = 1.65 + 9.56 / L**2
    g_e = np.full_like(E, 2.0) if g_const else 2.0 + DGDE * (E - 1.8)
    g_h = 0.5 + 2.0 * (E - 1.8)
    return ModelCurve.from_arrays(E, L, g_e, g_h, 12.0 * (7.5 / L) ** 1.5, None)


def _cfg(**kw):
    base = dict(curve=_curve(), laser_eV=1.85, field_T=0.43, window_fwhm_eV=0.01, size_mean_nm=8.0,
                size_std_nm=3.0)
    base.update(kw)
    return EnsembleConfig(**base)


def test_constant_is_mub_over_hbar():
    assert MUB_OVER_HBAR_PER_PS_T == pytest.approx(0.08794, rel=1e-3)  # 87.94 rad ns^-1 T^-1 (Meliakov 2024)


def test_delta_like_distribution_gives_no_g_spread():
    r = run_ensemble(_cfg(size_mean_nm=7.0, size_std_nm=1e-6, window_fwhm_eV=0.2, t_max_ps=3000.0, n_t=2001))
    assert r["Delta_g_e"] < 1e-5 and r["Delta_g_h"] < 1e-5
    assert r["T2star_e_ps"] > 1e7
    g = r["g_e_mean"]
    expected = np.cos(g * MUB_OVER_HBAR_PER_PS_T * 0.43 * r["t_ps"])
    np.testing.assert_allclose(r["trace_e"], expected, atol=1e-6)  # undamped cosine
    assert g == pytest.approx(2.0 + DGDE * (1.65 + 9.56 / 49.0 - 1.8), rel=1e-6)


def test_gaussian_g_spread_gives_analytic_t2star():
    """Narrow window on a broad distribution, g linear in E → Gaussian g spread; fit the trace envelope."""
    B = 2.0
    r = run_ensemble(_cfg(field_T=B, t_max_ps=1500.0, n_t=3001))
    sw = 0.01 / (2 * math.sqrt(2 * math.log(2)))
    assert r["Delta_g_e"] == pytest.approx(abs(DGDE) * sw, rel=0.02)
    T2 = r["T2star_e_ps"]
    assert T2 == pytest.approx(math.sqrt(2) / (r["Delta_g_e"] * MUB_OVER_HBAR_PER_PS_T * B), rel=1e-12)

    def model(t, A, w, phi, T):
        return A * np.cos(w * t + phi) * np.exp(-((t / T) ** 2))

    w0 = r["g_e_mean"] * MUB_OVER_HBAR_PER_PS_T * B
    popt, _ = curve_fit(model, r["t_ps"], r["trace_e"], p0=[1.0, w0, 0.0, 0.8 * T2])
    assert abs(popt[3]) == pytest.approx(T2, rel=0.02)
    assert popt[1] == pytest.approx(w0, rel=1e-3)


def test_nuclear_term_in_trace_matches_t2star_with_nuclear():
    r = run_ensemble(_cfg(curve=_curve(g_const=True), trace_nuclear=True, t_max_ps=600.0, n_t=601,
                          window_fwhm_eV=0.002))
    assert r["Delta_g_e"] < 1e-12
    t = r["t_ps"]
    c = np.cos(2.0 * MUB_OVER_HBAR_PER_PS_T * 0.43 * t)
    m = np.abs(c) > 0.5
    env = r["trace_e"][m] / c[m]
    np.testing.assert_allclose(env, np.exp(-((t[m] / r["T2star_e_with_nuclear_ps"]) ** 2)), atol=2e-3)
    assert r["notes"]  # hole Δ_N is NaN: nuclear term left out, said so


def test_odmr_linewidth_limits():
    assert odmr_linewidth_mT(1e-9, 0.15, 2.0, 12.0) == pytest.approx(12.0 / math.sqrt(2), rel=1e-9)
    assert odmr_linewidth_mT(0.43, 0.15, 2.0, 0.0) == pytest.approx(0.15 * 430.0 / 2.0, rel=1e-12)
    B = np.array([100.0, 200.0])
    d = odmr_linewidth_mT(B, 0.15, 2.0, 12.0)
    assert (d[1] - d[0]) / 100.0 == pytest.approx(0.15 / 2.0 * 1e3, rel=1e-6)  # slope Δg/g at high field


def test_t2star_forms():
    assert t2star_gauss_ps(0.15, 0.43) == pytest.approx(math.sqrt(2) / (0.15 * 0.08794 * 0.43), rel=1e-3)
    assert t2star_gauss_ps(0.0, 0.43) == math.inf
    assert t2star_exp_ps(0.15, 0.43) == pytest.approx(1 / (0.15 * 0.08794 * 0.43), rel=1e-3)
    assert t2star_exp_ps(0.0, 0.43, 500.0) == pytest.approx(500.0)
    for f in (lambda: t2star_gauss_ps(0.1, 0.0), lambda: t2star_exp_ps(0.1, -1.0)):
        with pytest.raises(InputError, match=r"T"):
            f()


def test_pl_band_fit_reproduces_centre_and_width():
    c = _curve()
    d = LogNormal.from_pl_band(c, 1.85, 0.02)
    L = np.exp(d.mu + d.sigma * np.linspace(-6, 6, 4001))
    p = np.exp(-0.5 * np.linspace(-6, 6, 4001) ** 2)
    p /= p.sum()
    E = c.E_of_L(L)
    assert math.exp(d.mu) == pytest.approx(float(c.L_of_E(1.85)), rel=1e-12)
    sE = math.sqrt(p @ (E - p @ E) ** 2)
    assert sE == pytest.approx(0.02 / 2.3548, rel=0.05)


def test_weights_and_moments():
    sub = subensemble(_curve(), LogNormal.from_mean_std(8.0, 3.0), 1.85, 0.01)
    assert sub["w"].sum() == pytest.approx(1.0)
    assert 0 < sub["selected_fraction"] < 1 and 0.9 < sub["size_coverage"] <= 1
    etb = ModelCurve.from_arrays(  # ETB CsPbI3 cubes of 4..16 cells (a = 0.6289 nm): hits the table's end in float
        [2.517577970595598, 2.291765067684347, 2.145659407061453, 1.9733076795435167, 1.8786969740051296,
         1.8209024061687642, 1.7828967160489197, 1.7565169630600839],
        0.6289 * np.array([4, 5, 6, 8, 10, 12, 14, 16]), np.ones(8), np.ones(8))
    assert np.all(np.isfinite(etb.at(etb.E_of_L(etb.edge_nm))["g_e"]))
    for c in (_curve(), etb):
        lo, hi = c.E_range
        for EL in (lo, hi):  # windows reaching past both ends: every selected point stays inside the table
            r = run_ensemble(_cfg(curve=c, laser_eV=EL, window_fwhm_eV=0.2, t_max_ps=10.0, n_t=3))
            assert np.all((r["E_eV"] >= lo) & (r["E_eV"] <= hi)) and math.isfinite(r["g_e_mean"])
            assert r["window_outside"] > 0.3
    m, s = weighted_moments(np.array([0.5, 0.5]), np.array([1.0, 3.0]))
    assert (m, s) == (2.0, 1.0)


def test_bad_inputs():
    with pytest.raises(InputError, match="size width must be > 0 nm, got 0"):
        run_ensemble(_cfg(size_std_nm=0.0))
    with pytest.raises(InputError, match="size mean must be > 0 nm, got -3"):
        run_ensemble(_cfg(size_mean_nm=-3.0))
    with pytest.raises(InputError, match="window FWHM must be > 0 eV"):
        run_ensemble(_cfg(window_fwhm_eV=-0.01))
    with pytest.raises(InputError, match="laser energy 2.5 eV is outside the computed range"):
        run_ensemble(_cfg(laser_eV=2.5))
    with pytest.raises(InputError, match="field must be > 0 T, got 0"):
        run_ensemble(_cfg(field_T=0.0))
    with pytest.raises(InputError, match="PL FWHM must be > 0 eV"):
        run_ensemble(_cfg(size_mean_nm=None, size_std_nm=None, pl_centre_eV=1.85, pl_fwhm_eV=0.0))
    with pytest.raises(InputError, match="PL centre 1.5 eV is outside"):
        run_ensemble(_cfg(size_mean_nm=None, size_std_nm=None, pl_centre_eV=1.5, pl_fwhm_eV=0.05))
    with pytest.raises(InputError, match="either"):
        run_ensemble(_cfg(pl_centre_eV=1.85, pl_fwhm_eV=0.05))
    with pytest.raises(InputError, match="unknown ensemble keys"):
        config_from_dict({"laser_eV": 1.8, "field_T": 0.4, "window_fwhm_eV": 0.01, "sizes": 3}, _curve())
    with pytest.raises(InputError, match="E \\(eV\\) must decrease"):
        ModelCurve.from_arrays([1.8, 1.9], [5.0, 6.0], [2, 2], [1, 1])
    with pytest.raises(InputError, match="field must be > 0 T"):
        trfe_trace(np.zeros(3), np.ones(2), np.ones(2) / 2, -0.1)


def test_files_written(tmp_path):
    h5, png = tmp_path / "e.h5", tmp_path / "e.png"
    cfg = config_from_dict({"laser_eV": 1.85, "field_T": 0.43, "window_fwhm_eV": 0.01, "pl_centre_eV": 1.86,
                            "pl_fwhm_eV": 0.06, "t_max_ps": 500.0, "n_t": 501, "output": str(h5),
                            "plot": str(png)}, _curve())
    r = run_ensemble(cfg)
    assert r["files"] == [str(h5), str(png)] and png.stat().st_size > 1000
    with h5py.File(h5) as f:
        np.testing.assert_allclose(f["trace_e"][()], r["trace_e"])
        assert f["trace_e"][0] == pytest.approx(1.0)
        assert "Delta_g_e" in f.attrs["results_json"]
