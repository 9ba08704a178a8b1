"""Exciton layer (issue 20): fine structure by symmetry, first-order limits, closed-form XX, basis
convergence, size trend, bad input. Small NCs only (4–6 cells)."""

import math

import numpy as np
import pytest
from exciton_helpers import xx_closed_form

import perovskite_tb as pt
from perovskite_tb.errors import InputError
from perovskite_tb.observables import _ci
from perovskite_tb.observables import excitons as ex
from perovskite_tb.observables.screening import screening_for


@pytest.fixture(scope="module")
def cube():
    return pt.solve(material="CsPbBr3", n_cells=5, levels=4)


def test_G1_fit_of_pb_levels():
    g = ex.pb_exchange_G1()
    assert 2.0 < g["G1_eV"] < 6.0 and g["rms_cm1"] < 500


def test_cube_triplet_degenerate_dark_below(cube):
    # N = 1 (band edges) and N = 4 (S + both SOC partners of the P shells of e and h); N = 2 cuts the
    # P shells (e P1/2 + h P3/2 only), which correlates the bright Γ4 but not the dark Γ1 state
    for n in (1, 4):
        L = ex.exciton_levels(cube, n_doublets=n)
        assert max(L.bright_splittings_meV) <= 1e-6
        assert L.bright_dark_meV > 0
        # polarisations: three orthogonal unit vectors
        assert np.allclose(L.axes @ L.axes.T, np.eye(3), atol=1e-6)


def test_even_cube_triplet_degenerate():
    # even cell count: the Coulomb box must be symmetric about the NC centre (it was one node longer
    # on one side at N = 4, which split the bright triplet 2 + 1 along [111] by 1.1e-3 meV)
    s = pt.solve(material="CsPbBr3", n_cells=4, levels=1)
    L = ex.exciton_levels(s, n_doublets=1)
    assert max(L.bright_splittings_meV) <= 1e-6
    assert np.allclose(np.abs(L.axes), np.eye(3), atol=1e-6)  # polarisations along the cube axes


def test_sphere_triplet_degenerate():
    s = pt.solve(material="CsPbBr3", shape="sphere", diameter_nm=3.2, levels=1)
    L = ex.exciton_levels(s, n_doublets=1)
    assert max(L.bright_splittings_meV) <= 1e-6


def test_spheroid_two_plus_one_along_axis():
    s = pt.solve(material="CsPbBr3", shape="spheroid", semi_axes_nm=(1.5, 1.5, 2.0), levels=1)
    L = ex.exciton_levels(s, n_doublets=1)
    e = np.array(L.bright_splittings_meV)
    gaps = sorted(abs(e[i] - e[j]) for i in range(3) for j in range(i + 1, 3))
    assert gaps[0] <= 1e-6 and gaps[1] > 1e-3  # a degenerate pair and a split single state
    single = [i for i in range(3) if min(abs(e[i] - e[j]) for j in range(3) if j != i) > 1e-3][0]
    assert abs(abs(L.axes[single][2]) - 1.0) < 1e-6  # its dipole along the spheroid axis z


def test_exchange_off_is_first_order_coulomb(cube):
    L = ex.exciton_levels(cube, n_doublets=1, exchange=False)
    corr = cube.coulomb.optical_correction_eV  # -E_C + Σ_e + Σ_h
    assert np.allclose(L.energies_eV, cube.transition_energy + corr, atol=1e-6)
    assert cube.observable("coulomb") == pytest.approx(
        cube.transition_energy + cube.coulomb.Sigma_e + cube.coulomb.Sigma_h - L.energies_eV.mean(),
        abs=1e-6,
    )


def test_one_configuration_biexciton_closed_form(cube):
    I = ex._integrals(cube, 1, "epsilon-inf")
    E = _ci.lowest(_ci.Sector(I.eps_e, I.eps_h, I.We, I.Wh, I.U(), 2, 2))[0][0]
    assert E == pytest.approx(xx_closed_form(I), abs=1e-10)


def test_bright_g_equals_sum_in_band_edge_basis(cube):
    L = ex.exciton_levels(cube, n_doublets=1)
    assert L.g_bright == pytest.approx(cube.observable("g_X"), abs=1e-8)


def test_basis_convergence(cube):
    rows = ex.exciton_convergence(cube, [1, 2, 4])
    xx = [r["biexciton_binding_meV"] for r in rows]
    assert all(np.isfinite(xx))
    # variational: more configurations never raise E(X)
    ex_ = [r["E_X_eV"] for r in rows]
    assert ex_[0] >= ex_[1] - 1e-12 >= ex_[2] - 2e-12
    assert abs(xx[2] - xx[1]) < abs(xx[1] - xx[0]) + 1e-9


@pytest.fixture(scope="module")
def two_sizes():
    out = []
    for n in (4, 6):
        s = pt.solve(material="CsPbBr3", n_cells=n, levels=4)
        out.append((ex.trion_biexciton(s, n_doublets=4), ex.exciton_levels(s, n_doublets=4)))
    return out


def test_binding_grows_as_size_shrinks(two_sizes):
    (small, Ls), (big, Lb) = two_sizes
    assert small["trion_positive_binding_meV"] > big["trion_positive_binding_meV"] > 0
    assert Ls.bright_dark_meV > Lb.bright_dark_meV > 0


@pytest.mark.xfail(strict=True, reason="known model result: at 2.3-3.5 nm the on-site (same-atom) e-e "
                   "repulsion of the Pb-centred electrons outweighs the e-h gain, XX and X- binding fall as L "
                   "shrinks (docs/excitons.md)")
def test_biexciton_binding_grows_as_size_shrinks(two_sizes):
    (small, _), (big, _) = two_sizes
    assert small["biexciton_binding_meV"] > big["biexciton_binding_meV"]


def test_observables_nan_unless_enabled(cube):
    assert math.isnan(cube.observable("exciton_bright_dark"))
    cube.context.update(excitons=True, exciton_doublets=4)  # the fixture holds 4 doublets (default 8)
    try:
        assert cube.observable("exciton_bright_dark") > 0
        assert cube.observable("radiative_lifetime") > 0
        assert cube.observable("g_X_bright") == pytest.approx(
            ex.exciton_json(cube, n_doublets=4)["g_X_bright"])
    finally:
        cube.context["excitons"] = False
    js = ex.exciton_json(cube, n_doublets=1)
    assert set(js) == {"exciton_bright_dark_meV", "exciton_bright_splittings_meV", "exciton_bright_axes",
                       "radiative_lifetime_ps", "g_X_bright"}
    assert len(js["exciton_bright_splittings_meV"]) == 3 and len(js["radiative_lifetime_ps"]) == 3


@pytest.mark.parametrize("kw, match", [
    ({"n_doublets": 0}, "doublets"),
    ({"n_doublets": 2.5}, "doublets"),
    ({"n_doublets": 40}, "doublets"),
    ({"screening": "rpa"}, "screening"),
    ({"n_doublets": 9}, "levels"),
])
def test_bad_input(cube, kw, match):
    with pytest.raises(InputError, match=match):
        ex.exciton_levels(cube, **kw)


@pytest.mark.parametrize("screening", ["epsilon-0", "polaron"])
def test_missing_constant_refused(screening):
    """A screening model whose constant is tagged MISSING (CsPbCl3 ε_s, LO frequency) refuses in one line."""
    with pytest.raises(InputError, match="MISSING") as err:
        ex.check_exciton_request("CsPbCl3", screening)
    assert "\n" not in str(err.value)


def test_cspbbr3_polaron_constants():
    """CsPbBr3 ε_s = 16.5 and ħω_LO = h·3.08 THz (parameters/excitons.toml): polaron radii ℓ = √(ħ/2mω)."""
    scr = screening_for("polaron", "CsPbBr3", 4.49, 2.2, masses=(0.2, 0.2))
    assert scr.eps_direct == pytest.approx(16.5)
    assert scr.hbar_omega_LO_eV == pytest.approx(4.135667696e-3 * 3.08)
    assert 1 / scr.eps_star == pytest.approx(1 / 4.49 - 1 / 16.5)
    # ħ²/(2 m0) = 0.0380998 eV nm²: ℓ = sqrt(ħ²/(2 m ħω))
    assert scr.ell_nm[0] == pytest.approx((0.0380998 / (0.2 * scr.hbar_omega_LO_eV)) ** 0.5, rel=1e-4)


def test_bad_eps_and_no_dielectric():
    with pytest.raises(InputError, match="epsilon_in"):
        screening_for("epsilon-inf", "CsPbI3", -1.0, 2.2)
    s = pt.solve(material="CsPbBr3", n_cells=4, levels=1, dielectric=None)
    with pytest.raises(InputError, match="dielectric"):
        ex.exciton_levels(s, n_doublets=1)


def test_cspbi3_screening_models_order():
    s = pt.solve(material="CsPbI3", n_cells=5, levels=2)
    e = {m: ex.trion_biexciton(s, n_doublets=1, screening=m)["E_X_eV"] for m in
         ("epsilon-inf", "epsilon-0", "polaron")}
    # weaker screening binds more: E_X(ε∞) < E_X(polaron) < E_X(ε_s)
    assert e["epsilon-inf"] < e["polaron"] < e["epsilon-0"]


def test_extrapolate_basis_recovers_inverse_m_limit():
    """E(M) = E_∞ + A/M exactly → E_∞ from any two bases, spread 0; data off 1/M → spread > 0."""
    Einf, A = 12.5, -80.0
    res = [{"n_states": [m, m], "biexciton_binding_meV": Einf + A / m} for m in (8, 16, 24)]
    out = ex.extrapolate_basis(res, keys=("biexciton_binding_meV",))["biexciton_binding_meV"]
    assert out["value"] == pytest.approx(Einf, abs=1e-12) and out["spread"] == pytest.approx(0, abs=1e-12)
    assert out["M"] == [16, 24]
    res[0]["biexciton_binding_meV"] += 1.0
    assert ex.extrapolate_basis(res, keys=("biexciton_binding_meV",))["biexciton_binding_meV"]["spread"] > 0.1
    with pytest.raises(InputError, match="two distinct"):
        ex.extrapolate_basis(res[:1], keys=("biexciton_binding_meV",))
