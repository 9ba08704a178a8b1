"""The registry of band-edge back-ends (:mod:`perovskite_tb.eigen.backends`): names, availability, and
the ``"auto"`` choice by size and memory.
"""

from __future__ import annotations

from perovskite_tb.eigen.backends import Backend, Dense, Primme, ShiftInvert
from perovskite_tb.eigen.ldl import available_ldl_backends
from perovskite_tb.errors import InputError, SolverError

__all__ = ["BACKENDS", "METHODS", "register_backend", "available_backends", "choose_backend", "check_solver"]

#: name → back-end, in registration order.
BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> Backend:
    """Add ``backend`` to :data:`BACKENDS` under ``backend.name`` and return it.

    Raises
    ------
    ValueError
        Empty or already registered name.
    """
    if not backend.name or backend.name in BACKENDS or backend.name == "auto":
        raise ValueError(f"solver back-end name {backend.name!r} is empty, reserved or registered already")
    BACKENDS[backend.name] = backend
    return backend


for _backend in (ShiftInvert(), Primme(), Dense()):
    register_backend(_backend)

#: Solver names accepted at import time (``"auto"`` picks one); :func:`available_backends` is live.
METHODS = ("auto",) + tuple(BACKENDS)


def available_backends() -> tuple[str, ...]:
    """Registered back-ends usable in this environment (``primme`` only with the optional extra)."""
    return tuple(name for name, b in BACKENDS.items() if b.available())


#: Largest block dimension that ``"auto"`` still solves by shift-invert when PRIMME is installed but the
#: mkl wheel (PARDISO) is not (16 cells: 43 k; at 20 cells, 83 k-state blocks, PRIMME took 244 s against
#: 441 s for SuperLU shift-invert; benchmarks/README.md). With PARDISO on real symmetric blocks the
#: shift-invert solve of the 16 nm cube takes ≈ 80 CPU s against PRIMME's 229 s, so it is chosen at
#: every size.
_SI_MAX_BLOCK = 50_000


def _auto(n, nnz, n_blocks, max_memory_gb, generalized, dense_max_states) -> str:
    """Dense up to ``dense_max_states``; shift-invert while its estimate fits and either PARDISO is
    installed, or the largest block is ≤ 50 k states, or PRIMME is absent; else PRIMME (standard problems)."""
    if n <= dense_max_states and BACKENDS["dense"].memory_gb(n, nnz, n_blocks) <= max_memory_gb:
        return "dense"
    have_primme = BACKENDS["primme"].available() and not generalized
    est_si = BACKENDS["shift-invert"].memory_gb(n, nnz, n_blocks)
    fast_ldl = "pardiso" in available_ldl_backends()
    if est_si <= max_memory_gb and (fast_ldl or n / n_blocks <= _SI_MAX_BLOCK or not have_primme):
        return "shift-invert"
    return "primme" if have_primme else "shift-invert"


def check_solver(name: str) -> str:
    """``name`` if it is ``"auto"`` or a registered back-end, else a one-line InputError listing them."""
    if name != "auto" and name not in BACKENDS:
        raise InputError(f"unknown solver method {name!r} (choose from {', '.join(('auto',) + tuple(BACKENDS))})")
    return name


def choose_backend(method: str, n: int, nnz: int, n_blocks: float, max_memory_gb: float, *,
                   generalized: bool = False, dense_max_states: int = 0) -> tuple[Backend, float]:
    """Resolve ``method`` (``"auto"`` or a registered name) and check its memory estimate.

    Parameters
    ----------
    method : str
    n, nnz : int
        Dimension and non-zeros of H0.
    n_blocks : float
        n / largest block dimension.
    max_memory_gb : float
        Budget (GB).
    generalized : bool, optional
        The problem has an overlap S.
    dense_max_states : int, optional
        ``"auto"`` picks dense up to this dimension.

    Returns
    -------
    (Backend, float)
        The back-end and its memory estimate (GB).

    Raises
    ------
    InputError
        Unknown name, or a back-end that cannot solve a generalised problem.
    SolverError
        Back-end not installed, or the estimate exceeds ``max_memory_gb``.
    """
    if check_solver(method) == "auto":
        method = _auto(n, nnz, n_blocks, max_memory_gb, generalized, dense_max_states)
    b = BACKENDS[method]
    if not b.available():
        raise SolverError(f"method {method!r} needs the optional extra: pip install 'perovskite-tb[fast]'")
    if generalized and not b.generalized:
        raise InputError(f"solver {method!r} cannot solve H c = E S c (non-orthogonal basis); use shift-invert or dense")
    est = b.memory_gb(n, nnz, n_blocks)
    if est > max_memory_gb:
        hint = ("install the optional iterative solver (pip install 'perovskite-tb[fast]', method='primme') "
                "or use a smaller NC" if method == "shift-invert" else "use a smaller NC")
        raise SolverError(f"{method} solve of {n:.4g} states ({nnz:.3g} non-zeros) needs an estimated {est:.3g} GB, more "
                          f"than the {max_memory_gb:.1f} GB allowed (80 % of available RAM by default); {hint}")
    return b, est
