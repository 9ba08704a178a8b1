r"""k·p parameter sets of CsPbX3 (8-band model at the R point), loaded from TOML.

The numbers live in ``parameters/CsPbX3.kp.toml`` (schema ``perovskite_tb.kp/1``); every value
carries a unit and a ``source`` key into ``parameters/references.toml`` or
``parameters/references_kp.toml``. Units are converted here, once, to the internal eV / nm.

Symbols (Kirstein et al., Nat. Commun. 13, 3062 (2022))
-------------------------------------------------------
``Eg``         band gap R6+ (s-like VB) → R6− (J=½ CB) [eV]
``P``          interband momentum ħp/m0 [eV·nm], :math:`E_p = 2 m_0 P^2/\hbar^2` [eV]
``Delta_so``   CB spin–orbit splitting E(J=3/2) − E(J=½) [eV]
``delta_g_e``  remote-band g correction of the J=½ CB pseudospin [1]
``L_prime``, ``M_prime``, ``N_prime``  Dresselhaus–Kip–Kittel remote terms of the CB [ħ²/2m0]
``gamma_v``    remote term of the VB, :math:`H_{SS} = (\hbar^2k^2/2m_0)(1+\gamma_v)` [1]
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from perovskite_tb.constants import HBAR2_OVER_2M0
from perovskite_tb.errors import InputError, ParameterError
from perovskite_tb.model.materials import material_table

__all__ = [
    "KpParameters",
    "load_kp_parameters",
    "available_sets",
    "DEFAULT_SET",
    "NC_DEFAULT_SET",
    "VALENCE_FREE_TERM_CHOICES",
    "parameters_dir",
]

#: Parameter set used when none is requested (bulk formulas, CLI kp-bulk).
DEFAULT_SET = "kirstein2022-universal"
#: Default set of the confined model (perovskite-tb kp-nc, curve --model kp), from the material table
#: ``parameters/defaults.toml``: the k·p set derived from the material's default ETB set (kp.fit_etb),
#: so that k·p and ETB share their bulk Eg, Δ, masses and g factors.
NC_DEFAULT_SET = {m: d["kp"] for m, d in material_table().items() if "kp" in d}
#: accepted values of the set-level key ``valence_free_term``
VALENCE_FREE_TERM_CHOICES = ("foreman", "as-given")

_KP_FILE = "CsPbX3.kp.toml"
_SCHEMA = "perovskite_tb.kp/1"
#: conversion factor of each accepted unit to the internal unit of that quantity
_UNIT = {"eV": 1.0, "1": 1.0, "eV/K": 1.0, "K": 1.0, "eV*nm": 1.0, "eV*Angstrom": 0.1}
_QUANTITY_UNITS = {
    "Eg": {"eV"},
    "Ep": {"eV"},
    "hbar_p_over_m0": {"eV*Angstrom", "eV*nm"},
    "Delta_so": {"eV"},
    "delta_g_e": {"1"},
    "L_prime": {"1"},
    "M_prime": {"1"},
    "N_prime": {"1"},
    "gamma_v": {"1"},
    "dEg_dT": {"eV/K"},
}


def parameters_dir() -> Path:
    """Directory holding the parameter files.

    Returns
    -------
    pathlib.Path
        ``perovskite_tb.model.materials.parameters_dir()`` when that helper exists (works from a checkout
        and from an installed wheel), else ``<checkout>/parameters``.
    """
    try:  # the lead's helper, once available
        from perovskite_tb.model.materials import parameters_dir as _pd  # type: ignore

        return Path(_pd())
    except (ImportError, AttributeError):
        return Path(__file__).resolve().parent.parent / "parameters"


@dataclass(frozen=True, slots=True)
class KpParameters:
    r"""Parameters of the 8-band R-point k·p model (Kirstein et al., Nat. Commun. 13, 3062 (2022)), internal units eV, nm.

    Attributes
    ----------
    material : str
        Compound name, e.g. ``"CsPbI3"``.
    parameter_set : str
        Name of the set in ``CsPbX3.kp.toml``.
    Eg : float
        Band gap [eV], > 0.
    P : float
        Interband momentum ħp/m0 [eV·nm], ≥ 0.
    Delta_so : float
        CB spin–orbit splitting [eV], > 0.
    delta_g_e : float
        Remote-band correction added to the J=½ CB pseudospin g [1].
    L_prime, M_prime, N_prime : float
        DKK remote terms of the p-like CB in units of ħ²/2m0 [1].
    gamma_v : float
        VB remote term [1].
    dEg_dT : float or None
        Linear temperature coefficient of Eg [eV/K]; None if the set has no temperature model.
    sources : dict
        Quantity name → reference key (provenance), not used in physics.
    """

    material: str
    parameter_set: str
    Eg: float
    P: float
    Delta_so: float
    delta_g_e: float = 0.0
    L_prime: float = 0.0
    M_prime: float = 0.0
    N_prime: float = 0.0
    gamma_v: float = 0.0
    dEg_dT: float | None = None
    sources: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise ParameterError(f"k·p parameter {f.name} = {v} is not finite")
        if not self.Eg > 0:
            raise ParameterError(f"band gap Eg must be > 0 eV, got {self.Eg} eV")
        if not self.Delta_so > 0:
            raise ParameterError(f"Delta_so must be > 0 eV, got {self.Delta_so} eV")
        if not self.P >= 0:
            raise ParameterError(f"interband momentum P must be >= 0 eV·nm, got {self.P}")

    @property
    def Ep(self) -> float:
        r"""Kane energy :math:`E_p = 2p^2/m_0 = P^2/(\hbar^2/2m_0)` [eV]."""
        return self.P**2 / HBAR2_OVER_2M0

    def at_temperature(self, temperature_K: float) -> "KpParameters":
        """Return a copy with Eg(T) = Eg + dEg_dT·T (Eg of the set taken as the T → 0 value).

        Parameters
        ----------
        temperature_K : float
            Temperature [K], finite and ≥ 0.

        Returns
        -------
        KpParameters

        Raises
        ------
        InputError
            If the temperature is negative or not finite.
        ParameterError
            If the set has no temperature coefficient ``dEg_dT``.

        References
        ----------
        meliakov2024_temperature (dEg/dT = +3.1e-4 eV/K for CsPbI3).
        """
        import dataclasses

        T = float(temperature_K)
        if not (math.isfinite(T) and T >= 0):
            raise InputError(f"temperature must be finite and >= 0 K, got {temperature_K} K")
        if self.dEg_dT is None:
            raise ParameterError(
                f"k·p set {self.parameter_set!r} has no temperature model (dEg_dT) for "
                f"{self.material}"
            )
        return dataclasses.replace(self, Eg=self.Eg + self.dEg_dT * T)


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ParameterError(f"parameter file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"malformed TOML in {path}: {exc}") from exc


def _reference_keys(pdir: Path) -> set[str] | None:
    keys: set[str] = set()
    found = False
    for name in ("references.toml", "references_kp.toml"):
        p = pdir / name
        if p.exists():
            found = True
            keys |= set(_read_toml(p))
    return keys if found else None


def available_sets(path: Path | None = None) -> dict[str, list[str]]:
    """List the k·p parameter sets and the materials each one covers.

    Parameters
    ----------
    path : pathlib.Path, optional
        k·p TOML file; default ``parameters_dir()/CsPbX3.kp.toml``.

    Returns
    -------
    dict
        set name → sorted list of material names.

    Raises
    ------
    ParameterError
        If the file is missing or malformed.
    """
    data = _read_toml(path or parameters_dir() / _KP_FILE)
    sets = data.get("sets", {})
    return {
        name: sorted(k for k, v in s.items() if isinstance(v, dict)) for name, s in sets.items()
    }


def load_kp_parameters(
    material: str, parameter_set: str | None = None, *, path: Path | None = None,
    valence_free_term: str | None = None,
) -> KpParameters:
    """Load one k·p parameter set for one material.

    Parameters
    ----------
    material : str
        ``"CsPbI3"``, ``"CsPbBr3"`` or ``"CsPbCl3"`` (whatever the set covers).
    parameter_set : str, optional
        Set name; default :data:`DEFAULT_SET`.
    path : pathlib.Path, optional
        Alternative TOML file (tests).
    valence_free_term : {"foreman", "as-given"}, optional
        Override of the set-level key ``valence_free_term`` (default of a set: ``"as-given"``).
        ``"foreman"``: if the tabulated γ_v gives 1 + γ_v > 0, use γ_v = −1 (Foreman 1997: the
        s-like VB's total free k² term ≤ 0 removes the spurious solutions of the confined model;
        bulk g unchanged, VB mass becomes the pure Kane value). ``"as-given"``: tabulated γ_v.

    Returns
    -------
    KpParameters
        Values in eV, eV·nm, 1.

    Raises
    ------
    ParameterError
        Unknown set or material, missing quantity, unknown unit, or a ``source`` key that is in
        neither reference file.
    """
    pdir = path.parent if path is not None else parameters_dir()
    data = _read_toml(path or pdir / _KP_FILE)
    if data.get("schema") != _SCHEMA:
        raise ParameterError(f"k·p file schema {data.get('schema')!r}, expected {_SCHEMA!r}")
    name = DEFAULT_SET if parameter_set is None else parameter_set
    sets = data.get("sets", {})
    if name not in sets:
        raise ParameterError(f"unknown k·p parameter set {name!r}; available: {sorted(sets)}")
    entries = sets[name]
    if not isinstance(material, str) or material not in entries or not isinstance(
        entries[material], dict
    ):
        mats = sorted(k for k, v in entries.items() if isinstance(v, dict))
        raise ParameterError(f"material {material!r} not in k·p set {name!r}; available: {mats}")
    vft = valence_free_term if valence_free_term is not None else sets[name].get(
        "valence_free_term", "as-given")
    if vft not in VALENCE_FREE_TERM_CHOICES:
        raise ParameterError(f"valence_free_term {vft!r} not in {VALENCE_FREE_TERM_CHOICES}")
    refs = _reference_keys(pdir)
    vals: dict[str, float] = {}
    sources: dict[str, str] = {}
    for q, item in entries[material].items():
        if q not in _QUANTITY_UNITS:
            raise ParameterError(f"unknown quantity {q!r} in k·p set {name!r}/{material}")
        if not isinstance(item, dict) or not {"value", "unit", "source"} <= set(item):
            raise ParameterError(f"{name}/{material}/{q}: need value, unit and source")
        unit = item["unit"]
        if unit not in _QUANTITY_UNITS[q]:
            raise ParameterError(f"{name}/{material}/{q}: unit {unit!r} not in {_QUANTITY_UNITS[q]}")
        if refs is not None and item["source"] not in refs:
            raise ParameterError(f"{name}/{material}/{q}: unknown source key {item['source']!r}")
        vals[q] = float(item["value"]) * _UNIT[unit]
        sources[q] = item["source"]
    if ("Ep" in vals) == ("hbar_p_over_m0" in vals):
        raise ParameterError(f"{name}/{material}: give exactly one of Ep, hbar_p_over_m0")
    if "Ep" in vals:
        if vals["Ep"] < 0:
            raise ParameterError(f"{name}/{material}: Ep must be >= 0 eV")
        P = math.sqrt(vals.pop("Ep") * HBAR2_OVER_2M0)
    else:
        P = vals.pop("hbar_p_over_m0")
    for req in ("Eg", "Delta_so"):
        if req not in vals:
            raise ParameterError(f"{name}/{material}: missing {req}")
    if vft == "foreman" and vals.get("gamma_v", 0.0) > -1.0:
        # Foreman 1997: total free k^2 term of the s-like VB must be <= 0 (no spurious solutions);
        # bulk g is unchanged (depends on P, Eg, Delta only), the VB mass becomes the Kane value.
        vals["gamma_v"] = -1.0
        sources["gamma_v"] = "foreman1997"
    return KpParameters(material=material, parameter_set=name, P=P, sources=sources, **vals)
