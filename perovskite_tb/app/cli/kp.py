"""Sub-commands ``kp-bulk`` and ``kp-nc`` for the ``perovskite-tb`` command line.

:mod:`perovskite_tb.app.cli` calls :func:`add_subcommands` and turns
:class:`perovskite_tb.errors.PerovskiteTBError` into one-line messages. Each handler prints one JSON
object (``--json``; keys from :mod:`perovskite_tb.app.store.results`: ``KP_BULK_JSON``, ``KP_NC_JSON``) or a
short text summary, and returns 0.
"""

from __future__ import annotations

import json
import math
import time

from perovskite_tb.app.store.results import (BULK_COLUMNS, KP_BULK_JSON, KP_NC_JSON, bulk_row,
                                       row_from_result, to_json)
from perovskite_tb.app.cli.options import (add_dielectric_options, add_exciton_options, add_levels_option,
                                           dielectric_option, exciton_keys, exciton_request, material_name)
from perovskite_tb.app.engine.models import solve_kp
from perovskite_tb.errors import InputError
from kp.bulk import bulk_properties
from kp.confinement import nc_default_set
from kp.envelope import BASIS_KINDS
from kp.parameters import load_kp_parameters

__all__ = ["add_subcommands", "run_kp_bulk", "run_kp_nc", "kp_nc_row"]


def run_kp_bulk(args) -> int:
    """Handler of ``kp-bulk``: bulk 8-band Eg, Δ, Ep, masses and g factors.

    Parameters
    ----------
    args : argparse.Namespace
        ``material``, ``parameter_set``, ``json``.

    Returns
    -------
    int
        0.

    Raises
    ------
    ParameterError
        Unknown material or parameter set.
    """
    p = load_kp_parameters(args.material, args.parameter_set)
    row = bulk_row(bulk_properties(p), material=p.material, parameter_set=p.parameter_set)
    out = to_json(row, KP_BULK_JSON, BULK_COLUMNS)
    if args.json:
        print(json.dumps(out))
    else:
        print(" ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in out.items()))
    return 0


#: Smallest number of envelope functions per direction accepted from users (the default is ≥ 6).
MIN_N_BASIS = 4
#: Largest k·p box edge (nm) accepted: the default basis (N ≤ 14) is converged to ≈ 5e-3 in g at 30 nm
#: (kp/README.md) and would silently lose accuracy beyond.
MAX_EDGE_NM = 50.0


def kp_nc_row(material: str, edge_nm, *, parameter_set: str | None = None,
              temperature_K: float | None = None, n_basis: int | None = None,
              basis: str = "legendre", dielectric="default", levels: int = 1):
    """Result row (and the solved NC) of one confined k·p cuboid (:func:`perovskite_tb.app.engine.models.solve_kp`).

    Parameters
    ----------
    material : str
    edge_nm : sequence of 3 float
        (Lx, Ly, Lz) [nm], finite and > 0.
    parameter_set : str, optional
        k·p set (default :func:`kp.confinement.nc_default_set`).
    temperature_K : float, optional
        Eg shifted by the set's dEg_dT (:meth:`kp.parameters.KpParameters.at_temperature`) [K].
    n_basis : int, optional
        Envelope functions per direction (default: kp's size-dependent choice).
    basis : {"legendre", "sine"}
    dielectric : "default", (float, float) or None
        (ε_in, ε_out) of the Coulomb step (:func:`perovskite_tb.nc.dielectric_pair`); None skips it.
    levels : int, optional
        K: Kramers doublets per carrier in the spectrum (default 1).

    Returns
    -------
    (dict, SolvedNanocrystal)

    Raises
    ------
    InputError
        Non-positive or non-finite edge or temperature.
    ParameterError
        Unknown material or set, or no temperature model in the set.
    """
    t0 = time.perf_counter()
    edge = tuple(float(v) for v in edge_nm)
    if n_basis is not None and n_basis < MIN_N_BASIS:
        raise InputError(f"--n-basis {n_basis} is below the minimum of {MIN_N_BASIS} envelope functions per "
                         "direction (fewer leave g unconverged; convergence table in kp/README.md)")
    if max(edge) > MAX_EDGE_NM:
        raise InputError(f"edge {max(edge):.6g} nm is above {MAX_EDGE_NM:g} nm, where the default envelope basis "
                         "is no longer converged; use kp-bulk for the bulk limit")
    name = parameter_set if parameter_set is not None else nc_default_set(material)
    params = load_kp_parameters(material, name)
    if temperature_K is not None:
        params = params.at_temperature(temperature_K)
    r = solve_kp(params, edge, material, basis=basis, n_basis=n_basis, dielectric=dielectric, levels=levels)
    return row_from_result(
        r, model="kp", material=material, parameter_set=name, edges_nm=edge, edge_nm=edge[0],
        shape="cube" if len(set(edge)) == 1 else "cuboid", kp_basis=basis,
        temperature_K=math.nan if temperature_K is None else temperature_K,
        kp_resolution=n_basis or 0, seconds=time.perf_counter() - t0), r


def run_kp_nc(args) -> int:
    """Handler of ``kp-nc``: confined k·p band edges and g factors of a cuboid.

    Parameters
    ----------
    args : argparse.Namespace
        ``material``, ``parameter_set``, ``edge_nm`` (3 floats), ``temperature_K``, ``n_basis``,
        ``basis`` (``"legendre"`` or ``"sine"``), ``levels``, ``excitons``, ``screening``, ``ci_levels``,
        ``json``.

    Returns
    -------
    int
        0.

    Raises
    ------
    InputError
        Non-positive or non-finite edge / temperature; an exciton request ``nc --excitons`` would refuse
        (:func:`perovskite_tb.app.cli.options.exciton_request`).
    ParameterError
        Unknown material or set, or no temperature model in the set.
    """
    edge = tuple(args.edge_nm)
    if len(edge) != 3 or not all(math.isfinite(v) and v > 0 for v in edge):
        raise InputError(f"--edge-nm needs three finite lengths > 0 nm, got {edge}")
    exc = exciton_request(args, args.material, model="kp", shape="cube" if len(set(edge)) == 1 else "cuboid")
    levels = args.levels or 1
    if exc is not None:
        levels = max(levels, exc[1])  # the CI basis must be in the spectrum
    row, r = kp_nc_row(args.material, edge, parameter_set=args.parameter_set,
                       temperature_K=args.temperature_K, n_basis=args.n_basis, basis=args.basis,
                       dielectric=dielectric_option(args), levels=levels)
    out = to_json(row, KP_NC_JSON)
    if args.levels is not None:
        out["levels"] = r.levels_json()
    if exc is not None:
        out.update(exciton_keys(r, *exc))
    if args.json:
        print(json.dumps(out))
    else:
        print(f"E={out['transition_energy_eV']:.4f} eV g_e={out['g_e']:+.4f} "
              f"g_h={out['g_h']:+.4f} ({out['n_states']} states, {out['seconds']:.2f} s)")
    return 0


def add_subcommands(subparsers) -> None:
    """Register ``kp-bulk`` and ``kp-nc`` on an argparse sub-parser collection.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        Result of ``parser.add_subparsers()``.
    """
    pb = subparsers.add_parser("kp-bulk", help="bulk 8-band k·p g factors and masses at R")
    pb.add_argument("--material", type=material_name, required=True, help="compound: CsPbI3, CsPbBr3 or CsPbCl3")
    pb.add_argument("--parameter-set", default=None,
                    help="k·p set in parameters/CsPbX3.kp.toml (default: the material's default)")
    pb.add_argument("--json", action="store_true", help="print one JSON object")
    pb.set_defaults(func=run_kp_bulk)

    pn = subparsers.add_parser("kp-nc", help="confined 8-band k·p of a hard-wall cuboid NC")
    pn.add_argument("--material", type=material_name, required=True, help="compound: CsPbI3, CsPbBr3 or CsPbCl3")
    pn.add_argument("--parameter-set", default=None,
                    help="k·p set (default: the confined model's set, kp.confinement.nc_default_set)")
    pn.add_argument("--edge-nm", nargs=3, type=float, required=True, metavar=("LX", "LY", "LZ"),
                    help="cuboid edges (nm)")
    pn.add_argument("--temperature-K", type=float, default=None,
                    help="temperature (K): Eg shifted by the set's dEg/dT (default: no shift)")
    pn.add_argument("--n-basis", type=int, default=None,
                    help="envelope functions per direction (default: grows as sqrt(L/nm), kp/README.md)")
    pn.add_argument("--basis", choices=BASIS_KINDS, default="legendre",
                    help="envelope basis: integrated Legendre polynomials (default) or sines")
    add_dielectric_options(pn)
    add_levels_option(pn)
    add_exciton_options(pn)
    pn.add_argument("--json", action="store_true", help="print one JSON object")
    pn.set_defaults(func=run_kp_nc)
