"""Nanocrystal shapes as data: one builder per shape, registered in :data:`SHAPES`.

Every builder returns a :class:`perovskite_tb.model.structure.Structure` through one code path,
:func:`perovskite_tb.model.structure.octahedra`: the set of Pb sites of the simple-cubic Pb sub-lattice
(lattice constant ``a``) inside the shape, every kept Pb with its full PbX6 octahedron (shared X counted
once; this package's PbX6 termination, README, Termination), positions in nm about the gauge origin,
which is also the inversion centre. Cuboids are centred on the centre of their Pb sub-lattice; spheres
and spheroids on a Pb site, so a sphere keeps the full cubic symmetry O_h. A :class:`ShapeSpec` names a
shape and its size; the CLI, run files, HDF5 rows and plots use it, so a new shape is one builder plus
one :func:`register_shape` call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from perovskite_tb.errors import GeometryError, positive_finite
from perovskite_tb.model.structure import Structure, cuboid, octahedra, validate_n_cells

__all__ = ["ShapeSpec", "SHAPES", "SIZE_FIELDS", "register_shape", "build", "check_extent", "size_json"]

#: Relative slack of the inside test |r|/R ≤ 1, so that Pb sites on the surface count as inside.
_SURFACE_RTOL = 1e-9


@dataclass(frozen=True)
class ShapeSpec:
    """A shape and its size.

    Attributes
    ----------
    kind : str
        Key of :data:`SHAPES` (``"cube"``, ``"cuboid"``, ``"sphere"``, ``"spheroid"``).
    n_cells : tuple of 3 int or None
        Pb sites per edge (cube, cuboid).
    diameter_nm : float or None
        Sphere diameter (nm).
    semi_axes_nm : tuple of 3 float or None
        Spheroid / ellipsoid semi-axes along x, y, z (nm).
    """

    kind: str
    n_cells: tuple | None = None
    diameter_nm: float | None = None
    semi_axes_nm: tuple | None = None

    @classmethod
    def from_n_cells(cls, n_cells) -> "ShapeSpec":
        """``cube`` for equal counts, else ``cuboid``; raises GeometryError for bad counts."""
        n = validate_n_cells(n_cells)
        return cls("cube" if len(set(n)) == 1 else "cuboid", n_cells=n)


#: shape name → builder(a_nm, spec) → Structure.
SHAPES: dict[str, Callable[[float, ShapeSpec], Structure]] = {}
#: shape name → the one :class:`ShapeSpec` size field it takes (``n_cells``, ``diameter_nm``, ``semi_axes_nm``).
SIZE_FIELDS: dict[str, str] = {}
_SIZES = ("n_cells", "diameter_nm", "semi_axes_nm")


def register_shape(name: str, builder: Callable[[float, ShapeSpec], Structure], size: str = "n_cells") -> None:
    """Register ``builder`` under ``name``, taking the size field ``size`` of :class:`ShapeSpec`.

    Raises
    ------
    ValueError
        If the name is taken or ``size`` is no size field of :class:`ShapeSpec`.
    """
    if name in SHAPES:
        raise ValueError(f"shape {name!r} is registered already")
    if size not in _SIZES:
        raise ValueError(f"size field must be one of {', '.join(_SIZES)}, got {size!r}")
    SHAPES[name] = builder
    SIZE_FIELDS[name] = size


def build(spec: ShapeSpec, a: float) -> Structure:
    """Structure of ``spec`` for lattice constant ``a`` (nm).

    Raises
    ------
    GeometryError
        Unknown shape, missing size, a size field the shape does not take, non-positive / non-finite
        size or lattice constant.
    """
    if spec.kind not in SHAPES:
        raise GeometryError(f"unknown shape {spec.kind!r} (known: {', '.join(SHAPES)})")
    size = SIZE_FIELDS[spec.kind]
    other = [f for f in _SIZES if f != size and getattr(spec, f) is not None]
    if getattr(spec, size) is None or other:
        raise GeometryError(f"shape {spec.kind} takes {size} only"
                            + (f", not {', '.join(other)}" if other else f", which is missing"))
    if not (isinstance(a, (int, float)) and math.isfinite(a) and a > 0):
        raise GeometryError(f"lattice constant must be a positive finite length, got {a} nm")
    return SHAPES[spec.kind](float(a), spec)


def bounding_cells(spec: ShapeSpec, a: float) -> tuple[int, int, int]:
    """Pb sites per edge of the smallest cuboid holding ``spec`` (computed without building anything).

    Raises
    ------
    GeometryError
        Missing or non-positive / non-finite size, or lattice constant.
    """
    if not (isinstance(a, (int, float)) and math.isfinite(a) and a > 0):
        raise GeometryError(f"lattice constant must be a positive finite length, got {a} nm")
    if spec.n_cells is not None:
        return validate_n_cells(spec.n_cells)
    if spec.diameter_nm is not None:
        half = (_length(spec.diameter_nm, "diameter") / 2,) * 3
    elif spec.semi_axes_nm is not None:
        half = tuple(_length(v, "semi-axis") for v in spec.semi_axes_nm)
    else:
        raise GeometryError(f"shape {spec.kind} has no size")
    check_extent(spec, a)
    return tuple(2 * int(min(math.floor(h / a * (1 + _SURFACE_RTOL)), 10**6)) + 1 for h in half)


def max_sites(spec: ShapeSpec, a: float) -> int:
    """Upper bound of the atoms of ``spec``: Pb plus halides of its bounding cuboid (PbX6 termination:
    4·NxNyNz + NxNy + NyNz + NxNz). Used to check memory before any array is allocated."""
    nx, ny, nz = bounding_cells(spec, a)
    return 4 * nx * ny * nz + nx * ny + ny * nz + nx * nz


def size_json(spec: ShapeSpec, structure: Structure) -> dict:
    """JSON keys describing the shape: ``shape``, ``n_atoms`` and ``diameter_nm`` or ``semi_axes_nm``."""
    out = {"shape": spec.kind, "n_atoms": structure.n_sites}
    if spec.diameter_nm is not None:
        out["diameter_nm"] = float(spec.diameter_nm)
    if spec.semi_axes_nm is not None:
        out["semi_axes_nm"] = [float(v) for v in spec.semi_axes_nm]
    return out


def check_extent(spec: ShapeSpec, a: float) -> None:
    """Refuse a sphere or spheroid smaller than one cell along an axis (diameter or 2·semi-axis < a).

    Such a shape would silently become the single PbX6 octahedron at its centre (or a one-layer slab),
    bigger than the shape asked for; one cell (D = a) is the smallest sphere. Cubes and cuboids are
    whole cells by construction.
    """
    if spec.diameter_nm is not None and _length(spec.diameter_nm, "sphere diameter") < a * (1 - _SURFACE_RTOL):
        raise GeometryError(f"sphere diameter {spec.diameter_nm:g} nm is smaller than one cell: the minimum "
                            f"diameter is the lattice constant, {a:.4g} nm")
    if spec.semi_axes_nm is not None:
        for v in spec.semi_axes_nm:
            if _length(v, "spheroid semi-axis") < 0.5 * a * (1 - _SURFACE_RTOL):
                raise GeometryError(f"spheroid semi-axis {v:g} nm is smaller than half a cell: the minimum "
                                    f"semi-axis is half the lattice constant, {a / 2:.4g} nm")


def _length(value, what: str) -> float:
    """``value`` as a positive finite length (nm), else a one-line GeometryError."""
    return positive_finite(value, what, "nm", GeometryError)


def _inside_ellipsoid(a: float, semi_axes) -> Structure:
    """Pb sites ijk·a with Σ (a·ijk_μ / A_μ)² ≤ 1 (centre on the Pb site at the origin) → octahedra."""
    A = np.asarray(semi_axes, dtype=float)
    n = np.floor(A / a * (1 + _SURFACE_RTOL)).astype(np.int64)
    grids = [np.arange(-m, m + 1) for m in n]
    ijk = np.stack(np.meshgrid(*grids, indexing="ij"), -1).reshape(-1, 3)
    inside = np.sum((ijk * a / A) ** 2, axis=1) <= 1.0 + 2 * _SURFACE_RTOL
    return octahedra(ijk[inside], a, np.zeros(3))


def _cuboid(a: float, spec: ShapeSpec) -> Structure:
    """Nx×Ny×Nz Pb sites centred on the middle of the Pb sub-lattice."""
    return cuboid(a, spec.n_cells)


def _cube(a: float, spec: ShapeSpec) -> Structure:
    """N×N×N Pb sites (a cuboid with equal edges)."""
    if len(set(validate_n_cells(spec.n_cells))) != 1:
        raise GeometryError(f"a cube needs equal cells per edge, got {tuple(spec.n_cells)} (use shape cuboid)")
    return cuboid(a, spec.n_cells)


def _sphere(a: float, spec: ShapeSpec) -> Structure:
    """Pb sites with |r| ≤ D/2 about a Pb site."""
    r = 0.5 * _length(spec.diameter_nm, "sphere diameter")
    check_extent(spec, a)
    return _inside_ellipsoid(a, (r, r, r))


def _spheroid(a: float, spec: ShapeSpec) -> Structure:
    """Pb sites with Σ (x_μ/A_μ)² ≤ 1 about a Pb site (semi-axes A_x, A_y, A_z; any three)."""
    if len(tuple(spec.semi_axes_nm)) != 3:
        raise GeometryError(f"shape spheroid needs 3 semi-axes (nm), got {spec.semi_axes_nm!r}")
    check_extent(spec, a)
    return _inside_ellipsoid(a, [_length(v, "spheroid semi-axis") for v in spec.semi_axes_nm])


register_shape("cube", _cube, "n_cells")
register_shape("cuboid", _cuboid, "n_cells")
register_shape("sphere", _sphere, "diameter_nm")
register_shape("spheroid", _spheroid, "semi_axes_nm")
