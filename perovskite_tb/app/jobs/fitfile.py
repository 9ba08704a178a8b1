"""Fit output: a fitted set as a parameter TOML of the shipped schema plus a ``[fit]`` record, and the
human-readable report of :mod:`perovskite_tb.app.jobs.fit`.

Values are formatted by ``tomli_w``; tables of one parameter are written inline
(``E_p_Pb = { value = 5.3, unit = "eV", source = "…" }``), the layout of the shipped files.
"""

from __future__ import annotations

import math
from pathlib import Path

import tomli_w

from perovskite_tb.app.jobs.fitspec import FITTABLE_NAMES, RECORDED_TARGETS, TARGET_NAMES, FitResult
from perovskite_tb.errors import InputError
from perovskite_tb.model.materials import (_SP3_UNUSED, ONSITE_NAMES, SECOND_NEIGHBOUR_NAMES, SPIN_ORBIT_NAMES,
                                           TWO_CENTRE_NAMES)

__all__ = ["write_parameter_file", "format_report"]


def _toml_value(v) -> str:
    """One TOML value written by ``tomli_w`` (dicts as inline tables, the parameter-file style)."""
    if isinstance(v, float) and not math.isfinite(v):
        raise InputError(f"cannot write non-finite value {v} to TOML")
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    try:
        return tomli_w.dumps({"v": v}).split("=", 1)[1].strip()
    except TypeError:
        raise InputError(f"cannot write {type(v).__name__} to TOML") from None


def _key(k: str) -> str:
    return tomli_w.dumps({k: 0}).rsplit("=", 1)[0].strip()


def _round(x: float, nd: int = 6) -> float:
    return float(f"{x:.{nd}g}") if x != 0 else 0.0


def _kv(key: str, value) -> str:
    return f"{_key(key)} = {_toml_value(value)}"


def _sources(result: FitResult) -> dict:
    """Citation key of every written value: parent's, ``[start]`` overrides, the fit's for free ones."""
    spec = result.spec
    parent_src = dict(spec.parent.sources)
    src = {n: parent_src.get(n, spec.source) for n in ("a", "dEg_dT", "thermal_expansion") + FITTABLE_NAMES}
    src.update({n: s for n, (_, s) in spec.start.items()})
    src.update({n: spec.source for n in spec.free})
    return src


def _set_lines(result: FitResult) -> list[str]:
    """``[meta]``, ``[lattice]``, the parameter tables and (same material) ``[temperature]``."""
    spec, p, src = result.spec, result.params, _sources(result)
    lines = [
        f"# ETB parameters of cubic {spec.material}, set '{spec.parameter_set}'. Written by perovskite_tb.app.fit",
        "# from the fit spec recorded in [fit]; regenerate with `perovskite-tb fit <spec> -o <this file>`.",
        "# Units are stated per value and converted by the loader; energies relative to the bulk VBM (≈ 0 eV).",
        "", "[meta]", _kv("material", spec.material), _kv("parameter_set", spec.parameter_set),
        _kv("model", "etb"), _kv("basis", p.basis),
        _kv("description", spec.description or f"least-squares fit of {spec.parent_name}"),
        _kv("status", spec.status or "REC (fitted by perovskite_tb.app.fit)"),
        _kv("reference_temperature_K", {"value": float(spec.parent.reference_temperature_K),
                                        "unit": "K", "source": spec.source}),
        "", "[lattice]",
        _kv("a", {"value": _round(p.a * 10, 8), "unit": "angstrom", "source": src["a"]}),
    ]
    sections = [("onsite", ONSITE_NAMES), ("two_centre", TWO_CENTRE_NAMES), ("spin_orbit", SPIN_ORBIT_NAMES)]
    if any(getattr(p, n) for n in SECOND_NEIGHBOUR_NAMES) or set(SECOND_NEIGHBOUR_NAMES) & (
            set(spec.free) | set(spec.start)):
        sections.append(("second_neighbour", SECOND_NEIGHBOUR_NAMES))
    for sec, names in sections:
        lines += ["", f"[{sec}]"]
        for n in names:
            if p.basis == "sp3" and n in _SP3_UNUSED:
                continue
            free = n in spec.free
            entry = {"value": _round(getattr(p, n), 7) if free else float(getattr(p, n)),
                     "unit": "eV", "source": src[n]}
            if result.vbm_shift and sec == "onsite" and not free:
                entry = {**entry, "value": _round(getattr(p, n), 7),
                         "note": f"cited value shifted by {result.vbm_shift:+.6f} eV (align_vbm)"}
            lines.append(_kv(n, {**entry, "fitted": True} if free else entry))
    # no [temperature] table: fitted sets carry no cited dEg/dT unless the parent's material matches
    if spec.parent.material == spec.material and (spec.parent.dEg_dT or spec.parent.thermal_expansion):
        lines += ["", "[temperature]", "# copied from the parent set (same material)"]
        for n, unit in (("dEg_dT", "eV/K"), ("thermal_expansion", "1/K")):
            lines.append(_kv(n, {"value": float(getattr(spec.parent, n)), "unit": unit,
                                 "source": src[n]}))
    return lines


def _record_lines(result: FitResult) -> list[str]:
    """The ``[fit]`` record: parent, inputs, targets, achieved values, residuals, the spec."""
    spec = result.spec
    lines = [
        "", "# Record of the fit (ignored by the parameter loader except for a type check).", "[fit]",
        _kv("parent", spec.parent_name), _kv("parent_sha256", spec.parent.file_sha256),
        _kv("free", list(spec.free)), _kv("orbital_zeeman", spec.orbital_zeeman),
        _kv("citations", list(spec.citations)), _kv("cost", _round(result.cost, 8)),
        *([_kv("vbm_shift_eV", _round(result.vbm_shift, 8))] if spec.align_vbm else []),
        _kv("nfev", result.nfev),
        _kv("optimizer", "scipy.optimize.least_squares (trf): " + result.message),
        "", "[fit.initial]",
    ]
    lines += [_kv(n, _round(v, 8)) for n, v in result.initial.items()]
    lines += ["", "[fit.targets]"]
    for t in spec.targets:
        d = {"value": t.value, "weight": t.weight, "unit": TARGET_NAMES[t.name]}
        if t.tolerance is not None:
            d["tolerance"] = t.tolerance
        if t.source:
            d["source"] = t.source
        lines.append(_kv(t.name, d))
    lines += ["", "[fit.achieved]", "# all bulk quantities of the fitted set (eV, m0, 1)"]
    targeted = {t.name for t in spec.targets}
    lines += [_kv(n, _round(v, 6)) for n, v in result.achieved.items() if n in RECORDED_TARGETS or n in targeted]
    lines += ["", "[fit.residuals]", "# achieved − target"]
    lines += [_kv(n, _round(v, 4)) for n, v in result.residuals.items()]
    lines += ["", "[fit.met]", "# |residual| ≤ tolerance (targets with a tolerance only)"]
    lines += [_kv(n, m) for n, m in result.met.items() if m is not None]
    lines += ["", "[fit.spec]", "# the fit spec as read"]
    return lines + _spec_lines(spec.raw, "fit.spec")


def write_parameter_file(result: FitResult, path: str | Path) -> Path:
    """Write a fitted set as a parameter TOML (shipped schema + ``[fit]`` table).

    Fitted values are written with 7 significant digits; the file reloads with
    :func:`perovskite_tb.model.materials.load_parameter_file` to the same bulk properties within
    1e-6 (eV, m0, 1).

    Parameters
    ----------
    result : FitResult
    path : str or pathlib.Path
        Output file; its name should be ``<material>.<set>.etb.toml`` to be found by
        :func:`perovskite_tb.model.materials.load_parameters` when placed in ``parameters/``.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    InputError
        If the file cannot be written or a value is not finite.
    """
    text = "\n".join(_set_lines(result) + _record_lines(result)) + "\n"
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write parameter file {str(path)!r}: {exc.strerror}") from None
    return path


def _spec_lines(doc: dict, prefix: str) -> list[str]:
    """Spec document as TOML lines: one sub-table per top-level table, inline values inside."""
    out: list[str] = []
    for k, v in doc.items():
        if not isinstance(v, dict):
            out.append(_kv(k, v))
    for k, v in doc.items():
        if isinstance(v, dict):
            out += ["", f"[{prefix}.{_key(k)}]"]
            out += [_kv(kk, vv) for kk, vv in v.items()]
    return out


def format_report(result: FitResult) -> str:
    """Human-readable table: free parameters (initial → fitted) and targets (target, achieved, residual)."""
    s = result.spec
    rows = [f"fit {s.material}.{s.parameter_set} (parent {s.parent_name}): ½χ² = {result.cost:.4g}, "
            f"{result.nfev} evaluations, {result.message}"]
    rows.append(f"{'parameter':>16s} {'start':>10s} {'fitted':>10s}  (eV)")
    for n in s.free:
        rows.append(f"{n:>16s} {result.initial[n]:10.4f} {result.fitted[n]:10.4f}")
    rows.append(f"{'target':>16s} {'value':>10s} {'achieved':>10s} {'residual':>10s} {'tol':>8s} met")
    for t in s.targets:
        tol = "" if t.tolerance is None else f"{t.tolerance:g}"
        met = {None: "-", True: "yes", False: "NO"}[result.met[t.name]]
        rows.append(f"{t.name:>16s} {t.value:10.4f} {result.achieved[t.name]:10.4f} "
                    f"{result.residuals[t.name]:+10.4f} {tol:>8s} {met}")
    return "\n".join(rows)
