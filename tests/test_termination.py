"""Surface terminations (pbx6, passivated, csx): geometry from the bond list, Hermiticity, Kramers, no gap
states, symmetry blocks, pbx6 = the package before terminations, bad input, run files and the CLI."""

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp

from perovskite_tb._system import blas_threads
from perovskite_tb.app.cli import main
from perovskite_tb.app.engine.points import expand_points
from perovskite_tb.app.engine.runfile import parse_run
from perovskite_tb.eigen.ldl import factor_ldl, nd_ordering
from perovskite_tb.eigen.symmetry import _atom_operator, _op_matrix, _site_map, detect_operations
from perovskite_tb.errors import InputError
from perovskite_tb.model.hamiltonian import assemble
from perovskite_tb.model.materials import load_parameters
from perovskite_tb.model.shapes import ShapeSpec, build
from perovskite_tb.model.structure import bulk_cell, cuboid
from perovskite_tb.model.termination import (TERMINATIONS, SurfaceTerm, TerminationSpec, default_cs_potential,
                                             missing_bonds, outer_cs_sites, register_termination, surface_term)
from perovskite_tb.model.terms import bulk_edges, terms_from_hamiltonian
from perovskite_tb.nc import nc_gfactors, solve

from tolerances import KRAMERS_ATOL_EV

P = load_parameters("CsPbI3", "nestoklon2023")
KINDS = ("pbx6", "passivated", "csx")
SHAPES = {
    "cube2": ShapeSpec("cube", n_cells=(2, 2, 2)),
    "cube3": ShapeSpec("cube", n_cells=(3, 3, 3)),
    "cuboid223": ShapeSpec("cuboid", n_cells=(2, 2, 3)),
    "sphere": ShapeSpec("sphere", diameter_nm=2.6),
    "spheroid": ShapeSpec("spheroid", semi_axes_nm=(0.7, 0.7, 1.3)),
}


def _structure(name):
    return build(SHAPES[name], P.a)


# --- geometry from the bond list ---------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_cube_surface_halides_have_one_outward_missing_bond(n):
    s = cuboid(P.a, n)
    miss = missing_bonds(s)
    assert not miss[s.species == 0].any()  # every Pb keeps its octahedron
    per_x = miss[s.species == 1].sum(axis=1)
    assert set(per_x.tolist()) <= {0, 1}
    assert int(per_x.sum()) == 6 * n * n  # the apical halides of the six faces
    dirs = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
    rows, cols = np.nonzero(miss)
    assert np.all(np.einsum("ij,ij->i", s.positions[rows], dirs[cols]) > 0)  # pointing out of the NC


@pytest.mark.parametrize("name", list(SHAPES))
def test_missing_bonds_are_exactly_the_absent_neighbours(name):
    s = _structure(name)
    miss = missing_bonds(s)
    dirs = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
    occupied = {tuple(np.rint(2 * p / s.a).astype(int)) for p in s.positions}
    for site in np.nonzero(s.species == 1)[0]:
        axis = [d for d in range(6) if tuple(np.rint(2 * (s.positions[site] + 0.5 * s.a * dirs[d]) / s.a)
                                             .astype(int)) in occupied]
        assert len(axis) in (1, 2)
        expected = {2 * (axis[0] // 2), 2 * (axis[0] // 2) + 1} - set(axis)
        assert set(np.nonzero(miss[site])[0].tolist()) == expected


@pytest.mark.parametrize("n", [2, 3, 4])
def test_outer_cs_layer_of_a_cube_matches_the_cited_count(n):
    # Weinberg et al., arXiv:2303.00707 SI §1.1: (N+1)^3 - 8 Cs in all, of which (N-1)^3 are interior.
    assert len(outer_cs_sites(cuboid(P.a, n))) == (n + 1) ** 3 - 8 - (n - 1) ** 3


def test_default_cs_potential_is_the_screened_point_charge():
    assert default_cs_potential(0.6289) == pytest.approx(-1.439964547 / (4.0 * 0.6289 / math.sqrt(2)), rel=1e-9)
    assert -1.0 < default_cs_potential(P.a) < -0.6


# --- matrices ---------------------------------------------------------------------------------


def test_pbx6_is_bit_identical_to_no_termination():
    s = cuboid(P.a, (2, 3, 2))
    a, b = assemble(s, P), assemble(s, P, termination="pbx6")
    for x, y in zip((a.H0, *a.M, *a.J), (b.H0, *b.M, *b.J)):
        assert (x != y).nnz == 0
    assert a.n_fill == b.n_fill


def _eigvalsh(H):
    with blas_threads(1):
        return np.linalg.eigvalsh(H.toarray())


@pytest.mark.parametrize("kind", KINDS[1:])
@pytest.mark.parametrize("name", ["cube2", "spheroid"])
def test_termination_is_onsite_hermitian_and_kramers(kind, name):
    s = _structure(name)
    base, ht = assemble(s, P), assemble(s, P, termination=kind)
    n = P.n_orb
    D = (ht.H0 - base.H0).toarray()
    sites = np.arange(s.n_sites).repeat(n)
    assert np.all(D[sites[:, None] != sites[None, :]] == 0)  # on-site only
    assert np.abs(D).max() > 1.0  # and present
    for m in (ht.H0, *ht.M):
        assert abs(m - m.conj().T).max() < 1e-14
    for m, m0 in zip(ht.M, base.M):  # the Zeeman and Peierls terms are those of pbx6
        assert abs(m - m0).max() == 0
    E = _eigvalsh(ht.H0)
    assert np.max(np.abs(E[1::2] - E[0::2])) < KRAMERS_ATOL_EV


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["cube2", "cuboid223", "spheroid"])
def test_no_states_in_the_bulk_gap_dense(kind, name):
    """Dense spectrum of small NCs: nothing inside the bulk gap, and n_fill states below it."""
    ht = assemble(_structure(name), P, termination=kind)
    lo, hi = bulk_edges(P)
    E = _eigvalsh(ht.H0)
    assert np.count_nonzero((E > lo + 0.05) & (E < hi - 0.05)) == 0
    assert np.count_nonzero(E < lo + 0.05) == ht.n_fill


@pytest.mark.parametrize("kind", KINDS)
def test_no_states_in_the_bulk_gap_inertia(kind):
    """3- and 4-cell cubes, a 3 nm sphere: the inertia of H − σ at both ends of the gap window is n_fill."""
    lo, hi = bulk_edges(P)
    for spec in (SHAPES["cube3"], ShapeSpec("cube", n_cells=(4, 4, 4)), ShapeSpec("sphere", diameter_nm=3.0)):
        ht = assemble(build(spec, P.a), P, termination=kind)
        perm = nd_ordering(ht.H0, P.n_orb)
        for sigma in (lo + 0.05, hi - 0.05):
            A = (ht.H0 - sigma * _eye(ht.H0.shape[0])).tocsc()
            _, _, n_neg = factor_ldl(A, perm)
            assert n_neg == ht.n_fill


def _eye(n):
    return sp.eye_array(n, format="csr", dtype=np.complex128)


def test_passivation_default_is_converged_in_delta():
    """g and the levels at the default δ_sb are within 0.02 (g) and 5 meV of δ_sb = 10⁵ eV (the limit ∝ 1/δ)."""
    a = nc_gfactors(P, 3, termination="passivated", dielectric=None)
    b = nc_gfactors(P, 3, termination=TerminationSpec("passivated", passivation_eV=1e5), dielectric=None)
    assert abs(a.g_e.g - b.g_e.g) < 0.02 and abs(a.g_h.g - b.g_h.g) < 0.02
    assert abs(a.E_e - b.E_e) < 5e-3 and abs(a.E_h - b.E_h) < 5e-3


def test_passivation_lifts_one_orbital_per_dangling_bond():
    s = cuboid(P.a, 3)
    ht = assemble(s, P, termination="passivated")
    assert ht.n_fill == 2 * (s.n_pb + 4 * s.n_x) - 2 * 6 * 9


# --- symmetry ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS[1:])
@pytest.mark.parametrize("name", list(SHAPES))
def test_termination_is_covariant_under_the_detected_operations(kind, name):
    """Every operation detected from the termination's labels maps its on-site additions onto each other."""
    s = _structure(name)
    surf = surface_term(s, P, kind)
    labels = surf.symmetry_labels()
    ops = detect_operations(s.positions, labels)
    assert ops == detect_operations(s.positions, s.species)  # no symmetry of the shape is lost
    for op in ops:
        A = _atom_operator(op, P.n_orb)
        smap = _site_map(s.positions, _op_matrix(op), 1e-6, labels)
        X = surf.extra[surf.site_class]
        assert np.allclose(A @ X @ A.conj().T, X[smap], atol=1e-12)


@pytest.mark.parametrize("kind", KINDS[1:])
@pytest.mark.parametrize("name", ["cuboid223", "spheroid"])
def test_blocked_solve_equals_unblocked(kind, name):
    terms = terms_from_hamiltonian(assemble(_structure(name), P, termination=kind))
    a = solve(terms, symmetry="auto")
    b = solve(terms, symmetry="none")
    assert len(a.stats["symmetry"]) > 1
    assert a.E_e == pytest.approx(b.E_e, abs=1e-9) and a.E_h == pytest.approx(b.E_h, abs=1e-9)
    assert a.g_e.g == pytest.approx(b.g_e.g, abs=1e-7) and a.g_h.g == pytest.approx(b.g_h.g, abs=1e-7)


def _one_corner(structure, params, spec):
    """A termination that breaks the symmetry: a potential on the halide of largest x + y + z only."""
    xs = np.nonzero(structure.species == 1)[0]
    far = xs[np.argmax(structure.positions[xs] @ np.array([1.0, 1.1, 1.2]))]
    key = np.zeros(structure.n_sites, dtype=np.int64)
    key[far] = 1
    cls = structure.species.astype(np.int64).copy()
    cls[far] = 2
    extra = np.zeros((3, params.n_orb, params.n_orb), dtype=np.complex128)
    extra[2] = -0.7 * np.eye(params.n_orb)
    return SurfaceTerm(site_class=cls, class_species=np.array([0, 1, 1]), extra=extra)


def test_symmetry_breaking_termination_is_not_blocked_wrongly():
    if "test-corner" not in TERMINATIONS:
        register_termination("test-corner", _one_corner)
    s = cuboid(P.a, 2)
    terms = terms_from_hamiltonian(assemble(s, P, termination="test-corner"))
    assert detect_operations(s.positions, terms.symmetry.species) == ()
    a, b = solve(terms, symmetry="auto"), solve(terms, symmetry="none")
    assert a.E_e == pytest.approx(b.E_e, abs=1e-9) and a.g_h.g == pytest.approx(b.g_h.g, abs=1e-7)


def test_cube_g_stays_isotropic():
    for kind in KINDS[1:]:
        r = nc_gfactors(P, 3, termination=kind, dielectric=None)
        for g in (r.g_e, r.g_h):
            assert np.allclose(g.tensor, g.g * np.eye(3), atol=1e-8)


# --- bad input, run files, CLI ------------------------------------------------------------------


@pytest.mark.parametrize("kw, word", [
    (dict(kind="hydrogen"), "hydrogen"),
    (dict(kind="passivated", passivation_eV=2.0), "2.0 eV"),
    (dict(kind="passivated", passivation_eV=math.nan), "nan"),
    (dict(kind="csx", cs_potential_eV=0.5), "0.5 eV"),
])
def test_bad_termination_is_refused_in_one_line(kw, word):
    with pytest.raises(InputError, match=word):
        TerminationSpec(**kw)


def test_termination_of_a_periodic_cell_is_refused():
    with pytest.raises(InputError, match="periodic"):
        surface_term(bulk_cell(P.a), P, "passivated")


def test_parameter_of_another_termination_is_refused():
    with pytest.raises(InputError, match="csx"):
        TerminationSpec.from_options("passivated", cs_potential_eV=-0.5)


def _run(extra_axes=None, options=None):
    doc = {"output": "x.h5", "axes": {"n_cells": [2], **(extra_axes or {})}}
    if options:
        doc["options"] = options
    return parse_run(doc, source="run.toml")


def test_run_file_termination_axis_points_and_keys():
    spec = _run({"termination": ["pbx6", "csx"]}, {"cs_potential_eV": -0.4})
    pts = expand_points(spec).points
    assert [p.termination.kind for p in pts] == ["pbx6", "csx"]
    assert pts[1].termination.cs_potential_eV == -0.4
    assert pts[0].key == expand_points(_run()).points[0].key  # the default keeps the old key
    assert pts[1].key.endswith("|term=csx") and pts[1].columns()["termination"] == "csx"


@pytest.mark.parametrize("axes, options, word", [
    ({"termination": ["pbx6", "hydrogen"]}, None, "hydrogen"),
    ({"termination": ["csx"], "model": ["etb", "kp"]}, None, "kp"),
    ({"termination": ["pbx6"]}, {"passivation_eV": 30.0}, "passivated"),
    ({"termination": ["passivated"]}, {"passivation_eV": 1e6}, "1000000"),
    ({"termination": ["csx"]}, {"cs_potential_eV": "x"}, "cs_potential_eV"),
])
def test_run_file_bad_termination(axes, options, word):
    with pytest.raises(InputError, match=word):
        _run(axes, options)


def test_cli_nc_termination_json(capsys):
    assert main(["nc", "--n-cells", "2", "2", "2", "--termination", "csx", "--cs-potential-eV", "-0.3",
                 "--no-coulomb", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = nc_gfactors(P, 2, termination=TerminationSpec("csx", cs_potential_eV=-0.3), dielectric=None)
    assert out["termination"] == "csx" and out["E_e_eV"] == pytest.approx(ref.E_e, abs=1e-12)
    assert main(["nc", "--n-cells", "2", "2", "2", "--passivation-eV", "30", "--json"]) == 2
    assert "passivated" in capsys.readouterr().err
