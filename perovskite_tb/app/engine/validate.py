"""Validation of TOML documents with one-line errors that name the file and the key path."""

from __future__ import annotations

import math
from typing import Callable

from perovskite_tb.errors import InputError

__all__ = ["Check", "show"]


class Check:
    """Validators of run-file values; each failure raises InputError ``"<source>: <path>: <msg>"``."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, msg: str):
        raise InputError(f"{self.source}: {path}: {msg}")

    def table(self, doc, path: str, known) -> dict:
        if not isinstance(doc, dict):
            self.fail(path, f"must be a table, got {show(doc)}")
        for k in doc:
            if k not in known:
                self.fail(path, f"unknown key {k!r} (known: {', '.join(known)})")
        return doc

    def string(self, v, path: str) -> str:
        if not isinstance(v, str):
            self.fail(path, f"must be a string, got {show(v)}")
        if not v.strip():
            self.fail(path, "must be a non-empty string")
        if "\x00" in v:
            self.fail(path, "must not contain NUL characters")
        return v

    def choice(self, v, path: str, known, what: str) -> str:
        s = self.string(v, path)
        if s not in known:
            self.fail(path, f"unknown {what} {s!r} (known: {', '.join(known)})")
        return s

    def pos_int(self, v, path: str, what: str = "a positive integer", lo: int = 1,
                hi: int | None = None) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
            self.fail(path, f"must be {what}, got {show(v)}")
        return int(v)

    def number(self, v, path: str, *, lo: float = 0.0, strict: bool = False, unit: str = "",
               hi: float | None = None) -> float:
        ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
        ok = ok and (v > lo if strict else v >= lo)
        if not ok:
            rel = ">" if strict else ">="
            self.fail(path, f"must be a finite number {rel} {lo:g}{' ' + unit if unit else ''}, "
                            f"got {show(v)}")
        if hi is not None and v > hi:
            self.fail(path, f"must be <= {hi:g} {unit}, got {v:g}")
        return float(v)

    def boolean(self, v, path: str) -> bool:
        if not isinstance(v, bool):
            self.fail(path, f"must be true or false, got {show(v)}")
        return v

    def axis(self, v, path: str, item: Callable, *, allow_empty: bool = False) -> tuple:
        items = v if isinstance(v, list) else [v]
        if not items and not allow_empty:
            self.fail(path, "must not be empty")
        out = []
        for i, x in enumerate(items):
            xp = f"{path}[{i}]" if isinstance(v, list) else path
            val = item(x, xp)
            if val in out:
                self.fail(xp, f"duplicate value {show(x)}")
            out.append(val)
        return tuple(out)


def show(v) -> str:
    """Short repr of a TOML value for messages (type name for tables)."""
    if isinstance(v, dict):
        return "a table"
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."
