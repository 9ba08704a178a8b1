"""Orphan workers: after a SIGKILL of the sweep's parent process its workers exit within seconds, and
a resume afterwards loses no finished row (local process pool, isolated processes, Dask)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from perovskite_tb.app.store.export import load_results
from perovskite_tb.app.engine.runners import WATCH_INTERVAL_S

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}", "OMP_NUM_THREADS": "1"}
#: A worker checks its parent every WATCH_INTERVAL_S once running; one killed while it is still starting
#: (imports: 2–6 s on a loaded 2-core machine) exits right after. Far below the 120 s of the sleepers.
GRACE_S = 4 * WATCH_INTERVAL_S + 8.0


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_for(cond, timeout: float) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def _pids(d: Path) -> list[int]:
    return [int(p.read_text()) for p in d.glob("pid-*")]


def _kill_parent_and_check(proc: subprocess.Popen, pids: list[int]) -> None:
    assert pids and all(_alive(p) for p in pids)
    os.kill(proc.pid, signal.SIGKILL)  # only the parent: its workers must notice
    proc.wait(timeout=30)
    try:
        assert _wait_for(lambda: not any(_alive(p) for p in pids), GRACE_S), \
            f"workers {[p for p in pids if _alive(p)]} outlived their killed parent by {GRACE_S} s"
    finally:
        for p in pids:  # never leave a sleeper behind, even when the assertion fails
            if _alive(p):
                os.kill(p, signal.SIGKILL)


def test_pool_workers_exit_when_the_parent_is_killed(tmp_path):
    """The pool of ``run_pool`` (spawned workers, its initializer) with points that would take 2 min."""
    script = textwrap.dedent(f"""
        from perovskite_tb.app.engine import runners
        import _slow_points as sp
        runners.compute_point = sp.sleepy_point  # what the pool submits
        pts = [sp.FakePoint(f"p{{i}}", {str(tmp_path)!r}) for i in range(2)]
        runners.run_pool(pts, 2, 100.0, 1, lambda *a: None)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env=ENV, cwd=tmp_path)
    try:
        assert _wait_for(lambda: len(_pids(tmp_path)) == 2, 120), "workers did not start"
        _kill_parent_and_check(proc, _pids(tmp_path))
    finally:
        if proc.poll() is None:
            proc.kill()


def test_dask_point_child_stops_when_its_sweep_is_gone(tmp_path):
    """A Dask task's point process is terminated once the client (the sweep) is killed; the worker stays."""
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      env={"PYTHONPATH": ENV["PYTHONPATH"]}) as cluster:
        workers = [p.pid for p in psutil.Process().children(recursive=True)]
        script = textwrap.dedent(f"""
            import time
            from distributed import Client
            import _slow_points as sp
            c = Client({cluster.scheduler_address!r})
            fut = c.submit(sp.dask_task, {str(tmp_path)!r}, pure=False)
            time.sleep(300)
        """)
        proc = subprocess.Popen([sys.executable, "-c", script], env=ENV, cwd=tmp_path)
        try:
            assert _wait_for(lambda: len(_pids(tmp_path)) == 1, 120), "the point process did not start"
            _kill_parent_and_check(proc, _pids(tmp_path))
        finally:
            if proc.poll() is None:
                proc.kill()
        assert all(_alive(p) for p in workers)  # the cluster's own processes are not orphans: they stay


RUN = """
output = "k.h5"
[axes]
parameter_set = ["nestoklon2021-sp3"]
model = ["etb"]
n_cells = [2, 3]
temperature_K = [6.0, 30.0, 65.0]
orbital_zeeman = [false, true]
[execution]
workers = 2
threads_per_worker = 1
isolate = {isolate}
"""


def _written(trace: Path) -> set:
    if not trace.exists():
        return set()
    return {" ".join(ln.split(" ")[1:-1]) for ln in trace.read_text().splitlines() if ln.startswith("written ")}


@pytest.mark.parametrize("isolate", ["false", "true"])
def test_sweep_killed_parent_leaves_no_worker_and_resume_loses_no_row(tmp_path, isolate):
    run = tmp_path / "run.toml"
    run.write_text(RUN.format(isolate=isolate))
    trace = tmp_path / "trace.log"
    proc = subprocess.Popen([sys.executable, "-m", "perovskite_tb", "sweep", str(run), "--no-progress"],
                            env={**ENV, "PEROVSKITE_TB_SWEEP_TRACE": str(trace)}, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: len(_written(trace)) >= 2 or proc.poll() is not None, 240)
        kids = [k.pid for k in psutil.Process(proc.pid).children(recursive=True)]
        if proc.poll() is not None:
            pytest.skip("the sweep finished before it could be killed (machine too fast)")
        _kill_parent_and_check(proc, kids)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = _written(trace)
    r = subprocess.run([sys.executable, "-m", "perovskite_tb", "sweep", str(run), "--no-progress"], env=ENV,
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    t = load_results(tmp_path / "k.h5")
    keys = t.point_keys()
    assert len(keys) == len(set(keys)) == 12 and before <= set(keys)  # no finished row lost or doubled
