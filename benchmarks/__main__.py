"""``python -m benchmarks``: see :mod:`benchmarks.suite`."""

from .suite import main

if __name__ == "__main__":
    raise SystemExit(main())
