"""Excitons of k·p boxes through the same observables as ETB (issue 20 item 4).

First-order limit, closed-form XX, Hermiticity of the CI, size trend of X⁺ and XX, transition dipole of
the envelope densities against the velocity (Kane) form, screening models, CLI ``kp-nc --excitons``.
Small boxes only (4 and 8 nm, CsPbBr3; CsPbI3 4 nm for the screening models): ≈ 20 s in all.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from exciton_helpers import cli_error_line, xx_closed_form

import perovskite_tb as pt
from perovskite_tb.app.cli import main
from perovskite_tb.errors import InputError
from perovskite_tb.observables import _ci
from perovskite_tb.observables import excitons as ex

COMPLEXES = ("trion_negative_binding_meV", "trion_positive_binding_meV", "biexciton_binding_meV")
FINE = ("exciton_bright_dark_meV", "exciton_bright_splittings_meV", "exciton_bright_axes", "radiative_lifetime_ps",
        "g_X_bright")


@pytest.fixture(scope="module")
def box():
    """4 nm CsPbBr3 k·p cube with the N = 4 CI integrals (smaller N reuse them, sliced)."""
    s = pt.solve(material="CsPbBr3", model="kp", edge_nm=(4.0, 4.0, 4.0), levels=4)
    ex._integrals(s, 4, "epsilon-inf")
    return s


def test_exchange_off_n1_is_first_order_coulomb(box):
    L = ex.exciton_levels(box, n_doublets=1, exchange=False)
    e_opt = box.transition_energy + box.coulomb.optical_correction_eV  # E_e − E_h − E_C + Σ_e + Σ_h
    assert np.allclose(L.energies_eV, e_opt, rtol=0, atol=1e-9)
    assert box.observable("optical_transition_energy") == pytest.approx(e_opt, abs=1e-12)
    assert box.observable("coulomb") == pytest.approx(
        box.transition_energy + box.coulomb.Sigma_e + box.coulomb.Sigma_h - L.energies_eV.mean(), abs=1e-9)


def test_one_configuration_biexciton_closed_form(box):
    I = ex._integrals(box, 1, "epsilon-inf")
    E = _ci.lowest(_ci.Sector(I.eps_e, I.eps_h, I.We, I.Wh, I.U(), 2, 2))[0][0]
    closed = xx_closed_form(I)
    assert E == pytest.approx(closed, abs=1e-10)
    t = ex.trion_biexciton(box, n_doublets=1)
    assert t["biexciton_binding_meV"] == pytest.approx(1e3 * (2 * t["E_X_eV"] - closed), abs=1e-7)


def test_ci_matrices_hermitian(box):
    I = ex._integrals(box, 4, "epsilon-inf")
    assert np.allclose(I.We, np.conj(np.transpose(I.We, (2, 3, 0, 1))), atol=1e-12)
    assert np.allclose(I.Wh, np.conj(np.transpose(I.Wh, (2, 3, 0, 1))), atol=1e-12)
    for exchange in (True, False):
        U = I.U(exchange)
        for ke, kh in ((1, 1), (2, 1), (1, 2), (2, 2)):
            H = _ci.Sector(I.eps_e, I.eps_h, I.We, I.Wh, U, ke, kh).dense()
            assert np.abs(H - H.conj().T).max() <= 1e-12 * np.abs(H).max(), (ke, kh, exchange)


def test_binding_of_xplus_and_xx_grows_as_box_shrinks(box):
    big = pt.solve(material="CsPbBr3", model="kp", edge_nm=(8.0, 8.0, 8.0), levels=4)
    small, large = ex.trion_biexciton(box, n_doublets=4), ex.trion_biexciton(big, n_doublets=4)
    for k in ("trion_positive_binding_meV", "biexciton_binding_meV"):
        assert small[k] > large[k] + 1.0 > 1.0, k  # meV: 4 nm vs 8 nm, both bound


def test_cube_fine_structure_long_range_exchange(box):
    for n in (1, 4):
        L = ex.exciton_levels(box, n_doublets=n)
        assert max(L.bright_splittings_meV) <= 1e-6  # cube: degenerate bright triplet
        assert L.bright_dark_meV > 0  # the long-range exchange lifts the bright states
        assert np.allclose(L.axes @ L.axes.T, np.eye(3), atol=1e-6)
        assert np.all(L.rates_per_ps > 0)
    L1 = ex.exciton_levels(box, n_doublets=1)
    assert L1.g_bright == pytest.approx(box.observable("g_X"), abs=1e-8)  # band-edge basis: g_e + g_h
    js = ex.exciton_json(box, n_doublets=1)
    assert set(js) == set(FINE) | {"reason"} and "long-range" in js["reason"]


def test_transition_dipole_equals_velocity_form(box):
    """⟨c|r|v⟩ from the first moment of the envelope transition densities (the exciton code) against
    −i⟨c|∂H/∂k|v⟩/(E_c − E_v), ∂H/∂k_α = Λ_α + 2Σ_β Q_αβ k_β (Kane P times the envelope overlap plus the
    intraband terms), for the band-edge doublets."""
    from kp.bulk import bloch_terms
    from kp.envelope import EnvelopeOperators

    I = ex._integrals(box, 1, "epsilon-inf")
    ops, t = EnvelopeOperators(box.terms.basis), bloch_terms(box.terms.params)
    C, V = box.spectrum.electron[0].vectors, box.spectrum.hole[0].vectors
    vel = [ops.kron(t.Lam[a], ops.eye()) + sum(ops.kron(2 * t.Q[a, b], ops.k(b)) for b in range(3))
           for a in range(3)]
    d_vel = np.array([-1j * (C.conj().T @ (vel[a] @ V)) / box.transition_energy for a in range(3)])
    s_grid, s_vel = np.sum(np.abs(I.r_cv) ** 2), np.sum(np.abs(d_vel) ** 2)
    assert s_grid == pytest.approx(s_vel, rel=0.02)
    # Kane only (Λ ⊗ 1): the same order, the Q·k terms change it by < 20 %
    kane = [ops.kron(t.Lam[a], ops.eye()) for a in range(3)]
    s_kane = np.sum(np.abs([C.conj().T @ (kane[a] @ V) for a in range(3)]) ** 2) / box.transition_energy**2
    assert 0.8 < s_grid / s_kane < 1.2


def test_registered_observables_on_kp(box):
    assert math.isnan(box.observable("exciton_bright_dark"))
    box.context.update(ex.exciton_context("epsilon-inf", 4, complexes=True))
    try:
        d = ex.trion_biexciton(box, n_doublets=4)
        assert box.observable("biexciton_binding") == pytest.approx(d["biexciton_binding_meV"])
        assert box.observable("exciton_bright_dark") > 0 and box.observable("radiative_lifetime") > 0
    finally:
        box.context["excitons"] = False


def test_screening_models_on_kp():
    s = pt.solve(material="CsPbI3", model="kp", edge_nm=(4.0, 4.0, 4.0), levels=1)
    e = {m: ex.trion_biexciton(s, n_doublets=1, screening=m)["E_X_eV"] for m in
         ("epsilon-inf", "epsilon-0", "polaron")}
    assert e["epsilon-inf"] < e["polaron"] < e["epsilon-0"]  # weaker screening binds more


@pytest.mark.parametrize("kw, match", [
    ({"model": "kp", "shape": "sphere"}, "box"),
    ({"model": "kp", "shape": "spheroid"}, "box"),
    ({"model": "tb"}, "model"),
    ({"model": "kp", "n_doublets": 13}, "doublets"),
])
def test_check_request_refuses(kw, match):
    with pytest.raises(InputError, match=match):
        ex.check_exciton_request("CsPbBr3", **kw)


def test_check_request_refuses_missing_constant():
    """CsPbCl3 has no sourced ε_s (parameters/excitons.toml): refused for k·p as for ETB."""
    with pytest.raises(InputError, match="MISSING"):
        ex.check_exciton_request("CsPbCl3", model="kp", screening="epsilon-0")


def test_check_request_accepts_kp_boxes():
    assert ex.check_exciton_request("CsPbBr3", model="kp", shape="cuboid") == ("epsilon-inf", ex.DEFAULT_DOUBLETS)
    assert ex.check_exciton_request("CsPbI3", "polaron", 2, model="kp", shape="cube") == ("polaron", 2)


KP4 = ("kp-nc", "--material", "CsPbBr3", "--edge-nm", "4", "4", "4", "--json")


def test_kp_nc_excitons_cli(capsys):
    assert main([*KP4, "--excitons", "--ci-levels", "1"]) == 0
    d = json.loads(capsys.readouterr().out)
    for k in FINE + COMPLEXES + ("screening", "ci_levels", "reason"):
        assert k in d, k
    assert d["screening"] == "epsilon-inf" and d["ci_levels"] == 1
    assert d["exciton_bright_dark_meV"] > 0 and max(d["exciton_bright_splittings_meV"]) <= 1e-6
    assert all(10.0 < t < 1e6 for t in d["radiative_lifetime_ps"])  # ps
    assert all(math.isfinite(d[k]) and abs(d[k]) < 500.0 for k in COMPLEXES)
    assert d["g_X_bright"] == pytest.approx(d["g_e"] + d["g_h"], abs=1e-8)
    # without --ci-levels: fine structure, no complexes; without --excitons: no exciton keys
    assert main([*KP4]) == 0
    d = json.loads(capsys.readouterr().out)
    assert not any(k in d for k in FINE + COMPLEXES + ("screening", "ci_levels"))


@pytest.mark.parametrize("argv, needle", [
    (("--excitons", "--ci-levels", "0"), "0"),
    (("--excitons", "--ci-levels", "13"), "13"),
    (("--excitons", "--screening", "rpa"), "rpa"),
    (("--screening", "epsilon-inf"), "--excitons"),
    (("--ci-levels", "4"), "--excitons"),
    (("--excitons", "--no-coulomb"), "--no-coulomb"),
])
def test_kp_nc_excitons_bad_input_one_line(capsys, argv, needle):
    assert needle in cli_error_line(capsys, [*KP4, *argv])


@pytest.mark.parametrize("screening", ["epsilon-0", "polaron"])
def test_kp_nc_excitons_missing_constant_one_line(capsys, screening):
    err = cli_error_line(capsys, ["kp-nc", "--material", "CsPbCl3", "--edge-nm", "4", "4", "4", "--json",
                                  "--excitons", "--screening", screening])
    assert "MISSING" in err and "CsPbCl3" in err


def test_run_file_excitons_on_kp_points(tmp_path, monkeypatch):
    from perovskite_tb.app.store.io import open_results, read_rows
    from perovskite_tb.app.store.results import EXCITON_OBSERVABLES

    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.toml").write_text('output = "r.h5"\n[axes]\nmaterial = ["CsPbI3"]\nmodel = ["kp"]\n'
                                     'edge_nm = [3.0]\n[options]\nexcitons = true\nci_levels = 1\n')
    assert main(["sweep", "r.toml"]) == 0
    with open_results(tmp_path / "r.h5") as f:
        d = read_rows(f, "kp")
    for k in EXCITON_OBSERVABLES:
        assert np.isfinite(np.asarray(d[k], float)).all(), k
    assert d["exciton_bright_dark"][0] > 0 and d["exciton_bright_splitting"][0] < 1e-6
