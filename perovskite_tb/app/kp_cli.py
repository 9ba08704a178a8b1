"""Sub-commands ``kp-bulk`` and ``kp-nc`` for the ``perovskite-tb`` command line.

The lead's :mod:`perovskite_tb.app.cli` calls :func:`add_subcommands` and turns
:class:`perovskite_tb.errors.PerovskiteTBError` into one-line messages. Each sub-parser stores its
handler in ``func``; a handler takes the parsed namespace, prints one JSON object (``--json``) or a
short text summary, and returns 0.
"""

from __future__ import annotations

import json
import math

from perovskite_tb.errors import InputError

from kp.bulk import bulk_properties
from kp.confinement import nc_gfactors
from kp.envelope import BASIS_KINDS
from kp.parameters import load_kp_parameters

__all__ = ["add_subcommands", "run_kp_bulk", "run_kp_nc"]


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
    r = bulk_properties(p)
    out = {
        "material": p.material,
        "parameter_set": p.parameter_set,
        "Eg_eV": r.Eg,
        "Delta_so_eV": r.Delta_so,
        "Ep_eV": r.Ep,
        "m_e": r.m_e,
        "m_h": r.m_h,
        "g_e": r.g_e,
        "g_h": r.g_h,
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(" ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in out.items()))
    return 0


def run_kp_nc(args) -> int:
    """Handler of ``kp-nc``: confined k·p band edges and g factors of a cuboid.

    Parameters
    ----------
    args : argparse.Namespace
        ``material``, ``parameter_set``, ``edge_nm`` (3 floats), ``temperature_K``, ``n_basis``,
        ``basis`` (``"legendre"`` or ``"sine"``), ``json``.

    Returns
    -------
    int
        0.

    Raises
    ------
    InputError
        Non-positive or non-finite edge / temperature.
    ParameterError
        Unknown material or set, or no temperature model in the set.
    """
    edge = tuple(args.edge_nm)
    if len(edge) != 3 or not all(math.isfinite(v) and v > 0 for v in edge):
        raise InputError(f"--edge-nm needs three finite lengths > 0 nm, got {edge}")
    out = nc_gfactors(args.material, edge, parameter_set=args.parameter_set,
                      n_basis=args.n_basis, temperature_K=args.temperature_K, basis=args.basis)
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
    pb.add_argument("--material", required=True)
    pb.add_argument("--parameter-set", default=None)
    pb.add_argument("--json", action="store_true")
    pb.set_defaults(func=run_kp_bulk)

    pn = subparsers.add_parser("kp-nc", help="confined 8-band k·p of a hard-wall cuboid NC")
    pn.add_argument("--material", required=True)
    pn.add_argument("--parameter-set", default=None)
    pn.add_argument("--edge-nm", nargs=3, type=float, required=True, metavar=("LX", "LY", "LZ"))
    pn.add_argument("--temperature-K", type=float, default=None)
    pn.add_argument("--n-basis", type=int, default=None,
                    help="envelope functions per direction (default: grows as sqrt(L), kp/README.md)")
    pn.add_argument("--basis", choices=BASIS_KINDS, default="legendre",
                    help="envelope basis: integrated Legendre polynomials (default) or sines")
    pn.add_argument("--json", action="store_true")
    pn.set_defaults(func=run_kp_nc)
