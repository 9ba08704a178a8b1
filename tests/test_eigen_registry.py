"""Eigen layer: back-end registry parity (dense is the reference), selection errors, LDLᴴ inertia,
and the layer contracts (lint-imports)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from perovskite_tb import cuboid, load_parameters
from perovskite_tb.eigen import backends as bk
from perovskite_tb.eigen import registry as reg
from perovskite_tb.eigen.registry import available_backends, choose_backend
from perovskite_tb.eigen.band_edges import band_edges
from perovskite_tb.eigen.doublets import time_reverse
from perovskite_tb.eigen.ldl import available_ldl_backends, factor_ldl, nd_ordering
from perovskite_tb.errors import InputError, SolverError
from perovskite_tb.model.terms import etb_terms, spin_minor_theta
from perovskite_tb.nc import solve

from kp.confinement import assemble as kp_assemble
from kp.confinement import make_basis
from kp.parameters import load_kp_parameters

ROOT = Path(__file__).resolve().parents[1]
P = load_parameters()


@pytest.fixture(scope="module")
def etb_cube():
    return etb_terms(P, cuboid(P.a, 2))


@pytest.fixture(scope="module")
def kp_cube():
    p = load_kp_parameters("CsPbI3", "etb-nestoklon2023")
    return kp_assemble(p, make_basis(p, (5.0, 5.0, 5.0), n_basis=5))


def _tensors(r):
    return np.concatenate([r.g_e.tensor.ravel(), r.g_h.tensor.ravel()])


@pytest.mark.parametrize("which", ["etb", "kp"])
def test_every_available_backend_matches_dense(which, etb_cube, kp_cube):
    """Every registered back-end that can solve the problem gives the dense doublets and g to 1e-8."""
    terms = etb_cube if which == "etb" else kp_cube
    ref = solve(terms, solver="dense")
    assert ref.stats["solver"] == "dense" and ref.stats["n_blocks"] == 4
    names = [n for n in available_backends() if terms.S is None or reg.BACKENDS[n].generalized]
    assert {"dense", "shift-invert"} <= set(names)
    for name in names:
        r = solve(terms, solver=name)
        assert r.stats["solver"] == name
        assert abs(r.E_e - ref.E_e) < 1e-8 and abs(r.E_h - ref.E_h) < 1e-8, name
        assert np.abs(_tensors(r) - _tensors(ref)).max() < 1e-8, name
        assert r.residual_e < 1e-8 and r.residual_h < 1e-8


def test_dense_and_shift_invert_prove_the_same_inertia(etb_cube):
    kw = dict(sigma=etb_cube.midgap, n_fill=etb_cube.n_fill, basis=etb_cube.symmetry,
              edge_shifts=etb_cube.edge_shifts)
    d = band_edges(etb_cube.H0, method="dense", **kw)
    s = band_edges(etb_cube.H0, method="shift-invert", **kw)
    assert d.n_below == s.n_below == etb_cube.n_fill
    assert "edge_shifts_rejected" not in d.stats


@pytest.mark.parametrize("bad", ["feast", "Dense", ""])
def test_unknown_backend_is_a_one_line_error(etb_cube, bad):
    with pytest.raises(InputError) as exc:
        solve(etb_cube, solver=bad)
    msg = str(exc.value)
    assert "\n" not in msg and repr(bad) in msg and "shift-invert" in msg


def test_generalized_problem_refuses_standard_only_backend(kp_cube):
    class StandardOnly(bk.Dense):
        name = "standard-only"
        generalized = False

    reg.register_backend(StandardOnly())
    try:
        assert "standard-only" in available_backends()
        with pytest.raises(InputError, match="non-orthogonal"):
            solve(kp_cube, solver="standard-only")
    finally:
        del reg.BACKENDS["standard-only"]


def test_a_registered_backend_is_selectable_and_recorded(etb_cube):
    """A new eigensolver is one class + registration: selectable by name, recorded in the stats."""
    calls = []

    class Counting(bk.Dense):
        name = "counting-dense"

        def solve(self, *a, **k):
            calls.append(1)
            return super().solve(*a, **k)

    reg.register_backend(Counting())
    try:
        r = solve(etb_cube, solver="counting-dense")
        ref = solve(etb_cube, solver="dense")
        assert r.stats["solver"] == "counting-dense" and len(calls) == r.stats["n_blocks"]
        assert r.E_e == ref.E_e and r.g_e.g == ref.g_e.g
        with pytest.raises(ValueError):
            reg.register_backend(Counting())
    finally:
        del reg.BACKENDS["counting-dense"]


def test_auto_rules():
    """Today's rules: dense only up to dense_max_states; shift-invert while it fits; refusal names size."""
    b, _ = choose_backend("auto", 1000, 7000, 8, 10.0, dense_max_states=1800)
    assert b.name == "dense"
    b, _ = choose_backend("auto", 1000, 7000, 8, 10.0)
    assert b.name == "shift-invert"
    with pytest.raises(SolverError, match=r"5000 states .* estimated .* GB"):
        choose_backend("auto", 5000, 35000, 8, 1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ldl_inertia_counts_negative_eigenvalues(seed):
    """Sylvester: negative pivots of the unpivoted LDLᴴ = negative eigenvalues of a Hermitian matrix."""
    rng = np.random.default_rng(seed)
    n = 60
    A = sp.random_array((n, n), density=0.1, rng=rng) + 1j * sp.random_array((n, n), density=0.1, rng=rng)
    A = sp.csr_array(A + A.conj().T + sp.diags_array(rng.uniform(-3, 3, n)))
    _, solve_fn, neg = factor_ldl(A, nd_ordering(A, 1), "A")
    assert neg == int(np.sum(np.linalg.eigvalsh(A.toarray()) < 0))
    x = rng.standard_normal(n) + 0j
    assert np.allclose(A @ solve_fn(x), x, atol=1e-9)


def test_ldl_backend_registry():
    assert "superlu" in available_ldl_backends()
    A = sp.csr_array(sp.eye_array(4, dtype=complex))
    with pytest.raises(InputError, match="unknown LDL back-end 'mumps'"):
        factor_ldl(A, np.arange(4), backend="mumps")


def test_unavailable_ldl_backend_is_refused_before_any_work(etb_cube):
    with pytest.raises(InputError, match="LDL back-end 'mumps' is not available"):
        solve(etb_cube, solver="shift-invert", ldl="mumps")
    with pytest.raises(InputError, match="unknown solver option"):
        solve(etb_cube, tolerance=1e-3)


def test_spin_minor_theta_is_time_reversal():
    rng = np.random.default_rng(5)
    v = rng.standard_normal((20, 3)) + 1j * rng.standard_normal((20, 3))
    th = spin_minor_theta(20)
    assert np.array_equal(time_reverse(v, th), time_reverse(v))
    assert np.allclose(time_reverse(time_reverse(v, th), th), -v)  # Θ² = −1 for spin ½


def test_finite_field_solve_refuses_kramers_partner_blocks(etb_cube):
    with pytest.raises(InputError, match="finite-field"):
        band_edges(etb_cube.H0, sigma=etb_cube.midgap, basis=etb_cube.symmetry, kramers=False)


def test_layer_contracts():
    """The import-linter contracts of pyproject.toml hold (model → eigen → observables → nc → app; kp)."""
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(exe).exists():
        pytest.skip("lint-imports (import-linter) not installed")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cp = subprocess.run([exe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert cp.returncode == 0, cp.stdout[-3000:] + cp.stderr[-2000:]
    assert "broken" in cp.stdout and " 0 broken" in cp.stdout
