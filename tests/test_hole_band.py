"""Derived band of the hole 207Pb 6s hyperfine constant and the Delta_N_h_low/high observables (issue 21 item 5)."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from perovskite_tb.model.materials import BASES, load_parameters
from perovskite_tb.nc import nc_gfactors
from perovskite_tb.observables import REGISTRY
from perovskite_tb.observables.hole_band import hole_band_fields, load_hole_band
from perovskite_tb.observables.hyperfine import MU_B_UEV_PER_T

BASIS = "sp3d5s*"
NORB = len(BASES[BASIS])
F_PB = 0.221 * 0.75  # x I(I+1) of 207Pb


def test_band_is_derived_ordered_and_cited():
    b = load_hole_band()
    assert b.tag == "DER"
    assert 0 < b.low_ueV < b.high_ueV
    assert b.low_ueV == pytest.approx(212.8) and b.high_ueV == pytest.approx(360.7)
    assert {"berkeland1998", "fermi1933"} <= set(b.sources)


def test_uniform_pb_s_state_matches_merkulov_formula():
    n = 27
    species = np.zeros(n, dtype=int)
    V = np.zeros((n * 2 * NORB, 2), dtype=complex)
    s = BASES[BASIS].index("s")
    for j in range(n):
        V[j * 2 * NORB + 2 * s, 0] = V[j * 2 * NORB + 2 * s + 1, 1] = math.sqrt(1.0 / n)
    b = load_hole_band()
    out = hole_band_fields(species, V, 0.5, BASIS)
    for end, A in (("low", b.low_ueV), ("high", b.high_ueV)):
        E = math.sqrt(2.0 / 3.0 * F_PB * A**2 / n)
        assert out[f"Delta_N_h_ueV_{end}"] == pytest.approx(E, rel=1e-12)
        assert out[f"Delta_N_h_mT_{end}"] == pytest.approx(1e3 * E / (0.5 * MU_B_UEV_PER_T), rel=1e-12)
    assert out["w_h_Pb_s"] == pytest.approx(1.0)
    assert math.isnan(hole_band_fields(species, V, 0.0, BASIS)["Delta_N_h_mT_low"])


def test_nc_band_brackets_and_cited_value_stays_nan():
    r = nc_gfactors(load_parameters("CsPbI3"), 4, dielectric=None)
    lo, hi = r.observable("Delta_N_h_low"), r.observable("Delta_N_h_high")
    assert 0 < lo < hi
    b = load_hole_band()
    assert hi / lo == pytest.approx(b.high_ueV / b.low_ueV, rel=1e-12)  # Pb-only: linear in A
    assert math.isnan(r.observable("Delta_N_h"))


def test_nan_without_atoms():
    assert math.isnan(REGISTRY["Delta_N_h_low"].compute(object()))
    fake = SimpleNamespace(model="kp", cached=lambda k, f: f(None))
    assert math.isnan(REGISTRY["Delta_N_h_high"].compute(fake))
