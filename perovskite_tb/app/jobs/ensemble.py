r"""Ensemble spin dephasing: size distribution × model g(E), Δ_N(E) → Δg, ODMR linewidth, T2*, TRFE trace.

Inputs are tables of the model curve (arrays over computed NC sizes: edge L, transition energy E,
g_e, g_h, Δ_N,e, Δ_N,h; e.g. rows of a sweep/curve HDF5 file, read by
:func:`perovskite_tb.app.jobs.ensemble_io.curve_from_rows`). The
quantities are interpolated monotonically (PCHIP) in E, and L ↔ E is interpolated the same way.

Ensemble model (all choices documented, none fitted to data):

* **Sizes**: log-normal number distribution of the model's cube edge L (nm), given either by its
  arithmetic mean and standard deviation (nm), or fitted to a PL band (centre, FWHM in eV) through the
  model's E(L): median L = L(E_centre), :math:`\sigma_{\ln L} = \sigma_E/|dE/d\ln L|` at the median with
  :math:`\sigma_E = \mathrm{FWHM}/(2\sqrt{2\ln 2})` (linearised; PL weighted by number of NCs only).
* **Spectral selection** at laser energy E_L: Gaussian window in the transition energy,
  :math:`\exp(-(E-E_L)^2/2\sigma_w^2)`, :math:`\sigma_w` from ``window_fwhm_eV`` (laser ⊗ homogeneous
  linewidth). Model transition energy = single-particle gap, compared with the laser energy directly
  (Meliakov et al., Nanoscale 17, 6522 (2025)).
* **Moments** over the selected sub-ensemble: mean g, Δg = standard deviation of g,
  :math:`\Delta_N` = rms of Δ_N (Gaussian widths add in quadrature).
* **ODMR linewidth** (Belykh et al., arXiv:2603.03038, their Eq. 2):
  :math:`\Delta B(B) = \sqrt{(\Delta g\,B/g)^2 + \Delta_N^2/2}` with Δ_N the 1/e width of
  :mod:`perovskite_tb.observables.hyperfine` (rms of one component = Δ_N/√2).
* **T2\*** (TRFE): a Gaussian g spread Δg (std) gives the envelope
  :math:`\exp(-(\Delta g\mu_B B t/\hbar)^2/2)`, 1/e time :math:`T_2^* = \sqrt2\hbar/(\Delta g\mu_B B)` —
  **this is the reported** ``T2star_*_ps``. Also given: the same with the nuclear term,
  :math:`\sqrt2\hbar/(|g|\mu_B\Delta B(B))`, and the exponential form of the TRFE papers
  :math:`1/T_2^*(B) = 1/T_2^*(0) + \Delta g\mu_B B/\hbar` (Meliakov et al., Nanoscale 16, 21496 (2024)),
  evaluated with the same Δg (its Δg is a fit parameter of an exponential envelope, so the two differ
  by the envelope shape, not by physics).
* **TRFE trace**: :math:`S(t) = \sum_i w_i\cos(|g_i|\mu_B B t/\hbar)` over the sub-ensemble, × exp(−t/T2*(0))
  if given, × :math:`\exp(-(g_i\mu_B\Delta_{N,i} t/\hbar)^2/4)` (frozen Overhauser field along B) if
  ``trace_nuclear``. Written to HDF5 (+ PNG) by :mod:`perovskite_tb.app.jobs.ensemble_io`; the run-file job
  ``perovskite-tb ensemble run.toml`` is :mod:`perovskite_tb.app.cli.ensemble`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.special import erf, logsumexp

from perovskite_tb.constants import HBAR, MU_B
from perovskite_tb.errors import InputError, positive_finite

__all__ = [
    "ModelCurve", "LogNormal", "EnsembleConfig", "subensemble", "weighted_moments", "odmr_linewidth_mT",
    "t2star_gauss_ps", "t2star_exp_ps", "trfe_trace", "field_scan", "run_ensemble", "config_from_dict",
    "MUB_OVER_HBAR_PER_PS_T",
]

#: [rad/(ps·T)] μB/ħ (CODATA): Larmor angular frequency per unit |g| and field.
MUB_OVER_HBAR_PER_PS_T = MU_B / HBAR * 1e-12
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
_QUANTITIES = ("g_e", "g_h", "Delta_N_e_mT", "Delta_N_h_mT")


def _positive(name: str, value, unit: str) -> float:
    return positive_finite(value, name, unit)


@dataclass(frozen=True)
class ModelCurve:
    """Model curve tables (one entry per computed NC), sorted by increasing E.

    Attributes
    ----------
    E_eV, edge_nm : ndarray of float64, shape (n,)
        Transition energy (eV) and cube edge (nm); E must decrease strictly with L.
    g_e, g_h : ndarray of float64, shape (n,)
    Delta_N_e_mT, Delta_N_h_mT : ndarray of float64, shape (n,)
        Overhauser widths (mT; NaN allowed, e.g. no hole constant).
    """

    E_eV: np.ndarray
    edge_nm: np.ndarray
    g_e: np.ndarray
    g_h: np.ndarray
    Delta_N_e_mT: np.ndarray
    Delta_N_h_mT: np.ndarray

    @classmethod
    def from_arrays(cls, E_eV, edge_nm, g_e, g_h, Delta_N_e_mT=None, Delta_N_h_mT=None) -> "ModelCurve":
        """Validate, sort by E and build (missing Δ_N → NaN).

        Raises
        ------
        InputError
            Fewer than 2 points, mismatched lengths, non-finite E or L, L ≤ 0, E not strictly decreasing in L.
        """
        E = np.asarray(E_eV, dtype=float).ravel()
        n = E.size
        nan = np.full(n, np.nan)
        cols = [np.asarray(c, dtype=float).ravel() if c is not None else nan
                for c in (edge_nm, g_e, g_h, Delta_N_e_mT, Delta_N_h_mT)]
        if n < 2 or any(c.size != n for c in cols):
            raise InputError(f"model curve needs >= 2 points of equal length, got sizes {[n] + [c.size for c in cols]}")
        L = cols[0]
        if not (np.all(np.isfinite(E)) and np.all(np.isfinite(L)) and np.all(L > 0)):
            raise InputError("model curve energies (eV) and edges (nm) must be finite, edges > 0 nm")
        o = np.argsort(E)
        if np.any(np.diff(E[o]) <= 0) or np.any(np.diff(L[o]) >= 0):
            raise InputError("model curve: E (eV) must decrease strictly with edge L (nm) (duplicate sizes?)")
        return cls(E[o], *(c[o] for c in cols))

    @property
    def E_range(self) -> tuple[float, float]:
        """(E_min, E_max) of the computed points (eV)."""
        return float(self.E_eV[0]), float(self.E_eV[-1])

    def L_of_E(self, E):
        """Cube edge (nm) at transition energy E (eV), monotone PCHIP."""
        return PchipInterpolator(self.E_eV, self.edge_nm, extrapolate=False)(E)

    def E_of_L(self, L):
        """Transition energy (eV) at edge L (nm), monotone PCHIP, kept inside the table (NaN outside the sizes)."""
        E = PchipInterpolator(self.edge_nm[::-1], self.E_eV[::-1], extrapolate=False)(L)
        return np.clip(E, self.E_eV[0], self.E_eV[-1])  # rounding at the table ends; NaN stays NaN

    def at(self, E) -> dict:
        """g_e, g_h, Delta_N_e_mT, Delta_N_h_mT interpolated (PCHIP) at E (eV); a column with NaN gives NaN."""
        E = np.asarray(E, dtype=float)
        out = {}
        for q in _QUANTITIES:
            y = getattr(self, q)
            ok = np.all(np.isfinite(y))
            out[q] = PchipInterpolator(self.E_eV, y, extrapolate=False)(E) if ok else np.full(E.shape, np.nan)
        return out


@dataclass(frozen=True)
class LogNormal:
    """Log-normal number distribution of the edge L: ln L ~ Normal(mu, sigma) (L in nm)."""

    mu: float
    sigma: float

    @classmethod
    def from_mean_std(cls, mean_nm: float, std_nm: float) -> "LogNormal":
        """From the arithmetic mean and standard deviation of L (nm)."""
        m = _positive("size mean", mean_nm, "nm")
        s = _positive("size width", std_nm, "nm")
        s2 = math.log1p((s / m) ** 2)
        return cls(math.log(m) - 0.5 * s2, math.sqrt(s2))

    @classmethod
    def from_pl_band(cls, curve: ModelCurve, centre_eV: float, fwhm_eV: float) -> "LogNormal":
        """Median L = L(E_centre), σ_lnL = σ_E/|dE/dlnL| (linearised through the model's E(L))."""
        _check_energy("PL centre", centre_eV, curve)
        fw = _positive("PL FWHM", fwhm_eV, "eV")
        L0 = float(curve.L_of_E(centre_eV))
        dEdL = PchipInterpolator(curve.edge_nm[::-1], curve.E_eV[::-1]).derivative()(L0)
        return cls(math.log(L0), (fw / _FWHM_PER_SIGMA) / abs(float(dEdL) * L0))

    def mass_between(self, a_nm: float, b_nm: float) -> float:
        """Probability that a_nm ≤ L ≤ b_nm."""
        z = (np.log([a_nm, b_nm]) - self.mu) / (self.sigma * math.sqrt(2.0))
        return float(0.5 * (erf(z[1]) - erf(z[0])))


def _check_energy(name: str, E: float, curve: ModelCurve) -> float:
    lo, hi = curve.E_range
    E = float(E)
    if not (lo <= E <= hi):
        raise InputError(f"{name} {E} eV is outside the computed range {lo:.4f}-{hi:.4f} eV")
    return E


def subensemble(curve: ModelCurve, dist: LogNormal, laser_eV: float, window_fwhm_eV: float,
                n_grid: int = 4001) -> dict:
    """Sizes selected by the spectral window, with normalised weights.

    Quadrature in ln L on the union of a grid over ±8σ of the distribution and one over ±8σ of the
    window (mapped to ln L), restricted to the computed sizes (trapezoid weights).

    Returns
    -------
    dict
        ``lnL``, ``L_nm``, ``E_eV``, ``w`` (ndarray (m,), w sums to 1), ``density`` (selected NCs per
        unit ln L, arbitrary scale), ``selected_fraction`` (number
        fraction of NCs inside the window), ``size_coverage`` (distribution mass inside the computed
        sizes), ``window_outside`` (window mass outside the computed energies).

    Raises
    ------
    InputError
        E_L outside the computed range, non-positive window.
    """
    E_L = _check_energy("laser energy", laser_eV, curve)
    sw = _positive("spectral window FWHM", window_fwhm_eV, "eV") / _FWHM_PER_SIGMA
    lnLmin, lnLmax = math.log(curve.edge_nm[-1]), math.log(curve.edge_nm[0])
    L_L = float(curve.L_of_E(E_L))
    dEdlnL = abs(float(PchipInterpolator(curve.edge_nm[::-1], curve.E_eV[::-1]).derivative()(L_L))) * L_L
    u = np.linspace(-8.0, 8.0, n_grid)
    grid = np.concatenate([dist.mu + dist.sigma * u, math.log(L_L) + (sw / dEdlnL) * u, [lnLmin, lnLmax]])
    x = np.unique(grid[(grid >= lnLmin) & (grid <= lnLmax)])
    E = curve.E_of_L(np.clip(np.exp(x), curve.edge_nm[-1], curve.edge_nm[0]))
    trap = np.zeros_like(x)
    trap[1:] += 0.5 * np.diff(x)
    trap[:-1] += 0.5 * np.diff(x)
    with np.errstate(divide="ignore"):
        logw = (np.log(trap) - 0.5 * ((x - dist.mu) / dist.sigma) ** 2 - math.log(dist.sigma * math.sqrt(2 * math.pi))
                - 0.5 * ((E - E_L) / sw) ** 2)
    total = logsumexp(logw)
    logd = logw - np.log(np.where(trap > 0, trap, 1.0))
    lo, hi = curve.E_range
    outside = 1.0 - 0.5 * (erf((hi - E_L) / (sw * math.sqrt(2))) - erf((lo - E_L) / (sw * math.sqrt(2))))
    return {"lnL": x, "L_nm": np.exp(x), "E_eV": E, "w": np.exp(logw - total),
            "density": np.exp(logd - logd.max()),
            "selected_fraction": float(np.exp(total)),
            "size_coverage": dist.mass_between(math.exp(lnLmin), math.exp(lnLmax)),
            "window_outside": float(outside)}


def weighted_moments(w: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """(mean, standard deviation) of ``values`` with normalised weights ``w`` (NaN if any value is NaN)."""
    mean = float(w @ values)
    return mean, float(math.sqrt(max(float(w @ (values - mean) ** 2), 0.0)))


def odmr_linewidth_mT(B_T, dg: float, g: float, Delta_N_mT: float):
    r"""ODMR linewidth :math:`\Delta B = \sqrt{(\Delta g B/g)^2 + \Delta_N^2/2}` (mT; B in T), Belykh et al. 2026."""
    B = np.asarray(B_T, dtype=float)
    return np.sqrt((dg * B * 1e3 / abs(g)) ** 2 + 0.5 * Delta_N_mT**2)


def t2star_gauss_ps(dg: float, B_T: float) -> float:
    r""":math:`T_2^* = \sqrt2\hbar/(\Delta g\mu_B B)` (ps): 1/e time of the Gaussian envelope of a Gaussian g spread.

    Raises
    ------
    InputError
        B ≤ 0 T.
    """
    B = _positive("field for T2*", B_T, "T")
    return math.inf if dg == 0 else math.sqrt(2.0) / (abs(dg) * MUB_OVER_HBAR_PER_PS_T * B)


def t2star_exp_ps(dg: float, B_T: float, T2_0_ps: float | None = None) -> float:
    r""":math:`1/T_2^*(B) = 1/T_2^*(0) + \Delta g\mu_B B/\hbar` (ps); T2*(0) = ∞ if not given.

    Raises
    ------
    InputError
        B ≤ 0 T or T2*(0) ≤ 0 ps.
    """
    B = _positive("field for T2*", B_T, "T")
    rate = abs(dg) * MUB_OVER_HBAR_PER_PS_T * B
    if T2_0_ps is not None:
        rate += 1.0 / _positive("T2*(0)", T2_0_ps, "ps")
    return math.inf if rate == 0 else 1.0 / rate


def trfe_trace(t_ps: np.ndarray, g: np.ndarray, w: np.ndarray, B_T: float, *, T2_0_ps: float | None = None,
               Delta_N_mT: np.ndarray | None = None) -> np.ndarray:
    r"""Ensemble TRFE signal :math:`\sum_i w_i\cos(|g_i|\mu_B B t/\hbar)` (normalised to 1 at t = 0).

    Parameters
    ----------
    t_ps : ndarray of float64, shape (n_t,)
    g, w : ndarray of float64, shape (m,)
        g factors and normalised weights of the sub-ensemble.
    B_T : float
        Field (T), > 0.
    T2_0_ps : float, optional
        Multiplies by exp(−t/T2*(0)).
    Delta_N_mT : ndarray, optional
        Per-NC Overhauser width: multiplies each term by :math:`\exp(-(g_i\mu_B\Delta_{N,i}t/\hbar)^2/4)`.
    """
    B = _positive("field", B_T, "T")
    t = np.asarray(t_ps, dtype=float)
    wg = np.abs(np.asarray(g, dtype=float)) * MUB_OVER_HBAR_PER_PS_T
    phase = np.cos(np.outer(t, wg * B))
    if Delta_N_mT is not None:
        phase *= np.exp(-0.25 * np.outer(t, wg * 1e-3 * np.nan_to_num(np.asarray(Delta_N_mT, dtype=float))) ** 2)
    S = phase @ np.asarray(w, dtype=float)
    if T2_0_ps is not None:
        S *= np.exp(-t / _positive("T2*(0)", T2_0_ps, "ps"))
    return S


@dataclass(frozen=True)
class EnsembleConfig:
    """Inputs of :func:`run_ensemble` (energies eV, sizes nm, field T, times ps).

    Give either ``size_mean_nm`` + ``size_std_nm`` or ``pl_centre_eV`` + ``pl_fwhm_eV``. The field scan
    (ODMR ΔB(B), T2*(B)) runs over ``n_B`` fields from 0 to ``field_max_T`` (default 2·``field_T``).
    ``output`` (HDF5) and ``plot`` (PNG) are written by :mod:`perovskite_tb.app.jobs.ensemble_io`.
    """

    curve: ModelCurve
    laser_eV: float
    field_T: float
    window_fwhm_eV: float
    size_mean_nm: float | None = None
    size_std_nm: float | None = None
    pl_centre_eV: float | None = None
    pl_fwhm_eV: float | None = None
    T2_0_ps: float | None = None
    trace_nuclear: bool = False
    t_max_ps: float = 1000.0
    n_t: int = 2001
    n_grid: int = 4001
    field_max_T: float | None = None
    n_B: int = 201
    output: str | None = None
    plot: str | None = None

    def distribution(self) -> LogNormal:
        """The size distribution (one of the two forms).

        Raises
        ------
        InputError
            Neither or both forms given, or bad widths.
        """
        by_size = self.size_mean_nm is not None or self.size_std_nm is not None
        by_pl = self.pl_centre_eV is not None or self.pl_fwhm_eV is not None
        if by_size == by_pl:
            raise InputError("give either size_mean_nm + size_std_nm (nm) or pl_centre_eV + pl_fwhm_eV (eV)")
        if by_size:
            return LogNormal.from_mean_std(_req(self.size_mean_nm, "size_mean_nm"), _req(self.size_std_nm, "size_std_nm"))
        return LogNormal.from_pl_band(self.curve, _req(self.pl_centre_eV, "pl_centre_eV"), _req(self.pl_fwhm_eV, "pl_fwhm_eV"))


def _req(v, name):
    if v is None:
        raise InputError(f"{name} is missing")
    return v


def _carrier(sub: dict, vals: dict, c: str, cfg: EnsembleConfig) -> dict:
    g, dg = weighted_moments(sub["w"], vals[f"g_{c}"])
    dn = float(math.sqrt(sub["w"] @ vals[f"Delta_N_{c}_mT"] ** 2))
    dB = float(odmr_linewidth_mT(cfg.field_T, dg, g, dn))
    rate = abs(g) * MUB_OVER_HBAR_PER_PS_T * dB * 1e-3
    total = math.sqrt(2.0) / rate if rate > 0 else (math.inf if rate == 0 else math.nan)
    return {f"g_{c}_mean": g, f"Delta_g_{c}": dg, f"Delta_N_{c}_mT": dn, f"odmr_linewidth_{c}_mT": dB,
            f"T2star_{c}_ps": t2star_gauss_ps(dg, cfg.field_T), f"T2star_{c}_with_nuclear_ps": total,
            f"T2star_{c}_exp_ps": t2star_exp_ps(dg, cfg.field_T, cfg.T2_0_ps)}


def field_scan(res: dict, B_T: np.ndarray) -> dict:
    r"""ODMR linewidth ΔB(B) (mT) and T2*(B) (ps, Gaussian form; inf at B = 0) of both carriers on a field grid.

    Parameters
    ----------
    res : dict
        Scalars of :func:`run_ensemble` (``g_c_mean``, ``Delta_g_c``, ``Delta_N_c_mT`` for c = e, h).
    B_T : ndarray of float64, shape (n_B,)
        Fields (T), ≥ 0.

    Returns
    -------
    dict
        ``B_T`` and, per carrier c, ``odmr_linewidth_c_mT_vs_B`` and ``T2star_c_ps_vs_B`` (shape (n_B,)).
    """
    B = np.asarray(B_T, dtype=float)
    out = {"B_T": B}
    for c in ("e", "h"):
        g, dg, dn = res[f"g_{c}_mean"], res[f"Delta_g_{c}"], res[f"Delta_N_{c}_mT"]
        out[f"odmr_linewidth_{c}_mT_vs_B"] = odmr_linewidth_mT(B, dg, g, dn)
        rate = abs(dg) * MUB_OVER_HBAR_PER_PS_T * B
        out[f"T2star_{c}_ps_vs_B"] = np.where(rate > 0, math.sqrt(2.0) / np.where(rate > 0, rate, 1.0), np.inf)
    return out


def run_ensemble(config: EnsembleConfig) -> dict:
    """Sub-ensemble at the laser energy: mean g, Δg, Δ_N, ODMR ΔB(B), T2*(B) and the TRFE traces.

    Returns
    -------
    dict
        Scalars (keys ``g_e_mean``, ``Delta_g_e``, ``Delta_N_e_mT``, ``odmr_linewidth_e_mT``,
        ``T2star_e_ps``, ``T2star_e_with_nuclear_ps``, ``T2star_e_exp_ps`` and the same for ``h``;
        ``selected_fraction``, ``size_coverage``, ``window_outside``, ``size_mu``, ``size_sigma``),
        arrays ``t_ps``, ``trace_e``, ``trace_h``, ``L_nm``, ``E_eV``, ``w``, ``density``, ``g_e``, ``g_h``,
        the field scan of :func:`field_scan`, ``notes`` (list of str) and ``files`` (paths written).

    Raises
    ------
    InputError
        Bad widths (≤ 0), energies outside the computed range, field ≤ 0 T.
    """
    cfg = config
    _positive("field", cfg.field_T, "T")
    _positive("t_max", cfg.t_max_ps, "ps")
    B_max = 2.0 * float(cfg.field_T) if cfg.field_max_T is None else _positive("field_max", cfg.field_max_T, "T")
    if cfg.output or cfg.plot:
        from perovskite_tb.app.jobs.ensemble_io import check_outputs, write_outputs  # (ensemble_io imports this module)

        check_outputs(cfg.output, cfg.plot)
    dist = cfg.distribution()
    sub = subensemble(cfg.curve, dist, cfg.laser_eV, cfg.window_fwhm_eV, cfg.n_grid)
    vals = cfg.curve.at(sub["E_eV"])
    res: dict = {"size_mu": dist.mu, "size_sigma": dist.sigma, "size_median_nm": math.exp(dist.mu)}
    res.update({k: sub[k] for k in ("selected_fraction", "size_coverage", "window_outside")})
    t = np.linspace(0.0, cfg.t_max_ps, int(cfg.n_t))
    notes = []
    for c in ("e", "h"):
        res.update(_carrier(sub, vals, c, cfg))
        dn = vals[f"Delta_N_{c}_mT"] if cfg.trace_nuclear else None
        if dn is not None and np.isnan(dn).any():
            notes.append(f"trace_{c}: Delta_N_{c} is NaN (no hyperfine constant), nuclear term left out")
        res[f"trace_{c}"] = trfe_trace(t, vals[f"g_{c}"], sub["w"], cfg.field_T, T2_0_ps=cfg.T2_0_ps, Delta_N_mT=dn)
    res.update({"t_ps": t, "L_nm": sub["L_nm"], "E_eV": sub["E_eV"], "w": sub["w"], "density": sub["density"],
                "g_e": vals["g_e"], "g_h": vals["g_h"], "notes": notes})
    res.update(field_scan(res, np.linspace(0.0, B_max, max(int(cfg.n_B), 2))))
    res["files"] = write_outputs(cfg, res) if (cfg.output or cfg.plot) else []
    return res


_KEYS = {f.name for f in EnsembleConfig.__dataclass_fields__.values()} - {"curve"}


def config_from_dict(doc: dict, curve: ModelCurve) -> EnsembleConfig:
    """Build an :class:`EnsembleConfig` from the flat ``[ensemble]`` table of a run file.

    Raises
    ------
    InputError
        Unknown keys (listed) or missing required keys.
    """
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise InputError(f"unknown ensemble keys {unknown} (known: {', '.join(sorted(_KEYS))})")
    missing = [k for k in ("laser_eV", "field_T", "window_fwhm_eV") if k not in doc]
    if missing:
        raise InputError(f"ensemble: missing {', '.join(missing)}")
    return EnsembleConfig(curve=curve, **doc)
