"""Command-line interface ``perovskite-tb`` (thin: parses, calls the public API, prints).

Sub-commands and their JSON keys are a stable contract used by regression checks:

* ``bulk --material M --parameter-set S [--orbital-zeeman] [--temperature-K T] --json`` →
  Eg_eV, gap_M_eV, gap_X_eV, Delta_so_eV, m_e, m_h, g_e, g_h
* ``nc --material M --parameter-set S --n-cells NX NY NZ [--orbital-zeeman] [--temperature-K T]
  [--termination pbx6|passivated|csx] [--levels K] [--thermal-average] --json`` →
  n_states, E_e_eV, E_h_eV, transition_energy_eV, g_e, g_h, g_e_tensor, g_h_tensor, seconds, termination;
  with ``--levels K`` also ``levels`` = {"e": [{"E_eV", "degeneracy", "zeeman_x_muB", "zeeman_y_muB",
  "zeeman_z_muB"}, …], "h": […]} (also ``kp-nc --levels K``); with ``--excitons [--screening S]
  [--ci-levels N]`` also exciton_bright_dark_meV, exciton_bright_splittings_meV, exciton_bright_axes,
  radiative_lifetime_ps (3), g_X_bright, screening, ci_levels and, with ``--ci-levels``,
  trion_negative_binding_meV, trion_positive_binding_meV, biexciton_binding_meV (the same keys from
  ``kp-nc --edge-nm LX LY LZ --excitons …``, plus ``reason``: k·p exchange is long-range only)
* ``curve`` → the main job (see :mod:`perovskite_tb.app.jobs.curve`)
* ``sweep RUN.toml [--scheduler tcp://HOST:PORT] [--dry-run]``, ``export FILE.h5 --csv [-o F.csv]`` →
  :mod:`perovskite_tb.app.engine.sweep` (run-file schema: ``docs/run-file.md``)
* ``tseries``, ``halides``, ``fit``, ``study``, ``excitons`` → the other jobs
* ``ensemble RUN.toml [--json]`` → ensemble spin dephasing (:mod:`perovskite_tb.app.cli.ensemble`)
* ``kp-bulk``, ``kp-nc`` → the k·p model (:mod:`perovskite_tb.app.cli.kp`)

The JSON keys come from the result schema (:mod:`perovskite_tb.app.store.results`: ``BULK_JSON``,
``NC_JSON``, ``KP_NC_JSON``).

Errors in the input produce one line ``perovskite-tb: error: ...`` on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from perovskite_tb import __version__
from perovskite_tb.app.cli import ensemble as ensemble_cli, kp as kp_cli, sweep as sweep_cli
from perovskite_tb.app.jobs import excitons as excitons_job, fit, halides, study, tseries, tstudy
from perovskite_tb.app.cli.options import (add_dielectric_options, add_exciton_options, add_levels_option,
                                           dielectric_option, exciton_keys, exciton_request, finite_float,
                                           material_name)
from perovskite_tb.app.jobs.curve import DEFAULT_N_CELLS, CurveConfig, run_curve
from perovskite_tb.app.plot import ENERGY_AXES
from perovskite_tb.app.store.results import BULK_COLUMNS, BULK_JSON, bulk_row, nc_json, to_json
from perovskite_tb.eigen.registry import BACKENDS
from perovskite_tb.errors import ParameterError, PerovskiteTBError
from perovskite_tb.model.bulk import bulk_properties
from perovskite_tb.model.materials import available_sets, default_set, load_parameters
from perovskite_tb.model.temperature import RULES, parameters_at

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        self.exit(2, f"perovskite-tb: error: {message}\n")


_finite_float = finite_float  # argparse types live in cli/options.py (shared with cli/kp.py)


def _positive_int(s: str) -> int:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"cells per edge must be a positive integer, got {s!r}") from None
    if not math.isfinite(v) or v != int(v) or v < 1:
        raise argparse.ArgumentTypeError(f"cells per edge must be a positive integer, got {s}")
    return int(v)


def _material_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--material", type=material_name, default=None,
                   help="compound: CsPbI3 (default; or the material of a --parameter-set file), CsPbBr3, CsPbCl3 "
                        "(sets: `perovskite-tb params`)")
    p.add_argument("--parameter-set", default=None,
                   help="ETB set name or path to a .toml parameter file (default: the material's default)")
    p.add_argument("--orbital-zeeman", action="store_true",
                   help="include the on-site μB L·B Zeeman term (dimensionless switch; default off)")


def _common(p: argparse.ArgumentParser) -> None:
    _material_options(p)
    p.add_argument("--temperature-K", type=_finite_float("K"), default=None,
                   help="temperature (K); default: the set's reference temperature")


def _termination_options(p: argparse.ArgumentParser) -> None:
    """``--termination`` and its parameters (:mod:`perovskite_tb.model.termination`)."""
    from perovskite_tb.model.termination import TERMINATIONS

    p.add_argument("--termination", choices=tuple(TERMINATIONS), default=None,
                   help="surface termination: pbx6 (default: PbX6 octahedra, bulk on-site energies), passivated "
                        "(dangling-bond hybrids raised, Lee et al. PRB 69, 045316 (2004)), csx (outer CsX layer: "
                        "each Cs an on-site potential on the halides it touches)")
    p.add_argument("--passivation-eV", type=_finite_float("eV"), default=None, metavar="DELTA",
                   help="passivated: dangling-bond energy δ_sb (eV, 100..1e5; default 1000)")
    p.add_argument("--cs-potential-eV", type=_finite_float("eV"), default=None, metavar="U",
                   help="csx: on-site potential per Cs on a touching halide (eV, -1..0; default the screened "
                        "point charge, -0.81 eV for CsPbI3)")


def _termination(args):
    from perovskite_tb.model.termination import TerminationSpec

    return TerminationSpec.from_options(args.termination, passivation_eV=args.passivation_eV,
                                        cs_potential_eV=args.cs_potential_eV)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``perovskite-tb``."""
    ap = _Parser(prog="perovskite-tb", description="ETB and k·p g-factors of CsPbX3 nanocrystals (units eV, nm, T, K)")
    ap.add_argument("--version", action="version", version=f"perovskite-tb {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)

    b = sub.add_parser("bulk", help="bulk band edges, masses and g at R")
    _common(b)
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.set_defaults(func=_cmd_bulk)

    n = sub.add_parser("nc", help="g-factors of one nanocrystal (cube, cuboid, sphere or spheroid)")
    _common(n)
    from perovskite_tb.model.shapes import SHAPES  # registered shapes

    n.add_argument("--shape", choices=tuple(SHAPES), default=None,
                   help="NC shape: PbX6-terminated Pb sites inside it (default: from the size option given)")
    n.add_argument("--n-cells", nargs=3, type=_positive_int, default=None, metavar=("NX", "NY", "NZ"),
                   help="cube/cuboid: Pb sites per edge (edge N·a, a ≈ 0.63 nm for CsPbI3)")
    n.add_argument("--diameter-nm", type=_finite_float("nm"), default=None, metavar="D",
                   help="sphere: diameter (nm); Pb sites with |r| <= D/2 about a central Pb")
    n.add_argument("--semi-axes-nm", nargs=3, type=_finite_float("nm"), default=None, metavar=("A", "B", "C"),
                   help="spheroid: semi-axes along x, y, z (nm) about a central Pb")
    add_dielectric_options(n)
    _termination_options(n)
    _solver_option(n)
    add_levels_option(n)
    n.add_argument("--thermal-average", action="store_true",
                   help="also g_e_thermal, g_h_thermal: Boltzmann average over the confined levels at --temperature-K "
                        "(perovskite_tb.observables.thermal; implies --levels max(K, 8))")
    add_exciton_options(n)
    n.add_argument("--json", action="store_true", help="print one JSON object")
    n.set_defaults(func=_cmd_nc)

    c = sub.add_parser("curve", help="main job: g_e, g_h vs size / transition energy → HDF5 + PNG")
    _material_options(c)
    c.add_argument("--temperature-K", nargs="+", type=_finite_float("K"), default=[6.0],
                   help="temperatures (K), one curve each (default 6 K)")
    c.add_argument("--temperature-rule", choices=RULES, default="a",
                   help="ETB temperature model (perovskite_tb.model.temperature): a = a(T) with E_pc re-tuned "
                        "(default), b = Harrison d^-2 hoppings")
    c.add_argument("--n-cells", nargs="+", type=_positive_int, default=None,
                   help="cube sizes (Pb sites per edge, edge N·a nm); default 3..26 (1.9–16.4 nm)")
    c.add_argument("--energy-axis", choices=tuple(ENERGY_AXES), default="optical",
                   help="x axis of the figure: optical transition energy E_e - E_h - E_C (default, the "
                        "experiment's laser energy) or single-particle E_e - E_h")
    _solver_option(c)
    c.add_argument("--model", default="etb", help="comma-separated models: etb, kp (default etb)")
    c.add_argument("-o", "--output", default="curve.h5", help="HDF5 output path (resumed if it exists)")
    c.add_argument("--plot", default="curve.png", help="PNG path, or 'none'")
    c.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    c.set_defaults(func=_cmd_curve)

    pr = sub.add_parser("params", help="list shipped parameter sets")
    pr.set_defaults(func=_cmd_params)

    fit.add_subcommand(sub)
    halides.add_subcommand(sub)
    study.add_subcommand(sub)
    tstudy.add_subcommand(sub)
    excitons_job.add_subcommand(sub)
    tseries.add_subcommand(sub, _finite_float, _positive_int)
    sweep_cli.add_subcommands(sub)
    ensemble_cli.add_subcommand(sub)
    kp_cli.add_subcommands(sub)
    return ap


def _resolve_material(args) -> None:
    """``--material`` default: the material of a ``--parameter-set`` file, else CsPbI3; a contradiction is refused."""
    if not hasattr(args, "material") or not hasattr(args, "parameter_set"):
        return
    ps = args.parameter_set
    if ps is None or not str(ps).endswith(".toml"):
        args.material = "CsPbI3" if args.material is None else args.material  # '' is refused, not defaulted
        return
    file_material = load_parameters(parameter_set=ps).material
    if args.material is not None and args.material != file_material:
        raise ParameterError(f"--material {args.material} contradicts the parameter file {ps}, "
                             f"which describes {file_material}")
    args.material = file_material


def _params(args):
    p = load_parameters(args.material, args.parameter_set)
    if args.temperature_K is not None:
        p = parameters_at(p, args.temperature_K)
    return p


def _print(obj: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj))
    else:
        for k, v in obj.items():
            print(f"{k:>22s}: {v}")


def _cmd_bulk(args) -> int:
    b = bulk_properties(_params(args), orbital_zeeman=args.orbital_zeeman)
    _print(to_json(bulk_row(b), BULK_JSON, BULK_COLUMNS), args.json)
    return 0


def _nc_shape(args):
    """ShapeSpec of the ``nc`` options (without --shape, the shape follows from the one size option)."""
    from perovskite_tb.errors import InputError
    from perovskite_tb.model.shapes import SIZE_FIELDS, ShapeSpec

    opt = {"n_cells": "--n-cells", "diameter_nm": "--diameter-nm", "semi_axes_nm": "--semi-axes-nm"}
    given = [k for k in opt if getattr(args, k) is not None]
    kind = args.shape
    if kind is None:
        if len(given) != 1:
            raise InputError("nc needs exactly one size: --n-cells NX NY NZ (cube, cuboid), "
                             "--diameter-nm D (sphere) or --semi-axes-nm A B C (spheroid)")
        if given[0] == "n_cells":
            return ShapeSpec.from_n_cells(args.n_cells)
        kind = next(k for k, f in SIZE_FIELDS.items() if f == given[0])
    key = SIZE_FIELDS[kind]
    if key not in given:
        raise InputError(f"--shape {kind} needs {opt[key]}")
    if len(given) > 1:
        raise InputError(f"--shape {kind} does not take {', '.join(opt[k] for k in given if k != key)}")
    val = getattr(args, key)
    return ShapeSpec(kind, **{key: tuple(val) if isinstance(val, list) else val})


def _cmd_nc(args) -> int:
    from perovskite_tb.nc import nc_gfactors

    if args.thermal_average and args.temperature_K is None:
        from perovskite_tb.errors import InputError

        raise InputError("--thermal-average needs --temperature-K T (K): the populations are Boltzmann factors at T")
    params = _params(args)
    exc = exciton_request(args, params.material, model="etb")
    levels = max(args.levels or 1, 8) if args.thermal_average else (args.levels or 1)
    if exc is not None:
        levels = max(levels, exc[1])
    r = nc_gfactors(params, _nc_shape(args), orbital_zeeman=args.orbital_zeeman,
                    dielectric=dielectric_option(args), method=args.solver, termination=_termination(args),
                    levels=levels)
    if exc is not None:
        from perovskite_tb.observables.excitons import exciton_context

        r.context.update(exciton_context(*exc))
    out = nc_json(r, params)
    if args.thermal_average:
        r.context["temperature_K"] = float(args.temperature_K)
        out.update({k: r.observable(k) for k in ("g_e_thermal", "g_h_thermal")})
    if args.levels is not None:
        out["levels"] = r.levels_json()
    if exc is not None:
        out.update(exciton_keys(r, *exc))
    _print(out, args.json)
    return 0


def _solver_option(p) -> None:
    p.add_argument("--solver", choices=("auto",) + tuple(BACKENDS), default="auto",
                   help="eigensolver back-end (auto: the fastest installed one that fits the memory estimate); "
                        "the one used is recorded as solver in the results")


def _cmd_curve(args) -> int:
    models = tuple(m.strip() for m in args.model.split(",") if m.strip())
    cfg = CurveConfig(
        material=args.material, parameter_set=args.parameter_set,
        temperatures_K=tuple(args.temperature_K), n_cells_list=tuple(args.n_cells or DEFAULT_N_CELLS),
        models=models, orbital_zeeman=args.orbital_zeeman, output=args.output,
        plot=None if args.plot.lower() == "none" else args.plot, temperature_rule=args.temperature_rule,
        energy_axis=args.energy_axis, solver=args.solver,
    )
    out = run_curve(cfg, progress=False if args.no_progress else None)
    print(f"wrote {out}" + (f" and {cfg.plot}" if cfg.plot else ""))
    return 0


def _cmd_params(args) -> int:
    for mat, sets in available_sets().items():
        try:
            d = default_set(mat)
        except PerovskiteTBError:
            d = None
        print(f"{mat}: " + ", ".join(s + (" (default)" if s == d else "") for s in sets))
    return 0


def main(argv=None) -> int:
    """Entry point; returns the exit code (0 ok, 2 bad input or failure)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _resolve_material(args)
        return int(args.func(args) or 0)
    except PerovskiteTBError as exc:
        msg = " ".join(str(exc).split())  # one line even when a message embeds an array
        print(f"perovskite-tb: error: {msg if len(msg) <= 600 else msg[:597] + '...'}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("perovskite-tb: interrupted (finished points are saved)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a reader that stopped (head, less): not an error
        sys.stderr.close()
        return 0

