"""The main job: g_e, g_h vs NC size / transition energy (and temperature), written as it goes to HDF5.

Embedded default (``perovskite-tb curve`` with no options): CsPbI3, the material's default set
(``nestoklon2023``), 6 K, ETB cubes of 3…20 cells per edge (1.9–12.6 nm; ≈ 7 min on 2 cores, see
README), output ``curve.h5`` and ``curve.png``. Finished points are flushed after each size; re-running
with the same output file skips them.

A thin front end over :mod:`perovskite_tb.app.sweep` (the same points, resume keys and atomic rows as
``perovskite-tb sweep``), run in this process; the file also carries the curve's ``config_json`` and
refuses to resume with another material, set, Zeeman variant or temperature rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from perovskite_tb.errors import InputError
from perovskite_tb.model.materials import load_parameters
from perovskite_tb.model.temperature import check_temperature

__all__ = ["CurveConfig", "run_curve", "DEFAULT_N_CELLS"]

#: Default ETB cube sizes (cells per edge).
DEFAULT_N_CELLS = tuple(range(3, 21))


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


def _etb_point(params, N, orbital_zeeman=False):
    from perovskite_tb.nc import nc_gfactors

    return nc_gfactors(params, (N, N, N), orbital_zeeman=orbital_zeeman)


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
    from dataclasses import replace

    from perovskite_tb.app.sweep import parse_run, run_sweep

    if not cfg.n_cells_list:
        raise InputError("no sizes given")
    for N in cfg.n_cells_list:
        if isinstance(N, bool) or int(N) != N or N < 1:
            raise InputError(f"cells per edge must be a positive integer, got {N}")
    for m in cfg.models:
        if m not in ("etb", "kp"):
            raise InputError(f"unknown model {m!r} (known: etb, kp)")
    base = load_parameters(cfg.material, cfg.parameter_set)
    temps = tuple(dict.fromkeys(check_temperature(T) for T in cfg.temperatures_K))
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
        "orbital_zeeman": cfg.orbital_zeeman, "kind": "curve",
    }
    # the same machinery as `perovskite-tb sweep`: one material, set and Zeeman variant; run in this
    # process (workers = 1), cubes through _etb_point (looked up at call time)
    spec = parse_run({
        "axes": {"material": [cfg.material], "parameter_set": [cfg.parameter_set or "default"],
                 "model": list(dict.fromkeys(cfg.models)),
                 "n_cells": list(dict.fromkeys(int(N) for N in cfg.n_cells_list)),
                 "temperature_K": list(temps), "orbital_zeeman": [bool(cfg.orbital_zeeman)]},
        "options": {"temperature_rule": cfg.temperature_rule},
        "execution": {"workers": 1},
    }, source="curve")
    spec = replace(spec, output=str(cfg.output), plot=None)
    run_sweep(spec, progress=progress, attrs=attrs, params_attrs=base.values(),
              etb_solver=lambda params, N, oz: _etb_point(params, N, oz))
    if cfg.plot:
        from perovskite_tb.app.plot import plot_curve

        plot_curve(cfg.output, cfg.plot, models=cfg.models)
    return cfg.output
