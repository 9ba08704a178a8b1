"""Cuboid CsPbX3 nanocrystal builder (pure NumPy).

Termination (physics brief §3.4, the project's working recipe): Nx×Ny×Nz Pb sites at n·a, every Pb
with its full PbX6 octahedron (X at Pb ± a/2 along the axes, shared X counted once), **no Cs, no
passivation**. Surface X keep their bulk on-site energies (E_p,X ≈ −2.3 eV, below the VBM) and surface
Pb theirs (E_s,Pb ≈ −5.8, E_p,Pb ≈ 4.5 eV), so no states appear in the gap. Atom counts:
N_Pb = NxNyNz, N_X = 3NxNyNz + NyNz + NxNz + NxNy (cube: 3N³ + 3N²). Positions are in nm relative to
the geometric centre, which is also the gauge origin of the symmetric gauge and an inversion centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from perovskite_tb.errors import GeometryError

__all__ = ["Structure", "cuboid", "validate_n_cells", "n_cells_for_edge"]

PB, X = 0, 1


@dataclass(frozen=True)
class Structure:
    """Atoms and bonds of a nanocrystal.

    Attributes
    ----------
    positions : ndarray of float64, shape (n_sites, 3)
        Atom positions (nm) relative to the NC centre.
    species : ndarray of int64, shape (n_sites,)
        0 = Pb (cation), 1 = X (halide).
    bond_pb, bond_x : ndarray of int64, shape (n_bonds,)
        Site indices of the Pb and X atom of each bond.
    bond_dir : ndarray of int64, shape (n_bonds,)
        Index into :data:`perovskite_tb.model.slater_koster.AXIS_DIRECTIONS` of the Pb→X bond direction.
    n_cells : tuple of int
        (Nx, Ny, Nz) Pb sites per edge.
    a : float
        Lattice constant (nm).
    """

    positions: np.ndarray
    species: np.ndarray
    bond_pb: np.ndarray
    bond_x: np.ndarray
    bond_dir: np.ndarray
    n_cells: tuple
    a: float

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
        """Edge lengths (nm) measured between outer halide planes, N·a per axis."""
        return tuple(float(n * self.a) for n in self.n_cells)


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


def cuboid(a: float, n_cells) -> Structure:
    """Build a PbX6-terminated cuboid of Nx×Ny×Nz Pb sites.

    Parameters
    ----------
    a : float
        Lattice constant (nm), > 0.
    n_cells : int or sequence of 3 int
        Pb sites per edge.

    Returns
    -------
    Structure
        Sites ordered: all Pb (C order over i, j, k), then X on x-bonds, y-bonds, z-bonds.

    Raises
    ------
    GeometryError
        If ``a`` or any cell count is not positive, or a count is not an integer.
    """
    if not (math.isfinite(a) and a > 0):
        raise GeometryError(f"lattice constant must be positive, got {a} nm")
    nx, ny, nz = validate_n_cells(n_cells)
    shape = np.array([nx, ny, nz])
    ijk = np.stack(np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij"), -1).reshape(-1, 3)
    pos = [ijk.astype(float)]
    species = [np.zeros(len(ijk), dtype=np.int64)]
    bond_pb, bond_x, bond_dir = [], [], []
    offset = len(ijk)
    pb_index = np.arange(len(ijk)).reshape(nx, ny, nz)
    for mu in range(3):
        # X on mu-bonds at half-integer coordinate m - 1/2, m = 0..N_mu along mu
        ext = shape.copy()
        ext[mu] += 1
        xijk = np.stack(np.meshgrid(*[np.arange(e) for e in ext], indexing="ij"), -1).reshape(-1, 3)
        xpos = xijk.astype(float)
        xpos[:, mu] -= 0.5
        xidx = offset + np.arange(len(xijk))
        pos.append(xpos)
        species.append(np.ones(len(xijk), dtype=np.int64))
        xgrid = xidx.reshape(tuple(ext))
        # Pb at m along mu bonds to X at m+1/2 (direction +mu, X grid index m+1) and m-1/2 (-mu, index m)
        sl_plus = [slice(None)] * 3
        sl_plus[mu] = slice(1, None)
        sl_minus = [slice(None)] * 3
        sl_minus[mu] = slice(0, -1)
        bond_pb += [pb_index.ravel(), pb_index.ravel()]
        bond_x += [xgrid[tuple(sl_plus)].ravel(), xgrid[tuple(sl_minus)].ravel()]
        bond_dir += [np.full(pb_index.size, 2 * mu), np.full(pb_index.size, 2 * mu + 1)]
        offset += len(xijk)
    positions = np.concatenate(pos) * a
    positions -= 0.5 * (shape - 1) * a  # centre = centre of the Pb sub-lattice = inversion centre
    return Structure(
        positions=np.ascontiguousarray(positions),
        species=np.concatenate(species),
        bond_pb=np.concatenate(bond_pb).astype(np.int64),
        bond_x=np.concatenate(bond_x).astype(np.int64),
        bond_dir=np.concatenate(bond_dir).astype(np.int64),
        n_cells=(nx, ny, nz),
        a=float(a),
    )
