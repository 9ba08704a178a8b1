"""perovskite-tb: empirical tight-binding and k·p Landé g-factors of CsPbX3 nanocrystals.

Units: eV, nm, T, K. Sign convention of g: physics brief §0 (see :mod:`perovskite_tb.gfactor`).
"""

from __future__ import annotations

__version__ = "0.1.0"

from .bulk import bulk_properties
from .errors import PerovskiteTBError
from .geometry import cuboid
from .gfactor import g_tensor
from .hamiltonian import assemble
from .materials import load_parameters
from .nc import nc_gfactors
from .solver import band_edges

__all__ = [
    "__version__",
    "load_parameters",
    "bulk_properties",
    "cuboid",
    "assemble",
    "band_edges",
    "g_tensor",
    "nc_gfactors",
    "PerovskiteTBError",
]
