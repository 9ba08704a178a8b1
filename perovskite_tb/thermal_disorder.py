r"""g of an ETB nanocrystal averaged over frozen thermal displacements (issue 21, item 3 (ii)).

:func:`solve_disordered` builds the NC, displaces every atom by Gaussian vectors with the thermal part of
the Debye mean-square displacement (:mod:`perovskite_tb.model.disorder`), in ± pairs that cancel the odd
orders (Zacharias & Giustino, PRB 94, 075125 (2016)), assembles each configuration with its displaced bond
vectors and the set's distance scaling (V ∝ d^-η, Harrison 1980), solves it, and averages the band-edge g,
the single-particle and the optical transition energies.

Parameters at T: rule ``"dw"`` of :func:`perovskite_tb.model.temperature.parameters_at` gives E_pc for
the Debye–Waller-averaged hoppings (the mean-field part of the displacements), then the set's own
(undisplaced) hoppings are restored, because the configurations carry the displacements explicitly. So
to first order in the MSD the configuration average reproduces the bulk E_g(T) of the data; what is left is
the second-order (Fan-like) part and the broken symmetry (Allen & Heine, J. Phys. C 9, 2305 (1976)).

Cost: a displaced NC has no point symmetry (the solver detects none and solves one block of the full
dimension instead of 4 blocks), and every bond is its own kind in the assembly (one Slater–Koster block
per bond). Reported in ``stats`` per configuration.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from perovskite_tb.errors import InputError
from perovskite_tb.model.disorder import antithetic_configurations, delta_msd_nm2
from perovskite_tb.model.hamiltonian import assemble, with_parameter_shells
from perovskite_tb.model.materials import TWO_CENTRE_NAMES, EtbParameters
from perovskite_tb.model.shapes import ShapeSpec, build, size_json
from perovskite_tb.model.temperature import parameters_at
from perovskite_tb.model.terms import terms_from_hamiltonian
from perovskite_tb.nc import dielectric_pair, solve

__all__ = ["DisorderResult", "disorder_parameters", "solve_disordered"]


@dataclass
class DisorderResult:
    """Configuration average of a displaced NC.

    Attributes
    ----------
    g_e, g_h : float
        Mean band-edge g (signed scalar of :class:`perovskite_tb.gfactor.GFactor`, ``.g``) over the configurations.
    g_e_sem, g_h_sem : float
        Standard error of the mean over the ± pair averages (0 for one pair).
    transition_energy, optical_transition_energy : float
        Mean E_e − E_h and mean optical transition energy (eV). The optical energy of a configuration is
        its E_e − E_h minus the e–h Coulomb energy of the *undisplaced* NC (the Coulomb integrals need
        Pb on the lattice, :mod:`perovskite_tb.observables.regions`; displacements of ≈ 0.01 nm change
        E_C far less than E_e − E_h).
    msd_nm2 : dict
        Δ⟨u_x²⟩ (nm²) of Pb and X used.
    reference : dict
        The undisplaced NC with the same parameters: g_e, g_h, transition_energy, coulomb_eV (E_C, eV;
        NaN without dielectric), seconds.
    per_config : list of dict
        g_e, g_h, transition_energy, optical_transition_energy, seconds of every configuration.
    seconds : float
        Wall time (s).
    """

    g_e: float
    g_h: float
    g_e_sem: float
    g_h_sem: float
    transition_energy: float
    optical_transition_energy: float
    msd_nm2: dict
    reference: dict = field(default_factory=dict)
    per_config: list = field(default_factory=list)
    seconds: float = 0.0


def disorder_parameters(params: EtbParameters, T_K: float) -> EtbParameters:
    """Set for explicit displacements at ``T_K``: rule ``"dw"`` (E_pc re-tuned for the averaged hoppings,
    a(T)) with the undisplaced two-centre integrals of ``params`` restored (module docstring)."""
    q = parameters_at(params, T_K, rule="dw")
    return q.replace(**{n: getattr(params, n) for n in TWO_CENTRE_NAMES})


def solve_disordered(params: EtbParameters, n_cells, T_K: float, *, n_pairs: int = 2, msd_scale: float = 1.0,
                     seed: int = 0, dielectric="default", termination=None, method: str = "auto",
                     symmetry: str = "auto", **solver_options) -> DisorderResult:
    r"""Band-edge g of a NC averaged over ``2·n_pairs`` frozen thermal-displacement configurations.

    Parameters
    ----------
    params : EtbParameters
        Set at its reference temperature.
    n_cells : int, sequence of 3 int, or ShapeSpec
        NC size (Pb per edge) or shape.
    T_K : float
        Temperature (K); displacements have the variance Δ⟨u_x²⟩(T) = ⟨u_x²⟩(T) − ⟨u_x²⟩(T_ref) per
        component (Debye, :func:`perovskite_tb.model.disorder.delta_msd_nm2`), times ``msd_scale``.
    n_pairs : int, optional
        ± pairs of configurations (default 2).
    msd_scale : float, optional
        Factor on the Debye Δ⟨u²⟩ (1: the derived estimate; 0: undisplaced, reproduces the plain solve).
    seed : int, optional
        Random seed.
    dielectric : "default", (float, float) or None, optional
        As :func:`perovskite_tb.nc.nc_gfactors` (for the optical transition energy).
    termination : str or TerminationSpec, optional
    method, symmetry : str, optional
        Solver back-end; symmetry mode (``"auto"`` detects none in a displaced NC).
    **solver_options
        SolveOptions fields.

    Returns
    -------
    DisorderResult

    Raises
    ------
    InputError
        ``T_K`` below the set's reference temperature (no thermal variance), bad ``n_pairs`` or scale.
    GeometryError, SolverError, DegeneracyError
        As the layers below.
    """
    t0 = time.perf_counter()
    if T_K < params.reference_temperature_K:
        raise InputError(f"thermal displacements need T >= the set's reference temperature "
                         f"{params.reference_temperature_K} K, got {T_K} K")
    q = disorder_parameters(params, T_K)
    msd = delta_msd_nm2(params, T_K, scale=msd_scale)
    spec = n_cells if isinstance(n_cells, ShapeSpec) else ShapeSpec.from_n_cells(n_cells)
    base, _ = with_parameter_shells(build(spec, q.a), q)
    eps = dielectric_pair(q.material, dielectric)
    from perovskite_tb.nc import nc_gfactors

    t1 = time.perf_counter()
    r0 = nc_gfactors(q, spec, dielectric=eps, termination=termination, method=method,
                     solver_options=solver_options)
    E_C = (r0.transition_energy - r0.observable("optical_transition_energy")) if eps is not None else float("nan")
    ref = {"g_e": float(r0.g_e.g), "g_h": float(r0.g_h.g), "transition_energy": float(r0.transition_energy),
           "coulomb_eV": float(E_C), "seconds": time.perf_counter() - t1, "n_blocks": r0.stats.get("n_blocks")}
    rows = []
    for k, st in enumerate(antithetic_configurations(base, msd, n_pairs, seed=seed)):
        t1 = time.perf_counter()
        ht = assemble(st, q, termination=termination)
        context = {"material": q.material, "dielectric": None, "termination": ht.termination.kind,
                   "shape_info": {**size_json(spec, st), "termination": ht.termination.kind},
                   "temperature_K": float(T_K)}
        res = solve(terms_from_hamiltonian(ht), solver=method, symmetry=symmetry, context=context,
                    **solver_options)
        rows.append({"config": k, "g_e": float(res.g_e.g), "g_h": float(res.g_h.g),
                     "transition_energy": float(res.transition_energy),
                     "optical_transition_energy": float(res.transition_energy - E_C),
                     "seconds": time.perf_counter() - t1, "n_blocks": res.stats.get("n_blocks")})
    ge = np.array([r["g_e"] for r in rows])
    gh = np.array([r["g_h"] for r in rows])
    pe, ph = ge.reshape(-1, 2).mean(1), gh.reshape(-1, 2).mean(1)
    sem = (lambda v: float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0)
    return DisorderResult(
        g_e=float(ge.mean()), g_h=float(gh.mean()), g_e_sem=sem(pe), g_h_sem=sem(ph),
        transition_energy=float(np.mean([r["transition_energy"] for r in rows])),
        optical_transition_energy=float(np.mean([r["optical_transition_energy"] for r in rows])),
        msd_nm2=dict(msd), reference=ref, per_config=rows, seconds=time.perf_counter() - t0)
