r"""Screening models of the carrier–carrier interaction for the exciton layer.

Three models, switch ``screening`` (:data:`SCREENING_MODELS`):

``"epsilon-inf"`` (default)
    Static high-frequency permittivity ε∞ inside the NC (the ε_in of today's Coulomb step,
    :mod:`.dielectric`), dielectric mismatch with ε_out. Appropriate when the Coulomb energies exceed
    the LO-phonon energy (strong confinement).
``"epsilon-0"``
    Static permittivity ε_s (lattice included) inside the NC, same ε_out.
``"polaron"``
    The Haken potential between polaron-dressed carriers i, j of charges q_i, q_j (H. Haken, Z. Phys.
    146, 527 (1956); Fortschr. Phys. 6, 271 (1958); discussed by Pollmann & Büttner, PRB 16, 4480
    (1977)):

    .. math::
        V_{ij}(r) = \frac{q_i q_j e^2}{4\pi\varepsilon_0 r}\Big[\frac1{\varepsilon_s}
            + \frac{e^{-r/\ell_i} + e^{-r/\ell_j}}{2\,\varepsilon^*}\Big],\qquad
        \frac1{\varepsilon^*} = \frac1{\varepsilon_\infty} - \frac1{\varepsilon_s},\qquad
        \ell_i = \sqrt{\hbar/(2 m_i\omega_{LO})},

    → e²/(ε∞ r) for r ≪ ℓ (e–h pair; the lattice cannot follow) and e²/(ε_s r) for r ≫ ℓ.
    Implemented as the ε_s operator of the NC in its host (homogeneous + image part) plus the
    short-range Yukawa term (e^{-r/ℓ}/r)/ε* convolved on the same node grid **without images**
    (approximation: the polaron correction is short-ranged, ℓ ≈ 2–4 nm, and its image is neglected).

Exchange (transition) densities are screened by ε∞ in every model: the e–h exchange is an
interband process at the optical frequency, which the lattice does not follow.

Constants: ε∞ from :mod:`.dielectric` (context), ε_s and the LO frequency from
``parameters/excitons.toml`` (sources in ``references_excitons.toml``), masses the bulk band masses of
the solved model's parameter set (``Terms.band_masses``: ETB :func:`perovskite_tb.model.bulk.bulk_properties`,
k·p the 8-band masses at R, equal to the ETB ones for the ETB-derived k·p sets). A constant tagged MISSING
makes the model refuse with one line naming it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft as sfft

from perovskite_tb.constants import HBAR2_OVER_2M0
from perovskite_tb.errors import InputError
from perovskite_tb.model.materials import parameter_table
from perovskite_tb.observables import _poisson as P

__all__ = [
    "SCREENING_MODELS",
    "Screening",
    "check_screening",
    "load_exciton_table",
    "screening_for",
    "yukawa_kernel_fft",
    "yukawa_potential",
]

#: Accepted values of the ``screening`` switch.
SCREENING_MODELS = ("epsilon-inf", "epsilon-0", "polaron")

#: h·1 THz in eV.
_THZ_EV = 4.135667696e-3


@dataclass(frozen=True)
class Screening:
    """One screening model with its constants.

    Attributes
    ----------
    name : str
        One of :data:`SCREENING_MODELS`.
    eps_direct : float
        ε_in of the grid operator of the direct (density–density) terms: ε∞ or ε_s.
    eps_inf : float
        ε∞ (exchange densities, local-field factor).
    eps_out : float
        Host permittivity.
    ell_nm : tuple of 2 float or None
        Polaron radii (ℓ_e, ℓ_h) in nm (``"polaron"`` only).
    eps_star : float or None
        ε* = 1/(1/ε∞ − 1/ε_s) (``"polaron"`` only).
    hbar_omega_LO_eV : float or None
    sources : dict
        Name → source key of each constant used.
    """

    name: str
    eps_direct: float
    eps_inf: float
    eps_out: float
    ell_nm: tuple | None = None
    eps_star: float | None = None
    hbar_omega_LO_eV: float | None = None
    sources: dict | None = None


def check_screening(name) -> str:
    """Validate a screening name.

    Raises
    ------
    InputError
        Unknown name (one line with the accepted values).
    """
    if name not in SCREENING_MODELS:
        raise InputError(
            f"screening must be one of {', '.join(SCREENING_MODELS)}, got {name!r}"
        )
    return name


@lru_cache(maxsize=1)
def load_exciton_table() -> dict:
    """Read and cache ``parameters/excitons.toml``.

    Raises
    ------
    ParameterError
        Missing or malformed file.
    """
    return parameter_table("excitons.toml")


def _constant(material: str, key: str, model: str) -> tuple[float, str]:
    t = load_exciton_table().get(material, {}).get(key)
    if t is None or t.get("tag") == "MISSING" or "value" not in t:
        raise InputError(
            f"screening {model!r} needs {key} of {material}, which is [MISSING] in "
            "parameters/excitons.toml (no cited value)"
        )
    return float(t["value"]), str(t.get("source", ""))


def screening_for(name: str, material: str, eps_in: float, eps_out: float, masses=None) -> Screening:
    """Constants of screening model ``name`` for ``material``.

    Parameters
    ----------
    name : str
        One of :data:`SCREENING_MODELS`.
    material : str
        ``"CsPbI3"``, ``"CsPbBr3"``, …
    eps_in, eps_out : float
        ε∞ of the NC and ε of the host (the context's dielectric pair).
    masses : (float, float), optional
        Band masses (m_e, m_h) in m0 (``"polaron"`` only).

    Raises
    ------
    InputError
        Unknown model, bad ε or masses, a constant tagged MISSING (one line naming it).
    """
    check_screening(name)
    for v, what in ((eps_in, "epsilon_in"), (eps_out, "epsilon_out")):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise InputError(f"{what} must be a positive finite number, got {v!r}")
    if name == "epsilon-inf":
        return Screening(name, float(eps_in), float(eps_in), float(eps_out), sources={})
    eps_s, src = _constant(material, "eps_static", name)
    if not eps_s > eps_in:
        raise InputError(f"static epsilon {eps_s} of {material} must exceed epsilon_inf {eps_in}")
    if name == "epsilon-0":
        return Screening(name, eps_s, float(eps_in), float(eps_out), sources={"eps_static": src})
    f_lo, src_f = _constant(material, "f_LO", name)
    if masses is None or len(masses) != 2 or not all(
        math.isfinite(float(m)) and float(m) > 0 for m in masses
    ):
        raise InputError(f"polaron screening needs two positive band masses (m0), got {masses!r}")
    hw = f_lo * _THZ_EV
    ell = tuple(math.sqrt(HBAR2_OVER_2M0 / (float(m) * hw)) for m in masses)
    eps_star = 1.0 / (1.0 / eps_in - 1.0 / eps_s)
    return Screening(name, eps_s, float(eps_in), float(eps_out), ell_nm=ell, eps_star=eps_star,
                     hbar_omega_LO_eV=hw, sources={"eps_static": src, "f_LO": src_f,
                                                   "masses": "bulk band masses of the model's set (DER)"})


def yukawa_kernel_fft(shape, h: float, ell: float) -> np.ndarray:
    r"""rfftn of the node kernel of e^{-r/ℓ}/r (times h), circularly embedded for windows ``shape``.

    Written as the cell-averaged 1/r kernel of :func:`._poisson.cube_kernel` minus the smooth
    (1 − e^{-r/ℓ})/r (value 1/ℓ at r = 0), so the on-node singularity is treated as in the Coulomb
    operator.

    Parameters
    ----------
    shape : tuple of 3 int
        Node window.
    h : float
        Node spacing (nm).
    ell : float
        Screening length (nm, > 0).
    """
    shape = tuple(int(n) for n in shape)
    half = P.cube_kernel(shape)  # dimensionless: h·⟨1/r⟩
    ax = [np.arange(n) * h for n in shape]
    X = np.meshgrid(*ax, indexing="ij")
    r = np.sqrt(X[0] ** 2 + X[1] ** 2 + X[2] ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        smooth = np.where(r > 0, -np.expm1(-r / ell) / np.where(r > 0, r, 1.0), 1.0 / ell)
    k = half - h * smooth
    idx = [np.concatenate([np.arange(n), [0], np.arange(n - 1, 0, -1)]) for n in shape]
    return sfft.rfftn(k[np.ix_(*idx)])


def yukawa_potential(q: np.ndarray, h: float, kernel_fft: np.ndarray) -> np.ndarray:
    """Σ_j q(j) e^{-r_ij/ℓ}/r_ij (1/nm) of real node charges ``q`` (shape of the window), open boundaries."""
    return P.free_space_potential(q, h, kernel_fft)
