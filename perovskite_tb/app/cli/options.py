"""Command-line options shared by several sub-commands (used by cli/__init__.py and cli/kp.py): argparse types
and option groups, and the exciton request/keys that ``nc`` and ``kp-nc`` share."""

from __future__ import annotations

import argparse
import math

__all__ = ["add_dielectric_options", "dielectric_option", "finite_float", "material_name", "positive_float",
           "relative_permittivity", "add_exciton_options", "exciton_request", "exciton_keys"]


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


def relative_permittivity(s: str) -> float:
    """argparse type: a relative permittivity, finite and ≥ 1 (vacuum; below 1 is unphysical for a static ε)."""
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid relative permittivity {s!r} (dimensionless number >= 1)") from None
    if not (math.isfinite(v) and v >= 1):
        raise argparse.ArgumentTypeError(f"relative permittivity must be >= 1 (dimensionless), got {s}")
    return v


def material_name(s: str) -> str:
    """argparse type: a non-empty compound name (unknown names are refused where the set is loaded)."""
    if not s.strip():
        from perovskite_tb.model.materials import available_sets

        raise argparse.ArgumentTypeError(f"empty material name {s!r} (known: {', '.join(sorted(available_sets()))})")
    return s


def add_dielectric_options(p: argparse.ArgumentParser) -> None:
    """``--epsilon-in``, ``--epsilon-out``, ``--no-coulomb`` (the e–h Coulomb step of the optical energy)."""
    p.add_argument("--epsilon-in", type=relative_permittivity, default=None, metavar="EPS",
                   help="relative permittivity inside the NC (>= 1; default: the material's cited high-frequency "
                        "ε, parameters/dielectric.toml)")
    p.add_argument("--epsilon-out", type=relative_permittivity, default=None, metavar="EPS",
                   help="relative permittivity of the matrix (>= 1; default: fluorophosphate-glass proxy n² = 2.20)")
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


def levels_count(s: str) -> int:
    """argparse type of ``--levels``: a whole number of Kramers doublets, 1 … 64."""
    from perovskite_tb.eigen.band_edges import MAX_LEVELS

    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"levels must be a whole number of Kramers doublets, got {s!r}") from None
    if not 1 <= v <= MAX_LEVELS:
        raise argparse.ArgumentTypeError(f"levels must be 1..{MAX_LEVELS} Kramers doublets, got {v}")
    return v


def add_levels_option(p: argparse.ArgumentParser) -> None:
    """``--levels K``: the level spectrum, added to the JSON as ``levels``."""
    p.add_argument("--levels", type=levels_count, default=None, metavar="K",
                   help="also give the K lowest electron and highest hole Kramers doublets (multiplets, "
                        "inertia-proved complete) with their Zeeman values (μB) as the JSON key 'levels'")


def exciton_doublets(s: str) -> int:
    """argparse type of ``--ci-levels``: Kramers doublets per carrier of the CI basis, 1 … MAX_DOUBLETS."""
    from perovskite_tb.observables.excitons import MAX_DOUBLETS

    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"CI levels must be a whole number of Kramers doublets, got {s!r}") from None
    if not 1 <= v <= MAX_DOUBLETS:
        raise argparse.ArgumentTypeError(f"CI levels must be 1..{MAX_DOUBLETS} Kramers doublets per carrier, got {v}")
    return v


def add_exciton_options(p: argparse.ArgumentParser) -> None:
    """``--excitons``, ``--screening``, ``--ci-levels N`` (:mod:`perovskite_tb.observables.excitons`)."""
    from perovskite_tb.observables.excitons import DEFAULT_DOUBLETS
    from perovskite_tb.observables.screening import SCREENING_MODELS

    p.add_argument("--excitons", action="store_true",
                   help="add the band-edge exciton (Δ_BD, bright splittings and axes, radiative lifetimes, g_X_bright) "
                        "from configuration interaction with e–h exchange (docs/excitons.md); solves levels >= N")
    p.add_argument("--screening", choices=SCREENING_MODELS, default=None,
                   help="with --excitons: screening of the direct e–h terms: epsilon-inf (default, today's Coulomb "
                        "step), epsilon-0 (static ε_s), polaron (Haken); refused where the material's constants "
                        "are MISSING")
    p.add_argument("--ci-levels", type=exciton_doublets, default=None, metavar="N",
                   help=f"with --excitons: CI basis of N Kramers doublets per carrier (default {DEFAULT_DOUBLETS}: "
                        "the S and P shells; N = 2, 3 are partial shells) and also the X-, X+, XX binding energies")


def exciton_request(args, material: str, *, model: str = "etb", shape: str | None = None):
    """(screening, N, complexes) of ``--excitons`` (``nc`` and ``kp-nc``), or None without it.

    Refused in one line before the solve (:func:`perovskite_tb.observables.excitons.check_exciton_request`):
    ``--screening`` / ``--ci-levels`` without ``--excitons``, ``--excitons --no-coulomb``, a shape the
    model cannot do (k·p: boxes only), a screening constant MISSING for ``material``.

    Raises
    ------
    InputError
    """
    from perovskite_tb.errors import InputError
    from perovskite_tb.observables.excitons import DEFAULT_DOUBLETS, check_exciton_request

    if not args.excitons:
        for opt, v in (("--screening", args.screening), ("--ci-levels", args.ci_levels)):
            if v is not None:
                raise InputError(f"{opt} {v} needs --excitons")
        return None
    if args.no_coulomb:
        raise InputError("--excitons needs the dielectric constants of the Coulomb step; drop --no-coulomb")
    scr, n = check_exciton_request(material, args.screening or "epsilon-inf", args.ci_levels or DEFAULT_DOUBLETS,
                                   model=model, shape=shape)
    return scr, n, args.ci_levels is not None


def exciton_keys(r, screening: str, n: int, complexes: bool) -> dict:
    """JSON keys of ``--excitons`` (:func:`~perovskite_tb.observables.excitons.exciton_json`, with
    ``--ci-levels`` also :func:`~perovskite_tb.observables.excitons.trion_biexciton`), for any model."""
    from perovskite_tb.observables.excitons import exciton_json, trion_biexciton

    out = exciton_json(r, n_doublets=n, screening=screening)
    if complexes:
        t = trion_biexciton(r, n_doublets=n, screening=screening)
        out.update({k: t[k] for k in ("trion_negative_binding_meV", "trion_positive_binding_meV",
                                      "biexciton_binding_meV")})
    out.update({"screening": screening, "ci_levels": n})
    return out
