"""The model protocol: ETB and k·p Terms go through one pipeline (nc.solve) to the same result fields."""

from __future__ import annotations

from kp_pipeline import kp_solve

import dataclasses

import numpy as np
import pytest

from perovskite_tb import cuboid, load_parameters
from perovskite_tb.gfactor import GFactor
from perovskite_tb.model.terms import Terms, etb_terms
from perovskite_tb.nc import NcResult, nc_gfactors, solve

from kp.confinement import assemble as kp_assemble
from kp.confinement import make_basis
from kp.parameters import load_kp_parameters

P = load_parameters()
KP = load_kp_parameters("CsPbI3", "etb-nestoklon2023")


@pytest.fixture(scope="module")
def both():
    return {"etb": etb_terms(P, cuboid(P.a, (2, 2, 3))),
            "kp": kp_assemble(KP, make_basis(KP, (4.0, 4.0, 5.0), n_basis=5))}


def test_both_models_are_terms(both):
    for name, t in both.items():
        assert isinstance(t, Terms) and t.model == name
        n = t.n_states
        for A in (t.H0, *t.M, *t.J) + (() if t.S is None else (t.S,)):
            assert A.shape == (n, n) and A.dtype == np.complex128
        lo, hi = t.edge_hint
        assert lo < t.edge_shifts[0] < t.midgap < t.edge_shifts[1] < hi
    assert both["etb"].S is None and both["kp"].S is not None  # Legendre–Galerkin basis is non-orthogonal
    assert both["kp"].n_fill == 2 * both["kp"].basis.n_env_vb


def test_same_result_fields_for_etb_and_kp(both):
    rs = {name: solve(t) for name, t in both.items()}
    for name, r in rs.items():
        assert isinstance(r, NcResult) and r.model == name
        assert isinstance(r.g_e, GFactor) and isinstance(r.g_h, GFactor)
        assert r.E_h < r.E_e and r.transition_energy == pytest.approx(r.E_e - r.E_h)
        assert r.residual_e < 1e-8 and r.residual_h < 1e-8
        assert r.stats["solver"] in ("dense", "shift-invert")
        assert r.observables["g_X"] == pytest.approx(r.g_e.g + r.g_h.g, abs=1e-14)
        # a (2, 2, 3) cuboid / 4 x 4 x 5 nm box: uniaxial about z, not a cube
        for g in (r.g_e, r.g_h):
            assert abs(g.tensor[0, 0] - g.tensor[1, 1]) < 1e-8 and abs(g.tensor[2, 2] - g.tensor[0, 0]) > 1e-4
    etb_keys = set(rs["etb"].as_json())
    assert etb_keys - {"n_cells"} == set(rs["kp"].as_json())
    assert {"g_X", "solver"} <= etb_keys
    assert [f.name for f in dataclasses.fields(rs["etb"])] == [f.name for f in dataclasses.fields(rs["kp"])]


def test_etb_pipeline_equals_nc_gfactors():
    r1 = nc_gfactors(P, (2, 2, 3))
    r2 = solve(etb_terms(P, cuboid(P.a, (2, 2, 3))))
    assert r1.E_e == r2.E_e and r1.E_h == r2.E_h
    assert np.array_equal(r1.g_e.tensor, r2.g_e.tensor) and np.array_equal(r1.g_h.tensor, r2.g_h.tensor)
    assert r1.as_json()["g_X"] == r1.g_e.g + r1.g_h.g


def test_kp_pipeline_equals_kp_solve(both):
    t = both["kp"]
    a = solve(t)
    b = kp_solve(KP, (4.0, 4.0, 5.0), n_basis=5)
    assert a.E_e == pytest.approx(b.electron.energy, abs=1e-12)
    assert a.E_h == pytest.approx(b.hole.energy, abs=1e-12)
    assert np.allclose(a.g_e.tensor, b.g_e.tensor, atol=1e-10)
    assert np.allclose(a.g_h.tensor, b.g_h.tensor, atol=1e-10)
    assert a.edge_nm == (4.0, 4.0, 5.0) and a.n_cells is None


def test_single_sigma_skips_edge_shifts(both):
    t = both["etb"]
    r = solve(t, sigma=t.midgap, solver="shift-invert")
    ref = solve(t, solver="shift-invert")
    assert r.stats["shifts"] == [t.midgap, t.midgap] and ref.stats["shifts"] == list(t.edge_shifts)
    assert abs(r.E_e - ref.E_e) < 1e-9 and abs(r.g_h.g - ref.g_h.g) < 1e-8
