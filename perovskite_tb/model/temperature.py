r"""Temperature dependence of ETB (and k·p) parameter sets (Meliakov et al., Nanoscale 16, 21496 (2024)).

Meliakov et al., Nanoscale 16, 21496 (2024) (doi:10.1039/d4nr03132f, citation key ``meliakov2024``)
shift the Pb p on-site energy :math:`E_{pc}` (field ``E_p_Pb``) so that the bulk CsPbI3 gap follows

.. math::  E_g(T) = E_g(T_\mathrm{ref}) + \frac{dE_g}{dT}\,(T - T_\mathrm{ref}),
           \qquad \frac{dE_g}{dT} = +3.1\times10^{-4}\ \mathrm{eV/K},

and scale the lattice constant, :math:`a(T) = a_0[1 + \alpha(T - T_\mathrm{ref})]`,
:math:`\alpha = 3.39\times10^{-5}\ \mathrm{K^{-1}}`. Which rule they used for the two-centre
integrals is not stated [not stated in Meliakov et al. 2024]; two consistent rules are offered (``rule=``):

``"a"`` (**default**) — hoppings fixed, geometry scaled.
    :math:`V_{ij}(T) = V_{ij}(T_\mathrm{ref})`; :math:`E_{pc}` is re-tuned (Newton on the bulk ETB
    gap at R) to the target :math:`E_g(T)`. With fixed hoppings the bulk eigenvalues at R do not
    depend on *a*, so :math:`E_{pc}` alone carries the gap shift (this gives ΔE_pc ≈ +3.4×10⁻⁴ eV/K for the
    2021 set). An NC of N cells grows with *a*, which changes only the magnetic flux per cell
    (Peierls phases) and the edge in nm.
    Default because it changes exactly the two things the paper says it changes (E_pc and a).
``"b"`` — Harrison scaling.
    Every two-centre integral scales as :math:`V_{ij}(T) = V_{ij}(T_\mathrm{ref})\,
    [a_0/a(T)]^{\eta}` with :math:`\eta` = ``hopping_exponent`` of the parameter file (Harrison's
    :math:`d^{-2}`, η = 2), and :math:`E_{pc}` is re-tuned so that the gap still follows the stated
    slope (the expansion alone would raise it by ≈ 4.4×10⁻⁴ eV/K, so ΔE_pc comes out negative).

Lattice hypotheses of issue 21 (item 3), each a rule that still reproduces the same bulk :math:`E_g(T)`
(the measured slope) and differs in *where* the change sits (hoppings fixed and a scaled, as in rule a):

``"vb"`` — the whole gap change on the valence side.
    The VBM (antibonding Pb s – X p) falls by ΔE_g, the CBM stays: two knobs, E_pc (CB) and the Pb s
    on-site energy E_sc (the VBM's antibonding partner), Newton on the absolute R-point edges.
``"foley"`` — the band-edge split measured in MAPbI3 (Foley et al., Appl. Phys. Lett. 106, 243904 (2015):
    VBM −110 meV, CBM −77 meV from 28 to 85 °C, abstract), used as ratios:
    :math:`\Delta E_\mathrm{VBM} = -(110/33)\,\Delta E_g`, :math:`\Delta E_\mathrm{CBM} = -(77/33)\,\Delta E_g`
    (same two knobs). Energies are relative to the set's on-site zero (the X levels stay). A MAPbI3 split,
    not a CsPbI3 one (``parameters/temperature_models.toml``).
``"dw"`` — Debye–Waller hoppings (electron–phonon, first order; Allen & Heine, J. Phys. C 9, 2305 (1976)).
    Every nearest-neighbour integral is averaged over the thermal displacements of its two atoms
    (Debye MSD, :mod:`perovskite_tb.model.disorder`) with the set's d^-η scaling, then E_pc is re-tuned to
    the target gap as in rule a.

:data:`RULE_INFO` names each rule in one line with its sources (recorded with results).

Both rules a and b give the same bulk gap :math:`E_g(T)`; they differ in the interband momentum. The velocity
:math:`\partial H/\partial k` scales as *a*·V, so the Kane energy :math:`E_p \propto (aV)^2` scales as
:math:`[a(T)/a_0]^{2-2\eta'}` with η' = 0 (rule a) or η' = η (rule b) — see :func:`kane_energy_scale`
(≈ ±0.8 % at 120 K, which moves g_e by a few 10⁻² because g_e − g0 ∝ E_p/E_g).

Coefficients (``dEg_dT``, ``thermal_expansion``, ``hopping_exponent``) come from the parameter
file's ``[temperature]`` table, each with a citation key; ``reference_temperature_K`` from ``[meta]``.

For the k·p model (:mod:`kp`, which keeps its own ``dEg_dT`` in ``parameters/CsPbX3.kp.toml``) the
same model reduces to :func:`gap_shift_eV` (ΔEg), :func:`lattice_scale` (a(T)/a_0, for the edge of
an NC of fixed cell count) and :func:`kane_energy_scale` (E_p(T)/E_p(T_ref) for a rule); any object
with the attributes of :class:`TemperatureCoefficients` (missing ones default to 0 / 2) is accepted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import lru_cache

from perovskite_tb._system import blas_threads
from perovskite_tb.errors import InputError, ParameterError, SolverError
from perovskite_tb.model.materials import SECOND_NEIGHBOUR_NAMES, TWO_CENTRE_NAMES, EtbParameters

__all__ = [
    "RULES",
    "RULE_INFO",
    "edge_shares",
    "bulk_edges",
    "DEFAULT_RULE",
    "TemperatureCoefficients",
    "check_temperature",
    "gap_shift_eV",
    "lattice_scale",
    "kane_energy_scale",
    "parameters_at",
    "bulk_gap",
]

#: Known temperature rules (module docstring).
RULES = ("a", "b", "vb", "foley", "dw")
#: One line per rule: what carries E_g(T), with sources (stored with results that name the rule).
RULE_INFO = {
    "a": "E_g(T) in E_pc (Pb p), hoppings fixed, a(T) (Meliakov et al., Nanoscale 16, 21496 (2024))",
    "b": "E_g(T) with hoppings ∝ d^-η (Harrison 1980) and E_pc re-tuned (Meliakov 2024 coefficients)",
    "vb": "E_g(T) on the valence side: VBM −ΔE_g via E_sc (Pb s), CBM fixed; hoppings fixed, a(T)",
    "foley": "band edges ΔE_VBM = −(110/33)ΔE_g, ΔE_CBM = −(77/33)ΔE_g (Foley et al., APL 106, 243904 (2015), "
             "MAPbI3) via E_sc and E_pc; hoppings fixed, a(T)",
    "dw": "Debye–Waller hoppings: NN integrals averaged over Debye MSD(T) − MSD(T_ref) (Allen & Heine 1976; "
          "Θ_D = ħω_LO/k_B derived from Wright et al. 2016), then E_pc re-tuned to E_g(T)",
}
#: Rules whose hoppings are fixed and whose Kane energy therefore scales as rule a's.
_FIXED_HOPPING = ("a", "vb", "foley")
#: Rules that place the gap change by absolute band-edge targets (two knobs: E_pc and E_sc).
_EDGE_RULES = ("vb", "foley")
#: Default rule: hoppings fixed, geometry scaled, E_pc re-tuned (module docstring says why).
DEFAULT_RULE = "a"

#: Newton tolerance on the bulk gap when re-tuning E_pc (eV): far below any physical scale here.
_GAP_TOL_EV = 1e-10


@dataclass(frozen=True)
class TemperatureCoefficients:
    """Linear temperature model shared by the ETB and k·p models.

    Attributes
    ----------
    dEg_dT : float
        Bulk band-gap slope (eV/K).
    thermal_expansion : float
        Linear expansion coefficient :math:`(1/a_0)\\,da/dT` (1/K).
    reference_temperature_K : float
        Temperature at which the set's values hold (K).
    hopping_exponent : float
        η of :math:`V \\propto d^{-\\eta}` for rule "b" (1); Harrison: 2.
    """

    dEg_dT: float = 0.0
    thermal_expansion: float = 0.0
    reference_temperature_K: float = 0.0
    hopping_exponent: float = 2.0

    @classmethod
    def of(cls, obj) -> "TemperatureCoefficients":
        """Coefficients of ``obj``: a TemperatureCoefficients, an EtbParameters, a KpParameters or a mapping.

        Missing attributes (or ``None``) fall back to the dataclass defaults, e.g. a k·p set has no
        ``thermal_expansion`` (→ 0) and its Eg is the T → 0 value (``reference_temperature_K`` → 0).

        Raises
        ------
        ParameterError
            If a present coefficient is not a finite number.
        """
        if isinstance(obj, cls):
            return obj
        get = obj.get if isinstance(obj, dict) else (lambda k, d=None: getattr(obj, k, d))
        kw = {}
        for f in fields(cls):
            v = get(f.name, None)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ParameterError(f"temperature coefficient {f.name} must be a finite number, got {v!r}")
            kw[f.name] = float(v)
        return cls(**kw)


#: Highest temperature the linear rules are used at (K); the same bound as a set's reference temperature.
T_MAX_K = 1000.0


def check_temperature(T_K) -> float:
    """Validate a temperature and return it as float (K).

    Raises
    ------
    InputError
        Not a real number (strings, None, bool, complex), NaN/inf, negative, or above
        :data:`T_MAX_K`.
    """
    if isinstance(T_K, (bool, str, bytes)) or T_K is None:
        raise InputError(f"temperature must be a number in K, got {T_K!r}")
    try:
        T = float(T_K)
    except (TypeError, ValueError):
        raise InputError(f"temperature must be a number in K, got {T_K!r}") from None
    if not math.isfinite(T) or T < 0:
        raise InputError(f"temperature must be finite and >= 0 K, got {T:.6g} K")
    if T > T_MAX_K:
        raise InputError(f"temperature {T:.6g} K is above {T_MAX_K:g} K, beyond the linear temperature rules "
                         "of this package (dEg/dT and da/dT are measured at 6–300 K)")
    return T


def _check_rule(rule: str) -> str:
    if rule not in RULES:
        raise InputError(f"unknown temperature rule {rule!r} (known: {', '.join(RULES)})")
    return rule


def gap_shift_eV(params_or_coeffs, T_K) -> float:
    r"""Bulk band-gap shift :math:`E_g(T) - E_g(T_\mathrm{ref}) = (dE_g/dT)(T - T_\mathrm{ref})` (eV).

    Parameters
    ----------
    params_or_coeffs : EtbParameters, KpParameters, TemperatureCoefficients or dict
        Anything with ``dEg_dT`` (eV/K) and optionally ``reference_temperature_K`` (K, default 0).
    T_K : float
        Temperature (K), finite and ≥ 0.

    Returns
    -------
    float
        ΔEg (eV).

    Raises
    ------
    InputError
        Invalid temperature.

    References
    ----------
    meliakov2024 (dEg/dT = +3.1e-4 eV/K for CsPbI3).
    """
    c = TemperatureCoefficients.of(params_or_coeffs)
    return c.dEg_dT * (check_temperature(T_K) - c.reference_temperature_K)


def lattice_scale(params_or_coeffs, T_K) -> float:
    r"""Lattice-constant ratio :math:`a(T)/a_0 = 1 + \alpha (T - T_\mathrm{ref})` (dimensionless).

    Use it for the edge of an NC with a fixed number of cells: :math:`L(T) = N a_0\,` ``lattice_scale``.

    Raises
    ------
    InputError
        Invalid temperature.
    """
    c = TemperatureCoefficients.of(params_or_coeffs)
    return 1.0 + c.thermal_expansion * (check_temperature(T_K) - c.reference_temperature_K)


def kane_energy_scale(params_or_coeffs, T_K, *, rule: str = DEFAULT_RULE) -> float:
    r"""Kane-energy ratio :math:`E_p(T)/E_p(T_\mathrm{ref})` implied by a temperature rule.

    Notes
    -----
    The interband velocity :math:`\partial H/\partial k` of a nearest-neighbour model is linear in the
    bond length times the hoppings, :math:`P \propto a V`, so

    .. math::  E_p(T)/E_p(T_\mathrm{ref}) = s^{2}\ \text{(rules a, vb, foley)},\qquad
               s^{2 - 2\eta}\ \text{(rule b)},\qquad s = a(T)/a_0 .

    This is what the ETB implies; a k·p model that keeps E_p fixed corresponds to neither rule
    exactly (the difference at 120 K is ≈ 0.8 % of E_p).

    Raises
    ------
    InputError
        Invalid temperature or rule.
    """
    c = TemperatureCoefficients.of(params_or_coeffs)
    s = lattice_scale(c, T_K)
    if _check_rule(rule) == "dw":
        raise InputError("temperature rule 'dw' changes the ETB hoppings by an average over displacements; "
                         "it has no k·p Kane-energy scaling (use rules a, b, vb or foley with the k·p model)")
    return s**2 if rule in _FIXED_HOPPING else s ** (2.0 - 2.0 * c.hopping_exponent)


@lru_cache(maxsize=256)
def bulk_gap(params: EtbParameters) -> float:
    """Bulk ETB gap at R (eV): E(band N_FILLED) − E(band N_FILLED − 1)."""
    import numpy as np

    from perovskite_tb.model.bulk import N_FILLED, bloch_hamiltonian, high_symmetry_point

    with blas_threads(1):  # 80×80 bulk problems: threads only cost time
        E = np.linalg.eigvalsh(bloch_hamiltonian(params, high_symmetry_point("R", params.a)))
    return float(E[N_FILLED] - E[N_FILLED - 1])


def parameters_at(params: EtbParameters, T_K, *, rule: str = DEFAULT_RULE) -> EtbParameters:
    r"""ETB parameter set at temperature ``T_K``.

    Parameters
    ----------
    params : EtbParameters
        Set at its reference temperature ``params.reference_temperature_K`` (K).
    T_K : float
        Temperature (K), finite and ≥ 0.
    rule : {"a", "b", "vb", "foley", "dw"}
        ``"a"`` (default): hoppings fixed; ``"b"``: two-centre integrals ∝ d^-η; ``"vb"``, ``"foley"``:
        band-edge partition of ΔE_g (E_sc and E_pc); ``"dw"``: Debye–Waller-averaged hoppings (module docstring).

    Returns
    -------
    EtbParameters
        ``params`` itself if ``T_K`` equals the reference temperature; otherwise a new frozen set
        with ``a`` = a(T), ``E_p_Pb`` re-tuned, (rule b) scaled two-centre integrals, and
        ``reference_temperature_K = T_K``. Its bulk gap is Eg(T_ref) + dEg/dT·(T − T_ref) to 1e-10 eV.

    Raises
    ------
    InputError
        Negative, non-finite or non-numeric temperature; unknown rule.
    ParameterError
        If the set has no temperature coefficients but T ≠ T_ref.
    SolverError
        If the E_pc re-tuning does not converge.

    Notes
    -----
    Applying the function twice (T_ref → T1 → T2) reproduces the gap of a direct T_ref → T2 call
    exactly, and ``a`` to second order in αΔT (the lattice law is linear in T about each reference).

    References
    ----------
    meliakov2024 (dEg/dT, α); harrison1980 (d^-2 scaling, rule b): W. A. Harrison, Electronic Structure and the Properties of Solids (1980).
    """
    T = check_temperature(T_K)
    _check_rule(rule)
    if T == params.reference_temperature_K:
        return params
    return _parameters_at(params, T, rule)


@lru_cache(maxsize=128)
def _parameters_at(params: EtbParameters, T: float, rule: str) -> EtbParameters:
    """Cached core of :func:`parameters_at` (inputs validated; frozen in, frozen out)."""
    if params.dEg_dT == 0 and params.thermal_expansion == 0:
        raise ParameterError(
            f"parameter set {params.parameter_set} has no [temperature] coefficients; cannot evaluate at {T} K"
        )
    target = bulk_gap(params) + gap_shift_eV(params, T)
    s = lattice_scale(params, T)
    changes = {"a": params.a * s, "reference_temperature_K": T}
    if rule == "b":
        f = s ** (-params.hopping_exponent)
        changes.update({n: getattr(params, n) * f for n in TWO_CENTRE_NAMES + SECOND_NEIGHBOUR_NAMES})
    if rule == "dw":
        from perovskite_tb.model.disorder import debye_waller_parameters

        changes.update({n: v for n, v in debye_waller_parameters(params, T)[0].values().items()
                        if n in TWO_CENTRE_NAMES})
    trial = params.replace(**changes)
    if rule in _EDGE_RULES:
        return _edge_retune(params, trial, T, rule)
    Epc = params.E_p_Pb
    for _ in range(30):
        with blas_threads(1):  # 80×80 bulk problems: threads only cost time
            gap, slope = _gap_and_slope(trial.replace(E_p_Pb=Epc))
        resid = gap - target
        if abs(resid) < _GAP_TOL_EV:
            return trial.replace(E_p_Pb=Epc)
        if not (math.isfinite(slope) and slope > 0):
            break
        Epc -= resid / slope
    raise SolverError(
        f"could not re-tune E_pc of {params.parameter_set} to the bulk gap {target:.6f} eV at {T} K "
        f"(rule {rule!r}); last E_pc = {Epc:.6f} eV"
    )


def _gap_and_slope(params: EtbParameters) -> tuple[float, float]:
    """Bulk gap at R (eV) and its Hellmann–Feynman derivative dEg/dE_pc (1).

    H is linear in E_pc, so ∂H/∂E_pc = H(E_pc + 1 eV) − H(E_pc) exactly (the Pb-p projector), and
    dEg/dE_pc = ⟨CB|∂H|CB⟩ − ⟨VB|∂H|VB⟩ (both Kramers partners averaged).
    """
    import numpy as np

    from perovskite_tb.model.bulk import N_FILLED, bloch_hamiltonian, high_symmetry_point

    k = high_symmetry_point("R", params.a)
    H = bloch_hamiltonian(params, k)
    dH = bloch_hamiltonian(params.replace(E_p_Pb=params.E_p_Pb + 1.0), k) - H
    E, U = np.linalg.eigh(H)
    w = np.real(np.einsum("in,ij,jn->n", U.conj(), dH, U))
    slope = 0.5 * (w[N_FILLED] + w[N_FILLED + 1]) - 0.5 * (w[N_FILLED - 2] + w[N_FILLED - 1])
    return float(E[N_FILLED] - E[N_FILLED - 1]), float(slope)


def edge_shares(rule: str) -> tuple[float, float]:
    r"""Band-edge shifts per unit gap change, :math:`(\Delta E_\mathrm{CBM}, \Delta E_\mathrm{VBM})/\Delta E_g`.

    ``"a"``, ``"b"``, ``"dw"`` re-tune E_pc only, so their split is whatever the set gives (about (1, 0));
    they raise. ``"vb"``: (0, −1). ``"foley"``: (−77/33, −110/33) from ``[partition.foley]`` of
    ``parameters/temperature_models.toml`` (Foley et al., Appl. Phys. Lett. 106, 243904 (2015)).

    Raises
    ------
    InputError
        A rule that does not set the edges.
    """
    if _check_rule(rule) == "vb":
        return 0.0, -1.0
    if rule == "foley":
        from perovskite_tb.model.disorder import model_value

        dv, dc = model_value("partition.foley", "dE_VBM"), model_value("partition.foley", "dE_CBM")
        return dc / (dc - dv), dv / (dc - dv)
    raise InputError(f"temperature rule {rule!r} does not set the band edges (only {', '.join(_EDGE_RULES)})")


def bulk_edges(params: EtbParameters) -> tuple[float, float]:
    """Bulk ETB band edges at R (eV): (CBM, VBM) on the set's own energy zero."""
    import numpy as np

    from perovskite_tb.model.bulk import N_FILLED, bloch_hamiltonian, high_symmetry_point

    with blas_threads(1):
        E = np.linalg.eigvalsh(bloch_hamiltonian(params, high_symmetry_point("R", params.a)))
    return float(E[N_FILLED]), float(E[N_FILLED - 1])


def _edge_retune(params: EtbParameters, trial: EtbParameters, T: float, rule: str) -> EtbParameters:
    """Newton on (E_pc, E_sc) so that the R-point CBM and VBM of ``trial`` move by the rule's shares of ΔE_g."""
    import numpy as np

    fc, fv = edge_shares(rule)
    dEg = gap_shift_eV(params, T)
    c0, v0 = bulk_edges(params)
    target = np.array([c0 + fc * dEg, v0 + fv * dEg])
    x = np.array([params.E_p_Pb, params.E_s_Pb])
    for _ in range(40):
        q = trial.replace(E_p_Pb=float(x[0]), E_s_Pb=float(x[1]))
        with blas_threads(1):
            e, J = _edges_and_jacobian(q)
        resid = e - target
        if np.max(np.abs(resid)) < _GAP_TOL_EV:
            return q
        try:
            x = x - np.linalg.solve(J, resid)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(x)):
            break
    raise SolverError(
        f"could not place the band edges of {params.parameter_set} at {T} K (rule {rule!r}): "
        f"E_pc = {x[0]:.6f}, E_sc = {x[1]:.6f} eV"
    )


def _edges_and_jacobian(params: EtbParameters):
    """R-point (CBM, VBM) (eV) and their Hellmann–Feynman derivatives w.r.t. (E_pc, E_sc), shape (2, 2)."""
    import numpy as np

    from perovskite_tb.model.bulk import N_FILLED, bloch_hamiltonian, high_symmetry_point

    k = high_symmetry_point("R", params.a)
    H = bloch_hamiltonian(params, k)
    dHp = bloch_hamiltonian(params.replace(E_p_Pb=params.E_p_Pb + 1.0), k) - H
    dHs = bloch_hamiltonian(params.replace(E_s_Pb=params.E_s_Pb + 1.0), k) - H
    E, U = np.linalg.eigh(H)

    def hf(dH, lo, hi):
        w = np.real(np.einsum("in,ij,jn->n", U[:, lo:hi].conj(), dH, U[:, lo:hi]))
        return float(w.mean())

    cb, vb = slice(N_FILLED, N_FILLED + 2), slice(N_FILLED - 2, N_FILLED)
    J = np.array([[hf(dHp, cb.start, cb.stop), hf(dHs, cb.start, cb.stop)],
                  [hf(dHp, vb.start, vb.stop), hf(dHs, vb.start, vb.stop)]])
    return np.array([E[N_FILLED], E[N_FILLED - 1]]), J
