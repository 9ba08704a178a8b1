"""Test helper: a confined k·p box through the one pipeline (kp.confinement.kp_terms → perovskite_tb.nc.solve)."""

from perovskite_tb.nc import solve
from kp.confinement import kp_terms


def kp_solve(params, edge_nm, *, method: str = "auto", levels: int = 1, context=None, **basis_kw):
    """:class:`perovskite_tb.nc.SolvedNanocrystal` of a k·p box (``basis_kw``: basis, n_basis, ellipsoid,
    gauge_origin_nm, a_nm of :func:`kp.confinement.kp_terms`)."""
    return solve(kp_terms(params, edge_nm, method=method, **basis_kw), solver=method, levels=levels,
                 context=context)
