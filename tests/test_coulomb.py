"""e–h Coulomb energy of a confined pair in a dielectric (perovskite_tb.observables.coulomb).

Physics checks: Brus/Kayanuma 1.786 e²/(4πε0 εR) for the infinite-barrier sphere (envelope and
per-atom densities), 1/R scaling, the exact image constant of a sphere with ε_out ≠ ε_in and its
cancellation in the optical energy (Brus, J. Chem. Phys. 80, 4403 (1984)), positivity and sign of
the self-energies, open-boundary completion vs padding. Contracts: bad input → one-line InputError
naming value and unit; cited dielectric defaults.
"""

from __future__ import annotations

from kp_pipeline import kp_solve

import math
import tomllib
from types import SimpleNamespace

import numpy as np
import pytest

from perovskite_tb.errors import InputError, ParameterError
from perovskite_tb.model.geometry import cuboid
from perovskite_tb.model.materials import parameters_dir
from perovskite_tb.observables import _poisson as P
from perovskite_tb.observables._coulomb_checks import (
    box_cos2,
    brus_constant,
    cube_weights,
    sphere_atoms,
    sphere_density,
)
from perovskite_tb.observables.coulomb import (
    COULOMB_EV_NM,
    atom_weights,
    box_region,
    coulomb_atoms,
    coulomb_envelope,
    coulomb_etb,
    coulomb_etb_doublets,
    dielectric_constants,
    pb_cell_region,
    sphere_region,
)
from perovskite_tb.observables.coulomb_kp import basis_functions_1d, kp_density

A = 0.6289  # nm, CsPbI3


# --------------------------------------------------------------------------- numerics
def test_cube_kernel_self_energy_and_far_field():
    """Mean 1/|r−r'| of two points in a unit cube is 1.88231… ; far offsets tend to 1/|Δ|."""
    K = P.cube_kernel((9, 9, 9))
    assert K[0, 0, 0] == pytest.approx(1.8823126443, rel=1e-9)
    assert K[1, 0, 0] < 1.0  # nearest cubes: less than the point value
    assert K[8, 0, 0] == pytest.approx(1 / 8, rel=1e-4)
    assert K[4, 4, 4] == pytest.approx(1 / math.sqrt(48), rel=1e-4)


def test_stencil_matches_numpy_reference():
    rng = np.random.default_rng(3)
    phi = rng.random((7, 8, 9))
    faces = [rng.random((6, 8, 9)), rng.random((7, 7, 9)), rng.random((7, 8, 8))]
    np.testing.assert_allclose(
        P.apply_operator(phi, faces, 0.3),
        P.apply_operator_reference(phi, faces, 0.3),
        rtol=1e-13,
        atol=1e-12,
    )


def test_brus_constant_quadrature():
    assert brus_constant() == pytest.approx(1.786, abs=5e-4)


# --------------------------------------------------------------------------- physics
@pytest.mark.physics
def test_sphere_envelope_brus_within_2_percent():
    R, eps = 2.0, 5.0
    f = sphere_density(R)
    r = coulomb_envelope(f, f, sphere_region(R), eps_in=eps, eps_out=eps)
    ref = 1.786 * COULOMB_EV_NM / (eps * R)
    assert r.E_C == pytest.approx(ref, rel=0.02)
    assert r.E_C == pytest.approx(
        brus_constant() * COULOMB_EV_NM / (eps * R), rel=0.005
    )  # default grid
    assert r.Sigma_e == 0.0 and r.Sigma_h == 0.0 and r.E_C == r.E_C_homogeneous


@pytest.mark.physics
def test_sphere_per_atom_density_brus_within_2_percent():
    """ETB-like point weights (Pb + 3 X per cell) from the same envelope, large R."""
    R, eps = 5.0, 6.1
    pb, pos, w = sphere_atoms(R)
    r = coulomb_atoms(pos, w, w, pb_cell_region(pb, A), eps_in=eps, eps_out=eps)
    assert r.E_C == pytest.approx(1.786 * COULOMB_EV_NM / (eps * R), rel=0.02)


@pytest.mark.physics
def test_one_over_r_scaling_per_atom():
    pb1, x1, w1 = sphere_atoms(2.5)
    pb2, x2, w2 = sphere_atoms(5.0)
    e1 = coulomb_atoms(x1, w1, w1, pb_cell_region(pb1, A), eps_in=6.1, eps_out=6.1).E_C
    e2 = coulomb_atoms(x2, w2, w2, pb_cell_region(pb2, A), eps_in=6.1, eps_out=6.1).E_C
    assert e1 / e2 == pytest.approx(2.0, rel=0.01)


@pytest.mark.physics
def test_sphere_image_constant_and_cancellation():
    """Spherical charges in a sphere: the image potential inside is (1/ε_out − 1/ε_in)e²/(4πε0R).

    So E_C − E_C(hom) = that constant, Σ_e = Σ_h = half of it, and the optical correction −E_C + Σ_e
    + Σ_h equals −E_C(hom) (Brus 1984).
    """
    R, ei, eo = 2.0, 5.0, 2.0
    f = sphere_density(R)
    r = coulomb_envelope(f, f, sphere_region(R), eps_in=ei, eps_out=eo)
    img = COULOMB_EV_NM * (1 / eo - 1 / ei) / R
    assert r.E_C - r.E_C_homogeneous == pytest.approx(img, rel=0.01)
    assert r.Sigma_e == pytest.approx(0.5 * img, rel=0.01)
    assert r.Sigma_h == pytest.approx(0.5 * img, rel=0.01)
    assert r.optical_correction_eV == pytest.approx(-r.E_C_homogeneous, rel=1e-6)
    assert r.info["cg_residual"] < 1e-8


@pytest.mark.physics
def test_mismatch_raises_coulomb_and_self_energies_cube():
    s, we, wh = cube_weights(6)
    same = coulomb_etb(s, we, wh, eps_in=6.1, eps_out=6.1)
    low = coulomb_etb(s, we, wh, eps_in=6.1, eps_out=2.2)
    high = coulomb_etb(s, we, wh, eps_in=6.1, eps_out=12.0)
    assert same.Sigma_e == 0.0 and same.Sigma_h == 0.0
    assert low.E_C > 1.5 * same.E_C and low.Sigma_e > 0.01 and low.Sigma_h > 0.01
    assert high.E_C < same.E_C and high.Sigma_e < 0 and high.Sigma_h < 0
    assert low.E_C_homogeneous == pytest.approx(same.E_C, rel=1e-12)
    assert low.info["reciprocity_eV"] < 1e-4
    # the image (polarisation) charge lies on the interface shell, inside the evaluation window
    assert low.info["polarisation_charge_outside_window"] < 1e-8
    # self-energies nearly cancel the extra attraction: corrections differ by ≪ the image term
    assert abs(low.optical_correction_eV - same.optical_correction_eV) < 0.05 * (low.E_C - same.E_C)


@pytest.mark.physics
def test_near_equal_eps_gives_vanishing_image_terms():
    s, we, wh = cube_weights(4)
    r = coulomb_etb(s, we, wh, eps_in=6.1, eps_out=6.1 * (1 - 1e-6))
    assert 0 < r.Sigma_e < 1e-6 and 0 < r.Sigma_h < 1e-6


@pytest.mark.physics
def test_open_boundary_completion_converges_with_padding():
    """Open-boundary E_C (default padding) within 0.3 % of a big box; same optical correction."""
    s, we, wh = cube_weights(6)
    L = 6 * A
    small = coulomb_etb(s, we, wh, eps_in=6.1, eps_out=2.2)
    big = coulomb_etb(s, we, wh, eps_in=6.1, eps_out=2.2, padding_nm=1.5 * L)
    assert small.E_C == pytest.approx(big.E_C, rel=3e-3)
    assert abs(small.E_C - big.E_C) < abs(small.info["E_C_box_boundary_eV"] - big.E_C)
    assert small.optical_correction_eV == pytest.approx(big.optical_correction_eV, abs=2e-5)


@pytest.mark.physics
def test_envelope_box_grid_convergence():
    L = 5.0
    f = box_cos2(L)
    r16 = coulomb_envelope(f, f, box_region(L), eps_in=6.1, eps_out=2.2, spacing_nm=L / 16)
    r32 = coulomb_envelope(f, f, box_region(L), eps_in=6.1, eps_out=2.2, spacing_nm=L / 32)
    assert r16.E_C == pytest.approx(r32.E_C, rel=5e-3)
    assert r32.E_C > r16.E_C  # midpoint sampling of a cos² density underestimates E_C: monotone


# --------------------------------------------------------------------------- inputs
def test_atom_weights_average_kramers_pair():
    rng = np.random.default_rng(1)
    V = rng.standard_normal((3 * 20, 2)) + 1j * rng.standard_normal((3 * 20, 2))
    V /= np.linalg.norm(V, axis=0)
    w = atom_weights(V, 20)
    assert w.shape == (3,) and w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(
        w, 0.5 * (np.abs(V[:, 0]) ** 2 + np.abs(V[:, 1]) ** 2).reshape(3, 20).sum(1)
    )
    with pytest.raises(InputError):
        atom_weights(V[:-1], 20)


def test_etb_doublet_entry_matches_weights():
    s = cuboid(A, 3)
    rng = np.random.default_rng(2)
    V = rng.standard_normal((s.n_sites * 20, 2)) + 0j
    V /= np.linalg.norm(V, axis=0)
    r1 = coulomb_etb_doublets(s, V, V[:, ::-1], 20, eps_in=6.1, eps_out=6.1)
    w = atom_weights(V, 20)
    r2 = coulomb_etb(s, w, w, eps_in=6.1, eps_out=6.1)
    assert r1.E_C == pytest.approx(r2.E_C, rel=1e-12)


def test_kp_density_normalised_sine_and_legendre():
    for kind in ("sine", "legendre"):
        x = np.linspace(-2, 2, 4001)
        phi = basis_functions_1d(kind, 4.0, 5, x)
        G = (phi[:, None, :] * phi[None, :, :]).sum(-1) * (x[1] - x[0])
        assert np.allclose(np.diag(G), 1.0, atol=1e-5)
        if kind == "sine":
            assert np.allclose(G, np.eye(5), atol=1e-5)
    # orthonormal sine basis: any c with |c| = 1 integrates to 1
    N = 4
    tr = np.stack(np.meshgrid(*[np.arange(1, N + 1)] * 3, indexing="ij"), -1).reshape(-1, 3)
    basis = SimpleNamespace(
        edge_nm=(4.0, 4.0, 4.0), n_max=(N, N, N), triples=tr, triples_vb=tr, kind="sine"
    )
    rng = np.random.default_rng(4)
    c = rng.standard_normal((8 * tr.shape[0], 2)) + 1j * rng.standard_normal((8 * tr.shape[0], 2))
    c /= np.linalg.norm(c, axis=0)
    g = np.linspace(-2, 2, 81)
    n = kp_density(basis, c)(g[:, None, None], g[None, :, None], g[None, None, :])
    assert n.sum() * (g[1] - g[0]) ** 3 == pytest.approx(1.0, rel=2e-3)
    with pytest.raises(InputError):
        kp_density(basis, c[:-1])


def _one_line(excinfo, *needles):
    msg = str(excinfo.value)
    assert "\n" not in msg
    for s in needles:
        assert s in msg, msg


@pytest.mark.parametrize("bad", [0.0, -2.0, float("nan"), float("inf"), "x"])
def test_bad_permittivity(bad):
    s, we, wh = cube_weights(3)
    with pytest.raises(InputError) as e:
        coulomb_etb(s, we, wh, eps_in=bad, eps_out=2.2)
    _one_line(e, "epsilon_in", "permittivity")
    f = sphere_density(2.0)
    with pytest.raises(InputError) as e:
        coulomb_envelope(f, f, sphere_region(2.0), eps_in=5.0, eps_out=bad)
    _one_line(e, "epsilon_out")


def test_grid_too_coarse():
    s, we, wh = cube_weights(6)
    with pytest.raises(InputError) as e:
        coulomb_etb(s, we, wh, eps_in=6.1, eps_out=2.2, spacing_nm=0.7)
    _one_line(e, "0.7 nm", "a = 0.6289 nm")
    f = box_cos2(2.0)
    with pytest.raises(InputError) as e:
        coulomb_envelope(f, f, box_region(2.0), eps_in=6.1, eps_out=2.2, spacing_nm=0.6)
    _one_line(e, "0.6 nm", "2 nm", "nodes")
    with pytest.raises(InputError) as e:
        coulomb_envelope(f, f, box_region(2.0), eps_in=6.1, eps_out=2.2, spacing_nm=-0.1)
    _one_line(e, "-0.1 nm")


def test_bad_weights():
    s, we, wh = cube_weights(3)
    with pytest.raises(InputError) as e:
        coulomb_etb(s, 2 * we, wh, eps_in=6.1, eps_out=2.2)
    _one_line(e, "electron weights", "sums to 2", "unit 1")
    neg = wh.copy()
    neg[1] += neg[0] + 0.01
    neg[0] = -0.01  # still sums to 1
    with pytest.raises(InputError) as e:
        coulomb_etb(s, we, neg, eps_in=6.1, eps_out=2.2)
    _one_line(e, "hole weights", "negative")
    with pytest.raises(InputError) as e:
        coulomb_etb(s, we[:-1], wh, eps_in=6.1, eps_out=2.2)
    _one_line(e, "entries")
    nan = we.copy()
    nan[3] = np.nan
    with pytest.raises(InputError):
        coulomb_etb(s, nan, wh, eps_in=6.1, eps_out=2.2)


def test_unnormalised_density_and_bad_region():
    f = sphere_density(2.0)
    with pytest.raises(InputError) as e:
        coulomb_envelope(
            lambda x, y, z: 3 * f(x, y, z), f, sphere_region(2.0), eps_in=5.0, eps_out=2.0
        )
    _one_line(e, "electron density integrates to", "1/nm^3")
    with pytest.raises(InputError) as e:
        sphere_region(-1.0)
    _one_line(e, "-1.0 nm")
    with pytest.raises(InputError):
        pb_cell_region(np.array([[0.0, 0.0, 0.0], [0.3, 0.0, 0.0]]), A)


# --------------------------------------------------------------------------- parameters
def test_dielectric_defaults_cited():
    refs = set()
    for p in parameters_dir().glob("references*.toml"):
        refs |= set(tomllib.loads(p.read_text()).keys())
    for m in ("CsPbI3", "CsPbBr3", "CsPbCl3"):
        d = dielectric_constants(m)
        for e in (d.eps_in, d.eps_out):
            assert math.isfinite(e.value) and e.value > 1
            assert e.tag in {"SRC", "3P", "REC"} and e.source in refs
        assert d.eps_out.value < d.eps_in.value
    assert (
        dielectric_constants("CsPbI3").eps_in.tag == "3P"
    )  # DFT value: no measured cubic ε_∞ found
    with pytest.raises(ParameterError):
        dielectric_constants("CsSnI3")
    with pytest.raises(ParameterError):
        dielectric_constants("CsPbI3", matrix="water")


# --------------------------------------------------------------------------- real ETB (slow)
@pytest.mark.slow
@pytest.mark.physics
def test_real_etb_cube_vs_kp_envelope():
    """6-cell CsPbI3 cube: ETB band edges vs the 8-band k·p model of the same edge (ratio 0.92)."""
    from kp.confinement import nc_default_set
    from kp.parameters import load_kp_parameters
    from perovskite_tb.model.materials import load_parameters
    from perovskite_tb.nc import nc_gfactors

    p = load_parameters("CsPbI3")
    _, _, edges = nc_gfactors(p, 6, return_terms=True)
    s = cuboid(p.a, 6)
    L = 6 * p.a
    re = coulomb_etb_doublets(
        s, edges.electron.vectors, edges.hole.vectors, p.n_orb, eps_in=6.1, eps_out=2.2
    )
    kr = kp_solve(load_kp_parameters("CsPbI3", nc_default_set("CsPbI3")), (L, L, L))
    b = kr.terms.basis
    rk = coulomb_envelope(
        kp_density(b, kr.electron.vectors),
        kp_density(b, kr.hole.vectors),
        box_region(L),
        eps_in=6.1,
        eps_out=2.2,
    )
    assert (
        0.8 < re.E_C / rk.E_C < 1.0
    )  # ETB states leak further towards the surface than the k·p envelopes
    assert all(v > 0 for v in (re.Sigma_e, re.Sigma_h, rk.Sigma_e, rk.Sigma_h))
    assert re.optical_correction_eV < 0
