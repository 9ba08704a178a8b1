"""Command-line options shared by several sub-commands (argparse only; used by cli.py and kp_cli.py)."""

from __future__ import annotations

import argparse
import math

__all__ = ["add_dielectric_options", "dielectric_option", "finite_float", "positive_float"]


def finite_float(unit: str, *, positive: bool = False):
    """argparse type: a finite number (``positive``: > 0) in ``unit``, refused in one line otherwise."""
    def conv(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid number {s!r} ({unit})") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"value must be finite, got {s} {unit}".rstrip())
        if positive and not v > 0:
            raise argparse.ArgumentTypeError(f"value must be a finite number > 0, got {s} {unit}".rstrip())
        return v

    return conv


def positive_float(unit: str):
    """argparse type: a finite number > 0 in ``unit``."""
    return finite_float(unit, positive=True)


def add_dielectric_options(p: argparse.ArgumentParser) -> None:
    """``--epsilon-in``, ``--epsilon-out``, ``--no-coulomb`` (the e–h Coulomb step of the optical energy)."""
    p.add_argument("--epsilon-in", type=positive_float(""), default=None, metavar="EPS",
                   help="relative permittivity inside the NC (default: the material's cited high-frequency "
                        "ε, parameters/dielectric.toml)")
    p.add_argument("--epsilon-out", type=positive_float(""), default=None, metavar="EPS",
                   help="relative permittivity of the matrix (default: fluorophosphate-glass proxy n² = 2.20)")
    p.add_argument("--no-coulomb", action="store_true",
                   help="skip the e–h Coulomb step (no coulomb_eV / optical_transition_energy_eV)")


def dielectric_option(args) -> object:
    """``"default"``, an (ε_in, ε_out) pair or None from the options of :func:`add_dielectric_options`.

    A single given ε takes the other from the material's defaults.
    """
    if args.no_coulomb:
        return None
    if args.epsilon_in is None and args.epsilon_out is None:
        return "default"
    from perovskite_tb.observables.dielectric import dielectric_constants  # the material is known only now

    d = dielectric_constants(args.material)
    return (d.eps_in.value if args.epsilon_in is None else args.epsilon_in,
            d.eps_out.value if args.epsilon_out is None else args.epsilon_out)
