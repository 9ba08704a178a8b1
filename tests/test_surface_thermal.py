"""Surface weight and thermal g observables (issue 21 items 1 and 6)."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from perovskite_tb.errors import InputError
from perovskite_tb.model.materials import load_parameters
from perovskite_tb.model.structure import PB
from perovskite_tb.nc import nc_gfactors
from perovskite_tb.observables import REGISTRY, evaluate
from perovskite_tb.observables.surface import (
    fit_exponent,
    hard_wall_share,
    outer_pb,
    surface_weights,
)
from perovskite_tb.observables.thermal import (
    WEIGHT_CUTOFF,
    multiplet_g,
    populations,
    thermal_g,
)

P = load_parameters("CsPbI3")


@pytest.fixture(scope="module")
def cubes():
    """pbx6 cubes of 4, 6, 8 cells with two doublets per side."""
    return {n: nc_gfactors(P, n, levels=2, dielectric=None) for n in (4, 6, 8)}


# ------------------------------------------------------------------ surface weight
def test_registered():
    for k in ("surface_weight_e", "surface_weight_h", "g_e_thermal", "g_h_thermal"):
        assert k in REGISTRY


def test_outer_pb_count_of_a_cube(cubes):
    for n, r in cubes.items():
        st = r.structure
        assert int(outer_pb(st).sum()) == n**3 - (n - 2) ** 3
        assert not np.any(outer_pb(st)[st.species != PB])


@pytest.mark.parametrize("termination", ["pbx6", "passivated", "csx"])
def test_weights_in_unit_interval_and_sum_to_one(termination):
    r = nc_gfactors(P, 4, termination=termination, dielectric=None)
    for c in ("e", "h"):
        s, i = surface_weights(r.structure, r.spectrum.carrier(c)[0].vectors)
        assert 0.0 <= s <= 1.0 and 0.0 <= i <= 1.0
        assert s + i == pytest.approx(1.0, abs=1e-10)
    assert r.observable("surface_weight_e") == pytest.approx(
        surface_weights(r.structure, r.spectrum.electron[0].vectors)[0])


def test_pbx6_surface_weight_falls_with_size(cubes):
    """Physics: confined band-edge states of the PbX6 cube put less weight on the surface as L grows."""
    for c in ("e", "h"):
        w = [cubes[n].observable(f"surface_weight_{c}") for n in (4, 6, 8)]
        assert w[0] > w[1] > w[2] > 0
        assert fit_exponent([4, 6, 8], w) > 0.5


def test_kp_and_plain_objects_give_nan():
    fake = SimpleNamespace(model="kp", cached=lambda k, f: f(None), structure=None, context={})
    assert math.isnan(REGISTRY["surface_weight_e"].compute(fake))
    assert math.isnan(REGISTRY["surface_weight_h"].compute(object()))
    assert math.isnan(REGISTRY["g_e_thermal"].compute(object()))


def test_fit_exponent_and_hard_wall():
    L = np.array([2.0, 3.0, 5.0])
    assert fit_exponent(L, 0.3 * L**-2.0) == pytest.approx(2.0)
    assert fit_exponent(L, [0.4, 0.4, 0.4]) == pytest.approx(0.0, abs=1e-12)
    assert hard_wall_share(4) == pytest.approx(0.6211, abs=1e-4)
    with pytest.raises(InputError):
        fit_exponent([1.0], [1.0])


# ------------------------------------------------------------------ thermal g
def test_populations_sum_to_one_and_T0():
    p = populations([0.0, 0.01, 0.012], [2, 2, 4], 90.0)
    assert p.sum() == pytest.approx(1.0)
    assert np.all(np.diff(p[:2]) < 0)
    np.testing.assert_array_equal(populations([0.0, 0.01], [2, 4], 0.0), [1.0, 0.0])
    with pytest.raises(InputError):
        populations([0.0], [2], -1.0)


def test_multiplet_g_rule():
    assert multiplet_g([0.7, -0.7]) == pytest.approx(1.4)
    assert multiplet_g(1.3 * np.array([1.5, 0.5, -0.5, -1.5])) == pytest.approx(1.3)


def _fake(energies, degs, gs, proven=True):
    """A solved-like object: electron multiplets with linear Zeeman values g·m."""
    levels = tuple(SimpleNamespace(energy=E, degeneracy=d) for E, d in zip(energies, degs))
    sp = SimpleNamespace(carrier=lambda c: levels, proven=proven, proof={"cut_e_eV": energies[-1] + 1.0})

    def zeeman(c, i):
        d = degs[i]
        m = (d - 1) / 2 - np.arange(d)
        return np.vstack([gs[i] * m] * 3)

    return SimpleNamespace(spectrum=sp, zeeman=zeeman, context={}, cached=lambda k, f: f(None))


def test_fake_two_level_average():
    s = _fake([1.0, 1.02, 1.5], [2, 2, 2], [2.0, -1.0, 5.0])
    t = thermal_g(s, "e", 90.0)
    p = populations([1.0, 1.02, 1.5], [2, 2, 2], 90.0)
    assert t["g"] == pytest.approx(p @ [2.0, -1.0, 5.0])
    assert math.isnan(thermal_g(s, "e", 5000.0)["g"])  # 6.9 kT beyond the last level: incomplete
    assert math.isnan(thermal_g(_fake([1.0, 1.5], [2, 2], [2.0, 1.0], proven=False), "e", 10.0)["g"])
    assert math.isnan(thermal_g(s, "e", None)["g"])  # no temperature in context


def test_T_to_zero_is_band_edge_g(cubes):
    r = cubes[6]
    for c, g in (("e", r.g_e), ("h", r.g_h)):
        t = thermal_g(r, c, 1.0)
        assert t["populations"].sum() == pytest.approx(1.0)
        assert t["g"] == pytest.approx(2 * r.zeeman(c, 0)[2][0], abs=1e-12)
        assert t["g"] == pytest.approx(g.g, abs=1e-6)


def test_small_nc_has_no_thermal_effect(cubes):
    """Physics: in a 4-cell cube the next level is ≫ 7 k_B T at 90 K, so g_thermal = g_band_edge."""
    r = cubes[4]
    for c, g in (("e", r.g_e.g), ("h", r.g_h.g)):
        t = thermal_g(r, c, 90.0)
        assert abs(t["energies_eV"][1] - t["energies_eV"][0]) > t["needed_eV"]
        assert t["g"] == pytest.approx(g, abs=1e-4)


def test_observable_reads_context_and_nan_when_K_too_small():
    r = nc_gfactors(P, 4, levels=1, dielectric=None)
    assert math.isnan(r.observable("g_e_thermal"))  # no temperature_K
    r.context["temperature_K"] = 0.0
    assert r.observable("g_e_thermal") == pytest.approx(r.g_e.g, abs=1e-6)
    r.context["temperature_K"] = 30.0
    assert math.isnan(r.observable("g_h_thermal"))  # K = 1: nothing known beyond the edge
    assert math.isnan(evaluate(r, ["g_e_thermal"])["g_e_thermal"])
    assert WEIGHT_CUTOFF == 1e-3
