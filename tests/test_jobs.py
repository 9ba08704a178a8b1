"""Jobs over the one sweep engine (issue 11): shape axis, curve numbers, halides provenance, kinds,
the k·p cuboid fix and isolated points.

Sizes are tiny (ETB sp3 set, N ≤ 3; k·p with 4 envelope functions per direction) except the curve
regression point, which is the CLI contract's own (CsPbI3 default set, 3 cells, 6 K).
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib

import h5py
import numpy as np
import pytest

from perovskite_tb.app.jobs.curve import CurveConfig, run_curve
from perovskite_tb.app.store.export import load_results
from perovskite_tb.app.jobs.halides import halide_curves, write_h5
from perovskite_tb.app.store.io import read_table
from perovskite_tb.app.engine.models import compute_point
from perovskite_tb.app.engine.points import expand_points
from perovskite_tb.app.engine.runfile import parse_run, spec_to_toml
from perovskite_tb.app.engine.sweep import run_sweep
from perovskite_tb.errors import InputError
from perovskite_tb.model.materials import load_parameters
from perovskite_tb.model.shapes import ShapeSpec

SP3 = "nestoklon2021-sp3"


def _spec(axes: dict, **top):
    return parse_run({"axes": {"parameter_set": SP3, **axes}, **top}, source="run.toml")


# ------------------------------------------------------------------------------ the shape axis


def test_shape_axis_expands_to_shape_specs():
    spec = _spec({"shape": ["cube", "cuboid", "sphere", "spheroid"], "n_cells": [2, [2, 2, 3]],
                  "diameter_nm": [2.5], "semi_axes_nm": [[1.0, 1.0, 1.5]]})
    pts = expand_points(spec).points
    got = {p.shape for p in pts}
    assert got == {ShapeSpec("cube", n_cells=(2, 2, 2)), ShapeSpec("cuboid", n_cells=(2, 2, 3)),
                   ShapeSpec("sphere", diameter_nm=2.5),
                   ShapeSpec("spheroid", semi_axes_nm=(1.0, 1.0, 1.5))}
    assert len({p.key for p in pts}) == 4
    sphere = next(p for p in pts if p.shape.kind == "sphere")
    assert "sphere:d=2.5" in sphere.key and sphere.n_cells == (0, 0, 0)
    assert math.isnan(sphere.edge_nm) and sphere.columns()["diameter_nm"] == 2.5
    # a bigger sphere needs more memory; the estimate uses the bounding cuboid
    big = expand_points(_spec({"diameter_nm": [5.0]})).points[0]
    assert big.memory_gb > sphere.memory_gb
    # the resolved run file gives the same spec back
    assert parse_run(tomllib.loads(spec_to_toml(spec)), source="run.toml") == spec


def test_shape_axis_defaults_to_the_shapes_with_sizes():
    spec = _spec({"n_cells": [2, [2, 2, 3]], "diameter_nm": 3.0})
    assert spec.axes.shape == ("cube", "cuboid", "sphere")


@pytest.mark.parametrize("axes, message", [
    ({"shape": ["sphere"], "n_cells": [2]}, "[axes].shape[0]: shape 'sphere' has no sizes"),
    ({"shape": ["cube"], "n_cells": [2], "diameter_nm": [3.0]},
     "[axes].shape: sizes of shape 'sphere' are given"),
    ({"shape": ["ellipse"], "n_cells": [2]}, "[axes].shape[0]: unknown shape 'ellipse'"),
    ({"diameter_nm": [0.0]}, "[axes].diameter_nm[0]: must be a finite number > 0 nm"),
    ({"semi_axes_nm": [[1.0, 2.0]]}, "[axes].semi_axes_nm[0]: must be a list [A, B, C]"),
    ({"model": ["kp"], "diameter_nm": [3.0], "edge_nm": [3.0]}, "model 'kp' takes cubes and cuboids"),
    ({"n_cells": [2], "kp_basis": "sine"}, "[axes].kp_basis: applies to model 'kp' only"),
])
def test_shape_axis_errors_name_the_key(axes, message):
    with pytest.raises(InputError) as ei:
        _spec(axes)
    assert str(ei.value).startswith("run.toml: ") and message in str(ei.value)
    assert "\n" not in str(ei.value)


def test_sphere_and_spheroid_end_to_end(tmp_path):
    """Spheres are O_h (isotropic g), a prolate spheroid uniaxial along its long semi-axis (z)."""
    spec = _spec({"diameter_nm": [1.9], "semi_axes_nm": [[0.9, 0.9, 1.4]], "temperature_K": 0.0},
                 output=str(tmp_path / "s.h5"), execution={"workers": 1})
    rep = run_sweep(spec, progress=False)
    assert rep.n_computed == 2
    t = load_results(tmp_path / "s.h5")
    s, e = t.where(shape="sphere"), t.where(shape="spheroid")
    assert s["diameter_nm"][0] == 1.9 and s["n_atoms"][0] > 0
    g = s["g_e_tensor"][0]
    np.testing.assert_allclose(g, g[0, 0] * np.eye(3), atol=1e-6)
    ge = e["g_e_tensor"][0]
    assert abs(ge[0, 0] - ge[1, 1]) < 1e-6 and abs(ge[2, 2] - ge[0, 0]) > 1e-4


# ------------------------------------------------------------------------------ curve numbers

#: The CLI contract's curve rows before issue 11 (``perovskite-tb curve --n-cells 3 4 5 --model
#: etb,kp``, CsPbI3 nestoklon2023 at 6 K; 3-cell rows): E_e, E_h (eV), g_e, g_h.
CURVE_BEFORE = {
    "etb": (2.530837406115727, -0.366928254605777, 0.10515121354673963, 1.748023681604305),
    "kp": (3.0152953540931207, -0.7878000293500218, -0.4632478942649653, 1.7418867070698776),
}


@pytest.mark.physics
def test_curve_through_the_engine_keeps_its_numbers(tmp_path):
    out = tmp_path / "curve.h5"
    run_curve(CurveConfig(n_cells_list=(3,), models=("etb", "kp"), output=str(out), plot=None),
              progress=False)
    t = load_results(out)
    assert t.attrs["kind"] == "curve" and json.loads(t.attrs["config_json"])["material"] == "CsPbI3"
    for model, ref in CURVE_BEFORE.items():
        r = t.where(model=model)
        got = (r["E_e"][0], r["E_h"][0], r["g_e"][0], r["g_h"][0])
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10, err_msg=model)
        assert r["g_X"][0] == pytest.approx(ref[2] + ref[3], abs=1e-9)
    assert t.where(model="etb")["solver"][0] != "" and t.where(model="etb")["n_atoms"][0] == 135


# ------------------------------------------------------------------------------ halides


def test_halides_file_has_rows_tables_and_provenance(tmp_path):
    out = tmp_path / "h.h5"
    c = halide_curves(["CsPbI3"], parameter_set=SP3, n_cells=(2,), models=("etb",), output=out)
    write_h5(c, out)
    p = load_parameters("CsPbI3", SP3)
    with h5py.File(out) as f:
        a = dict(f.attrs)
    assert a["kind"] == "halides" and a["package_version"] and a["git_describe"]
    files = json.loads(a["parameter_files_json"])
    info = files[f"CsPbI3/{SP3}"]
    assert info["sha256"] == hashlib.sha256(open(p.path, "rb").read()).hexdigest()
    assert "[axes]" in a["run_toml"] and json.loads(a["config_json"])["parameter_set"] == SP3
    t = load_results(out)
    assert list(t["material"]) == ["CsPbI3"] and t["g_e"][0] == c.etb["CsPbI3"]["g_e"][0]
    bulk = read_table(out, "bulk")
    assert bulk["Eg"][0] == pytest.approx(c.bulk["CsPbI3"]["Eg_eV"], abs=0)
    assert set(read_table(out, "measured_bulk")["carrier"]) == {"e", "h"}
    # re-running into the same file computes nothing new (resumable like every sweep)
    again = halide_curves(["CsPbI3"], parameter_set=SP3, n_cells=(2,), models=("etb",), output=out)
    assert again.etb["CsPbI3"]["g_e"][0] == c.etb["CsPbI3"]["g_e"][0]
    with h5py.File(out) as f:
        assert f.attrs["n_points_computed"] == 1


# ------------------------------------------------------------------------------ k·p boxes


def test_kp_cuboid_point_solves_the_cuboid():
    """A k·p point given by n_cells = [2, 2, 3] solves the 2a × 2a × 3a box (before issue 11 it
    solved a 2a cube stored under the cuboid key): its tensor is uniaxial along z and its transition
    energy lies between those of the 2-cell and 3-cell cubes."""
    spec = _spec({"model": "kp", "n_cells": [2, [2, 2, 3], 3], "kp_resolution": 4,
                  "temperature_K": 0.0})
    pts = {p.n_cells: p for p in expand_points(spec).points}
    a = load_parameters("CsPbI3", SP3).a
    assert pts[(2, 2, 3)].edges_nm == (2 * a, 2 * a, 3 * a)
    rows = {n: compute_point(p) for n, p in pts.items()}
    r = rows[(2, 2, 3)]
    assert tuple(r["edges_nm"]) == (2 * a, 2 * a, 3 * a) and r["shape"] == "cuboid"
    assert rows[(3, 3, 3)]["transition_energy"] < r["transition_energy"] < rows[(2, 2, 2)]["transition_energy"]
    g = r["g_h_tensor"]
    assert abs(g[0, 0] - g[1, 1]) < 1e-8 and abs(g[2, 2] - g[0, 0]) > 1e-4


# ------------------------------------------------------------------------------ isolated points


def test_isolated_point_past_its_timeout_is_a_reported_failure(tmp_path):
    spec = _spec({"model": "kp", "edge_nm": 3.0, "kp_resolution": 4, "temperature_K": 0.0},
                 output=str(tmp_path / "k.h5"),
                 execution={"workers": 1, "isolate": True, "point_timeout_s": 0.01})
    rep = run_sweep(spec, progress=False, kind="kp-study", raise_failures=False)
    assert rep.n_computed == 0 and len(rep.failures) == 1
    assert "stopped after 0.01 s" in rep.failures[0][1]
    assert rep.failed_rows[0]["error"] and np.isnan(rep.failed_rows[0]["g_e"])
    with h5py.File(tmp_path / "k.h5") as f:
        assert f.attrs["kind"] == "kp-study"
    with pytest.raises(InputError, match="isolate"):
        _spec({"n_cells": 2}, execution={"point_timeout_s": 5.0})
