"""The result schema (app/store/results.py) and the one HDF5 reader/writer (app/store/io.py), issue 11.

Round trips of rows of every kind through HDF5 and CSV, the CLI JSON keys spelled by the schema,
the ``kind`` attribute, schema-version refusals and the reading of files of the first layout.
"""

from __future__ import annotations

import csv
import json
import math

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perovskite_tb import nc
from perovskite_tb.app.store.export import load_results, write_csv
from perovskite_tb.app.engine.models import compute_point
from perovskite_tb.app.engine.points import expand_points
from perovskite_tb.app.engine.runfile import parse_run
from perovskite_tb.app.store.io import (KINDS, LEGACY_SCHEMAS, SCHEMA, ResultWriter, read_curve,
                                  read_table)
from perovskite_tb.app.store.results import (BULK_COLUMNS, BULK_JSON, COLUMNS, EXCITON_OBSERVABLES, JSON_KEYS, KP_NC_JSON,
                                       NC_JSON, bulk_row, check_row, default_row, nc_json,
                                       row_from_result, to_json)
from perovskite_tb.errors import InputError, PerovskiteTBError
from perovskite_tb.model.bulk import bulk_properties
from perovskite_tb.model.materials import load_parameters
from perovskite_tb.observables import REGISTRY

SP3 = load_parameters("CsPbI3", "nestoklon2021-sp3")

#: JSON keys of the CLI before the schema (perovskite_tb.nc.NcResult.as_json, BulkProperties.as_json,
#: kp.confinement.nc_gfactors), in their order.
NC_KEYS_BEFORE = ["n_cells", "edge_nm", "n_states", "E_e_eV", "E_h_eV", "transition_energy_eV", "g_e",
                  "g_h", "g_e_tensor", "g_h_tensor", "residual_e_eV", "residual_h_eV", "seconds"]
BULK_KEYS_BEFORE = ["Eg_eV", "gap_M_eV", "gap_X_eV", "Delta_so_eV", "m_e", "m_h", "g_e", "g_h"]
KP_NC_KEYS_BEFORE = ["n_states", "E_e_eV", "E_h_eV", "transition_energy_eV", "g_e", "g_h",
                     "g_e_tensor", "g_h_tensor", "residual_e_eV", "residual_h_eV", "parameter_set",
                     "basis", "n_basis", "seconds"]


# ------------------------------------------------------------------------------ the schema itself


def test_json_keys_of_the_schema_equal_the_cli_keys_before():
    assert [COLUMNS[n].key for n in NC_JSON[: len(NC_KEYS_BEFORE)]] == NC_KEYS_BEFORE
    assert [BULK_COLUMNS[n].key for n in BULK_JSON] == BULK_KEYS_BEFORE
    assert [COLUMNS[n].key for n in KP_NC_JSON[: len(KP_NC_KEYS_BEFORE)]] == KP_NC_KEYS_BEFORE


def test_every_observable_has_a_column_and_a_json_key():
    assert REGISTRY, "observables registry is empty"
    for name, obs in REGISTRY.items():
        assert COLUMNS[name].unit == obs.unit and COLUMNS[name].dtype == "f8"
        if name in EXCITON_OBSERVABLES:  # opt-in (nc --excitons adds its own keys): not in the default JSON
            assert name not in NC_JSON and name not in KP_NC_JSON
        else:
            assert name in NC_JSON and name in KP_NC_JSON


def test_units_and_dtypes_are_declared_once():
    assert COLUMNS["E_e"].unit == "eV" and COLUMNS["edge_nm"].unit == "nm"
    assert COLUMNS["temperature_K"].unit == "K" and COLUMNS["peak_rss_GB"].unit == "GB"
    assert COLUMNS["g_e_tensor"].shape == (3, 3) and COLUMNS["n_cells"].dtype == "i8"
    for c in COLUMNS.values():
        assert c.dtype in ("f8", "i8", "bool", "str") and c.description


def test_unknown_column_is_refused():
    with pytest.raises(KeyError):
        check_row({"E_e_eV": 1.0})  # a JSON key is not a column name
    with pytest.raises(ValueError):
        check_row({"g_e_tensor": np.zeros(3)})


@pytest.fixture(scope="module")
def cube1():
    """A real 2-cell ETB cube (sp3 set, 44 atoms: fast) with its pipeline result."""
    return nc.nc_gfactors(SP3, (2, 2, 2))


def test_nc_row_reproduces_the_pipeline_json(cube1):
    """The CLI JSON built from the schema has the pipeline's keys and exactly its values."""
    old = cube1.as_json()
    new = to_json(row_from_result(cube1, n_cells=(2, 2, 2)), NC_JSON)
    for k in NC_KEYS_BEFORE:
        assert new[k] == old[k], k
    assert new["shape"] == "cube" and "diameter_nm" not in new
    assert new["g_X"] == pytest.approx(old["g_e"] + old["g_h"], abs=1e-15)  # g_X = g_e + g_h


def test_nc_json_adds_shape_atoms_and_observables(cube1):
    d = nc_json(cube1, SP3)
    assert list(d)[: len(NC_KEYS_BEFORE)] == NC_KEYS_BEFORE
    assert d["shape"] == "cube" and d["n_atoms"] == 44 and d["solver"]
    assert JSON_KEYS["E_e"] == "E_e_eV" and JSON_KEYS["g_X"] == "g_X"


def test_bulk_row_reproduces_as_json():
    b = bulk_properties(SP3)
    assert to_json(bulk_row(b), BULK_JSON, BULK_COLUMNS) == b.as_json()


# ------------------------------------------------------------------------------ HDF5 round trips

_finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
_label = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FFF,
                                        blacklist_categories=("Cs",)), max_size=12)


@st.composite
def _rows(draw, model: str):
    """Random rows of ``model``: every stored column with a value of its dtype and shape."""
    n = draw(st.integers(1, 4))
    rows = []
    for _ in range(n):
        row = {}
        for name, c in COLUMNS.items():
            if not c.stored:
                continue
            size = int(np.prod(c.shape)) if c.shape else 1
            if size > 16:  # the level spectra: a few drawn values tiled over the array (one value per
                # element would make the smallest example hundreds of draws)
                pool = draw(st.lists(st.one_of(_finite, st.just(math.nan)) if c.dtype == "f8"
                                     else st.integers(0, 10**6), min_size=1, max_size=5))
                row[name] = np.resize(np.asarray(pool, dtype=c.dtype), c.shape)
                continue
            if c.dtype == "f8":
                vals = draw(st.lists(st.one_of(_finite, st.just(math.nan)), min_size=size,
                                     max_size=size))
            elif c.dtype == "i8":
                vals = draw(st.lists(st.integers(0, 10**6), min_size=size, max_size=size))
            elif c.dtype == "bool":
                vals = [draw(st.booleans())]
            else:
                vals = [draw(_label)]
            row[name] = np.reshape(vals, c.shape) if c.shape else vals[0]
        rows.append(check_row(row))
    return rows


def _equal(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype == object or b.dtype == object:
        return list(np.ravel(a)) == list(np.ravel(b))
    return np.array_equal(a, b, equal_nan=True)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(etb=_rows("etb"), kp=_rows("kp"), kind=st.sampled_from(KINDS))
def test_rows_of_every_kind_round_trip(tmp_path_factory, etb, kp, kind):
    path = tmp_path_factory.mktemp("rt") / "r.h5"
    with ResultWriter(path, {"kind": kind}) as w:
        for model, rows in (("etb", etb), ("kp", kp)):
            for r in rows:
                w.append(model, r)
    with h5py.File(path) as f:
        assert f.attrs["kind"] == kind and f.attrs["schema"] == SCHEMA
        assert f.attrs["package_version"] and f.attrs["git_describe"]
    for model, rows in (("etb", etb), ("kp", kp)):
        with ResultWriter(path, {"kind": kind}) as w:  # reopening keeps every row
            got = w.rows(model)
        for name, c in COLUMNS.items():
            if c.stored:
                assert _equal(got[name], [r[name] for r in rows]), (model, name)
    t = load_results(path)
    assert len(t) == len(etb) + len(kp) and t.attrs["kind"] == kind
    assert t.units["E_e"] == "eV" and t.units["semi_axes_nm"] == "nm"


def test_csv_header_carries_every_column_with_its_unit(tmp_path, cube1):
    """A row computed by the engine's point code, written, exported: header = units list, values."""
    spec = parse_run({"axes": {"parameter_set": "nestoklon2021-sp3", "n_cells": 2,
                               "temperature_K": 0.0}})
    (point,) = expand_points(spec).points
    path = tmp_path / "c.h5"
    with ResultWriter(path, {"kind": "sweep"}) as w:
        w.append("etb", compute_point(point))
    out = tmp_path / "c.csv"
    write_csv(load_results(path), out)
    lines = out.read_text().splitlines()
    units = dict(kv.split("=") for kv in lines[1].removeprefix("# units: ").split("; "))
    header = next(csv.reader([lines[2]]))
    assert header == list(units)
    assert units["transition_energy"] == "eV" and units["g_X"] == "1" and units["diameter_nm"] == "nm"
    assert {"shape", "n_atoms", "diameter_nm", "semi_axes_nm_x", "g_X", "solver"} <= set(header)
    row = dict(zip(header, next(csv.reader([lines[3]]))))
    assert float(row["g_e"]) == cube1.g_e.g and row["shape"] == "cube"
    assert int(row["n_atoms"]) == cube1.n_states // SP3.n_orb


def test_tables_round_trip(tmp_path):
    rows = [bulk_row(bulk_properties(SP3), material="CsPbI3", parameter_set="sp3")]
    path = tmp_path / "t.h5"
    with ResultWriter(path, {"kind": "halides"}) as w:
        w.write_table("bulk", rows)
    t = read_table(path, "bulk")
    assert list(t["material"]) == ["CsPbI3"] and t["units"]["Eg"] == "eV"
    assert t["Eg"][0] == rows[0]["Eg"] and np.isnan(t["Ep"][0])
    with pytest.raises(InputError, match="no table"):
        read_table(path, "nope")


# ------------------------------------------------------------------------------ versions, kinds


def test_unknown_kind_and_schema_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="unknown result kind"):
        ResultWriter(tmp_path / "k.h5", {"kind": "movie"})
    p = tmp_path / "future.h5"
    with h5py.File(p, "w") as f:
        f.attrs["schema"] = "perovskite_tb.results/3"
    for call in (lambda: load_results(p), lambda: ResultWriter(p, {"kind": "sweep"})):
        with pytest.raises(InputError) as ei:
            call()
        assert "\n" not in str(ei.value) and "results/3" in str(ei.value)


def test_old_halides_file_is_refused_in_one_line(tmp_path):
    p = tmp_path / "old_halides.h5"
    with h5py.File(p, "w") as f:
        f.attrs["schema"] = "perovskite_tb.halides/1"
        f.create_dataset("CsPbI3/etb/g_e", data=[1.0])
    with pytest.raises(PerovskiteTBError, match="old halides file") as ei:
        load_results(p)
    assert "\n" not in str(ei.value)


def _first_layout_file(path, cube1, schema):
    """A file as the first writer (schema perovskite_tb.curve/1) laid it out: 15 columns, root attrs."""
    old = {"n_cells": [2, 2, 2], "edge_nm": cube1.edge_nm[0], "temperature_K": 0.0,
           "n_states": cube1.n_states, "E_e": cube1.E_e, "E_h": cube1.E_h,
           "transition_energy": cube1.transition_energy, "g_e": cube1.g_e.g, "g_h": cube1.g_h.g,
           "g_e_tensor": cube1.g_e.tensor, "g_h_tensor": cube1.g_h.tensor, "residual_e": 1e-15,
           "residual_h": 1e-15, "seconds": 0.5, "peak_rss_GB": 0.2}
    with h5py.File(path, "w") as f:
        f.attrs.update({"schema": schema, "material": "CsPbI3", "parameter_set": "nestoklon2021-sp3",
                        "orbital_zeeman": False, "config_json": json.dumps({"material": "CsPbI3"})})
        g = f.create_group("etb/rows")
        for k, v in old.items():
            g.create_dataset(k, data=np.asarray(v)[None])
        g.attrs["n_complete"] = 1


@pytest.mark.parametrize("schema", LEGACY_SCHEMAS)
def test_first_layout_files_are_read_not_extended(tmp_path, cube1, schema):
    p = tmp_path / "old.h5"
    _first_layout_file(p, cube1, schema)
    t = load_results(p)
    assert len(t) == 1 and t["g_e"][0] == cube1.g_e.g
    assert t["shape"][0] == "cube" and t["parameter_set"][0] == "nestoklon2021-sp3"
    assert np.isnan(t["diameter_nm"][0]) and t["kp_basis"][0] == ""
    assert read_curve(p)["transition_energy"][0] == cube1.transition_energy
    with pytest.raises(InputError, match="older version") as ei:
        ResultWriter(p, {"kind": "curve"})
    assert "\n" not in str(ei.value)


def test_new_columns_get_defaults_for_rows_written_before_them(tmp_path, cube1):
    """A column added to the schema later (e.g. a new observable) is created with its default for
    the rows already in the file, so files keep growing through schema additions."""
    p = tmp_path / "grow.h5"
    row = row_from_result(cube1, model="etb", n_cells=(2, 2, 2))
    with ResultWriter(p, {"kind": "sweep"}) as w:
        w.append("etb", row)
    with h5py.File(p, "a") as f:  # as if g_X had not existed when the first row was written
        del f["etb/rows/g_X"]
        del f["etb/row_sha256"]  # such a version wrote no row digests either
    with ResultWriter(p, {"kind": "sweep"}) as w:
        w.append("etb", row)
        got = w.rows("etb")
    assert np.isnan(got["g_X"][0]) and got["g_X"][1] == row["g_X"]
    assert default_row()["g_X"] != default_row()["g_X"]  # NaN default


def test_a_second_writer_on_the_same_file_is_refused(tmp_path):
    """Advisory lock of our own (issue 13): a concurrent writer is refused even with HDF5 locking off."""
    import os

    from perovskite_tb.app.store.io import ResultWriter
    from perovskite_tb.errors import InputError

    os.environ["HDF5_USE_FILE_LOCKING"] = "FALSE"
    try:
        path = tmp_path / "r.h5"
        w = ResultWriter(path, {"kind": "sweep"})
        with pytest.raises(InputError, match="being written by another process"):
            ResultWriter(path, {"kind": "sweep"})
        w.close()
        ResultWriter(path, {"kind": "sweep"}).close()  # free again after close
    finally:
        os.environ.pop("HDF5_USE_FILE_LOCKING", None)


def test_a_foreign_hdf5_file_is_not_adopted(tmp_path):
    import h5py

    from perovskite_tb.app.store.io import ResultWriter
    from perovskite_tb.errors import InputError

    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=[1, 2, 3])
    with pytest.raises(InputError, match="another program"):
        ResultWriter(path, {"kind": "sweep"})
    with h5py.File(path, "r") as f:  # untouched: no stamp written
        assert not len(f.attrs) and list(f.keys()) == ["data"]
