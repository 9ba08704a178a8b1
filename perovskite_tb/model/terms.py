r"""The model protocol: every model (ETB, k·p) hands the eigen layer one :class:`Terms`.

A model is solved as the (generalised) Hermitian eigenproblem :math:`H_0 c = E S c` near its gap;
its Zeeman response is :math:`H(\mathbf B) = H_0 + \sum_\gamma B_\gamma M_\gamma + O(B^2)` and the
sign of g comes from the total angular momentum :math:`J_\gamma` (:mod:`perovskite_tb.gfactor`).
:class:`Terms` carries these matrices plus what the eigen layer needs to solve them without knowing
the model: the number of states below the gap (checked by the inertia of :math:`H_0-\sigma S`), the
bulk band edges (where to put the shifts), and the basis symmetry (:class:`Symmetry`: the graph for
the fill-reducing ordering, the point operations, time reversal Θ).

:func:`etb_terms` adapts the ETB assembler (:func:`perovskite_tb.model.hamiltonian.assemble`);
:func:`kp.confinement.assemble` returns a :class:`Terms` subclass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from perovskite_tb.model.bulk import bulk_properties
from perovskite_tb.model.geometry import Structure
from perovskite_tb.model.hamiltonian import HamiltonianTerms, assemble
from perovskite_tb.model.materials import EtbParameters

__all__ = ["Symmetry", "Terms", "etb_terms", "terms_from_hamiltonian", "bulk_edges", "spin_minor_theta",
           "ETB_EDGE_MARGIN_EV"]

#: Distance (eV) of the ETB solver shifts inside the bulk gap from each bulk band edge: confinement
#: pushes the NC levels outward, so (E_vbm + 0.05, E_cbm − 0.05) lie in every NC gap (the inertia
#: check proves it for each solve and falls back to mid-gap otherwise).
ETB_EDGE_MARGIN_EV = 0.05


def spin_minor_theta(n: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Time reversal :math:`\Theta = (1\otimes -i\sigma_y)K` of a spin-minor basis as (target, phase).

    Basis state 2j is spin ↑ and 2j+1 spin ↓ of the same real orbital j. The pair means
    :math:`(\Theta v)[\mathrm{target}_i] = \mathrm{phase}_i\,v_i^*`.

    Parameters
    ----------
    n : int
        Dimension (even).

    Returns
    -------
    (ndarray of int64 (n,), ndarray of complex128 (n,))
    """
    i = np.arange(n, dtype=np.int64)
    target = i ^ 1
    phase = np.where(i % 2 == 0, 1.0, -1.0).astype(np.complex128)
    return target, phase


@dataclass(frozen=True, eq=False)
class Symmetry:
    """Symmetry data of a basis, read by :func:`perovskite_tb.eigen.band_edges.blocks_for`.

    Attributes
    ----------
    groups : ndarray of int64, shape (n,)
        Vertex of every basis state in the ordering graph (atom for ETB, envelope function for k·p);
        all states of a vertex stay together in the nested-dissection order.
    positions : ndarray of float64, shape (n_sites, 3), optional
        Site positions (nm) about the symmetry centre: the point operations are found from the
        sites (:func:`perovskite_tb.eigen.symmetry.symmetry_blocks`); needs ``orbitals_per_site``.
    orbitals_per_site : int, optional
        Spin-orbitals per site (ETB ``n_orb``), orbital-major, spin-minor.
    actions : tuple, optional
        Monomial generators ``(name, target, phase, order)`` of
        :func:`perovskite_tb.eigen.symmetry.blocks_from_actions` (k·p), used when ``positions`` is None.
    theta : (ndarray of int64 (n,), ndarray of complex128 (n,)), optional
        Time reversal as (target, phase) (:func:`spin_minor_theta`); None means the spin-minor layout.
    species : ndarray of int64, shape (n_sites,), optional
        Species per site: only species-preserving operations are detected.
    """

    groups: np.ndarray
    positions: np.ndarray | None = None
    orbitals_per_site: int | None = None
    actions: tuple = ()
    theta: tuple | None = None
    species: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class Terms:
    """One model's matrices and the facts the eigen layer needs (the model protocol).

    Attributes
    ----------
    H0 : scipy.sparse.csr_array of complex128, shape (n, n)
        Zero-field Hamiltonian (eV).
    M : tuple of 3 csr_array of complex128, shape (n, n)
        :math:`\\partial H/\\partial B_\\gamma` at B = 0 (eV/T), γ = x, y, z.
    J : tuple of 3 csr_array of complex128, shape (n, n)
        Total angular momentum (ħ) for the sign of g.
    S : csr_array of complex128, shape (n, n), or None
        Overlap of a non-orthogonal basis (k·p Legendre–Galerkin); None for an orthonormal basis.
    n_fill : int
        States below the gap: the inertia of :math:`H_0-\\sigma S` at any σ in the gap must equal it
        (ETB: filled spin-orbitals; k·p: dimension of the valence-band space).
    structure : object
        The model's geometry (ETB :class:`~perovskite_tb.model.geometry.Structure`; k·p
        :class:`kp.envelope.EnvelopeBasis`); ``n_cells`` and ``edge_nm`` are read if present.
    model : str
        ``"etb"`` or ``"kp"``.
    params : object
        The parameter set.
    edge_hint : (float, float)
        Bulk band edges (E_vbm, E_cbm) in eV on the model's energy scale.
    edge_margin : float
        The solver shifts are (E_vbm + edge_margin, E_cbm − edge_margin) (eV).
    symmetry : Symmetry
    dense_max_states : int
        ``solver="auto"`` diagonalises densely up to this dimension (0: never).
    """

    H0: sp.csr_array
    M: tuple
    J: tuple
    S: sp.csr_array | None
    n_fill: int
    structure: object
    model: str = "etb"
    params: object = None
    edge_hint: tuple = (0.0, 0.0)
    edge_margin: float = ETB_EDGE_MARGIN_EV
    symmetry: Symmetry | None = field(default=None)
    dense_max_states: int = 0

    @property
    def n_states(self) -> int:
        """Matrix dimension n."""
        return int(self.H0.shape[0])

    @property
    def midgap(self) -> float:
        """Middle of the bulk gap (eV): the fallback shift."""
        lo, hi = self.edge_hint
        return float(lo + 0.5 * (hi - lo))

    @property
    def edge_shifts(self) -> tuple[float, float]:
        """Solver shifts (σ_h, σ_e) = (E_vbm + margin, E_cbm − margin) in eV."""
        lo, hi = self.edge_hint
        return (float(lo + self.edge_margin), float(hi - self.edge_margin))

    @property
    def band_masses(self) -> tuple[float, float]:
        """Bulk band-edge masses (m_e, m_h) of the parameter set, in m0 (ETB:
        :func:`perovskite_tb.model.bulk.bulk_properties`; k·p overrides it with its 8-band masses).

        Read by model-independent observables (the polaron radii of :mod:`perovskite_tb.observables.screening`).
        """
        b = bulk_properties(self.params)
        return (float(b.m_e), float(b.m_h))


@lru_cache(maxsize=32)
def bulk_edges(params: EtbParameters) -> tuple[float, float]:
    """Bulk (E_vbm, E_cbm) at R of an ETB set (eV), from :func:`perovskite_tb.model.bulk.bulk_properties`."""
    b = bulk_properties(params)
    return (float(b.E_vbm), float(b.E_vbm + b.Eg))


def terms_from_hamiltonian(ht: HamiltonianTerms) -> Terms:
    """The :class:`Terms` view of assembled ETB matrices (no copies).

    Parameters
    ----------
    ht : HamiltonianTerms

    Returns
    -------
    Terms
        ``S = None`` (orthogonal ETB basis), ``n_fill`` = filled spin-orbitals of the structure and its
        termination, ``symmetry.species`` = the termination's symmetry labels
        (:meth:`perovskite_tb.model.termination.SurfaceTerm.symmetry_labels`), ``edge_hint`` = bulk edges of the set at R
        (Nestoklon, Comput. Mater. Sci. 196, 110535 (2021)).
    """
    n_orb = ht.params.n_orb
    n = int(ht.H0.shape[0])
    sym = Symmetry(groups=np.arange(n, dtype=np.int64) // n_orb, positions=ht.structure.positions,
                   orbitals_per_site=n_orb, species=ht.surface.symmetry_labels())
    return Terms(H0=ht.H0, M=ht.M, J=ht.J, S=None, n_fill=ht.n_fill, structure=ht.structure, model="etb",
                 params=ht.params, edge_hint=bulk_edges(ht.params), edge_margin=ETB_EDGE_MARGIN_EV,
                 symmetry=sym, dense_max_states=0)


def etb_terms(params: EtbParameters, structure: Structure, orbital_zeeman: bool = False,
              termination=None) -> Terms:
    """Assemble the ETB model of ``structure`` and return its :class:`Terms`.

    Parameters
    ----------
    params : EtbParameters
    structure : Structure
        Positions in nm about the NC centre (the gauge origin).
    orbital_zeeman : bool, optional
        Include the on-site μB L·B term (default False).
    termination : str or TerminationSpec, optional
        Surface termination (:mod:`perovskite_tb.model.termination`); None: pbx6.

    Returns
    -------
    Terms

    Raises
    ------
    InputError
        Lattice constant of the structure differs from the set's; bad termination.
    """
    return terms_from_hamiltonian(assemble(structure, params, orbital_zeeman=orbital_zeeman,
                                           termination=termination))
