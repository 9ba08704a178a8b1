"""Units by dimension and plausible ranges of ETB parameters: the checks behind the parameter loader.

A value is refused when its unit has the wrong dimension (a lattice constant in eV) or when it lies outside
the documented plausible range of its kind (a unit slip or a typo, not physics).
"""

from __future__ import annotations

from perovskite_tb.errors import ParameterError

__all__ = ["DIMENSIONS", "DIMENSION_OF", "ENTRY_KEYS", "META_KEYS", "INTERNAL_UNIT", "PLAUSIBLE", "SECTION_OF",
           "check_plausible", "range_key"]

#: Accepted units per dimension and their factor to the internal unit (eV, nm, K).
DIMENSIONS = {
    "energy": {"eV": 1.0, "meV": 1e-3},
    "length": {"nm": 1.0, "angstrom": 0.1, "Å": 0.1, "pm": 1e-3},
    "temperature": {"K": 1.0},
    "energy/temperature": {"eV/K": 1.0, "meV/K": 1e-3},
    "1/temperature": {"1/K": 1.0},
    "dimensionless": {"1": 1.0},
}
#: Internal unit of each dimension (for messages).
INTERNAL_UNIT = {"energy": "eV", "length": "nm", "temperature": "K", "energy/temperature": "eV/K",
             "1/temperature": "1/K", "dimensionless": "1"}

#: Plausible range (internal units) of every parameter, by name or by section. A value outside is
#: refused: it is a unit slip or a typo, not physics. Sources of the scales:
#:
#: * ``a``: cubic CsPbX3 lattice constants are 0.56–0.64 nm (CsPbI3 6.289 Å: Nestoklon, Comput. Mater.
#:   Sci. 196, 110535 (2021), Table I; CsPbCl3 ≈ 5.6 Å); the range allows ±25 %.
#: * on-site energies: sp3d5s* sets lie within −14…+23 eV (Jancu et al., PRB 57, 6493 (1998), Table I;
#:   Nestoklon 2021, Table I); the range is ±40 eV.
#: * two-centre integrals: |V| ≤ 3 eV in Nestoklon 2021 and ≤ 5 eV in Jancu 1998; the range is ±10 eV.
#: * second-neighbour integrals (X–X at a/√2 ≈ 0.44 nm, Pb–Pb at a ≈ 0.63 nm): two-centre integrals fall
#:   off with distance (Harrison's V ∝ d⁻², W. A. Harrison, Electronic Structure and the Properties of
#:   Solids, 1980), so they lie well below the nearest-neighbour scale; the range is ±3 eV.
#: * spin–orbit λ = Δ/3: atomic p-shell splittings of Pb 6p (≈ 1.75 eV) and I 5p (≈ 0.94 eV) give
#:   λ ≈ 0.3–0.6 eV (Nestoklon 2021: 0.28 / 0.54 eV); λ ≥ 0 by the Landé interval rule; the range is 0–1.5 eV.
#: * dEg/dT: +3.1×10⁻⁴ eV/K for CsPbI3 (Meliakov et al., Nanoscale 16, 21496 (2024)); |dEg/dT| ≤ 5×10⁻³ eV/K.
#: * (1/a) da/dT: 3.39×10⁻⁵ K⁻¹ (same source); 0…5×10⁻⁴ K⁻¹.
#: * hopping exponent η (V ∝ d^-η): 2 in Harrison's scaling (W. A. Harrison, Electronic Structure and
#:   the Properties of Solids, 1980); 0…6.
#: * reference temperature: 0…1000 K.
PLAUSIBLE = {
    "a": (0.45, 0.80),
    "onsite": (-40.0, 40.0),
    "two_centre": (-10.0, 10.0),
    "second_neighbour": (-3.0, 3.0),
    "spin_orbit": (0.0, 1.5),
    "dEg_dT": (-5e-3, 5e-3),
    "thermal_expansion": (0.0, 5e-4),
    "hopping_exponent": (0.0, 6.0),
    "reference_temperature_K": (0.0, 1000.0),
}
#: Dimension of each parameter (sections by their section name).
DIMENSION_OF = {
    "a": "length", "onsite": "energy", "two_centre": "energy", "spin_orbit": "energy", "second_neighbour": "energy",
    "dEg_dT": "energy/temperature", "thermal_expansion": "1/temperature", "hopping_exponent": "dimensionless",
    "reference_temperature_K": "temperature",
}
#: Keys allowed in a value table, in [meta], and at the top level of a parameter file.
ENTRY_KEYS = {"value", "unit", "source", "symbol", "note", "fitted"}
META_KEYS = {"material", "parameter_set", "model", "basis", "description", "status", "reference_temperature_K"}

#: parameter name → its section (set by the loader's tables).
SECTION_OF: dict[str, str] = {}


def range_key(name: str) -> str:
    return SECTION_OF.get(name, name)


def check_plausible(name: str, value: float, where: str = "") -> None:
    """Refuse a parameter value outside its documented plausible range (:data:`PLAUSIBLE`).

    Parameters
    ----------
    name : str
        Parameter name (``a``, ``E_p_Pb``, ``V_pp_sigma``, ``lambda_so_Pb``, ``dEg_dT`` …).
    value : float
        Value in the internal unit (eV, nm, K, eV/K, 1/K).
    where : str, optional
        Prefix for the message (e.g. the file name).

    Raises
    ------
    ParameterError
        One line naming the value, its unit and the range.
    """
    key = range_key(name)
    lo, hi = PLAUSIBLE[key]
    if not (lo <= value <= hi):
        unit = INTERNAL_UNIT[DIMENSION_OF[key]]
        raise ParameterError(f"{where}{name} = {value:.6g} {unit} is outside the plausible range "
                             f"[{lo:g}, {hi:g}] {unit} (a unit slip or a typo?)")


