r"""The e–h Coulomb energy of the band-edge pair and the optical transition energy, as observables.

Both read one :class:`~perovskite_tb.observables.coulomb.CoulombResult` of the solved nanocrystal,
computed once on request with the dielectric constants of its ``context["dielectric"]`` =
(ε_in, ε_out) (None: no Coulomb step, both NaN). Method and checks: :mod:`perovskite_tb.observables.coulomb`
(Brus, J. Chem. Phys. 80, 4403 (1984); Kayanuma, PRB 38, 9797 (1988)).
"""

from __future__ import annotations

from perovskite_tb.observables import Observable, register
from perovskite_tb.observables.coulomb import CoulombResult, coulomb_of_solution

__all__ = ["coulomb_result", "coulomb_energy", "optical_transition_energy"]


def coulomb_result(solved) -> CoulombResult | None:
    """E_C, Σ_e, Σ_h of the band-edge pair of ``solved`` (cached on it), or None without (ε_in, ε_out).

    ``solved`` is a :class:`perovskite_tb.nc.SolvedNanocrystal`; any other object is read through its
    ``coulomb`` attribute.
    """
    if not hasattr(solved, "cached"):
        return getattr(solved, "coulomb", None)
    eps = solved.context.get("dielectric")
    if eps is None:
        return None
    return solved.cached("coulomb", lambda s: coulomb_of_solution(s.terms, s.band_edges, *eps))


def coulomb_energy(solved) -> float:
    r"""Electron–hole Coulomb energy :math:`E_C \ge 0` (eV) of the band-edge pair in the NC-in-dielectric
    geometry (Brus, J. Chem. Phys. 80, 4403 (1984)); NaN without dielectric constants."""
    c = coulomb_result(solved)
    return float("nan") if c is None else float(c.E_C)


def optical_transition_energy(solved) -> float:
    r"""Optical transition energy :math:`E_e - E_h - E_C + \Sigma_e + \Sigma_h` (eV): the single-particle
    gap corrected by the e–h attraction and the dielectric self-energies (Brus 1984; Kayanuma, PRB 38,
    9797 (1988)); NaN without dielectric constants."""
    c = coulomb_result(solved)
    return float("nan") if c is None else float(solved.E_e - solved.E_h + c.optical_correction_eV)


register(Observable("coulomb", "eV", "e-h Coulomb energy E_C in the NC-in-dielectric geometry (Brus 1984)",
                    coulomb_energy))
register(Observable("optical_transition_energy", "eV",
                    "E_e - E_h - E_C + Sigma_e + Sigma_h (Brus 1984; Kayanuma 1988)", optical_transition_energy))
