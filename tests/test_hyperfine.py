"""Hyperfine observable: weights, Merkulov–Efros–Rosen Overhauser width, size law, constants table."""

import math

import numpy as np
import pytest

from perovskite_tb.errors import InputError, ParameterError
from perovskite_tb.model.geometry import cuboid
from perovskite_tb.model.materials import BASES, load_parameters
from perovskite_tb.nc import nc_gfactors
from perovskite_tb.observables.hyperfine import (
    MU_B_UEV_PER_T,
    bulk_cell_weights,
    hyperfine_fields,
    load_constants,
    orbital_weights,
    overhauser,
    uniform_prefactor,
)

BASIS = "sp3d5s*"
NORB = len(BASES[BASIS])
A_PB, A_I = 50.0, 190.0  # µeV, parameters/hyperfine.toml (Belykh 2026 / Meliakov 2026)
F_PB, F_I = 0.221 * 0.75, 1.0 * 2.5 * 3.5  # x I(I+1) of 207Pb, 127I


class _S:
    def __init__(self, species):
        self.species = np.asarray(species)


def _state(species, amp_by_site):
    """Doublet (ψ, Θψ-like) with |c|² = amp_by_site[j] on orbital `orb` of site j, spin up / down."""
    n = len(species) * 2 * NORB
    V = np.zeros((n, 2), dtype=complex)
    for j, (orb, p) in amp_by_site.items():
        V[j * 2 * NORB + 2 * orb, 0] = math.sqrt(p)
        V[j * 2 * NORB + 2 * orb + 1, 1] = math.sqrt(p)
    return V


def test_weights_sum_to_one_and_are_doublet_invariant():
    rng = np.random.default_rng(3)
    V = rng.standard_normal((4 * 2 * NORB, 2)) + 1j * rng.standard_normal((4 * 2 * NORB, 2))
    V, _ = np.linalg.qr(V)
    U = np.linalg.qr(rng.standard_normal((2, 2)) + 1j * rng.standard_normal((2, 2)))[0]
    w1, w2 = orbital_weights(V, BASIS), orbital_weights(V @ U, BASIS)
    assert w1.shape == (4, NORB)
    assert w1.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(w1, w2, atol=1e-13)


@pytest.mark.parametrize("n", [8, 27, 125, 1000])
def test_uniform_state_gives_exact_inverse_sqrt_n(n):
    """Uniform weight 1/n on Pb p of n Pb atoms: Δ = sqrt((2/3) F_Pb A²/n) exactly (MER 2002, N^-1/2 limit)."""
    species = np.zeros(n, dtype=int)
    V = _state(species, {j: (BASES[BASIS].index("pz"), 1.0 / n) for j in range(n)})
    E, share, notes = overhauser(species, orbital_weights(V, BASIS), BASIS, "electron", "I", load_constants())
    assert E == pytest.approx(math.sqrt(2.0 / 3.0 * F_PB * A_PB**2 / n), rel=1e-12)
    assert share == 0.0 and notes == []


def test_bulk_tiling_reproduces_uniform_prefactor_and_n_law():
    """The bulk R6- cell weights tiled over N cells (Bloch state) give uniform_prefactor × N^{-1/2}."""
    p = load_parameters("CsPbI3")
    sp, wc = bulk_cell_weights(p, "electron")
    C = uniform_prefactor(sp, wc, BASIS, "electron", 2.0)
    # hand formula: per-atom convention, I s-like = s + s*
    s = BASES[BASIS].index("s"), BASES[BASIS].index("sstar")
    p_idx = [BASES[BASIS].index(o) for o in ("px", "py", "pz")]
    S = F_PB * (A_PB * wc[0, p_idx].sum()) ** 2 + F_I * A_I**2 * sum(wc[j, list(s)].sum() ** 2 for j in (1, 2, 3))
    assert C == pytest.approx(math.sqrt(2 / 3 * S) / (2.0 * MU_B_UEV_PER_T), rel=1e-12)
    for N in (10, 1000):
        species = np.tile(sp, N)
        V = np.zeros((4 * N * 2 * NORB, 2))
        V[:, 0] = np.tile(np.sqrt(wc[:, :, None] * np.array([1.0, 0.0])).ravel(), N) / math.sqrt(N)
        V[:, 1] = np.tile(np.sqrt(wc[:, :, None] * np.array([0.0, 1.0])).ravel(), N) / math.sqrt(N)
        out = hyperfine_fields(_S(species), V, V, 2.0, 2.0, BASIS)
        assert out["Delta_N_e_mT"] == pytest.approx(1e3 * C / math.sqrt(N), rel=1e-10)


def test_delta_n_is_1_over_e_width_component_rms_is_delta_over_sqrt2():
    """Monte Carlo of classical randomly oriented spins |I| = sqrt(I(I+1)): rms of B_N,z = Δ_N/√2."""
    rng = np.random.default_rng(11)
    n = 40
    species = np.array([0] * n + [1] * n)
    amp = {j: (BASES[BASIS].index("pz" if j < n else "s"), 0.5 / n) for j in range(2 * n)}
    V = _state(species, amp)
    E, _, _ = overhauser(species, orbital_weights(V, BASIS), BASIS, "electron", "I", load_constants())
    a = np.where(species == 0, A_PB, A_I) * 0.5 / n
    spin = np.where(species == 0, 0.5, 2.5)
    magnetic = (species == 1) | (rng.random((20000, 2 * n)) < 0.221)  # 207Pb abundance
    cos_t = rng.uniform(-1, 1, (20000, 2 * n))
    hz = (magnetic * a * np.sqrt(spin * (spin + 1)) * cos_t).sum(axis=1)
    assert hz.std() == pytest.approx(E / math.sqrt(2.0), rel=0.02)


def test_missing_hole_constant_gives_nan_with_note():
    p = load_parameters("CsPbI3")
    sp, wh = bulk_cell_weights(p, "hole")
    assert math.isnan(uniform_prefactor(sp, wh, BASIS, "hole", 1.0))
    E, _, notes = overhauser(sp, wh, BASIS, "hole", "I", load_constants())
    assert math.isnan(E) and any("Pb 6s" in s for s in notes)


def test_bulk_cb_halide_weight_near_dft_9_percent():
    """ETB R6- halide weight (report: 0.0936) vs DFT 9 % (arXiv:2508.17881) — a sanity band, not a fit."""
    p = load_parameters("CsPbI3")
    sp, w = bulk_cell_weights(p, "electron")
    hw = w[sp == 1].sum()
    assert 0.05 < hw < 0.15
    sstar = BASES[BASIS].index("sstar")
    assert w[sp == 1, sstar].sum() > 0.99 * hw  # the s-like halide admixture sits on s*


@pytest.fixture(scope="module")
def cubes():
    """Solved ETB cubes of 4 and 6 cells (CsPbI3 default set): {N: (NcResult, BandEdges)}."""
    p = load_parameters("CsPbI3")
    out = {}
    for N in (4, 6):
        res, _, edges = nc_gfactors(p, (N, N, N), return_terms=True)
        out[N] = (res, edges)
    return out


def test_small_cube_fields_and_keys(cubes):
    p = load_parameters("CsPbI3")
    res, edges = cubes[4]
    out = hyperfine_fields(cuboid(p.a, 4), edges.electron.vectors, edges.hole.vectors,
                           res.g_e.g, res.g_h.g, p.basis)
    for k in ("Delta_N_e_mT", "Delta_N_h_mT", "halide_weight_e", "halide_weight_h"):
        assert k in out
    assert 0.0 < out["halide_weight_e"] < 0.5 < out["halide_weight_h"] < 1.0
    assert out["hf_halide_share_e"] > 0.5  # iodine dominates the electron's nuclear field
    assert out["Delta_N_e_mT"] == pytest.approx(out["Delta_N_e_ueV"] / (abs(res.g_e.g) * MU_B_UEV_PER_T) * 1e3)
    assert math.isnan(out["Delta_N_h_mT"]) and out["hyperfine_notes"]
    tot = sum(v for k, v in out.items() if k.startswith("w_e_"))
    assert tot == pytest.approx(1.0, abs=1e-10)


def test_size_law_on_etb_cubes(cubes):
    """g-independent energy gμBΔ_N of real ETB electrons falls as L^-3/2 within 15 % in exponent (4–6 cells)."""
    p = load_parameters("CsPbI3")
    L, E = [], []
    for N in (4, 6):
        edges = cubes[N][1]
        out = hyperfine_fields(cuboid(p.a, N), edges.electron.vectors, edges.hole.vectors, 2.0, 1.0, p.basis)
        L.append(N + 1.0)  # the envelope extends over the outer halide shell: effective edge ≈ (N + 1) a
        E.append(out["Delta_N_e_ueV"])
    slope = math.log(E[1] / E[0]) / math.log(L[1] / L[0])
    assert -1.5 * 1.15 < slope < -1.5 * 0.85


def test_bad_inputs():
    with pytest.raises(InputError, match="basis"):
        orbital_weights(np.zeros((40, 2)), "sp4")
    with pytest.raises(InputError, match="states per atom"):
        orbital_weights(np.zeros((41, 2)), BASIS)
    with pytest.raises(InputError, match="atoms"):
        hyperfine_fields(_S([0, 1]), np.zeros((20, 2)), np.zeros((20, 2)), 2.0, 1.0, BASIS)
    out = hyperfine_fields(_S([0]), _state([0], {0: (1, 1.0)}), _state([0], {0: (0, 1.0)}), 0.0, 1.0, BASIS)
    assert math.isnan(out["Delta_N_e_mT"]) and any("|g|" in s for s in out["hyperfine_notes"])


def test_constants_table_errors(tmp_path):
    bad = tmp_path / "hf.toml"
    bad.write_text('[electron.Pb]\nshells = ["f"]\nvalue = 1.0\nunit = "ueV"\nisotope = "207Pb"\nsource = "x"\n')
    with pytest.raises(ParameterError, match="unknown shells"):
        load_constants(str(bad))
    bad.write_text('[electron.Pb]\nshells = ["p"]\nvalue = 1.0\nunit = "ueV"\nisotope = "207Pb"\nsource = "nokey"\n'
                   '[[isotopes.Pb]]\nname = "207Pb"\nspin = 0.5\nabundance = 0.221\ngn = 1.18\nsource = "stone2014"\n')
    with pytest.raises(ParameterError, match="nokey"):
        load_constants(str(bad))
    with pytest.raises(ParameterError, match="cannot read"):
        load_constants(str(tmp_path / "missing.toml"))


def test_halide_of():
    from perovskite_tb.observables.hyperfine import halide_of

    assert [halide_of(m) for m in ("CsPbI3", "CsPbBr3", "CsPbCl3")] == ["I", "Br", "Cl"]
    with pytest.raises(InputError, match="MAPbI3"):
        halide_of("MAPbI3")


def test_constants_of_one_nucleus_add_before_squaring():
    from perovskite_tb.observables.hyperfine import HyperfineConstant, HyperfineConstants

    base = load_constants()
    mk = lambda shells, A: HyperfineConstant("Pb", "electron", "x", shells, A, "207Pb", "", "", "")  # noqa: E731
    c = HyperfineConstants({("electron", "Pb"): [mk(("p",), 10.0), mk(("s",), 30.0)]}, base.isotopes)
    species = np.array([0])
    V = np.zeros((2 * NORB, 2))
    V[[0, 2 * 3], 0] = math.sqrt(0.5)  # s↑ and pz↑ with weight ½ each (columns: the two doublet partners)
    V[[1, 2 * 3 + 1], 1] = math.sqrt(0.5)
    E, _, _ = overhauser(species, orbital_weights(V, BASIS), BASIS, "electron", "I", c)
    assert E == pytest.approx(math.sqrt(2 / 3 * F_PB) * (10.0 * 0.5 + 30.0 * 0.5), rel=1e-12)
