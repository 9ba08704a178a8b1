r"""Atomic structures: sites plus a bond list (finite nanocrystals and periodic cells), pure NumPy.

A :class:`Structure` is the model-independent input of the assembler
(:mod:`perovskite_tb.model.hamiltonian`): sites (species, position in nm) and a :class:`BondList`
(site i, site j, shell, bond vector r_j − r_i in nm, for a periodic cell including the lattice
translation). The orbital set of a site is the parameter set's basis for its species (the same
``sp3`` or ``sp3d5s*`` basis for Pb and X in every shipped set). Each bond is listed once; the
assembler adds its Hermitian conjugate. A further-neighbour shell is more bonds with another
``shell`` index (:func:`with_shell`), whose two-centre integrals come as data
(:class:`perovskite_tb.model.slater_koster.HoppingShell`).

Termination of the nanocrystals (this package's PbX6 termination, README, Termination): a set of Pb
sites of the simple-cubic Pb sub-lattice (lattice constant a), every Pb with its full PbX6 octahedron
(X at Pb ± a/2 along the axes, shared X counted once), **no Cs, no passivation**. Surface X keep their
bulk on-site energies (E_p,X ≈ −2.3 eV, below the VBM) and surface Pb theirs, so no states appear in
the gap (Nestoklon et al., Nano Lett. 23, 8218 (2023), SI). A cuboid of Nx×Ny×Nz Pb has
N_X = 3NxNyNz + NyNz + NxNz + NxNy. Shapes (cube, sphere, …) are in :mod:`perovskite_tb.model.shapes`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.spatial import cKDTree

from perovskite_tb.errors import GeometryError

__all__ = ["BondList", "Structure", "octahedra", "cuboid", "bulk_cell", "with_shell", "validate_n_cells",
           "n_cells_for_edge", "SPECIES"]

#: Species names of the perovskite structures; ``Structure.species`` holds indices into it.
SPECIES = ("Pb", "X")
PB, X = 0, 1


@dataclass(frozen=True, eq=False)
class BondList:
    """Bonds of a structure, each listed once (the assembler adds the reverse bond).

    Attributes
    ----------
    i, j : ndarray of int64, shape (n_bonds,)
        Site indices of the two ends (for the nearest-neighbour shell: i = Pb, j = X).
    shell : ndarray of int64, shape (n_bonds,)
        Hopping shell (1: nearest-neighbour Pb–X).
    vector : ndarray of float64, shape (n_bonds, 3)
        Bond vector r_j − r_i (nm); in a periodic cell it includes the lattice translation of site j.
    length0 : ndarray of float64, shape (n_bonds,), or None
        Nominal (undisplaced) bond lengths (nm) of a structure with displaced atoms
        (:func:`perovskite_tb.model.disorder.displaced`); the assembler then scales each bond's
        two-centre integrals by (length0/|vector|)^η, η = the set's ``hopping_exponent`` (Harrison,
        *Electronic Structure and the Properties of Solids* (1980)). None (default): the integrals hold
        as given, whatever the bond length.
    """

    i: np.ndarray
    j: np.ndarray
    shell: np.ndarray
    vector: np.ndarray
    length0: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.i.shape[0])

    @classmethod
    def concat(cls, parts) -> "BondList":
        """Concatenation of several bond lists (in order); nominal lengths are kept if any part has them
        (parts without take their current lengths)."""
        parts = list(parts)
        length0 = None
        if any(p.length0 is not None for p in parts):
            length0 = np.concatenate([p.length0 if p.length0 is not None else np.linalg.norm(p.vector, axis=1)
                                      for p in parts]).astype(float)
        return cls(i=np.concatenate([p.i for p in parts]).astype(np.int64),
                   j=np.concatenate([p.j for p in parts]).astype(np.int64),
                   shell=np.concatenate([p.shell for p in parts]).astype(np.int64),
                   vector=np.ascontiguousarray(np.concatenate([p.vector for p in parts]), dtype=float),
                   length0=length0)


@dataclass(frozen=True, eq=False)
class Structure:
    """Sites and bonds of a nanocrystal or of a periodic cell.

    Attributes
    ----------
    positions : ndarray of float64, shape (n_sites, 3)
        Atom positions (nm); for nanocrystals relative to the NC centre (gauge origin, inversion centre).
    species : ndarray of int64, shape (n_sites,)
        Index into ``species_names`` (0 = Pb (cation), 1 = X (halide)).
    bonds : BondList
    n_cells : tuple of 3 int
        Pb sites per edge of the bounding box (Nx, Ny, Nz); for a cuboid its size.
    a : float
        Lattice constant (nm).
    lattice : ndarray of float64, shape (3, 3), or None
        Lattice vectors (rows, nm) of a periodic cell; None for a finite nanocrystal.
    species_names : tuple of str
    """

    positions: np.ndarray
    species: np.ndarray
    bonds: BondList
    n_cells: tuple
    a: float
    lattice: np.ndarray | None = None
    species_names: tuple = SPECIES

    @property
    def n_sites(self) -> int:
        """Number of atoms."""
        return int(self.species.shape[0])

    @property
    def n_pb(self) -> int:
        """Number of Pb atoms."""
        return int(np.count_nonzero(self.species == PB))

    @property
    def n_x(self) -> int:
        """Number of halide atoms."""
        return self.n_sites - self.n_pb

    @property
    def edge_nm(self) -> tuple:
        """Bounding-box edges (nm) between the outer halide planes, N·a per axis."""
        return tuple(float(n * self.a) for n in self.n_cells)

    @property
    def periodic(self) -> bool:
        """True for a periodic cell (Bloch Hamiltonian), False for a finite nanocrystal."""
        return self.lattice is not None


def validate_n_cells(n_cells) -> tuple[int, int, int]:
    """Return (Nx, Ny, Nz) as ints, or raise GeometryError for non-positive/non-integer input."""
    try:
        vals = list(n_cells)
    except TypeError:
        vals = [n_cells] * 3
    if len(vals) == 1:
        vals = vals * 3
    if len(vals) != 3:
        raise GeometryError(f"n_cells needs 3 values (Nx Ny Nz), got {len(vals)}")
    out = []
    for v in vals:
        if isinstance(v, float) and (not math.isfinite(v) or v != int(v)):
            raise GeometryError(f"cells per edge must be a positive integer, got {v}")
        try:
            iv = int(v)
        except (TypeError, ValueError):
            raise GeometryError(f"cells per edge must be a positive integer, got {v!r}") from None
        if iv != v or iv < 1:
            raise GeometryError(f"cells per edge must be a positive integer, got {v}")
        out.append(iv)
    return tuple(out)


def n_cells_for_edge(edge_nm: float, a: float) -> int:
    """Nearest number of cells N ≥ 1 with N·a ≈ ``edge_nm`` (nm)."""
    if not (math.isfinite(edge_nm) and edge_nm > 0):
        raise GeometryError(f"edge length must be a positive finite length, got {edge_nm} nm")
    return max(1, int(round(edge_nm / a)))


def _check_a(a: float) -> None:
    if not (isinstance(a, (int, float)) and math.isfinite(a) and a > 0):
        raise GeometryError(f"lattice constant must be a positive finite length, got {a} nm")


def octahedra(pb_ijk: np.ndarray, a: float, centre) -> Structure:
    """PbX6-terminated structure of a set of Pb sites (every Pb with its full octahedron).

    Parameters
    ----------
    pb_ijk : ndarray of int, shape (n_pb, 3)
        Distinct Pb lattice indices; Pb n sits at ``pb_ijk[n]·a``.
    a : float
        Lattice constant (nm), > 0.
    centre : sequence of 3 float
        Origin of the returned positions in units of a (gauge origin, inversion centre).

    Returns
    -------
    Structure
        Sites ordered: the Pb in lexicographic (i, j, k) order, then the X on x-, y- and z-bonds, each
        group in lexicographic order of their coordinates. Bonds Pb → X (shell 1), ordered by axis,
        then +, − direction, then Pb.

    Raises
    ------
    GeometryError
        If no Pb site is given, a site is repeated, or ``a`` is not a positive finite length.
    """
    _check_a(a)
    ijk = np.unique(np.asarray(pb_ijk, dtype=np.int64).reshape(-1, 3), axis=0)  # lexicographic = C order
    if ijk.shape[0] == 0:
        raise GeometryError("the shape contains no Pb site")
    if ijk.shape[0] != np.asarray(pb_ijk).reshape(-1, 3).shape[0]:
        raise GeometryError("repeated Pb sites")
    n_pb = ijk.shape[0]
    pos = [ijk.astype(float)]
    species = [np.zeros(n_pb, dtype=np.int64)]
    bi, bj = [], []
    offset = n_pb
    pb = np.arange(n_pb, dtype=np.int64)
    for mu in range(3):
        # X of the mu-bonds at doubled coordinate 2·ijk ± e_mu (half-integer along mu)
        e = np.zeros(3, dtype=np.int64)
        e[mu] = 1
        plus, minus = 2 * ijk + e, 2 * ijk - e
        xdbl, inv = np.unique(np.concatenate([plus, minus]), axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        xpos = (xdbl // 2).astype(float)  # floor: the mu coordinate m − 1/2 stored as (m−1) + 1/2
        xpos[:, mu] += 0.5
        pos.append(xpos)
        species.append(np.ones(len(xdbl), dtype=np.int64))
        bi += [pb, pb]
        bj += [offset + inv[:n_pb], offset + inv[n_pb:]]  # + then − direction
        offset += len(xdbl)
    positions = np.concatenate(pos) * a
    positions -= np.asarray(centre, dtype=float) * a
    i, j = np.concatenate(bi), np.concatenate(bj)
    bonds = BondList(i=i, j=j, shell=np.ones(i.shape[0], dtype=np.int64), vector=positions[j] - positions[i])
    n_cells = tuple(int(v) for v in ijk.max(axis=0) - ijk.min(axis=0) + 1)
    return Structure(positions=np.ascontiguousarray(positions), species=np.concatenate(species), bonds=bonds,
                     n_cells=n_cells, a=float(a))


def cuboid(a: float, n_cells) -> Structure:
    """PbX6-terminated cuboid of Nx×Ny×Nz Pb sites, centred on the centre of its Pb sub-lattice.

    Parameters
    ----------
    a : float
        Lattice constant (nm), > 0.
    n_cells : int or sequence of 3 int
        Pb sites per edge.

    Returns
    -------
    Structure
        As :func:`octahedra`; N_Pb = NxNyNz, N_X = 3NxNyNz + NyNz + NxNz + NxNy.

    Raises
    ------
    GeometryError
        If ``a`` or any cell count is not positive, or a count is not an integer.
    """
    _check_a(a)
    n = np.array(validate_n_cells(n_cells))
    ijk = np.stack(np.meshgrid(*[np.arange(v) for v in n], indexing="ij"), -1).reshape(-1, 3)
    return octahedra(ijk, a, 0.5 * (n - 1))


def bulk_cell(a: float) -> Structure:
    """Periodic 4-atom cell of cubic CsPbX3 (Pb at 0, X1, X2, X3 at a/2 along x, y, z; Cs omitted).

    Bonds: Pb → X_mu along +a/2 ê_mu (same cell) and −a/2 ê_mu (cell −ê_mu), mu = x, y, z, shell 1.
    """
    _check_a(a)
    ax = np.eye(3)
    positions = np.vstack([np.zeros(3), 0.5 * a * ax])
    bi, bj, vec = [], [], []
    for mu in range(3):
        for sgn in (+1.0, -1.0):
            bi.append(0)
            bj.append(mu + 1)
            vec.append(0.5 * a * (sgn * ax[mu]))
    bonds = BondList(i=np.array(bi, dtype=np.int64), j=np.array(bj, dtype=np.int64),
                     shell=np.ones(6, dtype=np.int64), vector=np.array(vec))
    return Structure(positions=positions, species=np.array([PB, X, X, X], dtype=np.int64), bonds=bonds,
                     n_cells=(1, 1, 1), a=float(a), lattice=a * np.eye(3))


def with_shell(structure: Structure, shell: int, species: tuple[str, str], distance_nm: float, *,
               tol: float = 1e-6) -> Structure:
    """Add every bond between ``species`` at ``distance_nm`` (± ``tol``) as hopping shell ``shell``.

    Parameters
    ----------
    structure : Structure
        Finite or periodic (then bonds to periodic images up to one lattice vector away are found).
    shell : int
        Shell index of the new bonds (≥ 2; 1 is the nearest-neighbour Pb–X shell).
    species : (str, str)
        Ordered species pair, e.g. ``("Pb", "Pb")``; bonds point from the first to the second.
    distance_nm : float
        Bond length (nm), e.g. a for Pb–Pb second neighbours.
    tol : float, optional
        Distance tolerance (nm).

    Returns
    -------
    Structure
        A copy with the new bonds appended (each unordered pair once).

    Raises
    ------
    GeometryError
        Unknown species, non-positive distance or a shell index that is taken.
    """
    if not (math.isfinite(distance_nm) and distance_nm > 0):
        raise GeometryError(f"bond length must be a positive finite length, got {distance_nm} nm")
    if int(shell) in set(structure.bonds.shell.tolist()):
        raise GeometryError(f"shell {shell} is present already")
    try:
        s1, s2 = (structure.species_names.index(s) for s in species)
    except ValueError:
        raise GeometryError(f"unknown species in {species} (known: {', '.join(structure.species_names)})") from None
    pos = structure.positions
    i1 = np.nonzero(structure.species == s1)[0]
    i2 = np.nonzero(structure.species == s2)[0]
    if not structure.periodic:
        new = _finite_shell(pos, i1, i2, s1 == s2, distance_nm, tol, int(shell))
        return replace(structure, bonds=BondList.concat([structure.bonds, new]))
    shifts = [np.asarray(c, dtype=float) @ structure.lattice for c in itertools.product((-1, 0, 1), repeat=3)]
    tree = cKDTree(pos[i2])
    bi, bj, vec = [], [], []
    for t in shifts:
        for a_idx, hits in zip(i1, tree.query_ball_point(pos[i1] - t, distance_nm + tol)):
            for h in hits:
                b = i2[h]
                d = pos[b] + t - pos[a_idx]
                if abs(np.linalg.norm(d) - distance_nm) > tol:
                    continue
                if s1 == s2 and (b < a_idx or (b == a_idx and tuple(-d) > tuple(d))):
                    continue  # the reverse bond is (or will be) listed
                bi.append(a_idx)
                bj.append(b)
                vec.append(d)
    new = BondList(i=np.array(bi, dtype=np.int64), j=np.array(bj, dtype=np.int64),
                   shell=np.full(len(bi), int(shell), dtype=np.int64), vector=np.array(vec, dtype=float).reshape(-1, 3))
    return replace(structure, bonds=BondList.concat([structure.bonds, new]))


def _finite_shell(pos: np.ndarray, i1: np.ndarray, i2: np.ndarray, same: bool, r: float, tol: float,
                  shell: int) -> BondList:
    """Bonds i1 → i2 at distance r ± tol of a finite structure (vectorised; pairs once, i < j if ``same``)."""
    if i1.size == 0 or i2.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return BondList(i=empty, j=empty, shell=empty, vector=np.zeros((0, 3)))
    m = cKDTree(pos[i1]).sparse_distance_matrix(cKDTree(pos[i2]), r + tol, output_type="ndarray")
    a, b = i1[m["i"]], i2[m["j"]]
    keep = np.abs(m["v"] - r) <= tol
    if same:
        keep &= a < b
    a, b = a[keep], b[keep]
    order = np.lexsort((b, a))
    a, b = a[order].astype(np.int64), b[order].astype(np.int64)
    return BondList(i=a, j=b, shell=np.full(a.size, shell, dtype=np.int64),
                    vector=np.ascontiguousarray(pos[b] - pos[a], dtype=float).reshape(-1, 3))
