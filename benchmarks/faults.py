"""Fault table of the sweep engine and its result files (not a timed benchmark).

Usage::

    python -m benchmarks.faults                     # defaults: 8 kill runs, 60 flips, 30 cuts (≈ 5 min)
    python -m benchmarks.faults --kills 20 --seed 3 --markdown benchmarks/FAULTS.md

Faults, each on a small sweep (CsPbI3 ``nestoklon2023``, ETB cubes of 2–4 cells, 6 and 100 K, with and
without the orbital Zeeman term: 12 points, 2 local workers):

1. **Parent SIGKILL** at random times (1–3 kills of the parent process only, per run: a quarter in
   the first 3 s, the others 0–0.5 s after a random number of new rows), then a
   resume: the final rows must equal an uninterrupted run bit for bit (wall time and memory
   columns aside); no row written before a kill may be lost or computed again; every worker must be
   gone :data:`GRACE_S` seconds after each kill (orphans).
2. **Two concurrent writers** on one output, with HDF5 file locking on and with
   ``HDF5_USE_FILE_LOCKING=FALSE``: the second must be refused in one line, the first must finish,
   and the file must equal the uninterrupted run.
3. **Bit flips and truncation** of the finished file at random offsets: ``export`` must give a correct
   full read or a one-line refusal, ``export --salvage`` only correct rows, and a resume either a
   one-line refusal that leaves the file unchanged or an acceptance of a file that read fully. A
   file can read fully and still hold damage that only writing touches (e.g. the free-space record of
   its attribute heap): HDF5 then fails mid-write, which is reported in one line, and the file must
   still give no wrong number. Counted: refusals, full reads, salvaged rows, wrong numbers and
   tracebacks (both must be 0).

Prints Markdown tables; ``--markdown PATH`` also writes them to a file.
"""

# ruff: noqa: E501  (Markdown table rows)
from __future__ import annotations

import argparse
import collections
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from perovskite_tb.app.store.export import load_results, salvage_results
from perovskite_tb.app.store.io import ResultWriter
from perovskite_tb.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
TIMING = ("seconds", "peak_rss_GB")
#: Seconds after a kill by which every worker must be gone (a worker killed while still importing exits
#: once its start-up ends: 2–6 s on a loaded 2-core machine).
GRACE_S = 15.0
TRACE = "PEROVSKITE_TB_SWEEP_TRACE"
RUN = """# fault runs: 12 small points
output = "{out}"
[axes]
material = ["CsPbI3"]
parameter_set = ["nestoklon2023"]
model = ["etb"]
n_cells = [2, 3, 4]
temperature_K = [6.0, 100.0]
orbital_zeeman = [false, true]
[execution]
workers = 2
threads_per_worker = 1
"""


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (TRACE, "HDF5_USE_FILE_LOCKING")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", CI="1", **extra)
    return env


def _sweep(run: Path, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "perovskite_tb", "sweep", str(run), "--no-progress"],
                            cwd=run.parent, env=_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _trace(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    return [(ln.split(" ")[0], " ".join(ln.split(" ")[1:-1])) for ln in path.read_text().splitlines()]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _same(a, b) -> bool:
    """Equal rows (identity and results bit for bit, NaN = NaN), wall time and memory aside."""
    if len(a) != len(b) or list(a.columns) != list(b.columns):
        return False
    for k in a.columns:
        if k in TIMING:
            continue
        x, y = a[k], b[k]
        if x.dtype == object:
            if list(x) != list(y):
                return False
        elif not np.array_equal(x, y, equal_nan=True):
            return False
    return True


def _rows_correct(t, ref) -> bool:
    """Every row of ``t`` equals the row of the same point in ``ref``."""
    want = {k: i for i, k in enumerate(ref.point_keys())}
    for i, key in enumerate(t.point_keys()):
        if key not in want:
            return False
        j = want[key]
        for k, col in t.columns.items():
            if k in TIMING:
                continue
            x, y = col[i], ref.columns[k][j]
            same = (x == y) if isinstance(x, str) else np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
            if not same:
                return False
    return True


def reference(work: Path):
    d = work / "ref"
    d.mkdir()
    run = d / "run.toml"
    run.write_text(RUN.format(out="ref.h5"))
    t0 = time.monotonic()
    p = _sweep(run)
    _out, err = p.communicate()
    if p.returncode:
        raise SystemExit(f"reference run failed: {err.strip()}")
    return load_results(d / "ref.h5"), time.monotonic() - t0, d / "ref.h5"


def _wait_kill_time(p, trace: Path, left: int, rng: random.Random) -> None:
    """Return at a random moment of the run: a quarter of the kills within the first 3 s (start-up, opening
    the file), the others 0–0.5 s after a random number of new rows was written (mid-point, mid-write)."""
    if rng.random() < 0.25 or left <= 1:
        time.sleep(rng.uniform(0.3, 3.0))
        return
    k = rng.randint(1, left - 1)
    t0 = time.monotonic()
    while sum(e == "written" for e, _ in _trace(trace)) < k and p.poll() is None and time.monotonic() - t0 < 600:
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.5))


def kill_runs(work: Path, ref, n: int, rng: random.Random) -> list[dict]:
    """``n`` runs of 1–3 parent SIGKILLs at random times, then a resume; one dict of counts per run."""
    out = []
    for i in range(n):
        d = work / f"kill{i}"
        d.mkdir()
        run = d / "run.toml"
        run.write_text(RUN.format(out="k.h5"))
        res = {"kills": 0, "rows_before_kill": 0, "workers": 0, "orphans": 0, "exit_s": 0.0, "lost": 0,
               "recomputed": 0}
        written: set = set()
        for j in range(rng.randint(1, 3)):
            trace = d / f"t{j}.log"
            p = _sweep(run, **{TRACE: str(trace)})
            _wait_kill_time(p, trace, len(ref) - len(written), rng)
            if p.poll() is not None:
                p.communicate()
                break
            kids = [k.pid for k in psutil.Process(p.pid).children(recursive=True)]
            p.send_signal(signal.SIGKILL)
            p.communicate()
            res["kills"] += 1
            t_kill = time.monotonic()
            while any(_alive(k) for k in kids) and time.monotonic() - t_kill < GRACE_S:
                time.sleep(0.05)
            res["workers"] += len(kids)
            res["exit_s"] = max(res["exit_s"], time.monotonic() - t_kill)
            res["orphans"] += sum(_alive(k) for k in kids)
            for k in kids:
                if _alive(k):
                    os.kill(k, signal.SIGKILL)
            ev = _trace(trace)
            res["recomputed"] += len({k for e, k in ev if e == "start"} & written)
            written |= {k for e, k in ev if e == "written"}
        res["rows_before_kill"] = len(written)
        trace = d / "final.log"
        p = _sweep(run, **{TRACE: str(trace)})
        _o, err = p.communicate()
        res["resume_ok"] = p.returncode == 0
        if p.returncode:
            print(f"kill run {i + 1}: resume failed: {err.strip()[-400:]}", file=sys.stderr)
        res["recomputed"] += len({k for e, k in _trace(trace) if e == "start"} & written)
        try:
            t = load_results(d / "k.h5")
            res["lost"] = len(written - set(t.point_keys()))
            res["equal"] = _same(t, ref)
        except InputError as exc:
            res["equal"], res["error"] = False, str(exc)
        out.append(res)
    return out


def concurrent_writers(work: Path, ref) -> list[dict]:
    """A second sweep on the output of a running one, with HDF5 locking on and off."""
    out = []
    for locking in ("default", "FALSE"):
        d = work / f"conc-{locking}"
        d.mkdir()
        run = d / "run.toml"
        run.write_text(RUN.format(out="c.h5"))
        env = {} if locking == "default" else {"HDF5_USE_FILE_LOCKING": "FALSE"}
        trace = d / "a.log"
        a = _sweep(run, **{**env, TRACE: str(trace)})
        t0 = time.monotonic()
        while not any(e == "written" for e, _ in _trace(trace)) and a.poll() is None and time.monotonic() - t0 < 300:
            time.sleep(0.05)
        b = _sweep(run, **env)
        _ob, err_b = b.communicate()
        _oa, err_a = a.communicate()
        lines = [ln for ln in err_b.splitlines() if ln.strip()]
        res = {"locking": locking, "first_ok": a.returncode == 0,
               "second_refused_one_line": b.returncode == 2 and len(lines) == 1 and "another process" in lines[0],
               "traceback": "Traceback" in err_a + err_b}
        try:
            res["file_equal"] = _same(load_results(d / "c.h5"), ref)
        except InputError:
            res["file_equal"] = False
        out.append(res)
    return out


def _export(q: Path, ref, r: collections.Counter, prefix: str) -> None:
    try:
        t = load_results(q)
        r[f"{prefix}full_correct" if _same(t, ref) else f"{prefix}WRONG"] += 1
    except InputError as exc:
        r[f"{prefix}refused_one_line" if "\n" not in str(exc) else f"{prefix}multiline"] += 1
    except Exception as exc:  # noqa: BLE001 — counted, must stay 0
        r["tracebacks"] += 1
        print(f"{prefix}traceback: {type(exc).__name__}: {exc}", file=sys.stderr)


def _salvage(q: Path, ref, r: collections.Counter) -> None:
    try:
        ts, _s = salvage_results(q)
        r["salvaged_rows"] += len(ts)
        r["salvage_WRONG_rows"] += 0 if _rows_correct(ts, ref) else 1
        r["salvage_all" if len(ts) == len(ref) else "salvage_some"] += 1
    except InputError:
        r["salvage_none"] += 1
    except Exception as exc:  # noqa: BLE001
        r["tracebacks"] += 1
        print(f"salvage traceback: {type(exc).__name__}: {exc}", file=sys.stderr)


def _damage_outcome(q: Path, ref) -> dict:
    """Export and salvage of one damaged copy, then a resume (refused, or accepted and appending)."""
    r = collections.Counter()
    before = q.read_bytes()
    _export(q, ref, r, "export_")
    _salvage(q, ref, r)
    try:
        ResultWriter(q, {"kind": "sweep"}).close()
        r["resume_accepted"] += 1
    except InputError as exc:
        changed = q.read_bytes() != before
        one = "\n" not in str(exc)
        r["resume_multiline" if not one else "resume_failed_mid_write" if changed else "resume_refused_one_line"] += 1
    except Exception as exc:  # noqa: BLE001
        r["tracebacks"] += 1
        print(f"resume traceback: {type(exc).__name__}: {exc}", file=sys.stderr)
    if q.read_bytes() != before:  # after a resume that wrote: still no wrong number anywhere
        _export(q, ref, r, "after_")
        r["after_salvage_WRONG_rows"] += 0 if _after_salvage_ok(q, ref) else 1
    return r


def _after_salvage_ok(q: Path, ref) -> bool:
    try:
        ts, _s = salvage_results(q)
    except InputError:
        return True
    return _rows_correct(ts, ref)


def damaged_files(work: Path, ref_file: Path, ref, n_flips: int, n_cuts: int, rng: random.Random) -> dict:
    data = ref_file.read_bytes()
    counts = {"flip": collections.Counter(), "cut": collections.Counter()}
    q = work / "damaged.h5"
    for kind, n in (("flip", n_flips), ("cut", n_cuts)):
        for _ in range(n):
            b = bytearray(data)
            if kind == "flip":
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            else:
                b = b[:rng.randrange(len(b))]
            q.write_bytes(bytes(b))
            Path(str(q) + ".lock").unlink(missing_ok=True)
            counts[kind] += _damage_outcome(q, ref)
            counts[kind]["cases"] += 1
    return counts


def tables(kills, conc, damage, n_ref: int) -> str:
    lines = ["### Parent SIGKILL at random times, then resume", "",
             f"| run | kills | rows written before the kills | child processes at the kills | orphans {GRACE_S:g} s after | last child gone after (s) | finished rows lost | rows computed again | resume ok | final = uninterrupted |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(kills):
        lines.append(f"| {i + 1} | {r['kills']} | {r['rows_before_kill']} | {r['workers']} | {r['orphans']} | "
                     f"{r['exit_s']:.1f} | {r['lost']} | {r['recomputed']} | {'yes' if r['resume_ok'] else 'NO'} | "
                     f"{'yes' if r['equal'] else 'NO'} |")
    tot = {k: sum(r[k] for r in kills) for k in ("kills", "rows_before_kill", "workers", "orphans", "lost", "recomputed")}
    lines.append(f"| **all {len(kills)}** | {tot['kills']} | {tot['rows_before_kill']} | {tot['workers']} | {tot['orphans']} | "
                 f"{max((r['exit_s'] for r in kills), default=0):.1f} | {tot['lost']} | {tot['recomputed']} | "
                 f"{sum(r['resume_ok'] for r in kills)}/{len(kills)} | {sum(r['equal'] for r in kills)}/{len(kills)} |")
    lines += ["", "### Two concurrent writers on one output", "",
              "| HDF5 file locking | first finished | second refused in one line | file = uninterrupted | traceback |",
              "|---|---|---|---|---|"]
    for r in conc:
        lines.append(f"| {'on (default)' if r['locking'] == 'default' else 'off (HDF5_USE_FILE_LOCKING=FALSE)'} | "
                     f"{'yes' if r['first_ok'] else 'NO'} | {'yes' if r['second_refused_one_line'] else 'NO'} | "
                     f"{'yes' if r['file_equal'] else 'NO'} | {'YES' if r['traceback'] else 'no'} |")
    lines += ["", f"### Damaged copies of the finished file ({n_ref} rows)", "",
              "| damage | cases | export: full correct read | export: one-line refusal | export: wrong numbers | "
              "salvage: all rows | salvage: some rows | salvage: none | salvaged rows | salvaged wrong rows | "
              "resume: one-line refusal, file untouched | resume: accepted | resume: failed mid-write (one line) | "
              "wrong numbers after a resume | tracebacks |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for kind, c in damage.items():
        after = c["after_WRONG"] + c["after_salvage_WRONG_rows"]
        lines.append(f"| {'random bit flip' if kind == 'flip' else 'truncation at a random offset'} | {c['cases']} | "
                     f"{c['export_full_correct']} | {c['export_refused_one_line']} | {c['export_WRONG']} | "
                     f"{c['salvage_all']} | {c['salvage_some']} | {c['salvage_none']} | {c['salvaged_rows']} | "
                     f"{c['salvage_WRONG_rows']} | {c['resume_refused_one_line']} | {c['resume_accepted']} | "
                     f"{c['resume_failed_mid_write']} | {after} | {c['tracebacks']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=8, help="kill-and-resume runs")
    ap.add_argument("--flips", type=int, default=60, help="random bit flips of the finished file")
    ap.add_argument("--cuts", type=int, default=30, help="random truncations of the finished file")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--markdown", default=None, help="also write the tables to this file")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="faults-"))
    try:
        ref, t_ref, ref_file = reference(work)
        print(f"reference run: {len(ref)} rows in {t_ref:.1f} s", file=sys.stderr)
        kills = kill_runs(work, ref, args.kills, rng)
        conc = concurrent_writers(work, ref)
        damage = damaged_files(work, ref_file, ref, args.flips, args.cuts, rng)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = (f"Seed {args.seed}; {args.kills} kill runs, {args.flips} flips, {args.cuts} cuts; reference run "
            f"{t_ref:.1f} s; whole script {time.monotonic() - t0:.0f} s; load average "
            f"{os.getloadavg()[0]:.1f}.\n\n" + tables(kills, conc, damage, len(ref)))
    print(text)
    if args.markdown:
        head = ("# Fault table of the sweep engine and its result files\n\n"
                f"Written by `python -m benchmarks.faults --kills {args.kills} --flips {args.flips} --cuts {args.cuts} "
                f"--seed {args.seed} --markdown {args.markdown}` (see the script's docstring for what each fault "
                "does and what is checked).\n\n")
        Path(args.markdown).write_text(head + text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
