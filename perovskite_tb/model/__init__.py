"""Model layer: parameter sets, temperature rules, structures, the ETB assembler and numba kernels.

Imports only numpy, scipy, numba and the package leaves (:mod:`perovskite_tb.constants`,
:mod:`perovskite_tb.errors`, :mod:`perovskite_tb.gfactor`); never :mod:`perovskite_tb.eigen`,
:mod:`perovskite_tb.app` or :mod:`kp` (checked by import-linter, ``pyproject.toml``).
"""
