"""Machine facts used by every layer: free memory, peak resident memory, BLAS thread limits.

Leaf module (imports only psutil, threadpoolctl and the standard library).
"""

from __future__ import annotations

import os
import resource
from contextlib import contextmanager, nullcontext

import psutil
from threadpoolctl import threadpool_limits

__all__ = ["available_gb", "memory_budget_gb", "MEMORY_FRACTION", "peak_rss_gb", "blas_threads", "usable_cores",
           "thread_budget"]


def available_gb() -> float:
    """Memory the OS can give this process now (GB = 10⁹ bytes), from ``psutil.virtual_memory``."""
    return psutil.virtual_memory().available / 1e9


#: Share of the available memory a run may plan to use when no budget is given.
MEMORY_FRACTION = 0.8


def memory_budget_gb(max_memory_gb: float | None = None) -> float:
    """The memory budget (GB): ``max_memory_gb`` if given, else :data:`MEMORY_FRACTION` of :func:`available_gb`."""
    return MEMORY_FRACTION * available_gb() if max_memory_gb is None else float(max_memory_gb)


def peak_rss_gb() -> float:
    """Peak resident set size of this process so far (GB = 10⁹ bytes); Linux ``ru_maxrss`` is in KiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def blas_threads(n: int | None):
    """Context manager limiting BLAS/OpenMP threads to ``n`` (threadpoolctl); ``None`` changes nothing.

    Tall-skinny complex products (n × 8 by n × 40) run 10× slower with OpenBLAS on 2 threads than
    on 1 on this project's machines, so solvers pin BLAS to one thread around them.
    """
    return nullcontext() if n is None else threadpool_limits(limits=int(n))


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask on Linux, else ``os.cpu_count``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def thread_budget() -> int:
    """Threads a computation in this process may use: :func:`usable_cores`, capped by ``OMP_NUM_THREADS``
    when it is set to a positive integer (as the sweep's worker processes do)."""
    n = usable_cores()
    try:
        omp = int(os.environ.get("OMP_NUM_THREADS", "0"))
    except ValueError:
        omp = 0
    return min(n, omp) if omp > 0 else n
