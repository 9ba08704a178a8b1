r"""Thermal atomic displacements: mean-square displacements, Debye–Waller-averaged hoppings, frozen configurations.

Issue 21, item 3, hypotheses ii and iii: two lattice hypotheses for the temperature dependence of g, both built
on the same mean-square displacements (MSD) and on the set's distance scaling of the two-centre integrals,
:math:`V(d) = V(d_0)\,(d_0/d)^{\eta}` (η = ``hopping_exponent`` of the parameter file; Harrison's
:math:`d^{-2}`, W. A. Harrison, *Electronic Structure and the Properties of Solids* (1980)).

Mean-square displacements
    Debye model per Cartesian component (B. T. M. Willis and A. W. Pryor, *Thermal Vibrations in
    Crystallography* (CUP 1975)):

    .. math:: \langle u_x^2\rangle(T) = \frac{3\hbar^2}{m k_B\Theta_D}\Big[\frac{\Phi(x)}{x}
              + \frac14\Big],\qquad \Phi(x) = \frac1x\int_0^x\frac{t\,dt}{e^t-1},\ x = \Theta_D/T .

    No measured Debye temperature, phonon DOS or ADP series of CsPbX3 was found for this version. The default Θ_D = 133.5 K is the LO-phonon energy of the lead iodides, ħω_LO =
    11.5 meV (Wright et al., Nat. Commun. 7, 11755 (2016), abstract) — a **derived** value
    (``parameters/temperature_models.toml``). The Debye model is harmonic and isotropic; the halides of
    CsPbI3 move mostly perpendicular to the Pb–X–Pb bonds and anharmonically (Liu, Phillips, Keen, Dove,
    J. Phys. Chem. C 123, 14934 (2019), abstract), so this is an order-of-magnitude estimate; results
    are also reported per unit MSD (:func:`msd_scale` lets a study scale it).
    Only the *change* from the set's reference temperature enters, :math:`\Delta\langle u^2\rangle =
    \langle u^2\rangle(T) - \langle u^2\rangle(T_\mathrm{ref})`: the set was fitted at T_ref with its
    zero-point motion included. Cs carries no orbitals in this model (README, Termination), so only Pb
    and X move.

Debye–Waller hopping, hypothesis iii (rule ``"dw"`` of :mod:`perovskite_tb.model.temperature`)
    Each nearest-neighbour two-centre integral is replaced by its average over independent Gaussian
    displacements of its two atoms, relative variance per component :math:`\sigma^2 = \Delta\langle
    u_x^2\rangle_\mathrm{Pb} + \Delta\langle u_x^2\rangle_X` — the first-order (Debye–Waller) term of the
    electron–phonon renormalisation (Allen & Heine, J. Phys. C 9, 2305 (1976); Allen & Cardona, PRB
    23, 1495 (1981)). The average of a Slater–Koster block over an isotropic displacement keeps the
    bond's cylindrical symmetry, so it is again a Slater–Koster block with new σ, π, δ components
    (:func:`averaged_integrals`; read off at elements where the bond-frame block has one component).
    Uncorrelated atoms overestimate σ² of the stiff Pb–X bond; no correlation data were found.

Frozen displacements, hypothesis ii (:func:`displaced`)
    A finite structure with every atom displaced by a Gaussian vector of variance Δ⟨u_x²⟩ of its species
    per component; the bond vectors are recomputed from the displaced positions, and the assembler scales
    each bond's integrals by :math:`(d_0/|d|)^{\eta}` (:attr:`perovskite_tb.model.structure.BondList.length0`).
    Configurations come in pairs ±u, which cancel every odd order of the displacement exactly
    (the antithetic pair of the special-displacement method, Zacharias & Giustino, PRB 94, 075125 (2016)).
    A displaced NC has no point symmetry left; the solver detects none and solves one block.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import scipy.constants as _sc
from scipy.integrate import quad

from perovskite_tb.errors import InputError, ParameterError
from perovskite_tb.model.materials import BASES, EtbParameters, parameters_dir
from perovskite_tb.model.structure import PB, BondList, Structure

__all__ = ["MODEL_FILE", "model_value", "debye_msd_nm2", "msd_nm2", "delta_msd_nm2", "averaged_integrals",
           "debye_waller_parameters", "displaced", "antithetic_configurations", "halide_of"]

#: Coefficients of the lattice hypotheses (values, units, sources), next to the ETB sets.
MODEL_FILE = "temperature_models.toml"

#: Gauss–Hermite nodes per axis of the Debye–Waller average (relative error ≪ 1e-10 for σ/d ≤ 0.1).
_GH_NODES = 8


@lru_cache(maxsize=1)
def _model_table() -> dict:
    path = parameters_dir() / MODEL_FILE
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ParameterError(f"{path} not found") from None


def model_value(section: str, name: str) -> float:
    """Value of ``[section].name`` of ``parameters/temperature_models.toml`` (its unit in the file).

    Raises
    ------
    ParameterError
        Missing section or entry, or an entry without a source.
    """
    tab = _model_table()
    for part in section.split("."):
        tab = tab.get(part, {}) if isinstance(tab, dict) else {}
    ent = tab.get(name) if isinstance(tab, dict) else None
    if not isinstance(ent, dict) or "value" not in ent or not ent.get("source"):
        raise ParameterError(f"{MODEL_FILE}: [{section}].{name} missing or without a source")
    return float(ent["value"])


def halide_of(params: EtbParameters) -> str:
    """Halide symbol of a parameter set's material (``"CsPbI3"`` → ``"I"``).

    Raises
    ------
    ParameterError
        A material name that is not CsPbX3 with X = I, Br, Cl.
    """
    m = str(params.material)
    for x in ("Cl", "Br", "I"):
        if m == f"CsPb{x}3":
            return x
    raise ParameterError(f"cannot tell the halide of material {m!r}")


def debye_msd_nm2(mass_u: float, theta_D_K: float, T_K: float) -> float:
    r"""Debye-model mean-square displacement per Cartesian component, :math:`\langle u_x^2\rangle` (nm²).

    Parameters
    ----------
    mass_u : float
        Atomic mass (u), > 0.
    theta_D_K : float
        Debye temperature (K), > 0.
    T_K : float
        Temperature (K), ≥ 0; T = 0 gives the zero-point value :math:`3\hbar^2/(4 m k_B\Theta_D)`.

    Returns
    -------
    float
        ⟨u_x²⟩ in nm².

    Raises
    ------
    InputError
        Non-positive mass or Debye temperature, negative or non-finite temperature.

    References
    ----------
    Willis & Pryor, *Thermal Vibrations in Crystallography* (1975) (module docstring).
    """
    for v, what in ((mass_u, "mass (u)"), (theta_D_K, "Debye temperature (K)")):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise InputError(f"{what} must be a positive finite number, got {v!r}")
    if not (isinstance(T_K, (int, float)) and math.isfinite(T_K) and T_K >= 0):
        raise InputError(f"temperature must be a finite number >= 0 K, got {T_K!r}")
    pref = 3.0 * _sc.hbar**2 / (mass_u * _sc.atomic_mass * _sc.k * theta_D_K) * 1e18  # nm²
    if T_K == 0:
        return pref * 0.25
    x = theta_D_K / T_K
    # ∫_0^x t/(e^t − 1) dt; beyond t = 60 the integrand is < 1e-24 (the integral is π²/6 to double precision)
    phi = quad(lambda t: t / math.expm1(t) if t > 0 else 1.0, 0.0, min(x, 60.0))[0] / x
    return pref * (phi / x + 0.25)


def msd_nm2(params: EtbParameters, T_K: float, *, theta_D_K: float | None = None) -> dict[str, float]:
    """Debye ⟨u_x²⟩ (nm²) of Pb and of the set's halide at ``T_K``: ``{"Pb": .., "X": ..}``.

    ``theta_D_K`` defaults to ``[debye].theta_D`` of :data:`MODEL_FILE` (derived, module docstring).
    """
    th = model_value("debye", "theta_D") if theta_D_K is None else theta_D_K
    return {"Pb": debye_msd_nm2(model_value("masses", "Pb"), th, T_K),
            "X": debye_msd_nm2(model_value("masses", halide_of(params)), th, T_K)}


def delta_msd_nm2(params: EtbParameters, T_K: float, *, theta_D_K: float | None = None,
                  scale: float = 1.0) -> dict[str, float]:
    r"""Thermal part :math:`\Delta\langle u_x^2\rangle = \langle u_x^2\rangle(T) - \langle u_x^2\rangle(T_\mathrm{ref})`
    (nm², per component, Pb and X), times ``scale`` (1: the Debye estimate).

    Negative below the set's reference temperature; a caller that needs a variance checks the sign.
    """
    if not (math.isfinite(scale) and scale >= 0):
        raise InputError(f"MSD scale must be a finite number >= 0, got {scale!r}")
    hi = msd_nm2(params, T_K, theta_D_K=theta_D_K)
    lo = msd_nm2(params, params.reference_temperature_K, theta_D_K=theta_D_K)
    return {k: scale * (hi[k] - lo[k]) for k in hi}


# --------------------------------------------------------------------------- (iii) Debye–Waller hoppings


def _shell_slices(basis: str) -> dict[str, slice]:
    from perovskite_tb.model.slater_koster import _shells

    return {sh: sl for sh, sl in _shells(basis)}


def _field_map(params: EtbParameters) -> dict[tuple, str]:
    """(cation shell, anion shell, component) → field name of the nearest-neighbour integrals."""
    from perovskite_tb.model.materials import TWO_CENTRE_NAMES
    from perovskite_tb.model.slater_koster import _integrals

    marked = params.replace(**{n: 0.01 * (i + 1) for i, n in enumerate(TWO_CENTRE_NAMES)})
    out = {}
    for key, comps in _integrals(marked).items():
        for comp, v in comps.items():
            out[(*key, comp)] = TWO_CENTRE_NAMES[int(round(v / 0.01)) - 1]
    return out


@lru_cache(maxsize=256)
def averaged_integrals(params: EtbParameters, sigma2_nm2: float, *, nodes: int = _GH_NODES) -> dict[str, float]:
    r"""Nearest-neighbour two-centre integrals averaged over Gaussian bond-vector fluctuations (eV).

    Parameters
    ----------
    params : EtbParameters
        Set whose integrals hold at the bond length :math:`d_0 = a/2`.
    sigma2_nm2 : float
        Variance per Cartesian component of the relative displacement of the two atoms (nm²), ≥ 0.
    nodes : int, optional
        Gauss–Hermite nodes per axis.

    Returns
    -------
    dict
        ``{field name: averaged value}`` for every nearest-neighbour integral of
        :data:`perovskite_tb.model.materials.TWO_CENTRE_NAMES` present in the basis (eV); σ² = 0 returns
        the set's own values exactly.

    Raises
    ------
    InputError
        Negative or non-finite variance, or a variance with σ > d0/4 (the Gaussian would reach the atom).

    Notes
    -----
    :math:`\bar T = \langle (d_0/|\mathbf d|)^{\eta}\,T_{SK}(\hat{\mathbf d})\rangle` over
    :math:`\mathbf d = d_0\hat z + \boldsymbol\delta`, δ ~ N(0, σ²·1) (product Gauss–Hermite rule). The
    averaged block is read at the elements where the bond-frame block carries one component (σ: z–z,
    π: x–x or x–zx, δ: xy–xy; Slater & Koster, Phys. Rev. 94, 1498 (1954)). Allen & Heine (1976).
    """
    from perovskite_tb.model.slater_koster import _L, _integrals, pair_block, sk_block

    s2 = float(sigma2_nm2)
    if not (math.isfinite(s2) and s2 >= 0):
        raise InputError(f"displacement variance must be a finite number >= 0 nm², got {sigma2_nm2!r}")
    d0 = 0.5 * params.a
    if s2 == 0:
        return {n: float(getattr(params, n)) for n in _field_map(params).values()}
    if math.sqrt(s2) > d0 / 4:
        raise InputError(f"rms relative displacement {math.sqrt(s2):.4g} nm exceeds a quarter of the bond {d0:.4g} nm")
    x, w = np.polynomial.hermite_e.hermegauss(nodes)  # weight exp(-x²/2)
    w = w / w.sum()
    sig = math.sqrt(s2)
    eta = params.hopping_exponent
    ints = _integrals(params)
    n = len(BASES[params.basis])
    acc = np.zeros((n, n))
    for i, xi in enumerate(x):
        for j, yj in enumerate(x):
            for k, zk in enumerate(x):
                d = np.array([sig * xi, sig * yj, d0 + sig * zk])
                f = (d0 / np.linalg.norm(d)) ** eta
                acc += w[i] * w[j] * w[k] * f * pair_block(params.basis, ints, d, spin=False).real
    sl = _shell_slices(params.basis)
    out = {}
    for (c, a_, comp), name in _field_map(params).items():
        lc, la = _L[c], _L[a_]
        unit = {comp: 1.0}
        if lc <= la:
            B = sk_block(lc, la, unit, np.array([0.0, 0.0, 1.0]))
        else:
            B = sk_block(la, lc, unit, np.array([0.0, 0.0, -1.0])).T
        r, q = np.unravel_index(np.argmax(np.abs(B)), B.shape)
        out[name] = float(acc[sl[c], sl[a_]][r, q] / B[r, q])
    return out


def debye_waller_parameters(params: EtbParameters, T_K: float, *, theta_D_K: float | None = None,
                            scale: float = 1.0) -> tuple[EtbParameters, float]:
    r"""``params`` with its nearest-neighbour integrals averaged over the thermal displacements at ``T_K``.

    Returns
    -------
    (EtbParameters, float)
        The set (E_pc untouched: :func:`perovskite_tb.model.temperature.parameters_at` re-tunes it) and
        σ² (nm²), the variance per component of the relative Pb–X displacement,
        Δ⟨u_x²⟩_Pb + Δ⟨u_x²⟩_X (:func:`delta_msd_nm2`; clipped at 0 below the reference temperature).
    """
    dm = delta_msd_nm2(params, T_K, theta_D_K=theta_D_K, scale=scale)
    s2 = max(0.0, dm["Pb"] + dm["X"])
    return params.replace(**averaged_integrals(params, s2)), s2


# --------------------------------------------------------------------------- (ii) frozen displacements


def displaced(structure: Structure, u: np.ndarray) -> Structure:
    """``structure`` with every site moved by ``u`` and its bond vectors recomputed; nominal lengths kept.

    Parameters
    ----------
    structure : Structure
        Finite structure (a nanocrystal).
    u : ndarray of float64, shape (n_sites, 3)
        Displacements (nm).

    Returns
    -------
    Structure
        New positions; ``bonds.vector`` = r_j − r_i of the displaced sites; ``bonds.length0`` = the
        undisplaced bond lengths (nm), which the assembler uses to scale each bond's integrals by
        (length0/|vector|)^η. ``u = 0`` returns a structure whose Hamiltonian is identical to the input's.

    Raises
    ------
    InputError
        A periodic structure, or ``u`` of the wrong shape or not finite.
    """
    if structure.periodic:
        raise InputError("displacements are applied to finite structures (nanocrystals) only")
    u = np.asarray(u, dtype=float)
    if u.shape != structure.positions.shape or not np.all(np.isfinite(u)):
        raise InputError(f"displacements need shape {structure.positions.shape} and finite values, got {u.shape}")
    b = structure.bonds
    length0 = b.length0 if b.length0 is not None else np.linalg.norm(b.vector, axis=1)
    pos = structure.positions + u
    bonds = BondList(i=b.i, j=b.j, shell=b.shell, vector=np.ascontiguousarray(pos[b.j] - pos[b.i]),
                     length0=np.ascontiguousarray(length0, dtype=float))
    return replace(structure, positions=np.ascontiguousarray(pos), bonds=bonds)


def antithetic_configurations(structure: Structure, msd_nm2_by_species: dict, n_pairs: int,
                              seed: int = 0) -> list[Structure]:
    r"""``2·n_pairs`` displaced copies of ``structure``: Gaussian displacements u and −u.

    Parameters
    ----------
    structure : Structure
        Finite structure; species indices 0 = Pb, 1 = X.
    msd_nm2_by_species : dict
        ``{"Pb": ⟨u_x²⟩, "X": ⟨u_x²⟩}`` variance per Cartesian component (nm², ≥ 0).
    n_pairs : int
        Number of ± pairs, ≥ 1.
    seed : int, optional
        Seed of ``numpy.random.default_rng`` (results are reproducible).

    Returns
    -------
    list of Structure
        ``[+u_1, −u_1, +u_2, −u_2, …]``. Odd orders of u cancel exactly in every pair average
        (Zacharias & Giustino, PRB 94, 075125 (2016)).

    Raises
    ------
    InputError
        Negative variance or ``n_pairs`` < 1.
    """
    if not (isinstance(n_pairs, int) and n_pairs >= 1):
        raise InputError(f"n_pairs must be an integer >= 1, got {n_pairs!r}")
    var = np.empty(structure.n_sites)
    for name, idx in (("Pb", PB), ("X", 1)):
        v = float(msd_nm2_by_species[name])
        if not (math.isfinite(v) and v >= 0):
            raise InputError(f"MSD of {name} must be a finite number >= 0 nm², got {v!r}")
        var[structure.species == idx] = v
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_pairs):
        u = rng.standard_normal((structure.n_sites, 3)) * np.sqrt(var)[:, None]
        out += [displaced(structure, u), displaced(structure, -u)]
    return out
