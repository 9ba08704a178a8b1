"""Former home of the nanocrystal builder; kept so that ``perovskite_tb.model.geometry`` imports keep working.

New code imports :mod:`perovskite_tb.model.structure` (sites, bond lists, cuboids, periodic cells) and
:mod:`perovskite_tb.model.shapes` (cube, cuboid, sphere, spheroid).
"""

from __future__ import annotations

from perovskite_tb.model.structure import Structure, cuboid, n_cells_for_edge, validate_n_cells

__all__ = ["Structure", "cuboid", "validate_n_cells", "n_cells_for_edge"]
