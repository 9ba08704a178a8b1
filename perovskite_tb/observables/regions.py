r"""Dielectric regions (where ε = ε_in) of a nanocrystal, for :mod:`.coulomb`.

A :class:`Region` is an inside/outside indicator with a bounding box. The ETB region is the union of
the cubes of side a centred on the kept Pb sites (the Wigner–Seitz cells of the Pb sub-lattice,
total volume N_Pb a³; for a PbX6-terminated cuboid exactly the cuboid N_x a × N_y a × N_z a whose
faces pass through the outer halide planes). The k·p regions are the hard-wall box and ellipsoid of
the envelope model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from perovskite_tb.errors import InputError

__all__ = [
    "Region",
    "box_region",
    "ellipsoid_region",
    "sphere_region",
    "pb_cell_region",
    "structure_region",
]


@dataclass(frozen=True)
class Region:
    """Where the NC dielectric ε_in applies.

    Attributes
    ----------
    name : str
    lo, hi : ndarray of float64, shape (3,)
        Bounding box (nm).
    inside : callable
        ``inside(points: ndarray (n, 3) nm) -> ndarray of bool (n,)``.
    min_extent_nm : float
        Smallest dimension of the NC (nm), for the grid-resolution check.
    lattice_nm : float or None
        Lattice constant a of an atomistic region (nm); the grid spacing must not exceed it.
    anchor : ndarray of float64, shape (3,)
        A point placed on a grid node (a Pb site, or the centre).
    """

    name: str
    lo: np.ndarray
    hi: np.ndarray
    inside: Callable[[np.ndarray], np.ndarray]
    min_extent_nm: float
    lattice_nm: float | None
    anchor: np.ndarray


def _vec3(v, what: str) -> np.ndarray:
    arr = np.asarray(v, dtype=float).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 3)
    if arr.size != 3 or not np.all(np.isfinite(arr)):
        raise InputError(f"{what} must be 3 finite numbers in nm, got {v}")
    return arr


def _positive3(v, what: str) -> np.ndarray:
    arr = _vec3(v, what)
    if np.any(arr <= 0):
        raise InputError(f"{what} must be > 0 nm, got {arr.tolist()} nm")
    return arr


def box_region(edge_nm, center_nm=(0.0, 0.0, 0.0)) -> Region:
    """Hard-wall box |x_α − c_α| ≤ L_α/2 (k·p cuboid, :mod:`kp.confinement`).

    Raises
    ------
    InputError
        Non-positive or non-finite edges.
    """
    L = _positive3(edge_nm, "box edges")
    c = _vec3(center_nm, "box centre")

    def inside(p):
        return np.all(np.abs(p - c) <= 0.5 * L, axis=1)

    return Region("box", c - 0.5 * L, c + 0.5 * L, inside, float(L.min()), None, c)


def ellipsoid_region(semi_axes_nm, center_nm=(0.0, 0.0, 0.0)) -> Region:
    """Ellipsoid Σ((x_α − c_α)/s_α)² ≤ 1.

    Raises
    ------
    InputError
        Non-positive or non-finite semi-axes.
    """
    s = _positive3(semi_axes_nm, "ellipsoid semi-axes")
    c = _vec3(center_nm, "ellipsoid centre")

    def inside(p):
        return np.sum(((p - c) / s) ** 2, axis=1) <= 1.0

    return Region("ellipsoid", c - s, c + s, inside, float(2 * s.min()), None, c)


def sphere_region(radius_nm: float, center_nm=(0.0, 0.0, 0.0)) -> Region:
    """Sphere of radius R (nm).

    Raises
    ------
    InputError
        Non-positive or non-finite radius.
    """
    if not (isinstance(radius_nm, (int, float)) and math.isfinite(radius_nm) and radius_nm > 0):
        raise InputError(f"sphere radius must be a finite number > 0 nm, got {radius_nm} nm")
    r = ellipsoid_region(radius_nm, center_nm)
    return Region("sphere", r.lo, r.hi, r.inside, r.min_extent_nm, None, r.anchor)


def pb_cell_region(pb_positions, a: float) -> Region:
    """Union of the cubes of side ``a`` centred on the Pb sites ``pb_positions`` (nm).

    Parameters
    ----------
    pb_positions : ndarray of float64, shape (n_pb, 3)
        Pb positions (nm) on a simple-cubic lattice of constant ``a``.
    a : float
        Lattice constant (nm).

    Raises
    ------
    InputError
        No Pb site, non-positive ``a``, or sites off a common simple-cubic lattice of constant a.
    """
    if not (math.isfinite(a) and a > 0):
        raise InputError(f"lattice constant must be a finite number > 0 nm, got {a} nm")
    P = np.asarray(pb_positions, dtype=float).reshape(-1, 3)
    if P.shape[0] == 0:
        raise InputError("the structure has no Pb site (species 0): no NC region")
    p0 = P.min(axis=0)
    u = (P - p0) / a
    iu = np.rint(u).astype(np.int64)
    if np.max(np.abs(u - iu)) > 1e-6:
        raise InputError(
            f"Pb sites are not on a simple-cubic lattice of constant a = {a} nm "
            f"(largest offset {np.max(np.abs(u - iu)) * a:.3g} nm)"
        )
    occ = np.zeros(tuple(iu.max(axis=0) + 1), dtype=bool)
    occ[tuple(iu.T)] = True
    dims = np.array(occ.shape)

    def inside(p):
        k = np.rint((p - p0) / a).astype(np.int64)
        ok = np.all((k >= 0) & (k < dims), axis=1)
        out = np.zeros(p.shape[0], dtype=bool)
        kk = k[ok]
        out[ok] = occ[kk[:, 0], kk[:, 1], kk[:, 2]]
        return out

    lo = p0 - 0.5 * a
    hi = p0 + (dims - 0.5) * a
    # smallest extent: fewest occupied cells along any axis line, times a (cuboid: min N_α a)
    ext = min(int(occ.any(axis=tuple(e for e in range(3) if e != d)).sum()) for d in range(3))
    return Region("pb-cells", lo, hi, inside, float(ext * a), float(a), P[0].copy())


def structure_region(structure) -> Region:
    """Return :func:`pb_cell_region` of a :class:`~perovskite_tb.model.geometry.Structure`."""
    return pb_cell_region(structure.positions[structure.species == 0], structure.a)
