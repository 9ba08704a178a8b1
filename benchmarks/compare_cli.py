"""Regression check of the CLI numbers: capture every number a fixed set of commands prints, compare later.

``python -m benchmarks.compare_cli capture DIR`` runs the commands below (``perovskite-tb … --json`` and
a small ``curve``) and stores their JSON in DIR; ``python -m benchmarks.compare_cli check DIR`` runs them
again and lists every key whose number moved by more than ``--rtol`` (default 1e-9 relative, 1e-12
absolute) or disappeared. Keys added by a newer version are reported, not counted as mismatches; timing
keys (``seconds``, ``*_s``) and the solver statistics are ignored.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

#: name → perovskite-tb arguments (each prints one JSON object).
COMMANDS: dict[str, list[str]] = {
    "bulk_I": ["bulk", "--json"],
    "bulk_I_2021exp": ["bulk", "--parameter-set", "nestoklon2021-exp", "--json"],
    "bulk_Br": ["bulk", "--material", "CsPbBr3", "--json"],
    "bulk_Cl_orb": ["bulk", "--material", "CsPbCl3", "--orbital-zeeman", "--json"],
    "nc_cube4": ["nc", "--n-cells", "4", "4", "4", "--json"],
    "nc_cube6_50K": ["nc", "--n-cells", "6", "6", "6", "--temperature-K", "50", "--json"],
    "nc_cuboid": ["nc", "--n-cells", "4", "5", "6", "--json"],
    "nc_sphere": ["nc", "--shape", "sphere", "--diameter-nm", "3.5", "--json"],
    "nc_spheroid": ["nc", "--shape", "spheroid", "--semi-axes-nm", "1.4", "1.4", "2.0", "--json"],
    "nc_passivated": ["nc", "--n-cells", "5", "5", "5", "--termination", "passivated", "--json"],
    "nc_csx": ["nc", "--n-cells", "5", "5", "5", "--termination", "csx", "--json"],
    "nc_Br_eps": ["nc", "--material", "CsPbBr3", "--n-cells", "5", "5", "5", "--epsilon-in", "5",
                  "--epsilon-out", "1.5", "--json"],
    "nc_orbital": ["nc", "--n-cells", "5", "5", "5", "--orbital-zeeman", "--no-coulomb", "--json"],
    "kp_bulk": ["kp-bulk", "--material", "CsPbI3", "--json"],
    "kp_nc": ["kp-nc", "--material", "CsPbI3", "--edge-nm", "5", "5", "5", "--json"],
    "kp_nc_cuboid": ["kp-nc", "--material", "CsPbBr3", "--edge-nm", "4", "5", "6", "--json"],
}

#: curve run: its HDF5 rows are compared column by column.
CURVE = ["curve", "--n-cells", "3", "5", "7", "--model", "etb,kp", "--no-progress"]

IGNORED = {"seconds", "solver", "stats", "provenance", "created", "version", "path"}


def _ignored(key: str) -> bool:
    return key in IGNORED or key.endswith("_s") or key.endswith("seconds")


def _run(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-m", "perovskite_tb", *args], capture_output=True, text=True)
    if out.returncode:
        return {"__error__": out.stderr.strip().splitlines()[-1:] or ["exit %d" % out.returncode]}
    return json.loads(out.stdout)


def _curve() -> dict:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.h5"
        subprocess.run([sys.executable, "-m", "perovskite_tb", *CURVE, "-o", str(path), "--plot",
                        str(Path(d) / "c.png")], check=True, capture_output=True)
        out = {}
        with h5py.File(path, "r") as f:
            for model in f:
                rows = f[model].get("rows")
                if rows is None:
                    continue
                for k, ds in rows.items():
                    if ds.dtype.kind in "fiub" and not _ignored(k) and k != "peak_rss_GB":
                        out[f"{model}.{k}"] = np.asarray(ds[()], dtype=float).ravel().tolist()
        return out


def capture() -> dict:
    data = {name: _run(args) for name, args in COMMANDS.items()}
    data["curve_rows"] = _curve()
    return data


def _flatten(prefix: str, obj, out: dict) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not _ignored(k):
                _flatten(f"{prefix}.{k}" if prefix else k, v, out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _flatten(f"{prefix}[{i}]", v, out)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[prefix] = float(obj)
    else:
        out[prefix] = obj


def compare(old: dict, new: dict, rtol: float, atol: float) -> tuple[list[str], list[str], int]:
    a, b = {}, {}
    _flatten("", old, a)
    _flatten("", new, b)
    bad, added = [], sorted(set(b) - set(a))
    for k, va in a.items():
        if k not in b:
            bad.append(f"{k}: missing (was {va!r})")
            continue
        vb = b[k]
        if isinstance(va, float) and isinstance(vb, float):
            if math.isnan(va) and math.isnan(vb):
                continue
            if not abs(va - vb) <= atol + rtol * abs(va):
                bad.append(f"{k}: {va!r} -> {vb!r}")
        elif va != vb:
            bad.append(f"{k}: {va!r} -> {vb!r}")
    return bad, added, len(a)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.compare_cli", description=__doc__.splitlines()[0])
    p.add_argument("action", choices=("capture", "check"))
    p.add_argument("directory", type=Path)
    p.add_argument("--rtol", type=float, default=1e-9)
    p.add_argument("--atol", type=float, default=1e-12)
    a = p.parse_args(argv)
    ref = a.directory / "cli_capture.json"
    if a.action == "capture":
        a.directory.mkdir(parents=True, exist_ok=True)
        ref.write_text(json.dumps(capture(), indent=1))
        print(f"captured {len(COMMANDS)} commands and the curve rows → {ref}")
        return 0
    bad, added, n = compare(json.loads(ref.read_text()), capture(), a.rtol, a.atol)
    for line in bad:
        print("MISMATCH", line)
    print(f"{n} numbers compared; mismatches: {len(bad)}; new keys: {len(added)}"
          + (f" ({', '.join(added[:12])}{' …' if len(added) > 12 else ''})" if added else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
