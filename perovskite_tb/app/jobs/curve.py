"""The main job: g_e, g_h vs NC size / transition energy (and temperature), written as it goes to HDF5.

Embedded default (``perovskite-tb curve`` with no options): CsPbI3, the material's default set
(``nestoklon2023``), 6 K, ETB cubes of 3…26 cells per edge (1.9–16.4 nm, the measured range
1.69–2.25 eV; times in README), output ``curve.h5`` and ``curve.png`` (g_e, g_h, g_X against the
optical transition energy, with the measured points). Finished points are flushed after each size; re-running
with the same output file skips them.

A job of the sweep engine (:mod:`perovskite_tb.app.engine.sweep`): :func:`curve_run` is the run-file
template (one material, set and Zeeman variant; cubes; run in this process), so the points, resume
keys and atomic rows are those of ``perovskite-tb sweep``; the file (``kind = "curve"``) also carries
the curve's ``config_json`` and refuses to resume with another material, set, Zeeman variant or
temperature rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from perovskite_tb import nc
from perovskite_tb.app.store.io import root_attrs
from perovskite_tb.app.plot import check_energy_axis, check_plot_path, plot_curve
from perovskite_tb.app.engine.runfile import RunSpec, parse_run
from perovskite_tb.app.engine.sweep import check_output, run_sweep
from perovskite_tb.eigen.registry import check_solver
from perovskite_tb.errors import InputError
from perovskite_tb.model.materials import load_parameters
from perovskite_tb.model.temperature import check_temperature

__all__ = ["CurveConfig", "curve_run", "run_curve", "DEFAULT_N_CELLS"]

#: Default ETB cube sizes (cells per edge): 3…26 (1.9–16.4 nm), so that the curve spans the measured
#: 1.69–2.25 eV (26 cells: optical energy ≈ 1.62 eV; 3 cells: ≈ 2.6 eV).
DEFAULT_N_CELLS = tuple(range(3, 27))


@dataclass(frozen=True)
class CurveConfig:
    """Inputs of a curve run (stored as ``config_json`` in the output)."""

    material: str = "CsPbI3"
    parameter_set: str | None = None
    temperatures_K: tuple = (6.0,)
    n_cells_list: tuple = DEFAULT_N_CELLS
    models: tuple = ("etb",)
    orbital_zeeman: bool = False
    #: :mod:`perovskite_tb.model.temperature` rule ("a" default, "b"); stored in config_json only if not "a",
    #: so files written before the option existed resume unchanged.
    temperature_rule: str = "a"
    output: str = "curve.h5"
    plot: str | None = "curve.png"
    #: x axis of the figure (:data:`perovskite_tb.app.plot.ENERGY_AXES`); not stored, the file has both energies.
    energy_axis: str = "optical"
    #: eigensolver back-end (:data:`perovskite_tb.eigen.registry.BACKENDS` or "auto"); recorded per row.
    solver: str = "auto"


def _etb_point(params, N, orbital_zeeman=False, solver="auto"):
    """ETB solve of an N×N×N cube (the hook through which tests observe the curve's solves)."""
    return nc.nc_gfactors(params, (N, N, N), orbital_zeeman=orbital_zeeman, method=solver)


def _validate(cfg: CurveConfig) -> tuple:
    if not cfg.n_cells_list:
        raise InputError("no sizes given")
    for N in cfg.n_cells_list:
        if isinstance(N, bool) or int(N) != N or N < 1:
            raise InputError(f"cells per edge must be a positive integer, got {N}")
    for m in cfg.models:
        if m not in ("etb", "kp"):
            raise InputError(f"unknown model {m!r} (known: etb, kp)")
    return tuple(dict.fromkeys(check_temperature(T) for T in cfg.temperatures_K))


def curve_run(cfg: CurveConfig) -> RunSpec:
    """The curve's run file: ``cfg`` as a :class:`RunSpec` of the sweep engine (in-process, no plot).

    Raises
    ------
    PerovskiteTBError
        Bad sizes, models or temperatures.
    """
    temps = _validate(cfg)
    spec = parse_run({
        "axes": {"material": [cfg.material], "parameter_set": [cfg.parameter_set or "default"],
                 "model": list(dict.fromkeys(cfg.models)),
                 "n_cells": list(dict.fromkeys(int(N) for N in cfg.n_cells_list)),
                 "temperature_K": list(temps), "orbital_zeeman": [bool(cfg.orbital_zeeman)]},
        "options": {"temperature_rule": cfg.temperature_rule},
        "execution": {"workers": 1},
    }, source="curve")
    return replace(spec, output=str(cfg.output), plot=None)


def run_curve(cfg: CurveConfig, *, progress: bool | None = None) -> str:
    """Run the curve job; returns the output path.

    Parameters
    ----------
    cfg : CurveConfig
    progress : bool, optional
        Show a tqdm progress bar (default: when stderr is a TTY and CI is not set).

    Raises
    ------
    PerovskiteTBError
        Bad inputs (material, set, sizes, temperatures) or solver failures.
    """
    check_plot_path(cfg.plot)
    check_energy_axis(cfg.energy_axis)
    check_solver(cfg.solver)
    spec = curve_run(cfg)
    base = load_parameters(cfg.material, cfg.parameter_set)
    check_output(spec)
    old_sha = root_attrs(cfg.output).get("parameter_file_sha256") if Path(cfg.output).is_file() else None
    if old_sha and old_sha != base.file_sha256:  # same set name, another file: rows would merge in one curve
        raise InputError(f"{cfg.output} holds rows of set {base.parameter_set!r} from another parameter file "
                         f"(SHA-256 {str(old_sha)[:12]}, now {base.file_sha256[:12]} from {base.path}); "
                         "use another output file")
    cfg_doc = {
        "material": cfg.material, "parameter_set": base.parameter_set,
        "orbital_zeeman": cfg.orbital_zeeman, "n_cells_list": list(cfg.n_cells_list),
        "temperatures_K": list(cfg.temperatures_K), "models": list(cfg.models),
    }
    if cfg.temperature_rule != "a":
        cfg_doc["temperature_rule"] = cfg.temperature_rule
    config_json = json.dumps(cfg_doc)
    attrs = {
        "config_json": config_json, "material": cfg.material, "parameter_set": base.parameter_set,
        "parameter_file_sha256": base.file_sha256, "parameter_file": base.path,
        "parameter_citations": json.dumps(dict(base.sources)),
        "orbital_zeeman": cfg.orbital_zeeman,
    }
    run_sweep(spec, progress=progress, kind="curve", attrs=attrs, params_attrs=base.values(),
              etb_solver=lambda params, N, oz: _etb_point(params, N, oz, cfg.solver))
    if cfg.plot:
        plot_curve(cfg.output, cfg.plot, models=cfg.models, energy_axis=cfg.energy_axis)
    return cfg.output
