r"""Overhauser-field widths and halide weights of the band-edge carriers, as observables.

All four read one :func:`~perovskite_tb.observables.hyperfine.hyperfine_fields` result of the
band-edge doublets of an ETB nanocrystal (per-atom, per-shell weights of the states; Merkulov, Efros &
Rosen, PRB 65, 205309 (2002)), computed once on request; NaN for models without atoms (k·p).
"""

from __future__ import annotations

from perovskite_tb.observables import Observable, register
from perovskite_tb.observables.hyperfine import halide_of, hyperfine_fields

__all__ = ["hyperfine_result"]


def hyperfine_result(solved) -> dict | None:
    """:func:`~perovskite_tb.observables.hyperfine.hyperfine_fields` of the band edges of an ETB ``solved``
    (cached on it), None for other models; other objects are read through their ``hyperfine`` attribute."""
    if not hasattr(solved, "cached"):
        return getattr(solved, "hyperfine", None)
    if solved.model != "etb":
        return None
    p = solved.terms.params
    return solved.cached("hyperfine", lambda s: hyperfine_fields(
        s.structure, s.band_edges.electron.vectors, s.band_edges.hole.vectors, s.g_e.g, s.g_h.g, p.basis,
        halide=halide_of(p.material)))


def _field(key: str):
    def compute(solved) -> float:
        h = hyperfine_result(solved)
        return float("nan") if h is None else float(h[key])

    compute.__doc__ = f"``{key}`` of :func:`perovskite_tb.observables.hyperfine.hyperfine_fields` (NaN if not computed)."
    return compute


for _name, _unit, _what in (
        ("Delta_N_e", "mT", "electron Overhauser-field width (Merkulov, Efros & Rosen, PRB 65, 205309 (2002))"),
        ("Delta_N_h", "mT", "hole Overhauser-field width (NaN without cited hole constants)"),
        ("halide_weight_e", "1", "fraction of the electron density on halide atoms"),
        ("halide_weight_h", "1", "fraction of the hole density on halide atoms")):
    register(Observable(_name, _unit, _what, _field(f"{_name}_{_unit}" if _unit != "1" else _name)))
