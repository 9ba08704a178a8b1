"""Generic structure and the one assembler: bond lists, further-neighbour shells as data, bulk vs NC (issue 11)."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perovskite_tb.errors import GeometryError, InputError
from perovskite_tb.model._reference import dense_hamiltonian
from perovskite_tb.model.bulk import bloch_derivatives, bloch_hamiltonian, high_symmetry_point
from perovskite_tb.model.hamiltonian import PEIERLS_COEF, assemble, bloch_matrix, bond_blocks
from perovskite_tb.model.materials import load_parameters
from perovskite_tb.model.slater_koster import HoppingShell, hopping_block, pair_block
from perovskite_tb.model.structure import bulk_cell, cuboid, with_shell

from tolerances import KRAMERS_ATOL_EV

P = load_parameters("CsPbI3", "nestoklon2023")
P_SP3 = load_parameters("CsPbI3", "nestoklon2021-sp3")
ORB_SHELLS = ("s", "p", "d", "sstar")

small_cells = st.tuples(*[st.integers(1, 3)] * 3).filter(lambda t: np.prod(t) <= 12)
tiny_cells = st.tuples(*[st.integers(1, 2)] * 3).filter(lambda t: np.prod(t) <= 4)
fields = st.tuples(*[st.floats(-30, 30, allow_nan=False)] * 3).map(np.asarray)


def _integrals(seed: int, scale: float = 0.1, homonuclear: bool = True) -> dict:
    """Random two-centre integrals (eV); for a homonuclear shell each unordered orbital-shell pair once."""
    rng = np.random.default_rng(seed)
    pairs = [(a, b) for i, a in enumerate(ORB_SHELLS) for b in ORB_SHELLS[(i if homonuclear else 0):]]
    return {(a, b): {"sigma": scale * rng.standard_normal(), "pi": scale * rng.standard_normal(),
                     "delta": scale * rng.standard_normal()} for a, b in pairs}


def _pbpb(seed=1, scale=0.1):
    return HoppingShell(2, ("Pb", "Pb"), _integrals(seed, scale))


def _xx(seed=2, scale=0.1):
    return HoppingShell(3, ("X", "X"), _integrals(seed, scale))


def _second_shells(s, a):
    """Pb–Pb at a (shell 2) and X–X at a/√2 (shell 3)."""
    return with_shell(with_shell(s, 2, ("Pb", "Pb"), a), 3, ("X", "X"), a / np.sqrt(2.0))


@given(small_cells)
def test_cuboid_bond_list_is_the_pbx6_octahedra(cells):
    s = cuboid(P.a, cells)
    nx, ny, nz = cells
    assert s.n_pb == nx * ny * nz and s.n_x == 3 * nx * ny * nz + ny * nz + nx * nz + nx * ny
    b = s.bonds
    assert len(b) == 6 * s.n_pb and np.all(b.shell == 1)
    assert np.all(s.species[b.i] == 0) and np.all(s.species[b.j] == 1)
    assert np.allclose(b.vector, s.positions[b.j] - s.positions[b.i], atol=1e-15)
    assert np.allclose(np.linalg.norm(b.vector, axis=1), P.a / 2, rtol=1e-12)
    assert len({(i, j) for i, j in zip(b.i, b.j)}) == len(b)  # no pair twice
    assert np.allclose(s.positions.mean(axis=0)[None] * 0, 0) and np.allclose(
        np.sort(s.positions, axis=0), np.sort(-s.positions, axis=0), atol=1e-12)


@pytest.mark.parametrize("cells, pbpb", [((3, 3, 3), 3 * 9 * 2), ((2, 3, 4), 2 * 3 * 3 + 2 * 2 * 4 + 1 * 3 * 4)])
def test_with_shell_finds_every_pair_once(cells, pbpb):
    s = with_shell(cuboid(P.a, cells), 2, ("Pb", "Pb"), P.a)
    new = s.bonds.shell == 2
    assert np.count_nonzero(new) == pbpb
    assert np.allclose(np.linalg.norm(s.bonds.vector[new], axis=1), P.a)
    cell = with_shell(bulk_cell(P.a), 2, ("Pb", "Pb"), P.a)
    assert np.count_nonzero(cell.bonds.shell == 2) == 3  # to the images at +x, +y, +z (−x, ... are the reverse)
    cell = with_shell(bulk_cell(P.a), 3, ("X", "X"), P.a / np.sqrt(2.0))
    assert np.count_nonzero(cell.bonds.shell == 3) == 12  # 12 X–X neighbours per 3 X, each bond once (3·8/2)


def test_bulk_matrix_is_built_from_the_bond_list():
    """H(k) of the 4-atom cell: Hermitian, and equal to an explicit sum over the six Pb–X bonds."""
    rng = np.random.default_rng(0)
    k = rng.standard_normal(3)
    H = bloch_hamiltonian(P, k)
    n = P.n_orb
    assert np.abs(H - H.conj().T).max() == 0.0
    for mu in range(3):
        d = 0.5 * P.a * np.eye(3)[mu]
        expect = hopping_block(P, d) * np.exp(1j * k @ d) + hopping_block(P, -d) * np.exp(-1j * k @ d)
        assert np.abs(H[:n, (mu + 1) * n:(mu + 2) * n] - expect).max() < 1e-14
    dH = bloch_derivatives(P, k)
    h = 1e-5
    for al in range(3):
        e = np.eye(3)[al] * h
        fd = (bloch_hamiltonian(P, k + e) - bloch_hamiltonian(P, k - e)) / (2 * h)
        assert np.abs(dH[al] - fd).max() < 1e-7


def test_zero_second_shell_leaves_every_matrix_unchanged():
    """Pb–Pb and X–X shells with zero integrals add no entry: H0, M, J, H(B) identical (values and pattern)."""
    s = cuboid(P.a, (2, 2, 3))
    zero = [HoppingShell(2, ("Pb", "Pb"), {}), HoppingShell(3, ("X", "X"), {})]
    t0 = assemble(s, P, orbital_zeeman=True)
    t1 = assemble(_second_shells(s, P.a), P, orbital_zeeman=True, shells=zero)
    B = (0.4, -1.0, 7.0)
    for A0, A1 in zip((t0.H0, *t0.M, *t0.J, t0.hamiltonian(B)), (t1.H0, *t1.M, *t1.J, t1.hamiltonian(B))):
        assert np.array_equal(A0.indptr, A1.indptr) and np.array_equal(A0.indices, A1.indices)
        assert np.array_equal(A0.data, A1.data)
    Hk0 = bloch_matrix(bulk_cell(P.a), P, np.ones(3))[0]
    Hk1 = bloch_matrix(_second_shells(bulk_cell(P.a), P.a), P, np.ones(3), shells=zero)[0]
    assert np.array_equal(Hk0, Hk1)


@settings(max_examples=12, deadline=None)
@given(tiny_cells, st.sampled_from([P, P_SP3]), fields, st.integers(0, 1000))
def test_second_shell_hermitian_kramers_and_equal_to_slow_twin(cells, params, B, seed):
    s = _second_shells(cuboid(params.a, cells), params.a)
    shells = [_pbpb(seed), _xx(seed + 1)]
    T = assemble(s, params, shells=shells)
    H = T.H0.toarray()
    assert np.abs(H - H.conj().T).max() < 1e-13
    assert np.abs(H - assemble(cuboid(params.a, cells), params).H0.toarray()).max() > 1e-4  # the shell is there
    for A in (*T.M, T.hamiltonian(B)):
        assert abs(A - A.conj().T).max() < 1e-13
    E = np.linalg.eigvalsh(H)
    assert np.allclose(E[0::2], E[1::2], atol=KRAMERS_ATOL_EV)
    bb = bond_blocks(s, params, shells)
    onsite = bb.onsite
    hop = lambda q: bb.hop[bb.kind[q]]  # noqa: E731
    assert np.abs(H - dense_hamiltonian(s, onsite, hop)).max() < 1e-14
    Z = sum(B[g] * T._zeeman[g] for g in range(3)).toarray()
    HB = dense_hamiltonian(s, onsite, hop, B=B, coef=PEIERLS_COEF) + Z
    assert np.abs(T.hamiltonian(B).toarray() - HB).max() < 1e-12


@pytest.mark.parametrize("params", [P, P_SP3], ids=["sp3d5s*", "sp3"])
@pytest.mark.parametrize("with_second", [False, True])
def test_bulk_bloch_equals_fourier_sum_of_nanocrystal_rows(params, with_second):
    """Bulk and NC share the assembler: H(k) = Σ_j H_NC[centre cell, j] e^{ik·(r_j − r_i)} in a 3-cube.

    Holds for the nearest-neighbour model and with Pb–Pb and X–X second shells (the centre cell's
    neighbours are all inside a 3×3×3 cube centred on its middle Pb)."""
    a = params.a
    nc, cell = cuboid(a, (3, 3, 3)), bulk_cell(a)
    shells = ()
    if with_second:
        nc, cell = _second_shells(nc, a), _second_shells(cell, a)
        shells = (_pbpb(5), _xx(6))
    H = assemble(nc, params, shells=shells).H0.toarray()
    n = params.n_orb
    centre = [int(np.argmin(np.linalg.norm(nc.positions - t, axis=1))) for t in cell.positions]
    assert np.allclose(nc.positions[centre], cell.positions)
    for k in (high_symmetry_point("R", a), np.array([0.3, -1.1, 2.0])):
        Hk = bloch_matrix(cell, params, k, shells=shells)[0]
        F = np.zeros_like(Hk)
        for al, i in enumerate(centre):
            for be, tau in enumerate(cell.positions):
                d = nc.positions - nc.positions[i]
                same = np.all(np.abs((nc.positions - tau) / a - np.round((nc.positions - tau) / a)) < 1e-9, axis=1)
                for j in np.nonzero(same)[0]:
                    blk = H[i * n:(i + 1) * n, j * n:(j + 1) * n]
                    F[al * n:(al + 1) * n, be * n:(be + 1) * n] += blk * np.exp(1j * k @ d[j])
        assert np.abs(F - Hk).max() < 1e-12
        E = np.linalg.eigvalsh(Hk)
        assert np.allclose(E[0::2], E[1::2], atol=1e-10)  # Kramers (inversion × time reversal)


def test_pair_block_reverse_bond_is_conjugate_transpose():
    """⟨j|H|i⟩ for the bond j → i (integrals seen from atom j, direction −d) is ⟨i|H|j⟩†, any direction."""
    V = _integrals(3, homonuclear=False)
    d = np.array([0.3, -0.5, 0.8])
    T = pair_block("sp3d5s*", V, d)
    seen_from_j = {k[::-1]: v for k, v in V.items()}
    assert np.abs(pair_block("sp3d5s*", seen_from_j, -d) - T.conj().T).max() < 1e-14
    assert np.abs(T).max() > 1e-3


def test_homonuclear_shell_integrals_are_symmetric():
    sh = HoppingShell(2, ("Pb", "Pb"), {("s", "p"): {"sigma": 0.3}})
    assert sh.integrals[("p", "s")] == {"sigma": 0.3}
    with pytest.raises(InputError, match="must agree"):
        HoppingShell(2, ("Pb", "Pb"), {("s", "p"): {"sigma": 0.3}, ("p", "s"): {"sigma": 0.2}})
    with pytest.raises(InputError, match="unknown"):
        HoppingShell(2, ("Pb", "Pb"), {("s", "f"): {"sigma": 0.3}})
    with pytest.raises(InputError, match="non-finite"):
        HoppingShell(2, ("Pb", "X"), {("s", "p"): {"sigma": float("nan")}})


def test_bond_errors():
    s = with_shell(cuboid(P.a, 2), 2, ("Pb", "Pb"), P.a)
    with pytest.raises(InputError, match="shell 2"):
        assemble(s, P)  # no integrals for shell 2
    with pytest.raises(InputError, match="twice"):
        assemble(s, P, shells=[_pbpb(), _pbpb()])
    with pytest.raises(InputError, match="periodic"):
        assemble(bulk_cell(P.a), P)
    with pytest.raises(InputError, match="periodic"):
        bloch_matrix(cuboid(P.a, 1), P, np.zeros(3))
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(GeometryError, match="nm"):
            with_shell(cuboid(P.a, 1), 2, ("Pb", "Pb"), bad)
    with pytest.raises(GeometryError, match="present"):
        with_shell(cuboid(P.a, 1), 1, ("Pb", "Pb"), P.a)
    with pytest.raises(GeometryError, match="species"):
        with_shell(cuboid(P.a, 1), 2, ("Pb", "Cs"), P.a)
    with pytest.raises(InputError, match="same pair"):
        dup = dataclasses.replace(s, bonds=type(s.bonds).concat([s.bonds, s.bonds]))
        assemble(dup, P, shells=[_pbpb()])
