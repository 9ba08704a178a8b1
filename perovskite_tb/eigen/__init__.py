"""Eigen layer: symmetry blocks, LDLᴴ with inertia, a registry of band-edge solver back-ends, and the
band-edge Kramers doublets of any model's Terms (ETB and k·p alike).

Modules: :mod:`~perovskite_tb.eigen.symmetry` (blocks), :mod:`~perovskite_tb.eigen.ldl` (orderings,
``factor_ldl`` and its back-ends), :mod:`~perovskite_tb.eigen.backends` (shift-invert, dense, PRIMME),
:mod:`~perovskite_tb.eigen.registry` (names, ``"auto"``), :mod:`~perovskite_tb.eigen.doublets` (Θ,
Kramers completion, checks), :mod:`~perovskite_tb.eigen.band_edges` (``band_edges``, ``solve_terms``),
:mod:`~perovskite_tb.eigen.levels` (levels near an energy), :mod:`~perovskite_tb.eigen.solver` (public
face). Imports the model layer only; never :mod:`perovskite_tb.app` or :mod:`kp`.
"""
