"""Salvage of damaged result files: the rows whose SHA-256 digests still match, and what was lost.

Two sources are merged (:func:`salvage`): the rows read through the HDF5 structure whose
``row_sha256`` matches (:mod:`perovskite_tb.app.store.integrity`), and the row journal — every row also
stored as a self-checking text record (:func:`row_record`) — found by scanning the raw bytes
(:func:`scan_records`). The scan survives what HDF5 cannot read past: a truncated file (HDF5 refuses
a file shorter than the end-of-file address in its superblock, and keeps most metadata at the end),
a damaged superblock or a damaged group index. The file is only read, never written.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from perovskite_tb.app.store.integrity import ROW_SHA, STORED, cell_bytes, check_seal, row_sha256, short_message
from perovskite_tb.app.store.keys import row_key
from perovskite_tb.errors import InputError

__all__ = ["row_record", "scan_records", "hdf5_eof_address", "Salvage", "salvage"]

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_MAGIC = b"PTBROW1:"


def hdf5_eof_address(head: bytes) -> int | None:
    """End-of-file address stored in an HDF5 superblock (bytes from the file start), None if not found.

    ``head``: the first bytes of the file (the superblock sits at 0, 512, 1024, … bytes).
    """
    off = 0
    while off + 64 <= len(head):
        if head[off:off + 8] == _SIGNATURE:
            break
        off = 512 if off == 0 else 2 * off
    else:
        return None
    version = head[off + 8]
    if version in (0, 1):
        so = head[off + 13]
        start = off + (24 if version == 0 else 28)
    elif version in (2, 3):
        so = head[off + 9]
        start = off + 12
    else:
        return None
    if so not in (4, 8):
        return None
    fmt = "<I" if so == 4 else "<Q"
    base, eof = (struct.unpack_from(fmt, head, start + i * so)[0] for i in (0, 2))
    return base + eof


def row_record(model: str, row: dict, columns) -> str:
    """One row as a self-checking ASCII record for the row journal (found by scanning raw file bytes).

    Layout: ``PTBROW1:`` + payload length (8 hex digits) + ``:`` + JSON payload + ``:`` + SHA-256 of the
    payload (hex). Numbers are stored as the hex of their bytes (bit-exact, NaN payloads included).
    """
    cols = {k: (str(row[k]) if isinstance(row[k], str) else
                row[k].decode("utf-8", "surrogatepass") if isinstance(row[k], bytes) else
                cell_bytes(row[k], STORED[k].dtype).hex()) for k in columns}
    payload = json.dumps({"model": model, "columns": list(columns), "values": cols}, ensure_ascii=True)
    return f"{_MAGIC.decode()}{len(payload):08x}:{payload}:{hashlib.sha256(payload.encode()).hexdigest()}"


def scan_records(data: bytes):
    """Yield (model, columns dict, row SHA-256) of every intact row record in raw file bytes."""
    for m in re.finditer(re.escape(_MAGIC), data):
        i = m.end()
        try:
            size = int(data[i:i + 8], 16)
            payload = data[i + 9:i + 9 + size]
            tail = data[i + 9 + size:i + 10 + size + 64]
            if len(payload) != size or tail[:1] != b":" or tail[1:] != hashlib.sha256(payload).hexdigest().encode():
                continue
            doc = json.loads(payload)
            names = [str(n) for n in doc["columns"]]
            cols = {n: (str(doc["values"][n]) if STORED[n].dtype == "str" else
                        np.frombuffer(bytes.fromhex(doc["values"][n]), dtype=STORED[n].dtype)
                        .reshape(STORED[n].shape)[()]) for n in names}
        except (ValueError, KeyError, TypeError):
            continue
        yield str(doc["model"]), cols, row_sha256(cols, names)


@dataclass
class Salvage:
    """Outcome of :func:`salvage`.

    Attributes
    ----------
    parts : dict of str → list of dict
        Model group → intact rows (column name → value; stored columns only), one per point,
        rows read through the structure first.
    attrs : dict
        Root attributes if their seal matches, else {}.
    kept, total : int
        Intact rows and rows the file claims (per ``n_complete`` or the column lengths).
    lost : list of str
        What was lost, one phrase each.
    """

    parts: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    kept: int = 0
    total: int = 0
    lost: list = field(default_factory=list)


def _read_cells(ds, n: int, is_str: bool) -> tuple[list, np.ndarray]:
    """Values of rows 0…n−1 of a dataset; rows that cannot be read are flagged (whole read, else row by row)."""
    ok = np.ones(n, bool)
    try:
        vals = ds.asstr()[:n] if is_str else ds[:n]
        return list(vals), ok
    except Exception:  # noqa: BLE001 — a damaged chunk: read the rows one at a time
        vals = []
        for i in range(n):
            try:
                vals.append(ds.asstr()[i] if is_str else ds[i])
            except Exception:  # noqa: BLE001
                vals.append(None)
                ok[i] = False
        return vals, ok


def _structure_rows(grp, model: str, out: Salvage, found: dict) -> int:
    """Rows of one model group read through the HDF5 structure whose digests match; returns the rows claimed."""
    rows = grp.get("rows")
    sha_ds = grp.get(ROW_SHA)
    if not isinstance(rows, h5py.Group) or not isinstance(sha_ds, h5py.Dataset):
        out.lost.append(f"{model}: no row digests (older file or damaged group)")
        return 0
    cover = [str(c) for c in np.atleast_1d(sha_ds.attrs.get("columns", []))]
    n = sha_ds.shape[0]
    try:
        claimed = int(rows.attrs.get("n_complete", n))
    except Exception:  # noqa: BLE001
        claimed = n
    shas, ok = _read_cells(sha_ds, n, False)
    cols = {}
    for name in cover:
        if name not in rows or name not in STORED:
            ok[:] = False
            continue
        cols[name], good = _read_cells(rows[name], n, STORED[name].dtype == "str")
        ok &= good
    for i in np.flatnonzero(ok):
        row = {k: v[i] for k, v in cols.items()}
        if shas[i] and row_sha256(row, cover) == bytes(shas[i]):
            found.setdefault((model, bytes(shas[i])), row)
    return claimed


def salvage(path) -> Salvage:
    """Read the rows of a (possibly damaged) result file whose SHA-256 digests match.

    Two sources, merged: the rows read through the HDF5 structure whose ``row_sha256`` matches, and the
    row journal (:func:`row_record`) found by scanning the raw bytes, which survives truncation and
    a damaged superblock or group index. Never writes to ``path``. Rows without a digest (files of
    older versions) are not vouched for and count as lost.

    Raises
    ------
    InputError
        The file does not exist or cannot be read at all.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read result file {str(p)!r}: {exc.strerror or exc}") from None
    out, found, claimed = Salvage(), {}, {}
    eof = hdf5_eof_address(data[:4096])
    if eof is not None and eof > len(data):
        out.lost.append(f"file truncated at {len(data)} of {eof} bytes")
    try:
        f = h5py.File(p, "r")
    except Exception as exc:  # noqa: BLE001
        out.lost.append(f"HDF5 structure unreadable ({short_message(exc)})")
    else:
        with f:
            _structure(f, out, found, claimed)
    for model, cols, sha in scan_records(data):
        found.setdefault((model, sha), cols)
    seen = set()
    for (model, _sha), row in found.items():  # one row per point: a point computed again after a killed
        try:                                  # write can leave two intact records (other wall times)
            key = row_key({"model": model, **row})
        except (KeyError, TypeError, ValueError):
            continue
        if key not in seen:
            seen.add(key)
            out.parts.setdefault(model, []).append(row)
    out.kept = len(seen)
    out.total = max(sum(claimed.values()), out.kept)
    for model, n in claimed.items():
        if n > len(out.parts.get(model, ())):
            out.lost.append(f"{model}: {n - len(out.parts.get(model, ()))} of {n} rows")
    if not claimed:
        out.lost.append("the row count is unreadable; rows after the last intact one may be missing")
    return out


def _structure(f, out: Salvage, found: dict, claimed: dict) -> None:
    try:
        ok = check_seal(f)
        out.attrs = dict(f.attrs) if ok else {}
        if not ok:
            out.lost.append("root attributes " + ("damaged" if ok is False else "not sealed (older file)"))
    except Exception:  # noqa: BLE001
        out.lost.append("root attributes unreadable")
    try:
        names = sorted(f)
    except Exception as exc:  # noqa: BLE001
        out.lost.append(f"group index unreadable ({short_message(exc)})")
        return
    for model in names:
        if model in ("params", "tables"):
            continue
        try:
            grp = f[model]
            if isinstance(grp, h5py.Group):
                claimed[model] = _structure_rows(grp, model, out, found)
        except Exception as exc:  # noqa: BLE001
            out.lost.append(f"{model}: group unreadable ({short_message(exc)})")
