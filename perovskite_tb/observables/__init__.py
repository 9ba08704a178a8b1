r"""Observables of a solved nanocrystal: one registered function per per-doublet quantity.

An observable maps a solved nanocrystal (anything with the attributes it documents, e.g.
:class:`perovskite_tb.nc.NcResult`: ``g_e``, ``g_h``, ``E_e``, ``E_h`` …) to a float in the unit it
declares. Each registration names its result column once; the result schema
(:mod:`perovskite_tb.app.results`) and the CLI JSON pick it up from :data:`REGISTRY`.

Adding a quantity (a Coulomb energy, a hyperfine field) is one function here plus its
:func:`register` call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Observable", "REGISTRY", "register", "evaluate", "bright_exciton_g", "coulomb_energy",
           "optical_transition_energy"]


@dataclass(frozen=True)
class Observable:
    """One per-nanocrystal quantity.

    Attributes
    ----------
    name : str
        Column name in result rows, HDF5 and JSON (without unit suffix).
    unit : str
        Unit of the value ("1" for dimensionless).
    description : str
        One line, with the source of its formula.
    compute : callable
        ``compute(solved) -> float``.
    """

    name: str
    unit: str
    description: str
    compute: Callable[[Any], float]


#: name → Observable, in registration order.
REGISTRY: dict[str, Observable] = {}


def register(obs: Observable) -> Observable:
    """Add ``obs`` to :data:`REGISTRY` (a name may be registered once) and return it.

    Raises
    ------
    ValueError
        If an observable of the same name is registered already.
    """
    if obs.name in REGISTRY:
        raise ValueError(f"observable {obs.name!r} is registered already")
    REGISTRY[obs.name] = obs
    return obs


def evaluate(solved, names=None) -> dict[str, float]:
    """Values of the registered observables (or of ``names``) for one solved nanocrystal."""
    keys = list(REGISTRY) if names is None else list(names)
    return {k: float(REGISTRY[k].compute(solved)) for k in keys}


def bright_exciton_g(solved) -> float:
    r"""Bright-exciton g factor :math:`g_X = g_e + g_h` (dimensionless).

    With both carrier g's in the J convention (:mod:`perovskite_tb.gfactor`) the Zeeman splitting of the
    bright exciton of a cubic perovskite is :math:`\mu_B g_X B` with :math:`g_X = g_e + g_h`
    (Kirstein et al., Nat. Commun. 13, 3062 (2022); measured ≈ +2.2 in CsPbI3 NCs: Meliakov et al.,
    Nanoscale 17, 6522 (2025)).

    Parameters
    ----------
    solved
        Object with scalar ``g_e.g`` and ``g_h.g`` (``GFactor``) or float ``g_e`` / ``g_h``.
    """
    ge = getattr(solved.g_e, "g", solved.g_e)
    gh = getattr(solved.g_h, "g", solved.g_h)
    return float(ge) + float(gh)


def coulomb_energy(solved) -> float:
    r"""Electron–hole Coulomb energy :math:`E_C \ge 0` (eV) of the band-edge pair in the NC-in-dielectric
    geometry (:mod:`perovskite_tb.observables.coulomb`; Brus, J. Chem. Phys. 80, 4403 (1984)); NaN when
    the solve did not compute it (``solved.coulomb`` is None)."""
    c = getattr(solved, "coulomb", None)
    return float("nan") if c is None else float(c.E_C)


def optical_transition_energy(solved) -> float:
    r"""Optical transition energy :math:`E_e - E_h - E_C + \Sigma_e + \Sigma_h` (eV): the single-particle
    gap corrected by the e–h attraction and the dielectric self-energies (Brus 1984; Kayanuma, PRB 38,
    9797 (1988)); NaN without a Coulomb result."""
    c = getattr(solved, "coulomb", None)
    return float("nan") if c is None else float(solved.E_e - solved.E_h + c.optical_correction_eV)


def _hyperfine(key: str):
    def compute(solved) -> float:
        h = getattr(solved, "hyperfine", None)
        return float("nan") if h is None else float(h[key])

    compute.__doc__ = f"``{key}`` of :func:`perovskite_tb.observables.hyperfine.hyperfine_fields` (NaN if not computed)."
    return compute


register(Observable("g_X", "1", "bright-exciton g = g_e + g_h (Kirstein et al. 2022)", bright_exciton_g))
register(Observable("coulomb", "eV", "e-h Coulomb energy E_C in the NC-in-dielectric geometry (Brus 1984)",
                    coulomb_energy))
register(Observable("optical_transition_energy", "eV",
                    "E_e - E_h - E_C + Sigma_e + Sigma_h (Brus 1984; Kayanuma 1988)", optical_transition_energy))
for _name, _unit, _what in (
        ("Delta_N_e", "mT", "electron Overhauser-field width (Merkulov, Efros & Rosen, PRB 65, 205309 (2002))"),
        ("Delta_N_h", "mT", "hole Overhauser-field width (NaN without cited hole constants)"),
        ("halide_weight_e", "1", "fraction of the electron density on halide atoms"),
        ("halide_weight_h", "1", "fraction of the hole density on halide atoms")):
    register(Observable(_name, _unit, _what, _hyperfine(f"{_name}_{_unit}" if _unit != "1" else _name)))
