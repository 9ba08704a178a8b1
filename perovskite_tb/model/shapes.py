"""Nanocrystal shapes as data: one builder per shape, registered in :data:`SHAPES`.

Every builder returns a :class:`perovskite_tb.model.geometry.Structure`: the set of Pb sites of the
simple-cubic Pb sub-lattice (lattice constant ``a``) inside the shape, every kept Pb with its full
PbX6 octahedron (shared X counted once; the termination of the cuboids in this package), positions
in nm about the gauge origin. A :class:`ShapeSpec` names a shape and its size; the CLI, run files, HDF5
rows and plots use it, so a new shape is one builder plus one :func:`register_shape` call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from perovskite_tb.errors import GeometryError
from perovskite_tb.model.geometry import Structure, cuboid, validate_n_cells

__all__ = ["ShapeSpec", "SHAPES", "register_shape", "build"]


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


def register_shape(name: str, builder: Callable[[float, ShapeSpec], Structure]) -> None:
    """Register ``builder`` under ``name`` (raises ValueError if the name is taken)."""
    if name in SHAPES:
        raise ValueError(f"shape {name!r} is registered already")
    SHAPES[name] = builder


def build(spec: ShapeSpec, a: float) -> Structure:
    """Structure of ``spec`` for lattice constant ``a`` (nm).

    Raises
    ------
    GeometryError
        Unknown shape, non-positive / non-finite size or lattice constant.
    """
    if spec.kind not in SHAPES:
        raise GeometryError(f"unknown shape {spec.kind!r} (known: {', '.join(SHAPES)})")
    if not (isinstance(a, (int, float)) and math.isfinite(a) and a > 0):
        raise GeometryError(f"lattice constant must be a positive finite length, got {a} nm")
    return SHAPES[spec.kind](float(a), spec)


def _cuboid(a: float, spec: ShapeSpec) -> Structure:
    if spec.n_cells is None:
        raise GeometryError(f"shape {spec.kind} needs n_cells (Pb sites per edge)")
    return cuboid(a, spec.n_cells)


register_shape("cube", _cuboid)
register_shape("cuboid", _cuboid)
