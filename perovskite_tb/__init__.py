"""perovskite-tb: empirical tight-binding and k·p Landé g-factors of CsPbX3 nanocrystals.

Entry point: :func:`perovskite_tb.solve` (``perovskite_tb.solve(material="CsPbI3", n_cells=8, levels=4)``)
returns a :class:`~perovskite_tb.nc.SolvedNanocrystal`; :func:`perovskite_tb.material` the
:class:`~perovskite_tb.api.Material` record of a compound (:mod:`perovskite_tb.api`).

Units: eV, nm, T, K. Sign convention of g: the J convention of Kirstein et al., Nat. Commun. 13, 3062 (2022) (see :mod:`perovskite_tb.gfactor`).
"""

from __future__ import annotations

__version__ = "0.1.0"

from perovskite_tb.model.bulk import bulk_properties
from perovskite_tb.errors import PerovskiteTBError
from perovskite_tb.model.geometry import cuboid
from perovskite_tb.gfactor import g_tensor
from perovskite_tb.model.hamiltonian import assemble
from perovskite_tb.model.materials import load_parameters
from perovskite_tb.nc import nc_gfactors
from perovskite_tb.eigen.solver import band_edges

__all__ = [
    "__version__",
    "solve",
    "material",
    "materials",
    "Material",
    "SolvedNanocrystal",
    "load_measured",
    "load_measured_bulk",
    "measured_series",
    "load_parameters",
    "bulk_properties",
    "cuboid",
    "assemble",
    "band_edges",
    "g_tensor",
    "nc_gfactors",
    "PerovskiteTBError",
]


_API = {"solve", "material", "materials", "Material", "load_measured", "load_measured_bulk", "measured_series"}


def __getattr__(name):  # the API module imports kp lazily; load it on first use, not with the package
    if name in _API:
        from perovskite_tb import api

        return getattr(api, name)
    if name == "SolvedNanocrystal":
        from perovskite_tb.nc import SolvedNanocrystal

        return SolvedNanocrystal
    raise AttributeError(f"module 'perovskite_tb' has no attribute {name!r}")
