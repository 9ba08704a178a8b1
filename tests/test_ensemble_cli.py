"""``perovskite-tb ensemble run.toml``: the model curve from a real result file, reuse of points, outputs.

Small ETB cubes of the sp3 set (2–4 cells, seconds each) stand in for the NC sizes; the physics of the
ensemble itself is tested on closed forms in ``test_ensemble_physics.py``.
"""

import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from perovskite_tb import nc
from perovskite_tb.app.cli import main
from perovskite_tb.app.cli.ensemble import load_ensemble_run, model_curve, parse_ensemble_run
from perovskite_tb.app.jobs.ensemble_io import ENSEMBLE_SCHEMA, curve_from_rows, read_etb_rows
from perovskite_tb.errors import InputError
from perovskite_tb.model.materials import load_parameters
from perovskite_tb.model.temperature import parameters_at

SET = "nestoklon2021-sp3"

ENSEMBLE = """
[ensemble]
laser_eV = {laser}
field_T = 0.43
window_fwhm_eV = 0.02
pl_centre_eV = {laser}
pl_fwhm_eV = 0.2
t_max_ps = 300.0
n_t = 301
"""


def _write_run(d: Path, name="run.toml", *, n_cells=(2, 3), results="model.h5", output="ens.h5",
               plot="ens.png", laser=1.9, extra="") -> Path:
    axes = f'[axes]\nparameter_set = "{SET}"\n' + (f"n_cells = {list(n_cells)}\n" if n_cells else "")
    execution = "[execution]\nworkers = 1\n" if n_cells else ""
    head = f'results = "{results}"\noutput = "{output}"\n' + (f'plot = "{plot}"\n' if plot else "")
    p = d / name
    p.write_text(head + extra + axes + execution + ENSEMBLE.format(laser=laser))
    return p


def _cli(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_rows_read_from_a_sweep_file_equal_a_direct_computation(tmp_path, capsys):
    """The ModelCurve read back from the file equals the one built from nc_gfactors on the same cubes."""
    rc, out, err = _cli(["ensemble", _write_run(tmp_path), "--json", "--no-progress"], capsys)
    assert rc == 0, err
    res = json.loads(out)
    assert res["n_model_points"] == 2 and res["n_computed"] == 2
    run = load_ensemble_run(_write_run(tmp_path, "ro.toml", n_cells=None))  # read-only selection
    curve, info = model_curve(run)
    assert info["n_computed"] == 0 and len(info["keys"]) == 2
    p = parameters_at(load_parameters("CsPbI3", SET), 6.0)
    direct = []
    for N in (2, 3):
        r = nc.nc_gfactors(p, (N, N, N))
        direct.append((r.E_e - r.E_h, N * p.a, r.g_e.g, r.g_h.g, r.hyperfine["Delta_N_e_mT"],
                       r.hyperfine["Delta_N_h_mT"]))
    cols = list(zip(*direct))
    expect = type(curve).from_arrays(*cols)
    for q in ("E_eV", "edge_nm", "g_e", "g_h", "Delta_N_e_mT"):
        np.testing.assert_allclose(getattr(curve, q), getattr(expect, q), rtol=1e-10, atol=1e-12, err_msg=q)
    assert np.all(np.isfinite(curve.Delta_N_e_mT)) and curve.Delta_N_e_mT[0] > curve.Delta_N_e_mT[1]
    assert np.array_equal(np.isnan(curve.Delta_N_h_mT), np.isnan(expect.Delta_N_h_mT))
    rows, _ = read_etb_rows(tmp_path / "model.h5")
    whole = curve_from_rows(rows)
    np.testing.assert_array_equal(whole.g_e, curve.g_e)


def test_second_run_reads_and_new_sizes_are_added_to_the_same_file(tmp_path, capsys, monkeypatch):
    run = _write_run(tmp_path)
    assert _cli(["ensemble", run, "--json"], capsys)[0] == 0
    h5 = tmp_path / "model.h5"
    with h5py.File(h5) as f:
        assert int(f.attrs["n_points_computed"]) == 2

    def refuse(*a, **k):
        raise AssertionError("a point in the file was recomputed")

    monkeypatch.setattr(nc, "nc_gfactors", refuse)
    rc, out, err = _cli(["ensemble", run, "--json"], capsys)
    assert rc == 0, err
    assert json.loads(out)["n_computed"] == 0
    monkeypatch.undo()
    rc, out, err = _cli(["ensemble", _write_run(tmp_path, n_cells=(2, 3, 4)), "--json"], capsys)
    assert rc == 0, err
    res = json.loads(out)
    assert res["n_computed"] == 1 and res["n_model_points"] == 3
    with h5py.File(h5) as f:
        assert int(f.attrs["n_points_computed"]) == 3 and int(f["etb/rows"].attrs["n_complete"]) == 3


def test_a_curve_job_file_is_reused_and_keeps_its_kind(tmp_path, capsys):
    h5 = tmp_path / "curve.h5"
    rc, _, err = _cli(["curve", "--parameter-set", SET, "--n-cells", "2", "3", "-o", h5, "--plot", "none",
                       "--no-progress"], capsys)
    assert rc == 0, err
    rc, out, err = _cli(["ensemble", _write_run(tmp_path, results="curve.h5")], capsys)
    assert rc == 0, err
    assert "2 sizes from" in out and "(0 computed now)" in out and re.search(r"electron: g = -?\d", out)
    with h5py.File(h5) as f:
        assert f.attrs["kind"] == "curve"


def test_output_file_layout(tmp_path, capsys):
    rc, out, err = _cli(["ensemble", _write_run(tmp_path), "--json"], capsys)
    assert rc == 0, err
    res = json.loads(out)
    assert (tmp_path / "ens.png").stat().st_size > 1000
    with h5py.File(tmp_path / "ens.h5") as f:
        assert f.attrs["schema"] == ENSEMBLE_SCHEMA
        assert f.attrs["model_results"] == str(tmp_path / "model.h5")
        assert len(json.loads(f.attrs["model_points_json"])) == 2
        assert "laser_eV" in f.attrs["run_file_text"]
        assert json.loads(f.attrs["results_json"])["Delta_g_e"] == pytest.approx(res["Delta_g_e"])
        assert f["trace_e"][0] == pytest.approx(1.0) and f["t_ps"].attrs["units"] == "ps"
        assert f["curve/E_eV"].shape == (2,) and f["B_T"].attrs["units"] == "T"
    assert not list(tmp_path.glob("*.tmp"))


def test_outputs_are_checked_before_any_point_is_computed(tmp_path, capsys):
    (tmp_path / "other.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    for kw, msg in ((dict(output="other.h5"), "not an ensemble output"),
                    (dict(output="model.h5"), "result file"),
                    (dict(output="no/dir/e.h5"), "does not exist"), (dict(plot="e.txt"), "must end in")):
        rc, out, err = _cli(["ensemble", _write_run(tmp_path, **kw)], capsys)
        assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "model.h5").exists()  # nothing computed


def test_energy_outside_the_computed_range_after_the_points_are_saved(tmp_path, capsys):
    rc, out, err = _cli(["ensemble", _write_run(tmp_path, laser=3.5)], capsys)
    assert rc == 2
    assert re.search(r"\[ensemble\]\.laser_eV: 3\.5 eV is outside the computed range", err), err
    assert (tmp_path / "model.h5").exists() and not (tmp_path / "ens.h5").exists()


def test_run_file_validation_names_the_key():
    doc = {"results": "m.h5", "ensemble": {"laser_eV": 1.8, "field_T": 0.43, "window_fwhm_eV": 0.01,
                                           "size_mean_nm": 8.0, "size_std_nm": 1.0}}
    assert parse_ensemble_run(doc).sweep is None
    bad = [({"size_std_nm": -1.0}, r"\[ensemble\]\.size_std_nm: must be a finite number > 0 nm, got -1"),
           ({"size_mean_nm": 0.0}, r"\[ensemble\]\.size_mean_nm: .*> 0 nm, got 0"),
           ({"field_T": 0.0}, r"\[ensemble\]\.field_T: .*> 0 T, got 0"),
           ({"window_fwhm_eV": -0.01}, r"window_fwhm_eV: .*> 0 eV"),
           ({"laser_eV": "1.8"}, r"laser_eV: .*got '1.8'"),
           ({"pl_fwhm_eV": 0.1}, r"either size_mean_nm \+ size_std_nm .* or pl_centre_eV"),
           ({"sizes": 3}, r"\[ensemble\]: unknown key 'sizes'")]
    for change, msg in bad:
        with pytest.raises(InputError, match=msg):
            parse_ensemble_run({**doc, "ensemble": {**doc["ensemble"], **change}}, source="r.toml")
    with pytest.raises(InputError, match=r"\[axes\]\.n_cells\[0\]: the ensemble uses cubes"):
        parse_ensemble_run({**doc, "axes": {"n_cells": [[2, 2, 3]]}})
    with pytest.raises(InputError, match=r"\[axes\]\.temperature_K: the ensemble uses one value"):
        parse_ensemble_run({**doc, "axes": {"temperature_K": [6.0, 30.0]}})
    with pytest.raises(InputError, match=r"\[execution\]: only used to compute points"):
        parse_ensemble_run({**doc, "execution": {"workers": 1}})
    with pytest.raises(InputError, match=r"results: must be a result file ending in \.h5"):
        parse_ensemble_run({**doc, "results": "m.csv"})


def test_the_documented_run_file_parses():
    text = (Path(__file__).parent.parent / "docs" / "ensemble.md").read_text()
    block = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    import tomllib

    run = parse_ensemble_run(tomllib.loads(block), source="docs/ensemble.md")
    assert run.sweep is not None and run.ensemble["field_T"] == 0.43
