"""Nanocrystal shapes the k·p model can solve: its envelope basis is a hard-wall box (cube, cuboid).

:func:`box_edges` maps a :class:`perovskite_tb.model.shapes.ShapeSpec` (or explicit edges) to the box
edge lengths (Lx, Ly, Lz) in nm, with the same edge convention as the ETB cuboids (N·a per axis, the
distance between the outer halide planes of :func:`perovskite_tb.model.geometry.cuboid`). Shapes the
box basis cannot represent (sphere, spheroid) are refused with a one-line error naming the shape.
"""

from __future__ import annotations


from perovskite_tb.errors import InputError, positive_finite
from perovskite_tb.model.geometry import validate_n_cells
from perovskite_tb.model.shapes import ShapeSpec

from kp.envelope import check_edge

__all__ = ["BOX_SHAPES", "edges_for_cells", "box_edges"]

#: ShapeSpec kinds the k·p box basis represents exactly.
BOX_SHAPES = ("cube", "cuboid")


def edges_for_cells(n_cells, a_nm: float) -> tuple[float, float, float]:
    """Box edges (Nx·a, Ny·a, Nz·a) in nm of the cuboid with ``n_cells`` Pb sites per edge.

    Parameters
    ----------
    n_cells : int or sequence of 3 int
        Pb sites per edge (an int means a cube).
    a_nm : float
        Lattice constant (nm) of the ETB set at the temperature of the point.

    Returns
    -------
    tuple of 3 float

    Raises
    ------
    GeometryError
        Non-positive or non-integer cell counts.
    InputError
        Non-positive or non-finite lattice constant.
    """
    n = validate_n_cells(n_cells)
    a = positive_finite(a_nm, "lattice constant", "nm")
    return tuple(float(k * a) for k in n)


def box_edges(shape, a_nm: float | None = None) -> tuple[float, float, float]:
    """Edge lengths (nm) of the k·p box for a shape or explicit edges.

    Parameters
    ----------
    shape : ShapeSpec or sequence of 3 float
        A cube/cuboid :class:`~perovskite_tb.model.shapes.ShapeSpec` (``n_cells``), or the edges
        (Lx, Ly, Lz) in nm.
    a_nm : float, optional
        Lattice constant (nm); required for a ShapeSpec.

    Returns
    -------
    tuple of 3 float

    Raises
    ------
    InputError
        A shape other than cube/cuboid, a ShapeSpec without ``a_nm``, or bad edges.
    GeometryError
        Bad ``n_cells`` of the ShapeSpec.
    """
    if not isinstance(shape, ShapeSpec):
        return check_edge(shape)
    if shape.kind not in BOX_SHAPES:
        raise InputError(f"the k·p model cannot solve shape {shape.kind!r}: its envelope basis is a hard-wall box "
                         f"({', '.join(BOX_SHAPES)} only)")
    if shape.n_cells is None or a_nm is None:
        raise InputError(f"k·p shape {shape.kind!r} needs n_cells and the lattice constant a_nm to give edges in nm")
    return edges_for_cells(shape.n_cells, a_nm)
