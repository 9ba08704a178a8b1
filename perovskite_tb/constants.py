"""Physical constants in the package's internal units (eV, nm, T, K).

All values are derived once from CODATA (``scipy.constants``); nothing here is typed in by hand
except unit conversions.

Units
-----
energy eV, length nm, magnetic field T, temperature K. Wave vectors are in nm⁻¹.

Notes
-----
``E_OVER_HBAR`` is e/ħ in 1/(T·nm²): a flux B·area with B in T and area in nm² times e/ħ is
a dimensionless phase. SI e/ħ = 1.519e15 1/(T·m²) = 1.519e-3 1/(T·nm²).
``HBAR2_OVER_M0`` is ħ²/m0 in eV·nm² (= 0.0762 eV·nm² = 7.62 eV·Å²).
"""

from __future__ import annotations

import scipy.constants as _sc

__all__ = [
    "MU_B",
    "G0",
    "HBAR",
    "E_OVER_HBAR",
    "HBAR2_OVER_M0",
    "HBAR2_OVER_2M0",
    "ANGSTROM_NM",
]

#: [eV/T] Bohr magneton μB (CODATA via scipy.constants).
MU_B: float = _sc.physical_constants["Bohr magneton in eV/T"][0]
#: [1] free-electron g factor g0 = −g_e(CODATA) = 2.00231930...
G0: float = -_sc.physical_constants["electron g factor"][0]
#: [eV·s] reduced Planck constant ħ.
HBAR: float = _sc.hbar / _sc.e
#: [1/(T·nm²)] e/ħ.
E_OVER_HBAR: float = _sc.e / _sc.hbar * 1e-18
#: [eV·nm²] ħ²/m0.
HBAR2_OVER_M0: float = _sc.hbar**2 / _sc.m_e / _sc.e * 1e18
#: [eV·nm²] ħ²/(2 m0).
HBAR2_OVER_2M0: float = 0.5 * HBAR2_OVER_M0
#: [nm] one ångström.
ANGSTROM_NM: float = 0.1
