"""Multiband k·p models of CsPbX3 bulk and cuboid nanocrystals (issue 3).

Public API: :func:`load_kp_parameters`, :func:`bulk_properties`, :func:`kirstein_g_e`,
:func:`kirstein_g_h`, :func:`kp_terms` (a confined box's Terms, solved by :func:`perovskite_tb.nc.solve`; or use
:func:`perovskite_tb.solve` with ``model="kp"``). Units eV, nm, T; g sign convention of
:mod:`perovskite_tb.gfactor` (Kirstein et al., Nat. Commun. 13, 3062 (2022)).
"""

from kp.bulk import bulk_properties, kirstein_g_e, kirstein_g_h
from kp.confinement import kp_terms
from kp.parameters import load_kp_parameters

__all__ = [
    "load_kp_parameters",
    "bulk_properties",
    "kirstein_g_e",
    "kirstein_g_h",
    "kp_terms",
]
