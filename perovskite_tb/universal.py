r"""Universal bulk g-factor formulas of Kirstein et al., Nat. Commun. 13, 3062 (2022), Eqs. 5–6.

.. math:: g_h = 2 - \tfrac43\frac{p^2}{m_0}\Big[\frac1{E_g} - \frac1{E_g+\Delta}\Big],\qquad
          g_e = -\tfrac23 + \tfrac43\frac{p^2}{m_0}\frac1{E_g} + \Delta g_e

(J convention, physics brief §0, §2.1). Universal fit values: ħp/m0 = 6.8 eV·Å, i.e.
p²/m0 = (ħp/m0)²·m0/ħ² = 6.07 eV and (4/3)p²/m0 = 8.09 eV; Δ = 1.5 eV; Δg_e = −1 (remote bands).
With these the formulas reproduce the bulk g's of Nestoklon et al., Nano Lett. 23, 8218 (2023),
Table S2 to ±0.01 (tested).
"""

from __future__ import annotations

import numpy as np

from .constants import HBAR2_OVER_M0

__all__ = ["P_UNIVERSAL_EV_NM", "DELTA_UNIVERSAL", "DGE_UNIVERSAL", "p2_over_m0", "universal_g_e", "universal_g_h"]

#: [eV·nm] ħp/m0 of the universal fit (6.8 eV·Å), Kirstein 2022.
P_UNIVERSAL_EV_NM = 0.68
#: [eV] Δ of the universal fit, Kirstein 2022.
DELTA_UNIVERSAL = 1.5
#: [1] remote-band correction Δg_e of the universal fit, Kirstein 2022.
DGE_UNIVERSAL = -1.0


def p2_over_m0(hbar_p_over_m0: float = P_UNIVERSAL_EV_NM) -> float:
    """p²/m0 (eV) from ħp/m0 (eV·nm): p²/m0 = (ħp/m0)² / (ħ²/m0)."""
    return hbar_p_over_m0**2 / HBAR2_OVER_M0


def universal_g_e(Eg, *, hbar_p_over_m0: float = P_UNIVERSAL_EV_NM, delta_g_e: float = DGE_UNIVERSAL):
    """Electron g (Kirstein Eq. 6) for band gap(s) ``Eg`` (eV, array-like); returns float or ndarray."""
    Eg = np.asarray(Eg, dtype=float)
    return -2.0 / 3.0 + (4.0 / 3.0) * p2_over_m0(hbar_p_over_m0) / Eg + delta_g_e


def universal_g_h(Eg, *, hbar_p_over_m0: float = P_UNIVERSAL_EV_NM, Delta: float = DELTA_UNIVERSAL):
    """Hole g (Kirstein Eq. 5) for band gap(s) ``Eg`` and spin–orbit splitting ``Delta`` (eV)."""
    Eg = np.asarray(Eg, dtype=float)
    return 2.0 - (4.0 / 3.0) * p2_over_m0(hbar_p_over_m0) * (1.0 / Eg - 1.0 / (Eg + Delta))
