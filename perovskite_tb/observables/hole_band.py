r"""A band for the hole Overhauser-field width from a *derived* range of the ²⁰⁷Pb 6s hole constant.

No measured or computed hole hyperfine constant for the lead halides could be read (Kirstein et al.,
Adv. Mater. 34, 2105263 (2022) evaluate it; the number was not seen), so ``Delta_N_h`` stays NaN
(:mod:`perovskite_tb.observables.hyperfine`). This module gives a band instead: the observables ``Delta_N_h_low`` /
``Delta_N_h_high`` (unit mT; JSON keys ``Delta_N_h_mT_low`` / ``Delta_N_h_mT_high``, the issue's spelling; ``Delta_N_h`` →
``Delta_N_h_mT``) are Δ_N of the band-edge hole computed exactly as the electron's (Merkulov, Efros &
Rosen, PRB 65, 205309 (2002):
:math:`\Delta_N^2 = \tfrac23\sum_j x_j I_j(I_j+1)a_j^2/(g\mu_B)^2`, :math:`a_j = A\,w_j`, with :math:`w_j`
the doublet-averaged weight of the hole on the Pb s and s* orbitals of atom j) with A at the two ends of
the range ``[derived.hole.Pb]`` of ``parameters/hyperfine.toml`` (tag DER):

* low, 212.8 µeV — the ¹⁹⁹Hg⁺ 6s ²S₁/₂ constant (40.507 GHz: Berkeland et al., PRL 80, 2089 (1998))
  scaled to ²⁰⁷Pb by the nuclear g ratio (Stone, INDC(NDS)-0658 (2014)), Z = 82/80 and the relativistic
  Casimir factor :math:`F_r = 3/(\rho(4\rho^2-1))`, :math:`\rho=\sqrt{1-(\alpha Z)^2}` (Kopfermann,
  *Nuclear Moments* (1958)): a Pb 6s screened like Hg⁺ 6s;
* high, 360.7 µeV — the same times the Fermi–Segrè density ratio :math:`Z_a^2/n^{*3}`,
  :math:`n^* = Z_a\sqrt{\mathrm{Ry}/\mathrm{IP}}` (Fermi & Segrè, Z. Phys. 82, 729 (1933)) from Hg⁺
  (Z_a = 2, IP 18.7568 eV) to the free Pb³⁺ ion (Z_a = 4, IP 42.33 eV; NIST ASD): the formal ionic limit
  of a hole in the 6s² pair of Pb²⁺.

Only the Pb contact term enters (the hole's halide p constants are MISSING and left out), so the band
bounds the Pb part of Δ_N. The g-independent energy :math:`g\mu_B\Delta_N` (µeV) is in
:func:`hole_band_result`. NaN for models without atoms (k·p), |g_h| = 0, or a band marked NaN.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from perovskite_tb.errors import ParameterError
from perovskite_tb.model.materials import parameters_dir
from perovskite_tb.observables import Observable, register
from perovskite_tb.observables.hyperfine import (
    MU_B_UEV_PER_T,
    HyperfineConstants,
    _constant,
    _reference_keys,
    halide_of,
    load_constants,
    orbital_weights,
    overhauser,
)

__all__ = ["HoleBand", "load_hole_band", "hole_band_fields", "hole_band_result"]

_NAN = float("nan")


@dataclass(frozen=True)
class HoleBand:
    """Derived range of the hole's ²⁰⁷Pb 6s constant.

    Attributes
    ----------
    low_ueV, high_ueV : float
        Ends of the range (µeV; NaN if marked missing).
    shells : tuple of str
        ETB shells whose weight multiplies A (``("s", "sstar")``).
    isotope, tag, convention : str
    sources : tuple of str
        Citation keys (``parameters/references*.toml``).
    """

    low_ueV: float
    high_ueV: float
    shells: tuple
    isotope: str
    tag: str
    sources: tuple
    convention: str


@lru_cache(maxsize=4)
def load_hole_band(path: str | None = None) -> HoleBand:
    """Read ``[derived.hole.Pb]`` of the hyperfine table (default ``parameters/hyperfine.toml``).

    Returns
    -------
    HoleBand

    Raises
    ------
    ParameterError
        Missing file or table, a value < 0 or low > high, unknown unit, shell or citation key.
    """
    p = Path(path) if path is not None else parameters_dir() / "hyperfine.toml"
    try:
        with open(p, "rb") as fh:
            d = tomllib.load(fh)["derived"]["hole"]["Pb"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise ParameterError(f"cannot read [derived.hole.Pb] of {p}: {exc}") from None
    vals = []
    for key in ("low", "high"):
        if key not in d:
            raise ParameterError(f"{p}: [derived.hole.Pb] lacks {key!r}")
        c = _constant("hole", "Pb", {**d, "value": d[key]}, str(p))  # unit, shells, value ≥ 0 checks
        vals.append(c.value_ueV)
    if all(math.isfinite(v) for v in vals) and vals[0] > vals[1]:
        raise ParameterError(f"{p}: [derived.hole.Pb] low {vals[0]} > high {vals[1]} µeV")
    sources = tuple(d.get("sources", ()))
    refs = _reference_keys(parameters_dir()) | _reference_keys(p.parent.resolve())
    unknown = sorted(k for k in sources if k not in refs)
    if unknown or not sources:
        raise ParameterError(f"{p}: [derived.hole.Pb] sources {unknown or 'missing'} not in references*.toml")
    return HoleBand(low_ueV=vals[0], high_ueV=vals[1], shells=tuple(d["shells"]), isotope=str(d.get("isotope", "")),
                    tag=str(d.get("tag", "")), sources=sources, convention=str(d.get("convention", "")))


def _pb_only(constants: HyperfineConstants, band: HoleBand, value: float) -> HyperfineConstants:
    base = constants.for_carrier("hole", "Pb")
    c = base[0] if base else None
    if c is None:
        raise ParameterError(f"{constants.path}: no [hole.Pb] entry to carry the derived band")
    c = replace(c, value_ueV=float(value), shells=band.shells, isotope=band.isotope or c.isotope, tag=band.tag)
    return HyperfineConstants(constants={("hole", "Pb"): [c]}, isotopes=constants.isotopes, path=constants.path)


def hole_band_fields(species: np.ndarray, vectors_h: np.ndarray, g_h: float, basis: str, *, halide: str = "I",
                     band: HoleBand | None = None, constants: HyperfineConstants | None = None) -> dict:
    """Pb-only hole Overhauser width at the two ends of the derived band.

    Parameters
    ----------
    species : ndarray of int, shape (n_sites,)
        0 = Pb, 1 = X.
    vectors_h : ndarray of complex128, shape (n_states, 2)
        Band-edge hole doublet.
    g_h : float
        Hole g (sign ignored).
    basis : str
        ``params.basis``.
    halide : str, optional
        Element on the X sites (not used by the Pb-only sum; kept for the same call as the electron's).
    band, constants : optional
        Default :func:`load_hole_band` and :func:`~perovskite_tb.observables.hyperfine.load_constants`.

    Returns
    -------
    dict
        ``Delta_N_h_mT_low``, ``Delta_N_h_mT_high`` (mT), ``Delta_N_h_ueV_low``, ``Delta_N_h_ueV_high``
        (:math:`g\\mu_B\\Delta_N`, µeV), ``w_h_Pb_s`` (hole weight on Pb s + s*).

    Raises
    ------
    InputError
        Vectors that do not fit the basis or the structure.
    ParameterError
        A malformed table.
    """
    band = load_hole_band() if band is None else band
    constants = load_constants() if constants is None else constants
    species = np.asarray(species)
    w = orbital_weights(vectors_h, basis)
    if w.shape[0] != species.shape[0]:
        from perovskite_tb.errors import InputError

        raise InputError(f"hole doublet covers {w.shape[0]} atoms, the structure has {species.shape[0]}")
    out: dict = {}
    gabs = abs(float(g_h))
    for end, A in (("low", band.low_ueV), ("high", band.high_ueV)):
        E, _, _ = overhauser(species, w, basis, "hole", halide, _pb_only(constants, band, A))
        out[f"Delta_N_h_ueV_{end}"] = E
        ok = math.isfinite(gabs) and gabs > 0
        out[f"Delta_N_h_mT_{end}"] = 1e3 * E / (gabs * MU_B_UEV_PER_T) if ok else _NAN
    from perovskite_tb.observables.hyperfine import _shell_columns

    out["w_h_Pb_s"] = float(w[species == 0][:, _shell_columns(basis, band.shells)].sum())
    return out


def hole_band_result(solved) -> dict | None:
    """:func:`hole_band_fields` of the band-edge hole of an ETB ``solved`` (cached), None otherwise."""
    if not hasattr(solved, "cached"):
        return getattr(solved, "hole_band", None)
    if getattr(solved, "model", None) != "etb":
        return None
    p = solved.terms.params
    return solved.cached("hole_band", lambda s: hole_band_fields(
        s.structure.species, s.band_edges.hole.vectors, s.g_h.g, p.basis, halide=halide_of(p.material)))


def _end(key: str):
    def compute(solved) -> float:
        r = hole_band_result(solved)
        return _NAN if r is None else float(r[key])

    compute.__doc__ = f"``{key}`` of :func:`hole_band_fields` (mT; NaN without atoms or |g_h| = 0)."
    return compute


register(Observable("Delta_N_h_low", "mT",
                    "hole Overhauser width, Pb 6s only, low end of the derived A(207Pb 6s) band (Hg+-like 6s; "
                    "Berkeland 1998, Merkulov 2002)", _end("Delta_N_h_mT_low"), json_key="Delta_N_h_mT_low"))
register(Observable("Delta_N_h_high", "mT",
                    "hole Overhauser width, Pb 6s only, high end of the derived A(207Pb 6s) band (free Pb3+ 6s; "
                    "Fermi-Segre 1933, Merkulov 2002)", _end("Delta_N_h_mT_high"), json_key="Delta_N_h_mT_high"))
