"""Sweep points: the expansion of a run file's axes into :class:`Point` s (split out of
:mod:`perovskite_tb.app.sweep`, which re-exports everything here).

A point is one (model, material, parameter set, temperature, size, Zeeman variant); its ``key`` names
its HDF5 row, so a resumed sweep recognises finished points. Memory estimates per point feed the
runner's memory guard (:func:`perovskite_tb.eigen.solver.estimate_memory_gb`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from perovskite_tb.errors import InputError, ParameterError, PerovskiteTBError
from perovskite_tb.app.runfile import RunSpec

__all__ = ["Point", "point_key", "expand_points"]


# ------------------------------------------------------------------------------------------------
# Points
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One computation (picklable; sent to a worker).

    Attributes
    ----------
    model, material : str
    parameter_set : str
        ETB set name (etb) or k·p set name (kp).
    lattice_set : str
        ETB set fixing the edge N·a(T) of a k·p point given by ``n_cells``; "" otherwise for k·p.
    n_cells : tuple of 3 int
        (0, 0, 0) for k·p points given by ``edge_nm``.
    edge_nm : float
        [nm]; for ETB and cell-sized k·p points N·a(T).
    temperature_K : float
    orbital_zeeman : bool
    key : str
        :func:`point_key`.
    memory_gb : float
        Estimated peak memory [GB].
    params : EtbParameters or None
        ETB set at ``temperature_K`` (etb points only).
    kp_resolution : int or None
    """

    model: str
    material: str
    parameter_set: str
    lattice_set: str
    n_cells: tuple
    edge_nm: float
    temperature_K: float
    orbital_zeeman: bool
    key: str
    memory_gb: float = 0.0
    params: object = field(default=None, repr=False, compare=False)
    kp_resolution: int | None = None


def point_key(
    model, material, parameter_set, lattice_set, n_cells, edge_nm, temperature_K, orbital_zeeman
) -> str:
    """Resume key of a point: one string from its identity columns (as stored in the file)."""
    n = tuple(int(x) for x in n_cells)
    size = "x".join(map(str, n)) if any(n) else f"L={float(edge_nm)!r}"
    return (
        f"{model}|{material}|{parameter_set}|{lattice_set}|{size}|T={float(temperature_K)!r}"
        f"|oz={int(bool(orbital_zeeman))}"
    )


def _n_sites(n) -> int:
    nx, ny, nz = n
    return 4 * nx * ny * nz + nx * ny + ny * nz + nx * nz


def _memory_etb(n_orb: int, n) -> float:
    from perovskite_tb.eigen.solver import estimate_memory_gb

    n_states = n_orb * _n_sites(n)
    return float(estimate_memory_gb(n_states, int(7.4 * n_states)))


def _memory_kp(resolution: int | None, edge_nm: float) -> float:
    """Peak-memory estimate (GB) of one k·p point: 8·N³ states, ≈ 85 nnz per row (Legendre basis),
    two parity blocks, with the ETB shift-invert calibration (within 15 % of the measured 1.36 GB at
    N = 14, kp/README.md)."""
    from kp.envelope import default_n_basis

    from perovskite_tb.eigen.solver import estimate_memory_gb

    N = default_n_basis(edge_nm) if resolution is None else resolution
    n_states = 8 * N**3
    return float(estimate_memory_gb(n_states, 85 * n_states, n_blocks=2))


@dataclass(frozen=True)
class _Resolved:
    points: tuple
    etb_sets: dict  # (material, set) -> EtbParameters at the reference temperature
    kp_sets: dict  # material -> k·p set name
    invariants: dict


def _load_etb(material: str, pset: str, path: str):
    """``load_parameters`` with every failure turned into a ParameterError naming ``path``."""
    from perovskite_tb.model.materials import load_parameters

    try:
        return load_parameters(material, None if pset == "default" else pset)
    except PerovskiteTBError as exc:
        raise ParameterError(f"{path}: {exc}") from None
    except (TypeError, ValueError, KeyError, AttributeError, OSError) as exc:  # malformed file
        raise ParameterError(
            f"{path}: malformed parameter file ({type(exc).__name__}: {exc})"
        ) from None


def expand_points(spec: RunSpec) -> _Resolved:
    """Resolve parameter sets and expand the axes into :class:`Point` s (canonical order).

    Order: model, material, parameter_set, temperature, size, Zeeman variant.

    Raises
    ------
    PerovskiteTBError
        Unknown material or set (message with the key path), malformed parameter file, bad
        temperature for a set without temperature model.
    """
    from perovskite_tb.model.temperature import parameters_at

    src = spec.source
    ax, op = spec.axes, spec.options
    etb_sets = {}
    from perovskite_tb.model.materials import available_sets

    shipped = available_sets()
    for i, mat in enumerate(ax.material):
        if mat not in shipped and not all(ps.endswith(".toml") for ps in ax.parameter_set):
            raise ParameterError(
                f"{src}: [axes].material[{i}]: unknown material {mat!r} "
                f"(known: {', '.join(sorted(shipped))})"
            )
        for j, ps in enumerate(ax.parameter_set):
            p = _load_etb(mat, ps, f"{src}: [axes].parameter_set[{j}] ({mat})")
            if p.material != mat:
                raise ParameterError(
                    f"{src}: [axes].parameter_set[{j}]: file {ps!r} is for {p.material}, "
                    f"not [axes].material[{i}] = {mat!r}"
                )
            etb_sets[(mat, ps)] = p
    kp_sets = {}
    if "kp" in ax.model:
        try:
            from kp.parameters import load_kp_parameters
        except ImportError:
            raise InputError(
                f"{src}: [axes].model: 'kp' needs the kp package, which is not importable"
            ) from None
        for mat in ax.material:
            try:
                kp_sets[mat] = op.kp_parameter_set or _kp_default(mat)
                load_kp_parameters(mat, kp_sets[mat])
            except PerovskiteTBError as exc:
                raise ParameterError(f"{src}: [options].kp_parameter_set: {exc}") from None
    at_T = {}

    def params_at(mat, ps, T):
        if (mat, ps, T) not in at_T:
            try:
                at_T[(mat, ps, T)] = parameters_at(etb_sets[(mat, ps)], T, rule=op.temperature_rule)
            except PerovskiteTBError as exc:
                raise type(exc)(
                    f"{src}: [axes].temperature_K = {T:g} K with set {ps!r} ({mat}): {exc}"
                ) from None
        return at_T[(mat, ps, T)]

    pts = []
    kp_nb = op.kp_resolution  # None: kp's size-dependent default
    for model in ax.model:
        for mat in ax.material:
            for ps in ax.parameter_set:
                base = etb_sets[(mat, ps)]
                set_name = base.parameter_set if not ps.endswith(".toml") else ps
                for T in ax.temperature_K:
                    pT = params_at(mat, ps, T)
                    if model == "etb":
                        for n in ax.n_cells:
                            for oz in ax.orbital_zeeman:
                                key = point_key("etb", mat, set_name, set_name, n, 0.0, T, oz)
                                pts.append(
                                    Point(
                                        "etb",
                                        mat,
                                        set_name,
                                        set_name,
                                        n,
                                        n[0] * pT.a,
                                        T,
                                        oz,
                                        key,
                                        _memory_etb(pT.n_orb, n),
                                        pT,
                                    )
                                )
                    else:
                        for n in ax.n_cells:
                            key = point_key("kp", mat, kp_sets[mat], set_name, n, 0.0, T, False)
                            pts.append(
                                Point(
                                    "kp",
                                    mat,
                                    kp_sets[mat],
                                    set_name,
                                    n,
                                    n[0] * pT.a,
                                    T,
                                    False,
                                    key,
                                    _memory_kp(kp_nb, max(n) * pT.a),
                                    None,
                                    op.kp_resolution,
                                )
                            )
            if model == "kp":  # explicit edges do not depend on the ETB set
                for T in ax.temperature_K:
                    for L in ax.edge_nm:
                        key = point_key("kp", mat, kp_sets[mat], "", (0, 0, 0), L, T, False)
                        pts.append(
                            Point(
                                "kp",
                                mat,
                                kp_sets[mat],
                                "",
                                (0, 0, 0),
                                L,
                                T,
                                False,
                                key,
                                _memory_kp(kp_nb, L),
                                None,
                                op.kp_resolution,
                            )
                        )
    invariants = {"temperature_rule": op.temperature_rule, "kp_resolution": op.kp_resolution}
    unique = {}
    for p in pts:  # e.g. "default" and the default set's name
        unique.setdefault(p.key, p)
    return _Resolved(
        points=tuple(unique.values()), etb_sets=etb_sets, kp_sets=kp_sets, invariants=invariants
    )


def _kp_default(material: str) -> str:
    """Default k·p set of the confined model for ``material`` (what ``kp.confinement.nc_gfactors`` uses)."""
    try:
        from kp import confinement
    except ImportError:  # pragma: no cover
        return ""
    if hasattr(confinement, "nc_default_set"):
        return confinement.nc_default_set(material)
    from kp.parameters import DEFAULT_SET

    return DEFAULT_SET
