r"""Observables of a solved nanocrystal: one registered function per per-NC quantity.

An observable maps a solved nanocrystal (:class:`perovskite_tb.nc.SolvedNanocrystal`: its ``terms``
(H₀, M, J, S, structure), ``spectrum`` (multiplets with eigenvectors), band-edge ``g_e``/``g_h`` and the
model choices in ``context``) to a float in the unit it declares, on request. Quantities that share
a costly intermediate compute it once through ``solved.cached(key, fn)``. Each registration names its
result column once; the result schema and the CLI JSON pick it up from :data:`REGISTRY`.

Adding a quantity is one module in this package with its function(s) and :func:`register` call(s),
plus one import line at the end of this file (e.g. :mod:`.optical`: the e–h Coulomb energy and the
optical transition energy; :mod:`.hyperfine_observables`: the Overhauser-field widths).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Observable", "REGISTRY", "register", "evaluate", "bright_exciton_g"]


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
    json_key : str or None
        Key in the CLI JSON when an issue or contract spells it otherwise than ``<name>_<unit>``.
    """

    name: str
    unit: str
    description: str
    compute: Callable[[Any], float]
    json_key: str | None = None


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
    """Values of the registered observables (or of ``names``) for one solved nanocrystal.

    Raises
    ------
    KeyError
        An unknown name.
    """
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


register(Observable("g_X", "1", "bright-exciton g = g_e + g_h (Kirstein et al. 2022)", bright_exciton_g))

# Each module below holds one quantity (or a family sharing one computation) and its register() calls.
from perovskite_tb.observables import optical  # noqa: E402,F401  (coulomb, optical_transition_energy)
from perovskite_tb.observables import hyperfine_observables  # noqa: E402,F401  (Delta_N_e/h, halide weights)
from perovskite_tb.observables import surface  # noqa: E402,F401  (surface_weight_e/h)
from perovskite_tb.observables import thermal  # noqa: E402,F401  (g_e_thermal, g_h_thermal)
from perovskite_tb.observables import hole_band  # noqa: E402,F401  (Delta_N_h_low/high: derived Pb 6s band)
from perovskite_tb.observables import excitons  # noqa: E402,F401  (exciton_bright_dark, g_X_bright, radiative_lifetime)
