"""Ensemble physics against closed forms: Δg from a linear g(E), window × distribution, T2* ∝ 1/B, ΔB(B) limits.

Synthetic model curve E(L) = 1.65 eV + 9.56 eV nm² / L² (so dE/dlnL = −2·9.56/L²) with g linear in E.
Through a linear g(E) a Gaussian spread of selected energies σ_E gives Δg = |dg/dE| σ_E exactly, and a
narrow log-normal maps to a Gaussian in E with σ_E = |dE/dlnL| σ_lnL.
"""

import math

import numpy as np
import pytest

from perovskite_tb.app.jobs.ensemble import (MUB_OVER_HBAR_PER_PS_T, EnsembleConfig, LogNormal, ModelCurve,
                                        field_scan, run_ensemble)

DGDE_E, DGDE_H = -4.0, 2.0  # 1/eV
FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))


def _E(L):
    return 1.65 + 9.56 / L**2


def _curve():
    L = np.linspace(4.0, 16.0, 61)
    E = _E(L)
    return ModelCurve.from_arrays(E, L, 2.0 + DGDE_E * (E - 1.8), 0.5 + DGDE_H * (E - 1.8),
                                  12.0 * (7.5 / L) ** 1.5, 5.0 * (7.5 / L) ** 1.5)


def _run(**kw):
    base = dict(curve=_curve(), laser_eV=float(_E(8.0)), field_T=0.43, window_fwhm_eV=5.0, size_mean_nm=8.0,
                size_std_nm=0.04, t_max_ps=10.0, n_t=3)
    base.update(kw)
    return run_ensemble(EnsembleConfig(**base))


def _sigma_E_lognormal(mean_nm, std_nm):
    d = LogNormal.from_mean_std(mean_nm, std_nm)
    L0 = math.exp(d.mu)
    return 2.0 * 9.56 / L0**2 * d.sigma  # |dE/dlnL| σ_lnL at the median


def test_narrow_lognormal_gives_dg_equal_slope_times_sigma_E():
    """Window much wider than the distribution: Δg = |dg/dE|·σ_E with σ_E from the log-normal alone."""
    r = _run()
    sE = _sigma_E_lognormal(8.0, 0.04)
    assert r["Delta_g_e"] == pytest.approx(abs(DGDE_E) * sE, rel=5e-4)
    assert r["Delta_g_h"] == pytest.approx(abs(DGDE_H) * sE, rel=5e-4)
    assert r["Delta_g_e"] / r["Delta_g_h"] == pytest.approx(2.0, rel=1e-9)  # both through the same σ_E


def test_window_and_distribution_widths_combine_as_gaussian_product():
    """Window σ_w equal to the distribution's σ_E, centred on it: σ_sel = σ_E/√2 (product of two Gaussians)."""
    sE = _sigma_E_lognormal(8.0, 0.04)
    r = _run(window_fwhm_eV=FWHM * sE)
    assert r["Delta_g_e"] == pytest.approx(abs(DGDE_E) * sE / math.sqrt(2.0), rel=5e-4)
    r2 = _run(window_fwhm_eV=FWHM * sE / 3.0)  # σ_w = σ_E/3 → σ_sel = σ_E/√10
    assert r2["Delta_g_e"] == pytest.approx(abs(DGDE_E) * sE / math.sqrt(10.0), rel=5e-4)


def test_pl_band_width_sets_dg_through_the_slope():
    """A PL band of FWHM F (eV) and a wide window: Δg = |dg/dE|·F/(2√(2 ln 2))."""
    F = 0.008
    r = _run(size_mean_nm=None, size_std_nm=None, pl_centre_eV=float(_E(8.0)), pl_fwhm_eV=F)
    assert r["Delta_g_e"] == pytest.approx(abs(DGDE_E) * F / FWHM, rel=2e-3)
    assert r["size_median_nm"] == pytest.approx(8.0, rel=1e-9)


def test_t2star_scales_as_one_over_field():
    r1, r3 = _run(field_T=0.2), _run(field_T=0.6)
    assert r1["Delta_g_e"] == pytest.approx(r3["Delta_g_e"], rel=1e-12)  # the selection does not depend on B
    for c in ("e", "h"):
        assert r1[f"T2star_{c}_ps"] / r3[f"T2star_{c}_ps"] == pytest.approx(3.0, rel=1e-12)
        assert r1[f"T2star_{c}_exp_ps"] / r3[f"T2star_{c}_exp_ps"] == pytest.approx(3.0, rel=1e-12)
        B, T2 = r1["B_T"], r1[f"T2star_{c}_ps_vs_B"]
        assert math.isinf(T2[0]) and B[0] == 0.0
        np.testing.assert_allclose(T2[1:] * B[1:], math.sqrt(2) / (r1[f"Delta_g_{c}"] * MUB_OVER_HBAR_PER_PS_T),
                                   rtol=1e-12)
    i = int(np.argmin(abs(r1["B_T"] - 0.2)))
    assert r1["T2star_e_ps_vs_B"][i] == pytest.approx(r1["T2star_e_ps"], rel=1e-12)


def test_odmr_linewidth_limits_of_the_field_scan():
    """ΔB(0) = Δ_N/√2; at B ≫ Δ_N·g/Δg the slope is Δg/|g| (mT per mT); the scan's end is field_max_T."""
    r = _run(window_fwhm_eV=0.05, size_std_nm=1.5, field_max_T=50.0, n_B=501)
    for c in ("e", "h"):
        dB, B = r[f"odmr_linewidth_{c}_mT_vs_B"], r["B_T"]
        assert dB[0] == pytest.approx(r[f"Delta_N_{c}_mT"] / math.sqrt(2.0), rel=1e-12)
        slope = (dB[-1] - dB[-2]) / ((B[-1] - B[-2]) * 1e3)
        assert slope == pytest.approx(r[f"Delta_g_{c}"] / abs(r[f"g_{c}_mean"]), rel=1e-4)
        assert B[-1] == 50.0
    i = int(np.argmin(abs(r["B_T"] - 0.43)))
    r43 = field_scan(r, np.array([0.43]))
    assert r43["odmr_linewidth_e_mT_vs_B"][0] == pytest.approx(r["odmr_linewidth_e_mT"], rel=1e-12)
    assert i > 0


def test_nuclear_width_is_rms_over_the_selected_sizes():
    """Δ_N of the sub-ensemble = sqrt(Σ w Δ_N(L)²): a narrow distribution gives Δ_N at its median size."""
    r = _run()
    L0 = r["size_median_nm"]
    assert r["Delta_N_e_mT"] == pytest.approx(12.0 * (7.5 / L0) ** 1.5, rel=5e-4)
    assert r["Delta_N_h_mT"] == pytest.approx(5.0 * (7.5 / L0) ** 1.5, rel=5e-4)
