r"""Thermal average of the carrier g over the Boltzmann-populated confined levels (``g_e_thermal``, ``g_h_thermal``).

Populations
    A resident carrier in thermal equilibrium among the multiplets i of the spectrum (energies
    :math:`E_i`, degeneracies :math:`d_i`; ground level i = 1) occupies them with

    .. math:: p_i = \frac{d_i\, e^{-|E_i - E_1|/k_B T}}{\sum_k d_k\, e^{-|E_k - E_1|/k_B T}}

    (Boltzmann; electrons count up from the lowest, holes down from the highest level).

g of one multiplet (along z)
    A multiplet of d states has first-order Zeeman values :math:`z_a` (μB, :meth:`SolvedNanocrystal.zeeman`,
    ordered by decreasing ⟨J_z⟩). It is read as a pseudo-spin :math:`\tilde J = (d-1)/2` with projections
    :math:`m_a = \tilde J, \tilde J - 1, \dots, -\tilde J` in that order, and its g is the least-squares
    slope of :math:`z_a = g_i m_a`:

    .. math:: g_i = \frac{\sum_a z_a m_a}{\sum_a m_a^2}.

    For a Kramers doublet this is exactly :math:`z_1 - z_2`, the signed band-edge g (J convention); for a
    quartet with a linear Zeeman pattern :math:`z_a = g m_a` it is g (for a cubic Γ8 quartet with two
    g's it weights the outer pair 9 : 1). This rule is a convention of this package [REC].

Average (the rule chosen: motional narrowing)
    A resident carrier that hops among the levels much faster than the spread of their Larmor
    frequencies precesses at the population-weighted mean frequency — the fast-exchange (motional
    narrowing) limit of P. W. Anderson, J. Phys. Soc. Jpn. 9, 316 (1954) and R. Kubo, J. Phys. Soc. Jpn.
    9, 935 (1954). So the g that TRFE measures is

    .. math:: g_\mathrm{th}(T) = \sum_i p_i\, g_i ,

    signed, along z (the field direction of a cube is immaterial for its doublets). This is the rule of
    the brief for doublets; the Curie-magnetisation (Van Vleck) alternative was not chosen because it
    weights :math:`z_a^2` and loses the sign of g, which TRFE fits.

Completeness
    The sum needs every level whose Boltzmann factor relative to the ground level,
    :math:`e^{-|E - E_1|/k_B T}`, exceeds :data:`WEIGHT_CUTOFF` (1e-3), i.e. every level within
    :math:`\Delta_\mathrm{max} = k_B T \ln 10^3 \approx 6.9\,k_B T` of the edge. The spectrum reports the
    lowest multiplets in energy order (no level skipped below the last one reported, by the inertia proof
    of :mod:`perovskite_tb.eigen.spectrum`), so the value is NaN unless the spectrum is proven and
    :math:`|E_\mathrm{last} - E_1| \ge \Delta_\mathrm{max}` (the last reported multiplet lies beyond the
    cut-off; it also lies inside the proved range ``spectrum.proof["cut_e_eV"/"cut_h_eV"]``, which is
    checked). Raise K (``levels=``) until it is not NaN: for a 16-cell CsPbI3 cube K = 8 reaches
    ≈ 116 meV (electron) / 122 meV (hole), enough up to T ≈ 190 K; K = 1 only at T = 0.

Temperature
    ``solved.context["temperature_K"]`` (K); NaN if absent, None, negative or not finite.
    :math:`k_B` = 8.617333262e-5 eV/K (CODATA 2018 exact value).
"""

from __future__ import annotations

import math

import numpy as np

from perovskite_tb.errors import InputError
from perovskite_tb.observables import Observable, register

__all__ = ["K_B_EV_PER_K", "WEIGHT_CUTOFF", "populations", "multiplet_g", "complete_to", "ThermalG",
           "thermal_g", "g_e_thermal", "g_h_thermal"]

#: Boltzmann constant (eV/K), CODATA 2018 (exact).
K_B_EV_PER_K = 8.617333262e-5
#: Levels with a Boltzmann factor above this (relative to the ground level) must be in the spectrum.
WEIGHT_CUTOFF = 1e-3
_NAN = float("nan")


def populations(energies, degeneracies, T: float) -> np.ndarray:
    """Boltzmann populations :math:`p_i \\propto d_i\\,e^{-|E_i-E_1|/k_BT}` of the listed multiplets.

    Parameters
    ----------
    energies : sequence of float
        Multiplet energies (eV), the ground level first.
    degeneracies : sequence of int
        States per multiplet.
    T : float
        Temperature (K), ≥ 0; T = 0 puts everything in the first level.

    Returns
    -------
    ndarray of float64, shape (n,)
        Sums to 1.

    Raises
    ------
    InputError
        Negative or non-finite T, mismatched lengths, an empty list or a degeneracy < 1.
    """
    E = np.asarray(energies, dtype=float)
    d = np.asarray(degeneracies, dtype=float)
    if E.ndim != 1 or E.size == 0 or d.shape != E.shape or np.any(d < 1):
        raise InputError("need equal-length, non-empty energies and degeneracies ≥ 1")
    if not (math.isfinite(T) and T >= 0):
        raise InputError(f"temperature must be finite and ≥ 0 K, got {T}")
    dE = np.abs(E - E[0])
    if T == 0:
        p = (dE == 0).astype(float) * d
    else:
        p = d * np.exp(-dE / (K_B_EV_PER_K * T))
    return p / p.sum()


def multiplet_g(z: np.ndarray) -> float:
    """Pseudo-spin g of a multiplet from its Zeeman values along one axis (module docstring).

    Parameters
    ----------
    z : ndarray of float, shape (d,)
        Zeeman values (μB) ordered by decreasing ⟨J⟩ (:func:`perovskite_tb.gfactor.zeeman_values`).

    Returns
    -------
    float
        :math:`\\sum_a z_a m_a / \\sum_a m_a^2`, m = (d−1)/2 … −(d−1)/2; a doublet gives z₁ − z₂.

    Raises
    ------
    InputError
        Fewer than two values.
    """
    z = np.asarray(z, dtype=float).ravel()
    if z.size < 2:
        raise InputError("a multiplet needs at least two Zeeman values")
    m = (z.size - 1) / 2.0 - np.arange(z.size)
    return float(z @ m / (m @ m))


def complete_to(spectrum, carrier: str) -> float:
    """Energy distance (eV) from the edge up to which the spectrum of ``carrier`` is known complete.

    That is :math:`|E_\\mathrm{last} - E_1|` if the spectrum is proven and its last reported multiplet lies
    inside the proved range (``proof["cut_e_eV"]`` / ``["cut_h_eV"]``), −inf otherwise.
    """
    levels = spectrum.carrier(carrier)
    if not getattr(spectrum, "proven", False) or not levels:
        return -math.inf
    E1, Elast = float(levels[0].energy), float(levels[-1].energy)
    cut = (getattr(spectrum, "proof", None) or {}).get("cut_e_eV" if carrier[0] == "e" else "cut_h_eV")
    if cut is not None and len(levels) > 1:
        inside = Elast <= cut if carrier[0] == "e" else Elast >= cut
        if not inside:
            return -math.inf
    return abs(Elast - E1)


class ThermalG(dict):
    """Result of :func:`thermal_g`: keys ``g`` (float), ``populations`` (ndarray), ``g_levels`` (ndarray),
    ``energies_eV`` (ndarray), ``degeneracies`` (ndarray of int), ``needed_eV`` (Δ_max), ``complete_eV``."""


def thermal_g(solved, carrier: str, T: float | None = None, *, axis: int = 2) -> ThermalG:
    """Thermally averaged g of ``carrier`` and the populations behind it.

    Parameters
    ----------
    solved : perovskite_tb.nc.SolvedNanocrystal
        Needs ``spectrum`` and ``zeeman(carrier, i)``.
    carrier : {"e", "h"}
    T : float, optional
        Temperature (K); default ``solved.context["temperature_K"]``.
    axis : int, optional
        Field axis (0, 1, 2 = x, y, z; default z).

    Returns
    -------
    ThermalG
        ``g`` is NaN when T is missing/invalid or the spectrum is not complete to
        :math:`k_BT\\ln(1/\\mathrm{WEIGHT\\_CUTOFF})` (module docstring).
    """
    if T is None:
        T = (getattr(solved, "context", None) or {}).get("temperature_K")
    out = ThermalG(g=_NAN, populations=np.array([]), g_levels=np.array([]), energies_eV=np.array([]),
                   degeneracies=np.array([], dtype=int), needed_eV=_NAN, complete_eV=_NAN)
    try:
        T = float(T)
    except (TypeError, ValueError):
        return out
    if not (math.isfinite(T) and T >= 0):
        return out
    sp = solved.spectrum
    levels = sp.carrier(carrier)
    E = np.array([m.energy for m in levels], dtype=float)
    d = np.array([m.degeneracy for m in levels], dtype=int)
    needed = K_B_EV_PER_K * T * math.log(1.0 / WEIGHT_CUTOFF)
    complete = complete_to(sp, carrier)
    g_levels = np.array([multiplet_g(solved.zeeman(carrier, i)[axis]) for i in range(len(levels))])
    p = populations(E, d, T)
    out.update(populations=p, g_levels=g_levels, energies_eV=E, degeneracies=d, needed_eV=needed,
               complete_eV=complete)
    if complete >= needed:
        out["g"] = float(p @ g_levels)
    return out


def _observable(carrier: str):
    def compute(solved) -> float:
        if not (hasattr(solved, "cached") and hasattr(solved, "spectrum") and hasattr(solved, "zeeman")):
            return _NAN
        T = (getattr(solved, "context", None) or {}).get("temperature_K")
        if T is None:
            return _NAN
        return float(solved.cached(f"thermal_g_{carrier}_{T!r}", lambda s: thermal_g(s, carrier, T))["g"])

    return compute


g_e_thermal = _observable("e")
g_h_thermal = _observable("h")
g_e_thermal.__doc__ = "Thermal g of the electron (1) at context['temperature_K'] (module docstring); NaN if incomplete."
g_h_thermal.__doc__ = "Thermal g of the hole (1) at context['temperature_K'] (module docstring); NaN if incomplete."

register(Observable("g_e_thermal", "1",
                    "electron g averaged over Boltzmann-populated levels at temperature_K, fast-exchange limit "
                    "(Anderson 1954; Kubo 1954)", g_e_thermal))
register(Observable("g_h_thermal", "1",
                    "hole g averaged over Boltzmann-populated levels at temperature_K, fast-exchange limit "
                    "(Anderson 1954; Kubo 1954)", g_h_thermal))
