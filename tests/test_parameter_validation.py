"""Parameter files: units checked by dimension, plausible ranges, no unknown keys (issue 13, class 1)."""

from __future__ import annotations

import re
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perovskite_tb.errors import ParameterError
from perovskite_tb.model.materials import PLAUSIBLE, load_parameter_file, load_parameters, parameters_dir

SHIPPED = parameters_dir() / "CsPbI3.nestoklon2023.etb.toml"


def _variant(tmp_path, old: str, new: str, name: str = "v.etb.toml"):
    text = SHIPPED.read_text()
    assert old in text, old
    p = tmp_path / name
    p.write_text(text.replace(old, new, 1))
    for ref in parameters_dir().glob("references*.toml"):
        shutil.copy(ref, tmp_path / ref.name)
    return p


def _one_line_error(path) -> str:
    with pytest.raises(ParameterError) as exc:
        load_parameter_file(path)
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize("old,new,words", [
    ('a = { value = 6.289, unit = "angstrom"', 'a = { value = 6.289, unit = "eV"', ("length", "'eV'")),
    ('V_pp_sigma = { value = -2.47, unit = "eV"', 'V_pp_sigma = { value = -2.47, unit = "K"', ("energy", "'K'")),
    ('E_p_Pb = { value = 4.456, unit = "eV"', 'E_p_Pb = { value = 4.456, unit = "nm"', ("energy", "'nm'")),
    ('dEg_dT = { value = 3.1e-4, unit = "eV/K"', 'dEg_dT = { value = 3.1e-4, unit = "eV"', ("energy/temperature",)),
    ('a = { value = 6.289, unit = "angstrom"', 'a = { value = 6.3e6, unit = "angstrom"', ("630000", "nm", "plausible")),
    ('V_pp_sigma = { value = -2.47,', 'V_pp_sigma = { value = -1e6,', ("-1e+06", "eV", "plausible")),
    ('lambda_so_Pb = { value = 0.466,', 'lambda_so_Pb = { value = -0.466,', ("lambda_so_Pb", "plausible")),
    ('unit = "K", source = "nestoklon2021", note', 'unit = "eV", source = "nestoklon2021", note', ("reference_temperature_K", "'eV'")),
    ('a = { value = 6.289, unit = "angstrom", source = "nestoklon2021" }',
     'a = { value = 6.289, unit = "angstrom", source = "nestoklon2021" }\nb = { value = 1.0, unit = "nm", source = "nestoklon2021" }',
     ("[lattice]", "b")),
    ('[lattice]', '[latice]\nx = 1\n[lattice]', ("unknown section", "latice")),
    ('model = "etb"', 'model = "etb"\ncolour = "red"', ("[meta]", "colour")),
    ('E_s_X = { value = -13.3903, unit = "eV",', 'E_s_X = { value = -13.3903, unit = "eV", scale = 2,', ("scale",)),
])
def test_bad_parameter_files_are_refused_with_one_line(tmp_path, old, new, words):
    msg = _one_line_error(_variant(tmp_path, old, new))
    for w in words:
        assert w in msg, msg


def test_units_of_the_right_dimension_are_converted(tmp_path):
    # 0.6289 nm written in nm and 4456 meV must load to the same set as the shipped file.
    p = _variant(tmp_path, 'a = { value = 6.289, unit = "angstrom"', 'a = { value = 0.6289, unit = "nm"')
    p2 = tmp_path / "w.etb.toml"
    p2.write_text(p.read_text().replace('E_p_Pb = { value = 4.456, unit = "eV"', 'E_p_Pb = { value = 4456, unit = "meV"'))
    ref = load_parameters("CsPbI3", "nestoklon2023")
    got = load_parameter_file(p2)
    assert got.a == pytest.approx(ref.a, rel=1e-15)
    assert got.E_p_Pb == pytest.approx(ref.E_p_Pb, rel=1e-15)


def test_every_shipped_set_lies_inside_the_plausible_ranges():
    for p in parameters_dir().glob("*.etb.toml"):
        load_parameter_file(p)  # raises if a shipped value were outside its documented range


_NUM = re.compile(r"(E_p_X = \{ value = )(-?[0-9.]+)")


@settings(max_examples=25, deadline=None)
@given(st.one_of(st.floats(min_value=40.0001, max_value=1e12), st.floats(min_value=-1e12, max_value=-40.0001)))
def test_any_out_of_range_onsite_energy_is_refused(tmp_path_factory, value):
    lo, hi = PLAUSIBLE["onsite"]
    assert not lo <= value <= hi
    tmp = tmp_path_factory.mktemp("h")
    text = _NUM.sub(lambda m: f"{m.group(1)}{value!r}", SHIPPED.read_text(), count=1)
    p = tmp / "h.etb.toml"
    p.write_text(text)
    for ref in parameters_dir().glob("references*.toml"):
        shutil.copy(ref, tmp / ref.name)
    msg = _one_line_error(p)
    assert "E_p_X" in msg and "eV" in msg


def test_replace_cannot_leave_the_plausible_range():
    p = load_parameters("CsPbI3", "nestoklon2023")
    with pytest.raises(ParameterError, match="V_pp_sigma"):
        p.replace(V_pp_sigma=-1e6)
    with pytest.raises(ParameterError, match="nm"):
        p.replace(a=630.0)


@pytest.mark.parametrize("T", [1e300, 1001.0, -1.0, float("nan")])
def test_temperatures_outside_the_rules_are_refused_briefly(T):
    from perovskite_tb.errors import InputError
    from perovskite_tb.model.temperature import parameters_at

    p = load_parameters("CsPbI3", "nestoklon2023")
    with pytest.raises(InputError) as exc:
        parameters_at(p, T)
    assert "K" in str(exc.value) and len(str(exc.value)) < 200


@pytest.mark.parametrize("E_p_Pb,words", [(2.0, ("inverted", "Pb-p weight")), (2.63, ("bulk gap", "eV"))])
def test_wrong_band_edges_are_refused(E_p_Pb, words):
    """Inverted bands (Pb-p valence-band top) and a vanishing gap are refused, not solved."""
    from perovskite_tb.model.bulk import bulk_properties

    p = load_parameters("CsPbI3", "nestoklon2023").replace(E_p_Pb=E_p_Pb)
    with pytest.raises(ParameterError) as exc:
        bulk_properties(p)
    assert all(w in str(exc.value) for w in words) and "\n" not in str(exc.value)


def test_every_shipped_set_has_perovskite_band_edges():
    from perovskite_tb.model.bulk import bulk_properties
    from perovskite_tb.model.materials import available_sets

    for mat, sets in available_sets().items():
        for s in sets:
            assert bulk_properties(load_parameters(mat, s)).Eg > 0.15
