"""Second-neighbour hopping as parameter-set data (X–X at a/√2, Pb–Pb at a): parameter files, the bond list,
bulk and nanocrystal from the same shells, the halide-p band, temperature rule b and the nestoklon2023-2nn fit."""

import re
import tomllib

import numpy as np
import pytest

from perovskite_tb._system import blas_threads
from perovskite_tb.app.jobs.fit import evaluate_targets, fit_parameters, read_fit_spec
from perovskite_tb.errors import ParameterError
from perovskite_tb.model.bulk import bloch_hamiltonian, bulk_properties, high_symmetry_point
from perovskite_tb.model.hamiltonian import assemble, bloch_matrix, nnz_per_row
from perovskite_tb.model.materials import SECOND_NEIGHBOUR_NAMES, load_parameter_file, load_parameters, parameters_dir
from perovskite_tb.model.slater_koster import PBPB_SHELL, XX_SHELL, HoppingShell, second_neighbour_shells
from perovskite_tb.model.structure import bulk_cell, cuboid, with_shell
from perovskite_tb.model.temperature import parameters_at
from perovskite_tb.model.terms import bulk_edges, terms_from_hamiltonian
from perovskite_tb.nc import solve

from tolerances import KRAMERS_ATOL_EV

P = load_parameters("CsPbI3", "nestoklon2023-fit")
P2 = load_parameters("CsPbI3", "nestoklon2023-2nn")
SHIPPED = parameters_dir() / "CsPbI3.nestoklon2023-fit.etb.toml"
XX = dict(V_XX_ss_sigma=0.05, V_XX_sp_sigma=-0.07, V_XX_pp_sigma=0.12, V_XX_pp_pi=-0.03)
PBPB = dict(V_PbPb_ss_sigma=-0.04, V_PbPb_sp_sigma=0.06, V_PbPb_pp_sigma=0.09, V_PbPb_pp_pi=-0.02)


def _explicit(params):
    """The set's shells as explicit HoppingShells (the path of tests/test_structure.py)."""
    out = []
    for tag, sp_, shell in (("XX", "X", XX_SHELL), ("PbPb", "Pb", PBPB_SHELL)):
        v = {k: getattr(params, f"V_{tag}_{k}") for k in ("ss_sigma", "sp_sigma", "pp_sigma", "pp_pi")}
        out.append(HoppingShell(shell, (sp_, sp_), {("s", "s"): {"sigma": v["ss_sigma"]},
                                                     ("s", "p"): {"sigma": v["sp_sigma"]},
                                                     ("p", "p"): {"sigma": v["pp_sigma"], "pi": v["pp_pi"]}}))
    return out


def _zero(params):
    return params.replace(**{n: 0.0 for n in SECOND_NEIGHBOUR_NAMES})


def _shelled(s, a):
    return with_shell(with_shell(s, XX_SHELL, ("X", "X"), a / np.sqrt(2.0)), PBPB_SHELL, ("Pb", "Pb"), a)


# --- parameter files --------------------------------------------------------------------------


def test_sets_without_the_section_have_no_second_neighbours():
    assert all(getattr(P, n) == 0.0 for n in SECOND_NEIGHBOUR_NAMES)
    assert second_neighbour_shells(P) == ()
    assert nnz_per_row(P) == 7.5


def test_shipped_2nn_set_has_an_xx_shell_only():
    shells = second_neighbour_shells(P2)
    assert [sh.shell for sh, _ in shells] == [XX_SHELL]
    assert shells[0][1] == pytest.approx(P2.a / np.sqrt(2.0))
    assert P2.V_XX_pp_sigma > 0 and P2.V_PbPb_pp_sigma == 0.0


def _with_section(tmp_path, body: str):
    text = SHIPPED.read_text().replace("[spin_orbit]", body + "\n[spin_orbit]", 1)
    (tmp_path / "references.toml").write_text((parameters_dir() / "references.toml").read_text())
    f = tmp_path / "CsPbI3.t.etb.toml"
    f.write_text(text)
    return f


def test_section_loads_with_units_and_partial_names(tmp_path):
    f = _with_section(tmp_path, '[second_neighbour]\nV_XX_pp_sigma = { value = 120, unit = "meV", '
                                'source = "nestoklon2021" }\n')
    q = load_parameter_file(f)
    assert q.V_XX_pp_sigma == pytest.approx(0.12) and q.V_XX_pp_pi == 0.0
    assert q.values()["V_XX_pp_sigma"] == pytest.approx(0.12) and "V_XX_pp_pi" not in q.values()


@pytest.mark.parametrize("body, word", [
    ('[second_neighbour]\nV_XX_dd_sigma = { value = 0.1, unit = "eV", source = "nestoklon2021" }', "V_XX_dd_sigma"),
    ('[second_neighbour]\nV_XX_pp_sigma = { value = 0.1, unit = "nm", source = "nestoklon2021" }', "V_XX_pp_sigma"),
    ('[second_neighbour]\nV_XX_pp_sigma = { value = 4.0, unit = "eV", source = "nestoklon2021" }', "plausible"),
    ('[second_neighbour]\nV_PbPb_ss_sigma = { value = nan, unit = "eV", source = "nestoklon2021" }', "V_PbPb_ss_sigma"),
])
def test_bad_section_is_refused(tmp_path, body, word):
    with pytest.raises(ParameterError, match=word):
        load_parameter_file(_with_section(tmp_path, body))


# --- one bond list for bulk and nanocrystal --------------------------------------------------------


def test_parameter_shells_equal_explicit_shells():
    """The set's shells (added by the assembler) = the same bonds and integrals given explicitly."""
    Q = P.replace(**XX, **PBPB)
    s = cuboid(P.a, (2, 3, 2))
    a = assemble(s, Q, orbital_zeeman=True)
    b = assemble(_shelled(s, P.a), _zero(Q), orbital_zeeman=True, shells=_explicit(Q))
    for x, y in zip((a.H0, *a.M, *a.J, a.hamiltonian((0.3, -2.0, 5.0))),
                    (b.H0, *b.M, *b.J, b.hamiltonian((0.3, -2.0, 5.0)))):
        assert abs(x - y).max() < 1e-14
    k = np.array([0.7, -1.3, 2.1])
    Hk = bloch_hamiltonian(Q, k)
    Hk_explicit = bloch_matrix(_shelled(bulk_cell(P.a), P.a), _zero(Q), k, shells=_explicit(Q))[0]
    assert np.abs(Hk - Hk_explicit).max() < 1e-13
    assert np.abs(Hk - bloch_hamiltonian(P.replace(**PBPB), k)).max() > 1e-3  # the X–X shell is there


def test_xx_bonds_of_a_cube():
    """Every interior halide has its eight X neighbours at a/√2; none is farther or doubled."""
    h = assemble(cuboid(P2.a, 3), P2)
    s, b = h.structure, h.structure.bonds
    xx = b.shell == XX_SHELL
    assert np.allclose(np.linalg.norm(b.vector[xx], axis=1), P2.a / np.sqrt(2.0))
    deg = np.bincount(np.concatenate([b.i[xx], b.j[xx]]), minlength=s.n_sites)
    inner = (s.species == 1) & np.all(np.abs(s.positions) < 0.9 * P2.a, axis=1)
    assert inner.sum() > 0 and np.all(deg[inner] == 8) and deg.max() == 8
    assert len({(i, j) for i, j in zip(b.i[xx], b.j[xx])}) == int(xx.sum())


def test_halide_band_disperses_only_with_xx_hopping():
    """Without X–X hopping the top halide-p level at R is the flat non-bonding level E_p,X + λ_X; with it the
    level moves and the halide band disperses between R and Γ."""
    b = bulk_properties(P)
    assert b.E_Xp_R == pytest.approx(P.E_p_X + P.lambda_so_X - b.E_vbm, abs=1e-9)
    b2 = bulk_properties(P2)
    assert b2.E_Xp_R == pytest.approx(-1.5, abs=0.02)  # the fit target (E_Xp_R, tolerance 0.02 eV)

    def top_halide(params, point):
        E = np.linalg.eigvalsh(bloch_hamiltonian(params, high_symmetry_point(point, params.a)))
        return E[23]

    assert top_halide(P, "R") == pytest.approx(top_halide(P, "G"), abs=1e-9)
    assert abs(top_halide(P2, "R") - top_halide(P2, "G")) > 0.1


def test_temperature_rule_b_scales_the_second_neighbours():
    Q = P2.replace(dEg_dT=3.1e-4, thermal_expansion=3.39e-5)
    hot = parameters_at(Q, 300.0, rule="b")
    ratio = hot.V_pp_sigma / Q.V_pp_sigma
    assert ratio < 1 and hot.V_XX_pp_sigma / Q.V_XX_pp_sigma == pytest.approx(ratio, rel=1e-12)
    assert parameters_at(Q, 300.0, rule="a").V_XX_pp_sigma == Q.V_XX_pp_sigma


def test_nanocrystal_with_second_neighbours_is_hermitian_kramers_gapless_and_symmetric():
    Q = P2.replace(**PBPB)
    ht = assemble(cuboid(Q.a, (2, 2, 3)), Q)
    assert abs(ht.H0 - ht.H0.conj().T).max() < 1e-14
    with blas_threads(1):
        E = np.linalg.eigvalsh(ht.H0.toarray())
    assert np.max(np.abs(E[1::2] - E[0::2])) < KRAMERS_ATOL_EV
    lo, hi = bulk_edges(Q)
    assert np.count_nonzero((E > lo + 0.05) & (E < hi - 0.05)) == 0
    assert np.count_nonzero(E < lo + 0.05) == ht.n_fill
    terms = terms_from_hamiltonian(ht)
    a, b = solve(terms, symmetry="auto"), solve(terms, symmetry="none")
    assert len(a.stats["symmetry"]) > 1
    assert a.E_e == pytest.approx(b.E_e, abs=1e-9) and a.g_e.g == pytest.approx(b.g_e.g, abs=1e-7)
    assert a.g_h.g == pytest.approx(b.g_h.g, abs=1e-7)


# --- the fit --------------------------------------------------------------------------------------


def test_shipped_2nn_set_meets_its_recorded_fit():
    path = parameters_dir() / "CsPbI3.nestoklon2023-2nn.etb.toml"
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    fit = doc["fit"]
    spec = read_fit_spec(parameters_dir() / "fits" / "CsPbI3.nestoklon2023-2nn.toml")
    assert list(spec.free) == fit["free"] and "V_XX_pp_sigma" in fit["free"]
    assert {t.name: t.value for t in spec.targets} == {k: v["value"] for k, v in fit["targets"].items()}
    assert fit["parent"] == "CsPbI3.nestoklon2023-fit"
    y = evaluate_targets(P2, list(fit["targets"]))
    for name, t in fit["targets"].items():
        assert abs(y[name] - t["value"]) <= abs(fit["residuals"][name]) + 1e-4, name
    assert abs(bulk_properties(P2).E_vbm) < 1e-6  # align_vbm: the VBM is the energy zero
    assert re.search(r"^vbm_shift_eV = ", path.read_text(encoding="utf-8"), re.M)


@pytest.mark.physics
def test_fit_recovers_an_xx_integral():
    """Targets of a set with V_XX_pp_sigma = 0.10 eV; starting from 0.05 eV the fit returns 0.10."""
    Q = P.replace(V_XX_pp_sigma=0.10)
    names = ["Eg", "E_Xp_R"]
    y = evaluate_targets(Q, names)
    spec = {
        "fit": {"material": "CsPbI3", "parameter_set": "xx-roundtrip", "parent": "CsPbI3.nestoklon2023-fit",
                "source": "nestoklon2023-2nn", "max_nfev": 40},
        "start": {"V_XX_pp_sigma": {"value": 0.05, "unit": "eV", "source": "nestoklon2023-2nn"}},
        "free": {"names": ["E_p_Pb", "V_XX_pp_sigma"]},
        "targets": {n: {"value": y[n]} for n in names},
    }
    r = fit_parameters(spec)
    assert r.fitted["V_XX_pp_sigma"] == pytest.approx(0.10, abs=1e-5)
    assert r.fitted["E_p_Pb"] == pytest.approx(P.E_p_Pb, abs=1e-5)


@pytest.mark.parametrize("kind", ["passivated", "csx"])
def test_terminations_combine_with_second_neighbours(kind):
    """Missing bonds come from the nearest-neighbour shell only; with the X–X shell the terminated NC has
    no state in the bulk gap and n_fill states below it."""
    ht = assemble(cuboid(P2.a, (2, 2, 3)), P2, termination=kind)
    base = assemble(cuboid(P2.a, (2, 2, 3)), P2)
    assert ht.n_fill == base.n_fill - ht.surface.n_lifted
    with blas_threads(1):
        E = np.linalg.eigvalsh(ht.H0.toarray())
    lo, hi = bulk_edges(P2)
    assert np.count_nonzero((E > lo + 0.05) & (E < hi - 0.05)) == 0
    assert np.count_nonzero(E < lo + 0.05) == ht.n_fill
