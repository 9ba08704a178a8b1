r"""Band-edge Kramers doublets of a nanocrystal at B = 0, for any model (ETB, k·p).

Steps (each a function below; measurements behind the choices: ``benchmarks/README.md``):

1. **Symmetry blocks** (:func:`blocks_for`). Inversion P and, for a square cross-section, the rotation
   C4z act on the basis as monomial matrices commuting with :math:`H_0` (and S, and time reversal Θ);
   the isometries of :mod:`perovskite_tb.eigen.symmetry` split :math:`H_0` into blocks (four of n/8
   for a cube; the C4z blocks stand for their Kramers partners, weight 2). Every block is checked to
   be invariant under :math:`H_0` and S. The band edges are the extreme levels over all blocks.
2. **Back-end** (:mod:`perovskite_tb.eigen.backends`, :mod:`perovskite_tb.eigen.registry`): shift-invert with an LDLᴴ per shift, dense
   LAPACK, or PRIMME, chosen by name or by ``"auto"``. Shifts: next to the expected edges (σ_h, σ_e)
   (``edge_shifts``; several times faster than from mid-gap) or σ itself.
3. **Inertia proof.** With back-ends that count (shift-invert, dense), the states below both shifts
   summed over the blocks (× weight) must equal ``n_fill``: then the levels found next to the
   shifts are HOMO and LUMO. If the edge shifts fail it, the solve is repeated once at σ; if σ fails,
   :class:`~perovskite_tb.errors.DegeneracyError` (in-gap states or σ outside the gap).
4. **Doublets** (:mod:`perovskite_tb.eigen.doublets`). The extreme level ψ is completed by its time-reversed partner
   :math:`\Theta\psi` (exact at B = 0; spin-minor :math:`(1\otimes -i\sigma_y)\psi^*` by default, any
   monomial Θ via :attr:`perovskite_tb.model.terms.Symmetry.theta`), orthonormalised (in the S inner
   product for a non-orthogonal basis) and diagonalised in that plane; residuals
   :math:`\|H_0v - ESv\|`, the Kramers splitting and the isolation from the next level are checked;
   the states at the edge level, counted over all blocks, must be exactly the two of one doublet
   (a ≥ 4-fold edge, e.g. a Γ8 quartet, has no doublet g tensor and is refused).
   At finite field (``kramers=False``) the two extreme levels on each side form the pair instead.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from perovskite_tb._system import memory_budget_gb, thread_budget
from perovskite_tb.eigen.backends import SolveOptions, base_memory_gb, start_vector
from perovskite_tb.eigen.doublets import Doublet, check_doublet, make_doublet, ritz, warm_vector
from perovskite_tb.eigen.ldl import available_ldl_backends
from perovskite_tb.eigen.real_blocks import real_blocks, realify
from perovskite_tb.eigen.spectrum import Spectrum, group_levels, multiplet_from_doublet
from perovskite_tb.eigen.registry import choose_backend
from perovskite_tb.eigen.symmetry import ParityBlock, blocks_from_actions, symmetry_blocks
from perovskite_tb.errors import DegeneracyError, InputError, SolverError
from perovskite_tb.model.terms import Symmetry, Terms

__all__ = ["BandEdges", "Doublet", "Spectrum", "band_edges", "solve_terms", "blocks_for", "SYMMETRY_MODES",
           "MAX_LEVELS"]

#: Largest K (Kramers doublets per side) a solve accepts.
MAX_LEVELS = 64

#: symmetry mode → point operations used ("auto": detected from the sites (ETB), C4z and P (k·p actions)).
SYMMETRY_MODES = {"auto": ("C4z", "P"), "inversion": ("P",), "none": ()}


@dataclass(frozen=True)
class BandEdges:
    """Result of :func:`band_edges`.

    Attributes
    ----------
    electron, hole : Doublet
        Lowest electron (LUMO) and highest hole (HOMO) doublets.
    electron_levels, hole_levels : ndarray of float64
        All levels found on each side (eV), electrons ascending, holes descending.
    sigma : float
        Shift (eV).
    n_below : int or None
        States below the shifts from the inertia (None if not computed).
    stats : dict
        ``method`` and ``solver`` (the back-end), timings (s), fill (nnz of L+U), operator
        applications (``solves`` for shift-invert, ``matvecs`` for iterative methods), per-block
        details under ``"blocks"``.
    spectrum : Spectrum or None
        The K lowest electron and highest hole levels as multiplets
        (:mod:`perovskite_tb.eigen.spectrum`); the band edges are its first multiplet on each side.
    """

    electron: Doublet
    hole: Doublet
    electron_levels: np.ndarray
    hole_levels: np.ndarray
    sigma: float
    n_below: int | None
    stats: dict = field(default_factory=dict)
    spectrum: Spectrum | None = None


def _one_block(groups: np.ndarray) -> tuple[ParityBlock, ...]:
    return (ParityBlock(0, None, np.asarray(groups, dtype=np.int64)),)


def blocks_for(sym: Symmetry, mode: str = "auto") -> tuple[ParityBlock, ...]:
    """Symmetry blocks of a basis for a symmetry mode.

    Parameters
    ----------
    sym : Symmetry
        Sites (ETB: operations found from the positions) or monomial actions (k·p).
    mode : {"auto", "inversion", "none"}
        ``"auto"``: the operations detected from the sites
        (:func:`perovskite_tb.eigen.symmetry.detect_operations`; C4z and inversion for cubes and spheres), for
        k·p C4z and inversion; ``"inversion"``: P only; ``"none"``: one block.

    Returns
    -------
    tuple of ParityBlock

    Raises
    ------
    InputError
        Unknown mode.
    """
    ops = SYMMETRY_MODES.get(mode)
    if ops is None:
        raise InputError(f"unknown symmetry {mode!r} (auto, inversion, none)")
    if not ops:
        return _one_block(sym.groups)
    if sym.positions is not None:  # sites: the operations that map them onto themselves when "auto"
        blocks = symmetry_blocks(sym.positions, sym.orbitals_per_site, ops=None if mode == "auto" else ops,
                                 species=sym.species)
        if sym.theta is not None:  # the real structure is built for the spin-minor Θ only
            return blocks
        return real_blocks(blocks, sym.positions, sym.orbitals_per_site, sym.species)
    acts = [a for a in sym.actions if a[0] in ops]
    return blocks_from_actions(acts, sym.groups) if acts else _one_block(sym.groups)


def _shift_sets(sigma: float, edge_shifts) -> list[tuple[float, float]]:
    """[(σ_h, σ_e) near the edges, (σ, σ)] or [(σ, σ)]; validates both."""
    if not math.isfinite(sigma):
        raise SolverError(f"shift sigma must be finite, got {sigma} eV")
    mid = (float(sigma), float(sigma))
    if edge_shifts is None:
        return [mid]
    s_h, s_e = (float(x) for x in edge_shifts)
    if not (math.isfinite(s_h) and math.isfinite(s_e) and s_h <= s_e):
        raise InputError(f"edge_shifts must be finite (sigma_h, sigma_e) with sigma_h <= sigma_e, got {edge_shifts}")
    return [(s_h, s_e), mid]


def _check_invariant(M, blocks, seed: int, name: str) -> None:
    """M must map every block subspace into itself: probe with one random vector per block."""
    for blk in blocks:
        if blk.Q is None:
            continue
        x = blk.Q @ start_vector(blk.size, seed)
        y = M @ x
        leak = float(np.linalg.norm(y - blk.Q @ (blk.Q.conj().T @ y)) / np.linalg.norm(x))
        if leak > 1e-9:
            raise SolverError(f"{name} does not commute with the symmetry {blk.label} (leak {leak:.1e})")


def _add_inertia(total, count, weight):
    if total is None or count is None:
        return None
    if total < 0 or count < 0:
        return -1  # the shifts see different counts: levels between them
    return total + weight * count


def _block_workers(opts, n_blocks: int, est_gb: float, base_gb: float, max_gb: float) -> int:
    """Blocks to solve at once: the thread budget (or ``opts.workers``), as many as the memory holds."""
    want = thread_budget() if opts.workers is None else int(opts.workers)
    if want < 1:
        raise InputError(f"workers must be a positive number of threads, got {opts.workers}")
    per_block = max(est_gb - base_gb, 1e-9)
    fits = int((max_gb - base_gb) // per_block) if max_gb > base_gb else 1
    return max(1, min(want, n_blocks, fits))


def _restrict(H0, S, blk):
    """The block's H_b (real symmetric where the block has a real structure, eigen.real_blocks) and S_b."""
    if S is not None:  # a non-orthogonal basis (k·p) keeps complex blocks
        return blk.restrict(H0), blk.restrict(S)
    return realify(blk.restrict(H0), blk), None


def _solve_one(backend, n, H0, S, blk, bi, shifts, opts, warm_start):
    tb = time.perf_counter()
    Hb, Sb = _restrict(H0, S, blk)
    v0 = (None, None)
    if backend.warm_start and warm_start is not None and warm_start.electron.vectors.shape[0] == n:
        v0 = (warm_vector(blk, warm_start.electron), warm_vector(blk, warm_start.hole))
    lv = backend.solve(Hb, Sb, blk, shifts, opts, opts.seed + bi, v0)
    lv.info.update(parity=blk.parity, label=blk.label, size=blk.size, nnz=int(Hb.nnz),
                   seconds=time.perf_counter() - tb)
    return lv


def _solve_blocks(backend, n, H0, S, blocks, shifts, opts, warm_start, workers: int = 1):
    """Run the back-end on every block: candidates (energy, block, vector) per side, inertia, stats.

    Each block is restricted (:meth:`ParityBlock.restrict`) inside its task. With ``workers`` > 1 the
    blocks run in threads (PARDISO and SuperLU release the GIL in factorisations and solves),
    each on one BLAS/MKL thread; the results are collected in block order, so they do not depend on
    ``workers``.
    """
    args = [(backend, n, H0, S, blk, bi, shifts, opts, warm_start) for bi, blk in enumerate(blocks)]
    if workers > 1:
        with threadpool_limits(limits=1), ThreadPoolExecutor(max_workers=workers) as ex:
            levels = list(ex.map(lambda a: _solve_one(*a), args))
    else:
        levels = [_solve_one(*a) for a in args]
    cand_e, cand_h, infos = [], [], []
    n_below = 0 if (backend.inertia and opts.check_inertia) else None
    for bi, (blk, lv) in enumerate(zip(blocks, levels)):
        n_below = _add_inertia(n_below, lv.n_below, blk.weight)
        infos.append(lv.info)
        cand_e += [(float(E), bi, lv.V_e[:, j]) for j, E in enumerate(lv.E_e)]
        cand_h += [(float(E), bi, lv.V_h[:, j]) for j, E in enumerate(lv.E_h)]
    return cand_e, cand_h, n_below, infos


def _check_isolated(d: Doublet, name: str, cands, blocks, opts) -> None:
    """Refuse a band-edge level of more than two states (the g tensor of a doublet is then undefined).

    The states at the doublet's energy are counted over the levels found in all blocks (a level of a
    weight-2 block stands for itself and its Kramers partner): levels closer to the doublet than the
    accuracy tolerance max(10·kramers_tol, 10·residual, 10·splitting) (eV) belong to the same level.
    A Kramers doublet counts 2; a Γ8-like quartet of a cube (or an accidental degeneracy) counts 4.

    Raises
    ------
    DegeneracyError
        More than two states at the band edge (one line naming the energies in eV).
    """
    tol = 10.0 * max(opts.kramers_tol, d.residual, d.splitting)
    same = [c for c in cands if abs(c[0] - d.energy) <= tol]
    n_states = sum(blocks[c[1]].weight for c in same)
    if n_states > 2:
        energies = ", ".join(f"{c[0]:.9f}" for c in same)
        raise DegeneracyError(
            f"{name} band edge at {d.energy:.6f} eV is at least {n_states}-fold degenerate (levels {energies} "
            f"eV within {tol:.1e} eV), not a Kramers doublet: its g tensor is not defined")


def _pick(H0, S, blocks, cand_e, cand_h, shifts, theta, kramers, opts):
    """Electron and hole doublets from the candidates, with residual/Kramers/isolation checks."""
    if (not cand_e or not cand_h or min(c[0] for c in cand_e) < shifts[1]
            or max(c[0] for c in cand_h) > shifts[0]):
        raise DegeneracyError("could not find levels on both sides of sigma (is sigma in the gap?)")
    cand_e.sort(key=lambda c: c[0])
    cand_h.sort(key=lambda c: -c[0])
    out = []
    for name, cands in (("electron", cand_e), ("hole", cand_h)):
        levels = np.array([c[0] for c in cands])
        if kramers:
            d = make_doublet(H0, S, blocks[cands[0][1]], cands[0][2], theta, levels)
        else:
            if len(cands) < 2:
                raise DegeneracyError(f"fewer than two {name} levels found")
            W = np.column_stack([np.asarray(blocks[c[1]].lift(c[2][:, None]))[:, 0] for c in cands[:2]])
            d = ritz(H0, S, W, 0, levels)
        check_doublet(d, name, residual_tol=opts.residual_tol, kramers_tol=opts.kramers_tol, kramers=kramers)
        if kramers:
            _check_isolated(d, name, cands, blocks, opts)
        out.append(d)
    return out[0], out[1], np.array([c[0] for c in cand_e]), np.array([c[0] for c in cand_h])


def _summary(stats: dict, infos: list) -> dict:
    stats.update(
        blocks=infos,
        factor_s=sum(b.get("factor_s", 0.0) for b in infos),
        eigs_s=sum(b.get("eigs_s", b.get("seconds", 0.0)) for b in infos),
        solves=sum(b.get("solves", 0) for b in infos),
        matvecs=sum(b.get("matvecs", 0) for b in infos),
        lu_nnz=sum(b.get("lu_nnz", 0) for b in infos),
    )
    return stats


def _solve(H0, S, blocks, sigma, edge_shifts, n_fill, theta, kramers, method, opts, warm_start,
           levels: int = 1) -> BandEdges:
    """Steps 2–4 of the module docstring on prepared blocks; no recursion (one retry at σ)."""
    t0 = time.perf_counter()
    n, nnz = H0.shape[0], int(H0.nnz)
    max_gb = memory_budget_gb(opts.max_memory_gb)
    backend, est = choose_backend(method, n, nnz, n / max(b.size for b in blocks), max_gb,
                                  generalized=S is not None, dense_max_states=opts.dense_max_states)
    sets = _shift_sets(sigma, edge_shifts if backend.edge_shifts else None)
    workers = _block_workers(opts, len(blocks), est, base_memory_gb(n, nnz), max_gb)
    stats: dict = {"n_states": n, "nnz": nnz, "method": backend.name, "solver": backend.name, "ldl": opts.ldl,
                   "memory_estimate_GB": est, "n_blocks": len(blocks), "symmetry": [b.label for b in blocks],
                   "workers": workers, "real_blocks": sum(b.real for b in blocks)}
    t1 = time.perf_counter()
    for i, shifts in enumerate(sets):
        cand_e, cand_h, n_below, infos = _solve_blocks(backend, n, H0, S, blocks, shifts, opts, warm_start,
                                                       workers)
        if n_fill is None or n_below is None or n_below == n_fill:
            break
        if i + 1 == len(sets):
            raise DegeneracyError(
                f"{n_below} states lie below sigma = {sigma:.4f} eV but {n_fill} are filled: "
                "the gap contains surface states or sigma is outside the gap")
        stats["edge_shifts_rejected"] = list(shifts)  # a band edge lies beyond its shift: redo at σ
    stats["shifts"] = list(shifts)
    t2 = time.perf_counter()
    e, h, lev_e, lev_h = _pick(H0, S, blocks, cand_e, cand_h, shifts, theta, kramers, opts)
    t3 = time.perf_counter()
    spectrum = None
    if kramers:
        spectrum = _spectrum(H0, S, blocks, cand_e, cand_h, theta, infos, levels, e, h,
                             proven_edges=n_below is not None and n_below == n_fill)
        stats.update(levels=levels, spectrum_proven=spectrum.proven, spectrum_s=time.perf_counter() - t3)
    stats.update(solve_s=t2 - t1, doublet_s=t3 - t2, total_s=time.perf_counter() - t0)
    return BandEdges(electron=e, hole=h, electron_levels=np.sort(lev_e), hole_levels=np.sort(lev_h)[::-1],
                     sigma=float(sigma), n_below=n_below, stats=_summary(stats, infos), spectrum=spectrum)


def _spectrum(H0, S, blocks, cand_e, cand_h, theta, infos, levels: int, e: Doublet, h: Doublet,
              proven_edges: bool) -> Spectrum:
    """The K-doublet spectrum (:mod:`perovskite_tb.eigen.spectrum`) from the candidates of all blocks.

    K = 1 is the band-edge doublets themselves. For K > 1 the cuts of the blocks' inertia proofs bound
    what is reported: below min_b cut_e (electrons), above max_b cut_h (holes).
    """
    if levels == 1:  # _pick sorted the candidates: the first of each side is the edge doublet's block
        label_e, label_h = blocks[cand_e[0][1]].label, blocks[cand_h[0][1]].label
        return Spectrum(electron=(multiplet_from_doublet(e, label_e),), hole=(multiplet_from_doublet(h, label_h),),
                        n_doublets=1, proven=proven_edges,
                        proof={"reported_e": 2, "reported_h": 2, "cut_e_eV": None, "cut_h_eV": None})
    cuts_e = [i.get("cut_e") for i in infos]
    cuts_h = [i.get("cut_h") for i in infos]
    proven = proven_edges and all(c is not None for c in cuts_e + cuts_h)
    cut_e = min((c for c in cuts_e if c is not None), default=None) if proven else None
    cut_h = max((c for c in cuts_h if c is not None), default=None) if proven else None
    el = group_levels(H0, S, blocks, cand_e, theta, levels, cut=cut_e)
    ho = group_levels(H0, S, blocks, cand_h, theta, levels, cut=cut_h, descending=True)
    counted = {side: sum(blocks[b].weight * i[f"cut_{side}_count"][0] for b, i in enumerate(infos)
                         if f"cut_{side}_count" in i) for side in "eh"}
    proof = {"cut_e_eV": cut_e, "cut_h_eV": cut_h, "states_e": counted["e"], "states_h": counted["h"],
             "reported_e": sum(m.degeneracy for m in el), "reported_h": sum(m.degeneracy for m in ho)}
    return Spectrum(electron=el, hole=ho, n_doublets=levels, proven=proven, proof=proof)


def band_edges(H0, *, sigma: float, n_orb: int | None = None, n_fill: int | None = None,
               positions: np.ndarray | None = None, method: str = "auto", symmetry: str = "auto",
               edge_shifts: tuple[float, float] | None = None, warm_start: "BandEdges | None" = None,
               S=None, basis: Symmetry | None = None, kramers: bool = True, levels: int = 1,
               **options) -> BandEdges:
    """Lowest electron and highest hole Kramers doublets of :math:`H_0c = ESc` near the shift σ.

    Parameters
    ----------
    H0 : scipy.sparse.csr_array, complex128, shape (n, n)
        Hermitian zero-field Hamiltonian (eV) (or H(B) with ``kramers=False``).
    sigma : float
        Shift inside the gap (eV); must not be an eigenvalue.
    n_orb : int, optional
        Spin-orbitals per atom (ETB; ordering groups and orbital parities); not needed with ``basis``.
    n_fill : int, optional
        States below the gap; checked against the inertia (shift-invert, dense).
    positions : ndarray, shape (n_sites, 3), optional
        Atom positions (nm) about the centre (ETB); if given, the solve runs on symmetry blocks.
    method : str, optional
        ``"auto"`` or a back-end of :data:`perovskite_tb.eigen.registry.BACKENDS`
        (:func:`~perovskite_tb.eigen.registry.choose_backend`).
    symmetry : {"auto", "inversion", "none"}, optional
        See :func:`blocks_for`.
    edge_shifts : (float, float), optional
        Shifts (σ_h, σ_e) close to the expected HOMO (from above) and LUMO (from below), e.g. the bulk
        band edges ∓ a margin; if the inertia fails there, the solve is redone at σ.
    warm_start : BandEdges, optional
        A previous result for the same structure: its doublets seed the iterative back-ends.
    S : sparse matrix, complex128, shape (n, n), optional
        Overlap of a non-orthogonal basis (k·p); None: orthonormal.
    basis : Symmetry, optional
        Ordering groups, point operations and Θ of the basis (default: ETB atoms from ``n_orb`` and
        ``positions``).
    kramers : bool, optional
        True (B = 0): complete the extreme level by Θ and check the doublet. False (finite field):
        the two extreme levels per side form the pair (needs blocks of weight 1).
    levels : int, optional
        K: Kramers doublets per side in :attr:`BandEdges.spectrum` (1 ≤ K ≤ :data:`MAX_LEVELS`;
        default 1, the band edges). K > 1 raises the levels per block to 2K + 2 and runs the inertia
        proof of :mod:`perovskite_tb.eigen.spectrum` in every block.
    **options
        Fields of :class:`~perovskite_tb.eigen.backends.SolveOptions` (``k``, ``tol``, ``residual_tol``,
        ``kramers_tol``, ``check_inertia``, ``max_memory_gb``, ``seed``, ``ldl``, ``dense_max_states``).

    Returns
    -------
    BandEdges

    Raises
    ------
    InputError
        Unknown method, symmetry, option or LDL back-end; bad ``edge_shifts``.
    SolverError
        Factorisation failed, memory estimate too large, no convergence, residuals too large.
    DegeneracyError
        Not a Kramers doublet, inertia ≠ ``n_fill`` (in-gap states), edge doublet not isolated, or an
        edge level of more than two states (≥ 4-fold degenerate).
    """
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or not 1 <= levels <= MAX_LEVELS:
        raise InputError(f"levels must be a whole number of Kramers doublets from 1 to {MAX_LEVELS}, got {levels!r}")
    levels = int(levels)
    if levels > 1:
        options = {**options, "k": max(int(options.get("k", SolveOptions.k)), 2 * levels + 2),
                   "prove_levels": True}
    try:
        opts = SolveOptions(**options)
    except TypeError as exc:
        raise InputError(f"unknown solver option: {exc}") from None
    if opts.ldl != "auto" and opts.ldl not in available_ldl_backends():
        raise InputError(f"LDL back-end {opts.ldl!r} is not available (available: {', '.join(available_ldl_backends())})")
    n = H0.shape[0]
    if symmetry not in SYMMETRY_MODES:
        raise InputError(f"unknown symmetry {symmetry!r} (auto, inversion, none)")
    if basis is None:
        if n_orb is None:
            raise InputError("band_edges needs n_orb (spin-orbitals per atom) or a basis Symmetry")
        basis = Symmetry(groups=np.arange(n, dtype=np.int64) // n_orb, positions=positions, orbitals_per_site=n_orb)
    _shift_sets(sigma, edge_shifts)  # validate before any work
    t0 = time.perf_counter()
    blocks = blocks_for(basis, symmetry) if (basis.positions is not None or basis.actions) \
        else _one_block(basis.groups)
    if not kramers and any(b.weight > 1 for b in blocks):
        raise InputError("a finite-field solve needs blocks without Kramers partners (symmetry 'inversion' or 'none')")
    _check_invariant(H0, blocks, opts.seed, "H0")
    if S is not None:
        _check_invariant(S, blocks, opts.seed, "S")
    t_sym = time.perf_counter() - t0
    out = _solve(H0, S, blocks, sigma, edge_shifts, n_fill, basis.theta, kramers, method, opts, warm_start,
                 levels)
    out.stats["symmetry_s"] = t_sym
    return out


def solve_terms(terms: Terms, *, method: str = "auto", sigma: float | None = None, symmetry: str = "auto",
                warm_start: BandEdges | None = None, **options) -> BandEdges:
    """Band edges of a model's :class:`~perovskite_tb.model.terms.Terms` (the entry used by ETB and k·p).

    Shifts: σ = ``sigma`` if given (no edge shifts), else the edge shifts of the Terms with its
    mid-gap as fallback. ``"auto"`` may choose dense up to ``terms.dense_max_states``. Other arguments
    as :func:`band_edges`.
    """
    options.setdefault("dense_max_states", terms.dense_max_states)
    return band_edges(terms.H0, sigma=terms.midgap if sigma is None else float(sigma), n_fill=terms.n_fill,
                      method=method, symmetry=symmetry, edge_shifts=None if sigma is not None else terms.edge_shifts,
                      warm_start=warm_start, S=terms.S, basis=terms.symmetry, **options)
