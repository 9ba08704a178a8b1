"""Exception hierarchy of perovskite_tb.

Every error raised on bad input is a :class:`PerovskiteTBError`; the CLI turns it into a one-line
message and a non-zero exit code. Messages name the offending value and its unit.
"""

from __future__ import annotations

import math

__all__ = [
    "PerovskiteTBError",
    "ParameterError",
    "GeometryError",
    "SolverError",
    "DegeneracyError",
    "InputError",
    "positive_finite",
]


class PerovskiteTBError(Exception):
    """Base class of all errors raised by perovskite_tb and kp."""


class InputError(PerovskiteTBError, ValueError):
    """A user-supplied value (size, temperature, field, option) is invalid."""


class ParameterError(PerovskiteTBError, ValueError):
    """Unknown material or parameter set, or a malformed parameter file."""


class GeometryError(PerovskiteTBError, ValueError):
    """Invalid nanocrystal geometry (non-positive or non-integer size, ...)."""


class SolverError(PerovskiteTBError, RuntimeError):
    """The eigensolver failed, did not converge, or would not fit in memory."""


class DegeneracyError(SolverError):
    """A band-edge level is not an isolated Kramers doublet."""


def positive_finite(value, what: str, unit: str, error: type = InputError) -> float:
    """``value`` as a float that is finite and > 0, else one line naming the value and its unit.

    Parameters
    ----------
    value : object
        The user's value.
    what : str
        Its name in the message, e.g. ``"sphere diameter"``.
    unit : str
        Its unit, e.g. ``"nm"``.
    error : type, optional
        The :class:`PerovskiteTBError` subclass to raise (default :class:`InputError`).

    Returns
    -------
    float

    Raises
    ------
    error
        ``"<what> must be a number > 0 <unit>, got <value>"`` for a non-number,
        ``"<what> must be > 0 <unit>, got <value> <unit>"`` for a non-finite or non-positive number.
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise error(f"{what} must be a number > 0 {unit}, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise error(f"{what} must be > 0 {unit}, got {value} {unit}")
    return v
