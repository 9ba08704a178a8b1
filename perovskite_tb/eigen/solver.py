"""Public face of the eigen layer (kept for its callers): band-edge doublets, back-end registry,
LDLᴴ with inertia, symmetry blocks.

The code lives in :mod:`perovskite_tb.eigen.band_edges` (orchestration), :mod:`~perovskite_tb.eigen.backends`
(shift-invert, dense, PRIMME), :mod:`~perovskite_tb.eigen.registry` (names, ``"auto"``), :mod:`~perovskite_tb.eigen.doublets` (Θ, Kramers completion),
:mod:`~perovskite_tb.eigen.ldl` (orderings, ``factor_ldl``) and :mod:`~perovskite_tb.eigen.symmetry`.
"""

from __future__ import annotations

from perovskite_tb.eigen.backends import Backend, SolveOptions, estimate_memory_gb
from perovskite_tb.eigen.registry import BACKENDS, METHODS, available_backends, choose_backend, register_backend
from perovskite_tb.eigen.band_edges import BandEdges, band_edges, blocks_for, solve_terms
from perovskite_tb.eigen.doublets import Doublet, time_reverse
from perovskite_tb.eigen.ldl import factor_ldl, group_ordering, nd_ordering
from perovskite_tb.eigen.symmetry import ParityBlock, blocks_from_actions, inversion_blocks, symmetry_blocks

__all__ = [
    "Doublet",
    "BandEdges",
    "ParityBlock",
    "symmetry_blocks",
    "blocks_from_actions",
    "inversion_blocks",
    "blocks_for",
    "band_edges",
    "solve_terms",
    "time_reverse",
    "nd_ordering",
    "group_ordering",
    "factor_ldl",
    "estimate_memory_gb",
    "Backend",
    "BACKENDS",
    "SolveOptions",
    "register_backend",
    "available_backends",
    "available_methods",
    "choose_backend",
    "METHODS",
]


def available_methods() -> tuple[str, ...]:
    """Back-ends usable in this environment (alias of :func:`available_backends`)."""
    return available_backends()
