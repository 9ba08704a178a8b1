r"""Bulk ETB of cubic CsPbX3: Bloch Hamiltonian, band edges at R, masses and Roth-type g-factors.

Unit cell (Nestoklon, Comput. Mater. Sci. 196, 110535 (2021)): Pb at 0, X1, X2, X3 at (a/2)x̂, (a/2)ŷ,
(a/2)ẑ (:func:`perovskite_tb.model.structure.bulk_cell`); H(k) comes from the same bond-list assembler
as the nanocrystal (:func:`perovskite_tb.model.hamiltonian.bloch_matrix`). Bloch sums use atomic positions
(:math:`H_{ij}(\mathbf k) = \sum_R t_{ij}e^{i\mathbf k\cdot(\mathbf R+\tau_j-\tau_i)}`), so that
:math:`\partial H/\partial\mathbf k` is the velocity of the "diagonal position" model, consistent with the
Peierls phases of the nanocrystal (Graf & Vogl, PRB 51, 4940 (1995)). Energies in eV (zero ≈ bulk VBM),
k in nm⁻¹.

Per formula unit 26 of the 80 (sp3d5s*) or 32 (sp3) spin-bands are filled (Pb 6s² + 3 × X s²p⁶), so at R
band 25 (0-based) is the s-like VB top (R6+), bands 26–27 the J = 1/2 CB (R6−) and 28–31 the
spin–orbit split J = 3/2 CB (R8−).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from perovskite_tb.constants import G0, HBAR2_OVER_M0, MU_B
from perovskite_tb.errors import DegeneracyError, ParameterError
from perovskite_tb.gfactor import GFactor, g_tensor
from perovskite_tb.model.basis import atom_L, atom_S
from perovskite_tb.model.hamiltonian import bloch_matrix
from perovskite_tb.model.materials import EtbParameters
from perovskite_tb.model.slater_koster import second_neighbour_shells
from perovskite_tb.model.structure import bulk_cell, with_shell

__all__ = [
    "BulkProperties",
    "bloch_hamiltonian",
    "bloch_derivatives",
    "high_symmetry_point",
    "bulk_properties",
    "bulk_g",
    "N_FILLED",
]

#: Filled spin-bands per formula unit (Pb 6s² + 3 × X s²p⁶).
N_FILLED = 26


def high_symmetry_point(name: str, a: float) -> np.ndarray:
    """k vector (nm⁻¹) of Γ, X, M or R of the simple-cubic Brillouin zone of lattice constant a (nm)."""
    frac = {"G": (0, 0, 0), "X": (1, 0, 0), "M": (1, 1, 0), "R": (1, 1, 1)}[name.upper()[0]]
    return np.pi / a * np.asarray(frac, dtype=float)


def bloch_hamiltonian(params: EtbParameters, k: np.ndarray) -> np.ndarray:
    """Bloch Hamiltonian H(k) of the 4-atom cell (eV).

    Parameters
    ----------
    params : EtbParameters
    k : ndarray of float64, shape (3,)
        Wave vector (nm⁻¹) measured from Γ.

    Returns
    -------
    ndarray of complex128, shape (4 n_orb, 4 n_orb)
        Atom order Pb, X1, X2, X3; within an atom the order of :mod:`perovskite_tb.model.basis`.
    """
    H, _ = _bloch(params, np.asarray(k, dtype=float), derivatives=False)
    return H


def bloch_derivatives(params: EtbParameters, k: np.ndarray) -> np.ndarray:
    """∂H(k)/∂k_α (eV·nm), shape (3, 4 n_orb, 4 n_orb), complex128."""
    _, dH = _bloch(params, np.asarray(k, dtype=float), derivatives=True)
    return dH


def _bloch(params, k, derivatives):
    return bloch_matrix(_cell(params.a, _shell_key(params)), params, k, derivatives=derivatives)


def _shell_key(params: EtbParameters) -> tuple:
    return tuple((sh.shell, sh.species, dist) for sh, dist in second_neighbour_shells(params))


@lru_cache(maxsize=64)
def _cell(a: float, shells: tuple):
    """The 4-atom cell with the bonds of the second-neighbour shells ``(shell, species, length)`` (cached)."""
    cell = bulk_cell(a)
    for shell, species, dist in shells:
        cell = with_shell(cell, shell, species, dist)
    return cell


def _cell_operator(params: EtbParameters, op_atom: np.ndarray) -> np.ndarray:
    """Block-diagonal cell operator (3, 4n, 4n) from a per-atom operator (3, n, n)."""
    return np.array([np.kron(np.eye(4), op_atom[k]) for k in range(3)])


def bulk_g(
    params: EtbParameters, band: int, *, k: np.ndarray | None = None, orbital_zeeman: bool = False,
    degeneracy_tol: float = 1e-8,
) -> GFactor:
    r"""Bulk g tensor of the Kramers doublet starting at ``band`` (0-based) at ``k`` (default R).

    Parameters
    ----------
    params : EtbParameters
    band : int
        Index of the first band of the doublet (25−1=24 for the VB top pair 24–25, 26 for the CB).
    k : ndarray of float64, shape (3,), optional
        Wave vector (nm⁻¹); default R.
    orbital_zeeman : bool, optional
        Include the intra-atomic μB L·B term (default off, as in Nestoklon et al., Nano Lett. 23, 8218 (2023)).
    degeneracy_tol : float, optional
        Tolerance (eV) for the doublet degeneracy and isolation.

    Returns
    -------
    GFactor

    Raises
    ------
    DegeneracyError
        If bands ``band``, ``band+1`` are not degenerate or not isolated.

    Notes
    -----
    Roth-type second-order formula (Roth, Lax & Zwerdling, Phys. Rev. 114, 90 (1959)):

    .. math:: G_{\gamma,ab} = \langle a|g_0S_\gamma [+L_\gamma]|b\rangle + \frac{m_0}{\hbar^2}\frac1i
              \epsilon_{\gamma\alpha\beta}\sum_{m\notin D}
              \frac{\langle a|\partial_\alpha H|m\rangle\langle m|\partial_\beta H|b\rangle}{E_0-E_m}.
    """
    if k is None:
        k = high_symmetry_point("R", params.a)
    H = bloch_hamiltonian(params, k)
    dH = bloch_derivatives(params, k)
    E, U = np.linalg.eigh(H)
    D = [band, band + 1]
    if abs(E[band + 1] - E[band]) > degeneracy_tol:
        raise DegeneracyError(
            f"bands {band},{band + 1} at k={k} nm^-1 are split by {E[band + 1] - E[band]:.3e} eV"
        )
    Va = U[:, D]
    others = [m for m in range(len(E)) if m not in D]
    E0 = 0.5 * (E[band] + E[band + 1])
    if np.min(np.abs(E[others] - E0)) < 1e-6:
        raise DegeneracyError(f"doublet at band {band} is not isolated at k={k} nm^-1")
    Um = U[:, others]
    P = np.array([Va.conj().T @ dH[al] @ Um for al in range(3)])  # (3, 2, n-2)
    denom = E0 - E[others]
    S = _cell_operator(params, atom_S(params.basis))
    L = _cell_operator(params, atom_L(params.basis))
    M = []
    for gam in range(3):
        al, be = (gam + 1) % 3, (gam + 2) % 3
        orb = (P[al] / denom) @ P[be].conj().T - (P[be] / denom) @ P[al].conj().T
        G = -1j * orb / HBAR2_OVER_M0  # (m0/ħ²)(1/i) ε_γαβ Σ ...
        Z = Va.conj().T @ (G0 * S[gam] + (L[gam] if orbital_zeeman else 0)) @ Va
        M.append((G + Z) * MU_B)  # eV/T, already projected
    J = L + S
    # feed the already projected 2×2 operators to the shared extractor
    Jp = [Va.conj().T @ J[g] @ Va for g in range(3)]
    return g_tensor(np.eye(2, dtype=np.complex128), M, Jp)


@dataclass(frozen=True)
class BulkProperties:
    """Bulk band-edge properties of one ETB parameter set (the quantities of Nestoklon et al., Nano Lett. 23,
    8218 (2023), SI, Table S2).

    Attributes
    ----------
    Eg : float
        Direct gap at R (eV).
    gap_M, gap_X : float
        Direct gaps at M and X (eV).
    Delta_so : float
        Conduction-band spin–orbit splitting at R, E(J=3/2) − E(J=1/2) (eV).
    E_vbm : float
        VB maximum at R (eV, ≈ 0 in the shipped sets).
    m_e, m_h : float
        Electron (J=1/2 CB) and hole (VB) masses at R along [100] (units m0, positive).
    g_e, g_h : float
        Signed bulk g-factors (J convention of Kirstein et al., Nat. Commun. 13, 3062 (2022)).
    orbital_zeeman : bool
        Whether the on-site L·B term was included.
    E_Xp_R : float
        Top of the halide-p valence bands at R relative to the VBM (eV, < 0): the highest level at R below
        the R6+ valence-band-top doublet (bands 22–23, 0-based). Without X–X hopping it is the
        dispersionless non-bonding halide p level E_p,X + λ_X (≈ −2.0 eV in the CsPbI3 sets).
    """

    Eg: float
    gap_M: float
    gap_X: float
    Delta_so: float
    E_vbm: float
    m_e: float
    m_h: float
    g_e: float
    g_h: float
    orbital_zeeman: bool
    E_Xp_R: float = float("nan")

    def as_json(self) -> dict:
        """CLI contract keys: Eg_eV, gap_M_eV, gap_X_eV, Delta_so_eV, m_e, m_h, g_e, g_h."""
        d = asdict(self)
        return {
            "Eg_eV": d["Eg"], "gap_M_eV": d["gap_M"], "gap_X_eV": d["gap_X"],
            "Delta_so_eV": d["Delta_so"], "m_e": d["m_e"], "m_h": d["m_h"],
            "g_e": d["g_e"], "g_h": d["g_h"],
        }


def _mass(params: EtbParameters, band: int, kR: np.ndarray, h: float = 0.02) -> float:
    """|m|/m0 of the doublet starting at ``band`` at R from a 4th-order finite difference along [100]."""
    e = np.array([1.0, 0.0, 0.0])

    def En(t):
        w = np.linalg.eigvalsh(bloch_hamiltonian(params, kR + t * e))
        return 0.5 * (w[band] + w[band + 1])

    f0 = En(0.0)
    d2 = (-En(2 * h) + 16 * En(h) - 30 * f0 + 16 * En(-h) - En(-2 * h)) / (12 * h * h)
    return float(abs(HBAR2_OVER_M0 / d2))


#: Smallest bulk gap at R (eV) the NC solvers accept: their shifts sit 50 meV inside each band edge.
MIN_GAP_EV = 0.15


def check_band_edges(params: EtbParameters, E: np.ndarray, V: np.ndarray) -> None:
    """Refuse a set whose bulk band edges at R are not those of a lead-halide perovskite.

    The valence-band top must be the s-like R6+ doublet (Pb 6s antibonding with halide p: Pb-p weight
    < 0.2) and the conduction-band bottom the p-like J = 1/2 R6− doublet (Pb-p weight > 0.5), with a gap
    of at least :data:`MIN_GAP_EV` (Even et al., J. Phys. Chem. Lett. 4, 2999 (2013); Kirstein et al.,
    Nat. Commun. 13, 3062 (2022)).

    Parameters
    ----------
    params : EtbParameters
    E : ndarray of float64, shape (4 n_orb,)
        Eigenvalues of H(R) (eV), ascending.
    V : ndarray of complex128, shape (4 n_orb, 4 n_orb)
        Eigenvectors (columns); atom order Pb, X1, X2, X3, spin-orbitals orbital-major.

    Raises
    ------
    ParameterError
        One line naming the set and the gap (eV) or the orbital weights.
    """
    v, c = N_FILLED - 1, N_FILLED
    gap = float(E[c] - E[v])
    name = f"{params.material} {params.parameter_set}"
    if gap < MIN_GAP_EV:
        raise ParameterError(f"bulk gap of {name} at R is {gap:.3g} eV; the model needs a positive gap "
                             f"of at least {MIN_GAP_EV} eV (check E_p_Pb and the spin–orbit λ)")
    pb_p = slice(2, 8)  # spin-orbitals of Pb px, py, pz
    w_vb = float(np.sum(np.abs(V[pb_p, v - 1:v + 1]) ** 2) / 2)
    w_cb = float(np.sum(np.abs(V[pb_p, c:c + 2]) ** 2) / 2)
    if w_vb > 0.2 or w_cb < 0.5:
        raise ParameterError(f"band edges of {name} at R are inverted: Pb-p weight {w_vb:.2f} in the valence-band "
                             f"top (s-like needs < 0.2) and {w_cb:.2f} in the conduction-band bottom (needs > 0.5)")


def bulk_properties(params: EtbParameters, *, orbital_zeeman: bool = False) -> BulkProperties:
    """Band gaps, CB spin–orbit splitting, masses and g-factors at R.

    Parameters
    ----------
    params : EtbParameters
    orbital_zeeman : bool, optional
        Include the on-site L·B Zeeman term in g (default off).

    Returns
    -------
    BulkProperties

    Raises
    ------
    DegeneracyError
        If the band-edge levels at R do not have the expected 2/2/4 degeneracies.
    ParameterError
        Gap below :data:`MIN_GAP_EV` or inverted band edges (:func:`check_band_edges`).
    """
    a = params.a
    kR = high_symmetry_point("R", a)
    HR = bloch_hamiltonian(params, kR)
    ER = np.linalg.eigvalsh(HR)  # eigenvalues exactly as before the character check (fits depend on them)
    v, c = N_FILLED - 1, N_FILLED
    check_band_edges(params, *np.linalg.eigh(HR))
    if not (abs(ER[v] - ER[v - 1]) < 1e-8 and abs(ER[c + 1] - ER[c]) < 1e-8 and np.ptp(ER[c + 2 : c + 6]) < 1e-6):
        raise DegeneracyError(
            f"unexpected level structure at R for {params.parameter_set}: {ER[v - 1 : c + 6]} eV"
        )
    gaps = {}
    for name in ("M", "X"):
        Ek = np.linalg.eigvalsh(bloch_hamiltonian(params, high_symmetry_point(name, a)))
        gaps[name] = float(Ek[c] - Ek[v])
    ge = bulk_g(params, c, k=kR, orbital_zeeman=orbital_zeeman)
    gh = bulk_g(params, v - 1, k=kR, orbital_zeeman=orbital_zeeman)
    return BulkProperties(
        Eg=float(ER[c] - ER[v]), gap_M=gaps["M"], gap_X=gaps["X"],
        Delta_so=float(np.mean(ER[c + 2 : c + 6]) - ER[c]), E_vbm=float(ER[v]),
        m_e=_mass(params, c, kR), m_h=_mass(params, v - 1, kR),
        g_e=ge.g, g_h=gh.g, orbital_zeeman=orbital_zeeman, E_Xp_R=float(ER[v - 2] - ER[v]),
    )
