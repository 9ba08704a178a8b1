"""The main job: g_e, g_h vs NC size / transition energy (and temperature), written as it goes to HDF5.

Embedded default (``perovskite-tb curve`` with no options): CsPbI3, the material's default set
(``nestoklon2023``), 6 K, ETB cubes of 3…12 cells per edge (1.9–7.5 nm; ≈ 5 min on 2 cores, see
README), output ``curve.h5`` and ``curve.png``. Finished points are flushed after each size; re-running
with the same output file skips them.
"""

from __future__ import annotations

import json
import resource
import sys
from dataclasses import dataclass

from .errors import InputError
from .io import CurveWriter
from .materials import load_parameters
from .temperature import check_temperature, parameters_at

__all__ = ["CurveConfig", "run_curve", "DEFAULT_N_CELLS"]

#: Default ETB cube sizes (cells per edge).
DEFAULT_N_CELLS = tuple(range(3, 13))


@dataclass(frozen=True)
class CurveConfig:
    """Inputs of a curve run (stored as ``config_json`` in the output)."""

    material: str = "CsPbI3"
    parameter_set: str | None = None
    temperatures_K: tuple = (6.0,)
    n_cells_list: tuple = DEFAULT_N_CELLS
    models: tuple = ("etb",)
    orbital_zeeman: bool = False
    #: :mod:`perovskite_tb.temperature` rule ("a" default, "b"); stored in config_json only if not "a",
    #: so files written before the option existed resume unchanged.
    temperature_rule: str = "a"
    output: str = "curve.h5"
    plot: str | None = "curve.png"


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux: KiB → GB (approx.)


def _etb_point(params, N, orbital_zeeman=False):
    from .nc import nc_gfactors

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
    import os

    from tqdm import tqdm

    if not cfg.n_cells_list:
        raise InputError("no sizes given")
    for N in cfg.n_cells_list:
        if int(N) != N or N < 1:
            raise InputError(f"cells per edge must be a positive integer, got {N}")
    for m in cfg.models:
        if m not in ("etb", "kp"):
            raise InputError(f"unknown model {m!r} (known: etb, kp)")
    base = load_parameters(cfg.material, cfg.parameter_set)
    per_T = {check_temperature(T): parameters_at(base, T, rule=cfg.temperature_rule) for T in cfg.temperatures_K}
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
    if progress is None:
        progress = sys.stderr.isatty() and not os.environ.get("CI")
    points = [(m, T, int(N)) for m in cfg.models for T in per_T for N in cfg.n_cells_list]
    with CurveWriter(cfg.output, attrs, base.values()) as w:
        done = {m: w.done(m) for m in cfg.models}
        todo = [p for p in points if ((p[2],) * 3, p[1]) not in done[p[0]]]
        bar = tqdm(todo, disable=not progress, desc="curve", unit="NC")
        for model, T, N in bar:
            bar.set_postfix_str(f"{model} T={T:g}K N={N}")
            if model == "etb":
                r = _etb_point(per_T[T], N, cfg.orbital_zeeman)
                row = {
                    "n_cells": r.n_cells, "edge_nm": r.edge_nm[0], "temperature_K": T, "n_states": r.n_states,
                    "E_e": r.E_e, "E_h": r.E_h, "transition_energy": r.transition_energy,
                    "g_e": r.g_e.g, "g_h": r.g_h.g, "g_e_tensor": r.g_e.tensor, "g_h_tensor": r.g_h.tensor,
                    "residual_e": r.residual_e, "residual_h": r.residual_h, "seconds": r.seconds,
                    "peak_rss_GB": _peak_rss_gb(),
                }
            else:
                row = _kp_point(cfg, per_T[T], T, N)
            w.append(model, row)
    if cfg.plot:
        from .plot import plot_curve

        plot_curve(cfg.output, cfg.plot, models=cfg.models)
    return cfg.output


def _kp_point(cfg, params_T, T, N):
    """k·p point at the same edge as the ETB cube of N cells (lazy import of :mod:`kp`)."""
    import time

    import numpy as np

    from kp.confinement import nc_gfactors as kp_nc

    t0 = time.perf_counter()
    L = N * params_T.a
    d = kp_nc(cfg.material, (L, L, L), temperature_K=T)
    return {
        "n_cells": (N, N, N), "edge_nm": L, "temperature_K": T, "n_states": d["n_states"],
        "E_e": d["E_e_eV"], "E_h": d["E_h_eV"], "transition_energy": d["transition_energy_eV"],
        "g_e": d["g_e"], "g_h": d["g_h"], "g_e_tensor": np.asarray(d["g_e_tensor"]),
        "g_h_tensor": np.asarray(d["g_h_tensor"]), "residual_e": d.get("residual_e_eV", np.nan),
        "residual_h": d.get("residual_h_eV", np.nan), "seconds": time.perf_counter() - t0,
        "peak_rss_GB": _peak_rss_gb(),
    }
