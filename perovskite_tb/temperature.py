r"""Temperature dependence of ETB parameter sets (physics brief §7).

Meliakov et al., Nanoscale 16, 21496 (2024) shift the Pb p on-site energy E_pc so that the bulk gap
follows :math:`dE_g/dT = +3.1\times10^{-4}` eV/K and scale the lattice constant by
:math:`(1/a_0)\,da/dT = 3.39\times10^{-5}` K⁻¹. Which hopping rule they used is not stated [MISSING];
rules offered (``rule=``):

``"a"`` (default) — hoppings fixed, geometry scaled: a(T) = a0[1 + α(T − T_ref)], and E_pc re-tuned
(Newton on the bulk ETB gap) so that Eg(T) = Eg(T_ref) + dEg/dT·(T − T_ref). With fixed hoppings the
bulk bands do not depend on a, so E_pc alone carries the gap shift; the NC size in nm grows with a.
Default because it changes only what the paper says it changes.

Coefficients come from the parameter file's ``[temperature]`` table (cited).
"""

from __future__ import annotations

import math

from .errors import InputError, ParameterError
from .materials import EtbParameters

__all__ = ["parameters_at", "RULES"]

RULES = ("a",)


def _gap(p: EtbParameters) -> float:
    import numpy as np

    from .bulk import N_FILLED, bloch_hamiltonian, high_symmetry_point

    E = np.linalg.eigvalsh(bloch_hamiltonian(p, high_symmetry_point("R", p.a)))
    return float(E[N_FILLED] - E[N_FILLED - 1])


def parameters_at(params: EtbParameters, T_K: float, *, rule: str = "a") -> EtbParameters:
    """Parameter set at temperature ``T_K``.

    Parameters
    ----------
    params : EtbParameters
        Set at its reference temperature ``params.reference_temperature_K``.
    T_K : float
        Temperature (K), finite and ≥ 0.
    rule : {"a"}
        Temperature rule (module docstring).

    Returns
    -------
    EtbParameters
        ``params`` itself if T_K equals the reference temperature, else a new frozen set.

    Raises
    ------
    InputError
        Negative or non-finite temperature, unknown rule.
    ParameterError
        If the set has no temperature coefficients but T ≠ T_ref.
    """
    try:
        T = float(T_K)
    except (TypeError, ValueError):
        raise InputError(f"temperature must be a number in K, got {T_K!r}") from None
    if not math.isfinite(T) or T < 0:
        raise InputError(f"temperature must be finite and >= 0 K, got {T_K} K")
    if rule not in RULES:
        raise InputError(f"unknown temperature rule {rule!r} (known: {', '.join(RULES)})")
    dT = T - params.reference_temperature_K
    if dT == 0:
        return params
    if params.dEg_dT == 0 and params.thermal_expansion == 0:
        raise ParameterError(
            f"parameter set {params.parameter_set} has no [temperature] coefficients; cannot evaluate at {T} K"
        )
    target = _gap(params) + params.dEg_dT * dT
    a_T = params.a * (1.0 + params.thermal_expansion * dT)
    Epc = params.E_p_Pb
    h = 1e-3
    for _ in range(20):
        g0 = _gap(params.replace(E_p_Pb=Epc, a=a_T)) - target
        if abs(g0) < 1e-10:
            break
        slope = (_gap(params.replace(E_p_Pb=Epc + h, a=a_T)) - _gap(params.replace(E_p_Pb=Epc - h, a=a_T))) / (2 * h)
        Epc -= g0 / slope
    return params.replace(E_p_Pb=Epc, a=a_T, reference_temperature_K=T)
