"""Shapes as data (cube, cuboid, sphere, spheroid), symmetry detected from the structure, `nc --shape`."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from perovskite_tb.app.cli import main
from perovskite_tb.eigen.symmetry import detect_operations, invariant_operations, symmetry_blocks
from perovskite_tb.errors import GeometryError
from perovskite_tb.model.hamiltonian import assemble
from perovskite_tb.model.materials import load_parameters
from perovskite_tb.model.shapes import SHAPES, SIZE_FIELDS, ShapeSpec, build, register_shape
from perovskite_tb.model.structure import cuboid, octahedra
from perovskite_tb.nc import nc_gfactors

P = load_parameters("CsPbI3", "nestoklon2023")
P_SP3 = load_parameters("CsPbI3", "nestoklon2021-sp3")
A = P.a

specs = st.one_of(
    st.tuples(*[st.integers(1, 4)] * 3).map(lambda n: ShapeSpec.from_n_cells(n)),
    st.floats(A, 3.5).map(lambda d: ShapeSpec("sphere", diameter_nm=d)),  # below one cell: refused
    st.tuples(*[st.floats(A / 2, 2.0)] * 3).map(lambda s: ShapeSpec("spheroid", semi_axes_nm=s)),
)


def _g_matrix(g):
    """G = g gᵀ: field-frame tensor whose eigenvalues are the squared principal g's (basis independent)."""
    return g.tensor @ g.tensor.T


def test_registry_holds_the_four_shapes():
    assert {"cube", "cuboid", "sphere", "spheroid"} <= set(SHAPES)


@settings(max_examples=40, deadline=None)
@given(specs)
def test_every_shape_is_inversion_symmetric_with_complete_octahedra(spec):
    """Every kept Pb has its six X at ±a/2, every X 1 or 2 Pb; r → −r maps the NC onto itself (species-aware)."""
    s = build(spec, A)
    pos, spc = s.positions, s.species
    key = {tuple(np.round(r / (A / 2)).astype(int)): (i, spc[i]) for i, r in enumerate(pos)}
    assert len(key) == s.n_sites and np.allclose(np.round(pos / (A / 2)) * (A / 2), pos, atol=1e-9)
    for r, sp_ in zip(pos, spc):  # inversion about the origin, species-aware
        assert key[tuple(np.round(-r / (A / 2)).astype(int))][1] == sp_
    pb = np.nonzero(spc == 0)[0]
    for i in pb:
        for d in np.vstack([np.eye(3), -np.eye(3)]):
            j, sj = key[tuple(np.round((pos[i] + d * A / 2) / (A / 2)).astype(int))]
            assert sj == 1
    deg = np.bincount(s.bonds.j, minlength=s.n_sites)[spc == 1]
    assert deg.min() >= 1 and deg.max() <= 2
    assert len(s.bonds) == 6 * s.n_pb
    assert assemble(s, P_SP3).n_fill == 2 * (s.n_pb + 4 * s.n_x)


def test_sphere_keeps_pb_sites_within_the_radius_about_a_central_pb():
    s = build(ShapeSpec("sphere", diameter_nm=2.6), A)
    r = np.linalg.norm(s.positions[s.species == 0], axis=1)
    assert r.min() == 0.0 and r.max() <= 1.3
    ijk = np.stack(np.meshgrid(*[np.arange(-3, 4)] * 3, indexing="ij"), -1).reshape(-1, 3)
    assert s.n_pb == np.count_nonzero(np.linalg.norm(ijk * A, axis=1) <= 1.3) == 33
    e = build(ShapeSpec("spheroid", semi_axes_nm=(1.0, 1.0, 1.6)), A).positions
    assert np.ptp(e[:, 2]) > np.ptp(e[:, 0]) == np.ptp(e[:, 1])


BAD_SIZES = [ShapeSpec("sphere", diameter_nm=v) for v in (0.0, -1.0, float("nan"), float("inf"), "x")] + [
    ShapeSpec("spheroid", semi_axes_nm=s) for s in ((1.0, 0.0, 1.0), (1.0, 1.0, -2.0), (float("nan"), 1.0, 1.0),
                                                   (1.0, float("inf"), 1.0), (1.0, 1.0))] + [
    ShapeSpec("cube", n_cells=(0, 0, 0)), ShapeSpec("cuboid", n_cells=(2, -1, 2)),
    ShapeSpec("cuboid", n_cells=(2, 2.5, 2)),
    ShapeSpec("sphere"), ShapeSpec("spheroid"), ShapeSpec("cube"), ShapeSpec("cube", n_cells=(2, 2, 3)),
    ShapeSpec("torus", diameter_nm=2.0), ShapeSpec("sphere", diameter_nm=2.0, n_cells=(2, 2, 2)),
    ShapeSpec("cube", n_cells=(2, 2, 2), semi_axes_nm=(1.0, 1.0, 1.0))]


@pytest.mark.parametrize("spec", BAD_SIZES, ids=[repr(s) for s in BAD_SIZES])
def test_shape_builders_reject_bad_sizes_with_one_line_errors(spec):
    with pytest.raises(GeometryError) as exc:
        build(spec, A)
    msg = str(exc.value)
    assert "\n" not in msg and msg
    if spec.kind in SHAPES and (spec.diameter_nm is not None or spec.semi_axes_nm is not None
                                and len(spec.semi_axes_nm) == 3):
        assert "nm" in msg  # names the unit of the rejected size


@pytest.mark.parametrize("a", [0.0, -0.6, float("nan")])
def test_build_rejects_bad_lattice_constant(a):
    with pytest.raises(GeometryError, match="nm"):
        build(ShapeSpec("sphere", diameter_nm=2.0), a)


# --- symmetry detected from the structure -------------------------------------------------------------

DETECT = [
    (ShapeSpec("cube", n_cells=(3, 3, 3)), ("C4z", "P")),
    (ShapeSpec("cube", n_cells=(2, 2, 2)), ("C4z", "P")),
    (ShapeSpec("cuboid", n_cells=(2, 2, 3)), ("C4z", "P")),
    (ShapeSpec("cuboid", n_cells=(3, 2, 2)), ("C4x", "P")),
    (ShapeSpec("cuboid", n_cells=(2, 3, 4)), ("C2z", "P")),
    (ShapeSpec("sphere", diameter_nm=2.6), ("C4z", "P")),
    (ShapeSpec("spheroid", semi_axes_nm=(1.0, 1.0, 1.6)), ("C4z", "P")),
    (ShapeSpec("spheroid", semi_axes_nm=(1.6, 1.0, 1.0)), ("C4x", "P")),
    (ShapeSpec("spheroid", semi_axes_nm=(1.0, 1.6, 1.0)), ("C4y", "P")),
    (ShapeSpec("spheroid", semi_axes_nm=(0.7, 1.0, 1.4)), ("C2z", "P")),
]


@pytest.mark.parametrize("spec, ops", DETECT,
                         ids=[f"{s.kind}-{s.n_cells or s.diameter_nm or s.semi_axes_nm}" for s, _ in DETECT])
def test_detect_operations_of_shapes(spec, ops):
    s = build(spec, A)
    assert detect_operations(s.positions, s.species) == ops


def test_detection_sees_displaced_atoms_and_species():
    s = build(ShapeSpec("sphere", diameter_nm=2.6), A)
    pos, spc = s.positions.copy(), s.species.copy()
    on_z = int(np.nonzero((np.abs(pos[:, 0]) < 1e-9) & (np.abs(pos[:, 1]) < 1e-9) & (pos[:, 2] > 1.0))[0][0])
    p1 = pos.copy()
    p1[on_z, 2] += 0.05  # breaks P and the x, y rotations, keeps C4z
    assert detect_operations(p1, spc) == ("C4z",)
    assert set(invariant_operations(p1, spc)) == {"C4z", "C2z"}
    p2 = pos.copy()
    generic = int(np.nonzero((np.abs(pos[:, 0]) > 0.1) & (np.abs(pos[:, 1]) > 0.1) & (np.abs(pos[:, 2]) > 0.1)
                             & (np.abs(np.abs(pos[:, 0]) - np.abs(pos[:, 1])) > 0.1))[0][0])
    p2[generic] += np.array([0.011, -0.023, 0.017])
    assert detect_operations(p2, spc) == ()
    s2 = spc.copy()
    s2[generic] = 2  # same positions, another species on one site
    assert detect_operations(pos, spc) == ("C4z", "P")
    assert detect_operations(pos, s2) == ()
    assert detect_operations(pos) == ("C4z", "P")  # positions only: the species change is invisible


@pytest.mark.parametrize("spec, n_blocks", [(ShapeSpec("spheroid", semi_axes_nm=(1.3, 0.7, 0.7)), 4),
                                             (ShapeSpec("spheroid", semi_axes_nm=(0.7, 1.3, 0.7)), 4),
                                             (ShapeSpec("cuboid", n_cells=(1, 2, 3)), 2)])
def test_detected_blocks_are_invariant_and_carry_the_spectrum(spec, n_blocks):
    """C4 about x or y (rotated frame, d orbitals and spin mixed) and C2 × P blocks: orthonormal, H0-invariant,
    Σ weight × spectrum = spectrum of H0."""
    s = build(spec, A)
    H0 = assemble(s, P).H0
    blocks = symmetry_blocks(s.positions, P.n_orb, species=s.species)
    assert len(blocks) == n_blocks and all(b.weight == 2 for b in blocks)
    assert sum(b.weight * b.size for b in blocks) == H0.shape[0]
    Q = sp.hstack([b.Q for b in blocks]).tocsr()
    assert abs(Q.conj().T @ Q - sp.eye_array(Q.shape[1])).max() < 1e-13
    H = H0.toarray()
    for b in blocks:
        Qd = b.Q.toarray()
        assert np.abs(H @ Qd - Qd @ (Qd.conj().T @ H @ Qd)).max() < 1e-12
    E_blk = np.sort(np.concatenate([np.repeat(np.linalg.eigvalsh(b.restrict(H0).toarray()), 2) for b in blocks]))
    assert np.abs(np.linalg.eigvalsh(H) - E_blk).max() < 1e-10


def test_explicit_ops_keep_working_and_reject_non_commuting_axes():
    s = cuboid(A, (2, 3, 4))
    assert len(symmetry_blocks(s.positions, P_SP3.n_orb, ops=("C4z", "P"))) == 2  # C4z dropped: parity blocks
    assert len(symmetry_blocks(s.positions, P_SP3.n_orb, ops=())) == 1
    with pytest.raises(Exception, match="commute"):
        symmetry_blocks(cuboid(A, 2).positions, P_SP3.n_orb, ops=("C4z", "C4x"))


# --- g tensors of the shapes ----------------------------------------------------------------------------

@pytest.mark.physics
def test_sphere_g_tensor_is_isotropic():
    r = nc_gfactors(P_SP3, ShapeSpec("sphere", diameter_nm=2.6))  # 33 Pb, not a cube
    assert r.n_states == 1368
    for g in (r.g_e, r.g_h):
        G = _g_matrix(g)
        assert g.anisotropy < 1e-8
        assert np.abs(G - np.diag(np.diag(G))).max() < 1e-8
        assert np.ptp(np.diag(G)) < 1e-8
        assert abs(g.along([1, 0, 0]) - g.along([1, 1, 1])) < 1e-8


@pytest.mark.physics
def test_spheroid_g_tensor_is_uniaxial_along_the_long_semi_axis():
    gz = nc_gfactors(P_SP3, ShapeSpec("spheroid", semi_axes_nm=(1.0, 1.0, 1.6)))
    gx = nc_gfactors(P_SP3, ShapeSpec("spheroid", semi_axes_nm=(1.6, 1.0, 1.0)))
    for name in ("g_e", "g_h"):
        Gz, Gx = _g_matrix(getattr(gz, name)), _g_matrix(getattr(gx, name))
        for G in (Gz, Gx):
            assert np.abs(G - np.diag(np.diag(G))).max() < 1e-8  # principal axes = x, y, z
        dz, dx = np.diag(Gz), np.diag(Gx)
        assert abs(dz[0] - dz[1]) < 1e-8 and abs(dz[2] - dz[0]) > 1e-3  # unique axis z
        assert abs(dx[1] - dx[2]) < 1e-8 and abs(dx[0] - dx[1]) > 1e-3  # unique axis x
        assert np.abs(dx[[1, 2, 0]] - dz).max() < 1e-8  # the same NC rotated
        assert abs(getattr(gx, name).along([1, 0, 0]) - getattr(gz, name).along([0, 0, 1])) < 1e-8


@pytest.mark.parametrize("params", [P_SP3, P], ids=["sp3", "sp3d5s*"])
def test_sphere_of_one_pb_equals_the_one_cell_cube(params):
    s1 = build(ShapeSpec("sphere", diameter_nm=params.a), params.a)  # the smallest sphere: D = a
    c1 = cuboid(params.a, 1)
    assert s1.n_pb == 1 and s1.n_sites == c1.n_sites == 7
    order = [int(np.argmin(np.linalg.norm(s1.positions - r, axis=1))) for r in c1.positions]
    assert np.allclose(s1.positions[order], c1.positions, atol=1e-15)
    n = params.n_orb
    perm = np.concatenate([np.arange(i * n, (i + 1) * n) for i in order])
    Hs = assemble(s1, params).H0.toarray()[np.ix_(perm, perm)]
    assert np.abs(Hs - assemble(c1, params).H0.toarray()).max() < 1e-14
    if params is P_SP3:
        return  # the sp3 set's 1-cell NC has no level on one side of the solver shift (as before issue 11)
    rs = nc_gfactors(params, ShapeSpec("sphere", diameter_nm=params.a))
    rc = nc_gfactors(params, (1, 1, 1))
    assert abs(rs.E_e - rc.E_e) < 1e-10 and abs(rs.E_h - rc.E_h) < 1e-10
    for a, b in ((rs.g_e, rc.g_e), (rs.g_h, rc.g_h)):
        assert abs(a.g - b.g) < 1e-9 and np.abs(_g_matrix(a) - _g_matrix(b)).max() < 1e-9


def test_shapes_smaller_than_one_cell_are_refused():
    with pytest.raises(GeometryError, match=r"0\.3 nm .*minimum diameter .* 0\.62"):
        build(ShapeSpec("sphere", diameter_nm=0.3), P.a)
    with pytest.raises(GeometryError, match=r"semi-axis 0\.2 nm"):
        build(ShapeSpec("spheroid", semi_axes_nm=(0.2, 1.0, 1.0)), P.a)


# --- CLI `nc --shape` ----------------------------------------------------------------------------------

def _run(argv, capsys):
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def test_nc_cli_sphere_json_adds_shape_keys(capsys):
    rc, out, _ = _run(["nc", "--parameter-set", "nestoklon2021-sp3", "--shape", "sphere", "--diameter-nm", "1.5",
                       "--json"], capsys)
    assert rc == 0
    d = json.loads(out)
    assert d["shape"] == "sphere" and d["diameter_nm"] == 1.5 and d["n_atoms"] == 43
    assert d["n_states"] == 8 * 43
    assert d["g_X"] == pytest.approx(d["g_e"] + d["g_h"], abs=1e-14)
    rc, out, _ = _run(["nc", "--parameter-set", "nestoklon2021-sp3", "--shape", "spheroid", "--semi-axes-nm", "0.7",
                       "0.7", "1.3", "--json"], capsys)
    d = json.loads(out)
    assert rc == 0 and d["shape"] == "spheroid" and d["semi_axes_nm"] == [0.7, 0.7, 1.3] and d["n_atoms"] == 55


def test_nc_cli_default_form_unchanged_plus_new_keys(capsys):
    rc, out, _ = _run(["nc", "--parameter-set", "nestoklon2023", "--n-cells", "1", "1", "2", "--json"], capsys)
    d = json.loads(out)
    assert rc == 0 and d["shape"] == "cuboid" and d["n_cells"] == [1, 1, 2]
    assert d["edge_nm"] == pytest.approx([P.a, P.a, 2 * P.a]) and d["n_atoms"] == 2 + 11
    rc, out, _ = _run(["nc", "--parameter-set", "nestoklon2023", "--shape", "cube", "--n-cells", "1", "1", "1",
                       "--json"], capsys)
    assert rc == 0 and json.loads(out)["shape"] == "cube"


BAD_NC = [
    ["nc"],
    ["nc", "--shape", "sphere"],
    ["nc", "--shape", "sphere", "--diameter-nm", "-1"],
    ["nc", "--shape", "sphere", "--diameter-nm", "0"],
    ["nc", "--shape", "sphere", "--diameter-nm", "nan"],
    ["nc", "--shape", "sphere", "--diameter-nm", "2", "--n-cells", "2", "2", "2"],
    ["nc", "--shape", "spheroid", "--semi-axes-nm", "1", "1"],
    ["nc", "--shape", "spheroid", "--semi-axes-nm", "1", "0", "1"],
    ["nc", "--shape", "spheroid", "--diameter-nm", "2"],
    ["nc", "--shape", "cube", "--n-cells", "2", "2", "3"],
    ["nc", "--shape", "cuboid", "--semi-axes-nm", "1", "1", "1"],
    ["nc", "--diameter-nm", "2", "--semi-axes-nm", "1", "1", "1"],
    ["nc", "--shape", "torus", "--diameter-nm", "2"],
]


@pytest.mark.parametrize("argv", BAD_NC, ids=[" ".join(a) for a in BAD_NC])
def test_nc_cli_wrong_combinations_give_one_line_errors(argv, capsys):
    rc, out, err = _run(argv, capsys)
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("perovskite-tb: error:") and "Traceback" not in err


def test_nc_help_gives_units():
    text = [a for a in main.__globals__["build_parser"]()._subparsers._group_actions[0].choices["nc"]._actions]
    helps = {a.dest: a.help or "" for a in text}
    assert "nm" in helps["diameter_nm"] and "nm" in helps["semi_axes_nm"]
    assert "Pb sites per edge" in helps["n_cells"]
    assert all(helps[k] for k in ("shape", "n_cells", "diameter_nm", "semi_axes_nm", "json"))


def test_a_new_shape_is_one_builder_and_one_registration(capsys):
    """An octahedral NC (|x| + |y| + |z| ≤ D/2 about a Pb) registered here reaches build, nc_gfactors, the CLI."""
    def octahedron(a, spec):
        r = 0.5 * spec.diameter_nm / a
        g = np.arange(-int(r), int(r) + 1)
        ijk = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
        return octahedra(ijk[np.abs(ijk).sum(axis=1) <= r + 1e-9], a, np.zeros(3))

    register_shape("octahedron", octahedron, "diameter_nm")
    try:
        spec = ShapeSpec("octahedron", diameter_nm=2.6)
        s = build(spec, A)
        assert s.n_pb == 25 and detect_operations(s.positions, s.species) == ("C4z", "P")
        rc, out, _ = _run(["nc", "--shape", "octahedron", "--diameter-nm", "2.6", "--json"], capsys)
        d = json.loads(out)
        assert rc == 0 and d["shape"] == "octahedron" and d["n_atoms"] == s.n_sites
        assert np.abs(np.array(d["g_e_tensor"]) - d["g_e"] * np.eye(3)).max() < 1e-8  # O_h: isotropic
    finally:
        SHAPES.pop("octahedron", None)
        SIZE_FIELDS.pop("octahedron", None)
