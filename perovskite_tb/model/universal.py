r"""Universal bulk g-factor formulas of Kirstein et al., Nat. Commun. 13, 3062 (2022), Eqs. 5–6.

.. math:: g_h = 2 - \tfrac43\frac{p^2}{m_0}\Big[\frac1{E_g} - \frac1{E_g+\Delta}\Big],\qquad
          g_e = -\tfrac23 + \tfrac43\frac{p^2}{m_0}\frac1{E_g} + \Delta g_e

(J convention of Kirstein et al., Nat. Commun. 13, 3062 (2022), Eqs. 5–6). Universal fit values: ħp/m0 = 6.8 eV·Å, i.e.
p²/m0 = (ħp/m0)²·m0/ħ² = 6.07 eV and (4/3)p²/m0 = 8.09 eV; Δ = 1.5 eV; Δg_e = −1 (remote bands).
With these the formulas reproduce the bulk g's of Nestoklon et al., Nano Lett. 23, 8218 (2023),
Table S2 to ±0.01 (tested).
"""

from __future__ import annotations

import numpy as np

from perovskite_tb.constants import HBAR2_OVER_M0
from perovskite_tb.errors import InputError

__all__ = ["kirstein_g_e", "kirstein_g_h", "P_UNIVERSAL_EV_NM", "DELTA_UNIVERSAL", "DGE_UNIVERSAL", "p2_over_m0", "universal_g_e", "universal_g_h"]

#: [eV·nm] ħp/m0 of the universal fit (6.8 eV·Å), Kirstein 2022.
P_UNIVERSAL_EV_NM = 0.68
#: [eV] Δ of the universal fit, Kirstein 2022.
DELTA_UNIVERSAL = 1.5
#: [1] remote-band correction Δg_e of the universal fit, Kirstein 2022.
DGE_UNIVERSAL = -1.0


def p2_over_m0(hbar_p_over_m0: float = P_UNIVERSAL_EV_NM) -> float:
    """p²/m0 (eV) from ħp/m0 (eV·nm): p²/m0 = (ħp/m0)² / (ħ²/m0)."""
    return hbar_p_over_m0**2 / HBAR2_OVER_M0


def _positive_gaps(Eg) -> np.ndarray:
    """``Eg`` as a float64 array, or InputError if any band gap is not > 0 eV."""
    Eg = np.asarray(Eg, dtype=float)
    if not np.all(Eg > 0):
        raise InputError(f"band gap must be > 0 eV, got {Eg}")
    return Eg


def kirstein_g_h(Eg, Ep, Delta_so, *, g0: float = 2.0):
    r"""Hole g factor of the universal k·p formula.

    .. math:: g_h = g_0 - \tfrac{4}{3}\frac{p^2}{m_0}\Big[\frac1{E_g} - \frac1{E_g+\Delta}\Big],
              \quad \tfrac43 p^2/m_0 = \tfrac23 E_p

    Parameters
    ----------
    Eg : float or ndarray of float64
        Band gap [eV], > 0.
    Ep : float
        Kane energy 2p²/m0 [eV].
    Delta_so : float
        CB spin–orbit splitting [eV].
    g0 : float, optional
        Spin g; the published formula uses 2 (default). The 8-band model uses CODATA g0.

    Returns
    -------
    float or ndarray of float64
        g_h (J convention, Kirstein et al. 2022).

    Raises
    ------
    InputError
        If any Eg is not positive.

    References
    ----------
    kirstein2022, Eq. 5; nestoklon2023_tableS2 (SI Eq. S3).
    """
    Eg = _positive_gaps(Eg)
    out = g0 - (2.0 / 3.0) * Ep * (1.0 / Eg - 1.0 / (Eg + Delta_so))
    return float(out) if out.ndim == 0 else out


def kirstein_g_e(Eg, Ep, delta_g_e: float = -1.0, *, g0: float = 2.0):
    r"""Electron g factor of the universal k·p formula.

    .. math:: g_e = -\frac{g_0}{3} + \tfrac43\frac{p^2}{m_0}\frac1{E_g} + \Delta g_e

    Parameters
    ----------
    Eg : float or ndarray of float64
        Band gap [eV], > 0.
    Ep : float
        Kane energy [eV].
    delta_g_e : float, optional
        Remote-band correction; universal value −1 (default).
    g0 : float, optional
        Spin g; the published −2/3 corresponds to g0 = 2 (default).

    Returns
    -------
    float or ndarray of float64
        g_e (J convention, Kirstein et al. 2022).

    Raises
    ------
    InputError
        If any Eg is not positive.

    References
    ----------
    kirstein2022, Eq. 6; nestoklon2023_tableS2 (SI Eq. S7).
    """
    Eg = _positive_gaps(Eg)
    out = -g0 / 3.0 + (2.0 / 3.0) * Ep / Eg + delta_g_e
    return float(out) if out.ndim == 0 else out


def universal_g_e(Eg, *, hbar_p_over_m0: float = P_UNIVERSAL_EV_NM, delta_g_e: float = DGE_UNIVERSAL):
    """Electron g (Kirstein Eq. 6) with the universal parameters, for band gap(s) ``Eg`` (eV)."""
    return kirstein_g_e(Eg, 2.0 * p2_over_m0(hbar_p_over_m0), delta_g_e)


def universal_g_h(Eg, *, hbar_p_over_m0: float = P_UNIVERSAL_EV_NM, Delta: float = DELTA_UNIVERSAL):
    """Hole g (Kirstein Eq. 5) with the universal parameters, for band gap(s) ``Eg`` and ``Delta`` (eV)."""
    return kirstein_g_h(Eg, 2.0 * p2_over_m0(hbar_p_over_m0), Delta)
