"""Benchmark suite of perovskite-tb (run ``python -m benchmarks --help``).

Every measured point runs in a fresh subprocess, so its peak resident memory (``ru_maxrss``) is the
point's own. Results are JSON records with n_states, nnz, seconds per stage (wall and CPU), peak
RSS, operator applications (matvecs / LU solves), solver, versions and the machine load, written
by :func:`benchmarks.suite.main`. Deterministic counts (nnz, LU fill, solves, matvecs at a fixed
seed) are the robust numbers; seconds on a shared 2-core machine are noisy (the load average is
recorded with every record).
"""
