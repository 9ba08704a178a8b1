"""Exception hierarchy of perovskite_tb.

Every error raised on bad input is a :class:`PerovskiteTBError`; the CLI turns it into a one-line
message and a non-zero exit code. Messages name the offending value and its unit.
"""

from __future__ import annotations

__all__ = [
    "PerovskiteTBError",
    "ParameterError",
    "GeometryError",
    "SolverError",
    "DegeneracyError",
    "InputError",
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
