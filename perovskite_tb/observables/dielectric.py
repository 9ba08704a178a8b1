"""Cited default permittivities for the e–h Coulomb energy (``parameters/dielectric.toml``).

Defaults (values, sources and tags in the TOML file, references in ``references_dielectric.toml``):
ε_in = high-frequency ε_∞ of the NC material — CsPbI3 6.1 (cubic DFT, Frost's PolaronMobility.jl,
tag 3P: no measured value found), CsPbBr3 4.49 and CsPbCl3 3.54 (n² below the gap, Ermolaev et al.,
Nano Lett. 23, 2570 (2023), authors' data, SRC); ε_out = 2.20, n² of the SCHOTT N-FK51A
fluorophosphate crown at 680 nm, a documented proxy for the fluorophosphate host glass (SRC vendor
data; the host glass's own index was not found).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from perovskite_tb.errors import ParameterError
from perovskite_tb.model.materials import parameter_table

__all__ = ["Permittivity", "DielectricDefaults", "dielectric_constants", "load_dielectric_table"]


@dataclass(frozen=True)
class Permittivity:
    """One cited relative permittivity (dimensionless) with its source key and tag."""

    value: float
    source: str
    tag: str
    kind: str


@dataclass(frozen=True)
class DielectricDefaults:
    """ε_in of a material and ε_out of a matrix."""

    eps_in: Permittivity
    eps_out: Permittivity
    material: str
    matrix: str


@lru_cache(maxsize=1)
def load_dielectric_table() -> dict:
    """Read and cache ``parameters/dielectric.toml``.

    Raises
    ------
    ParameterError
        If the file is missing or malformed.
    """
    return parameter_table("dielectric.toml")


def _entry(d: dict, where: str) -> Permittivity:
    try:
        return Permittivity(
            float(d["value"]), str(d["source"]), str(d["tag"]), str(d.get("kind", ""))
        )
    except (KeyError, TypeError, ValueError):
        raise ParameterError(f"malformed permittivity entry {where} in dielectric.toml") from None


def dielectric_constants(material: str, matrix: str | None = None) -> DielectricDefaults:
    """Return the default ε_in of ``material`` and ε_out of ``matrix``.

    ``matrix`` defaults to the file's ``[default] matrix``.

    Raises
    ------
    ParameterError
        Unknown material or matrix.
    """
    t = load_dielectric_table()
    matrix = t.get("default", {}).get("matrix") if matrix is None else matrix
    if material not in t or "eps_in" not in t[material]:
        known = sorted(k for k, v in t.items() if isinstance(v, dict) and "eps_in" in v)
        raise ParameterError(
            f"no default epsilon_in for material {material!r}; known: {', '.join(known)}"
        )
    mats = t.get("matrix", {})
    if matrix not in mats:
        raise ParameterError(
            f"unknown dielectric matrix {matrix!r}; known: {', '.join(sorted(mats))}"
        )
    return DielectricDefaults(
        _entry(t[material]["eps_in"], f"[{material}.eps_in]"),
        _entry(mats[matrix]["eps_out"], f"[matrix.{matrix}.eps_out]"),
        material,
        matrix,
    )
