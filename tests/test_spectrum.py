"""Level spectra (levels=K): multiplets, the inertia proof, Zeeman values, and the one pipeline for ETB and k·p."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla

import perovskite_tb as ptb
from perovskite_tb.eigen.band_edges import solve_terms
from perovskite_tb.errors import InputError
from perovskite_tb.gfactor import zeeman_values
from perovskite_tb.model.materials import load_parameters
from perovskite_tb.model.terms import terms_from_hamiltonian
from perovskite_tb.nc import nc_gfactors

pytestmark = pytest.mark.physics


@pytest.fixture(scope="module")
def cube3():
    p = load_parameters("CsPbI3")
    r, ht, _ = nc_gfactors(p, 3, return_terms=True, dielectric=None)
    return p, r, terms_from_hamiltonian(ht)


_DENSE: dict = {}


def _dense_levels(terms):
    """All eigenvalues of H0 (LAPACK), split at the gap: electrons ascending, holes descending (cached)."""
    if id(terms) not in _DENSE:
        E = sla.eigvalsh(terms.H0.toarray())
        _DENSE[id(terms)] = (E[terms.n_fill:], E[:terms.n_fill][::-1])
    return _DENSE[id(terms)]


def _multiplets(E, tol=1e-6, n_states=8):
    out, i = [], 0
    while sum(d for _, d in out) < n_states:
        j = i
        while j < E.size and abs(E[j] - E[i]) <= tol:
            j += 1
        out.append((E[i], j - i))
        i = j
    return out


@pytest.mark.parametrize("method, K", [("shift-invert", 4), ("dense", 4), ("shift-invert", 8)])
def test_spectrum_equals_full_diagonalisation(cube3, method, K):
    """The K multiplets (energies and degeneracies) are those of a full dense diagonalisation of H0. K = 8
    reaches a flat, many-fold degenerate hole level ≈ 2 eV below the gap of this 1.9 nm cube, whose copies
    Lanczos misses: the inertia catches it and the block falls back to LAPACK."""
    _, _, terms = cube3
    be = solve_terms(terms, method=method, levels=K)
    ref_e, ref_h = _dense_levels(terms)
    sp = be.spectrum
    assert sp.proven
    for mults, ref in ((sp.electron, ref_e), (sp.hole, ref_h)):
        want = _multiplets(ref, n_states=2 * K)
        got = [(m.energy, m.degeneracy) for m in mults]
        assert [d for _, d in got] == [d for _, d in want]
        assert np.allclose([e for e, _ in got], [e for e, _ in want], atol=1e-10)
        assert sum(d for _, d in got) >= 2 * K
    # a quartet (Γ8-like, from two C4z blocks) is among them: the cube's double group has 4-dim irreps
    assert any(m.degeneracy == 4 for m in sp.electron + sp.hole)


def test_proof_counts_and_band_edge_view(cube3):
    """The inertia counts reach past the reported states; the first multiplets are the band edges."""
    _, r, terms = cube3
    be = solve_terms(terms, levels=3)
    sp = be.spectrum
    assert sp.proof["states_e"] >= sp.proof["reported_e"] >= 6
    assert sp.proof["states_h"] >= sp.proof["reported_h"] >= 6
    assert sp.electron[0].energy == pytest.approx(r.E_e, abs=1e-12)
    assert sp.hole[0].energy == pytest.approx(r.E_h, abs=1e-12)
    for m in sp.electron + sp.hole:  # orthonormal eigenvectors with small residuals
        V = m.vectors
        assert np.allclose(V.conj().T @ V, np.eye(m.degeneracy), atol=1e-10)
        assert m.residual < 1e-8 and m.spread < 1e-8
    # electrons ascend, holes descend, all on their side of the gap
    e = [m.energy for m in sp.electron]
    h = [m.energy for m in sp.hole]
    assert e == sorted(e) and h == sorted(h, reverse=True) and min(e) > max(h)


def test_missed_level_is_caught_by_the_inertia(cube3, monkeypatch):
    """If the eigensolver drops a level, the per-block inertia count disagrees and ARPACK is rerun."""
    from perovskite_tb.eigen import backends

    _, _, terms = cube3
    calls = {"n": 0, "LA": 0}
    orig = backends._arpack

    def lossy(Hb, Sb, op, shift, which, k, v0, tol, ncv):
        E, V = orig(Hb, Sb, op, shift, which, k, v0, tol, ncv)
        calls["n"] += 1
        calls["LA"] += which == "LA"
        if calls["n"] == 1 and which == "LA":  # drop the second-nearest level of the first block once
            keep = np.argsort(np.abs(E - shift))
            keep = np.delete(keep, 1)
            return E[keep], V[:, keep]
        return E, V

    monkeypatch.setattr(backends, "_arpack", lossy)
    be = solve_terms(terms, method="shift-invert", levels=3, workers=1)
    first = be.stats["blocks"][0]
    assert calls["LA"] == len(be.stats["blocks"]) + 1  # the block with the dropped level was rerun once
    assert first["cut_e_count"][0] == first["cut_e_count"][1]  # after the rerun the counts agree
    ref_e, _ = _dense_levels(terms)
    want = _multiplets(ref_e, n_states=6)
    assert np.allclose([m.energy for m in be.spectrum.electron], [e for e, _ in want], atol=1e-10)


def test_zeeman_values_of_doublets_are_half_g(cube3):
    """A doublet's Zeeman values along z are (+g_zz/2, −g_zz/2) with g signed by the extractor."""
    _, r, terms = cube3
    for carrier, g in (("e", r.g_e), ("h", r.g_h)):
        z = r.zeeman(carrier, 0)
        assert z.shape == (3, 2)
        for ax in range(3):
            assert z[ax] == pytest.approx([g.tensor[ax, ax] / 2, -g.tensor[ax, ax] / 2], abs=1e-9)


def test_quartet_zeeman_is_traceless_and_cubic(cube3):
    """A cube's quartet: the four Zeeman values sum to zero (M is traceless on a Kramers-closed space) and
    are the same along x, y, z (O_h)."""
    _, _, terms = cube3
    be = solve_terms(terms, levels=4)
    q = [m for m in be.spectrum.electron + be.spectrum.hole if m.degeneracy == 4]
    assert q
    z = zeeman_values(q[0].vectors, terms.M, terms.J)
    assert abs(z.sum(axis=1)).max() < 1e-9
    assert np.allclose(z[0], z[1], atol=1e-8) and np.allclose(z[0], z[2], atol=1e-8)
    assert np.all(np.diff(z[2]) < 0) or np.all(np.diff(z[2]) > 0)  # split into four levels


def test_levels_one_is_todays_band_edges(cube3):
    """levels=1 reproduces the band edges exactly (same vectors, same g)."""
    p, r, _ = cube3
    r2 = nc_gfactors(p, 3, dielectric=None, levels=2)
    assert r2.g_e.g == pytest.approx(r.g_e.g, abs=1e-10) and r2.g_h.g == pytest.approx(r.g_h.g, abs=1e-10)
    assert len(r.spectrum.electron) == 1 and r.spectrum.n_doublets == 1
    for c in ("e", "h"):  # the edge multiplet names the symmetry block it came from, whatever K
        assert r.spectrum.carrier(c)[0].blocks == r2.spectrum.carrier(c)[0].blocks


def test_levels_bad_values_refused(cube3):
    _, _, terms = cube3
    for bad in (0, -1, 2.5, True, 65):
        with pytest.raises(InputError, match="levels"):
            solve_terms(terms, levels=bad)


def test_api_solves_both_models_through_one_pipeline():
    """perovskite_tb.solve gives the same object for ETB and k·p, with spectra, observables and context."""
    e = ptb.solve("CsPbI3", n_cells=4, levels=2)
    k = ptb.solve("CsPbI3", n_cells=4, levels=2, model="kp")
    for r in (e, k):
        assert isinstance(r, ptb.SolvedNanocrystal)
        assert len(r.spectrum.electron) >= 2 and len(r.spectrum.hole) >= 2
        j = r.as_json(levels=True)
        assert {"E_eV", "degeneracy", "zeeman_x_muB", "zeeman_y_muB", "zeeman_z_muB"} <= set(j["levels"]["e"][0])
        assert j["levels"]["e"][0]["E_eV"] == pytest.approx(r.E_e)
        assert np.isfinite(r.observable("optical_transition_energy"))
        assert r.context["material"] == "CsPbI3" and r.context["dielectric"] == (6.1, 2.2)
    assert e.model == "etb" and k.model == "kp"
    assert np.isnan(k.observable("Delta_N_e")) and np.isfinite(e.observable("Delta_N_e"))
    # the two models agree on the band-edge ordering and the sign of g_e at this size
    assert e.g_e.g > 0 and k.g_e.g > 0


def test_observables_are_computed_once_on_request():
    """The pipeline computes no Coulomb step until asked; two observables share one Coulomb result."""
    r = ptb.solve("CsPbI3", n_cells=4)
    assert "coulomb_s" not in r.stats
    c = r.observable("coulomb")
    t = r.stats["coulomb_s"]
    assert r.observable("optical_transition_energy") == pytest.approx(r.E_e - r.E_h + r.coulomb.optical_correction_eV)
    assert r.stats["coulomb_s"] == t and c == pytest.approx(r.coulomb.E_C)


@pytest.mark.parametrize("kw, msg", [
    ({"material": ""}, "unknown material"),
    ({"material": "CsPbF3"}, "unknown material"),
    ({"model": "dft"}, "unknown model"),
    ({"n_cells": 4, "diameter_nm": 3.0}, "exactly one size"),
    ({"shape": "sphere", "n_cells": 4}, "does not take"),
])
def test_api_bad_input(kw, msg):
    kw = {"n_cells": 4, **kw} if "n_cells" not in kw and "diameter_nm" not in kw else kw
    with pytest.raises(InputError, match=msg):
        ptb.solve(**kw)


def test_material_record():
    m = ptb.material("CsPbBr3")
    assert m.halide == "Br" and m.etb_set == "nestoklon2023-fit" and m.kp_set.startswith("etb-")
    assert 0.55 < m.a_nm < 0.62 and m.eps_in == pytest.approx(4.49) and m.eps_out == pytest.approx(2.2)
    assert set(ptb.materials()) == {"CsPbI3", "CsPbBr3", "CsPbCl3"}


def test_nc_levels_cli_json(capsys):
    """`nc --levels K` adds the issue's `levels` key; without it the keys are today's (no `levels`)."""
    import json

    from perovskite_tb.app.cli import main

    assert main(["nc", "--n-cells", "3", "3", "3", "--levels", "3", "--json", "--no-coulomb"]) == 0
    d = json.loads(capsys.readouterr().out)
    lv = d["levels"]
    assert set(lv) == {"e", "h"} and sum(m["degeneracy"] for m in lv["e"]) >= 6
    assert lv["e"][0]["E_eV"] == pytest.approx(d["E_e_eV"]) and lv["h"][0]["E_eV"] == pytest.approx(d["E_h_eV"])
    assert lv["e"][0]["zeeman_z_muB"] == pytest.approx([d["g_e"] / 2, -d["g_e"] / 2], abs=1e-9)
    assert main(["nc", "--n-cells", "3", "3", "3", "--json", "--no-coulomb"]) == 0
    assert "levels" not in json.loads(capsys.readouterr().out)
    assert main(["kp-nc", "--material", "CsPbI3", "--edge-nm", "3", "3", "3", "--levels", "2", "--json"]) == 0
    k = json.loads(capsys.readouterr().out)
    assert k["levels"]["h"][0]["E_eV"] == pytest.approx(k["E_h_eV"])


def test_run_file_levels_store_the_spectra(tmp_path):
    """[options].levels: every row stores its multiplets (energies in eV, degeneracies, Zeeman values in μB)."""
    from perovskite_tb.app.engine.sweep import load_run_file, run_sweep
    from perovskite_tb.app.store.export import load_results

    p = tmp_path / "run.toml"
    p.write_text('output = "out.h5"\n[axes]\nmodel = ["etb", "kp"]\nn_cells = [3]\n[options]\nlevels = 3\n'
                 '[execution]\nworkers = 1\n')
    spec = load_run_file(p)
    assert spec.options.levels == 3
    run_sweep(spec, progress=False)
    t = load_results(tmp_path / "out.h5")
    c = t.columns
    assert t.units["levels_e"] == "eV" and t.units["zeeman_e"] == "muB"
    for i in range(len(c["E_e"])):
        assert c["levels_e"][i][0] == pytest.approx(c["E_e"][i]) and c["levels_h"][i][0] == pytest.approx(c["E_h"][i])
        assert c["degeneracy_e"][i][:2].min() >= 2 and c["degeneracy_e"][i].sum() >= 6
        assert np.all(np.diff(c["levels_e"][i][c["degeneracy_e"][i] > 0]) > 0)
        assert c["zeeman_e"][i][0, 2, :2] == pytest.approx([c["g_e"][i] / 2, -c["g_e"][i] / 2], abs=1e-9)
    bad = tmp_path / "bad.toml"
    bad.write_text('output = "o.h5"\n[axes]\nn_cells = [3]\n[options]\nlevels = 17\n')
    from perovskite_tb.errors import PerovskiteTBError

    with pytest.raises(PerovskiteTBError, match="levels"):
        load_run_file(bad)


def test_run_file_thermal_average(tmp_path):
    """[options].thermal_average: rows carry g_e_thermal / g_h_thermal at each point's T; at 6 K they equal g."""
    from perovskite_tb.app.engine.sweep import load_run_file, run_sweep
    from perovskite_tb.app.store.export import load_results

    p = tmp_path / "run.toml"
    p.write_text('output = "out.h5"\n[axes]\nn_cells = [3]\ntemperature_K = [6.0]\n[options]\nthermal_average = true\n'
                 '[execution]\nworkers = 1\n')
    run_sweep(load_run_file(p), progress=False)
    c = load_results(tmp_path / "out.h5").columns
    assert c["g_e_thermal"][0] == pytest.approx(c["g_e_tensor"][0][2, 2], abs=1e-6)
    assert c["g_h_thermal"][0] == pytest.approx(c["g_h_tensor"][0][2, 2], abs=1e-6)
    assert c["degeneracy_e"][0].sum() >= 16  # the spectrum was solved with at least 8 doublets
