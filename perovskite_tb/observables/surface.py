r"""Surface weight of the band-edge carriers: the share of |ψ|² on the outermost Pb layer and its halides.

Definition (any shape of :mod:`perovskite_tb.model.shapes`)
    *Outer Pb* — a Pb site with fewer than 6 Pb neighbours at the Pb–Pb distance *a* (the cubic lattice
    constant of the set; in the bulk every Pb has 6). The count uses the atom positions only (within
    1 % of *a*), so it is defined for cubes, cuboids, spheres and every other cut of the lattice, and
    it does not depend on the termination (``pbx6``, ``passivated`` and ``csx`` add potentials, not atoms).
    *Surface halides* — every X bonded (nearest-neighbour shell, distance a/2) to an outer Pb; this
    includes the outward halides of the outer Pb layer and the halides between the outer Pb layer and
    the next one in.
    The surface weight of a carrier is the doublet-averaged weight (sum of :math:`|c|^2` over all
    orbitals and both spins, the ETB basis being orthogonal: Nestoklon et al., Comput. Mater. Sci. 196,
    110535 (2021)) on these sites; the interior weight is the same sum over all other sites.

Scale
    A confined (envelope) state and a surface-bound state differ in how their share falls with the edge
    L = N a. For a hard-wall envelope of a cube of N Pb layers per edge, discretised on the layers as in a
    nearest-neighbour chain, :math:`\psi_j \propto \sin(\pi j/(N+1))`, one outer layer holds
    :math:`w_1 = \tfrac{2}{N+1}\sin^2\tfrac{\pi}{N+1}` and the outer shell of the cube
    :math:`1-(1-2w_1)^3` (:func:`hard_wall_share`) — ≈ 0.62, 0.15, 0.034 for N = 4, 8, 14, i.e. ∝ L⁻³
    asymptotically (local exponent ≈ 2–3 in that range); a density that does not vanish at the surface
    (the uniform limit) gives ≈ 6a/L (∝ L⁻¹), and a surface-bound state an L-independent share (exponent 0).
    The sine envelope of the infinite well is textbook (Bastard, *Wave Mechanics Applied to Semiconductor
    Heterostructures* (Les Éditions de Physique, 1988), ch. 1). :func:`fit_exponent` fits
    :math:`w \propto L^{-p}` to a series of sizes.
"""

from __future__ import annotations

import math

import numpy as np

from perovskite_tb.errors import InputError
from perovskite_tb.model.structure import PB, X
from perovskite_tb.observables import Observable, register

__all__ = ["outer_pb", "surface_sites", "site_weights", "surface_weights", "surface_result", "fit_exponent",
           "hard_wall_share"]

_NAN = float("nan")


def outer_pb(structure) -> np.ndarray:
    """Pb sites with fewer than 6 Pb neighbours at distance ``structure.a``.

    Parameters
    ----------
    structure : perovskite_tb.model.structure.Structure
        ``positions`` (nm, float64 (n_sites, 3)), ``species`` (int (n_sites,), 0 = Pb, 1 = X), ``a`` (nm).

    Returns
    -------
    ndarray of bool, shape (n_sites,)
        True on outer Pb sites (False on all X).
    """
    from scipy.spatial import cKDTree

    pos = np.asarray(structure.positions, dtype=float)
    species = np.asarray(structure.species)
    pb = np.nonzero(species == PB)[0]
    tree = cKDTree(pos[pb])
    a = float(structure.a)
    n_within = np.array([len(x) for x in tree.query_ball_point(pos[pb], 1.01 * a)]) - 1  # minus itself
    n_closer = np.array([len(x) for x in tree.query_ball_point(pos[pb], 0.99 * a)]) - 1
    out = np.zeros(species.shape[0], dtype=bool)
    out[pb] = (n_within - n_closer) < 6
    return out


def surface_sites(structure) -> np.ndarray:
    """Outer Pb sites (:func:`outer_pb`) and the halides bonded to them (nearest-neighbour shell).

    Parameters
    ----------
    structure : perovskite_tb.model.structure.Structure

    Returns
    -------
    ndarray of bool, shape (n_sites,)

    Raises
    ------
    InputError
        A structure without a nearest-neighbour (shell 1) bond list.
    """
    outer = outer_pb(structure)
    b = structure.bonds
    nn = np.asarray(b.shell) == 1
    if not np.any(nn):
        raise InputError("the structure has no nearest-neighbour Pb–X bonds")
    i, j = np.asarray(b.i)[nn], np.asarray(b.j)[nn]
    species = np.asarray(structure.species)
    surf = outer.copy()
    for p, q in ((i, j), (j, i)):  # either end may be the Pb
        hit = outer[p] & (species[q] == X)
        surf[q[hit]] = True
    return surf


def site_weights(vectors: np.ndarray, n_sites: int) -> np.ndarray:
    """Multiplet-averaged weight per site, summed over its orbitals and spins.

    Parameters
    ----------
    vectors : ndarray of complex128, shape (n_states, d)
        Orthonormal basis of a multiplet (``Multiplet.vectors``; a Kramers doublet has d = 2); site-major
        order (:mod:`perovskite_tb.model.basis`).
    n_sites : int

    Returns
    -------
    ndarray of float64, shape (n_sites,)
        Sums to 1 for orthonormal input.

    Raises
    ------
    InputError
        ``n_states`` not a multiple of ``n_sites``.
    """
    V = np.asarray(vectors)
    V = V[:, None] if V.ndim == 1 else V
    if n_sites <= 0 or V.shape[0] % n_sites:
        raise InputError(f"a multiplet of {V.shape[0]} states does not fit {n_sites} sites")
    w = (np.abs(V) ** 2).sum(axis=1) / V.shape[1]
    return w.reshape(n_sites, -1).sum(axis=1)


def surface_weights(structure, vectors: np.ndarray) -> tuple[float, float]:
    """(surface, interior) weight of a multiplet; each in [0, 1], their sum 1 for a normalised multiplet.

    Parameters
    ----------
    structure : perovskite_tb.model.structure.Structure
    vectors : ndarray of complex128, shape (n_states, d)

    Returns
    -------
    (float, float)
        Weight on :func:`surface_sites` and on all other sites (dimensionless).
    """
    w = site_weights(vectors, int(np.asarray(structure.species).shape[0]))
    surf = surface_sites(structure)
    return float(w[surf].sum()), float(w[~surf].sum())


def surface_result(solved) -> dict | None:
    """``{"e": (surface, interior), "h": (...)}`` of the band-edge doublets of an ETB ``solved`` (cached),
    None for models without atoms (k·p) or objects without a solve."""
    if not hasattr(solved, "cached"):
        return getattr(solved, "surface", None)
    if getattr(solved, "model", None) != "etb":
        return None
    st = solved.structure
    if not all(hasattr(st, k) for k in ("positions", "species", "bonds", "a")):
        return None

    def compute(s):
        return {c: surface_weights(st, s.spectrum.carrier(c)[0].vectors) for c in ("e", "h")}

    return solved.cached("surface_weight", compute)


def _weight(carrier: str):
    def compute(solved) -> float:
        r = surface_result(solved)
        return _NAN if r is None else float(r[carrier][0])

    compute.__doc__ = (f"Surface weight (1) of the band-edge {'electron' if carrier == 'e' else 'hole'} doublet: "
                       "share of |ψ|² on the outer Pb layer and its halides (module docstring); NaN for k·p.")
    return compute


def fit_exponent(L, weight) -> float:
    """Exponent p of a least-squares fit ``weight ∝ L**(-p)`` in log–log (1 for a 1/L fall, 0 for a surface state).

    Parameters
    ----------
    L : sequence of float
        Sizes (any unit; > 0).
    weight : sequence of float
        Surface weights (> 0).

    Raises
    ------
    InputError
        Fewer than two points, or a non-positive value.
    """
    L, w = np.asarray(L, float), np.asarray(weight, float)
    if L.size < 2 or L.shape != w.shape or np.any(L <= 0) or np.any(w <= 0):
        raise InputError("need ≥ 2 positive (L, weight) pairs of equal length")
    slope = np.polyfit(np.log(L), np.log(w), 1)[0]
    return float(-slope) if math.isfinite(slope) else _NAN


def hard_wall_share(n: int) -> float:
    """Outer-shell share :math:`1-(1-2w_1)^3`, :math:`w_1 = \\tfrac{2}{n+1}\\sin^2\\tfrac{\\pi}{n+1}`, of the
    hard-wall ground state of a cube of ``n`` layers per edge (module docstring, Scale); dimensionless.

    Raises
    ------
    InputError
        ``n`` < 1.
    """
    if int(n) < 1:
        raise InputError(f"need n >= 1 layers, got {n}")
    w1 = 2.0 / (n + 1) * math.sin(math.pi / (n + 1)) ** 2
    return 1.0 - (1.0 - 2.0 * w1) ** 3 if n > 1 else 1.0


register(Observable("surface_weight_e", "1",
                    "band-edge electron share of |psi|^2 on the outer Pb layer and its halides", _weight("e")))
register(Observable("surface_weight_h", "1",
                    "band-edge hole share of |psi|^2 on the outer Pb layer and its halides", _weight("h")))
