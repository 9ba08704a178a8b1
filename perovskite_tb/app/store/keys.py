"""Resume keys of result rows: one string per point from its identity columns.

The key names a point's HDF5 row (:mod:`perovskite_tb.app.store.io`), so a resumed sweep recognises
finished points, and readers (export, salvage, the ensemble job) select rows by it. It lives with
the files rather than with the sweep points (:mod:`perovskite_tb.app.engine.points`, which
re-exports both functions) so that the store layer does not import the engine.
"""

from __future__ import annotations

import math

from perovskite_tb.model.termination import DEFAULT_TERMINATION

__all__ = ["point_key", "row_key"]


def point_key(model, material, parameter_set, lattice_set, n_cells, edge_nm, temperature_K,
              orbital_zeeman, *, shape: str = "", diameter_nm=math.nan, semi_axes_nm=None,
              kp_basis: str = "", kp_resolution: int = 0, termination: str = "") -> str:
    """Resume key of a point: one string from its identity columns (as stored in the file).

    Cubes, cuboids and explicit k·p edges with the default k·p basis, resolution and termination keep
    the key of the first file layout, so older files resume.
    """
    n = tuple(int(x) for x in n_cells)
    if shape == "sphere":
        size = f"sphere:d={float(diameter_nm)!r}"
    elif shape == "spheroid":
        size = "spheroid:" + "x".join(repr(float(v)) for v in semi_axes_nm)
    else:
        size = "x".join(map(str, n)) if any(n) else f"L={float(edge_nm)!r}"
    key = (f"{model}|{material}|{parameter_set}|{lattice_set}|{size}|T={float(temperature_K)!r}"
           f"|oz={int(bool(orbital_zeeman))}")
    if model == "kp" and kp_basis not in ("", "legendre"):
        key += f"|basis={kp_basis}"
    if model == "kp" and int(kp_resolution):
        key += f"|N={int(kp_resolution)}"
    if termination not in ("", DEFAULT_TERMINATION):
        key += f"|term={termination}"
    return key


def row_key(row: dict) -> str:
    """:func:`point_key` of a row (column name → value, including ``model``)."""
    return point_key(
        row["model"], row["material"], row["parameter_set"], row["lattice_set"], row["n_cells"],
        row["edge_nm"], row["temperature_K"], row["orbital_zeeman"], shape=row["shape"],
        diameter_nm=row["diameter_nm"], semi_axes_nm=row["semi_axes_nm"],
        kp_basis=row["kp_basis"], kp_resolution=row["kp_resolution"],
        termination=row.get("termination", ""))
