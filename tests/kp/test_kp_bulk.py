"""Bulk k·p checks: 8-band linear response = Kirstein closed forms; Table S2; masses; inputs."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kp.bulk import bloch_hamiltonian, bulk_properties, kirstein_g_e, kirstein_g_h
from kp.parameters import KpParameters, load_kp_parameters
from perovskite_tb.constants import G0
from perovskite_tb.errors import InputError, ParameterError, PerovskiteTBError

pytestmark = pytest.mark.physics

# Nestoklon et al., Nano Lett. 23, 8218 (2023), SI Table S2: (Eg, g_e, g_h)
TABLE_S2 = {"CsPbI3": (1.652, 3.23, -0.33), "CsPbBr3": (2.352, 1.77, 0.66),
            "CsPbCl3": (3.090, 0.95, 1.14)}


@pytest.mark.parametrize("material", sorted(TABLE_S2))
def test_universal_set_reproduces_table_s2(material):
    p = load_kp_parameters(material)
    Eg, ge, gh = TABLE_S2[material]
    assert p.Eg == pytest.approx(Eg)
    assert kirstein_g_e(p.Eg, p.Ep) == pytest.approx(ge, abs=0.01)
    assert kirstein_g_h(p.Eg, p.Ep, p.Delta_so) == pytest.approx(gh, abs=0.01)
    r = bulk_properties(p)  # 8-band model uses CODATA g0: differs from "2" by 0.0023
    assert r.g_e == pytest.approx(ge, abs=0.01)
    assert r.g_h == pytest.approx(gh, abs=0.01)


def test_universal_constants():
    # Kirstein 2022: hbar p/m0 = 6.8 eV·Å  =>  (4/3) p²/m0 = (2/3) Ep = 8.09 eV
    p = load_kp_parameters("CsPbI3")
    assert (2 / 3) * p.Ep == pytest.approx(8.09, abs=0.01)


@settings(deadline=None, max_examples=30)
@given(Eg=st.floats(0.5, 4.0), Ep=st.floats(0.0, 25.0), Delta=st.floats(0.2, 2.0),
       dge=st.floats(-2.0, 2.0))
def test_eight_band_equals_closed_forms(Eg, Ep, Delta, dge):
    """Kirstein et al. (2022): spin-only Zeeman 8-band model gives the Kirstein forms exactly (g0 -> CODATA)."""
    p = KpParameters(material="x", parameter_set="t", Eg=Eg, P=math.sqrt(Ep * 0.0380998212),
                     Delta_so=Delta, delta_g_e=dge)
    r = bulk_properties(p)
    assert r.g_e == pytest.approx(kirstein_g_e(Eg, p.Ep, dge, g0=G0), abs=1e-6)
    assert r.g_h == pytest.approx(kirstein_g_h(Eg, p.Ep, Delta, g0=G0), abs=1e-6)
    # cubic doublets: isotropic tensors
    assert np.allclose(r.g_e_tensor, r.g_e * np.eye(3), atol=1e-9)
    assert np.allclose(r.g_h_tensor, r.g_h * np.eye(3), atol=1e-9)
    # masses (Kirstein et al. 2022)
    assert 1 / r.m_e == pytest.approx(1 + p.Ep / (3 * Eg), rel=1e-9)
    assert 1 / r.m_h == pytest.approx(p.Ep / 3 * (1 / Eg + 2 / (Eg + Delta)) - 1, rel=1e-9,
                                      abs=1e-12)
    assert r.Eg == pytest.approx(Eg, abs=1e-9) and r.Delta_so == pytest.approx(Delta, abs=1e-9)


def test_masses_match_band_curvature():
    """Perturbative masses agree with finite differences of the 8-band spectrum, incl. remote terms."""
    p = KpParameters(material="x", parameter_set="t", Eg=1.7, P=0.68, Delta_so=1.3,
                     L_prime=-0.4, M_prime=0.3, N_prime=-0.5, gamma_v=-2.0)
    r = bulk_properties(p)
    k = 1e-3
    for d in ([0, 0, 1], [1, 1, 1]):
        n = np.array(d, float) / np.linalg.norm(d)
        E = np.linalg.eigvalsh(bloch_hamiltonian(p, k * n))
        E0 = np.linalg.eigvalsh(bloch_hamiltonian(p, [0, 0, 0]))
        ce = (E[2] - E0[2]) / k**2
        ch = (E[1] - E0[1]) / k**2
        assert 0.0380998 / ce == pytest.approx(r.m_e, rel=1e-4)
        assert -0.0380998 / ch == pytest.approx(r.m_h, rel=1e-4)


def test_bloch_hamiltonian_hermitian_and_kramers():
    p = load_kp_parameters("CsPbBr3")
    rng = np.random.default_rng(1)
    for k in rng.normal(size=(5, 3)):
        H = bloch_hamiltonian(p, k)
        assert np.allclose(H, H.conj().T)
        E = np.linalg.eigvalsh(H)  # inversion + time reversal: doubly degenerate
        assert np.allclose(E[::2], E[1::2], atol=1e-10)


@pytest.mark.parametrize("material,pset", [("CsPbF3", None), ("CsPbI3", "no-such-set"),
                                           (None, None)])
def test_unknown_material_or_set(material, pset):
    with pytest.raises(ParameterError):
        load_kp_parameters(material, pset)


def test_bad_values():
    with pytest.raises(PerovskiteTBError):
        KpParameters(material="x", parameter_set="t", Eg=float("nan"), P=0.6, Delta_so=1.0)
    with pytest.raises(ParameterError):
        KpParameters(material="x", parameter_set="t", Eg=-1.0, P=0.6, Delta_so=1.0)
    with pytest.raises(InputError):
        kirstein_g_e(0.0, 12.0)
    with pytest.raises(InputError):
        bloch_hamiltonian(load_kp_parameters("CsPbI3"), [0, np.nan, 0])
